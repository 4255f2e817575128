"""Reduced models I and II of ``cqd`` and their force-space coordinates (SPEC §2, 000 §V).

* **I** (``T_a = T_b = 1/β``): forces ``(F_E_r, F_N_b)``, fluxes ``(J_E[r], J_N[b])``;
  reference ``(β_r, μ_b)``: ``β = β_r + F_E_r``, ``μ_a = μ_b − F_N_b/β``.
* **II** (``T_a = T_r = 1/β'``): forces ``(F_E_b, F_N_b)``, fluxes ``(J_E[b], J_N[b])``;
  reference ``(β_b, μ_b)``: ``β' = β_b + F_E_b``, ``μ_a = (β_b μ_b − F_N_b)/β'``.

Examples
--------
>>> p = force_space_parameters("I", F_E_r=0.5, F_N_b=1.5, beta_r=1.0, mu_b=1.0)
>>> round(float(p["T_a"]), 6), round(float(p["mu_a"]), 6)
(0.666667, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReducedModel:
    name: str
    forces: tuple[str, str]
    fluxes: tuple[tuple[str, str], tuple[str, str]]  # (variable, lead) conjugate to each force
    equal_temperatures: tuple[str, str]
    forces_parallel: bool
    description: str


REDUCED_MODELS = {
    "I": ReducedModel("I", ("F_E_r", "F_N_b"), (("J_E", "r"), ("J_N", "b")), ("T_a", "T_b"), False,
                      "T_a = T_b; Sánchez–Büttiker configuration (001 §IX.1.3): forces act on different reservoirs"),
    "II": ReducedModel("II", ("F_E_b", "F_N_b"), (("J_E", "b"), ("J_N", "b")), ("T_a", "T_r"), True,
                       "T_a = T_r; both forces act on reservoir b (001 §X)"),
}
#: The single force pair of ``sqd``.
SQD_PAIR = ReducedModel("sqd", ("F_E_l", "F_N_l"), (("J_E", "l"), ("J_N", "l")), ("T_l", "T_l"), True,
                        "single dot: both forces act across the same junction")


def get_reduced_model(name: str) -> ReducedModel:
    try:
        return REDUCED_MODELS[str(name)]
    except KeyError:
        raise ValueError(f"reduced_model={name!r} is not known; allowed: 'I', 'II'") from None


def force_space_parameters(reduced_model: str, *, mu_b, F_E_r=None, F_E_b=None, F_N_b, beta_r=None, beta_b=None,
                           mu_r=None) -> dict[str, np.ndarray]:
    """Temperatures and chemical potentials of ``cqd`` implied by a point in force space.

    Raises ``ValueError`` when a force would need a non-positive temperature.
    """
    rm = get_reduced_model(reduced_model).name
    F_N_b = _numeric(F_N_b)
    mu_b = _numeric(mu_b)
    if rm == "I":
        if F_E_r is None or beta_r is None:
            raise ValueError("reduced model I needs F_E_r and beta_r")
        beta = float(beta_r) + _numeric(F_E_r)
        _check_beta("F_E_r", F_E_r, beta, f"> {-float(beta_r)} (so that beta = beta_r + F_E_r > 0)")
        T = 1.0 / beta
        out = {"T_a": T, "T_b": T, "T_r": 1.0 / float(beta_r), "mu_a": mu_b - F_N_b / beta, "mu_b": mu_b}
    else:
        if F_E_b is None or beta_b is None:
            raise ValueError("reduced model II needs F_E_b and beta_b")
        beta = float(beta_b) + _numeric(F_E_b)
        _check_beta("F_E_b", F_E_b, beta, f"> {-float(beta_b)} (so that beta' = beta_b + F_E_b > 0)")
        T = 1.0 / beta
        out = {"T_a": T, "T_r": T, "T_b": 1.0 / float(beta_b),
               "mu_a": (float(beta_b) * mu_b - F_N_b) / beta, "mu_b": mu_b}
    if mu_r is not None:
        out["mu_r"] = _numeric(mu_r)
    return out


def _numeric(x):
    """Float version of a scalar, array or DataArray (DataArrays keep their dims)."""
    return x.astype(float) if hasattr(x, "dims") else np.asarray(x, dtype=float)


def _check_beta(name, force, beta, allowed):
    beta = np.asarray(getattr(beta, "values", beta))
    force = np.broadcast_to(np.asarray(getattr(force, "values", force), dtype=float), beta.shape)
    bad = ~(beta > 0)
    if np.any(bad):
        raise ValueError(f"{name}={float(force[bad].flat[0])!r} is not allowed; allowed: {allowed}")
