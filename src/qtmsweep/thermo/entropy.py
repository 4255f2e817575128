"""Entropy production rate in its macroscopic forms (SPEC §1, 000 Eqs. 30–32)."""

from __future__ import annotations

from typing import Mapping

import numpy as np


def entropy_production_from_heat(J_Q: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """``σ = −Σ_λ J_Q[λ]/T_λ`` (000 Eq. 30); ``J_Q`` and ``temperatures`` are ``(..., n_leads)``.

    Examples
    --------
    >>> import numpy as np
    >>> float(entropy_production_from_heat(np.array([1.0, -1.0]), np.array([2.0, 1.0])))
    0.5
    """
    return -(np.asarray(J_Q) / np.asarray(temperatures)).sum(axis=-1)


def entropy_production_from_forces(fluxes: Mapping[str, np.ndarray], forces: Mapping[str, np.ndarray]) -> np.ndarray:
    """``σ = Σ_k J_k F_k`` over conjugate pairs sharing a key (000 Eq. 32).

    Examples
    --------
    >>> float(entropy_production_from_forces({"F1": 2.0, "F2": -1.0}, {"F1": 0.5, "F2": -1.0}))
    2.0
    """
    keys = list(forces)
    total = np.zeros(np.broadcast_shapes(*(np.shape(forces[k]) for k in keys), *(np.shape(fluxes[k]) for k in keys)))
    for k in keys:
        total = total + np.asarray(fluxes[k]) * np.asarray(forces[k])
    return total
