"""Occupation functions and differences of them, free of overflow and cancellation.

All functions are numba-compiled ufunc-like kernels on float64 that also accept
numpy arrays (vectorised through :func:`numpy.vectorize`-free broadcasting: the
``*_np`` variants are pure numpy).  The scalar ``@njit`` versions are what the
fused model kernels call.

Conventions (SPEC §1): ``x = (omega - mu) / T``.

Examples
--------
>>> from qtmsweep.physics.distributions import fermi_np, bose_np
>>> float(fermi_np(0.0))
0.5
>>> float(fermi_np(1000.0)) == 0.0 or float(fermi_np(1000.0)) < 1e-300
True
>>> round(float(bose_np(1.0, 1.0)), 6)
0.581977
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "fermi",
    "fermi_np",
    "fermi_pair",
    "bose_np",
    "log_fermi_np",
    "reduced_energy_difference",
    "reduced_energy_difference_np",
    "inverse_temperature_difference",
    "inverse_temperature_difference_np",
    "scaled_mu_difference_np",
]


@njit(cache=True, inline="always", error_model="numpy")
def fermi(x: float) -> float:
    """Fermi function 1/(1+e^x), evaluated on the side where the exponential decays."""
    if x > 0.0:
        e = math.exp(-x)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(x))


@njit(cache=True, inline="always", error_model="numpy")
def reduced_energy_difference(omega: float, t1: float, mu1: float, t2: float, mu2: float) -> float:
    """``x1 - x2`` with ``x_k = (omega - mu_k)/T_k``, without cancellation.

    Uses ``x1 - x2 = [(T2 - T1)(omega - mu1) + T1 (mu2 - mu1)] / (T1 T2)``: the
    input differences ``T2 - T1`` and ``mu2 - mu1`` are exact in floating point
    when the inputs are close (Sterbenz), so small reduced-energy biases keep a
    small relative error.
    """
    return ((t2 - t1) * (omega - mu1) + t1 * (mu2 - mu1)) / (t1 * t2)


@njit(cache=True, inline="always", error_model="numpy")
def inverse_temperature_difference(t1: float, t2: float) -> float:
    """``1/T1 - 1/T2 = (T2 - T1)/(T1 T2)``, exact to rounding when T1 ≈ T2."""
    return (t2 - t1) / (t1 * t2)


def fermi_np(x):
    """Vectorised Fermi function 1/(1+e^x); finite for any finite x (no overflow)."""
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x > 0, e / (1.0 + e), 1.0 / (1.0 + e))


def log_fermi_np(x):
    """``ln f(x) = -ln(1 + e^x)``, finite for any finite x."""
    return -np.logaddexp(0.0, np.asarray(x, dtype=float))


def bose_np(omega, temperature):
    """Bose occupation ``1/(e^{omega/T} - 1)`` for omega > 0 (``expm1`` keeps small omega/T exact).

    For ``omega/T`` beyond ~709 the result underflows gracefully to 0.
    """
    x = np.asarray(omega, dtype=float) / np.asarray(temperature, dtype=float)
    with np.errstate(over="ignore"):
        return 1.0 / np.expm1(x)


def reduced_energy_difference_np(omega, t1, mu1, t2, mu2):
    """Vectorised :func:`reduced_energy_difference`."""
    return ((t2 - t1) * (omega - mu1) + t1 * (mu2 - mu1)) / (t1 * t2)


def inverse_temperature_difference_np(t1, t2):
    """Vectorised ``1/T1 - 1/T2`` without cancellation."""
    return (t2 - t1) / (t1 * t2)


def scaled_mu_difference_np(t1, mu1, t2, mu2):
    """``mu1/T1 - mu2/T2 = [mu1 (T2 - T1) + T1 (mu1 - mu2)] / (T1 T2)`` without cancellation."""
    return (mu1 * (t2 - t1) + t1 * (mu1 - mu2)) / (t1 * t2)


@njit(cache=True, inline="always", error_model="numpy")
def fermi_pair(x):
    """``(f(x), 1 - f(x))`` with ``f(x) = 1/(e^x + 1)`` from a single exponential, without overflow
    (the fused Pauli kernels of ``cqd`` and the declared dots models)."""
    e = math.exp(-abs(x))
    r = 1.0 / (1.0 + e)
    if x > 0.0:
        return e * r, r
    return r, e * r
