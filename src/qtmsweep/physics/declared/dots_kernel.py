"""Fused batched Pauli kernel of declared ``kind: dots`` systems.

One compiled pass per block of cells (``prange`` over blocks, scratch allocated once per
block): energies, rates, the reference equilibrium and the deviation drive, the GTH
elimination, edge fluxes, currents and error bounds.  The formulation is the generic
solver's (:mod:`qtmsweep.physics.pauli`), with the cancellation-free pieces the fused
built-in kernels use:

* every Bohr frequency is formed from the inputs, ``ω = ε_i + Σ_j U_ij n_j`` (never as a
  difference of state energies), and the heat weight as ``(ε_i − μ_λ) + Σ_j U_ij n_j``;
* the deviation from the equilibrium ``p⁰`` of the first lead's ``T, μ``: the drive of an
  edge ``g_e = Δk_in p⁰_i − Δk_out p⁰_j`` from input differences (``T − T0``, ``μ − μ0``),
  ``W x = −g`` by GTH elimination, and per edge the flux form (plain or deviation) with
  the smaller bound;
* the currents of a channel (lead ``λ``, orbital ``i``) from its fluxes grouped by the
  occupations that enter ``ω``: ``J_E = ε_i N + Σ_j U_ij N^j`` with ``N`` the channel's net
  particle flux and ``N^j`` that of its edges with ``j`` occupied.  An orbital coupled to a
  single lead has ``N = 0`` exactly at steady state (``d⟨n_i⟩/dt = 0``): that ``N`` is set
  to 0, so e.g. ``cqd``'s ``J_E[r] = κ Γ`` keeps its relative precision whatever ``ε_R/κ``
  (the edge sum ``ε_R (F_AC + F_BD) + κ F_BD`` would lose ``ε ε_R/κ``).

Error bounds (absolute, per lead current and for ``sigma_micro``) follow
:func:`qtmsweep.physics.pauli._edge_currents`; the grouped sums add their own rounding.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..conservation import residual_of_row
from ..distributions import fermi_pair as _occupations

_EPS = np.finfo(float).eps
_TINY = np.finfo(float).tiny
#: cells per block of the parallel loop (scratch is allocated once per block)
BLOCK = 256
#: a cell skips the deviation solve when some edge's drive, min(|x0 - x|, 1) times its
#: channel rate, exceeds DEV_SKIP times the cell's largest channel rate (far from equilibrium: the
#: deviation is O(1) of p and its bound no smaller than the plain flux's)
DEV_SKIP = 0.25


@njit(cache=True, inline="always")
def _relative(err, mag):  # pragma: no cover - compiled
    """The relative bound ``e/(|J| − e)`` of an absolute error ``e`` on ``|J| = mag``: 0 for an exact
    value, inf where the sign is not sure or either is NaN (the per-lead and the σ bound alike)."""
    if math.isnan(err) or math.isnan(mag):
        return math.inf
    if err == 0.0:
        return 0.0
    if err < mag:
        return err / (mag - err)
    return math.inf


@njit(cache=True, parallel=True, error_model="numpy")
def dots_kernel(eps_in, U_in, T_in, mu_in, gam_in, occ, pair_i, pair_j, charge,
                e_src, e_dst, e_ch, e_orb, e_rep, ep_ptr, ep_idx, ch_lead, ch_orb, ch_single, n_leads,
                p, J_E, J_N, J_Q, err_E, err_N, err_Q, sigma_micro, err_micro, rel_err, res_E, res_N):  # pragma: no cover - compiled
    """See the module docstring.  ``*_in`` are (parameters, n) arrays (row per orbital, pair, lead,
    channel); ``occ`` (d, k) occupations; ``pair_i/j`` the orbitals of each Coulomb pair; edges
    ``e_src -> e_dst`` add an electron to orbital ``e_orb`` through channel ``e_ch``; the pairs in
    ``ep_idx[ep_ptr[e]:ep_ptr[e+1]]`` add their ``U`` to the edge's ``ω``.  ``rel_err`` (n, leads) gets
    :func:`qtmsweep.physics.precision.lead_bound` of each lead's three currents, ``res_E``/``res_N``
    the conservation residuals of :func:`qtmsweep.physics.conservation.residual_of_row`, which
    ``thermo.conservation_residual`` also calls (no numpy pass after)."""
    n = p.shape[0]
    d = occ.shape[0]
    k = occ.shape[1]
    P = pair_i.shape[0]
    ne = e_src.shape[0]
    C = ch_lead.shape[0]
    eps = _EPS
    gam_rel = (2.0 * d * d + 16.0) * eps
    nmax = 0.0
    for s in range(d):
        nmax = max(nmax, charge[s])
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        E = np.empty(d)
        p0 = np.empty(d)
        R = np.empty((d, d))
        A = np.empty((d, d))
        g = np.empty(d)
        rhs = np.empty(d)
        rabs = np.empty(d)
        s_piv = np.empty(d)
        order = np.empty(d, dtype=np.int64)
        xx = np.empty(d)
        yy = np.empty(d)
        pp = np.empty(d)
        xp = np.empty(d)
        yp = np.empty(d)
        om = np.empty(ne)
        dd_e = np.empty(ne)
        dk_e = np.empty(ne)
        e0_e = np.empty(ne)
        x0_e = np.empty(ne)
        kin_e = np.empty(ne)
        kout_e = np.empty(ne)
        lr_e = np.empty(ne)
        lp = np.empty(d)
        ge_e = np.empty(ne)
        Nc = np.empty(C)
        eNc = np.empty(C)
        NP = np.empty((C, max(P, 1)))
        eNP = np.empty((C, max(P, 1)))
        epsv = np.empty(k)
        Uv = np.empty(max(P, 1))
        for c in range(blk * BLOCK, min(n, (blk + 1) * BLOCK)):
            for i in range(k):
                epsv[i] = eps_in[i, c]
            for q in range(P):
                Uv[q] = U_in[q, c]
            T0 = T_in[0, c]
            mu0 = mu_in[0, c]
            # state energies and the reference Gibbs state
            emax = 0.0
            lmax = -math.inf
            for s in range(d):
                e = 0.0
                for i in range(k):
                    if occ[s, i] != 0.0:
                        e += epsv[i]
                for q in range(P):
                    if occ[s, pair_i[q]] != 0.0 and occ[s, pair_j[q]] != 0.0:
                        e += Uv[q]
                E[s] = e
                emax = max(emax, abs(e))
                lw = -(e - mu0 * charge[s]) / T0
                p0[s] = lw
                lmax = max(lmax, lw)
            kref = 0  # the most probable reference state (argmax of the log weights)
            for s in range(d):
                if p0[s] == lmax:
                    kref = s
                    break
            # rates and deviation drive per edge
            for a in range(d):
                g[a] = 0.0
                for b in range(d):
                    R[a, b] = 0.0
            x_scale = (2.0 * emax + abs(mu0) * max(1.0, nmax)) / T0
            for L in range(n_leads):
                x_scale = max(x_scale, (abs(mu_in[L, c]) + 2.0 * emax) / T_in[L, c])
            tiny_rate = False
            # deviation solve only where it can win: the drive relative to the largest rate of the cell
            # (a cell whose drive is O(1) of its rates has a deviation of O(1) of p, no better than p itself;
            # either flux form carries its own bound, so the choice only affects the bound's size)
            gmax = 0.0
            for ch in range(C):
                gmax = max(gmax, abs(gam_in[ch, c]))
            drel = 0.0
            for e in range(ne):
                r_ = e_rep[e]
                if r_ != e:  # the same channel and Coulomb shifts as edge r_: the same omega and drive
                    om[e] = om[r_]
                    dd_e[e] = dd_e[r_]
                    continue
                w = epsv[e_orb[e]]
                for t in range(ep_ptr[e], ep_ptr[e + 1]):
                    w += Uv[ep_idx[t]]
                om[e] = w
                L = ch_lead[e_ch[e]]
                T = T_in[L, c]
                dd = ((T - T0) * (w - mu0) + T0 * (mu_in[L, c] - mu0)) / (T0 * T)  # x0 - x
                dd_e[e] = dd
                drel = max(drel, min(abs(dd), 1.0) * abs(gam_in[e_ch[e], c]))
            use_dev = not (drel > DEV_SKIP * gmax)
            if use_dev:  # the reference Gibbs state (only the drive uses it)
                tot = 0.0
                for s in range(d):
                    w = math.exp(p0[s] - lmax)
                    p0[s] = w
                    tot += w
                for s in range(d):
                    p0[s] /= tot
            for e in range(ne):
                ch = e_ch[e]
                L = ch_lead[ch]
                w = om[e]
                T = T_in[L, c]
                mu = mu_in[L, c]
                gm = gam_in[ch, c]
                r_ = e_rep[e]
                if r_ != e:  # same channel and same Coulomb shifts as edge r_: the same ω, rates and drive
                    kin = kin_e[r_]
                    kout = kout_e[r_]
                    kin_e[e] = kin
                    kout_e[e] = kout
                    lr_e[e] = lr_e[r_]
                    dk = dk_e[r_]
                    e0 = e0_e[r_]
                    x0 = x0_e[r_]
                else:
                    x = (w - mu) / T
                    fx, hx = _occupations(x)
                    kin = gm * fx
                    kout = gm * hx
                    kin_e[e] = kin
                    kout_e[e] = kout
                    lr_e[e] = -x
                    # deviation of the rates from the reference reservoir (T0, mu0), from input differences
                    dd = dd_e[e]  # x0 - x
                    dk = 0.0
                    e0 = 0.0
                    x0 = 0.0
                    if use_dev and dd != 0.0:
                        x0 = (w - mu0) / T0
                        # one transcendental: em = expm1(-|dd|) and e0 = e^{-|x0|} (f(x0), 1 - f(x0) and e^{lr0}
                        # share it) from each other and ex = e^{-|x|} (x0 = x + dd): for |dd| < 1 expm1 and
                        # e0 = ex q^{+-1} (q = 1 + em in [1/e, 1], exact to an ulp); else exp for e0 and em = q - 1
                        # with q = e0 ex^{-+1} (|em| >= 1 - 1/e: q's rounding stays an ulp or two of em)
                        ex = fx / hx if x > 0.0 else hx / fx
                        add = -dd if dd <= 0.0 else dd
                        same = (x > 0.0) == (x0 > 0.0)
                        up = (x0 > 0.0) == (dd > 0.0)  # e0 = ex q if so, ex / q if not (same sign)
                        if add < 1.0 and same:
                            em = math.expm1(-add)
                            q = 1.0 + em
                            e0 = ex * q if up else ex / q
                        else:
                            e0 = math.exp(-abs(x0))
                            if not same:
                                q = e0 * ex
                            else:
                                q = e0 / ex if up else ex / e0
                            if add < 1.0 or not (q > 1e-300) or not (q <= 1.0):
                                em = math.expm1(-add)
                            else:
                                em = q - 1.0
                        r0 = 1.0 / (1.0 + e0)
                        if x0 > 0.0:
                            f0 = e0 * r0
                            h0 = r0
                        else:
                            f0 = r0
                            h0 = e0 * r0
                        if dd <= 0.0:
                            df = hx * f0 * em
                        else:
                            df = -fx * h0 * em
                        dk = gm * df
                    dk_e[e] = dk
                    e0_e[e] = e0
                    x0_e[e] = x0
                if (0.0 < kin < 1e-280) or (0.0 < kout < 1e-280):
                    tiny_rate = True
                i = e_src[e]
                j = e_dst[e]
                R[i, j] += kin
                R[j, i] += kout
                ge = 0.0
                if dk != 0.0:
                    # g_e = dk_in p0_i - dk_out p0_j = dk (p0_i + p0_j) (dk_out = -dk_in), with detailed
                    # balance p0_j = p0_i e^{-x0}: dk p0_i (1 + e0) for x0 >= 0, dk p0_j (1 + e0) otherwise
                    if x0 >= 0.0:
                        ge = p0[i] * dk * (1.0 + e0)
                    else:
                        ge = p0[j] * dk * (1.0 + e0)
                ge_e[e] = ge
                g[j] += ge
                g[i] -= ge
            rho = eps * (8.0 + 3.0 * x_scale)
            e_rel = gam_rel + d * rho
            # -- GTH elimination (see qtmsweep.physics.pauli.gth_solve) ------------------------
            # on the matrix permuted once so that kref is last (the same operations in the same order
            # as with an index indirection, without it in the d^3 loop)
            t = 0
            for m in range(d):
                if m != kref:
                    order[t] = m
                    t += 1
            order[d - 1] = kref
            for a in range(d):
                oa = order[a]
                rhs[a] = g[oa]
                rabs[a] = abs(g[oa])
                for b in range(d):
                    A[a, b] = R[oa, order[b]]
            ok = True
            last = d - 1
            for a in range(d - 1):
                sm = A[a, last]
                for b in range(a + 1, d - 1):
                    sm += A[a, b]
                s_piv[a] = sm
                if not sm > 0.0:
                    ok = False
                    break
                for i in range(a + 1, d):
                    qq = A[a, i] / sm
                    if qq == 0.0:
                        continue
                    if use_dev and i != last:
                        rhs[i] += rhs[a] * qq
                        rabs[i] += rabs[a] * qq
                    for jj in range(a + 1, d):  # jj == i updates the diagonal, which GTH never reads
                        A[jj, i] += A[jj, a] * qq
            if not ok:
                for a in range(d):
                    p[c, a] = np.nan
                for L in range(n_leads):
                    J_E[c, L] = np.nan
                    J_N[c, L] = np.nan
                    J_Q[c, L] = np.nan
                    err_E[c, L] = np.inf
                    err_N[c, L] = np.inf
                    err_Q[c, L] = np.inf
                    rel_err[c, L] = np.inf
                sigma_micro[c] = np.nan
                err_micro[c] = np.inf
                res_E[c] = np.nan
                res_N[c] = np.nan
                continue
            pp[last] = 1.0
            xp[last] = 0.0
            yp[last] = 0.0
            for a in range(d - 2, -1, -1):
                sp = A[last, a]
                sx = rhs[a]
                sy = rabs[a]
                if use_dev:
                    for b in range(a + 1, d - 1):
                        sp += A[b, a] * pp[b]
                        sx += A[b, a] * xp[b]
                        sy += A[b, a] * yp[b]
                    xp[a] = sx / s_piv[a]
                    yp[a] = sy / s_piv[a]
                else:
                    for b in range(a + 1, d - 1):
                        sp += A[b, a] * pp[b]
                    xp[a] = 0.0
                    yp[a] = 0.0
                pp[a] = sp / s_piv[a]
            for a in range(d):
                oa = order[a]
                p[c, oa] = pp[a]
                xx[oa] = xp[a]
                yy[oa] = yp[a]
            tot = 0.0
            for a in range(d):
                tot += p[c, a]
            fl = 1e-270 if tiny_rate else 0.0
            for a in range(d):
                p[c, a] /= tot
                if not (p[c, a] >= 1e-280) or not math.isfinite(p[c, a]):
                    fl = 1e-270
            # -- edge fluxes, grouped per channel --------------------------------------------------
            norm = 1.0
            ysum = 0.0
            for a in range(d):
                norm += xx[a]
                ysum += yy[a]
            for ch in range(C):
                Nc[ch] = 0.0
                eNc[ch] = 0.0
                for q in range(P):
                    NP[ch, q] = 0.0
                    eNP[ch, q] = 0.0
            for a in range(d):
                lp[a] = math.nan  # log p_a on first use (sigma_micro's affinity form)
            sm_ = 0.0
            esm = 0.0
            for e in range(ne):
                i = e_src[e]
                j = e_dst[e]
                kin = kin_e[e]
                kout = kout_e[e]
                fw = kin * p[c, i]
                bw = kout * p[c, j]
                flux = fw - bw
                ef = (e_rel + 2.0 * rho) * (fw + bw) + eps * abs(flux)
                if use_dev:
                    gg = ge_e[e]
                    a1 = kin * xx[i]
                    b1 = kout * xx[j]
                    fd = (a1 - b1 + gg) / norm
                    ed = ((e_rel + 2.0 * rho) * (kin * yy[i] + kout * yy[j]) + 4.0 * rho * abs(gg)
                          + 3.0 * eps * (abs(a1) + abs(b1) + abs(gg))) / abs(norm)
                    ed += abs(fd) * (e_rel * ysum + 2.0 * eps) / abs(norm)
                    if ed < ef:
                        flux = fd
                        ef = ed
                ef += fl
                ch = e_ch[e]
                Nc[ch] += flux
                eNc[ch] += ef + 2.0 * eps * abs(Nc[ch])
                for t in range(ep_ptr[e], ep_ptr[e + 1]):
                    q = ep_idx[t]
                    NP[ch, q] += flux
                    eNP[ch, q] += ef + 2.0 * eps * abs(NP[ch, q])
                if flux != 0.0:
                    af = abs(flux)
                    ratio = flux / bw if bw > 0.0 else math.inf
                    if abs(ratio) < 0.5:
                        aff = math.log1p(ratio)
                        eaff = 2.0 * (ef + (e_rel + rho) * af) / bw
                    else:
                        lpi = lp[i]
                        if math.isnan(lpi):
                            lpi = math.log(max(p[c, i], _TINY))
                            lp[i] = lpi
                        lpj = lp[j]
                        if math.isnan(lpj):
                            lpj = math.log(max(p[c, j], _TINY))
                            lp[j] = lpj
                        aff = lr_e[e] + lpi - lpj
                        eaff = (e_rel + rho) * 4.0 + eps * (abs(lr_e[e]) + abs(lpi) + abs(lpj))
                    term = flux * aff
                    sm_ += term
                    esm += abs(aff) * ef + af * eaff + 2.0 * eps * abs(term)
            sigma_micro[c] = sm_
            err_micro[c] = esm
            # -- currents per lead from the channel groups -----------------------------------------
            for L in range(n_leads):
                J_E[c, L] = 0.0
                J_N[c, L] = 0.0
                J_Q[c, L] = 0.0
                err_E[c, L] = 0.0
                err_N[c, L] = 0.0
                err_Q[c, L] = 0.0
            for ch in range(C):
                L = ch_lead[ch]
                orb = ch_orb[ch]
                N = Nc[ch]
                eN = eNc[ch]
                if ch_single[ch]:  # d<n_orb>/dt = 0 with a single channel: its net flux is exactly 0
                    N = 0.0
                    eN = 0.0
                ei = epsv[orb]
                qi = ei - mu_in[L, c]
                je = ei * N
                jq = qi * N
                ee = abs(ei) * eN + eps * abs(je)
                eq = abs(qi) * (eN + eps * abs(N)) + eps * abs(jq)
                for q in range(P):
                    if pair_i[q] == orb or pair_j[q] == orb:
                        t1 = Uv[q] * NP[ch, q]
                        je += t1
                        jq += t1
                        et = abs(Uv[q]) * eNP[ch, q] + eps * abs(t1)
                        ee += et + 2.0 * eps * abs(je)
                        eq += et + 2.0 * eps * abs(jq)
                J_N[c, L] += N
                err_N[c, L] += eN + 2.0 * eps * abs(J_N[c, L])
                J_E[c, L] += je
                err_E[c, L] += ee + 2.0 * eps * abs(J_E[c, L])
                J_Q[c, L] += jq
                err_Q[c, L] += eq + 2.0 * eps * abs(J_Q[c, L])
            for L in range(n_leads):  # precision.lead_bound of (J_E, J_Q, J_N)
                r = 0.0
                for which in range(3):
                    if which == 0:
                        er = err_E[c, L]
                        mag = abs(J_E[c, L])
                    elif which == 1:
                        er = err_Q[c, L]
                        mag = abs(J_Q[c, L])
                    else:
                        er = err_N[c, L]
                        mag = abs(J_N[c, L])
                    r = max(r, _relative(er, mag))
                rel_err[c, L] = r
            res_E[c] = residual_of_row(J_E, c, n_leads)
            res_N[c] = residual_of_row(J_N, c, n_leads)


@njit(cache=True, parallel=True, error_model="numpy")
def forces_sigma_kernel(T_in, mu_in, ref, J_E, J_N, err_E, err_N, F, sigma, sigma_rel_err):  # pragma: no cover
    """Forces against lead ``ref`` (``F[2m]`` = ``F_E``, ``F[2m+1]`` = ``F_N`` of the m-th other lead, from
    input differences as :func:`qtmsweep.physics.distributions.inverse_temperature_difference_np` and
    ``scaled_mu_difference_np``), ``σ = Σ J F`` in that order and its bound (``precision.sigma_error``
    and ``relative_bound``), in one pass instead of numpy temporaries."""
    n = J_E.shape[0]
    n_leads = J_E.shape[1]
    for c in prange(n):
        Tr = T_in[ref, c]
        mr = mu_in[ref, c]
        s = 0.0
        err = 0.0
        m = 0
        for L in range(n_leads):
            if L == ref:
                continue
            T = T_in[L, c]
            mu = mu_in[L, c]
            fe = (T - Tr) / (Tr * T)
            fn = (mu * (Tr - T) + T * (mu - mr)) / (T * Tr)
            F[2 * m, c] = fe
            F[2 * m + 1, c] = fn
            m += 1
            s = s + J_E[c, L] * fe
            s = s + J_N[c, L] * fn
            err = err + abs(fe) * err_E[c, L] + 8.0 * _EPS * abs(J_E[c, L]) * abs(fe)
            err = err + abs(fn) * err_N[c, L] + 8.0 * _EPS * abs(J_N[c, L]) * abs(fn)
        sigma[c] = s
        sigma_rel_err[c] = _relative(err, abs(s))
