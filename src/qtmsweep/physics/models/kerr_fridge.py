"""``kerr_fridge``: Kerr-coupled resonators as an absorption refrigerator (SPEC §2; 003 §IV A, App. B).

``H = eps1 n1 + eps2 n2 + delta_z n1 n2``; resonator 1 couples to the filtered baths
``L`` and ``R``, resonator 2 to ``C`` (same baths as ``qubit_fridge``).  The number basis
is truncated to ``N1`` and ``N2`` levels (``n_i = 0 … N_i − 1``; ``N1 = N2 = 2`` is the
ZZ-coupled qubit pair of 003 §III A).  003 writes ``N_i = max(n_i)``, which contradicts its
own statement that ``N1 = N2 = 2`` is the qubit case; the number of levels is the reading
that makes both true.

The master equation is 003 Eq. 14–17 (App. B13): ``(n1, n2) → (n1 + 1, n2)`` at
``(n1 + 1) K_α(ω̃) n_α(ω̃)`` from each bath α ∈ {L, R} with ``ω̃ = eps1 + delta_z n2``
(the reverse at ``(n1 + 1) K_α (1 + n_α)``), and ``(n1, n2) → (n1, n2 + 1)`` at
``(n2 + 1) K_C(ω̃₂) n_C(ω̃₂)`` with ``ω̃₂ = eps2 + delta_z n1``.  It is a
:class:`~qtmsweep.physics.model.RateModel` (transitions with ``particles = 0`` and
``weight = n + 1``, bosonic ``lead_rates`` with the exact log-ratio ``−ω/T``), built for each
``(N1, N2)`` and solved by the generic Pauli solver.  The heat currents are
``J_Q[λ] = Tr[H_S L_λ ρ]`` (003 Eq. 18; ``J_Q[C]`` is 003's ``J_C``, heat out of C).

Truncation convergence (reported with every result): the currents are also computed with
``(N1 + 1, N2)`` and ``(N1, N2 + 1)``; ``truncation_change(lead)`` is the larger change of
``J_Q[lead]``, ``truncation_rel_change`` the largest over leads relative to
``max |J_Q|``, and ``p_top_1``/``p_top_2`` the populations of the highest kept level of
each resonator.  A result is converged when these are small.

The aliases ``T, dT`` and ``filters="resonant"`` of ``qubit_fridge`` apply (003's symmetric
bias and filter positions).

Examples
--------
>>> import qtmsweep
>>> ds = qtmsweep.solve("kerr_fridge", N1=3, N2=3, eps1=1.0, eps2=1.0, delta_z=0.05, T_L=1.3, T_R=1.0,
...                     T_C=0.7, Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, Omega_L=1.0, Omega_R=1.05,
...                     Omega_C=1.05, eps_c=10.0)
>>> [str(s) for s in ds.state.values[:3]], float(ds.cooling_power) > 0
(['0,0', '0,1', '0,2'], True)
>>> float(ds.truncation_rel_change) < 0.5
True
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from ..batch import batch_size
from ..baths import filtered_rates
from ..fridge import (
    BATH_PARAMETERS,
    FORCE_FLUX,
    FRIDGE_OUTPUTS,
    LEADS,
    fridge_forces,
    fridge_performance,
    normalize,
)
from ..lindblad import LindbladModel
from ..model import OutputVariable, Parameter, RateModel, SteadyState, Transition
from ..pauli import solve_rate_equations
from ..precision import heat_entropy_bounds, relative_bound
from ..registry import register

#: 003 Fig. 7's filter positions and cutoff as defaults (eps1 = eps2 = 1, delta_z = 0.05)
_KERR_DEFAULTS = {"Omega_L": 1.0, "Omega_R": 1.05, "Omega_C": 1.05, "eps_c": 10.0}

PARAMETERS = (
    Parameter("eps1", "energy", "frequency of resonator 1 (baths L, R)", 1.0),
    Parameter("eps2", "energy", "frequency of resonator 2 (bath C)", 1.0),
    Parameter("delta_z", "energy", "Kerr cross-coupling delta_z n1 n2", 0.05),
    *(replace(p, default=_KERR_DEFAULTS[p.name]) if p.name in _KERR_DEFAULTS else p for p in BATH_PARAMETERS),
    Parameter("N1", "integer", "levels kept for resonator 1 (n1 = 0 .. N1-1)", 3, minimum=2),
    Parameter("N2", "integer", "levels kept for resonator 2 (n2 = 0 .. N2-1)", 3, minimum=2),
)


def state_label(n1: int, n2: int) -> str:
    return f"{n1},{n2}"


def _lead_rates(lead: str, omega: np.ndarray, params: Mapping[str, np.ndarray]):
    return filtered_rates(omega, params[f"T_{lead}"], params[f"Gamma_{lead}"], params[f"Omega_{lead}"], params["eps_c"])


@lru_cache(maxsize=64)
def truncated_model(N1: int, N2: int) -> RateModel:
    """The :class:`RateModel` of the Kerr pair truncated to ``N1 × N2`` number states."""
    states = tuple(state_label(a, b) for a in range(N1) for b in range(N2))
    n1 = np.array([a for a in range(N1) for _ in range(N2)], dtype=float)
    n2 = np.array([b for _ in range(N1) for b in range(N2)], dtype=float)

    def energies(params):
        e1, e2, dz = (np.asarray(params[k], dtype=float)[..., None] for k in ("eps1", "eps2", "delta_z"))
        return e1 * n1 + e2 * n2 + dz * n1 * n2

    transitions = []
    for a in range(N1):
        for b in range(N2):
            if a + 1 < N1:
                for lead in ("L", "R"):
                    transitions.append(Transition(state_label(a, b), state_label(a + 1, b), lead, particles=0,
                                                  weight=float(a + 1)))
            if b + 1 < N2:
                transitions.append(Transition(state_label(a, b), state_label(a, b + 1), "C", particles=0,
                                              weight=float(b + 1)))
    return RateModel(
        name=f"kerr_fridge[{N1},{N2}]",
        description="Kerr-coupled resonators truncated to N1 x N2 levels",
        states=states,
        leads=LEADS,
        parameters=PARAMETERS,
        state_energies=energies,
        transitions=tuple(transitions),
        lead_rates=_lead_rates,
        lead_reservoir={lead: (f"T_{lead}", None) for lead in LEADS},
        forces=fridge_forces,
        force_flux=FORCE_FLUX,
        particle_exchange=False,
        reference="003 §IV A, App. B",
    )


#: Bytes of rate matrix per sub-batch of the generic Pauli solver (bounds the peak memory).
_BATCH_BYTES = 64 * 2**20


def _solve_batched(model: RateModel, params: Mapping[str, Any], n: int):
    """:func:`solve_rate_equations` in sub-batches of bounded memory; fields concatenated."""
    d = len(model.states)
    step = max(64, _BATCH_BYTES // (8 * d * d))
    if n <= step:
        return solve_rate_equations(model, params)
    parts = []
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        parts.append(solve_rate_equations(model, {k: (np.broadcast_to(v, (n,))[sl] if np.ndim(v) else v)
                                                  for k, v in params.items()}))
    cat = {f: np.concatenate([getattr(s, f) for s in parts]) for f in ("p", "J_E", "J_Q", "sigma_micro")}
    abs_err = {k: np.concatenate([s.abs_err[k] for s in parts]) for k in parts[0].abs_err}
    return SteadyState(J_N=None, abs_err=abs_err, **cat)


def evaluate(params: Mapping[str, Any], method: str) -> SteadyState:
    if method != "linear":
        raise ValueError(f"method={method!r} is not available for kerr_fridge; allowed: 'auto', 'linear'")
    N1, N2 = int(params.get("N1", 3)), int(params.get("N2", 3))
    numeric = {k: v for k, v in params.items() if k not in ("N1", "N2")}
    n = batch_size(numeric)
    base = _solve_batched(truncated_model(N1, N2), numeric, n)
    up1 = _solve_batched(truncated_model(N1 + 1, N2), numeric, n)
    up2 = _solve_batched(truncated_model(N1, N2 + 1), numeric, n)
    J = base.J_E
    change = np.maximum(np.abs(up1.J_E - J), np.abs(up2.J_E - J))
    scale = np.abs(J).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_change = np.where(scale > 0, change.max(axis=1) / scale, 0.0)
    p = base.p.reshape(n, N1, N2)
    T = np.stack([np.broadcast_to(np.asarray(params[f"T_{lead}"], dtype=float), (n,)) for lead in LEADS], axis=-1)
    err = base.abs_err["J_E"]
    sigma, sigma_rel_err, bad = heat_entropy_bounds(J, T, err, ref=1)
    micro_bad = (base.sigma_micro < 0) & (relative_bound(base.abs_err["sigma_micro"], base.sigma_micro) < 1.0)
    extras = fridge_performance(J, numeric, n)
    extras.update({
        "truncation_change": (("lead",), change),
        "truncation_rel_change": ((), rel_change),
        "p_top_1": ((), p[:, -1, :].sum(axis=1)),
        "p_top_2": ((), p[:, :, -1].sum(axis=1)),
        "second_law_violated": ((), bad | micro_bad),
    })
    return SteadyState(p=base.p, J_E=J, J_N=None, J_Q=J.copy(), sigma=sigma, sigma_micro=base.sigma_micro,
                       rel_err=relative_bound(err, J), sigma_rel_err=sigma_rel_err, extras=extras,
                       states=truncated_model(N1, N2).states)


EXTRA_OUTPUTS = {
    **FRIDGE_OUTPUTS,
    "truncation_change": OutputVariable("energy/time", "max(|J_Q(N1+1,N2) - J_Q|, |J_Q(N1,N2+1) - J_Q|) per lead"),
    "truncation_rel_change": OutputVariable("1", "largest truncation_change relative to max_lead |J_Q|"),
    "p_top_1": OutputVariable("1", "population of the highest kept level of resonator 1 (n1 = N1-1)"),
    "p_top_2": OutputVariable("1", "population of the highest kept level of resonator 2 (n2 = N2-1)"),
}

KERR_FRIDGE = register(LindbladModel(
    name="kerr_fridge",
    description="Kerr-coupled resonators with filtered bosonic baths L, R, C (003 §IV A): Pauli equation "
                "on the number basis truncated to N1 x N2 levels",
    states=truncated_model(3, 3).states,
    leads=LEADS,
    parameters=PARAMETERS,
    evaluate=evaluate,
    methods=("linear",),
    auto_method="linear",
    aliases={"pauli": "linear"},
    lead_reservoir={lead: (f"T_{lead}", None) for lead in LEADS},
    forces=fridge_forces,
    force_flux=FORCE_FLUX,
    extra_outputs=EXTRA_OUTPUTS,
    normalize=normalize,
    reference="003 (Bhandari, Jordan) §IV A, App. B",
    kind="pauli",
    # measured ~1.4, 3.9 and 4.9 kB/cell at N1 x N2 = 4, 9 and 25 levels (4e4 cells, N and N+1 solves)
    cell_bytes=lambda p: 1024 + 512 * int(p.get("N1", 3)) * int(p.get("N2", 3)),
))
