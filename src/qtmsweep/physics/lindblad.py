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

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .model import OutputVariable, Parameter, ParameterLookup, SteadyState

__all__ = [
    "MAX_DENSE",
    "sector_indices",
    "superoperator_dissipator",
    "superoperator_hamiltonian",
    "lindblad_steady_state",
    "lindblad_currents",
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


def build_liouvillian(terms: Sequence[Term], jumps: Sequence[Jump], d: int,
                      charges: Sequence[int] | None = None, n: int | None = None) -> np.ndarray:
    """Batched Liouvillian restricted to the ``q_i = q_j`` sector: ``(n, D, D)`` complex."""
    n = _batch_size(terms, jumps) if n is None else n
    idx = sector_indices(charges, d)
    D = idx.size
    L = np.zeros((n, D, D), dtype=complex)
    fixed_coef, fixed_sup = [], []
    for what, items, sup in (("Hamiltonian term", [(c, m) for c, m in terms], superoperator_hamiltonian),
                             ("jump operator", [(r, m) for r, m, _ in jumps], superoperator_dissipator)):
        for c, m in items:
            S = sup(m)
            if charges is not None:
                _check_sector(S, idx, what)
            S = S[..., idx[:, None], idx[None, :]]
            if S.ndim == 2:
                fixed_coef.append(_as_cells(c, n))
                fixed_sup.append(S)
            else:
                L += _as_cells(c, n)[:, None, None] * S
    if fixed_sup:
        L += np.einsum("kn,kab->nab", np.stack(fixed_coef), np.stack(fixed_sup), optimize=True)
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
        with np.errstate(all="ignore"):
            # row equilibration: the elimination's backward error is then relative to each row's scale
            rowmax = np.abs(A).max(axis=2)
            rowmax = np.where(rowmax > 0, rowmax, 1.0)
            A = A / rowmax[:, :, None]
            b = b / rowmax
            try:
                x = np.linalg.solve(A, b[..., None])[..., 0]
            except np.linalg.LinAlgError:
                x = _solve_each(A, b)
            if sens is not None:
                # J = Re(g . x) with g[i + d j] = G[j, i]; w = A^{-T} g (the functional's sensitivity)
                G = sensitivity[sl]
                g = np.swapaxes(G, -1, -2).reshape(m, G.shape[1], d * d)[..., idx]
                try:
                    w = np.linalg.solve(np.swapaxes(A, -1, -2), np.swapaxes(g, -1, -2))
                except np.linalg.LinAlgError:
                    w = np.full((m, D, G.shape[1]), np.nan, dtype=complex)
                # (w is that of the equilibrated system: w_scaled = w / rowmax, so |w_s|^T |A_s| = |w|^T |A|)
                Ax = np.einsum("nab,nb->na", np.abs(A), np.abs(x))
                # componentwise part plus the pivoting's backward error, |L||U| <= D (row scale) per
                # row of the equilibrated system (growth ~1 on these diagonally dominant systems)
                sens[sl] = np.einsum("nam,na->nm", np.abs(w), Ax + D * np.abs(x).sum(axis=1)[:, None] + np.abs(b))
        rho[sl, ii, jj] = x
    rho = 0.5 * (rho + np.conj(np.swapaxes(rho, -1, -2)))
    if sens is not None:
        return rho, sens
    return rho


def current_functionals(jumps: Sequence[Jump], observable: Sequence[Term], n_baths: int, n: int, d: int) -> np.ndarray:
    """``G[:, λ]`` with ``J_λ = Re Tr[ρ G_λ]``: ``G_λ = Σ_{k∈λ} r_k Σ_p c_p D_k†(O_p)`` (as in
    :func:`lindblad_currents`); for :func:`lindblad_steady_state`'s ``sensitivity``."""
    coef: list[list[np.ndarray]] = [[] for _ in range(n_baths)]
    mats: list[list[np.ndarray]] = [[] for _ in range(n_baths)]
    G = np.zeros((n, n_baths, d, d), dtype=complex)
    for r, Lk, bath in jumps:
        r = _as_cells(r, n)
        Lk = np.asarray(Lk, dtype=complex)
        Ld = np.conj(np.swapaxes(Lk, -1, -2))
        LdL = Ld @ Lk
        for c, O in observable:
            c = _as_cells(c, n)
            O = np.asarray(O, dtype=complex)
            term = Ld @ O @ Lk - 0.5 * (LdL @ O + O @ LdL)
            if term.ndim == 2:  # fixed matrices: one matrix product per bath below
                coef[bath].append(r * c)
                mats[bath].append(term.reshape(d * d))
            else:
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
    n = rho.shape[0]
    J = np.zeros((n, n_baths))
    gross = np.zeros((n, n_baths))
    for r, Lk, bath in jumps:
        r = _as_cells(r, n)
        Lk = np.asarray(Lk, dtype=complex)
        Ld = np.conj(np.swapaxes(Lk, -1, -2))
        LdL = Ld @ Lk
        for c, O in observable:
            c = _as_cells(c, n)
            O = np.asarray(O, dtype=complex)
            gain = Ld @ O @ Lk
            loss = 0.5 * (LdL @ O + O @ LdL)
            spec = "nij,ji->n" if gain.ndim == 2 else "nij,nji->n"
            t_gain = np.einsum(spec, rho, gain).real
            t_loss = np.einsum(spec, rho, loss).real
            J[:, bath] += r * c * (t_gain - t_loss)
            gross[:, bath] += r * np.abs(c) * (np.abs(t_gain) + np.abs(t_loss))
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
    omega = E[:, :, None] - E[:, None, :]  # [n, j, i] = E_j - E_i
    a = np.abs(omega)
    Vd = np.conj(np.swapaxes(V, -1, -2))
    rates = []
    for X, spec in zip(couplings, spectra):
        Xt = Vd @ np.asarray(X) @ V
        m2 = np.abs(Xt) ** 2  # [n, j, i] = |<j|X|i>|^2
        with np.errstate(all="ignore"):
            absorb, emit = spec(np.where(a > 0, a, 1.0))
        r = np.where(omega > 0, absorb, emit) * m2
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
        eye = np.eye(N)
        # vec column stacking: vec(A C) = (I ⊗ A) vec C ; vec(C A†) = (conj(A) ⊗ I) vec C
        K = np.einsum("jl,nik->njilk", eye, A).reshape(n, N * N, N * N) + \
            np.einsum("njl,ik->njilk", A.conj(), eye).reshape(n, N * N, N * N)
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
