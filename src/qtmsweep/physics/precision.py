"""Per-component precision bounds (SPEC §5): from absolute error bounds to ``rel_err(lead)``.

A kernel knows, for every current it returns, an upper bound ``e`` on its absolute
rounding error (``|computed − exact| ≤ e``).  The *relative* error bound is then taken
with respect to the exact value, which is only known to lie within ``e`` of the
computed one:

    ``|computed − exact| / |exact| ≤ e / (|computed| − e)``   when ``e < |computed|``,

``inf`` when ``e ≥ |computed|`` (not even the sign is guaranteed) and ``0`` when
``e = 0`` (an exact value, e.g. a current that vanishes by construction).  A bound
below 1 guarantees the sign.

``rel_err[:, lead]`` is the largest of the bounds of that lead's ``J_E``, ``J_N`` and
``J_Q``; ``sigma_rel_err`` the bound of ``sigma``.

Examples
--------
>>> import numpy as np
>>> relative_bound(np.array([0.5, 0.0, 1.0, 2.0]), np.array([1.5, 0.0, 1.0, 4.0])).tolist()
[0.5, 0.0, inf, 1.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPS", "relative_bound", "lead_bound", "sigma_error"]

EPS = float(np.finfo(float).eps)


def relative_bound(err: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``e/(|v| − e)`` (0 where ``e = 0``, ``inf`` where ``e ≥ |v|``); see the module docstring."""
    err = np.asarray(err, dtype=float)
    mag = np.abs(np.asarray(value, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = err / (mag - err)
    r = np.where(err < mag, r, np.inf)
    r = np.where(err == 0.0, 0.0, r)
    return np.where(np.isnan(err) | np.isnan(mag), np.inf, r)


def lead_bound(*pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``max`` over ``(err, value)`` pairs of :func:`relative_bound`: one lead's ``rel_err`` from its currents."""
    out = None
    for err, value in pairs:
        r = relative_bound(err, value)
        out = r if out is None else np.maximum(out, r)
    return out


def sigma_error(terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Absolute error bound of ``σ = Σ_k J_k F_k`` from ``(J_k, err_J_k, F_k)``.

    Each force carries a relative error of at most 4 ulp (formed from input differences:
    one subtraction, one product, one division) and each product and sum a few more.
    """
    err = 0.0
    for J, eJ, F in terms:
        aF = np.abs(F)
        err = err + aF * eJ + 8 * EPS * np.abs(J) * aF
    return np.asarray(err, dtype=float)


def heat_entropy_bounds(J_Q: np.ndarray, T: np.ndarray, err: np.ndarray, ref: int = 1):
    """``σ``, its relative error bound and the second-law flag of a heat-only model.

    ``σ`` is :func:`qtmsweep.physics.lindblad.heat_entropy_production`'s (reference bath
    ``ref``; a non-conservation within the currents' error bounds ``err`` is dropped).  Its
    absolute error is at most ``Σ_λ |F_λ| (err_λ + 4 ε |J_λ|) + (Σ_λ err_λ + 2 ε Σ_λ |J_λ|)/T_ref``
    with ``F_λ = 1/T_ref − 1/T_λ``.  The second law is violated where ``σ < 0`` with its sign
    resolved (``sigma_rel_err < 1``).

    Returns ``(sigma, sigma_rel_err, violated)``.
    """
    from .lindblad import heat_entropy_production

    sigma, _, _ = heat_entropy_production(J_Q, T, err / (16 * EPS), ref=ref)
    T_ref = T[..., ref:ref + 1]
    F = np.abs((T - T_ref) / (T * T_ref))
    aJ = np.abs(J_Q)
    e = (F * (err + 4 * EPS * aJ)).sum(axis=-1) + (err.sum(axis=-1) + 2 * EPS * aJ.sum(axis=-1)) / T_ref[..., 0]
    srel = relative_bound(e, sigma)
    return sigma, srel, (sigma < 0) & (srel < 1.0)
