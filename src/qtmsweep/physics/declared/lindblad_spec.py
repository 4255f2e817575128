"""``kind: lindblad``: machines of qubits and truncated oscillators declared as data.

The spec::

    kind: lindblad
    subsystems:                    # tensor factors, the first one the most significant
      q1: qubit                    # basis |0>, |1>; operators sm, sp, n, sx, sy, sz, id
      q2: qubit
      a: {boson: 3}                # truncated oscillator, 3 levels; operators a, ad, n, x, id
    hamiltonian:                   # bare terms H_0 = sum c_k O_k: [coefficient, operator]
      - [eps1, q1.n]
      - [eps2, q2.n]
      - [delta_z, q1.n q2.n]       # a product of local operators
    interaction:                   # terms of H_I (H = H_0 + H_I); the local approach ignores
      - [delta_x, q1.sp q2.sm + h.c.]   # them in the dissipators (not in the dynamics)
    baths:                         # bosonic baths: temperature, coupling operator, spectrum
      L: {T: T_L, couples: q1.sx, spectrum: {filtered: {Gamma: Gamma_L, Omega: Omega_L, eps_c: eps_c}}}
      R: {T: T_R, couples: q1.sx, spectrum: {flat: gamma_R}}
      C: {T: T_C, couples: q2.sx, spectrum: {ohmic: {alpha: alpha_C, cutoff: w_c}}}
    approach: local                # local | global  (default global)
    jumps: bohr                    # bohr (default): one jump per Bohr frequency | transitions
    secular_tolerance: 0.0         # partial secular: Bohr frequencies closer than this share a jump
    reference_bath: R              # forces against this bath (default: the last)
    defaults: {...}

Physics.  The dissipator of each bath is built in the eigenbasis ``{|k⟩, E_k}`` of the
*basis Hamiltonian*, ``H_0`` (``approach: local``: the bare energies, 003 App. A2 / 004
Eq. 2) or ``H = H_0 + H_I`` (``global``, 003 App. A1).  A transition ``j → i`` of energy
change ``Δ = E_i − E_j ≠ 0`` carries the matrix element ``X_ij = ⟨i|X|j⟩`` and the bath
rate of ``Δ``: absorption ``K(|Δ|) n(|Δ|)`` for ``Δ > 0``, emission ``K(|Δ|)(1 + n(|Δ|))``
for ``Δ < 0`` (``n`` the Bose occupation, ratio ``e^{−Δ/T}`` exactly).  Zero-frequency
(dephasing) components are dropped, as in the built-ins.  ``jumps: transitions``: one
jump ``|i⟩⟨j|`` per transition at rate ``r |X_ij|²`` (the built-ins' global convention);
``jumps: bohr`` (Davies): the transitions whose Bohr frequencies ``Δ`` agree within
``secular_tolerance`` (exact degeneracy: 1e-9 of the largest) form one jump
``L = Σ sqrt(r_ij) X_ij |i⟩⟨j|`` — a positive ``secular_tolerance`` is the partial-secular
(unified) master equation for near-degenerate frequencies.
Spectral densities ``K(ω)``: ``flat: γ`` (``K = γ``, 004 Eq. 2), ``ohmic: {alpha, cutoff}``
(``K = α ω e^{−ω/ω_c}``) and ``filtered: {Gamma, Omega, eps_c}`` (003 Eq. 3 with the
Θ(ε_c − ω) reading of SPEC §2, :func:`qtmsweep.physics.baths.filtered_rates`).

Heat currents ``J_Q[λ] = Tr[B D_λ(ρ)]`` with ``B`` the basis Hamiltonian (the bare ``H_0``
in the local approach, 003 Eq. A21; ``H`` in the global one).  ``sigma = −Σ J_Q[λ]/T_λ``
(via :func:`~qtmsweep.physics.lindblad.heat_entropy_production`), forces
``F_E_λ = 1/T_ref − 1/T_λ`` conjugate to ``J_Q[λ]`` for every bath but the reference.
``p(state)`` are the populations of the product basis (labels: the local levels, first
subsystem first, e.g. ``10`` = q1 excited).

Examples
--------
>>> from qtmsweep.physics.declared import build_model
>>> m = build_model("q", {"kind": "lindblad", "subsystems": {"q": "qubit"},
...     "hamiltonian": [["w", "q.n"]],
...     "baths": {"h": {"T": "T_h", "couples": "q.sx", "spectrum": {"flat": "g"}},
...               "c": {"T": "T_c", "couples": "q.sx", "spectrum": {"flat": "g"}}}})
>>> m.states, m.leads, m.parameter_names
(('0', '1'), ('h', 'c'), ('w', 'T_h', 'g', 'T_c'))
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..baths import filtered_rates, flat_rates, x_over_expm1
from ..lindblad import LindbladModel, heat_entropy_production, lindblad_currents
from ..model import SteadyState
from .spec import ParameterCollector, SpecError, as_mapping, check_keys, check_name

__all__ = ["DeclaredLindbladModel", "build_lindblad", "local_operators"]

_KEYS = ("kind", "description", "subsystems", "hamiltonian", "interaction", "baths", "approach", "jumps",
         "secular_tolerance", "reference_bath", "defaults")
_EPS = np.finfo(float).eps
#: Largest Hilbert-space dimension (the dense Liouvillian is d² x d²).
MAX_DIM = 32


def local_operators(kind: str, levels: int) -> dict[str, np.ndarray]:
    """Local operators of a qubit (basis ``|0⟩, |1⟩``) or a boson truncated to ``levels``."""
    if kind == "qubit":
        sm = np.array([[0, 1], [0, 0]], dtype=complex)
        ops = {"sm": sm, "sp": sm.T.copy(), "n": np.diag([0.0, 1.0]).astype(complex),
               "sx": np.array([[0, 1], [1, 0]], dtype=complex), "sy": np.array([[0, -1j], [1j, 0]]),
               "sz": np.diag([-1.0, 1.0]).astype(complex)}
    else:
        a = np.diag(np.sqrt(np.arange(1, levels)), 1).astype(complex)
        ops = {"a": a, "ad": a.conj().T.copy(), "n": np.diag(np.arange(levels, dtype=float)).astype(complex),
               "x": a + a.conj().T}
    ops["id"] = np.eye(2 if kind == "qubit" else levels, dtype=complex)
    return ops


@dataclass
class DeclaredLindbladModel(LindbladModel):
    """A :class:`LindbladModel` built from a ``kind: lindblad`` spec."""

    spec: Mapping[str, Any] = field(default_factory=dict)
    constants: Mapping[str, float] = field(default_factory=dict)
    origin: str = "declared"

    def with_constants(self, params: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(self.constants)
        out.update(params)
        return out


def _parse_operator(text: Any, key: str, subsystems: Mapping[str, dict[str, np.ndarray]], dims: list[int],
                    names: list[str]) -> np.ndarray:
    """``"q1.sp q2.sm + h.c."`` -> the operator on the product space."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(key, f"{text!r} is not an operator; allowed: a product of local operators such as "
                             "'q1.sp q2.sm', optionally followed by '+ h.c.'")
    s = text.strip()
    hc = False
    m = re.match(r"^(.*?)\s*\+\s*h\.c\.?$", s)
    if m:
        s, hc = m.group(1), True
    factors = [f for f in re.split(r"[\s*]+", s) if f]
    local = [np.eye(d, dtype=complex) for d in dims]
    for f in factors:
        if "." not in f:
            raise SpecError(key, f"{f!r} is not allowed; allowed: <subsystem>.<operator>, e.g. {names[0]}.n")
        sub, op = f.split(".", 1)
        if sub not in subsystems:
            raise SpecError(key, f"{sub!r} is not a subsystem; allowed: {', '.join(names)}")
        if op not in subsystems[sub]:
            raise SpecError(key, f"{op!r} is not an operator of {sub}; allowed: {', '.join(subsystems[sub])}")
        k = names.index(sub)
        local[k] = local[k] @ subsystems[sub][op]
    full = np.ones((1, 1), dtype=complex)
    for mat in local:
        full = np.kron(full, mat)
    return full + full.conj().T if hc else full


def _terms(raw, key, col, subs, dims, names, what) -> list[tuple[str, np.ndarray]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SpecError(key, f"must be a list of [coefficient, operator] terms, not {raw!r}")
    out = []
    for k, term in enumerate(raw):
        tk = f"{key}[{k}]"
        if not isinstance(term, (list, tuple)) or len(term) != 2:
            raise SpecError(tk, f"{term!r} is not allowed; allowed: [coefficient, operator], e.g. [eps1, q1.n]")
        op = _parse_operator(term[1], tk, subs, dims, names)
        if not np.allclose(op, op.conj().T):
            raise SpecError(tk, f"{term[1]!r} is not Hermitian; add '+ h.c.'")
        out.append((col.value(term[0], "energy", tk, f"coefficient of {term[1]} in {what}"), op))
    return out


def build_lindblad(name: str, spec: Mapping[str, Any]) -> DeclaredLindbladModel:
    """Build (do not register) the model of a ``kind: lindblad`` spec; :class:`SpecError` names the key."""
    base = f"models.{name}"
    check_keys(spec, base, _KEYS, required=("subsystems", "hamiltonian", "baths"))
    col = ParameterCollector(prefix=f"{base}.")

    subs_spec = as_mapping(spec["subsystems"], f"{base}.subsystems", "subsystems")
    subs: dict[str, dict[str, np.ndarray]] = {}
    dims, names, labels_local = [], [], []
    for sub, s in subs_spec.items():
        key = f"{base}.subsystems.{sub}"
        check_name(sub, key, "subsystem name")
        if s == "qubit" or s == {"qubit": True} or s == {"type": "qubit"}:
            kind, levels = "qubit", 2
        elif isinstance(s, Mapping) and set(s) == {"boson"}:
            levels = s["boson"]
            if isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or levels < 2:
                raise SpecError(f"{key}.boson", f"{levels!r} is not allowed; allowed: an integer >= 2 (levels kept)")
            kind = "boson"
        else:
            raise SpecError(key, f"{s!r} is not allowed; allowed: qubit, or {{boson: <levels>}}")
        subs[sub] = local_operators(kind, int(levels))
        dims.append(int(levels))
        names.append(sub)
        labels_local.append(int(levels))
    d = int(np.prod(dims))
    if d > MAX_DIM:
        raise SpecError(f"{base}.subsystems", f"the Hilbert space has dimension {d}; allowed: at most {MAX_DIM} "
                                              "(the dense Liouvillian is d^2 x d^2)")

    H0 = _terms(spec["hamiltonian"], f"{base}.hamiltonian", col, subs, dims, names, "H_0")
    if not H0:
        raise SpecError(f"{base}.hamiltonian", "the Hamiltonian is empty; allowed: at least one term")
    HI = _terms(spec.get("interaction"), f"{base}.interaction", col, subs, dims, names, "H_I")

    baths_spec = as_mapping(spec["baths"], f"{base}.baths", "baths")
    baths: list[tuple[str, str, np.ndarray, Any]] = []
    for bath, b in baths_spec.items():
        key = f"{base}.baths.{bath}"
        check_name(bath, key, "bath name")
        b = as_mapping(b, key, f"bath {bath}")
        check_keys(b, key, ("T", "couples", "spectrum"), required=("T", "couples", "spectrum"))
        T = col.value(b["T"], "temperature", f"{key}.T", f"temperature of bath {bath}")
        X = _parse_operator(b["couples"], f"{key}.couples", subs, dims, names)
        if not np.allclose(X, X.conj().T):
            raise SpecError(f"{key}.couples", f"{b['couples']!r} is not Hermitian; add '+ h.c.' (e.g. q1.sm + h.c.)")
        baths.append((bath, T, X, _spectrum(b["spectrum"], f"{key}.spectrum", col, bath)))

    approach = spec.get("approach", "global")
    if approach not in ("local", "global"):
        raise SpecError(f"{base}.approach", f"{approach!r} is not allowed; allowed: local, global")
    jumps_mode = spec.get("jumps", "bohr")
    if jumps_mode not in ("bohr", "transitions"):
        raise SpecError(f"{base}.jumps", f"{jumps_mode!r} is not allowed; allowed: bohr, transitions")
    tol_name = None
    if spec.get("secular_tolerance") is not None:
        if jumps_mode != "bohr":
            raise SpecError(f"{base}.secular_tolerance", "a partial-secular tolerance needs jumps: bohr")
        tol_name = col.value(spec["secular_tolerance"], "energy", f"{base}.secular_tolerance",
                             "partial-secular tolerance: Bohr frequencies closer than this share a jump")
    leads = tuple(b[0] for b in baths)
    reference = spec.get("reference_bath", leads[-1])
    if reference not in leads:
        raise SpecError(f"{base}.reference_bath", f"{reference!r} is not a bath; allowed: {', '.join(leads)}")
    parameters = col.parameters(spec.get("defaults"), f"{base}.defaults")
    constants = dict(col.constants)

    import itertools

    states = tuple("".join(str(k) for k in idx) if max(dims) <= 10 else ",".join(str(k) for k in idx)
                   for idx in itertools.product(*(range(dd) for dd in dims)))
    T_of = {b[0]: b[1] for b in baths}
    ref_index = leads.index(reference)

    def forces(params):
        full = {**constants, **params}
        Tr = np.asarray(full[T_of[reference]], dtype=float)
        return {f"F_E_{lam}": (np.asarray(full[T_of[lam]], dtype=float) - Tr) / (np.asarray(full[T_of[lam]], dtype=float) * Tr)
                for lam in leads if lam != reference}

    def evaluate(params, method):
        full = {**constants, **params}
        return _evaluate(full, d, H0, HI, baths, approach, jumps_mode, tol_name, ref_index)

    model = DeclaredLindbladModel(
        name=name,
        description=str(spec.get("description") or f"declared Lindblad machine: {', '.join(names)}; baths "
                                                    f"{', '.join(leads)} ({approach} approach)"),
        states=states, leads=leads, parameters=parameters, evaluate=evaluate, methods=("lindblad",),
        auto_method="lindblad", aliases={"linear": "lindblad"},
        lead_reservoir={b[0]: (b[1], None) for b in baths}, forces=forces,
        force_flux={f"F_E_{lam}": ("J_Q", lam) for lam in leads if lam != reference},
        reference="declared (kind: lindblad)", cell_bytes=64 * d**4 + 4096, spec=dict(spec), constants=constants)
    return model


def _spectrum(raw, key, col: ParameterCollector, bath: str):
    raw = as_mapping(raw, key, "spectrum")
    if len(raw) != 1:
        raise SpecError(key, f"{dict(raw)!r} is not allowed; allowed: exactly one of flat, ohmic, filtered")
    (kind, v), = raw.items()
    if kind == "flat":
        return ("flat", col.value(v, "rate", f"{key}.flat", f"coupling rate of bath {bath}"))
    if kind == "ohmic":
        v = as_mapping(v, f"{key}.ohmic", "ohmic spectrum")
        check_keys(v, f"{key}.ohmic", ("alpha", "cutoff"), required=("alpha", "cutoff"))
        return ("ohmic", col.value(v["alpha"], "rate", f"{key}.ohmic.alpha", f"ohmic strength of bath {bath}"),
                col.value(v["cutoff"], "temperature", f"{key}.ohmic.cutoff",
                          f"ohmic cutoff frequency of bath {bath} (> 0)"))
    if kind == "filtered":
        v = as_mapping(v, f"{key}.filtered", "filtered spectrum")
        check_keys(v, f"{key}.filtered", ("Gamma", "Omega", "eps_c"), required=("Gamma", "Omega", "eps_c"))
        return ("filtered", col.value(v["Gamma"], "rate", f"{key}.filtered.Gamma",
                                      f"filter width of bath {bath}: Gamma(w) = Gamma w (003 Eq. 3)"),
                col.value(v["Omega"], "energy", f"{key}.filtered.Omega", f"filter resonance of bath {bath}"),
                col.value(v["eps_c"], "energy", f"{key}.filtered.eps_c", f"high-energy cutoff of bath {bath}"))
    raise SpecError(f"{key}.{kind}", f"{kind!r} is not a spectrum; allowed: flat, ohmic, filtered")


def _rate(spectrum, delta, T, params, n):
    """Rate of a transition changing the system energy by ``delta`` (``(n, m)``; ≠ 0)."""
    shape = (n, 1)
    Tc = np.broadcast_to(np.asarray(T, dtype=float), (n,)).reshape(shape)

    def p(name):
        return np.broadcast_to(np.asarray(params[name], dtype=float), (n,)).reshape(shape)

    if spectrum[0] == "flat":
        with np.errstate(all="ignore"):
            return flat_rates(delta, Tc, p(spectrum[1]))[0]
    if spectrum[0] == "filtered":
        return filtered_rates(delta, Tc, p(spectrum[1]), p(spectrum[2]), p(spectrum[3]))[0]
    alpha, wc = p(spectrum[1]), p(spectrum[2])
    a = np.abs(delta)
    x = a / Tc
    pref = alpha * Tc * np.exp(-a / wc)
    return np.where(delta > 0, pref * x_over_expm1(x), pref * x_over_expm1(-x))


def _hamiltonian(terms, params, n, d):
    H = np.zeros((n, d, d), dtype=complex)
    for c, op in terms:
        H += np.broadcast_to(np.asarray(params[c], dtype=float), (n,))[:, None, None] * op
    return H


def _evaluate(params, d, H0, HI, baths, approach, jumps_mode, tol_name, ref_index) -> SteadyState:
    n = _n_cells(params)
    H_bare = _hamiltonian(H0, params, n, d)
    H = H_bare + _hamiltonian(HI, params, n, d) if HI else H_bare
    B = H_bare if approach == "local" else H  # the basis Hamiltonian of the dissipators
    E, V = np.linalg.eigh(B)
    Vd = np.conj(np.swapaxes(V, -1, -2))
    H_eig = Vd @ H @ V
    iu, ju = np.nonzero(~np.eye(d, dtype=bool))  # transitions j -> i (i != j)
    delta = E[:, iu] - E[:, ju]  # energy change, (n, m)
    scale = np.abs(E).max(axis=1, keepdims=True) + 1.0
    on = np.abs(delta) > 1e-12 * scale  # zero-frequency components dropped
    jumps = []
    for b, (bath, T, X, spectrum) in enumerate(baths):
        Xe = Vd @ X @ V
        amp = Xe[:, iu, ju]  # <i|X|j>
        with np.errstate(all="ignore"):
            r = np.where(on, _rate(spectrum, np.where(on, delta, 1.0), params[T], params, n), 0.0)
        r = np.where(np.abs(amp) > 1e-14, r, 0.0)
        if jumps_mode == "transitions":
            w = r * np.abs(amp) ** 2
            for k in range(iu.size):
                if np.any(w[:, k] > 0):
                    Lk = np.zeros((d, d), dtype=complex)
                    Lk[iu[k], ju[k]] = 1.0
                    jumps.append((w[:, k], Lk, b))
        else:
            jumps.extend(_bohr_jumps(delta, r, amp, iu, ju, d, b, params, tol_name, scale, on))
    rho = _steady_state(H_eig, jumps, n, d)
    obs = [(np.ones(n), np.broadcast_to(np.eye(d), (n, d, d)) * E[:, None, :])]
    J, gross = lindblad_currents(rho, jumps, obs, n_baths=len(baths))
    Tm = np.stack([np.broadcast_to(np.asarray(params[T], dtype=float), (n,)) for _, T, _, _ in baths], axis=-1)
    sigma, bad, _ = heat_entropy_production(J, Tm, gross, ref=ref_index)
    rho_prod = V @ rho @ Vd
    p = rho_prod[:, range(d), range(d)].real.copy()
    scale_J = np.abs(J).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(scale_J > 0, 16 * _EPS * gross.max(axis=1) / scale_J, 0.0)
    extras = {"second_law_violated": ((), bad)}
    return SteadyState(p=p, J_E=J, J_N=None, J_Q=J.copy(), sigma=sigma, rel_err=rel_err, extras=extras)


def _steady_state(H: np.ndarray, jumps, n: int, d: int) -> np.ndarray:
    """Steady state of ``−i[H, ρ] + Σ_k r_k D[L_k]ρ`` (column stacking, as :mod:`..lindblad`).

    The jump parts ``Σ_k r_k L̄_k ⊗ L_k`` are summed in one contraction over k (no
    superoperator per jump) and the anticommutators from ``Σ_k r_k L_k†L_k``; cells are
    processed in sub-batches of bounded memory."""
    D = d * d
    K = len(jumps)
    step = max(1, int(2**26 // (16 * (D * D + max(K, 1) * d * d) * 3)))
    eye = np.eye(d)
    diag = np.arange(d) * (d + 1)
    rho = np.zeros((n, d, d), dtype=complex)
    for a in range(0, n, step):
        sl = slice(a, min(n, a + step))
        m = sl.stop - sl.start
        A = np.stack([np.sqrt(np.broadcast_to(np.asarray(r, dtype=float), (n,))[sl])[:, None, None]
                      * (L[sl] if np.ndim(L) == 3 else L) for r, L, _ in jumps]) if K else np.zeros((1, m, d, d))
        G = H[sl] * -1j - 0.5 * np.einsum("qnji,qnjl->nil", A.conj(), A)  # −iH − ½ Σ L†L
        # L = I ⊗ G + Ḡ ⊗ I + Σ_k Ā_k ⊗ A_k   ((A ⊗ B)[j d + i, l d + k] = A[j, l] B[i, k])
        Lv = (np.einsum("jl,nik->njilk", eye, G) + np.einsum("njl,ik->njilk", G.conj(), eye)
              + np.einsum("qnjl,qnik->njilk", A.conj(), A)).reshape(m, D, D)
        Lv[:, 0, :] = 0.0
        Lv[:, 0, diag] = 1.0
        b = np.zeros((m, D), dtype=complex)
        b[:, 0] = 1.0
        with np.errstate(all="ignore"):
            try:
                x = np.linalg.solve(Lv, b[..., None])[..., 0]
            except np.linalg.LinAlgError:
                x = np.full((m, D), np.nan, dtype=complex)
        rho[sl] = np.swapaxes(x.reshape(m, d, d), -1, -2)  # vec index i + d j -> rho[i, j]
    return 0.5 * (rho + np.conj(np.swapaxes(rho, -1, -2)))


def _bohr_jumps(delta, r, amp, iu, ju, d, bath, params, tol_name, scale, on):
    """Jumps ``L = Σ sqrt(r) X_ij |i⟩⟨j|`` over the transitions of one Bohr-frequency cluster.

    Cells are grouped by their clustering (which transitions share a jump), so every group
    is one batched set of per-cell jump matrices."""
    n, m = delta.shape
    tol = (np.broadcast_to(np.asarray(params[tol_name], dtype=float), (n,)) if tol_name is not None
           else np.zeros(n))
    tol = np.maximum(tol, 1e-9 * scale[:, 0])
    active = on & (r > 0)
    labels = np.full((n, m), -1, dtype=np.int64)
    order = np.argsort(np.where(active, delta, np.inf), axis=1, kind="stable")
    sorted_delta = np.take_along_axis(delta, order, axis=1)
    sorted_active = np.take_along_axis(active, order, axis=1)
    gap = np.diff(sorted_delta, axis=1) > tol[:, None]
    cluster_sorted = np.concatenate([np.zeros((n, 1), dtype=np.int64), np.cumsum(gap, axis=1)], axis=1)
    cluster_sorted = np.where(sorted_active, cluster_sorted, -1)
    np.put_along_axis(labels, order, cluster_sorted, axis=1)
    jumps = []
    keys, inverse = np.unique(labels, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    amp_r = np.sqrt(r) * amp
    for g, key in enumerate(keys):
        cells = inverse == g
        for c in np.unique(key[key >= 0]):
            members = np.flatnonzero(key == c)
            L = np.zeros((n, d, d), dtype=complex)
            idx = np.flatnonzero(cells)
            L[idx[:, None], iu[members][None, :], ju[members][None, :]] = amp_r[idx[:, None], members[None, :]]
            jumps.append((cells.astype(float), L, bath))
    return jumps


def _n_cells(params) -> int:
    sizes = {np.size(v) for v in params.values() if not isinstance(v, str) and np.ndim(v) >= 1}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"parameter arrays must be flat and of one length; got lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 1
