"""The three filtered bosonic baths ``L``, ``R``, ``C`` of 003's absorption refrigerators.

Shared by the models of seed 003 (``qubit_fridge``, ``kerr_fridge``): the bath parameters,
the aliases of 003's figures (:func:`normalize`), the spectra of the baths
(:func:`bath_spectrum`, built on :func:`qtmsweep.physics.baths.filtered_rates`), the forces
with reference bath R (:func:`fridge_forces`) and the refrigerator's performance outputs
(:func:`fridge_performance`: ``cooling_power``, ``cop``, ``cop_carnot``).  Conventions are
SPEC §2's: ``J_Q[C] > 0`` is heat drawn out of bath C.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .baths import filtered_rates
from .batch import flat_param as _arr
from .model import OutputVariable, Parameter

__all__ = [
    "LEADS",
    "BATH_PARAMETERS",
    "FORCE_FLUX",
    "FRIDGE_OUTPUTS",
    "normalize",
    "bath_spectrum",
    "fridge_forces",
    "fridge_performance",
]

LEADS = ("L", "R", "C")

BATH_PARAMETERS = (
    Parameter("T_L", "temperature", "temperature of bath L (hot)", 1.3),
    Parameter("T_R", "temperature", "temperature of bath R (reference, T)", 1.0),
    Parameter("T_C", "temperature", "temperature of bath C (cold, the one refrigerated)", 0.7),
    Parameter("Gamma_L", "dimensionless", "filter width of bath L: Gamma_L(w) = Gamma_L w (003 Eq. 3)", 0.02, minimum=0.0),
    Parameter("Gamma_R", "dimensionless", "filter width of bath R", 0.08, minimum=0.0),
    Parameter("Gamma_C", "dimensionless", "filter width of bath C", 0.06, minimum=0.0),
    Parameter("Omega_L", "energy", "filter resonance of bath L (003: eps1)", 2.0),
    Parameter("Omega_R", "energy", "filter resonance of bath R (003: eps1 + delta_z)", 2.1),
    Parameter("Omega_C", "energy", "filter resonance of bath C (003: eps2 + delta_z)", 2.1),
    Parameter("eps_c", "energy", "high-energy cutoff of the filters, Theta(eps_c - w) (SPEC §2 reading of 003 Eq. 3)", 20.0),
)


def normalize(params: dict, *, cold_bias: float = -1.0) -> dict:
    """003's parametrisations of its figures, as aliases (resolved before validation).

    * ``T`` and ``dT`` (both or neither, instead of ``T_L, T_R, T_C``): the symmetric bias of
      003 Figs. 3–5, 7, 8: ``T_L = T + dT``, ``T_R = T``, ``T_C = T − dT``; ``cold_bias = 0``
      reads ``T_C = T`` instead (003 Fig. 10, ``kerr_negf``).
    * ``filters="resonant"`` (instead of ``Omega_L, Omega_R, Omega_C``): the filter positions
      003 uses throughout, ``Omega_L = eps1``, ``Omega_R = eps1 + delta_z``,
      ``Omega_C = eps2 + delta_z``.

    >>> sorted(normalize({"T": 1.0, "dT": 0.3, "eps1": 2.0, "eps2": 2.1, "delta_z": 0.1, "filters": "resonant"}).items())
    [('Omega_C', 2.2), ('Omega_L', 2.0), ('Omega_R', 2.1), ('T_C', 0.7), ('T_L', 1.3), ('T_R', 1.0), ('delta_z', 0.1), ('eps1', 2.0), ('eps2', 2.1)]
    """
    params = dict(params)
    if "T" in params or "dT" in params:
        clash = [k for k in ("T_L", "T_R", "T_C") if k in params]
        if clash:
            raise ValueError(f"give either T, dT or the temperatures T_L, T_R, T_C, not both ({clash[0]} given)")
        if "T" not in params or "dT" not in params:
            cold = "T_C = T - dT" if cold_bias == -1.0 else "T_C = T"
            raise ValueError(f"T and dT must be given together (T_L = T + dT, T_R = T, {cold})")
        T, dT = params.pop("T"), params.pop("dT")
        params.update(T_L=T + dT, T_R=T, T_C=T + cold_bias * dT)
    if "filters" in params:
        if params["filters"] != "resonant":
            raise ValueError(f"filters={params['filters']!r} is not allowed; allowed: 'resonant' "
                             "(Omega_L = eps1, Omega_R = eps1 + delta_z, Omega_C = eps2 + delta_z)")
        clash = [k for k in ("Omega_L", "Omega_R", "Omega_C") if k in params]
        if clash:
            raise ValueError(f"give either filters='resonant' or the filter positions, not both ({clash[0]} given)")
        missing = [k for k in ("eps1", "eps2", "delta_z") if k not in params]
        if missing:
            raise ValueError(f"filters='resonant' needs {missing[0]}")
        del params["filters"]
        params.update(Omega_L=params["eps1"], Omega_R=params["eps1"] + params["delta_z"],
                      Omega_C=params["eps2"] + params["delta_z"])
    return params


def bath_spectrum(params: Mapping[str, Any], lead: str, n: int):
    """``ω -> (K n, K (1+n))`` of bath ``lead`` for ω > 0 of shape ``(n, ...)``."""
    T, G, Om, ec = (_arr(params, k, n) for k in (f"T_{lead}", f"Gamma_{lead}", f"Omega_{lead}", "eps_c"))

    def spectrum(omega: np.ndarray):
        shape = (n,) + (1,) * (np.ndim(omega) - 1)
        up, down, _ = filtered_rates(omega, T.reshape(shape), G.reshape(shape), Om.reshape(shape), ec.reshape(shape))
        return up, down

    return spectrum


def fridge_forces(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference bath R: ``F_E_L = 1/T_R − 1/T_L``, ``F_E_C = 1/T_R − 1/T_C`` (no cancellation)."""
    T_L, T_R, T_C = (np.asarray(params[k], dtype=float) for k in ("T_L", "T_R", "T_C"))
    return {"F_E_L": (T_L - T_R) / (T_L * T_R), "F_E_C": (T_C - T_R) / (T_C * T_R)}


FORCE_FLUX = {"F_E_L": ("J_Q", "L"), "F_E_C": ("J_Q", "C")}


def fridge_performance(J_Q: np.ndarray, params: Mapping[str, Any], n: int) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """``cooling_power``, ``cop`` and ``cop_carnot`` of the absorption fridge (leads L, R, C)."""
    T = np.stack([_arr(params, f"T_{lead}", n) for lead in LEADS], axis=-1)
    hot = np.argmax(T, axis=-1)
    J_hot = np.take_along_axis(J_Q, hot[:, None], axis=-1)[:, 0]
    J_C = J_Q[:, 2]
    T_H = T.max(axis=-1)
    T_M = np.where(hot == 0, T[:, 1], T[:, 0])  # the bath that is neither hottest nor C
    T_C = T[:, 2]
    fridge = (T_C < T_M) & (T_M < T_H)  # C is the coldest bath: drawing heat from it is refrigeration
    with np.errstate(divide="ignore", invalid="ignore"):
        cop = np.where(fridge & (J_C > 0) & (J_hot > 0), J_C / J_hot, np.nan)
        carnot = np.where(fridge, T_C * (T_H - T_M) / (T_H * (T_M - T_C)), np.nan)
    return {"cooling_power": ((), J_C.copy()), "cop": ((), cop), "cop_carnot": ((), carnot)}


FRIDGE_OUTPUTS = {
    "cooling_power": OutputVariable("energy/time", "heat drawn out of bath C, J_Q[C] (C is cooled when > 0)"),
    "cop": OutputVariable("1", "coefficient of performance J_Q[C]/J_Q[hottest bath] (NaN unless both > 0 "
                               "and C is the coldest bath, T_C < T_M < T_H)"),
    "cop_carnot": OutputVariable("1", "Carnot bound of the absorption fridge T_C (T_H - T_M)/(T_H (T_M - T_C)) "
                                      "(NaN unless T_C < T_M < T_H)"),
    "second_law_violated": OutputVariable("1", "True where sigma or sigma_full < -tolerance (a second-law "
                                               "violation of the master equation, reported not hidden)"),
}
