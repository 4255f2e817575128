"""Bosonic baths: filtered (Lorentzian) spectral density and absorption/emission rates.

Conventions (SPEC §1–2, 003 Eq. 3 and App. A):

* Bose occupation ``n(ω) = 1/(e^{ω/T} − 1)`` for ω > 0.
* A transition that takes the system *up* by ``ω > 0`` absorbs a quantum from the
  bath at rate ``K(ω) n(ω)``; the reverse (emission) has rate ``K(ω)(1 + n(ω))``.
  Their ratio is ``e^{−ω/T}`` exactly (local detailed balance).
* A transition of energy ``ω < 0`` is an emission of ``|ω|``: the rates depend on
  ``|ω|`` only (003 Eq. A11, "only one term survives").
* The filtered spectral density of 003 Eq. 3 is
  ``K(ω) = Γ(ω)/((ω − Ω)² + Γ(ω)²)`` with ``Γ(ω) = Γ ω Θ(ε_c − ω)`` — a *high-energy*
  cutoff: 003 prints ``Θ(ω − ε_c)``, which with its figures' ``ε_c = 10–20 k_B T`` would
  switch every transition off (SPEC §2 reading).  ``K(ω) = 0`` for ``ω ≤ 0``.

``K n`` and ``K (1 + n)`` are evaluated as ``Γ T Θ/((ω−Ω)² + Γ²ω²) · x/(e^x − 1)`` and
``… · x/(1 − e^{−x})`` with ``x = ω/T``, finite for every ``x ≥ 0`` (including
``ω → 0``, where ``K n → Γ T/Ω²``) and free of overflow for ``x`` up to 1e3 and beyond.

Examples
--------
>>> import numpy as np
>>> from qtmsweep.physics.baths import filtered_rates, filtered_spectral_density
>>> up, down, log_ratio = filtered_rates(np.array([1.0]), T=0.5, Gamma=0.02, Omega=1.0, eps_c=10.0)
>>> bool(np.isclose(up / down, np.exp(-1.0 / 0.5))[0]), float(log_ratio[0])
(True, -2.0)
>>> float(filtered_spectral_density(1.0, Gamma=0.02, Omega=1.0, eps_c=10.0))  # peak value 1/(Γ Ω)
50.0
>>> float(filtered_spectral_density(11.0, Gamma=0.02, Omega=1.0, eps_c=10.0))  # above the cutoff
0.0
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "bose",
    "x_over_expm1",
    "filtered_spectral_density",
    "filtered_rates",
    "flat_rates",
]


def bose(omega: ArrayLike, T: ArrayLike) -> np.ndarray:
    """Bose occupation ``1/(e^{ω/T} − 1)`` (``expm1``; graceful underflow for large ω/T)."""
    x = np.asarray(omega, dtype=float) / np.asarray(T, dtype=float)
    with np.errstate(over="ignore", divide="ignore"):
        return 1.0 / np.expm1(x)


def x_over_expm1(x: ArrayLike) -> np.ndarray:
    """``x/(e^x − 1)`` for any real ``x`` (1 at x = 0; no overflow for large |x|)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = x / np.expm1(x)
    return np.where(x == 0.0, 1.0, out)


def filtered_spectral_density(omega: ArrayLike, Gamma: ArrayLike, Omega: ArrayLike, eps_c: ArrayLike) -> np.ndarray:
    """003 Eq. 3 with the cutoff reading of SPEC §2: ``K(ω) = Γω Θ(ε_c−ω)/((ω−Ω)² + (Γω)²)``, 0 for ω ≤ 0.

    At ``ω = Ω`` it peaks at ``1/(Γ Ω)``; its width is ``Γ Ω``.
    """
    w = np.asarray(omega, dtype=float)
    g = np.asarray(Gamma, dtype=float) * w
    on = (w > 0) & (w <= np.asarray(eps_c, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        k = g / ((w - Omega) ** 2 + g * g)
    return np.where(on, k, 0.0)


def filtered_rates(omega: ArrayLike, T: ArrayLike, Gamma: ArrayLike, Omega: ArrayLike, eps_c: ArrayLike):
    """Rates of a transition of energy ``ω`` (either sign) with a filtered bosonic bath.

    Returns ``(k_up, k_down, log_ratio)``: ``k_up`` is the rate of the transition in the
    direction that changes the system energy by ``+ω`` (absorption when ω > 0,
    emission of ``|ω|`` when ω < 0), ``k_down`` the reverse, and
    ``log_ratio = ln(k_up/k_down) = −ω/T`` exactly.
    """
    w = np.asarray(omega, dtype=float)
    T = np.asarray(T, dtype=float)
    a = np.abs(w)
    x = a / T
    gam = np.asarray(Gamma, dtype=float)
    on = a <= np.asarray(eps_c, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # K(|ω|) T/|ω| = Γ T Θ / ((|ω| − Ω)² + Γ²ω²): at ω = 0 both rates take their limit Γ T/Ω²
        pref = gam * T / ((a - Omega) ** 2 + (gam * a) ** 2)
    pref = np.where(on, pref, 0.0)
    absorb = pref * x_over_expm1(x)  # K n
    emit = pref * x_over_expm1(-x)  # K (1 + n)  [x/(1 - e^{-x}) = (-x)/expm1(-x)]
    up = np.where(w >= 0, absorb, emit)
    down = np.where(w >= 0, emit, absorb)
    return up, down, -w / T


def flat_rates(omega: ArrayLike, T: ArrayLike, gamma: ArrayLike):
    """Rates of a flat (Markovian, 004 Eq. 2) bosonic bath: up ``γ n(|ω|)``, down ``γ(1+n(|ω|))``
    for ω > 0 (swapped for ω < 0); returns ``(k_up, k_down, −ω/T)``.  At ``ω = 0`` the occupation
    diverges (both rates are infinite); callers keep transition energies > 0.
    """
    w = np.asarray(omega, dtype=float)
    a = np.abs(w)
    g = np.asarray(gamma, dtype=float)
    n = bose(a, T)
    absorb, emit = g * n, g * (1.0 + n)
    return np.where(w >= 0, absorb, emit), np.where(w >= 0, emit, absorb), -w / np.asarray(T, dtype=float)


def bose_difference(omega: ArrayLike, T: ArrayLike, T0: ArrayLike) -> np.ndarray:
    """``n(ω/T) − n(ω/T0)`` for ω ≥ 0 without cancellation when ``T ≈ T0``.

    ``n(a) − n(b) = expm1(b − a) n(b)/(1 − e^{−a})`` with ``b − a = ω (T − T0)/(T T0)`` formed
    from the input difference ``T − T0`` (exact 0 at ``T = T0``); the plain difference where
    ``|b − a| ≥ 1``.  At ``ω = 0`` both occupations diverge: returns 0 there (callers use the
    finite limit of ``K n``).
    """
    w = np.asarray(omega, dtype=float)
    T = np.asarray(T, dtype=float)
    T0 = np.asarray(T0, dtype=float)
    a = w / T
    d = w * (T - T0) / (T * T0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        near = np.expm1(d) * bose(w, T0) / (-np.expm1(-a))
        far = bose(w, T) - bose(w, T0)
    out = np.where(np.abs(d) < 1.0, near, far)
    return np.where((w > 0) & (T != T0), out, 0.0)


def filtered_rate_deviation(omega: ArrayLike, T: ArrayLike, T0: ArrayLike, Gamma: ArrayLike, Omega: ArrayLike,
                            eps_c: ArrayLike):
    """``(k_up(T) − k_up(T0), k_down(T) − k_down(T0), difference of the two)`` of :func:`filtered_rates`.

    Both rates change by ``K(|ω|) (n(T) − n(T0))`` (:func:`bose_difference`), so the third value is 0;
    at ``ω = 0`` by the limit ``Γ (T − T0)/Ω²`` of ``K n``.
    """
    w = np.asarray(omega, dtype=float)
    a = np.abs(w)
    gam = np.asarray(Gamma, dtype=float)
    T = np.asarray(T, dtype=float)
    T0 = np.asarray(T0, dtype=float)
    on = a <= np.asarray(eps_c, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        K = gam * a / ((a - Omega) ** 2 + (gam * a) ** 2)
        zero_limit = gam * (T - T0) / ((a - Omega) ** 2 + (gam * a) ** 2)
    dk = np.where(a > 0, K * bose_difference(a, T, T0), zero_limit)
    dk = np.where(on, dk, 0.0)
    return dk, dk, np.zeros_like(dk)
