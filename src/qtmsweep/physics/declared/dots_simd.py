"""The declared-dots kernel in a form LLVM vectorises across cells (the default).

:mod:`.dots_kernel` keeps the reference: one cell at a time, libm's transcendentals, branches.
This kernel runs the same formulation — every Bohr frequency and drive from input differences,
the deviation from the first lead's equilibrium where it can win, the GTH elimination with the
most probable reference state last, fluxes grouped per channel, the same error bounds — on
blocks of :data:`BLOCK` cells held lane by lane (``scratch[row, lane]``), so that every inner
loop runs over the lanes of a block and compiles to SIMD code:

* the transcendentals are :mod:`qtmsweep.physics.vecmath`'s branch-free ``exp``, ``expm1``,
  ``log`` and ``log1p`` (within 1–3 ulp of libm's; a rate's relative error ``rho`` carries 8 ulp
  for ``f(x)``, and ``sigma_micro``'s bound 2 more ulp per affinity);
* every per-cell branch is a select (both sides computed, one kept); the deviation solve runs in
  every lane, with a zero drive where the reference kernel would skip it, and its flux form is
  only taken where the reference would take it;
* each cell's reference state is swapped with the last one (a transposition of rows and columns,
  lane by lane); the elimination itself runs on all lanes at once.

Cells the fast path does not cover — a reduced energy ``|x| > 700`` (where the fast ``exp``
flushes to 0), a zero pivot, a non-finite intermediate — are flagged in ``redo`` and recomputed by
the reference kernel (:func:`solve_dots`), so for them the result is the reference's, bit for bit.
Elsewhere the two kernels agree to rounding, each within its own bounds (tested).
"""

from __future__ import annotations

import math

import numpy as np
from numba import get_num_threads, njit, prange

from ..conservation import residual_of_row
from ..vecmath import exp_nonpos, expm1_nonpos, log1p_small, log_normal
from .dots_kernel import DEV_SKIP, _relative, dots_kernel

__all__ = ["BLOCK", "dots_simd_kernel", "solve_dots"]

_EPS = np.finfo(float).eps
_TINY = np.finfo(float).tiny
#: lanes per block: a compile-time trip count for every lane loop (a multiple of any SIMD width)
BLOCK = 64


_F = dict(cache=True, error_model="numpy", fastmath={"contract"})


@njit(**_F)
def _gather(src, c0, m, dst):  # pragma: no cover - compiled
    """``dst[r, j] = src[r, c0 + j]`` (lanes past the block's ``m`` cells repeat its last cell)."""
    if m == BLOCK:
        for r in range(dst.shape[0]):
            row = src[r, c0:c0 + BLOCK]
            for j in range(BLOCK):
                dst[r, j] = row[j]
        return
    for r in range(dst.shape[0]):
        for j in range(BLOCK):
            dst[r, j] = src[r, c0 + min(j, m - 1)]


@njit(**_F)
def _energies(occ, pair_i, pair_j, charge, ev, Uv, Tv, mv, gv, nmax, E, LW, emax, lmax, kref, xsc, gmax):  # pragma: no cover
    """State energies ``E``, reference log weights ``LW`` and their maximum, the reference state
    ``kref`` (the first state at the maximum), the reduced-energy scale ``xsc`` and ``gmax``."""
    d, k = occ.shape
    P = pair_i.shape[0]
    for j in range(BLOCK):
        emax[j] = 0.0
        lmax[j] = -math.inf
    for s in range(d):
        for j in range(BLOCK):
            E[s, j] = 0.0
        for i in range(k):
            if occ[s, i] != 0.0:
                for j in range(BLOCK):
                    E[s, j] += ev[i, j]
        for q in range(P):
            if occ[s, pair_i[q]] != 0.0 and occ[s, pair_j[q]] != 0.0:
                for j in range(BLOCK):
                    E[s, j] += Uv[q, j]
        cs = charge[s]
        for j in range(BLOCK):
            e = E[s, j]
            emax[j] = max(emax[j], abs(e))
            lw = -(e - mv[0, j] * cs) / Tv[0, j]
            LW[s, j] = lw
            lmax[j] = max(lmax[j], lw)
    for j in range(BLOCK):
        kref[j] = 0.0
    for s in range(d - 1, -1, -1):
        for j in range(BLOCK):
            kref[j] = float(s) if LW[s, j] == lmax[j] else kref[j]
    for j in range(BLOCK):
        xsc[j] = (2.0 * emax[j] + abs(mv[0, j]) * max(1.0, nmax)) / Tv[0, j]
        gmax[j] = 0.0
    for L in range(Tv.shape[0]):
        for j in range(BLOCK):
            xsc[j] = max(xsc[j], (abs(mv[L, j]) + 2.0 * emax[j]) / Tv[L, j])
    for ch in range(gv.shape[0]):
        for j in range(BLOCK):
            gmax[j] = max(gmax[j], abs(gv[ch, j]))


@njit(**_F)
def _omega(e, orb, lead, ch, ep_ptr, ep_idx, ev, Uv, Tv, mv, gv, om, DD, drel):  # pragma: no cover
    """Edge ``e``'s Bohr frequency ``ω = ε + Σ U`` and ``x0 − x`` from input differences."""
    for j in range(BLOCK):
        om[e, j] = ev[orb, j]
    for t in range(ep_ptr[e], ep_ptr[e + 1]):
        q = ep_idx[t]
        for j in range(BLOCK):
            om[e, j] += Uv[q, j]
    for j in range(BLOCK):
        w = om[e, j]
        T = Tv[lead, j]
        T0 = Tv[0, j]
        mu0 = mv[0, j]
        dd = ((T - T0) * (w - mu0) + T0 * (mv[lead, j] - mu0)) / (T0 * T)  # x0 - x
        DD[e, j] = dd
        drel[j] = max(drel[j], min(abs(dd), 1.0) * abs(gv[ch, j]))


@njit(**_F)
def _reference_state(LW, lmax, drel, gmax, P0, dev, tot):  # pragma: no cover
    """Where the deviation solve can win (``dev``), and the reference Gibbs state ``P0``."""
    for j in range(BLOCK):
        dev[j] = 0.0 if drel[j] > DEV_SKIP * gmax[j] else 1.0
        tot[j] = 0.0
    for s in range(LW.shape[0]):
        for j in range(BLOCK):
            w = exp_nonpos(LW[s, j] - lmax[j])
            P0[s, j] = w
            tot[j] += w
    for s in range(LW.shape[0]):
        for j in range(BLOCK):
            P0[s, j] /= tot[j]


@njit(**_F)
def _rates(e, lead, ch, om, DD, Tv, mv, gv, dev, KIN, KOUT, LR, DK, E0, X0, bad, tiny):  # pragma: no cover
    """Edge ``e``'s rates and the deviation ``dk`` of its rates from the reference reservoir."""
    for j in range(BLOCK):
        w = om[e, j]
        T = Tv[lead, j]
        gm = gv[ch, j]
        x = (w - mv[lead, j]) / T
        ax = abs(x)
        ex = exp_nonpos(-ax)
        r = 1.0 / (1.0 + ex)
        pos = x > 0.0
        fx = ex * r if pos else r
        hx = r if pos else ex * r
        kin = gm * fx
        kout = gm * hx
        KIN[e, j] = kin
        KOUT[e, j] = kout
        LR[e, j] = -x
        dd = DD[e, j]
        x0 = (w - mv[0, j]) / Tv[0, j]
        add = abs(dd)
        same = pos == (x0 > 0.0)
        up = (x0 > 0.0) == (dd > 0.0)
        em = expm1_nonpos(-add)
        qv = 1.0 + em
        e0m = ex * qv
        e0d = ex / qv
        e0a = e0m if up else e0d
        e0b = exp_nonpos(-abs(x0))
        e0 = e0a if (add < 1.0 and same) else e0b
        r0 = 1.0 / (1.0 + e0)
        f0 = e0 * r0 if x0 > 0.0 else r0
        h0 = r0 if x0 > 0.0 else e0 * r0
        df = hx * f0 * em if dd <= 0.0 else -fx * h0 * em
        on = dev[j] != 0.0 and dd != 0.0
        DK[e, j] = gm * df if on else 0.0
        E0[e, j] = e0 if on else 0.0
        X0[e, j] = x0 if on else 0.0
        far = ax > 700.0 or (on and abs(x0) > 700.0)
        bad[j] = 1.0 if far else bad[j]
        small = (0.0 < kin < 1e-280) or (0.0 < kout < 1e-280)
        tiny[j] = 1.0 if small else tiny[j]


@njit(**_F)
def _matrix(e_src, e_dst, e_rep, KIN, KOUT, DK, X0, E0, P0, R, g, GE):  # pragma: no cover
    """The rate matrix ``R[i, j]`` (rate i -> j) and the deviation drive ``g`` of every edge."""
    d = R.shape[0]
    for a in range(d):
        for b in range(d):
            for j in range(BLOCK):
                R[a, b, j] = 0.0
        for j in range(BLOCK):
            g[a, j] = 0.0
    for e in range(e_src.shape[0]):
        r_ = e_rep[e]
        i = e_src[e]
        jd = e_dst[e]
        for j in range(BLOCK):
            R[i, jd, j] += KIN[r_, j]
            R[jd, i, j] += KOUT[r_, j]
            dk = DK[r_, j]
            pref = P0[i, j] if X0[r_, j] >= 0.0 else P0[jd, j]
            ge = pref * dk * (1.0 + E0[r_, j])
            GE[e, j] = ge
            g[jd, j] += ge
            g[i, j] -= ge


@njit(**_F)
def _permute(R, g, kref, A, rhs, rabs):  # pragma: no cover - compiled
    """``A[a, b] = R[σa, σb]``, ``rhs[a] = g[σa]`` with σ the transposition of each lane's
    ``kref`` and the last state (which GTH keeps): a copy, then two row/column swaps per lane."""
    d = R.shape[0]
    last = d - 1
    for a in range(d):
        for b in range(d):
            for j in range(BLOCK):
                A[a, b, j] = R[a, b, j]
        for j in range(BLOCK):
            rhs[a, j] = g[a, j]
    for j in range(BLOCK):
        kr = int(kref[j])
        if kr == last:
            continue
        for b in range(d):
            v = A[kr, b, j]
            A[kr, b, j] = A[last, b, j]
            A[last, b, j] = v
        for a in range(d):
            v = A[a, kr, j]
            A[a, kr, j] = A[a, last, j]
            A[a, last, j] = v
        v = rhs[kr, j]
        rhs[kr, j] = rhs[last, j]
        rhs[last, j] = v
    for a in range(d):
        for j in range(BLOCK):
            rabs[a, j] = abs(rhs[a, j])


@njit(**_F)
def _gth(A, rhs, rabs, SP, PP, XP, YP, bad, q, t3, t4, t5):  # pragma: no cover
    """GTH elimination of ``A`` (kept state last) and the back substitution of the populations
    ``PP`` and of the deviation ``XP`` (and of its bound's ``YP``) alongside."""
    d = A.shape[0]
    last = d - 1
    for a in range(d - 1):
        for j in range(BLOCK):
            SP[a, j] = A[a, last, j]
        for b in range(a + 1, d - 1):
            for j in range(BLOCK):
                SP[a, j] += A[a, b, j]
        for j in range(BLOCK):
            bad[j] = bad[j] if SP[a, j] > 0.0 else 1.0
        for i in range(a + 1, d):
            for j in range(BLOCK):  # unconditional (a select around a division keeps LLVM scalar)
                q[j] = A[a, i, j] / SP[a, j]
            if i != last:
                for j in range(BLOCK):
                    rhs[i, j] += rhs[a, j] * q[j]
                    rabs[i, j] += rabs[a, j] * q[j]
            for jj in range(a + 1, d):  # jj == i updates the diagonal, which GTH never reads
                for j in range(BLOCK):
                    A[jj, i, j] += A[jj, a, j] * q[j]
    for j in range(BLOCK):
        PP[last, j] = 1.0
        XP[last, j] = 0.0
        YP[last, j] = 0.0
    for a in range(d - 2, -1, -1):
        for j in range(BLOCK):
            t3[j] = A[last, a, j]
            t4[j] = rhs[a, j]
            t5[j] = rabs[a, j]
        for b in range(a + 1, d - 1):
            for j in range(BLOCK):
                ab = A[b, a, j]
                t3[j] += ab * PP[b, j]
                t4[j] += ab * XP[b, j]
                t5[j] += ab * YP[b, j]
        for j in range(BLOCK):
            sp = SP[a, j]
            PP[a, j] = t3[j] / sp
            XP[a, j] = t4[j] / sp
            YP[a, j] = t5[j] / sp


@njit(**_F)
def _normalise(PP, XP, YP, kref, tiny, Pn, XX, YY, LP, tot, fl, nrm, ysum, bad):  # pragma: no cover
    """Back to the natural order (undo σ), normalised; the floor ``fl``,
    ``log p`` per state and the deviation's norm."""
    d = PP.shape[0]
    last = d - 1
    for s in range(d):
        for j in range(BLOCK):
            Pn[s, j] = PP[s, j]
            XX[s, j] = XP[s, j]
            YY[s, j] = YP[s, j]
    for j in range(BLOCK):  # σ is its own inverse
        kr = int(kref[j])
        if kr != last:
            Pn[kr, j], Pn[last, j] = PP[last, j], PP[kr, j]
            XX[kr, j], XX[last, j] = XP[last, j], XP[kr, j]
            YY[kr, j], YY[last, j] = YP[last, j], YP[kr, j]
    for j in range(BLOCK):
        tot[j] = 0.0
        fl[j] = 1e-270 if tiny[j] != 0.0 else 0.0
        nrm[j] = 1.0
        ysum[j] = 0.0
    for s in range(d):
        for j in range(BLOCK):
            tot[j] += Pn[s, j]
    for s in range(d):
        for j in range(BLOCK):
            v = Pn[s, j] / tot[j]
            Pn[s, j] = v
            fin = v - v == 0.0
            fl[j] = fl[j] if (v >= 1e-280 and fin) else 1e-270
            bad[j] = bad[j] if fin else 1.0
            LP[s, j] = log_normal(max(v, _TINY) if fin else 1.0)
            nrm[j] += XX[s, j]
            ysum[j] += YY[s, j]


@njit(**_F)
def _edge_flux(e, i, jd, r_, ch, KIN, KOUT, Pn, XX, YY, GE, LR, LP, erel, rho, dev, fl, nrm, ysum,
               Nc, eNc, smv, esm, FL, EF):  # pragma: no cover
    """Edge ``e``'s flux (plain or deviation form, whichever bound is smaller), its channel sums and
    its ``sigma_micro`` term (affinity from ``log1p`` of the flux ratio near detailed balance)."""
    eps = _EPS
    for j in range(BLOCK):
        kin = KIN[r_, j]
        kout = KOUT[r_, j]
        fw = kin * Pn[i, j]
        bw = kout * Pn[jd, j]
        flux = fw - bw
        er2 = erel[j] + 2.0 * rho[j]
        ef = er2 * (fw + bw) + eps * abs(flux)
        gg = GE[e, j]
        a1 = kin * XX[i, j]
        b1 = kout * XX[jd, j]
        an = abs(nrm[j])
        fd = (a1 - b1 + gg) / nrm[j]
        ed = (er2 * (kin * YY[i, j] + kout * YY[jd, j]) + 4.0 * rho[j] * abs(gg)
              + 3.0 * eps * (abs(a1) + abs(b1) + abs(gg))) / an
        ed += abs(fd) * (erel[j] * ysum[j] + 2.0 * eps) / an
        use = dev[j] != 0.0 and ed < ef
        flux = fd if use else flux
        ef = (ed if use else ef) + fl[j]
        nc = Nc[ch, j] + flux
        Nc[ch, j] = nc
        eNc[ch, j] += ef + 2.0 * eps * abs(nc)
        af = abs(flux)
        ratio = flux / bw  # inf or NaN where bw = 0: not near
        near = abs(ratio) < 0.5
        aff_n = log1p_small(ratio if near else 0.0)
        eaff_n = 2.0 * (ef + (erel[j] + rho[j]) * af) / bw
        lr = LR[r_, j]
        lpi = LP[i, j]
        lpj = LP[jd, j]
        aff_f = lr + lpi - lpj
        eaff_f = (erel[j] + rho[j]) * 4.0 + eps * (abs(lr) + abs(lpi) + abs(lpj))
        aff = aff_n if near else aff_f
        eaff = (eaff_n if near else eaff_f) + 2.0 * eps * abs(aff)  # the vector log's own ulp
        term = flux * aff
        nz = flux != 0.0
        smv[j] += term if nz else 0.0
        esm[j] += (abs(aff) * ef + af * eaff + 2.0 * eps * abs(term)) if nz else 0.0
        FL[j] = flux
        EF[j] = ef


@njit(**_F)
def _pair_sum(ch, q, FL, EF, NP, eNP):  # pragma: no cover
    """An edge's flux into the group of its channel with Coulomb pair ``q`` occupied."""
    eps = _EPS
    for j in range(BLOCK):
        v = NP[ch, q, j] + FL[j]
        NP[ch, q, j] = v
        eNP[ch, q, j] += EF[j] + 2.0 * eps * abs(v)


@njit(**_F)
def _channel_current(ch, lead, orb, single, pair_i, pair_j, ev, Uv, mv, Nc, eNc, NP, eNP,
                     JEv, JNv, JQv, eEv, eNv, eQv, t1, t2, t3, t4, t5, t6):  # pragma: no cover
    """Channel ``ch``'s contribution to its lead's currents, ``J_E = ε N + Σ U N^q``, and bounds."""
    eps = _EPS
    for j in range(BLOCK):
        N = 0.0 if single else Nc[ch, j]
        eN = 0.0 if single else eNc[ch, j]
        ei = ev[orb, j]
        qi = ei - mv[lead, j]
        je = ei * N
        jq = qi * N
        t1[j] = N
        t2[j] = eN
        t3[j] = je
        t4[j] = jq
        t5[j] = abs(ei) * eN + eps * abs(je)
        t6[j] = abs(qi) * (eN + eps * abs(N)) + eps * abs(jq)
    for q in range(pair_i.shape[0]):
        if pair_i[q] == orb or pair_j[q] == orb:
            for j in range(BLOCK):
                u1 = Uv[q, j] * NP[ch, q, j]
                je = t3[j] + u1
                jq = t4[j] + u1
                t3[j] = je
                t4[j] = jq
                et = abs(Uv[q, j]) * eNP[ch, q, j] + eps * abs(u1)
                t5[j] += et + 2.0 * eps * abs(je)
                t6[j] += et + 2.0 * eps * abs(jq)
    for j in range(BLOCK):
        vN = JNv[lead, j] + t1[j]
        JNv[lead, j] = vN
        eNv[lead, j] += t2[j] + 2.0 * eps * abs(vN)
        vE = JEv[lead, j] + t3[j]
        JEv[lead, j] = vE
        eEv[lead, j] += t5[j] + 2.0 * eps * abs(vE)
        vQ = JQv[lead, j] + t4[j]
        JQv[lead, j] = vQ
        eQv[lead, j] += t6[j] + 2.0 * eps * abs(vQ)


@njit(**_F)
def _write(c0, m, Pn, smv, esm, JEv, JNv, JQv, eEv, eNv, eQv, bad,
           p, J_E, J_N, J_Q, err_E, err_N, err_Q, sigma_micro, err_micro, rel_err, res_E, res_N, redo):  # pragma: no cover
    """The block's cells into the outputs: ``rel_err`` as ``precision.lead_bound``, the residuals
    as :func:`qtmsweep.physics.conservation.residual_of_row`."""
    d = Pn.shape[0]
    NL = JEv.shape[0]
    for j in range(m):
        c = c0 + j
        redo[c] = np.uint8(1) if bad[j] != 0.0 else np.uint8(0)
        for s in range(d):
            p[c, s] = Pn[s, j]
        sigma_micro[c] = smv[j]
        err_micro[c] = esm[j]
        for L in range(NL):
            je = JEv[L, j]
            jn = JNv[L, j]
            jq = JQv[L, j]
            J_E[c, L] = je
            J_N[c, L] = jn
            J_Q[c, L] = jq
            err_E[c, L] = eEv[L, j]
            err_N[c, L] = eNv[L, j]
            err_Q[c, L] = eQv[L, j]
            rel_err[c, L] = max(max(max(0.0, _relative(eEv[L, j], abs(je))), _relative(eQv[L, j], abs(jq))),
                                _relative(eNv[L, j], abs(jn)))
        res_E[c] = residual_of_row(J_E, c, NL)
        res_N[c] = residual_of_row(J_N, c, NL)


@njit(cache=True, inline="always")
def _rows(buf, o, r):  # pragma: no cover - compiled
    """The ``(r, BLOCK)`` view of ``buf`` at offset ``o``, and the offset after it."""
    return buf[o:o + r * BLOCK].reshape((r, BLOCK)), o + r * BLOCK


@njit(cache=True, inline="always")
def _planes(buf, o, r, q):  # pragma: no cover - compiled
    """The ``(r, q, BLOCK)`` view of ``buf`` at offset ``o``, and the offset after it."""
    return buf[o:o + r * q * BLOCK].reshape((r, q, BLOCK)), o + r * q * BLOCK


@njit(cache=True, parallel=True, error_model="numpy")
def dots_simd_kernel(eps_in, U_in, T_in, mu_in, gam_in, occ, pair_i, pair_j, charge,
                     e_src, e_dst, e_ch, e_orb, e_rep, ep_ptr, ep_idx, ch_lead, ch_orb, ch_single, n_leads,
                     p, J_E, J_N, J_Q, err_E, err_N, err_Q, sigma_micro, err_micro, rel_err, res_E, res_N,
                     redo, n_threads):  # pragma: no cover - compiled
    """:func:`.dots_kernel.dots_kernel`'s arguments and outputs, plus ``redo[c] = 1`` for the cells
    the reference kernel must recompute (their outputs here are not meaningful); ``n_threads``
    chunks of blocks run in parallel.

    One scratch buffer per thread, carved into ``[row, lane]`` views; each phase is a compiled
    function of its own over those views (so LLVM vectorises its lane loops).
    """
    n = p.shape[0]
    d = occ.shape[0]
    k = occ.shape[1]
    P = pair_i.shape[0]
    P1 = max(P, 1)
    ne = e_src.shape[0]
    C = ch_lead.shape[0]
    NL = n_leads
    B = BLOCK
    gam_rel = (2.0 * d * d + 16.0) * _EPS
    nmax = 0.0
    for s in range(d):
        nmax = max(nmax, charge[s])
    rows = k + P1 + 2 * NL + C + 8 * d + 9 * ne + 2 * d * d + 6 * d + 2 * C + 2 * C * P1 + 6 * NL + 24
    n_blocks = (n + B - 1) // B
    n_chunks = max(min(n_blocks, n_threads), 1)
    for chunk in prange(n_chunks):
        buf = np.empty(rows * B)
        o = 0
        ev, o = _rows(buf, o, k)
        Uv, o = _rows(buf, o, P1)
        Tv, o = _rows(buf, o, NL)
        mv, o = _rows(buf, o, NL)
        gv, o = _rows(buf, o, C)
        E, o = _rows(buf, o, d)
        LW, o = _rows(buf, o, d)
        P0, o = _rows(buf, o, d)
        g, o = _rows(buf, o, d)
        Pn, o = _rows(buf, o, d)
        XX, o = _rows(buf, o, d)
        YY, o = _rows(buf, o, d)
        LP, o = _rows(buf, o, d)
        om, o = _rows(buf, o, ne)
        DD, o = _rows(buf, o, ne)
        KIN, o = _rows(buf, o, ne)
        KOUT, o = _rows(buf, o, ne)
        LR, o = _rows(buf, o, ne)
        DK, o = _rows(buf, o, ne)
        E0, o = _rows(buf, o, ne)
        X0, o = _rows(buf, o, ne)
        GE, o = _rows(buf, o, ne)
        R, o = _planes(buf, o, d, d)
        A, o = _planes(buf, o, d, d)
        rhs, o = _rows(buf, o, d)
        rabs, o = _rows(buf, o, d)
        SP, o = _rows(buf, o, d)
        PP, o = _rows(buf, o, d)
        XP, o = _rows(buf, o, d)
        YP, o = _rows(buf, o, d)
        Nc, o = _rows(buf, o, C)
        eNc, o = _rows(buf, o, C)
        NP, o = _planes(buf, o, C, P1)
        eNP, o = _planes(buf, o, C, P1)
        JEv, o = _rows(buf, o, NL)
        JNv, o = _rows(buf, o, NL)
        JQv, o = _rows(buf, o, NL)
        eEv, o = _rows(buf, o, NL)
        eNv, o = _rows(buf, o, NL)
        eQv, o = _rows(buf, o, NL)
        lane, o = _rows(buf, o, 24)
        emax, lmax, xsc, gmax, drel, dev, bad, tiny = lane[0], lane[1], lane[2], lane[3], lane[4], lane[5], lane[6], lane[7]
        tot, rho, erel, fl, nrm, ysum, smv, esm = lane[8], lane[9], lane[10], lane[11], lane[12], lane[13], lane[14], lane[15]
        kref, t1, t2, t3, t4, t5, t6, t7 = lane[16], lane[17], lane[18], lane[19], lane[20], lane[21], lane[22], lane[23]
        for blk in range(chunk * n_blocks // n_chunks, (chunk + 1) * n_blocks // n_chunks):  # contiguous per thread
            c0 = blk * B
            m = min(B, n - c0)
            _gather(eps_in, c0, m, ev)
            if P:
                _gather(U_in, c0, m, Uv)
            _gather(T_in, c0, m, Tv)
            _gather(mu_in, c0, m, mv)
            _gather(gam_in, c0, m, gv)
            _energies(occ, pair_i, pair_j, charge, ev, Uv, Tv, mv, gv, nmax, E, LW, emax, lmax, kref, xsc, gmax)
            for j in range(B):
                drel[j] = 0.0
                bad[j] = 0.0
                tiny[j] = 0.0
            for e in range(ne):
                if e_rep[e] == e:
                    _omega(e, e_orb[e], ch_lead[e_ch[e]], e_ch[e], ep_ptr, ep_idx, ev, Uv, Tv, mv, gv, om, DD, drel)
            _reference_state(LW, lmax, drel, gmax, P0, dev, tot)
            for e in range(ne):
                if e_rep[e] == e:
                    _rates(e, ch_lead[e_ch[e]], e_ch[e], om, DD, Tv, mv, gv, dev, KIN, KOUT, LR, DK, E0, X0, bad, tiny)
            _matrix(e_src, e_dst, e_rep, KIN, KOUT, DK, X0, E0, P0, R, g, GE)
            for j in range(B):
                rho[j] = _EPS * (8.0 + 3.0 * xsc[j])
                erel[j] = gam_rel + d * rho[j]
            _permute(R, g, kref, A, rhs, rabs)
            _gth(A, rhs, rabs, SP, PP, XP, YP, bad, t1, t3, t4, t5)
            _normalise(PP, XP, YP, kref, tiny, Pn, XX, YY, LP, tot, fl, nrm, ysum, bad)
            NP[:] = 0.0
            eNP[:] = 0.0
            Nc[:] = 0.0
            eNc[:] = 0.0
            smv[:] = 0.0
            esm[:] = 0.0
            for e in range(ne):
                ch = e_ch[e]
                _edge_flux(e, e_src[e], e_dst[e], e_rep[e], ch, KIN, KOUT, Pn, XX, YY, GE, LR, LP, erel, rho, dev,
                           fl, nrm, ysum, Nc, eNc, smv, esm, t6, t7)
                for t in range(ep_ptr[e], ep_ptr[e + 1]):
                    _pair_sum(ch, ep_idx[t], t6, t7, NP, eNP)
            JEv[:] = 0.0
            JNv[:] = 0.0
            JQv[:] = 0.0
            eEv[:] = 0.0
            eNv[:] = 0.0
            eQv[:] = 0.0
            for ch in range(C):
                _channel_current(ch, ch_lead[ch], ch_orb[ch], ch_single[ch], pair_i, pair_j, ev, Uv, mv, Nc, eNc, NP, eNP,
                                 JEv, JNv, JQv, eEv, eNv, eQv, t1, t2, t3, t4, t5, t6)
            _write(c0, m, Pn, smv, esm, JEv, JNv, JQv, eEv, eNv, eQv, bad,
                   p, J_E, J_N, J_Q, err_E, err_N, err_Q, sigma_micro, err_micro, rel_err, res_E, res_N, redo)


def solve_dots(kernel_args: tuple, outputs: tuple, method: str = "simd") -> int:
    """Run the vectorised kernel on every cell and the reference kernel on the cells it flags.

    ``kernel_args`` are the input arrays of :func:`.dots_kernel.dots_kernel` (parameter rows
    first: ``eps_in, U_in, T_in, mu_in, gam_in``, each (rows, n), then the structure and
    ``n_leads``); ``outputs`` its output arrays (``p, J_E, …, res_N``), filled in place.
    ``method="reference"`` runs the reference kernel on every cell.  Returns the number of cells
    the reference kernel computed.
    """
    if method == "reference":
        dots_kernel(*kernel_args, *outputs)
        return outputs[0].shape[0]
    if method != "simd":
        raise ValueError(f"method={method!r}: allowed 'simd' or 'reference'")
    n = outputs[0].shape[0]
    redo = np.zeros(n, dtype=np.uint8)
    dots_simd_kernel(*kernel_args, *outputs, redo, get_num_threads())
    idx = np.flatnonzero(redo)
    if idx.size:
        rows = tuple(np.ascontiguousarray(a[:, idx]) for a in kernel_args[:5])
        sub = tuple(np.empty((idx.size,) + o.shape[1:]) for o in outputs)
        dots_kernel(*rows, *kernel_args[5:], *sub)
        for o, s in zip(outputs, sub):
            o[idx] = s
    return int(idx.size)
