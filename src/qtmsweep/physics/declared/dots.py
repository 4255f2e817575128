"""``kind: dots``: quantum-dot systems declared as data, solved by the generic Pauli solver.

The spec (issue 14 §1; a mapping, from YAML or Python)::

    kind: dots
    orbitals:                 # single-particle orbitals (spin is just another orbital)
      L: {energy: eps_L}
      R: {energy: eps_R}
    coulomb:                  # pairwise interaction U_ij n_i n_j (optional)
      - [L, R, kappa]
    leads:                    # fermionic reservoirs; couples: orbital -> tunnelling rate
      a: {T: T_a, mu: mu_a, couples: {L: gamma_a}}
      b: {T: T_b, mu: mu_b, couples: {L: gamma_b}}
      r: {T: T_r, mu: mu_r, couples: {R: gamma_r}}
    electrons: [0, 2]         # optional charge window (inclusive)
    states: {A: [], B: [L], C: [R], D: [L, R]}   # optional labels: label -> occupied orbitals
    reference_lead: a         # optional: the lead the forces are taken against (default: the first)
    defaults: {eps_L: 1.0}    # optional parameter defaults (used by `qtmsweep point`)
    description: ...          # optional

A string is a parameter whose kind comes from where it stands (``energy`` and ``coulomb``:
energy; ``T``: temperature; ``mu``: chemical potential; ``couples``: rate); one name may
stand in several places of one kind.  A number is a constant (stored in the dataset
attrs under its key, e.g. ``leads.a.T``).

Physics (the Pauli approach, SPEC §1–2): the Fock states ``|n_1 … n_k⟩`` with a total
charge inside the window, in the order of their integer code (first orbital = lowest
bit; for two orbitals ``0, L, R, L+R`` — the order of ``cqd``'s ``A, B, C, D``), energies
``E = Σ ε_i n_i + Σ U_ij n_i n_j``; for every orbital ``i``, every lead ``λ`` coupling to it
and every pair of states differing by an electron in ``i``: an edge with rate in
``γ_λi f_λ(ΔE)`` and out ``γ_λi (1 − f_λ(ΔE))``.  Each (lead, orbital) pair is a channel of
the generic batched solver (:func:`qtmsweep.physics.pauli.solve_rate_equations`); the
channels of one lead are summed into its currents and error bounds.

Forces, for each lead ``λ`` other than the reference ``ρ``: ``F_E_λ = 1/T_ρ − 1/T_λ``
(conjugate to ``J_E[λ]``) and ``F_N_λ = μ_λ/T_λ − μ_ρ/T_ρ`` (conjugate to ``J_N[λ]``), from
input differences; by conservation ``σ = Σ_λ≠ρ (J_E[λ] F_E_λ + J_N[λ] F_N_λ)``.  These are
``sqd``'s forces with reference ``r`` and ``cqd``'s (000 Eq. 33) with reference ``a``
(plus ``F_N_r``, conjugate to ``J_N[r] = 0``).

Equilibrium cells (every lead at the same ``T`` and ``μ``, bit for bit) get the Gibbs
state ``p ∝ exp(−(E − μN)/T)`` and currents exactly zero: detailed balance, not a solve.

Examples
--------
>>> from qtmsweep.physics.declared import build_model
>>> m = build_model("dot", {"kind": "dots", "orbitals": {"d": {"energy": "eps"}},
...     "leads": {"l": {"T": "T_l", "mu": "mu_l", "couples": {"d": "gamma"}},
...               "r": {"T": 1.0, "mu": 0.0, "couples": {"d": "gamma"}}}})
>>> m.states, m.parameter_names
(('0', 'd'), ('eps', 'T_l', 'mu_l', 'gamma'))
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..distributions import fermi_np, inverse_temperature_difference_np, scaled_mu_difference_np
from ..model import RateModel, SteadyState, Transition
from .spec import ParameterCollector, SpecError, as_mapping, check_keys, check_name

__all__ = ["DotsModel", "build_dots"]

_KEYS = ("kind", "description", "orbitals", "coulomb", "leads", "electrons", "states", "reference_lead", "defaults")


@dataclass
class DotsModel(RateModel):
    """A :class:`RateModel` built from a ``kind: dots`` spec (see the module docstring)."""

    spec: Mapping[str, Any] = field(default_factory=dict)
    #: constant values named by their spec key (added to every parameter look-up; stored in attrs)
    constants: Mapping[str, float] = field(default_factory=dict)
    #: the solver's view: one pseudo-lead per (lead, orbital) channel
    channel_model: RateModel | None = None
    #: channel index -> lead index
    channel_lead: tuple[int, ...] = ()
    #: electrons per state, (n_states,)
    charges: tuple[int, ...] = ()
    origin: str = "declared"
    #: the fused kernel's structure (:func:`qtmsweep.physics.declared.dots_kernel.dots_kernel`)
    kernel: Mapping[str, Any] = field(default_factory=dict)

    def with_constants(self, params: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(self.constants)
        out.update(params)
        return out

    def steady_state(self, params: Mapping[str, np.ndarray], method: str = "auto") -> SteadyState:
        from ..pauli import solve_rate_equations

        method = self.resolve_method(method)
        if method != "linear":
            raise ValueError(f"method={method!r} is not available for declared model {self.name!r}; "
                             "allowed: 'auto', 'linear'")
        full = self.with_constants(params)
        if not self.kernel:  # pragma: no cover - models built before the fused kernel
            state = solve_rate_equations(self.channel_model, full)
            state = _sum_channels(state, np.asarray(self.channel_lead), len(self.leads), self, full)
        else:
            state = _solve_fused(self.kernel, full, len(self.leads), len(self.states),
                                 self.leads.index(self.spec.get("reference_lead", self.leads[0])), self.force_flux)
        return _exact_equilibrium(self, state, full)


def build_dots(name: str, spec: Mapping[str, Any]) -> DotsModel:
    """Build (do not register) the rate model of a ``kind: dots`` spec; :class:`SpecError` names the key."""
    spec = as_mapping(spec, f"models.{name}", "a model spec")
    base = f"models.{name}"
    check_keys(spec, base, _KEYS, required=("orbitals", "leads"))
    col = ParameterCollector(prefix=f"{base}.")

    # -- orbitals ---------------------------------------------------------------------------
    orbitals_spec = spec["orbitals"]
    if isinstance(orbitals_spec, Mapping) and not orbitals_spec or isinstance(orbitals_spec, list) and not orbitals_spec:
        raise SpecError(f"{base}.orbitals", "the orbital list is empty; allowed: at least one orbital "
                                            "(e.g. {d: {energy: eps}})")
    orbitals_spec = as_mapping(orbitals_spec, f"{base}.orbitals", "orbitals")
    orbitals: list[str] = []
    eps: list[str] = []
    for orb, o in orbitals_spec.items():
        key = f"{base}.orbitals.{orb}"
        check_name(orb, key, "orbital name")
        if isinstance(o, Mapping):
            check_keys(o, key, ("energy",), required=("energy",))
            raw = o["energy"]
            ekey = f"{key}.energy"
        else:
            raw, ekey = o, key
        orbitals.append(orb)
        eps.append(col.value(raw, "energy", ekey, f"energy of orbital {orb}"))
    if len(orbitals) > 12:
        raise SpecError(f"{base}.orbitals", f"{len(orbitals)} orbitals give 2^{len(orbitals)} Fock states; "
                                            "allowed: at most 12 orbitals (4096 states)")
    index = {o: k for k, o in enumerate(orbitals)}

    # -- coulomb ----------------------------------------------------------------------------
    coulomb: list[tuple[int, int, str]] = []
    seen_pairs: dict[frozenset, str] = {}
    cspec = spec.get("coulomb", []) or []
    if not isinstance(cspec, list):
        raise SpecError(f"{base}.coulomb", f"must be a list of [orbital, orbital, U] entries, not {cspec!r}")
    for k, entry in enumerate(cspec):
        key = f"{base}.coulomb[{k}]"
        if not isinstance(entry, (list, tuple)) or len(entry) != 3:
            raise SpecError(key, f"{entry!r} is not allowed; allowed: [orbital, orbital, U] (U a name or a number)")
        i, j, U = entry
        for o in (i, j):
            if o not in index:
                raise SpecError(key, f"{o!r} is not an orbital; allowed: {', '.join(orbitals)}")
        if i == j:
            raise SpecError(key, f"[{i}, {j}, ...] couples an orbital to itself; allowed: two different orbitals "
                                 "(a spinful level is two orbitals)")
        pair = frozenset((i, j))
        if pair in seen_pairs:
            raise SpecError(key, f"the pair ({i}, {j}) is already given at {seen_pairs[pair]}; give each pair once")
        seen_pairs[pair] = key
        coulomb.append((index[i], index[j], col.value(U, "energy", key, f"Coulomb interaction of {i} and {j}")))

    # -- leads --------------------------------------------------------------------------------
    leads_spec = as_mapping(spec["leads"], f"{base}.leads", "leads")
    leads: list[str] = []
    reservoir: dict[str, tuple[str, str]] = {}
    channels: list[tuple[str, str, str]] = []  # (lead, orbital, rate parameter)
    for lead, ls in leads_spec.items():
        key = f"{base}.leads.{lead}"
        check_name(lead, key, "lead name")
        ls = as_mapping(ls, key, f"lead {lead}")
        check_keys(ls, key, ("T", "mu", "couples"), required=("T", "mu", "couples"))
        T = col.value(ls["T"], "temperature", f"{key}.T", f"temperature of lead {lead}")
        mu = col.value(ls["mu"], "chemical_potential", f"{key}.mu", f"chemical potential of lead {lead}")
        couples = as_mapping(ls["couples"], f"{key}.couples", f"couples of lead {lead}")
        for orb, g in couples.items():
            if orb not in index:
                raise SpecError(f"{key}.couples.{orb}", f"{orb!r} is not an orbital; allowed: {', '.join(orbitals)}")
            channels.append((lead, orb, col.value(g, "rate", f"{key}.couples.{orb}",
                                                  f"tunnelling rate between lead {lead} and orbital {orb}")))
        leads.append(lead)
        reservoir[lead] = (T, mu)
    if len(leads) < 1:
        raise SpecError(f"{base}.leads", "allowed: at least one lead")
    coupled = {o for _, o, _ in channels}
    for orb in orbitals:
        if orb not in coupled:
            raise SpecError(f"{base}.orbitals.{orb}", f"orbital {orb!r} couples to no lead (its occupation never "
                                                      "changes, so the steady state is not unique); add it to a "
                                                      "lead's couples")

    # -- states -------------------------------------------------------------------------------
    n_orb = len(orbitals)
    window = spec.get("electrons")
    lo, hi = 0, n_orb
    if window is not None:
        ok = (isinstance(window, (list, tuple)) and len(window) == 2
              and all(isinstance(w, numbers.Integral) and not isinstance(w, bool) for w in window))
        if not ok or not (0 <= window[0] <= window[1] <= n_orb):
            raise SpecError(f"{base}.electrons", f"{window!r} is not allowed; allowed: [min, max] with integers "
                                                 f"0 <= min <= max <= {n_orb} (the number of orbitals)")
        lo, hi = int(window[0]), int(window[1])
    codes = [c for c in range(2**n_orb) if lo <= bin(c).count("1") <= hi]
    occupied = {c: tuple(o for k, o in enumerate(orbitals) if c >> k & 1) for c in codes}
    labels = {c: ("0" if not occupied[c] else "+".join(occupied[c])) for c in codes}
    if spec.get("states") is not None:
        labels = _state_labels(spec["states"], f"{base}.states", occupied, orbitals)
    if len(codes) < 2:
        raise SpecError(f"{base}.electrons", f"the window {[lo, hi]} holds a single Fock state; allowed: a window "
                                             "with at least two states")
    code_index = {c: k for k, c in enumerate(codes)}
    states = tuple(labels[c] for c in codes)
    charges = tuple(bin(c).count("1") for c in codes)

    transitions: list[Transition] = []
    channel_names: list[str] = []
    channel_rates: dict[str, tuple[str, str, str]] = {}
    for lead, orb, g in channels:
        ch = f"{lead}:{orb}"
        channel_names.append(ch)
        channel_rates[ch] = (reservoir[lead][0], reservoir[lead][1], g)
        bit = 1 << index[orb]
        for c in codes:
            if not c & bit and (c | bit) in code_index:
                transitions.append(Transition(labels[c], labels[c | bit], ch))
    _check_connected(codes, code_index, transitions, labels, f"{base}.electrons")

    reference = spec.get("reference_lead", leads[0])
    if reference not in leads:
        raise SpecError(f"{base}.reference_lead", f"{reference!r} is not a lead; allowed: {', '.join(leads)}")

    parameters = col.parameters(spec.get("defaults"), f"{base}.defaults")
    constants = dict(col.constants)
    occupation = np.array([[c >> k & 1 for k in range(n_orb)] for c in codes], dtype=float)  # (S, k)
    pair_occ = np.array([[occupation[s, i] * occupation[s, j] for i, j, _ in coulomb] for s in range(len(codes))],
                        dtype=float).reshape(len(codes), len(coulomb))
    u_names = tuple(u for _, _, u in coulomb)
    eps_names = tuple(eps)

    def state_energies(params):
        full = {**constants, **params}
        # numeric constants of the spec are scalars beside (n,) parameters: broadcast before stacking
        e = np.stack(np.broadcast_arrays(*[np.asarray(full[k], dtype=float) for k in eps_names]), axis=-1)
        E = e @ occupation.T
        if u_names:
            u = np.stack(np.broadcast_arrays(*[np.asarray(full[k], dtype=float) for k in u_names]), axis=-1)
            E = E + u @ pair_occ.T
        return E

    def lead_rates(ch, omega, params):
        T, mu, g = channel_rates[ch]
        x = (omega - params[mu]) / params[T]
        gamma = params[g]
        return gamma * fermi_np(x), gamma * fermi_np(-x), -x

    others = [lead for lead in leads if lead != reference]
    T_ref, mu_ref = reservoir[reference]

    def forces(params):
        full = {**constants, **params}
        out = {}
        for lead in others:
            T, mu = reservoir[lead]
            out[f"F_E_{lead}"] = inverse_temperature_difference_np(np.asarray(full[T_ref], dtype=float),
                                                                   np.asarray(full[T], dtype=float))
            out[f"F_N_{lead}"] = scaled_mu_difference_np(np.asarray(full[T], dtype=float), np.asarray(full[mu], dtype=float),
                                                         np.asarray(full[T_ref], dtype=float),
                                                         np.asarray(full[mu_ref], dtype=float))
        return out

    force_flux = {}
    for lead in others:
        force_flux[f"F_E_{lead}"] = ("J_E", lead)
        force_flux[f"F_N_{lead}"] = ("J_N", lead)

    channel_model = RateModel(
        name=f"{name}[channels]", description="solver view: one pseudo-lead per (lead, orbital)", states=states,
        leads=tuple(channel_names), parameters=parameters, state_energies=state_energies,
        transitions=tuple(transitions), lead_rates=lead_rates,
        lead_reservoir={ch: (T, mu) for ch, (T, mu, _) in channel_rates.items()},
        forces=lambda p: {}, force_flux={}, state_particles=charges)
    lead_pos = {lead: k for k, lead in enumerate(leads)}
    model = DotsModel(
        name=name,
        description=str(spec.get("description") or
                        f"declared quantum-dot system: {n_orb} orbital(s), leads {', '.join(leads)}, "
                        f"{len(states)} Fock states"),
        states=states, leads=tuple(leads), parameters=parameters, state_energies=state_energies,
        transitions=tuple(Transition(t.source, t.target, t.lead.split(":")[0]) for t in transitions),
        lead_rates=_per_channel_only,
        lead_reservoir=reservoir, forces=forces, force_flux=force_flux, state_particles=charges,
        reference="declared (kind: dots)", kind="pauli", spec=dict(spec), constants=constants,
        channel_model=channel_model, channel_lead=tuple(lead_pos[ch.split(":")[0]] for ch in channel_names),
        charges=charges, kernel=_kernel_structure(codes, code_index, index, coulomb, channels, leads, reservoir,
                                                  eps_names, occupation, charges))
    return model


def _kernel_structure(codes, code_index, index, coulomb, channels, leads, reservoir, eps_names, occupation,
                      charges) -> dict:
    """Static arrays of the fused kernel: edges, their Coulomb pairs, channels and parameter rows."""
    pair_i = np.array([i for i, _, _ in coulomb], dtype=np.uint64)
    pair_j = np.array([j for _, j, _ in coulomb], dtype=np.uint64)
    lead_pos = {lead: k for k, lead in enumerate(leads)}
    per_orbital: dict[int, int] = {}
    for _, orb, _ in channels:
        per_orbital[index[orb]] = per_orbital.get(index[orb], 0) + 1
    src, dst, ech, eorb, ptr, pidx = [], [], [], [], [0], []
    for ch, (lead, orb, _) in enumerate(channels):
        o = index[orb]
        bit = 1 << o
        for c in codes:
            if not c & bit and (c | bit) in code_index:
                src.append(code_index[c])
                dst.append(code_index[c | bit])
                ech.append(ch)
                eorb.append(o)
                for q, (i, j, _) in enumerate(coulomb):
                    if (i == o and c >> j & 1) or (j == o and c >> i & 1):
                        pidx.append(q)
                ptr.append(len(pidx))
    # an edge's representative: the first edge of its channel with the same Coulomb pairs (same ω,
    # rates and drive, computed once)
    first: dict[tuple, int] = {}
    rep = [first.setdefault((ech[e], tuple(pidx[ptr[e]:ptr[e + 1]])), e) for e in range(len(src))]
    # unsigned: numba emits no negative-index select for an unsigned index, which the kernel's
    # indirect indexing (R[e_src[e], e_dst[e]], ...) otherwise pays on every access (~15% of its time)
    edges = {"e_rep": rep, "e_src": src, "e_dst": dst, "e_ch": ech, "e_orb": eorb, "ep_ptr": ptr, "ep_idx": pidx,
             "ch_lead": [lead_pos[lead] for lead, _, _ in channels],
             "ch_orb": [index[orb] for _, orb, _ in channels]}
    return {
        **{key: np.array(v, dtype=np.uint64) for key, v in edges.items()},
        "occ": np.ascontiguousarray(occupation, dtype=float), "pair_i": pair_i, "pair_j": pair_j,
        "charge": np.array(charges, dtype=float),
        "ch_single": np.array([per_orbital[index[orb]] == 1 for _, orb, _ in channels], dtype=np.bool_),
        "rows": {"eps": tuple(eps_names), "U": tuple(u for _, _, u in coulomb),
                 "T": tuple(reservoir[lead][0] for lead in leads), "mu": tuple(reservoir[lead][1] for lead in leads),
                 "gamma": tuple(g for _, _, g in channels)},
    }


def _solve_fused(kernel: Mapping[str, Any], params: Mapping[str, Any], n_leads: int, d: int, ref: int = 0,
                 force_flux: Mapping[str, tuple[str, str]] | None = None,
                 kernel_method: str = "simd") -> SteadyState:
    """All observables of the cells in ``params`` by the fused kernel: ``kernel_method="simd"`` the
    vectorised one (:mod:`.dots_simd`, with the reference redoing the cells it flags), ``"reference"``
    :mod:`.dots_kernel` on every cell."""
    from .dots_kernel import forces_sigma_kernel
    from .dots_simd import solve_dots

    sizes = {np.size(v) for v in params.values() if not isinstance(v, str) and np.ndim(v) >= 1} - {1}
    if len(sizes) > 1:
        raise ValueError(f"parameter arrays must be flat and of one length; got lengths {sorted(sizes)}")
    n = sizes.pop() if sizes else 1

    def rows(names):
        out = np.empty((max(len(names), 1), n))
        for r, name in enumerate(names):
            out[r] = np.asarray(params[name], dtype=float).reshape(-1) if np.ndim(params[name]) else float(params[name])
        return out

    rw = kernel["rows"]
    eps_in, U_in, T_in, mu_in, gam_in = (rows(rw[k]) for k in ("eps", "U", "T", "mu", "gamma"))
    # every output a view of one allocation: numpy asks for transparent huge pages on blocks of
    # >= 4 MiB, so the first touch of a large solve faults per 2 MiB page, not per 4 KiB one
    shapes = [(n, d)] + [(n, n_leads)] * 6 + [(n,), (n,), (n, n_leads), (n,), (n,)]
    block = np.empty(sum(int(np.prod(sh)) for sh in shapes))
    views, at = [], 0
    for sh in shapes:
        size = int(np.prod(sh))
        views.append(block[at:at + size].reshape(sh))
        at += size
    p, J_E, J_N, J_Q, err_E, err_N, err_Q, sigma_micro, err_micro, rel_err, res_E, res_N = views
    structure = tuple(kernel[key] for key in ("occ", "pair_i", "pair_j", "charge", "e_src", "e_dst", "e_ch",
                                              "e_orb", "e_rep", "ep_ptr", "ep_idx", "ch_lead", "ch_orb", "ch_single"))
    solve_dots((eps_in, U_in, T_in, mu_in, gam_in, *structure, n_leads),
               (p, J_E, J_N, J_Q, err_E, err_N, err_Q, sigma_micro, err_micro, rel_err, res_E, res_N), kernel_method)
    state = SteadyState(p=p, J_E=J_E, J_N=J_N, J_Q=J_Q, sigma_micro=sigma_micro, rel_err=rel_err,
                        residual_E=res_E, residual_N=res_N,
                        abs_err={"J_E": err_E, "J_Q": err_Q, "J_N": err_N, "sigma_micro": err_micro})
    if force_flux is not None and n_leads > 1:  # forces, sigma and its bound in one compiled pass
        F = np.empty((2 * (n_leads - 1), n))
        sigma = np.empty(n)
        srel = np.empty(n)
        forces_sigma_kernel(T_in, mu_in, ref, J_E, J_N, err_E, err_N, F, sigma, srel)
        names = list(force_flux)  # F_E_λ, F_N_λ per other lead, in lead order (build_dots)
        state.forces = {name: F[k] for k, name in enumerate(names)}
        state.sigma = sigma
        state.sigma_rel_err = srel
    return state


def _per_channel_only(lead, omega, params):
    """A lead's rate depends on the orbital too: callers must use ``channel_model`` (KeyError so that
    generic callers, e.g. :func:`qtmsweep.thermo.classify.current_scales`, fall back)."""
    raise KeyError(f"declared dots model: the rates of lead {lead!r} depend on the orbital; "
                   "use model.channel_model.lead_rates(f'{lead}:{orbital}', ...)")


def _state_labels(raw, key, occupied: Mapping[int, tuple[str, ...]], orbitals) -> dict[int, str]:
    by_set = {frozenset(v): c for c, v in occupied.items()}
    if isinstance(raw, list):
        if len(raw) != len(occupied):
            raise SpecError(key, f"{len(raw)} labels for {len(occupied)} Fock states; allowed: one label per state "
                                 "in Fock order (" + ", ".join("+".join(v) or "0" for v in occupied.values()) + ")")
        raw = dict(zip(raw, (list(v) for v in occupied.values())))
    raw = as_mapping(raw, key, "states")
    labels: dict[int, str] = {}
    for label, occ in raw.items():
        k = f"{key}.{label}"
        if not isinstance(label, str) or not label:
            raise SpecError(k, f"{label!r} is not a valid state label; allowed: a non-empty string")
        if not isinstance(occ, (list, tuple)):
            raise SpecError(k, f"{occ!r} is not allowed; allowed: the list of occupied orbitals (e.g. [L, R] or [])")
        for o in occ:
            if o not in orbitals:
                raise SpecError(k, f"{o!r} is not an orbital; allowed: {', '.join(orbitals)}")
        c = by_set.get(frozenset(occ))
        if c is None:
            raise SpecError(k, f"{list(occ)} is not a Fock state inside the charge window")
        if c in labels:
            raise SpecError(k, f"the state {list(occ)} is already labelled {labels[c]!r}")
        labels[c] = label
    missing = [("+".join(v) or "0") for c, v in occupied.items() if c not in labels]
    if missing:
        raise SpecError(key, f"no label for the Fock state(s) {', '.join(missing)}; allowed: label every state "
                             "or none")
    return labels


def _check_connected(codes, code_index, transitions, labels, key) -> None:
    """Every Fock state must be reachable (else the steady state is not unique)."""
    by_label = {labels[c]: code_index[c] for c in codes}
    parent = list(range(len(codes)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for t in transitions:
        parent[find(by_label[t.source])] = find(by_label[t.target])
    roots = {find(k) for k in range(len(codes))}
    if len(roots) > 1:
        raise SpecError(key, "the Fock states inside the window fall into disconnected groups (no tunnelling "
                             "connects them), so the steady state is not unique; widen the window or couple "
                             "more orbitals")


def _sum_channels(state: SteadyState, channel_lead: np.ndarray, n_leads: int, model: DotsModel,
                  params: Mapping[str, Any]) -> SteadyState:
    """Currents and error bounds per lead from those per (lead, orbital) channel."""
    n = state.J_E.shape[0]
    S = np.zeros((channel_lead.size, n_leads))
    S[np.arange(channel_lead.size), channel_lead] = 1.0

    def agg(a):
        return None if a is None else np.asarray(a) @ S

    J_E, J_N = agg(state.J_E), agg(state.J_N)
    if state.J_Q is not None:
        J_Q = agg(state.J_Q)
    else:
        mu = np.stack([np.broadcast_to(np.asarray(params[model.lead_reservoir[lead][1]], dtype=float), (n,))
                       for lead in model.leads], axis=-1)
        J_Q = J_E - mu * J_N
    abs_err = None
    if getattr(state, "abs_err", None) is not None:
        abs_err = {k: (agg(v) if np.ndim(v) == 2 else v) for k, v in state.abs_err.items()}
    rel = state.rel_err
    if rel is not None and np.ndim(rel) == 2:  # per-channel bounds -> per lead: sum of absolute errors
        size = np.maximum(np.abs(state.J_E), np.abs(state.J_N))
        lead_size = np.maximum(np.abs(J_E), np.abs(J_N))
        err = agg(rel * size)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(err == 0, 0.0, err / lead_size)
    out = SteadyState(p=state.p, J_E=J_E, J_N=J_N, sigma_micro=state.sigma_micro, rel_err=rel, J_Q=J_Q)
    if abs_err is not None:
        out.abs_err = abs_err
    for extra in ("sigma_rel_err",):
        if getattr(state, extra, None) is not None:
            setattr(out, extra, getattr(state, extra))
    return out


def _exact_equilibrium(model: DotsModel, state: SteadyState, params: Mapping[str, Any]) -> SteadyState:
    """Cells where every lead has the same T and mu: Gibbs state, currents exactly 0."""
    n = state.J_E.shape[0]
    Ts = [np.broadcast_to(np.asarray(params[T], dtype=float), (n,)) for T, _ in model.lead_reservoir.values()]
    mus = [np.broadcast_to(np.asarray(params[m], dtype=float), (n,)) for _, m in model.lead_reservoir.values()]
    eq = np.ones(n, dtype=bool)
    for T, mu in zip(Ts[1:], mus[1:]):
        eq &= (T == Ts[0]) & (mu == mus[0])
    if not eq.any():
        return state
    E = np.broadcast_to(model.state_energies(params), (n, len(model.states)))[eq]
    N = np.asarray(model.charges, dtype=float)
    x = -(E - mus[0][eq, None] * N) / Ts[0][eq, None]
    w = np.exp(x - x.max(axis=1, keepdims=True))
    p = state.p.copy()
    p[eq] = w / w.sum(axis=1, keepdims=True)
    state.p = p
    for name in ("J_E", "J_N", "J_Q"):
        a = getattr(state, name)
        if a is not None:
            a = a.copy()
            a[eq] = 0.0
            setattr(state, name, a)
    if state.sigma_micro is not None:
        state.sigma_micro = np.where(eq, 0.0, state.sigma_micro)
    for name in ("residual_E", "residual_N"):  # all currents 0: residual 0
        if getattr(state, name, None) is not None:
            setattr(state, name, np.where(eq, 0.0, getattr(state, name)))
    if state.rel_err is not None:
        r = np.array(state.rel_err, dtype=float, copy=True)
        r[eq] = 0.0
        state.rel_err = r
    if getattr(state, "abs_err", None) is not None:
        state.abs_err = {k: np.where(eq if np.ndim(v) == 1 else eq[:, None], 0.0, v) for k, v in state.abs_err.items()}
    if getattr(state, "sigma_rel_err", None) is not None:
        state.sigma_rel_err = np.where(eq, 0.0, state.sigma_rel_err)
    if state.sigma is not None:
        state.sigma = np.where(eq, 0.0, state.sigma)
    return state
