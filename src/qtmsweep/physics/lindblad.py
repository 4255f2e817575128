"""Batched Lindblad steady states for small Hilbert spaces, and the ``LindbladModel`` protocol.

Vectorisation is column stacking: ``vec(ρ)[i + d j] = ρ[i, j]``, so
``vec(A ρ B) = (Bᵀ ⊗ A) vec(ρ)``.  The generator of one grid cell is

    L = −i (I ⊗ H − Hᵀ ⊗ I) + Σ_k r_k (L̄_k ⊗ L_k − ½ I ⊗ L_k†L_k − ½ (L_k†L_k)ᵀ ⊗ I),

with ``H = Σ_p c_p H_p``.  A model gives the Hamiltonian as terms ``(c_p, H_p)`` and the
dissipator as jumps ``(r_k, L_k, bath)``: the coefficients ``c_p``/``r_k`` are arrays over
the ``n`` cells, the matrices are fixed (``(d, d)``) or per cell (``(n, d, d)``).  Fixed
matrices have their superoperators built once; a batch is then one ``einsum`` plus one
batched ``numpy.linalg.solve``.

Steady state: ``L vec(ρ) = 0`` with ``Tr ρ = 1``.  The trace functional is a left null
vector of every ``L`` (trace preservation), so the row of ``ρ_00`` is a combination of
the other diagonal rows; it is replaced by the trace condition and the system solved
directly (unique steady state assumed; a singular system gives NaN, not a guess).

Symmetry reduction: when every Hamiltonian term conserves a charge ``q`` (e.g. the
excitation number) and every jump changes it by a fixed amount, the sector of
coherences with ``q_i = q_j`` is invariant and holds the steady state.  Passing
``charges`` restricts ``L`` to that sector (checked: a term that leaks out of the sector
raises).  For ``N`` two-level sites this is ``C(2N, N)`` of the ``4^N`` entries:
6 of 16 for N = 2, 252 of 1024 for N = 5, 924 of 4096 for N = 6.

Sizes (what "small" means here): the dense batched solve handles a sector dimension
``D`` up to :data:`MAX_DENSE` (= 1024, e.g. a Liouville space of 4^5 without reduction,
or N = 6 qubits with it); cells are processed in sub-batches of bounded memory.  Cost
is ``O(D³)`` per cell: ~10⁵ cells/s at D = 6, ~10² cells/s at D = 252 (2 cores).  Larger
problems are refused with a message; quadratic (Gaussian) models have the exact
two-point (Lyapunov) route of :func:`lyapunov_steady_state`, for any size.

Currents: per bath, ``J_λ = Σ_{k∈λ} r_k Re Tr[ρ D_k†(O)]`` with ``D†[L](O) =
L†OL − ½{L†L, O}`` and ``O = Σ_p c_p O_p`` the energy observable (``H_S`` for the global
approach, the bare ``H_0`` for the local one, SPEC §2).

Examples
--------
A driven, damped qubit: ``H = ε σ⁺σ⁻``, emission ``γ(1+n)``, absorption ``γ n``; the
excited population is ``n/(1+2n)`` and no current flows at equilibrium.

>>> import numpy as np
>>> from qtmsweep.physics.lindblad import lindblad_steady_state, lindblad_currents
>>> sm = np.array([[0, 1], [0, 0]], dtype=complex)           # |0><1| (state 1 = excited)
>>> P1 = np.diag([0.0, 1.0]).astype(complex)
>>> n = np.array([0.5, 2.0])
>>> jumps = [(1.0 + n, sm, 0), (n, sm.conj().T, 0)]
>>> rho = lindblad_steady_state([(np.ones(2), P1)], jumps, d=2, charges=[0, 1])
>>> np.allclose(rho[:, 1, 1].real, n / (1 + 2 * n))
True
>>> J, gross = lindblad_currents(rho, jumps, [(np.ones(2), P1)], n_baths=1)
>>> bool(np.all(np.abs(J) < 1e-14))
True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numba import njit, prange

from .model import OutputVariable, Parameter, ParameterLookup, SteadyState

__all__ = [
    "MAX_DENSE",
    "sector_indices",
    "superoperator_dissipator",
    "superoperator_hamiltonian",
    "lindblad_steady_state",
    "lindblad_currents",
    "lindblad_current_terms",
    "current_functionals",
    "lindblad_error_bound",
    "solve_pauli",
    "secular_rates",
    "lyapunov_steady_state",
    "heat_entropy_production",
    "LindbladModel",
]

#: Largest sector dimension the dense batched solver accepts.
MAX_DENSE = 1024
#: Bytes of complex Liouvillian per sub-batch.
_BATCH_BYTES = 64 * 2**20
_EPS = np.finfo(float).eps

Term = tuple[Any, np.ndarray]  # (coefficient (n,) or scalar, matrix (d,d) or (n,d,d))
Jump = tuple[Any, np.ndarray, int]  # (rate (n,) or scalar, operator (d,d) or (n,d,d), bath index)


# -- superoperators -----------------------------------------------------------------
def superoperator_hamiltonian(H: np.ndarray) -> np.ndarray:
    """``−i(I ⊗ H − Hᵀ ⊗ I)`` (column stacking); ``H`` is ``(d, d)`` or ``(n, d, d)``."""
    H = np.asarray(H, dtype=complex)
    d = H.shape[-1]
    eye = np.eye(d)
    if H.ndim == 2:
        return -1j * (np.kron(eye, H) - np.kron(H.T, eye))
    n = H.shape[0]
    left = np.einsum("jl,nik->njilk", eye, H).reshape(n, d * d, d * d)
    right = np.einsum("nlj,ik->njilk", H, eye).reshape(n, d * d, d * d)
    return -1j * (left - right)


def superoperator_dissipator(L: np.ndarray) -> np.ndarray:
    """``L̄ ⊗ L − ½ I ⊗ L†L − ½ (L†L)ᵀ ⊗ I`` (column stacking); ``(d, d)`` or ``(n, d, d)``."""
    L = np.asarray(L, dtype=complex)
    d = L.shape[-1]
    eye = np.eye(d)
    LdL = np.conj(np.swapaxes(L, -1, -2)) @ L
    if L.ndim == 2:
        return np.kron(L.conj(), L) - 0.5 * np.kron(eye, LdL) - 0.5 * np.kron(LdL.T, eye)
    n = L.shape[0]
    # (A ⊗ B)[j d + i, l d + k] = A[j, l] B[i, k]
    jump = np.einsum("njl,nik->njilk", L.conj(), L)
    left = np.einsum("jl,nik->njilk", eye, LdL)
    right = np.einsum("nlj,ik->njilk", LdL, eye)
    return (jump - 0.5 * left - 0.5 * right).reshape(n, d * d, d * d)


def sector_indices(charges: Sequence[int] | None, d: int) -> np.ndarray:
    """Column-stacked indices ``i + d j`` of the entries with ``q_i = q_j`` (all entries if None)."""
    if charges is None:
        return np.arange(d * d)
    q = np.asarray(charges)
    if q.shape != (d,):
        raise ValueError(f"charges must have one entry per basis state ({d}); got shape {q.shape}")
    i, j = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
    keep = (q[i] == q[j]).T.reshape(-1)  # order of vec: index i + d j  <-> transposed C order
    return np.flatnonzero(keep)


def _as_cells(c, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(c, dtype=float), (n,))


def _batch_size(terms: Sequence[Term], jumps: Sequence[Jump]) -> int:
    sizes = {np.size(c) for c, *_ in list(terms) + list(jumps) if np.ndim(c) >= 1}
    sizes |= {np.shape(m)[0] for _, m, *_ in list(terms) + list(jumps) if np.ndim(m) == 3}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"coefficient arrays must share one length; got {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def _check_sector(S: np.ndarray, idx: np.ndarray, what: str) -> None:
    D2 = S.shape[-1]
    out = np.setdiff1d(np.arange(D2), idx)
    if out.size and np.max(np.abs(S[..., out[:, None], idx[None, :]])) > 1e-12 * max(1.0, np.max(np.abs(S))):
        raise ValueError(f"{what} does not conserve the given charges: the q_i = q_j sector is not invariant")


#: Restricted superoperators of fixed matrices, by (kind, matrix bytes, charges): a model's operators are
#: module constants, so a solve rebuilds nothing but the coefficients (bounded: cleared past the budget).
_SUPER_CACHE: dict = {}
_SUPER_CACHE_BYTES = 256 * 2**20
_super_cache_used = [0]


def _restricted_superoperator(kind: str, m: np.ndarray, charges, idx: np.ndarray, what: str) -> np.ndarray:
    """``superoperator_hamiltonian`` (kind ``"H"``) or ``superoperator_dissipator`` (``"D"``) of a
    fixed ``(d, d)`` matrix on the sector ``idx`` (the sector checked once), cached."""
    m = np.ascontiguousarray(m, dtype=complex)
    key = (kind, m.shape, m.tobytes(), None if charges is None else tuple(int(q) for q in charges))
    S = _SUPER_CACHE.get(key)
    if S is None:
        S = (superoperator_hamiltonian if kind == "H" else superoperator_dissipator)(m)
        if charges is not None:
            _check_sector(S, idx, what)
        S = np.ascontiguousarray(S[idx[:, None], idx[None, :]])
        S.setflags(write=False)
        if _super_cache_used[0] + S.nbytes > _SUPER_CACHE_BYTES:
            _SUPER_CACHE.clear()
            _super_cache_used[0] = 0
        _SUPER_CACHE[key] = S
        _super_cache_used[0] += S.nbytes
    return S


def build_liouvillian(terms: Sequence[Term], jumps: Sequence[Jump], d: int,
                      charges: Sequence[int] | None = None, n: int | None = None) -> np.ndarray:
    """Batched Liouvillian restricted to the ``q_i = q_j`` sector: ``(n, D, D)`` complex."""
    n = _batch_size(terms, jumps) if n is None else n
    idx = sector_indices(charges, d)
    D = idx.size
    L = np.zeros((n, D, D), dtype=complex)
    fixed_coef, fixed_sup = [], []
    for what, kind, items, sup in (("Hamiltonian term", "H", [(c, m) for c, m in terms], superoperator_hamiltonian),
                                   ("jump operator", "D", [(r, m) for r, m, _ in jumps], superoperator_dissipator)):
        for c, m in items:
            if np.ndim(m) == 2:
                fixed_coef.append(_as_cells(c, n))
                fixed_sup.append(_restricted_superoperator(kind, m, charges, idx, what))
                continue
            S = sup(m)
            if charges is not None:
                _check_sector(S, idx, what)
            L += _as_cells(c, n)[:, None, None] * S[..., idx[:, None], idx[None, :]]
    if fixed_sup:
        # real coefficients times complex superoperators: two real products (no complex copy of the
        # coefficients); every entry is the same sum of products as the complex einsum's
        C = np.stack(fixed_coef, axis=1)
        S = np.stack(fixed_sup).reshape(len(fixed_sup), D * D)
        L2 = L.reshape(n, D * D)
        L2.real += C @ np.ascontiguousarray(S.real)
        if np.any(S.imag):
            L2.imag += C @ np.ascontiguousarray(S.imag)
    return L


def lindblad_steady_state(terms: Sequence[Term], jumps: Sequence[Jump], d: int,
                          charges: Sequence[int] | None = None, sensitivity: np.ndarray | None = None,
                          source: np.ndarray | None = None):
    """Steady-state density matrices ``(n, d, d)`` of the batched Lindblad equation.

    Parameters
    ----------
    terms : sequence of (coefficient, matrix)
        ``H = Σ c_p H_p``; coefficients are scalars or arrays over the ``n`` cells,
        matrices ``(d, d)`` or ``(n, d, d)``.
    jumps : sequence of (rate, operator, bath)
        Dissipator ``Σ_k r_k D[L_k]``; ``bath`` is only used by :func:`lindblad_currents`.
    d : int
        Hilbert-space dimension.
    charges : sequence of int, optional
        A conserved charge per basis state (see the module docstring); the solve is
        restricted to the ``q_i = q_j`` sector.

    sensitivity : (n, k, d, d) complex, optional
        Linear functionals ``J_m = Re Tr[ρ G_m]`` of the solution (e.g. :func:`current_functionals`).
        Then ``(rho, s)`` is returned with ``s[:, m] = |w_m|ᵀ (|A| |x|)``, ``w_m = A⁻ᵀ g_m``: the
        first-order bound on the error of ``J_m`` per unit relative perturbation of the entries
        of the solved system ``A x = b`` (its backward error and the rates' rounding).
    source : (n, d, d) complex, optional
        Solve ``L δρ = −source`` with ``Tr δρ = 0`` instead: the deviation ``δρ`` from a reference
        state ``ρ_ref`` with ``L ρ_ref = source`` (formed by the caller without cancellation).

    Returns
    -------
    numpy.ndarray
        Hermitian, unit-trace ``ρ`` per cell (NaN where the system is singular).
    """
    n = _batch_size(terms, jumps)
    idx = sector_indices(charges, d)
    D = idx.size
    if D > MAX_DENSE:
        raise ValueError(f"Liouville sector of dimension {D} is too large for the dense batched solver "
                         f"(allowed: <= {MAX_DENSE}); use a symmetry reduction (charges) or a two-point "
                         "(Lyapunov) method for quadratic models")
    diag = np.flatnonzero(idx % d == idx // d)
    r0 = diag[0]
    rho = np.zeros((n, d, d), dtype=complex)
    step = max(1, int(_BATCH_BYTES // (16 * D * D)))
    ii, jj = idx % d, idx // d
    sens = None if sensitivity is None else np.zeros((n, sensitivity.shape[1]))
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        sub_terms = [(_slice(c, sl, n), _slice_m(m, sl)) for c, m in terms]
        sub_jumps = [(_slice(r, sl, n), _slice_m(m, sl), b) for r, m, b in jumps]
        m = sl.stop - sl.start
        A = build_liouvillian(sub_terms, sub_jumps, d, charges, n=m)
        A[:, r0, :] = 0.0
        A[:, r0, diag] = 1.0
        b = np.zeros((m, D), dtype=complex)
        if source is None:
            b[:, r0] = 1.0
        else:
            b[:] = -source[sl].transpose(0, 2, 1).reshape(m, d * d)[:, idx]
            b[:, r0] = 0.0
        if sens is not None:
            # J = Re(g . x) with g[i + d j] = G[j, i]
            g = sensitivity[sl][:, :, jj, ii]
        else:
            g = np.zeros((m, 0, D), dtype=complex)
        x, s_blk = _solve_equilibrated(A, b, g)
        if sens is not None:
            sens[sl] = s_blk
        rho[sl, ii, jj] = x
    rho = 0.5 * (rho + np.conj(np.swapaxes(rho, -1, -2)))
    if sens is not None:
        return rho, sens
    return rho


#: Sector dimension up to which the compiled per-cell elimination is used (LAPACK's blocked one above).
_SMALL_D = 48


def _solve_equilibrated(A: np.ndarray, b: np.ndarray, g: np.ndarray):
    """Row-equilibrated solve of ``A x = b`` and the functionals' sensitivities.

    Each row of ``A`` (and ``b``) is divided by its largest ``|entry|``; the system is solved by
    Gaussian elimination with partial pivoting, and with the same factors ``A_sᵀ w_m = g_m`` (``g``
    ``(m, k, D)``, the functionals); ``s[:, m] = |w_m|ᵀ (|A_s| |x| + D Σ|x| + |b_s|)``: the
    componentwise part plus the pivoting's backward error, ``|L||U| <= D`` (row scale) per row of the
    equilibrated system (growth ~1 on these diagonally dominant systems).  (``w`` is that of the
    equilibrated system: ``w_s = w / rowmax``, so ``|w_s|ᵀ |A_s| = |w|ᵀ |A|``.)  Singular cells: NaN.
    """
    m, D, _ = A.shape
    k = g.shape[1]
    A = np.ascontiguousarray(A, dtype=complex)
    b = np.ascontiguousarray(b, dtype=complex)
    g = np.ascontiguousarray(g, dtype=complex)
    x = np.empty((m, D), dtype=complex)
    sens = np.empty((m, k))
    if D <= _SMALL_D:
        _solve_cells(A, b, g, x, sens)
        return x, sens
    from scipy.linalg import lu_factor, lu_solve

    with np.errstate(all="ignore"):
        rowmax = np.abs(A).max(axis=2)
        rowmax = np.where(rowmax > 0, rowmax, 1.0)
        As = A / rowmax[:, :, None]
        bs = b / rowmax
        for c in range(m):  # one factorisation per cell serves both solves
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    lu = lu_factor(As[c], check_finite=False)
                if not np.all(np.isfinite(lu[0])) or np.any(np.diagonal(lu[0]) == 0):
                    raise np.linalg.LinAlgError
                x[c] = lu_solve(lu, bs[c], check_finite=False)
                w = lu_solve(lu, g[c].T, trans=1, check_finite=False) if k else np.zeros((D, 0))
            except (np.linalg.LinAlgError, ValueError):
                x[c] = np.nan
                sens[c] = np.nan
                continue
            ax = np.abs(As[c]) @ np.abs(x[c])
            sens[c] = np.abs(w).T @ (ax + D * np.abs(x[c]).sum() + np.abs(bs[c]))
    return x, sens


@njit(cache=True, inline="always")
def _row_scale(A, c, a, D):  # pragma: no cover - compiled
    """``(max_j |A[c, a, j]|, 2^-e)``: the row's largest modulus from squares of the row scaled by the
    power of two ``2^-e`` (exact) that brings its largest component to [0.5, 1) (no overflow or
    underflow of the squares that matter; equal to ``hypot``'s up to its last bit)."""
    mx = 0.0
    for j in range(D):
        v = A[c, a, j]
        mx = max(mx, abs(v.real), abs(v.imag))
    if not mx > 0.0 or not mx < np.inf:
        return mx, 1.0
    sc = 2.0 ** (-(math.frexp(mx)[1]))
    q = 0.0
    for j in range(D):
        v = A[c, a, j]
        re, im = v.real * sc, v.imag * sc
        q = max(q, re * re + im * im)
    return math.sqrt(q) / sc, sc


@njit(cache=True, parallel=True, error_model="numpy")
def _solve_cells(A, b, g, x, sens):  # pragma: no cover - compiled
    """:func:`_solve_equilibrated` for small systems, per cell: equilibration, LU with partial
    pivoting (the pivot of largest ``|re| + |im|``, and the multipliers by the pivot's reciprocal,
    as LAPACK's), ``x``, ``w`` and ``s``."""
    n, D, _ = A.shape
    k = g.shape[1]
    chunk = 128  # cells per block of scratch (allocated once per block, not per cell)
    for blk in prange((n + chunk - 1) // chunk):
        F = np.empty((D, D), dtype=np.complex128)
        rmax = np.empty(D)
        rsc = np.empty(D)
        rhs = np.empty(D, dtype=np.complex128)
        piv = np.empty(D, dtype=np.int64)
        inv = np.empty(D, dtype=np.complex128)
        ax = np.empty(D)
        h = np.empty(D)
        w = np.empty(D, dtype=np.complex128)
        for c in range(blk * chunk, min(n, (blk + 1) * chunk)):
            for a in range(D):
                r, sc = _row_scale(A, c, a, D)
                if not r > 0.0:
                    r, sc = 1.0, 1.0
                rmax[a] = r
                rsc[a] = sc
                for j in range(D):
                    v = A[c, a, j]
                    F[a, j] = complex(v.real / r, v.imag / r)
                v = b[c, a]
                rhs[a] = complex(v.real / r, v.imag / r)
            ok = True
            for j in range(D):
                p = j
                best = abs(F[j, j].real) + abs(F[j, j].imag)
                for i in range(j + 1, D):
                    t = abs(F[i, j].real) + abs(F[i, j].imag)
                    if t > best:
                        best = t
                        p = i
                piv[j] = p
                if F[p, j] == 0:
                    ok = False
                    break
                if p != j:
                    for l in range(D):
                        t2 = F[j, l]
                        F[j, l] = F[p, l]
                        F[p, l] = t2
                iv = 1.0 / F[j, j]
                inv[j] = iv
                for i in range(j + 1, D):
                    f = F[i, j] * iv
                    F[i, j] = f
                    if f != 0:
                        for l in range(j + 1, D):
                            F[i, l] -= f * F[j, l]
            if not ok:
                for a in range(D):
                    x[c, a] = np.nan
                for q in range(k):
                    sens[c, q] = np.nan
                continue
            # A_s x = b_s
            for j in range(D):
                p = piv[j]
                if p != j:
                    t2 = rhs[j]
                    rhs[j] = rhs[p]
                    rhs[p] = t2
            for i in range(D):
                acc = rhs[i]
                for l in range(i):
                    acc -= F[i, l] * rhs[l]
                rhs[i] = acc
            for i in range(D - 1, -1, -1):
                acc = rhs[i]
                for l in range(i + 1, D):
                    acc -= F[i, l] * rhs[l]
                rhs[i] = acc * inv[i]
            xs = 0.0
            for a in range(D):
                x[c, a] = rhs[a]
                ax[a] = abs(rhs[a])
                xs += ax[a]
            if k == 0:
                continue
            # the scale of each row's perturbation: |A_s| |x| + D sum|x| + |b_s|
            for a in range(D):
                sc = rsc[a]
                acc2 = 0.0
                for j in range(D):
                    v = A[c, a, j]
                    re, im = v.real * sc, v.imag * sc
                    acc2 += (math.sqrt(re * re + im * im) / sc) * ax[j]
                v = b[c, a]
                h[a] = acc2 / rmax[a] + D * xs + abs(complex(v.real / rmax[a], v.imag / rmax[a]))
            # A_s^T w = g_q: U^T z = g, L^T v = z, w = P^T v
            for q in range(k):
                for i in range(D):
                    acc = g[c, q, i]
                    for l in range(i):
                        acc -= F[l, i] * w[l]
                    w[i] = acc * inv[i]
                for i in range(D - 1, -1, -1):
                    acc = w[i]
                    for l in range(i + 1, D):
                        acc -= F[l, i] * w[l]
                    w[i] = acc
                for j in range(D - 1, -1, -1):
                    p = piv[j]
                    if p != j:
                        t2 = w[j]
                        w[j] = w[p]
                        w[p] = t2
                tot = 0.0
                for a in range(D):
                    tot += abs(w[a]) * h[a]
                sens[c, q] = tot


_TERM_CACHE: dict = {}


def _adjoint_terms(Lk: np.ndarray, O: np.ndarray):
    """``(L†OL, ½{L†L, O})`` of fixed ``(d, d)`` matrices (cached: a model's operators are constants)."""
    Lk = np.ascontiguousarray(Lk, dtype=complex)
    O = np.ascontiguousarray(O, dtype=complex)
    key = (Lk.shape, Lk.tobytes(), O.tobytes())
    out = _TERM_CACHE.get(key)
    if out is None:
        Ld = np.conj(Lk.T)
        LdL = Ld @ Lk
        out = (Ld @ O @ Lk, 0.5 * (LdL @ O + O @ LdL))
        for a in out:
            a.setflags(write=False)
        if len(_TERM_CACHE) > 4096:
            _TERM_CACHE.clear()
        _TERM_CACHE[key] = out
    return out


def _all_fixed(jumps: Sequence[Jump], observable: Sequence[Term]) -> bool:
    return all(np.ndim(m) == 2 for _, m, _ in jumps) and all(np.ndim(O) == 2 for _, O in observable)


def current_functionals(jumps: Sequence[Jump], observable: Sequence[Term], n_baths: int, n: int, d: int) -> np.ndarray:
    """``G[:, λ]`` with ``J_λ = Re Tr[ρ G_λ]``: ``G_λ = Σ_{k∈λ} r_k Σ_p c_p D_k†(O_p)`` (as in
    :func:`lindblad_currents`); for :func:`lindblad_steady_state`'s ``sensitivity``."""
    coef: list[list[np.ndarray]] = [[] for _ in range(n_baths)]
    mats: list[list[np.ndarray]] = [[] for _ in range(n_baths)]
    G = np.zeros((n, n_baths, d, d), dtype=complex)
    cs = [_as_cells(c, n) for c, _ in observable]
    for r, Lk, bath in jumps:
        r = _as_cells(r, n)
        fixed_L = np.ndim(Lk) == 2
        for c, (_, O) in zip(cs, observable):
            if fixed_L and np.ndim(O) == 2:  # fixed matrices: one matrix product per bath below
                gain, loss = _adjoint_terms(Lk, O)
                coef[bath].append(r * c)
                mats[bath].append((gain - loss).reshape(d * d))
                continue
            Lc = np.asarray(Lk, dtype=complex)
            Oc = np.asarray(O, dtype=complex)
            Ld = np.conj(np.swapaxes(Lc, -1, -2))
            LdL = Ld @ Lc
            term = Ld @ Oc @ Lc - 0.5 * (LdL @ Oc + Oc @ LdL)
            G[:, bath] += (r * c)[:, None, None] * term
    for bath in range(n_baths):
        if coef[bath]:
            M = np.stack(mats[bath])
            C = np.stack(coef[bath], axis=1)
            prod = C @ M.real if not np.any(M.imag) else (C @ M.real) + 1j * (C @ M.imag)
            G[:, bath] += prod.reshape(n, d, d)
    return G


def lindblad_error_bound(sens: np.ndarray, gross: np.ndarray, D: int, rate_rel_err: np.ndarray | float = 0.0) -> np.ndarray:
    """Absolute error bound of Lindblad currents from :func:`lindblad_steady_state`'s sensitivity.

    ``(γ + 2 ρ) s + 16 ε gross``: the dense solve's backward error ``γ = (4 D² + 16) ε`` and the
    rates' relative error ``ρ`` perturb the system's entries relatively; ``16 ε gross`` bounds the
    rounding of the traces (:func:`lindblad_currents`).
    """
    rho = np.asarray(rate_rel_err, dtype=float)
    rho = rho[:, None] if rho.ndim == 1 else rho
    return ((4 * D * D + 16) * _EPS + 2 * rho) * sens + 16 * _EPS * gross


def _solve_each(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cell-by-cell fallback when a batch holds a singular system (those cells become NaN)."""
    x = np.full(b.shape, np.nan, dtype=complex if np.iscomplexobj(A) else float)
    for k in range(A.shape[0]):
        try:
            x[k] = np.linalg.solve(A[k], b[k])
        except np.linalg.LinAlgError:
            pass
    return x


def _slice(c, sl: slice, n: int):
    return np.broadcast_to(np.asarray(c, dtype=float), (n,))[sl] if np.ndim(c) else c


def _slice_m(m, sl: slice):
    return m[sl] if np.ndim(m) == 3 else m


def lindblad_currents(rho: np.ndarray, jumps: Sequence[Jump], observable: Sequence[Term], n_baths: int):
    """Per-bath currents ``J_λ = Σ_{k∈λ} r_k Re Tr[ρ D_k†(O)]`` of the observable ``O = Σ c_p O_p``.

    Returns ``(J, gross)``, both ``(n, n_baths)``: ``gross`` sums the magnitudes of the
    two parts ``r Tr[ρ L†OL]`` and ``r Tr[ρ ½{L†L, O}]`` whose difference is ``J`` (the
    scale of the cancellation, used for rounding-error bounds).
    """
    J, gross = lindblad_current_terms(rho, jumps, observable, n_baths)
    return J.sum(axis=-1), gross.sum(axis=-1)


@njit(cache=True, parallel=True, error_model="numpy")
def _combine_terms(t, R, C, baths, J, gross):  # pragma: no cover - compiled
    """``J[c, bath_k, p] += r_k c_p (t_gain - t_loss)`` and ``gross += r_k |c_p| (|t_gain| + |t_loss|)``
    over the jumps ``k`` in order (the traces ``t[c, k, p, 0/1]``)."""
    n, K, P, _ = t.shape
    for c in prange(n):
        for k in range(K):
            b = baths[k]
            r = R[c, k]
            for p in range(P):
                tg = t[c, k, p, 0]
                tl = t[c, k, p, 1]
                J[c, b, p] += r * C[c, p] * (tg - tl)
                gross[c, b, p] += r * abs(C[c, p]) * (abs(tg) + abs(tl))


def lindblad_current_terms(rho: np.ndarray, jumps: Sequence[Jump], observable: Sequence[Term], n_baths: int):
    """:func:`lindblad_currents` per term of the observable: ``(J, gross)`` of shape
    ``(n, n_baths, len(observable))`` (their sums over the last axis are ``lindblad_currents``'),
    so that currents of partial observables (e.g. the bare ``H_0`` and the full ``H_S``) come
    from one pass."""
    n, d = rho.shape[0], rho.shape[-1]
    P = len(observable)
    J = np.zeros((n, n_baths, P))
    gross = np.zeros((n, n_baths, P))
    if not jumps or not P:
        return J, gross
    cs = np.stack([_as_cells(c, n) for c, _ in observable], axis=1)  # (n, P)
    if _all_fixed(jumps, observable):
        # every trace Tr[ρ X] = Σ ρ_ij X_ji at once: one product with the stacked transposed matrices
        K = len(jumps)
        M = np.empty((K, P, 2, d, d), dtype=complex)
        for k, (_, Lk, _) in enumerate(jumps):
            for q, (_, O) in enumerate(observable):
                gain, loss = _adjoint_terms(Lk, O)
                M[k, q, 0] = gain.T
                M[k, q, 1] = loss.T
        M = M.reshape(K * P * 2, d * d)
        r2 = rho.reshape(n, d * d)
        # Re Tr[ρ X] = Re ρ · Re X - Im ρ · Im X: real products (the imaginary ones only if X has any)
        t = r2.real @ np.ascontiguousarray(M.real.T)
        if np.any(M.imag):
            t -= r2.imag @ np.ascontiguousarray(M.imag.T)
        R = np.ascontiguousarray(np.stack([_as_cells(r, n) for r, _, _ in jumps], axis=1))  # (n, K)
        baths = np.array([b for _, _, b in jumps], dtype=np.int64)
        _combine_terms(t.reshape(n, K, P, 2), R, np.ascontiguousarray(cs), baths, J, gross)
        return J, gross
    for r, Lk, bath in jumps:
        r = _as_cells(r, n)
        Lk = np.asarray(Lk, dtype=complex)
        Ld = np.conj(np.swapaxes(Lk, -1, -2))
        LdL = Ld @ Lk
        for q, (_, O) in enumerate(observable):
            c = cs[:, q]
            O = np.asarray(O, dtype=complex)
            gain = Ld @ O @ Lk
            loss = 0.5 * (LdL @ O + O @ LdL)
            spec = "nij,ji->n" if gain.ndim == 2 else "nij,nji->n"
            t_gain = np.einsum(spec, rho, gain).real
            t_loss = np.einsum(spec, rho, loss).real
            J[:, bath, q] += r * c * (t_gain - t_loss)
            gross[:, bath, q] += r * np.abs(c) * (np.abs(t_gain) + np.abs(t_loss))
    return J, gross


# -- secular (global) master equation on the eigenbasis -------------------------------
def solve_pauli(W: np.ndarray) -> np.ndarray:
    """Populations of ``dp/dt = W p`` (``W[:, j, i]`` = rate i → j, diagonal ignored), ``Σ p = 1``.

    Cells whose rate matrix has no unique steady state (e.g. every rate of a transition cut
    off by a filter) come back as NaN.
    """
    W = np.array(W, dtype=float, copy=True)
    n, d, _ = W.shape
    W[:, range(d), range(d)] = 0.0
    W[:, range(d), range(d)] = -W.sum(axis=1)
    W[:, 0, :] = 1.0
    b = np.zeros((n, d))
    b[:, 0] = 1.0
    with np.errstate(all="ignore"):
        try:
            p = np.linalg.solve(W, b[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a cell without a unique steady state: NaN there only
            p = _solve_each(W, b).real
    p = np.clip(p, 0.0, None)
    return p / p.sum(axis=1, keepdims=True)


def secular_rates(E: np.ndarray, V: np.ndarray, couplings: Sequence[np.ndarray],
                  spectra: Sequence[Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]):
    """Rates of the secular (Davies) master equation in the eigenbasis of ``H_S``.

    Parameters
    ----------
    E : (n, d) eigenvalues; V : (n, d, d) eigenvectors (columns), ``H = V diag(E) V†``.
    couplings : per bath the system operator ``X_λ`` (``(d, d)``) coupling to it.
    spectra : per bath a function of ``ω > 0`` (shape ``(n, d, d)``) returning
        ``(absorption, emission)`` rates per unit squared matrix element, e.g.
        ``(K n, K (1+n))``.

    Returns
    -------
    rates : (n_baths, n, d, d)
        ``rates[λ, :, j, i]`` = rate of ``i → j`` induced by bath λ
        (``|⟨j|X_λ|i⟩|²`` times absorption if ``E_j > E_i``, emission if ``E_j < E_i``;
        zero between degenerate levels).
    omega : (n, d, d)
        ``omega[:, j, i] = E_j − E_i``, the energy bath λ gives the system on ``i → j``.
    """
    E = np.asarray(E, dtype=float)
    n, d = E.shape
    omega = E[:, :, None] - E[:, None, :]  # [n, j, i] = E_j - E_i
    a = np.abs(omega)
    # the spectra at the d(d-1)/2 pairs only: |E_j - E_i| = |E_i - E_j| bitwise, so each pair's value
    # serves both directions (shape (n, pairs, 1) for the spectra's (n, ...) broadcasting)
    lo, hi = np.triu_indices(d, 1)
    a_pair = a[:, hi, lo][..., None]
    safe = np.where(a_pair > 0, a_pair, 1.0)
    V = np.asarray(V)
    real = not np.iscomplexobj(V)
    Vd = np.swapaxes(V, -1, -2) if real else np.conj(np.swapaxes(V, -1, -2))
    rates = []
    for X, spec in zip(couplings, spectra):
        X = np.asarray(X)
        if real and not np.any(np.imag(X)):  # real eigenvectors and coupling: real products
            Xt = Vd @ np.ascontiguousarray(np.real(X)) @ V
            m2 = Xt * Xt
        else:
            Xt = Vd @ X @ V
            m2 = np.abs(Xt) ** 2  # [n, j, i] = |<j|X|i>|^2
        with np.errstate(all="ignore"):
            absorb_p, emit_p = (np.broadcast_to(v, a_pair.shape)[..., 0] for v in spec(safe))
        up = np.zeros((n, d, d))  # [n, j, i]: absorption where E_j > E_i, emission where E_j < E_i
        up[:, hi, lo] = np.where(omega[:, hi, lo] > 0, absorb_p, emit_p)
        up[:, lo, hi] = np.where(omega[:, lo, hi] > 0, absorb_p, emit_p)
        r = up * m2
        rates.append(np.where(a > 0, r, 0.0))
    return np.stack(rates), omega


# -- quadratic models: two-point functions -------------------------------------------
def lyapunov_steady_state(h: np.ndarray, loss: np.ndarray, gain: np.ndarray, fermionic: bool,
                          source: np.ndarray | None = None) -> np.ndarray:
    """Steady two-point matrix ``C_ij = ⟨s_i† s_j⟩`` of a quadratic model with local baths.

    ``H = Σ h_ij s_i† s_j`` and site-local dissipators ``loss_i D[s_i] + gain_i D[s_i†]``.
    Then ``dC/dt = A C + C A† + P`` with ``A = i h − Γ/2``, ``P = diag(gain)`` and
    ``Γ = diag(loss − gain)`` for bosons, ``diag(loss + gain)`` for fermions (and for
    XX spin chains damped at the ends, whose two-point equations are the fermionic ones
    after Jordan–Wigner).  Solved as the batched Sylvester system ``(I⊗A + Ā⊗I) vec C = −vec P``.

    Parameters
    ----------
    h : (n, N, N) Hermitian hopping matrices; loss, gain : (n, N) rates.
    source : (n, N), optional
        Replaces ``diag(gain)`` as the source ``P`` (``Γ`` still from loss and gain).  By
        linearity, ``source = gain − Γ c₀`` gives ``C − c₀ I`` when ``h`` commutes with the
        identity shift — the deviation from a reference occupation, free of cancellation.
    """
    h = np.asarray(h, dtype=complex)
    n, N, _ = h.shape
    step = max(16, _BATCH_BYTES // (64 * N**4))
    if N <= 16 and n > step:  # bounded memory: the Kronecker systems are (N², N²) per cell
        return np.concatenate([lyapunov_steady_state(h[a:a + step], loss[a:a + step], gain[a:a + step], fermionic,
                                                     None if source is None else source[a:a + step])
                               for a in range(0, n, step)])
    Gam = loss - gain if not fermionic else loss + gain
    A = 1j * h - 0.5 * Gam[:, :, None] * np.eye(N)
    P = (gain if source is None else source)[:, :, None] * np.eye(N)
    if N <= 16:
        # vec column stacking: vec(A C) = (I ⊗ A) vec C ; vec(C A†) = (conj(A) ⊗ I) vec C
        # K[n, (j, i), (l, k)] = δ_jl A[n, i, k] + conj(A)[n, j, l] δ_ik, written block by block (the
        # same sums as the two Kronecker products' einsums, without forming them)
        K5 = np.zeros((n, N, N, N, N), dtype=complex)
        Ac = A.conj()
        for j in range(N):
            K5[:, j, :, j, :] = A
        for i in range(N):
            K5[:, :, i, :, i] += Ac
        K = K5.reshape(n, N * N, N * N)
        rhs = -np.swapaxes(P, -1, -2).reshape(n, N * N)
        with np.errstate(all="ignore"):
            try:
                x = np.linalg.solve(K, rhs[..., None])[..., 0]
            except np.linalg.LinAlgError:  # a cell without a unique steady state: NaN there only
                x = _solve_each(K, rhs)
        C = np.swapaxes(x.reshape(n, N, N), -1, -2)
    else:  # per cell Bartels–Stewart
        from scipy.linalg import solve_continuous_lyapunov

        C = np.full((n, N, N), np.nan, dtype=complex)
        for k in range(n):
            try:
                with np.errstate(all="ignore"):
                    C[k] = solve_continuous_lyapunov(A[k], -P[k])
            except (np.linalg.LinAlgError, ValueError):  # singular (e.g. no bath at all): NaN there only
                pass
    return 0.5 * (C + np.conj(np.swapaxes(C, -1, -2)))


# -- thermodynamics of heat-only models ----------------------------------------------
def heat_entropy_production(J_Q: np.ndarray, T: np.ndarray, gross: np.ndarray | None = None,
                            ref: int | None = None):
    """``σ = −Σ_λ J_Q[λ]/T_λ`` and a flag ``σ < −tol`` (second-law violation).

    With ``ref`` (the index of a reference bath) σ is evaluated as
    ``Σ_{λ≠ref} (1/T_ref − 1/T_λ) J_Q[λ] − Σ_λ J_Q[λ]/T_ref``: the same number, but the
    force differences come from input differences (exact zero at equal temperatures) and
    the last term — the energy non-conservation, physical only for a local ME's bare
    currents — is dropped where ``|Σ J| ≤ 16 ε Σ gross`` (round-off).

    ``tol = 10⁻⁹ Σ_λ |J_Q[λ]|/T_λ + 10³ ε Σ_λ gross_λ/T_λ``: relative to the currents, plus
    the rounding scale of the currents themselves (``gross``, the magnitude of the terms
    that cancel in them), so equilibrium cells with currents at round-off are not flagged.

    Returns ``(sigma, violated, tol)``.
    """
    beta = 1.0 / T
    if ref is None:
        sigma = -(J_Q * beta).sum(axis=-1)
    else:
        T_ref = T[..., ref : ref + 1]
        F = (T - T_ref) / (T * T_ref)  # 1/T_ref - 1/T_λ
        total = J_Q.sum(axis=-1)
        if gross is not None:
            total = np.where(np.abs(total) > 16 * _EPS * gross.sum(axis=-1), total, 0.0)
        sigma = (F * J_Q).sum(axis=-1) - total / T_ref[..., 0]
    tol = 1e-9 * np.abs(J_Q * beta).sum(axis=-1)
    if gross is not None:
        tol = tol + 1e3 * _EPS * (gross * beta).sum(axis=-1)
    return sigma, sigma < -tol, tol


# -- the model protocol ---------------------------------------------------------------
@dataclass
class LindbladModel(ParameterLookup):
    """A model whose steady state is computed by its own kernel (Lindblad, Pauli or two-point).

    It exposes the duck-typed protocol :func:`qtmsweep.solve` uses on
    :class:`~qtmsweep.physics.model.RateModel`: ``name, description, states, leads,
    parameters, parameter_names, parameter(name), defaults(), normalize,
    resolve_method(method), steady_state(params, method), lead_reservoir, forces,
    force_flux, extra_outputs, particle_exchange``.

    ``evaluate(params, method)`` receives flat parameter arrays (structural parameters
    as scalars) and a concrete method from ``methods``; ``auto_method`` is what
    ``"auto"`` stands for.  ``aliases`` maps alternative method names (e.g. the generic
    ``"linear"``) to concrete ones.
    """

    name: str
    description: str
    states: tuple[str, ...]
    leads: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    evaluate: Callable[[Mapping[str, Any], str], SteadyState]
    methods: tuple[str, ...]
    auto_method: str
    lead_reservoir: Mapping[str, tuple[str, str | None]]
    forces: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
    force_flux: Mapping[str, tuple[str, str]]
    extra_outputs: Mapping[str, OutputVariable] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    reference: str = ""
    kind: str = "lindblad"
    particle_exchange: bool = False
    closed_form: None = None
    #: Peak working memory of one cell in a solve, bytes (or a function of the structural
    #: parameters); see :attr:`qtmsweep.physics.model.RateModel.cell_bytes`.
    cell_bytes: int | Callable[[Mapping[str, Any]], int] | None = None
    #: See :attr:`qtmsweep.physics.model.RateModel.constraints`.
    constraints: Callable[[Mapping[str, Any]], None] | None = None
    #: See :attr:`qtmsweep.physics.model.RateModel.memory_estimate`.
    memory_estimate: Callable[[Mapping[str, Any], str], tuple[int, str]] | None = None
    #: See :attr:`qtmsweep.physics.model.RateModel.dim_labels`.
    dim_labels: Callable[[Mapping[str, Any]], Mapping[str, tuple[Any, dict[str, str]]]] | None = None

    def working_bytes_per_cell(self, params: Mapping[str, Any]) -> int:
        """:attr:`cell_bytes` for these (structural) parameters (default 4096)."""
        from .model import _cell_bytes

        return _cell_bytes(self.cell_bytes, params, default=4096)

    def resolve_method(self, method: str) -> str:
        """The concrete method ``method`` stands for (``"auto"`` -> ``auto_method``)."""
        if method == "auto":
            return self.auto_method
        method = self.aliases.get(method, method)
        if method not in self.methods:
            allowed = ", ".join(repr(m) for m in ("auto", *self.methods, *self.aliases))
            raise ValueError(f"method={method!r} is not known for model {self.name!r}; allowed: {allowed}")
        return method

    def steady_state(self, params: Mapping[str, Any], method: str = "auto") -> SteadyState:
        """Evaluate the steady state on flat parameter arrays (see :func:`qtmsweep.solve`)."""
        return self.evaluate(params, self.resolve_method(method))
