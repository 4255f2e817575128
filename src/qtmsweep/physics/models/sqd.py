"""``sqd``: a single spinless level between two fermionic leads ``l`` and ``r`` (SPEC §2; 001 §IV–VII).

States ``0`` and ``1`` (energies 0 and ``eps``).  The closed form is
``J_N[l] = γ_l γ_r (f_l − f_r)/(γ_l + γ_r)`` with the Fermi difference written as
``f(x) − f(y) = (1 − f(x)) f(y) expm1(y − x)`` and ``y − x`` formed from input
differences, so near-equilibrium currents keep a small relative error.
"""

from __future__ import annotations

import numpy as np

from ..distributions import (
    fermi_np,
    inverse_temperature_difference_np,
    reduced_energy_difference_np,
    scaled_mu_difference_np,
)
from ..model import Parameter, RateModel, SteadyState, Transition, fermionic_lead_rates, fermionic_rate_deviation
from ..precision import relative_bound
from ..registry import register

_EPS = np.finfo(float).eps
_TINY = np.finfo(float).tiny

PARAMETERS = (
    Parameter("eps", "energy", "dot level energy", 1.0),
    Parameter("T_l", "temperature", "temperature of lead l", 1.0),
    Parameter("T_r", "temperature", "temperature of lead r", 1.0),
    Parameter("mu_l", "chemical_potential", "chemical potential of lead l", 0.0),
    Parameter("mu_r", "chemical_potential", "chemical potential of lead r", 0.0),
    Parameter("gamma_l", "rate", "tunnel rate of lead l", 1.0),
    Parameter("gamma_r", "rate", "tunnel rate of lead r", 1.0),
)


def state_energies(params):
    eps = np.asarray(params["eps"], dtype=float)
    return np.stack([np.zeros_like(eps), eps], axis=-1)


_RATES = {lead: fermionic_lead_rates(f"T_{lead}", f"mu_{lead}", f"gamma_{lead}") for lead in ("l", "r")}
_DEVIATION = {lead: fermionic_rate_deviation(f"T_{lead}", f"mu_{lead}", f"gamma_{lead}") for lead in ("l", "r")}


def forces(params):
    T_l, T_r = params["T_l"], params["T_r"]
    return {
        "F_E_l": inverse_temperature_difference_np(T_r, T_l),
        "F_N_l": scaled_mu_difference_np(T_l, params["mu_l"], T_r, params["mu_r"]),
    }


def fermi_difference(x, y, d):
    """``f(x) − f(y)`` given ``d = y − x`` computed precisely; never overflows."""
    fx, fy = fermi_np(x), fermi_np(y)
    hx, hy = fermi_np(-x), fermi_np(-y)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(d <= 0, hx * fy * np.expm1(np.minimum(d, 0.0)), -fx * hy * np.expm1(-np.maximum(d, 0.0)))


def closed_form(params) -> SteadyState:
    eps, T_l, T_r, mu_l, mu_r, g_l, g_r = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(params[k], dtype=float)) for k in
          ("eps", "T_l", "T_r", "mu_l", "mu_r", "gamma_l", "gamma_r")))
    x_l = (eps - mu_l) / T_l
    x_r = (eps - mu_r) / T_r
    t1 = (T_l - T_r) * (eps - mu_r)  # the two parts of x_r - x_l (see reduced_energy_difference)
    t2 = T_r * (mu_l - mu_r)
    d = reduced_energy_difference_np(eps, T_r, mu_r, T_l, mu_l)  # x_r - x_l
    g = g_l + g_r
    with np.errstate(invalid="ignore", divide="ignore"):
        jn = g_l * g_r / g * fermi_difference(x_l, x_r, d)
        p1 = (g_l * fermi_np(x_l) + g_r * fermi_np(x_r)) / g
        p0 = (g_l * fermi_np(-x_l) + g_r * fermi_np(-x_r)) / g
        rel = np.where(jn != 0, 8 * _EPS + _EPS * (np.abs(t1) + np.abs(t2)) / np.abs(t1 + t2), 0.0)
    J_N = np.stack([jn, -jn], axis=-1)
    J_E = eps[:, None] * J_N
    # heat currents (eps - mu) J_N, no J_E - mu J_N cancellation; sigma = J_N[l] (x_r - x_l) = jn d
    q_l, q_r = eps - mu_l, eps - mu_r
    J_Q = np.stack([q_l * jn, -q_r * jn], axis=-1)
    lp = np.log(np.maximum(p0, _TINY)) - np.log(np.maximum(p1, _TINY))
    sigma_micro = np.where(jn != 0, jn * (-x_l + lp) - jn * (-x_r + lp), 0.0)
    # absolute error bounds: the Fermi functions of x = (eps - mu)/T carry a relative error of
    # eps (|eps| + |mu|)/T from the rounding of x (cancelling in the difference except through d)
    rho = _EPS * (8 + 3 * np.maximum((np.abs(eps) + np.abs(mu_l)) / T_l, (np.abs(eps) + np.abs(mu_r)) / T_r))
    e_n = (rel + rho) * np.abs(jn)
    e_E = np.abs(eps)[:, None] * (e_n + _EPS * np.abs(jn))[:, None] * np.ones(2)
    e_Q = np.stack([np.abs(q_l) * (e_n + 2 * _EPS * np.abs(jn)), np.abs(q_r) * (e_n + 2 * _EPS * np.abs(jn))], axis=-1)
    abs_err = {"J_E": e_E, "J_N": np.stack([e_n, e_n], axis=-1), "J_Q": e_Q}
    sigma = jn * d
    e_sigma = np.abs(d) * (e_n + 2 * _EPS * np.abs(jn)) + np.abs(jn) * _EPS * (2 * np.abs(d) + np.abs(t1) + np.abs(t2)) / (T_l * T_r)
    return SteadyState(p=np.stack([p0, p1], axis=-1), J_E=J_E, J_N=J_N, J_Q=J_Q, sigma=sigma, sigma_micro=sigma_micro,
                       abs_err=abs_err, sigma_rel_err=relative_bound(e_sigma, sigma))


SQD = register(RateModel(
    name="sqd",
    description="single quantum dot between two fermionic leads (001 §IV–VII)",
    states=("0", "1"),
    leads=("l", "r"),
    parameters=PARAMETERS,
    state_energies=state_energies,
    transitions=(Transition("0", "1", "l"), Transition("0", "1", "r")),
    lead_rates=lambda lead, omega, params: _RATES[lead](omega, params),
    rate_deviation=lambda lead, omega, params, T0, mu0: _DEVIATION[lead](omega, params, T0, mu0),
    lead_reservoir={"l": ("T_l", "mu_l"), "r": ("T_r", "mu_r")},
    forces=forces,
    force_flux={"F_E_l": ("J_E", "l"), "F_N_l": ("J_N", "l")},
    state_particles=(0, 1),
    closed_form=closed_form,
    reference="001 (Ghosh, Ghosh) §IV–VII",
    cell_bytes=256,  # measured peak ~160 B/cell
))
