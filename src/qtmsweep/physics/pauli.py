"""Generic batched solver of Pauli rate equations.

Builds the rate matrix ``W`` of every grid cell from a :class:`RateModel`'s
transitions and solves ``W p = 0`` with ``sum(p) = 1`` by one batched
``numpy.linalg.solve``.  It works for any rate model and is the reference the
closed-form kernels are tested against.  Currents are evaluated edge by edge as
``k_in p_i - k_out p_j``; near equilibrium that difference loses relative
precision, which the returned ``rel_err`` bound reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

from .model import SteadyState

if TYPE_CHECKING:  # pragma: no cover
    from .model import RateModel

_TINY = np.finfo(float).tiny
_EPS = np.finfo(float).eps


def solve_rate_equations(model: "RateModel", params: Mapping[str, np.ndarray]) -> SteadyState:
    """Steady state of ``model`` on flat parameter arrays (all of one length ``n`` or scalars)."""
    n = _batch_size(params)
    params = {k: (np.broadcast_to(v, (n,)) if np.ndim(v) <= 1 and not isinstance(v, str) else v) for k, v in params.items()}
    energies = np.broadcast_to(model.state_energies(params), (n, len(model.states)))
    index = {s: i for i, s in enumerate(model.states)}
    lead_index = {lead: i for i, lead in enumerate(model.leads)}
    n_states = len(model.states)

    edges = []
    W = np.zeros((n, n_states, n_states))
    for t in model.transitions:
        i, j = index[t.source], index[t.target]
        omega = energies[:, j] - energies[:, i]
        k_in, k_out, log_ratio = model.lead_rates(t.lead, omega, params)
        k_in = np.broadcast_to(t.weight * k_in if t.weight != 1.0 else k_in, (n,))
        k_out = np.broadcast_to(t.weight * k_out if t.weight != 1.0 else k_out, (n,))
        W[:, j, i] += k_in
        W[:, i, j] += k_out
        edges.append((i, j, lead_index[t.lead], t.particles, omega, k_in, k_out, np.broadcast_to(log_ratio, (n,))))
    W[:, range(n_states), range(n_states)] -= W.sum(axis=1)

    A = W.copy()
    A[:, -1, :] = 1.0
    b = np.zeros((n, n_states))
    b[:, -1] = 1.0
    with np.errstate(all="ignore"):
        p = np.linalg.solve(A, b[..., None])[..., 0]
    p = np.clip(p, 0.0, None)  # round-off can leave -1e-17 on an unpopulated state
    p /= p.sum(axis=1, keepdims=True)
    log_p = np.log(np.maximum(p, _TINY))

    n_leads = len(model.leads)
    mu = {lead: (np.broadcast_to(np.asarray(params[m], dtype=float), (n,)) if m else np.zeros(n))
          for lead, (_, m) in model.lead_reservoir.items()}
    J_E = np.zeros((n, n_leads))
    J_N = np.zeros((n, n_leads))
    J_Q = np.zeros((n, n_leads))
    gross = {k: np.zeros((n, n_leads)) for k in ("E", "N", "Q")}
    sigma_micro = np.zeros(n)
    gross_micro = np.zeros(n)
    for (i, j, lead, particles, omega, k_in, k_out, log_ratio), t in zip(edges, model.transitions):
        forward = k_in * p[:, i]
        backward = k_out * p[:, j]
        flux = forward - backward
        both = forward + backward
        heat = omega - particles * mu[t.lead]
        J_E[:, lead] += omega * flux
        J_N[:, lead] += particles * flux
        J_Q[:, lead] += heat * flux
        gross["E"][:, lead] += np.abs(omega) * both
        gross["N"][:, lead] += abs(particles) * both
        gross["Q"][:, lead] += np.abs(heat) * both
        with np.errstate(all="ignore"):
            affinity = log_ratio + log_p[:, i] - log_p[:, j]
            sigma_micro += np.where(flux != 0.0, flux * affinity, 0.0)
            gross_micro += np.where(flux != 0.0, both * np.abs(affinity), 0.0)

    # absolute error bounds: the edge fluxes k_in p_i - k_out p_j are differences of the gross
    # traffic, each side carrying the relative error of the solve and of the rates
    abs_err = {k: 64 * _EPS * g for k, g in (("J_E", gross["E"]), ("J_N", gross["N"]), ("J_Q", gross["Q"]))}
    abs_err["sigma_micro"] = 64 * _EPS * gross_micro
    return SteadyState(
        p=p,
        J_E=J_E,
        J_N=J_N if model.particle_exchange else None,
        J_Q=J_Q,
        sigma_micro=sigma_micro,
        abs_err=abs_err if model.particle_exchange else {k: v for k, v in abs_err.items() if k != "J_N"},
    )


def _batch_size(params: Mapping[str, np.ndarray]) -> int:
    sizes = {np.size(v) for v in params.values() if not isinstance(v, str) and np.ndim(v) >= 1}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"parameter arrays must be flat and of one length; got lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 1
