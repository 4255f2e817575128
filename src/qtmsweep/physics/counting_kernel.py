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
from numba import njit, prange

_EPS = np.finfo(float).eps


@njit(cache=True)
def _lu(A, piv):  # pragma: no cover - compiled
    d = A.shape[0]
    for c in range(d):
        p = c
        big = abs(A[c, c])
        for r in range(c + 1, d):
            if abs(A[r, c]) > big:
                big = abs(A[r, c])
                p = r
        piv[c] = p
        if p != c:
            for k in range(d):
                tmp = A[c, k]
                A[c, k] = A[p, k]
                A[p, k] = tmp
        if A[c, c] == 0.0:
            return False
        inv = 1.0 / A[c, c]
        for r in range(c + 1, d):
            A[r, c] *= inv
            f = A[r, c]
            if f != 0.0:
                for k in range(c + 1, d):
                    A[r, k] -= f * A[c, k]
    return True


@njit(cache=True)
def _solve(A, piv, b):  # pragma: no cover - compiled
    d = A.shape[0]
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
        A = np.zeros((d, d))
        for k in range(K):
            r = rate_T[k, cell]
            A[tgt[k], src[k]] += r
            A[src[k], src[k]] -= r
        s = 0.0
        for a in range(d):
            if abs(A[a, a]) > s:
                s = abs(A[a, a])
        if s == 0.0:
            s = 1.0
        for a in range(d):
            for b in range(d):
                A[a, b] -= s / d
        piv = np.zeros(d, dtype=np.int64)
        ok = _lu(A, piv)
        if not ok:
            for f in range(F):
                c1[cell, f] = np.nan
                for g in range(F):
                    S[cell, f, g] = np.nan
            continue
        rho = np.empty(d)
        for a in range(d):
            rho[a] = -s / d
        _solve(A, piv, rho)
        tot = 0.0
        for a in range(d):
            tot += rho[a]
        for a in range(d):
            rho[a] /= tot
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
            for a in range(d):
                for b in range(d):
                    A[a, b] = 0.0
            for k in range(K):
                r = rate_T[k, cell]
                A[tgt[k], src[k]] += r
                A[src[k], src[k]] -= r
                for f in range(F):
                    w[k, f] = on[k, f] * (a_E[f] * energy_T[k, cell] + pm_T[f, cell] * particles[k])
            s = 0.0
            for a in range(d):
                if abs(A[a, a]) > s:
                    s = abs(A[a, a])
            if s == 0.0:
                s = 1.0
            for a in range(d):
                for b in range(d):
                    A[a, b] -= s / d
            ok = _lu(A, piv)
            if not ok:
                for f in range(F):
                    c1[cell, f] = np.nan
                    for g in range(F):
                        S[cell, f, g] = np.nan
                continue
            for a in range(d):
                rho[a] = -s / d
            _solve(A, piv, rho)
            tot = 0.0
            for a in range(d):
                tot += rho[a]
            for a in range(d):
                rho[a] /= tot
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
