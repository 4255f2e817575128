"""Fused numba kernel of :func:`qtmsweep.physics.counting.cumulants` for rate matrices.

A rate-matrix generator's jumps are single edges ``i → j`` (``J_k = e_j e_iᵀ``), so every
superoperator product of the Drazin formulas is an edge sum.  Per cell (``prange`` over cells):
build ``A = W − (s/d) 1 1ᵀ`` (``s`` the largest escape rate), LU-factorise it once with partial
pivoting, then ``ρ = −A⁻¹ s u`` and ``L^D x = A⁻¹(x − ρ Σx)`` by triangular solves; the
cumulant recursion is that of :mod:`qtmsweep.physics.counting` (same formulas, same bounds),
with no temporaries beyond a few length-``d`` vectors per flux.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.np.linalg import F_INT_nbtype, F_INT_nptype


from .models.cqd_simd import _gather  # GridParam values read in place, block by block
from .vecmath import exp_nonpos

_EPS = np.finfo(float).eps

# LAPACK zgetrf through numba's own helper (``numba_xxgetrf``, resolved by name, so the kernels stay
# cacheable; it calls scipy.linalg.cython_lapack).  Used by the dense kernel from D >= LAPACK_MIN_D on.
_xxgetrf = types.ExternalFunction("numba_xxgetrf", types.intc(
    types.char, types.intp, types.intp, types.CPointer(types.complex128), types.intp, types.CPointer(F_INT_nbtype)))
LAPACK_MIN_D = 48


@njit(cache=True)
def _lu(A, piv):  # pragma: no cover - compiled
    """LU with partial pivoting of a real square matrix in place: :func:`_clu` (one routine for
    real and complex matrices; numba compiles it per type)."""
    return _clu(A, piv, A.shape[0])


@njit(cache=True)
def _solve(A, piv, b):  # pragma: no cover - compiled
    """``A x = b`` from :func:`_lu`'s factors, ``b`` overwritten: :func:`_csolve`."""
    _csolve(A, piv, b, A.shape[0])


@njit(cache=True)
def _drazin(A, piv, rho, x):  # pragma: no cover - compiled
    tot = 0.0
    for a in range(x.shape[0]):
        tot += x[a]
    for a in range(x.shape[0]):
        x[a] -= rho[a] * tot
    _solve(A, piv, x)


@njit(cache=True, parallel=True)
def pauli_cumulants_kernel(src, tgt, rate_T, w, d, order, c1, S, c3, activity, S_rel, c3_rel, rho_out):  # pragma: no cover
    K, n = rate_T.shape
    F = w.shape[2]
    for cell in prange(n):
        A = np.empty((d, d))
        piv = np.zeros(d, dtype=np.int64)
        rho = np.empty(d)
        if not _shifted_lu(A, piv, rate_T[:, cell], src, tgt, d, rho):
            for f in range(F):
                c1[cell, f] = np.nan
                for g in range(F):
                    S[cell, f, g] = np.nan
            continue
        for a in range(d):
            rho_out[cell, a] = rho[a]
        act = 0.0
        for k in range(K):
            act += rate_T[k, cell] * rho[src[k]]
        activity[cell] = act
        y = np.zeros((F, d))
        for f in range(F):
            acc = 0.0
            for k in range(K):
                jr = rate_T[k, cell] * rho[src[k]]
                acc += jr * w[cell, k, f]
                y[f, tgt[k]] += jr * w[cell, k, f]
            c1[cell, f] = acc
            _drazin(A, piv, rho, y[f])
        for f in range(F):
            for g in range(F):
                cross_fg = 0.0
                cross_gf = 0.0
                contact = 0.0
                for k in range(K):
                    r = rate_T[k, cell]
                    cross_fg += r * w[cell, k, f] * y[g, src[k]]
                    cross_gf += r * w[cell, k, g] * y[f, src[k]]
                    contact += r * rho[src[k]] * w[cell, k, f] * w[cell, k, g]
                S[cell, f, g] = contact - cross_fg - cross_gf
                if f == g:
                    val = abs(S[cell, f, f])
                    S_rel[cell, f] = 64 * d * 2.220446049250313e-16 * (abs(contact) + 2 * abs(cross_fg)) / val \
                        if val > 0 else 0.0
        if order >= 3:
            v = np.zeros(d)
            for f in range(F):
                for a in range(d):
                    v[a] = 0.0
                for k in range(K):
                    r = rate_T[k, cell]
                    wk = w[cell, k, f]
                    v[tgt[k]] += 2 * r * wk * (-y[f, src[k]]) + r * wk * wk * rho[src[k]]
                for a in range(d):
                    v[a] -= 2 * c1[cell, f] * (-y[f, a])
                _drazin(A, piv, rho, v)  # v = L^D(...);  rho2 = -v
                t1 = 0.0
                t2 = 0.0
                t3 = 0.0
                for k in range(K):
                    r = rate_T[k, cell]
                    wk = w[cell, k, f]
                    t1 += r * wk * (-v[src[k]])
                    t2 += r * wk * wk * (-y[f, src[k]])
                    t3 += r * rho[src[k]] * wk * wk * wk
                val = 3 * t1 + 3 * t2 + t3
                c3[cell, f] = val
                gross = 3 * abs(t1) + 3 * abs(t2) + abs(t3)
                c3_rel[cell, f] = 64 * d * 2.220446049250313e-16 * gross / abs(val) if val != 0 else 0.0


@njit(cache=True, parallel=True)
def pauli_flux_cumulants_kernel(src, tgt, rate_T, energy_T, particles, on, a_E, pm_T, d, order, block, c1, S, c3,
                                activity, S_rel, c3_rel, rho_out):  # pragma: no cover - compiled
    """:func:`pauli_cumulants_kernel` with the counting weights formed in the kernel (no ``(n, K, F)``
    array): ``ν_kf = on_kf (a_E_f ω_k + pm_f n_k)`` with ``pm_T (F, n)`` the per-cell particle weight
    (1 for ``J_N``, ``−μ`` for ``J_Q``, 0 for ``J_E``).  Cells run in blocks of ``block`` (one set of
    work arrays per block, not per cell)."""
    K, n = rate_T.shape
    F = on.shape[1]
    nblocks = (n + block - 1) // block
    eps = 2.220446049250313e-16
    for ib in prange(nblocks):
        A = np.empty((d, d))
        piv = np.zeros(d, dtype=np.int64)
        rho = np.empty(d)
        y = np.empty((F, d))
        v = np.empty(d)
        w = np.empty((K, F))
        for cell in range(ib * block, min(n, (ib + 1) * block)):
            for k in range(K):
                for f in range(F):
                    w[k, f] = on[k, f] * (a_E[f] * energy_T[k, cell] + pm_T[f, cell] * particles[k])
            if not _shifted_lu(A, piv, rate_T[:, cell], src, tgt, d, rho):
                for f in range(F):
                    c1[cell, f] = np.nan
                    for g in range(F):
                        S[cell, f, g] = np.nan
                continue
            for a in range(d):
                rho_out[cell, a] = rho[a]
            act = 0.0
            for k in range(K):
                act += rate_T[k, cell] * rho[src[k]]
            activity[cell] = act
            for f in range(F):
                for a in range(d):
                    y[f, a] = 0.0
                acc = 0.0
                for k in range(K):
                    jr = rate_T[k, cell] * rho[src[k]] * w[k, f]
                    acc += jr
                    y[f, tgt[k]] += jr
                c1[cell, f] = acc
                _drazin(A, piv, rho, y[f])
            for f in range(F):
                for g in range(f, F):
                    cross_fg = 0.0
                    cross_gf = 0.0
                    contact = 0.0
                    for k in range(K):
                        r = rate_T[k, cell]
                        cross_fg += r * w[k, f] * y[g, src[k]]
                        cross_gf += r * w[k, g] * y[f, src[k]]
                        contact += r * rho[src[k]] * w[k, f] * w[k, g]
                    val = contact - cross_fg - cross_gf
                    S[cell, f, g] = val
                    S[cell, g, f] = val
                    if f == g:
                        S_rel[cell, f] = 64 * d * eps * (abs(contact) + 2 * abs(cross_fg)) / abs(val) \
                            if val != 0 else 0.0
            if order >= 3:
                for f in range(F):
                    for a in range(d):
                        v[a] = 0.0
                    for k in range(K):
                        r = rate_T[k, cell]
                        wk = w[k, f]
                        v[tgt[k]] += 2 * r * wk * (-y[f, src[k]]) + r * wk * wk * rho[src[k]]
                    for a in range(d):
                        v[a] -= 2 * c1[cell, f] * (-y[f, a])
                    _drazin(A, piv, rho, v)
                    t1 = 0.0
                    t2 = 0.0
                    t3 = 0.0
                    for k in range(K):
                        r = rate_T[k, cell]
                        wk = w[k, f]
                        t1 += r * wk * (-v[src[k]])
                        t2 += r * wk * wk * (-y[f, src[k]])
                        t3 += r * rho[src[k]] * wk * wk * wk
                    val = 3 * t1 + 3 * t2 + t3
                    c3[cell, f] = val
                    gross = 3 * abs(t1) + 3 * abs(t2) + abs(t3)
                    c3_rel[cell, f] = 64 * d * eps * gross / abs(val) if val != 0 else 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _gth(Q, d):  # pragma: no cover - compiled
    """Grassmann–Taksar–Heyman elimination of the states ``0 .. d−2`` of a negative rate matrix ``Q``
    (``Q[i, j] = −rate(j → i)`` off the diagonal), in place: each pivot is the escape rate of the
    censored chain, summed from its (non-positive) column instead of a subtraction, and every
    off-diagonal update adds terms of one sign, so the factorisation has no cancellation.  The
    diagonal receives the *inverse* pivots (one division each; the solves then only multiply).
    Returns False when a pivot is 0 (a state the remaining ones cannot reach: no unique steady
    state)."""
    for c in range(d - 1):
        piv = 0.0
        for i in range(c + 1, d):
            piv -= Q[i, c]
        if not piv > 0.0:
            return False
        inv = 1.0 / piv
        Q[c, c] = inv
        for i in range(c + 1, d):
            Q[i, c] *= inv  # multiplier l_ic (<= 0)
            lic = Q[i, c]
            for j in range(c + 1, d):
                if j != i:
                    Q[i, j] -= lic * Q[c, j]
    return True


@njit(cache=True, inline="always", error_model="numpy")
def _gth_rho(Q, d, rho):  # pragma: no cover - compiled
    """Steady state after :func:`_gth` (back substitution of positive terms, normalised)."""
    rho[d - 1] = 1.0
    tot = 1.0
    for c in range(d - 2, -1, -1):
        acc = 0.0
        for i in range(c + 1, d):
            acc -= rho[i] * Q[c, i]
        rho[c] = acc * Q[c, c]
        tot += rho[c]
    itot = 1.0 / tot
    for a in range(d):
        rho[a] *= itot


@njit(cache=True, inline="always", error_model="numpy")
def _gth_drazin(Q, d, rho, x):  # pragma: no cover - compiled
    """``x ← L^D x`` after :func:`_gth`: ``b = x − ρ Σx``; solve ``W z = b`` on the states ``0 .. d−2``
    with ``z_{d−1} = 0`` (the last row holds by the zero column sums), then ``y = z − ρ Σz``."""
    tot = 0.0
    for a in range(d):
        tot += x[a]
    for a in range(d - 1):
        x[a] = -(x[a] - rho[a] * tot)  # M z = -b with M = -W restricted
    for c in range(d - 1):
        for i in range(c + 1, d - 1):
            x[i] -= Q[i, c] * x[c]
    for c in range(d - 2, -1, -1):
        acc = x[c]
        for j in range(c + 1, d - 1):
            acc -= Q[c, j] * x[j]
        x[c] = acc * Q[c, c]
    x[d - 1] = 0.0
    tz = 0.0
    for a in range(d):
        tz += x[a]
    for a in range(d):
        x[a] -= rho[a] * tz

@njit(cache=True, inline="always", error_model="numpy")
def _shifted_lu(A, piv, rate, src, tgt, d, rho):  # pragma: no cover - compiled
    """``A = W − (s/d) 1 1ᵀ`` LU-factorised in place and ``ρ`` (as :func:`pauli_cumulants_kernel`);
    False on a zero pivot (no unique steady state)."""
    for a in range(d):
        for b in range(d):
            A[a, b] = 0.0
    for k in range(rate.shape[0]):
        A[tgt[k], src[k]] += rate[k]
        A[src[k], src[k]] -= rate[k]
    s = 0.0
    for a in range(d):
        if abs(A[a, a]) > s:
            s = abs(A[a, a])
    if s == 0.0:
        s = 1.0
    for a in range(d):
        for b in range(d):
            A[a, b] -= s / d
    if not _lu(A, piv):
        return False
    for a in range(d):
        rho[a] = -s / d
    _solve(A, piv, rho)
    tot = 0.0
    for a in range(d):
        tot += rho[a]
    for a in range(d):
        rho[a] /= tot
    return True


@njit(cache=True, inline="always", error_model="numpy")
def _any_drazin(lu, A, piv, d, rho, x):  # pragma: no cover - compiled
    if lu:
        _drazin(A, piv, rho, x)
    else:
        _gth_drazin(A, d, rho, x)


# -- cqd: the rates formed in the kernel (no generator arrays), ratios in the same pass -------------
#: The jumps of ``cqd`` in the order of :func:`qtmsweep.physics.generator.rate_model_generator`
#: (two per ``cqd.TRANSITIONS`` entry: the electron-in jump ``i -> j``, then ``j -> i``); states
#: ``A, B, C, D`` = 0..3, leads ``a, b, r`` = 0..2.
CQD_SRC = np.array([0, 1, 0, 1, 2, 3, 2, 3, 0, 2, 1, 3], dtype=np.int64)
CQD_TGT = np.array([1, 0, 1, 0, 3, 2, 3, 2, 2, 0, 3, 1], dtype=np.int64)
CQD_LEAD = np.array([0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 2, 2], dtype=np.int64)
#: The 4 jumps of each lead (``a, b, r``): every cqd flux weighs only those.
CQD_LEAD_JUMPS = np.array([[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 10, 11]], dtype=np.int64)
#: Cells per block of :func:`cqd_counting_kernel` (its gathered parameters stay in L1).
CQD_BLOCK = 256


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract"})
def cqd_counting_kernel(bases, div, mod, n, fvar, flead, order, resolved, J_E, J_N, J_Q, rel_err, sigma, sigma_rel,
                        S, S_rel, c3, c3_rel, activity, fano, tur, kur, tur_rel, undetermined,
                        tur_undetermined):  # pragma: no cover - compiled
    """Counting statistics of ``cqd`` on ``n`` cells, end to end in one pass.

    ``bases/div/mod``: the 12 kernel parameters (``cqd.KERNEL_PARAMETERS``) as GridParams read in
    place.  Per cell: the 12 lead-resolved rates ``γ f(x)``, ``γ (1 − f(x))`` with
    ``x = (ω − μ)/T`` (as ``cqd.lead_rates``), the counting weights of the fluxes
    ``(fvar_f, flead_f)`` (``fvar`` 0 = J_E, 1 = J_N, 2 = J_Q; a flux weighs only the 4 jumps of
    its lead, so every sum runs over those), the GTH factorisation (:func:`_gth`: steady state
    and ``L^D`` without cancellation), the cumulants by the formulas and bounds of
    :func:`pauli_flux_cumulants_kernel`, and the ratios of
    :func:`qtmsweep.thermo.noise.add_counting_statistics` from the mean solve's ``J_*``,
    ``rel_err (n, 3)``, ``sigma`` and ``sigma_rel``.
    """
    d = 4
    F = fvar.shape[0]
    B = CQD_BLOCK
    nblocks = (n + B - 1) // B
    eps = 2.220446049250313e-16
    src = CQD_SRC
    tgt = CQD_TGT
    jl = CQD_LEAD
    lj = CQD_LEAD_JUMPS
    for ib in prange(nblocks):
        i0 = ib * B
        m = min(B, n - i0)
        prm = np.empty((12, B))
        for k in range(12):
            _gather(bases[k], div[k], mod[k], i0, m, prm[k])
        A = np.empty((d, d))
        piv = np.zeros(d, dtype=np.int64)
        rho = np.empty(d)
        y = np.empty((F, d))
        v = np.empty(d)
        w = np.empty((F, 4))  # weights of flux f on the 4 jumps lj[flead[f]]
        rate = np.empty(12)
        om = np.empty(6)
        for j in range(m):
            cell = i0 + j
            eL = prm[0, j]
            eR = prm[1, j]
            kap = prm[2, j]
            T3 = (prm[3, j], prm[4, j], prm[5, j])
            M3 = (prm[6, j], prm[7, j], prm[8, j])
            G3 = (prm[9, j], prm[10, j], prm[11, j])
            om[0] = eL
            om[1] = eL
            om[2] = eL + kap
            om[3] = eL + kap
            om[4] = eR
            om[5] = eR + kap
            B3 = (1.0 / T3[0], 1.0 / T3[1], 1.0 / T3[2])
            for t in range(6):
                ld = jl[2 * t]
                x = (om[t] - M3[ld]) * B3[ld]
                ax = abs(x)  # distributions.fermi_pair, with the vectorisable exp where it is exact
                e = exp_nonpos(-ax) if ax <= 700.0 else np.exp(-ax)
                r = 1.0 / (1.0 + e)
                er = e * r
                g = G3[ld]
                rate[2 * t] = g * (er if x > 0.0 else r)
                rate[2 * t + 1] = g * (r if x > 0.0 else er)
            for f in range(F):
                ld = flead[f]
                vf = fvar[f]
                for i in range(4):
                    k = lj[ld, i]
                    sgn = 1.0 if k % 2 == 0 else -1.0
                    if vf == 0:
                        w[f, i] = sgn * om[k // 2]
                    elif vf == 1:
                        w[f, i] = sgn
                    else:
                        w[f, i] = sgn * om[k // 2] - M3[ld] * sgn
            for a in range(d):
                for b in range(d):
                    A[a, b] = 0.0
            for k in range(12):
                A[tgt[k], src[k]] -= rate[k]
            lu = not _gth(A, d)
            ok = True
            if lu:  # a state the later ones cannot reach (rates underflowed to 0: transient states):
                # the shifted LU of pauli_flux_cumulants_kernel, which needs only a unique steady state
                ok = _shifted_lu(A, piv, rate, src, tgt, d, rho)
            act = 0.0
            if ok:
                if not lu:
                    _gth_rho(A, d, rho)
                for k in range(12):
                    act += rate[k] * rho[src[k]]
                for f in range(F):
                    ld = flead[f]
                    for a in range(d):
                        y[f, a] = 0.0
                    for i in range(4):
                        k = lj[ld, i]
                        y[f, tgt[k]] += rate[k] * rho[src[k]] * w[f, i]
                    _any_drazin(lu, A, piv, d, rho, y[f])
                for f in range(F):
                    lf = flead[f]
                    for g in range(f, F):
                        lg = flead[g]
                        cross_fg = 0.0
                        cross_gf = 0.0
                        contact = 0.0
                        for i in range(4):
                            kf = lj[lf, i]
                            kg = lj[lg, i]
                            cross_fg += rate[kf] * w[f, i] * y[g, src[kf]]
                            cross_gf += rate[kg] * w[g, i] * y[f, src[kg]]
                            if lf == lg:
                                contact += rate[kf] * rho[src[kf]] * w[f, i] * w[g, i]
                        val = contact - cross_fg - cross_gf
                        S[cell, f, g] = val
                        S[cell, g, f] = val
                        if f == g:
                            S_rel[cell, f] = 64 * d * eps * (abs(contact) + 2 * abs(cross_fg)) / abs(val) \
                                if val != 0 else 0.0
                if order >= 3:
                    for f in range(F):
                        ld = flead[f]
                        c1f = 0.0
                        for a in range(d):
                            v[a] = 0.0
                        for i in range(4):
                            k = lj[ld, i]
                            r = rate[k]
                            wk = w[f, i]
                            c1f += r * rho[src[k]] * wk
                            v[tgt[k]] += 2 * r * wk * (-y[f, src[k]]) + r * wk * wk * rho[src[k]]
                        for a in range(d):
                            v[a] -= 2 * c1f * (-y[f, a])
                        _any_drazin(lu, A, piv, d, rho, v)  # rho2 = -v
                        t1 = 0.0
                        t2 = 0.0
                        t3 = 0.0
                        for i in range(4):
                            k = lj[ld, i]
                            r = rate[k]
                            wk = w[f, i]
                            t1 += r * wk * (-v[src[k]])
                            t2 += r * wk * wk * (-y[f, src[k]])
                            t3 += r * rho[src[k]] * wk * wk * wk
                        val = 3 * t1 + 3 * t2 + t3
                        c3[cell, f] = val
                        gross = 3 * abs(t1) + 3 * abs(t2) + abs(t3)
                        c3_rel[cell, f] = 64 * d * eps * gross / abs(val) if val != 0 else 0.0
            else:
                act = np.nan
                for f in range(F):
                    S_rel[cell, f] = np.nan
                    for g in range(F):
                        S[cell, f, g] = np.nan
            activity[cell] = act
            sg = sigma[cell]
            srel = sigma_rel[cell]
            for f in range(F):
                ld = flead[f]
                vf = fvar[f]
                Jf = J_E[cell, ld] if vf == 0 else (J_N[cell, ld] if vf == 1 else J_Q[cell, ld])
                rJ = rel_err[cell, ld]
                Sd = S[cell, f, f]
                und = not (Jf != 0.0 and np.isfinite(Jf) and rJ < resolved)  # NaN rel_err: undetermined
                undetermined[cell, f] = und
                if und:
                    fano[cell, f] = np.nan
                    kur[cell, f] = np.nan
                    tur[cell, f] = np.nan
                    tur_rel[cell, f] = np.inf
                    tur_undetermined[cell, f] = True
                else:
                    iJ = 1.0 / abs(Jf)
                    fano[cell, f] = Sd * iJ
                    kur[cell, f] = Sd * act * (iJ * iJ)
                    tr = 2 * rJ + S_rel[cell, f] + srel
                    tur_rel[cell, f] = tr
                    tu = not (tr < resolved)
                    tur_undetermined[cell, f] = tu
                    tur[cell, f] = np.nan if tu else Sd * sg * (iJ * iJ)


# -- any generator (Lindblad superoperators on a sector): dense LU per cell, sparse jumps ------------
@njit(cache=True, inline="always")
def _clu(A, piv, d):  # pragma: no cover - compiled
    """LU with partial pivoting of a complex ``d × d`` matrix in place (False on a zero pivot)."""
    for c in range(d):
        p = c
        big = abs(A[c, c])
        for r in range(c + 1, d):
            a = abs(A[r, c])
            if a > big:
                big = a
                p = r
        piv[c] = p
        if p != c:
            for k in range(d):
                tmp = A[c, k]
                A[c, k] = A[p, k]
                A[p, k] = tmp
        if big == 0.0:
            return False
        inv = 1.0 / A[c, c]
        for r in range(c + 1, d):
            f = A[r, c] * inv
            A[r, c] = f
            if f != 0.0:
                for k in range(c + 1, d):
                    A[r, k] -= f * A[c, k]
    return True


@njit(cache=True, inline="always")
def _csolve(A, piv, b, d):  # pragma: no cover - compiled
    for c in range(d):
        p = piv[c]
        if p != c:
            tmp = b[c]
            b[c] = b[p]
            b[p] = tmp
    for r in range(d):
        acc = b[r]
        for k in range(r):
            acc -= A[r, k] * b[k]
        b[r] = acc
    for r in range(d - 1, -1, -1):
        acc = b[r]
        for k in range(r + 1, d):
            acc -= A[r, k] * b[k]
        b[r] = acc / A[r, r]


@njit(cache=True, inline="always")
def _cdrazin(A, piv, t, rho, x, d, lap):  # pragma: no cover - compiled
    tot = 0.0 + 0.0j
    for a in range(d):
        tot += t[a] * x[a]
    for a in range(d):
        x[a] -= rho[a] * tot
    _asolve(A, piv, x, d, lap)


@njit(cache=True, inline="always")
def _csolve_T(A, piv, b, d):  # pragma: no cover - compiled
    """Solve ``Aᵀ x = b`` (plain transpose) with the factors of :func:`_clu`, in place."""
    for r in range(d):  # Uᵀ w = b
        acc = b[r]
        for k in range(r):
            acc -= A[k, r] * b[k]
        b[r] = acc / A[r, r]
    for r in range(d - 1, -1, -1):  # Lᵀ v = w (unit diagonal)
        acc = b[r]
        for k in range(r + 1, d):
            acc -= A[k, r] * b[k]
        b[r] = acc
    for c in range(d - 1, -1, -1):  # x = Pᵀ v
        p = piv[c]
        if p != c:
            tmp = b[c]
            b[c] = b[p]
            b[p] = tmp


@njit(cache=True, inline="always")
def _asolve(A, piv, b, d, lap):  # pragma: no cover - compiled
    """Solve ``A x = b`` in place: ``A`` holds the factors of ``A`` by :func:`_clu`, or (``lap``) those of
    ``Aᵀ`` by LAPACK's zgetrf (column-major, so in ``A.T`` they read as :func:`_clu`'s of ``Aᵀ``)."""
    if lap:
        _csolve_T(A.T, piv, b, d)
    else:
        _csolve(A, piv, b, d)


@njit(cache=True, inline="always")
def _asolve_T(A, piv, b, d, lap):  # pragma: no cover - compiled
    """Solve ``Aᵀ x = b`` in place with the factors of :func:`_asolve`."""
    if lap:
        _csolve_cols(A, piv, b, d)
    else:
        _csolve_T(A, piv, b, d)


@njit(cache=True, inline="always")
def _csolve_cols(A, piv, b, d):  # pragma: no cover - compiled
    """:func:`_csolve` on ``A.T`` (``Aᵀ x = b`` with zgetrf's factors of ``Aᵀ``) by columns of ``A.T``,
    i.e. rows of ``A``: contiguous reads."""
    for c in range(d):
        p = piv[c]
        if p != c:
            tmp = b[c]
            b[c] = b[p]
            b[p] = tmp
    for k in range(d):  # unit lower factor
        bk = b[k]
        if bk != 0.0:
            for r in range(k + 1, d):
                b[r] -= A[k, r] * bk
    for k in range(d - 1, -1, -1):  # upper factor
        bk = b[k] / A[k, k]
        b[k] = bk
        if bk != 0.0:
            for r in range(k):
                b[r] -= A[k, r] * bk


@njit(cache=True, inline="always")
def _lapack_lu(A, ipiv, piv, d):  # pragma: no cover - compiled
    """zgetrf on the C-ordered ``A`` (LAPACK sees ``Aᵀ``); 0-based ``piv``; False on a zero pivot."""
    info = _xxgetrf(122, d, d, A.ctypes, d, ipiv.ctypes)  # 122 = 'z'
    for c in range(d):
        piv[c] = ipiv[c] - 1
    return info == 0


@njit(cache=True, inline="always")
def _residual(L, cell, vec, b, out, d):  # pragma: no cover - compiled
    """``out = b − L[cell] vec``."""
    for a in range(d):
        acc = b[a]
        for c in range(d):
            acc -= L[cell, a, c] * vec[c]
        out[a] = acc


@njit(cache=True, inline="always")
def _cabs1(z):  # pragma: no cover - compiled
    return abs(z.real) + abs(z.imag)  # >= |z|, without a square root


@njit(cache=True, inline="always")
def _abs_matvec(L, cell, vec, b, out, d):  # pragma: no cover - compiled
    """``out = |L| |vec| + |b|`` (with ``|z| ≤ |Re z| + |Im z|``): what rounding leaves in a
    computed residual ``b − L vec`` is at most ``(d + 1) ε`` times this, componentwise."""
    for a in range(d):
        acc = _cabs1(b[a])
        for c in range(d):
            acc += _cabs1(L[cell, a, c]) * _cabs1(vec[c])
        out[a] = acc


@njit(cache=True, inline="always")
def _residual_abs(L, cell, vec, b, out, fout, avec, d):  # pragma: no cover - compiled
    """:func:`_residual` and :func:`_abs_matvec` in one pass over ``L[cell]`` (the same sums)."""
    for c in range(d):
        avec[c] = _cabs1(vec[c])
    for a in range(d):
        acc = b[a]
        g = _cabs1(b[a])
        for c in range(d):
            lac = L[cell, a, c]
            acc -= lac * vec[c]
            g += _cabs1(lac) * avec[c]
        out[a] = acc
        fout[a] = g


@njit(cache=True, inline="always")
def _abs_dot(a, b, d):  # pragma: no cover - compiled
    acc = 0.0
    for i in range(d):
        acc += _cabs1(a[i]) * b[i]
    return acc


@njit(cache=True, inline="always")
def _dot(a, b, d):  # pragma: no cover - compiled
    acc = 0.0 + 0.0j
    for i in range(d):
        acc += a[i] * b[i]
    return acc


@njit(cache=True, inline="always")
def _project_T(t, rho, v, d):  # pragma: no cover - compiled
    """``v ← (I − t ρᵀ) v`` (the transpose of the Drazin projection)."""
    acc = 0.0 + 0.0j
    for a in range(d):
        acc += rho[a] * v[a]
    for a in range(d):
        v[a] -= t[a] * acc


@njit(cache=True, inline="always")
def _jump_apply(jk, jrow, jcol, jval, coef, vec, out, d):  # pragma: no cover - compiled
    """``out = Σ_k coef_k J_k vec`` with the jumps' nonzeros ``(jk, jrow, jcol, jval)``."""
    for a in range(d):
        out[a] = 0.0
    for e in range(jk.shape[0]):
        out[jrow[e]] += coef[jk[e]] * jval[e] * vec[jcol[e]]


@njit(cache=True, parallel=True)
def dense_cumulants_kernel(L, t, jk, jrow, jcol, jval, tJ, rate, w, order, c1, S, c3, activity, S_rel, c3_rel,
                           rho_out, lap=False):  # pragma: no cover - compiled
    """:func:`qtmsweep.physics.counting._cumulants` cell by cell (the same formulas and bounds):
    ``A = L − s u tᵀ`` LU-factorised once per cell (partial pivoting, no explicit inverse), the
    steady state and every ``L^D x`` by triangular solves; the jumps ``J_k`` enter only through
    their nonzeros and their trace rows ``tJ (K, D)``."""
    n, D, _ = L.shape
    K = rate.shape[1]
    F = w.shape[2]
    eps = 2.220446049250313e-16
    tt = 0.0
    for a in range(D):
        tt += t[a].real * t[a].real
    if lap:  # first call outside the parallel region: numba's helper looks zgetrf up (under the GIL) once
        one = np.ones((1, 1), dtype=np.complex128)
        ip1 = np.zeros(1, dtype=F_INT_nptype)
        _xxgetrf(122, 1, 1, one.ctypes, 1, ip1.ctypes)
    for cell in prange(n):
        A = np.empty((D, D), dtype=np.complex128)
        piv = np.zeros(D, dtype=np.int64)
        ipiv = np.zeros(D, dtype=F_INT_nptype)
        s = 0.0
        for a in range(D):
            if abs(L[cell, a, a]) > s:
                s = abs(L[cell, a, a])
        if s == 0.0:
            s = 1.0
        for a in range(D):
            for b in range(D):
                A[a, b] = L[cell, a, b] - s * (t[a] / tt) * t[b]
        ok = _lapack_lu(A, ipiv, piv, D) if lap else _clu(A, piv, D)
        if not ok:
            for f in range(F):
                c1[cell, f] = np.nan
                S_rel[cell, f] = np.nan
                for g in range(F):
                    S[cell, f, g] = np.nan
            activity[cell] = np.nan
            continue
        rho = np.empty(D, dtype=np.complex128)
        for a in range(D):
            rho[a] = -s * t[a] / tt
        _asolve(A, piv, rho, D, lap)
        tr = 0.0 + 0.0j
        for a in range(D):
            tr += t[a] * rho[a]
        for a in range(D):
            rho[a] /= tr
        # one step of refinement on the residual of L ρ = 0 itself (not of the shifted system: its
        # rank-one shift s u tᵀ, of the size of the largest escape rate, would set the rounding floor
        # of every small population): ρ ← ρ − L^D L ρ
        zero = np.zeros(D, dtype=np.complex128)
        res = np.empty(D, dtype=np.complex128)
        _residual(L, cell, rho, zero, res, D)  # −L ρ
        _cdrazin(A, piv, t, rho, res, D, lap)
        tr = 0.0 + 0.0j
        for a in range(D):
            rho[a] += res[a]
            tr += t[a] * rho[a]
        for a in range(D):
            rho[a] /= tr
            rho_out[cell, a] = rho[a]
        frho = np.empty(D)
        fl = np.empty(D)
        avec = np.empty(D)
        _residual_abs(L, cell, rho, zero, res, frho, avec, D)
        for a in range(D):
            res[a] = -res[a]  # r_ρ = L ρ (after refinement)
        jr = np.empty(K)
        act = 0.0
        for k in range(K):
            acc = 0.0 + 0.0j
            for a in range(D):
                acc += tJ[k, a] * rho[a]
            jr[k] = rate[cell, k] * acc.real
            act += jr[k]
        activity[cell] = act
        coef = np.empty(K)
        y = np.empty((F, D), dtype=np.complex128)
        bvec = np.empty((F, D), dtype=np.complex128)
        ry = np.empty(D, dtype=np.complex128)
        zf = np.empty(D, dtype=np.complex128)
        gq = np.empty(D, dtype=np.complex128)
        fact = np.empty(F)
        rowL = np.zeros((F, D), dtype=np.complex128)
        for f in range(F):
            acc = 0.0
            for k in range(K):
                coef[k] = rate[cell, k] * w[cell, k, f]
                acc += jr[k] * w[cell, k, f]
            for k in range(K):
                for a in range(D):
                    rowL[f, a] += coef[k] * tJ[k, a]
            c1[cell, f] = acc
            _jump_apply(jk, jrow, jcol, jval, coef, rho, y[f], D)
            tot = 0.0 + 0.0j
            for a in range(D):
                tot += t[a] * y[f, a]
            for a in range(D):
                bvec[f, a] = y[f, a] - rho[a] * tot  # b_f = x_f − ρ tᵀx_f
            _cdrazin(A, piv, t, rho, y[f], D, lap)
            # a-posteriori bound of the factorisation's part of S_ff (first order, adjoint):
            # δS = Re[g·δρ] − 2 Re[z·δy] with z = (L^D)ᵀ tᵀL_f, g = tᵀL^(2)_f − 2 (L_fᵀ z − c1 z),
            # δρ = −L^D r_ρ, δy = L^D r_y (r_y = b − L y, as L y = b when tᵀy = 0);
            # (L^D)ᵀ v = (I − t ρᵀ) A⁻ᵀ v
            _residual_abs(L, cell, y[f], bvec[f], ry, fl, avec, D)
            for a in range(D):
                zf[a] = rowL[f, a]
            _asolve_T(A, piv, zf, D, lap)
            _project_T(t, rho, zf, D)
            est = _cabs1(_dot(zf, ry, D)) + (D + 1) * eps * _abs_dot(zf, fl, D)
            for a in range(D):
                r2 = 0.0 + 0.0j
                for k in range(K):
                    r2 += coef[k] * w[cell, k, f] * tJ[k, a]
                gq[a] = r2 + 2 * c1[cell, f] * zf[a]
            for e in range(jk.shape[0]):  # − 2 L_fᵀ z
                gq[jcol[e]] -= 2 * coef[jk[e]] * jval[e] * zf[jrow[e]]
            _asolve_T(A, piv, gq, D, lap)
            _project_T(t, rho, gq, D)
            est_rho = _cabs1(_dot(gq, res, D)) + (D + 1) * eps * _abs_dot(gq, frho, D)
            fact[f] = 2 * (2 * est + est_rho)  # factor 2: a first-order estimate
        for f in range(F):
            for g in range(f, F):
                xfg = 0.0 + 0.0j
                xgf = 0.0 + 0.0j
                for a in range(D):
                    xfg += rowL[f, a] * y[g, a]
                    xgf += rowL[g, a] * y[f, a]
                contact = 0.0
                for k in range(K):
                    contact += jr[k] * w[cell, k, f] * w[cell, k, g]
                val = contact - xfg.real - xgf.real
                S[cell, f, g] = val
                S[cell, g, f] = val
                if f == g:  # assembly rounding + the factorisation's a-posteriori part
                    gross2 = abs(contact) + 2 * abs(xfg.real)
                    S_rel[cell, f] = (64 * D * eps * gross2 + fact[f]) / abs(val) if val != 0 else 0.0
                    fact[f] = fact[f] / gross2 if gross2 > 0 else 0.0  # relative size, for c3's bound
        if order >= 3:
            v = np.empty(D, dtype=np.complex128)
            x2 = np.empty(D, dtype=np.complex128)
            coef2 = np.empty(K)
            for f in range(F):
                for k in range(K):
                    coef[k] = rate[cell, k] * w[cell, k, f]
                    coef2[k] = coef[k] * w[cell, k, f]
                # rho1 = -y_f; v = 2 (L1 rho1 - c1 rho1) + L2 rho
                _jump_apply(jk, jrow, jcol, jval, coef, y[f], v, D)
                _jump_apply(jk, jrow, jcol, jval, coef2, rho, x2, D)
                for a in range(D):
                    v[a] = 2 * (-v[a] + c1[cell, f] * y[f, a]) + x2[a]
                _cdrazin(A, piv, t, rho, v, D, lap)  # rho2 = -v
                t1 = 0.0 + 0.0j
                t2 = 0.0 + 0.0j
                for a in range(D):
                    t1 += rowL[f, a] * (-v[a])
                    r2 = 0.0 + 0.0j
                    for k in range(K):
                        r2 += coef2[k] * tJ[k, a]
                    t2 += r2 * (-y[f, a])
                t3 = 0.0
                for k in range(K):
                    t3 += jr[k] * w[cell, k, f] ** 3
                a1 = 3 * t1.real
                a2 = 3 * t2.real
                val = a1 + a2 + t3
                c3[cell, f] = val
                gross = abs(a1) + abs(a2) + abs(t3)
                # c3's terms carry the factorisation error of ρ and y like S's, plus a second solve
                c3_rel[cell, f] = (64 * D * eps + 3 * fact[f]) * gross / abs(val) if val != 0 else 0.0


# -- one OpenBLAS thread per kernel thread while the dense kernel calls zgetrf ----------------------
_OPENBLAS = []  # [(get, set)] of scipy's bundled OpenBLAS once looked up, [None] when absent


def _scipy_openblas():
    if not _OPENBLAS:
        found = None
        try:
            import ctypes
            import glob
            import os

            import scipy
            import scipy.linalg.cython_lapack  # noqa: F401  (loads the library)

            libs = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
            for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas*.so*"))):
                lib = ctypes.CDLL(path)  # the already loaded copy
                get, put = lib.scipy_openblas_get_num_threads, lib.scipy_openblas_set_num_threads
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                found = (get, put)
                break
        except (ImportError, OSError, AttributeError):  # pragma: no cover - other scipy builds
            found = None
        _OPENBLAS.append(found)
    return _OPENBLAS[0]


class lapack_single_threaded:
    """Context: scipy's OpenBLAS at one thread while the kernel's ``prange`` threads each call zgetrf
    on a 100-200 sized matrix (threaded OpenBLAS there is 5-10x slower than one thread per
    factorisation: its pool is shared and the problems small); the previous count restored on exit.
    ``ok`` is False when scipy's LAPACK is not the bundled OpenBLAS (then the kernel keeps its own LU)."""

    def __init__(self, wanted=True):
        self.wanted = wanted

    def __enter__(self):
        self._lib = _scipy_openblas() if self.wanted else None
        self.ok = self._lib is not None
        if self.ok:
            self._prev = self._lib[0]()
            if self._prev != 1:
                self._lib[1](1)
        return self

    def __exit__(self, *exc):
        if self.ok and self._prev != 1:
            self._lib[1](self._prev)
        return False
