"""Full counting statistics of batched Markov generators (Pauli rate matrices or Lindblad superoperators).

A :class:`Generator` describes, for ``n`` grid cells at once, the generator ``L`` (``(n, D, D)``,
real for a Pauli rate matrix, complex for a Lindblad superoperator restricted to its
symmetry sector), the trace functional ``t`` (``tᵀ L = 0``), and the counted jumps: fixed
unit-rate jump superoperators ``J_k`` (``(K, D, D)``; ``J_k ρ = L_k ρ L_k†`` vectorised, or
``|j⟩⟨i|`` of a rate-matrix edge) with per-cell rates ``r_k`` and the energy ``ω_k``,
particle number and lead each jump brings into the system.  A counted flux (``J_E[λ]``,
``J_N[λ]``, ``J_Q[λ]``) is a set of weights ``ν_k``: the tilted generator is
``L(s) = L + Σ_k (e^{s ν_k} − 1) r_k J_k`` and ``L^(m) = Σ_k ν_k^m r_k J_k``.

Method (Flindt et al., PRB 82, 155407 (2010); one factorisation per cell)
---------------------------------------------------------------------------
With ``u`` a fixed vector of unit trace (``tᵀu = 1``) and a scale ``s`` (the largest escape
rate), ``A = L − s u tᵀ`` is invertible whenever the steady state is unique; then

* ``ρ = −s A⁻¹ u`` (``A ρ = L ρ − s u tᵀρ = −s u``), and
* for every ``x`` with ``tᵀx = 0`` the Drazin inverse is ``L^D x = A⁻¹ x`` (take ``tᵀ`` of
  ``A y = x``: ``tᵀy = 0``, so ``L y = x``), i.e. ``L^D x = A⁻¹ (x − ρ tᵀx)`` for any ``x``.

This equals ``L^D = (L − ρ tᵀ)⁻¹ + ρ tᵀ`` on every vector (the issue's formula), from one
inverse ``A⁻¹`` that needs no prior knowledge of ``ρ``.  It is *not* ``pinv(L)``: the
Moore–Penrose inverse projects with ``t tᵀ/|t|²`` instead of ``ρ tᵀ`` and is wrong by
``O(1)`` relative on generic generators.

Cumulants by Rayleigh–Schrödinger recursion of the eigenvalue ``λ(s)`` of ``L(s)`` that
vanishes at ``s = 0`` (``ρ_0 = ρ``, ``tᵀρ_m = 0``, ``c_0 = 0``):

    c_m = Σ_{k=1}^m C(m,k) tᵀ L^(k) ρ_{m−k},   ρ_m = −L^D Σ_{k=1}^m C(m,k) (L^(k) − c_k) ρ_{m−k},

so ``c_1 = tᵀL_aρ``, ``S_ab = tᵀL_abρ − tᵀL_a L^D L_b ρ − tᵀL_b L^D L_a ρ`` and
``c_3 = 3 tᵀL_1 ρ_2 + 3 tᵀL_2 ρ_1 + tᵀL_3 ρ``.  Convention: ``c_m`` are the scaled cumulants
``lim_{t→∞} ⟨⟨N_t^m⟩⟩/t`` — ``S = lim Var(N_t)/t``, no factor 2 (a spectral density
convention would double it).

Precision: the mean ``c_1`` is a cancelling sum near equilibrium and is returned only as a
cross-check; the mean currents of record come from the solve (with their ``rel_err``).  ``S``
is a sum of ``O(activity)`` terms; :func:`cumulants` returns ``S_rel_err``, the rounding
bound ``64 D ε · (|contact term| + 2 |correction|)/|S|`` of that final assembly.  For rate
matrices the factorisation is accurate by construction where it matters (``cqd``: GTH, no
cancellation; the other rate models: the mpmath tests check hard points).  For dense (Lindblad)
generators the compiled kernel refines the steady state once on the residual of ``L ρ = 0``
(the shift ``s u tᵀ``, of the size of the largest escape rate, otherwise sets the rounding floor
of every small population: S of a 21-level oscillator was 2e-12 off for a claimed 6e-13) and adds
to ``S_rel_err`` an a-posteriori bound of the factorisation: to first order
``δS = Re[g·δρ] − 2 Re[z·δy]`` with the adjoints ``z = (L^D)ᵀ tᵀL_f``,
``g = tᵀL^(2)_f − 2 (L_fᵀ z − c_1 z)``, ``δρ = −L^D (L ρ̂)``, ``δy = L^D (b − L ŷ)``, so
``|δS| ≤ 2 (2 |z·r_y| + |g'·r_ρ| + (D + 1) ε (2 |z|ᵀ(|L||ŷ| + |b|) + |g'|ᵀ|L||ρ̂|))`` (``g' =
(L^D)ᵀ g``; the residuals computed, the rounding of their computation bounded, a factor 2 for
the first order); ``c3_rel_err`` carries three times its relative size.

Examples
--------
A level filled at rate ``a`` from one lead and emptied at rate ``b`` into another (a resonant
level at large bias), counting the electrons that come in: ``J = ab/(a+b)`` and the Fano factor
is ``(a² + b²)/(a + b)²`` (1/2 for ``a = b``).

>>> import numpy as np
>>> J = np.zeros((2, 2, 2)); J[0, 1, 0] = 1.0; J[1, 0, 1] = 1.0   # 0 -> 1 (in) and 1 -> 0 (out)
>>> gen = pauli_generator(J, np.array([[1.0, 1.0]]))
>>> out = cumulants(gen, np.array([[[1.0], [0.0]]]), order=3)
>>> round(float(out.c1[0, 0]), 12), round(float(out.S[0, 0, 0] / out.c1[0, 0]), 12)
(0.5, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_EPS = np.finfo(float).eps

__all__ = ["Generator", "Cumulants", "pauli_generator", "cumulants", "flux_cumulants", "drazin_solver", "scgf",
           "response", "dlnr_dx"]


@dataclass
class Generator:
    """Batched generator and counted jumps (see the module docstring).

    Attributes
    ----------
    L : (n, D, D) float or complex, or None (built from the jumps by :meth:`matrix` when needed)
    trace : (D,) the trace functional ``t`` (ones for a rate matrix, ``vec(I)`` in the sector)
    jumps : (K, D, D) unit-rate jump superoperators ``J_k``
    dissipators : (K, D, D) unit-rate dissipators ``D_k`` (``∂L/∂r_k``), or None (= ``jumps``
        minus their escape part, the rate-matrix case)
    rate : (n, K) rates ``r_k``
    energy : (n, K) energy the jump brings into the system from its lead
    particles : (K,) particles it brings in
    lead : (K,) index of the lead (bath) of the jump
    mu : (n, n_leads) chemical potentials (0 for bosonic baths), for heat weights ``ω − μ n``
    beta : (n, n_leads) inverse temperatures
    dlnr : (n, K) ``d ln r_k / d x_λ`` with ``x_λ = β_λ (ω − μ_λ n)`` (see :func:`dlnr_dx`), or a
        callable returning it (built only when the linear response needs it; :meth:`dlnr_array`)
    incoming : (K,) bool, the jump is the member of its pair that brings ``ω > 0``-side energy in
        (its own ``ω, n`` define ``x``; the partner's are their negatives)
    leads : lead labels
    kind : ``"pauli"`` (classical) or ``"lindblad"`` (coherent)
    """

    L: np.ndarray
    trace: np.ndarray
    jumps: np.ndarray
    rate: np.ndarray
    energy: np.ndarray
    particles: np.ndarray
    lead: np.ndarray
    mu: np.ndarray
    beta: np.ndarray
    dlnr: np.ndarray
    leads: tuple[str, ...]
    incoming: np.ndarray | None = None
    kind: str = "pauli"
    dissipators: np.ndarray | None = None
    notes: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.rate.shape[0]

    def dlnr_array(self) -> np.ndarray:
        """``dlnr`` as an array (evaluating a lazy one once)."""
        if callable(self.dlnr):
            self.dlnr = self.dlnr()
        return self.dlnr

    def matrix(self) -> np.ndarray:
        """The generator ``L`` (built from the jumps on first use when a rate model left it None)."""
        if self.L is None:
            d = self.jumps.shape[-1]
            W = np.einsum("nk,kab->nab", self.rate, self.jumps)
            W[:, range(d), range(d)] -= W.sum(axis=1)
            self.L = W
        return self.L

    def dissipator_ops(self) -> np.ndarray:
        """``∂L/∂r_k`` for every jump, ``(K, D, D)``."""
        if self.dissipators is not None:
            return self.dissipators
        J = self.jumps
        out = J.copy()
        esc = J.sum(axis=1)  # column sums: escape rate out of each source state
        K, D, _ = J.shape
        out[:, range(D), range(D)] -= esc
        return out

    def weights(self, fluxes: list[tuple[str, str]]) -> np.ndarray:
        """Counting weights ``ν_kf`` ``(n, K, F)`` of the fluxes ``[(var, lead), ...]``
        with ``var`` in ``J_E``, ``J_N``, ``J_Q``."""
        n, K = self.rate.shape
        w = np.zeros((n, K, len(fluxes)))
        for f, (var, lead) in enumerate(fluxes):
            if lead not in self.leads:
                raise ValueError(f"flux {var}[{lead}] names an unknown lead; allowed leads: {', '.join(self.leads)}")
            li = self.leads.index(lead)
            on = (self.lead == li).astype(float)
            if var == "J_E":
                w[:, :, f] = self.energy * on
            elif var == "J_N":
                w[:, :, f] = self.particles[None, :] * on
            elif var == "J_Q":
                w[:, :, f] = (self.energy - self.mu[:, li:li + 1] * self.particles[None, :]) * on
            else:
                raise ValueError(f"flux variable {var!r} is not countable; allowed: 'J_E', 'J_N', 'J_Q'")
        return w

    def entropy_weights(self) -> np.ndarray:
        """Weights ``(n, K, 1)`` counting the entropy delivered to the baths, ``−β_λ (ω − μ_λ n)`` per jump."""
        mu = np.take_along_axis(self.mu, np.broadcast_to(self.lead, (self.n, self.lead.size)), axis=1)
        beta = np.take_along_axis(self.beta, np.broadcast_to(self.lead, (self.n, self.lead.size)), axis=1)
        return (-beta * (self.energy - mu * self.particles[None, :]))[..., None]

    def activity_weights(self) -> np.ndarray:
        """Weights ``(n, K, 1)`` counting every jump once (dynamical activity)."""
        return np.ones((self.n, self.lead.size, 1))

    def subset(self, sl: slice) -> "Generator":
        """The cells ``sl`` of this generator."""
        return Generator(L=None if self.L is None else self.L[sl], trace=self.trace, jumps=self.jumps, rate=self.rate[sl],
                         energy=self.energy[sl], particles=self.particles, lead=self.lead, mu=self.mu[sl],
                         beta=self.beta[sl], dlnr=(lambda: self.dlnr_array()[sl]) if callable(self.dlnr) else self.dlnr[sl], leads=self.leads, kind=self.kind, incoming=self.incoming,
                         dissipators=self.dissipators,
                         notes={k: (v[sl] if isinstance(v, np.ndarray) and v.shape[:1] == (self.n,) else v)
                                for k, v in self.notes.items()})


def pauli_generator(J: np.ndarray, rate: np.ndarray, **kw) -> Generator:
    """A rate-matrix :class:`Generator` from unit edge patterns ``J`` ``(K, d, d)`` and rates ``(n, K)``.

    Optional keywords are the remaining :class:`Generator` fields (defaults: zero energies,
    no particles, one lead ``"0"``, ``μ = 0``, ``β = 1``, ``dlnr = 0``).
    """
    J = np.asarray(J, dtype=float)
    rate = np.atleast_2d(np.asarray(rate, dtype=float))
    n, K = rate.shape
    d = J.shape[-1]
    W = np.einsum("nk,kab->nab", rate, J)
    W[:, range(d), range(d)] -= W.sum(axis=1)
    defaults = dict(energy=np.zeros((n, K)), particles=np.zeros(K), lead=np.zeros(K, dtype=int),
                    mu=np.zeros((n, 1)), beta=np.ones((n, 1)), dlnr=np.zeros((n, K)), leads=("0",),
                    incoming=np.ones(K, dtype=bool))
    defaults.update(kw)
    return Generator(L=W, trace=np.ones(d), jumps=J, rate=rate, kind="pauli", **defaults)


@dataclass
class Cumulants:
    """Scaled cumulants per cell: ``c1 (n, F)``, ``S (n, F, F)``, ``c3 (n, F)`` or None,
    ``activity (n,)`` (total jump rate), ``S_rel_err (n, F)``, the steady state ``rho (n, D)`` and
    ``c3_rel_err (n, F)``: ``c3`` is odd under time reversal and vanishes at equilibrium, so near
    equilibrium it is a cancelling sum like the mean; its bound is ``64 D ε Σ|terms|/|c3|``."""

    c1: np.ndarray
    S: np.ndarray
    c3: np.ndarray | None
    activity: np.ndarray
    S_rel_err: np.ndarray
    rho: np.ndarray
    c3_rel_err: np.ndarray | None = None


class _Drazin:
    """``ρ`` and ``x ↦ L^D x`` of a batch from one inverse per cell (module docstring)."""

    def __init__(self, gen: Generator):
        L = gen.matrix()
        t = gen.trace.astype(L.dtype)
        u = t / np.sum(t * t)
        diag = np.abs(np.einsum("nii->ni", L))
        s = diag.max(axis=1)
        s = np.where(s > 0, s, 1.0)
        A = L - s[:, None, None] * (u[:, None] * t[None, :])[None]
        with np.errstate(all="ignore"):
            try:
                G = np.linalg.inv(A)
            except np.linalg.LinAlgError:
                G = np.stack([_inv_or_nan(a) for a in A])
        self.G = G
        self.t = t
        self.rho = -s[:, None] * np.einsum("nab,b->na", G, u)
        self.rho = self.rho / np.einsum("na,a->n", self.rho, t)[:, None]

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``L^D x`` for ``x`` of shape ``(n, ..., D)``."""
        tx = np.einsum("n...a,a->n...", x, self.t)
        extra = x.ndim - 2
        rho = self.rho.reshape((self.rho.shape[0],) + (1,) * extra + (self.rho.shape[1],))
        y = x - rho * tx[..., None]
        return np.einsum("nab,n...b->n...a", self.G, y)


def _inv_or_nan(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.full_like(a, np.nan)


def drazin_solver(gen: Generator) -> _Drazin:
    """The per-cell factorisation: ``.rho`` (steady states) and ``.apply(x)`` (= ``L^D x``)."""
    return _Drazin(gen)


def _real(z):
    return np.real(z) if np.iscomplexobj(z) else z


def cumulants(gen: Generator, weights: np.ndarray, order: int = 2, batch: int | None = None) -> Cumulants:
    """Scaled cumulants of the counted fluxes (weights ``(n, K, F)``), see the module docstring.

    ``order`` is 2 (means and covariance) or 3 (also the diagonal third cumulants).
    Cells are processed in sub-batches of bounded memory.
    """
    if order not in (2, 3):
        raise ValueError(f"cumulants={order!r} is not allowed; allowed: 2 or 3")
    edges = _single_edges(gen)
    if edges is not None:
        return _pauli_fast(gen, edges, weights, order)
    if batch is None:
        return _dense_fast(gen, weights, order)
    n = gen.n
    D = gen.jumps.shape[-1]
    K, F = weights.shape[1], weights.shape[2]
    parts = []
    for start in range(0, n, batch):
        sl = slice(start, min(n, start + batch))
        parts.append(_cumulants(gen.subset(sl) if (sl.start, sl.stop) != (0, n) else gen, weights[sl], order))
    return Cumulants(**{f: (None if parts[0].__dict__[f] is None else np.concatenate([p.__dict__[f] for p in parts]))
                        for f in ("c1", "S", "c3", "activity", "S_rel_err", "rho", "c3_rel_err")})


def flux_cumulants(gen: Generator, fluxes: list[tuple[str, str]], order: int = 2) -> Cumulants:
    """:func:`cumulants` of the fluxes ``[(var, lead), ...]`` (``var`` in ``J_E``, ``J_N``, ``J_Q``).

    For rate matrices the weights are formed inside the fused kernel from the jumps' energies,
    particles and the leads' ``μ`` (no ``(n, K, F)`` weight array); otherwise this is
    ``cumulants(gen, gen.weights(fluxes), order)``.  Same numbers either way (the weights are the
    same products).
    """
    if order not in (2, 3):
        raise ValueError(f"cumulants={order!r} is not allowed; allowed: 2 or 3")
    edges = _single_edges(gen)
    if edges is None:
        return cumulants(gen, gen.weights(fluxes), order)
    from .counting_kernel import pauli_flux_cumulants_kernel

    n, K = gen.rate.shape
    F = len(fluxes)
    on = np.zeros((K, F))
    a_E = np.zeros(F)
    pm = np.zeros((F, n))
    for f, (var, lead) in enumerate(fluxes):
        if lead not in gen.leads:
            raise ValueError(f"flux {var}[{lead}] names an unknown lead; allowed leads: {', '.join(gen.leads)}")
        li = gen.leads.index(lead)
        on[:, f] = gen.lead == li
        if var == "J_E":
            a_E[f] = 1.0
        elif var == "J_N":
            pm[f] = 1.0
        elif var == "J_Q":
            a_E[f] = 1.0
            pm[f] = -gen.mu[:, li]
        else:
            raise ValueError(f"flux variable {var!r} is not countable; allowed: 'J_E', 'J_N', 'J_Q'")
    src, tgt = edges
    d = gen.jumps.shape[-1]
    c1, S = np.empty((n, F)), np.empty((n, F, F))
    c3, c3_rel = np.full((n, F), np.nan), np.full((n, F), np.nan)
    act, S_rel, rho = np.empty(n), np.empty((n, F)), np.empty((n, d))
    rate_T = np.ascontiguousarray(np.asarray(gen.rate, dtype=float).T)  # (K, n): a view when built that way
    energy_T = np.ascontiguousarray(np.asarray(gen.energy, dtype=float).T)
    pauli_flux_cumulants_kernel(src, tgt, rate_T, energy_T, np.asarray(gen.particles, dtype=float), on, a_E, pm,
                                d, order, 256, c1, S, c3, act, S_rel, c3_rel, rho)
    return Cumulants(c1=c1, S=S, c3=c3 if order >= 3 else None, activity=act, S_rel_err=S_rel, rho=rho,
                     c3_rel_err=c3_rel if order >= 3 else None)


def _single_edges(gen: Generator):
    """``(src, tgt)`` when every jump of a rate-matrix generator is one edge ``e_j e_iᵀ``, else None."""
    if gen.kind != "pauli" or (gen.L is not None and np.iscomplexobj(gen.L)) or not np.all(gen.trace == 1):
        return None
    J = gen.jumps
    nz = J != 0
    if not np.all(nz.sum(axis=(1, 2)) == 1):
        return None
    k, tgt, src = np.nonzero(nz)
    if not np.all(J[k, tgt, src] == 1.0) or not np.array_equal(k, np.arange(J.shape[0])):
        return None
    return src.astype(np.int64), tgt.astype(np.int64)


def _pauli_fast(gen: Generator, edges, weights, order) -> Cumulants:
    from .counting_kernel import pauli_cumulants_kernel

    src, tgt = edges
    n, K = gen.rate.shape
    F = weights.shape[2]
    d = gen.jumps.shape[-1]
    c1, S = np.empty((n, F)), np.empty((n, F, F))
    c3, c3_rel = np.full((n, F), np.nan), np.full((n, F), np.nan)
    act, S_rel, rho = np.empty(n), np.empty((n, F)), np.empty((n, d))
    rate_T = np.ascontiguousarray(np.asarray(gen.rate, dtype=float).T)  # (K, n): a view when built that way
    pauli_cumulants_kernel(src, tgt, rate_T, np.ascontiguousarray(weights, dtype=float), d, order, c1, S, c3, act,
                           S_rel, c3_rel, rho)
    return Cumulants(c1=c1, S=S, c3=c3 if order >= 3 else None, activity=act, S_rel_err=S_rel, rho=rho,
                     c3_rel_err=c3_rel if order >= 3 else None)


def _dense_fast(gen: Generator, weights, order) -> Cumulants:
    """:func:`_cumulants` by the compiled per-cell kernel (one LU per cell, the jumps as nonzeros)."""
    from .counting_kernel import LAPACK_MIN_D, dense_cumulants_kernel, lapack_single_threaded

    L = np.ascontiguousarray(gen.matrix(), dtype=complex)
    n, D, _ = L.shape
    J = np.asarray(gen.jumps)
    jk, jrow, jcol = np.nonzero(J)
    jval = J[jk, jrow, jcol].astype(complex)
    t = gen.trace.astype(complex)
    tJ = np.einsum("a,kab->kb", t, J.astype(complex))
    F = weights.shape[2]
    c1, S = np.empty((n, F)), np.empty((n, F, F))
    c3, c3_rel = np.full((n, F), np.nan), np.full((n, F), np.nan)
    act, S_rel, rho = np.empty(n), np.empty((n, F)), np.empty((n, D), dtype=complex)
    with lapack_single_threaded(D >= LAPACK_MIN_D) as blas:  # large sectors: LAPACK's blocked LU, one thread per cell
        dense_cumulants_kernel(L, t, jk.astype(np.int64), jrow.astype(np.int64), jcol.astype(np.int64), jval, tJ,
                               np.ascontiguousarray(gen.rate, dtype=float), np.ascontiguousarray(weights, dtype=float),
                               order, c1, S, c3, act, S_rel, c3_rel, rho, blas.ok)
    if not np.iscomplexobj(gen.matrix()):
        rho = rho.real
    return Cumulants(c1=c1, S=S, c3=c3 if order >= 3 else None, activity=act, S_rel_err=S_rel, rho=rho,
                     c3_rel_err=c3_rel if order >= 3 else None)


def cumulants_dense(gen: Generator, weights: np.ndarray, order: int = 2) -> Cumulants:
    """:func:`cumulants` by the dense batched numpy route (any generator; the reference of the fused kernel)."""
    n = gen.n
    D = gen.jumps.shape[-1]
    K, F = weights.shape[1], weights.shape[2]
    batch = max(1, int(32 * 2**20 // (16 * (D * D * 3 + K * D * 2 + 8 * F * D))))
    parts = [_cumulants(gen.subset(slice(a, min(n, a + batch))), weights[a:a + batch], order)
             for a in range(0, n, batch)]
    return Cumulants(**{f: (None if parts[0].__dict__[f] is None else np.concatenate([p.__dict__[f] for p in parts]))
                        for f in ("c1", "S", "c3", "activity", "S_rel_err", "rho", "c3_rel_err")})


def _cumulants(gen: Generator, w: np.ndarray, order: int) -> Cumulants:
    dz = _Drazin(gen)
    rho, t = dz.rho, dz.t
    J, r = gen.jumps, gen.rate
    D = J.shape[-1]
    tJ = np.einsum("a,kab->kb", t, J)  # (K, D): trace of each jump superoperator as a row
    jr = _real(np.einsum("kb,nb->nk", tJ, rho)) * r  # (n, K) jump rates in the steady state: r_k tᵀJ_kρ
    rw = r[..., None] * w  # (n, K, F)

    def L_vec(m, vec):  # L^(m)_f vec for every flux: vec (n, D) or (n, F, D) -> (n, F, D)
        if vec.ndim == 2:
            Jv = np.einsum("kab,nb->nka", J, vec)
            return np.einsum("nkf,nka->nfa", rw * w ** (m - 1), Jv)
        Jv = np.einsum("kab,nfb->nfka", J, vec)
        return np.einsum("nkf,nfka->nfa", rw * w ** (m - 1), Jv)

    def tL(m, vec):  # tᵀ L^(m)_f vec_f, vec (n, F, D) -> (n, F)
        Jv = np.einsum("kb,nfb->nfk", tJ, vec)
        return _real(np.einsum("nkf,nfk->nf", rw * w ** (m - 1), Jv))

    c1 = np.einsum("nk,nkf->nf", jr, w)
    x1 = L_vec(1, rho)  # (n, F, D)
    y1 = dz.apply(x1)  # L^D L_f ρ
    rowL = np.einsum("nkf,kb->nfb", rw, tJ)  # tᵀL_f as rows (n, F, D)
    cross = np.einsum("nfb,ngb->nfg", rowL, y1)  # tᵀL_f L^D L_g ρ
    cross = _real(cross)
    contact = np.einsum("nk,nkf,nkg->nfg", jr, w, w)
    S = contact - cross - np.swapaxes(cross, 1, 2)
    diag_c = np.einsum("nff->nf", contact)
    diag_x = np.abs(np.einsum("nff->nf", cross))
    Sd = np.abs(np.einsum("nff->nf", S))
    with np.errstate(divide="ignore", invalid="ignore"):
        S_rel = np.where(Sd > 0, 64 * D * _EPS * (np.abs(diag_c) + 2 * diag_x) / Sd, 0.0)
    c3 = c3_rel = None
    if order >= 3:
        rho1 = -y1  # (n, F, D)
        x2 = L_vec(2, rho)
        c2 = np.einsum("nff->nf", S)
        v = 2 * (L_vec(1, rho1) - c1[..., None] * rho1) + x2
        rho2 = -dz.apply(v)
        terms = (3 * tL(1, rho2), 3 * tL(2, rho1), np.einsum("nk,nkf->nf", jr, w ** 3))
        c3 = terms[0] + terms[1] + terms[2]
        gross3 = np.abs(terms[0]) + np.abs(terms[1]) + np.abs(terms[2])
        with np.errstate(divide="ignore", invalid="ignore"):
            c3_rel = np.where(c3 != 0, 64 * D * _EPS * gross3 / np.abs(c3), 0.0)
        del c2
    return Cumulants(c1=c1, S=S, c3=c3, activity=jr.sum(axis=1), S_rel_err=S_rel, rho=rho, c3_rel_err=c3_rel)


def dlnr_dx(r_self: np.ndarray, r_partner: np.ndarray, log_ratio_in: np.ndarray, incoming: bool,
            fermionic: bool) -> np.ndarray:
    """``d ln r / d x`` of one jump of a bath with ``x = β(ω − μ n)`` (ω, n of the *incoming* jump).

    In-rates are ``A/(e^x ± 1)`` and out-rates ``A e^x/(e^x ± 1)`` (+ fermions, − bosons) with
    ``A`` independent of the bath's ``β, μ``: ``d ln r_in/dx = −r_out/A``,
    ``d ln r_out/dx = ±r_in/A``.  ``A = r_in + r_out`` (fermions) or
    ``r_out (1 − e^{−x})`` (bosons, from the exact log-ratio ``−x``; no cancellation).
    """
    r_in, r_out = (r_self, r_partner) if incoming else (r_partner, r_self)
    with np.errstate(all="ignore"):
        A = r_in + r_out if fermionic else r_out * -np.expm1(log_ratio_in)
        if incoming:
            out = -r_out / A
        else:
            out = (1.0 if fermionic else -1.0) * r_in / A
    return np.where(A != 0, out, 0.0)


def _edge_pairs(gen: Generator):
    """``(src, tgt, k_in, k_out)`` arrays of the jump pairs of a single-edge rate generator (the
    incoming member ``k_in`` goes ``src -> tgt``, its partner ``k_out`` back, same lead), or None."""
    edges = _single_edges(gen)
    if edges is None or gen.incoming is None:
        return None
    src, tgt = edges
    by_key = {}
    for k in range(src.size):
        by_key.setdefault((int(src[k]), int(tgt[k]), int(gen.lead[k])), []).append(k)
    pairs = []
    for k in np.flatnonzero(gen.incoming):
        partners = by_key.get((int(tgt[k]), int(src[k]), int(gen.lead[k])), [])
        partners = [q for q in partners if not gen.incoming[q]]
        if not partners:
            return None
        pairs.append((int(src[k]), int(tgt[k]), int(k), partners[0]))
        by_key[(int(tgt[k]), int(src[k]), int(gen.lead[k]))].remove(partners[0])
    if 2 * len(pairs) != src.size:
        return None
    return tuple(np.array(x, dtype=np.int64) for x in zip(*pairs))


def _equilibrium_response(gen: Generator, pairs, w_in: np.ndarray, affinity: np.ndarray) -> np.ndarray:
    """Linear response at detailed balance on the network of edges, free of large cancellations.

    At equilibrium both members of an edge ``e`` carry the same one-way flux ``c_e = r_in p_src``
    and, to first order, the net flux is ``F_e = c_e (A_e − (φ_tgt − φ_src))`` with the change
    ``A_e = δ ln(r_in/r_out)`` of the edge's log-ratio and ``φ = δ ln p`` (a resistor network with
    conductances ``c_e`` and EMFs ``A_e``; Kirchhoff's law fixes ``φ``).  Then
    ``L_fj = Σ_e c_e w'_ef A'_ej`` with both the flux weights ``w`` and the affinities ``A``
    replaced by their parts orthogonal (in the ``c``-weighted sense) to gradients,
    ``w' = w − Bχ``, ``A' = A − Bψ`` (``χ, ψ`` from the weighted graph Laplacian, solved by the
    subtraction-free GTH elimination).  Gradient parts of ``w`` carry no current around cycles:
    removing them per edge (where ``ω`` becomes, e.g., the Kerr shift ``δz`` of a cycle) leaves a
    sum of terms of the size of the result, where the generic ``∂ρ = −L^D ∂L ρ`` route subtracts a
    correction from a direct term thousands of times larger.

    ``w_in`` ``(n, E, F)``: weights of the incoming members; ``affinity`` ``(n, E, J)``: ``A_e``.
    """
    from .pauli import gth_solve

    src, tgt, k_in, _ = pairs
    n = gen.n
    d = gen.jumps.shape[-1]
    R = np.zeros((n, d, d))
    rate = np.asarray(gen.rate, dtype=float)
    all_src, all_tgt = _single_edges(gen)
    for k in range(all_src.size):
        R[:, all_src[k], all_tgt[k]] += rate[:, k]
    p = np.empty((n, d))
    x = np.empty((n, d))
    y = np.empty((n, d))
    kref = np.zeros(n, dtype=np.int64)
    gth_solve(R, np.zeros((n, d)), kref, p, x, y)
    c = rate[:, k_in] * p[:, src]  # (n, E) one-way equilibrium fluxes
    lap = np.zeros((n, d, d))
    for e in range(src.size):
        lap[:, src[e], tgt[e]] += c[:, e]
        lap[:, tgt[e], src[e]] += c[:, e]
    kref = np.argmax(p, axis=1).astype(np.int64)

    def project(v):  # (n, E, M) -> v - B chi per column
        out = np.empty_like(v)
        for m in range(v.shape[2]):
            cv = c * v[:, :, m]
            b = np.zeros((n, d))
            np.add.at(b.T, tgt, cv.T)
            np.subtract.at(b.T, src, cv.T)
            chi = np.empty((n, d))
            gth_solve(lap, b, kref, np.empty((n, d)), chi, np.empty((n, d)))
            out[:, :, m] = v[:, :, m] - (chi[:, tgt] - chi[:, src])
        return out

    wp = project(np.asarray(w_in, dtype=float))
    ap = project(np.asarray(affinity, dtype=float))
    return np.einsum("ne,nef,nej->nfj", c, wp, ap)


def response(gen: Generator, fluxes: list[tuple[str, str]], directions: np.ndarray) -> np.ndarray:
    """Exact derivatives ``∂⟨J_f⟩/∂X_j`` of the mean fluxes along parameter directions.

    ``directions`` ``(n, n_leads, 2, J)``: ``∂β_λ/∂X_j`` and ``∂(β_λ μ_λ)/∂X_j``.  With
    ``∂r_k/∂X = r_k dlnr_k (ω ∂β_λ − n ∂α_λ)`` (``x = βω − α n`` with ``ω, n`` of the incoming
    member of the jump's pair), ``∂L = Σ_k ∂r_k D_k`` and
    ``∂ρ = −L^D ∂L ρ``: ``∂J_f = Σ_k ∂r_k ν_kf tᵀJ_kρ + tᵀL_f ∂ρ``.  Returns ``(n, F, J)``.

    Cells of a rate process at equilibrium (every bath at one ``β`` and ``μ``) take the network
    form of :func:`_equilibrium_response` instead (the same derivative, without its large
    cancelling terms: the Onsager matrix to round-off of its own size).
    """
    pairs = _edge_pairs(gen)
    if pairs is None:
        return _response_generic(gen, fluxes, directions)
    beta, mu = np.asarray(gen.beta, dtype=float), np.asarray(gen.mu, dtype=float)
    eq = np.all(beta == beta[:, :1], axis=1) & np.all(mu == mu[:, :1], axis=1)
    if not np.any(eq):
        return _response_generic(gen, fluxes, directions)
    idx = np.flatnonzero(eq)
    sub = gen.subset(slice(None)) if eq.all() else _take(gen, idx)
    src, tgt, k_in, _ = pairs
    w = sub.weights(fluxes)[:, k_in, :]  # (m, E, F)
    lead = np.broadcast_to(sub.lead[k_in], (idx.size, k_in.size))
    dirs = directions[idx]
    dbeta = np.take_along_axis(dirs[:, :, 0, :], lead[..., None], axis=1)  # (m, E, J)
    dalpha = np.take_along_axis(dirs[:, :, 1, :], lead[..., None], axis=1)
    omega_in = np.asarray(sub.energy, dtype=float)[:, k_in]
    n_in = np.asarray(sub.particles, dtype=float)[k_in]
    affinity = -(omega_in[..., None] * dbeta - n_in[None, :, None] * dalpha)  # δ ln(r_in/r_out) = −δx
    net = _equilibrium_response(sub, pairs, w, affinity)
    ok = np.isfinite(net).all(axis=(1, 2))  # a network the elimination could not handle: the generic route
    if eq.all() and ok.all():
        return net
    out = np.array(_response_generic(gen, fluxes, directions), copy=True)
    out[idx[ok]] = net[ok]
    return out


def _take(gen: Generator, idx: np.ndarray) -> Generator:
    """The cells ``idx`` (an index array) of a rate generator (fields used by the network response)."""
    return Generator(L=None, trace=gen.trace, jumps=gen.jumps, rate=np.asarray(gen.rate)[idx],
                     energy=np.asarray(gen.energy)[idx], particles=gen.particles, lead=gen.lead,
                     mu=np.asarray(gen.mu)[idx], beta=np.asarray(gen.beta)[idx], dlnr=np.zeros((idx.size, gen.lead.size)),
                     leads=gen.leads, kind=gen.kind, incoming=gen.incoming)


def _response_generic(gen: Generator, fluxes: list[tuple[str, str]], directions: np.ndarray) -> np.ndarray:
    """:func:`response` by ``∂ρ = −L^D ∂L ρ`` (any generator, any point)."""
    dz = _Drazin(gen)
    rho, t = dz.rho, dz.t
    w = gen.weights(fluxes)
    n, K = gen.rate.shape
    lead = np.broadcast_to(gen.lead, (n, K))
    dbeta = np.take_along_axis(directions[:, :, 0, :], lead[..., None], axis=1)  # (n, K, J)
    dalpha = np.take_along_axis(directions[:, :, 1, :], lead[..., None], axis=1)
    sign = np.where(gen.incoming, 1.0, -1.0)  # (K,)
    omega_in = sign[None, :] * gen.energy
    n_in = sign * gen.particles
    dx = omega_in[..., None] * dbeta - n_in[None, :, None] * dalpha  # (n, K, J)
    dr = (gen.rate * gen.dlnr_array())[..., None] * dx  # (n, K, J)
    Dk = gen.dissipator_ops()
    Drho = np.einsum("kab,nb->nka", Dk, rho)
    dLrho = np.einsum("nkj,nka->nja", dr.astype(Drho.dtype), Drho)  # (n, J, D)
    drho = -dz.apply(dLrho)  # (n, J, D)
    tJ = np.einsum("a,kab->kb", t, gen.jumps)
    trJ = _real(np.einsum("kb,nb->nk", tJ, rho))  # (n, K)
    direct = np.einsum("nkj,nkf,nk->nfj", dr, w, trJ)
    rowL = np.einsum("nk,nkf,kb->nfb", gen.rate, w, tJ)
    return direct + _real(np.einsum("nfb,njb->nfj", rowL, drho))


def scgf(gen: Generator, weights: np.ndarray, s: float | np.ndarray) -> np.ndarray:
    """Scaled cumulant generating function ``λ(s)``: the eigenvalue of
    ``L + Σ_k (e^{s ν_k} − 1) r_k J_k`` with the largest real part, per cell (weights ``(n, K)``)."""
    s = np.asarray(s, dtype=float)
    tilt = np.expm1(s[..., None, None] * weights[None] if s.ndim else s * weights)
    L = gen.matrix()
    if s.ndim:
        Ls = L[None] + np.einsum("snk,kab->snab", tilt * gen.rate[None], gen.jumps)
    else:
        Ls = L + np.einsum("nk,kab->nab", tilt * gen.rate, gen.jumps)
    ev = np.linalg.eigvals(Ls)
    idx = np.argmax(ev.real, axis=-1)
    return np.take_along_axis(ev, idx[..., None], axis=-1)[..., 0].real
