"""``kerr_negf``: Kerr-coupled resonators by Keldysh Green's functions (SPEC §5; 003 §IV B, App. C).

The system of ``kerr_fridge`` — ``H_S = eps1 n1 + eps2 n2 + delta_z n1 n2``, resonator 1 on the
filtered baths ``L``, ``R``, resonator 2 on ``C``, rotating-wave coupling (003 Eq. 13) — without
truncation, in 003's approximation: mean-field (Hartree) retarded functions and the single-bubble
exchange-correlation self-energy evaluated with them (003 Eqs. 20–30, Fig. 9, App. C).

Notation: every Keldysh function of this model is imaginary; we write ``G^≷ = −i g^≷`` and
``Σ^≷ = −i σ^≷`` with ``g, σ ≥ 0``.  Frequencies ``ω ∈ (0, ε_c)`` (``K_η = 0`` outside).

Baths (003 Eq. 3, SPEC §2 cutoff ``Θ(ε_c − ω)``)
    ``σ_η^< = n_η K_η``, ``σ_η^> = (1 + n_η) K_η`` (003 below Eq. 24), ``n_η`` Bose at ``T_η``.
Retarded functions (003 Eq. 21, App. C7)
    ``G^r_j(ω) = 1/(ω − ε̃_j − Σ^r_j(ω))`` with the Hartree shifts ``ε̃1 = eps1 + delta_z ⟨n2⟩``,
    ``ε̃2 = eps2 + delta_z ⟨n1⟩`` and ``Σ^r_j = Λ_j − i w K_j`` (``K_1 = K_L + K_R``,
    ``K_2 = K_C``).  ``width`` picks ``w``:

    * ``"keldysh"``: ``w = 1/2``, the retarded function the printed ``Σ^≷`` imply
      (``Σ^r − Σ^a = Σ^> − Σ^<``); at ``delta_z = 0`` this is the exact solution of the quadratic
      model and agrees with the master equation in the weak-coupling limit.
    * ``"paper"``: ``w = 1`` with the printed ``Σ^≷`` unchanged — a width ``K`` (not ``K/2``).
      Not a consistent Keldysh structure (the non-interacting spectral weight is ½, the
      occupations about half the Bose values); kept as the reading of 003 that was asked for.

    ``lamb_shift="on"`` adds ``Λ_j(ω) = (w/π) P∫ dω' K_j(ω')/(ω − ω')`` (the Kramers–Kronig
    partner of the width, discrete Hilbert transform on the grid); ``"off"`` (default) keeps the
    dissipative part only, as 003's master equation does (App. B11).
Occupations (Hartree loop)
    ``⟨n_j⟩ = ∫ dω/2π g^<_j`` with the mean-field ``g^<_j = |G^r_j|² σ^<_{bath,j}``, solved by the
    damped iteration ``n ← (1 − α) n + α F(n)`` until ``|F(n) − n| ≤ tol · max(1, |n|)``
    (``hartree_damping = α``, ``hartree_tol``).  Where strong feedback makes the damped map
    oscillate (``hartree_max_iter`` reached), the scalar equation ``n1 = F1(F2(n1))`` (F1 depends
    on n2 only, F2 on n1 only) is bracketed and bisected to the same tolerance
    (``hartree_bisected``; with several fixed points bisection returns one of them).
    ``hartree_iterations`` counts the map evaluations a cell needed.  A shifted resonance
    outside ``(0, ε_c)`` (``K = 0`` there: an undamped pole the grid cannot hold) gives NaN
    currents and ``resonances_in_band = False``.  A cell that does not converge in ``hartree_max_iter`` gets NaN currents.
Exchange-correlation self-energy (003 Eq. 29, Fig. 9), from the converged mean-field functions
    ``Σ^<_j(t,t') = −Δz² G^<_j(t,t') P^<_k(t,t')`` with the density-correlation bubble
    ``P^≷_k(t,t') = G^≷_k(t,t') G^≶_k(t',t)`` (``bubble="density"``, default): in frequency
    ``σ^≷_j(ω) = Δz² ∫dν/2π g^≷_j(ω − ν) p^≷_k(ν)``, ``p^<_k(ν) = ∫dω'/2π g^<_k(ω' + ν) g^>_k(ω')``,
    ``p^>_k(ν) = p^<_k(−ν)``.  It follows from ``⟨δn_k(t') δn_k(t)⟩`` of a Gaussian state and obeys
    KMS at equilibrium, so every current vanishes there.  ``bubble="as_printed"`` takes 003's
    superscripts literally (``G^≷_k(t,t') G^≷_k(t',t)``): no KMS, a spurious heat current at equal
    temperatures (kept to document it; see docs/negf.md).
Currents (003 Eqs. 24, 28, 30 with SPEC §1's sign: positive = heat leaving the bath)
    ``g^≷_j = |G^r_j|² (σ^≷_{bath,j} + σ^≷_{xc,j})`` and
    ``J_Q[η] = ∫dω/2π ω [g^>_j σ_η^< − g^<_j σ_η^>]``, i.e.
    ``J_Q[C] = ∫dω/2π ω |G^r_2|² (σ^>_xc,2 σ_C^< − σ^<_xc,2 σ_C^>)`` (003 Eq. 30 up to its sign:
    003's Eq. 24 is the heat *entering* C) and
    ``J_Q[L] = ∫dω/2π ω |G^r_1|² [K_L K_R (n_L − n_R) + σ^>_xc,1 σ_L^< − σ^<_xc,1 σ_L^>]`` (the
    first term is the Caroli/Landauer current through resonator 1), ``R`` likewise.
Not conserving (reported, not hidden)
    ``Σ^r_xc`` is not in ``G^r``, so the sum rules fail:
    ``sum_rule_residual_j = ∫dω/2π |G^r_j|² (σ^>_j − σ^<_j) − 1`` (total σ, on (0, ε_c)) is far
    from 0 (about −0.8 at 003 Fig. 10 with the paper's width, where even the mean-field part is
    not normalised: a purely dissipative ``Σ^r`` is not causal).  The energy balance
    ``energy_balance = J_Q[L] + J_Q[R] + J_Q[C]`` is reported too; it vanishes to round-off,
    because the xc terms of the currents are ``∫ω (σ^>_xc g^<_mf − σ^<_xc g^>_mf)`` with the same
    mean-field ``g`` that build ``σ_xc``, and each bubble process conserves ``ω_1 + ω_2`` (exactly
    also on the grid, whose convolution frequencies are exact multiples of ``h``).

Numerics
--------
Midpoint grid ``ω_i = (i + ½) h`` on ``(0, ε_c)``, ``h = ε_c/N``; correlations and convolutions
by zero-padded real FFTs (``scipy.fft``, size ``≥ 2N``: one product ``rfft(g_j) rfft(g_k)
conj(rfft(g_k'))`` per self-energy).  ``d_omega > 0`` sets the target step; ``d_omega = 0``
(default) takes ``min(width)/points_per_width`` with the widths the filter peaks
``Γ_η Ω_η`` and the resonance widths ``w K_j`` at ``eps_j`` and ``eps_j + delta_z`` (003 Fig. 10:
``Γ_L Ω_L = 0.02 k_BT``, a step ``0.0025 k_BT`` at the default 8 points per width); ``N`` is
rounded up to a multiple of 16 so that cells of one batch share few grids (each grid is one
vectorised batch; a cell's result does not depend on what else is in its batch).

Every cell is computed on ``h`` and on ``h/2``.  The currents are those at ``h``;
``grid_change(lead) = |J(h) − J(h/2)|``; the quadratures are O(h²), so the error of ``J(h)`` is
``≈ 4/3 grid_change`` once converged, and ``discretisation_err(lead) = 3 grid_change`` is its
bound (tested against ``h/8``).  ``rounding_err(lead)`` bounds the floating-point error (FFT
error ``∝ ε log₂L`` times the 1-norms of the factors, plus the cancellation in the
integrand), which is what is left at equilibrium.  ``rel_err(lead)`` is
:func:`~qtmsweep.physics.precision.relative_bound` of (discretisation + rounding) and ``J_Q``
(SPEC §5; an exactly zero current — C at ``delta_z = 0`` — has bound 0, an unresolved sign inf).  The
Hartree tolerance enters both grids alike and is below these bounds at the default ``1e-10``.

Examples
--------
>>> import qtmsweep
>>> from qtmsweep.physics.registry import get_model
>>> p = get_model("kerr_negf").defaults()
>>> ds = qtmsweep.solve("kerr_negf", **{**p, "T_L": 1.0, "T_R": 1.0, "T_C": 1.0})
>>> bool(abs(ds.J_Q.sel(lead="C")) <= ds.rounding_err.sel(lead="C"))   # equilibrium: no current
True
>>> ds = qtmsweep.solve("kerr_negf", **{**p, "T_L": 1.5, "T_R": 1.0, "T_C": 1.0})
>>> int(ds.hartree_iterations) > 0, bool(ds.rel_err.max() < 1e-2)
(True, True)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import scipy.fft as sfft

from ..batch import batch_size
from ..baths import bose, filtered_spectral_density
from ..fridge import (
    FORCE_FLUX,
    FRIDGE_OUTPUTS,
    LEADS,
    fridge_forces,
    fridge_performance,
)
from ..lindblad import LindbladModel, heat_entropy_production
from ..model import OutputVariable, Parameter, SteadyState
from ..precision import relative_bound
from ..registry import register

_EPS = np.finfo(float).eps
_TWO_PI = 2.0 * np.pi
#: Largest grid (points on the finer of the two grids) a cell may ask for.
MAX_POINTS = 2**18
#: Bytes of working arrays per sub-batch of cells.
_BATCH_BYTES = 64 * 2**20
#: Working arrays of length L (complex counts double) per cell held at once, measured upper bound.
_ARRAYS_PER_POINT = 48

PARAMETERS = (
    Parameter("eps1", "energy", "frequency of resonator 1 (baths L, R); 0 < eps1 < eps_c", 2.0),
    Parameter("eps2", "energy", "frequency of resonator 2 (bath C); 0 < eps2 < eps_c", 2.0),
    Parameter("delta_z", "energy", "Kerr cross-coupling delta_z n1 n2", 0.2),
    Parameter("T_L", "temperature", "temperature of bath L (hot, T + dT in 003 Fig. 10)", 1.3),
    Parameter("T_R", "temperature", "temperature of bath R (T)", 1.0),
    Parameter("T_C", "temperature", "temperature of bath C (T in 003 Fig. 10)", 1.0),
    Parameter("Gamma_L", "dimensionless", "filter width of bath L: Gamma_L(w) = Gamma_L w (003 Eq. 3)", 0.01,
              minimum=0.0),
    Parameter("Gamma_R", "dimensionless", "filter width of bath R", 0.02, minimum=0.0),
    Parameter("Gamma_C", "dimensionless", "filter width of bath C", 0.02, minimum=0.0),
    Parameter("Omega_L", "energy", "filter resonance of bath L (003: eps1)", 2.0),
    Parameter("Omega_R", "energy", "filter resonance of bath R (003: eps1 + delta_z)", 2.2),
    Parameter("Omega_C", "energy", "filter resonance of bath C (003: eps2 + delta_z)", 2.2),
    Parameter("eps_c", "energy", "high-energy cutoff Theta(eps_c - w) of the filters; the frequency grid "
                                 "covers (0, eps_c)", 7.0),
    Parameter("d_omega", "energy", "target frequency step (0: min(width)/points_per_width)", 0.0, minimum=0.0),
    Parameter("hartree_tol", "dimensionless", "Hartree loop stops when |F(n) - n| <= tol max(1, |n|)", 1e-10,
              minimum=0.0),
    Parameter("hartree_damping", "dimensionless", "damping alpha of n <- (1 - alpha) n + alpha F(n), 0 < alpha <= 1",
              0.5, minimum=0.0),
    Parameter("points_per_width", "integer", "grid points per narrowest width (when d_omega = 0)", 8, minimum=2),
    Parameter("hartree_max_iter", "integer", "most damped Hartree iterations before the bisection fallback", 200,
              minimum=1),
    Parameter("width", "choice", "retarded width: 'paper' (Sigma^r = -i K, 003's reading) or 'keldysh' "
                                 "(Sigma^r = -i K/2, consistent with the printed Sigma^<>)", "paper",
              choices=("paper", "keldysh")),
    Parameter("lamb_shift", "choice", "add the Kramers-Kronig real part of Sigma^r ('on') or not ('off')", "off",
              choices=("off", "on")),
    Parameter("bubble", "choice", "xc bubble: 'density' (G^<>_kk(t,t') G^><_kk(t',t)) or 'as_printed' (003 Eq. 29 "
                                  "literally; spurious equilibrium current)", "density",
              choices=("density", "as_printed")),
)
_NUMERIC = tuple(p.name for p in PARAMETERS if not p.structural)


def normalize(params: dict) -> dict:
    """003 §IV B's parametrisation as aliases (resolved before validation).

    * ``T, dT`` (both, instead of ``T_L, T_R, T_C``): ``T_L = T + dT``, ``T_R = T_C = T``
      (003 Fig. 10; note ``qubit_fridge``/``kerr_fridge`` read ``T_C = T − dT``).
    * ``filters="resonant"``: ``Omega_L = eps1``, ``Omega_R = eps1 + delta_z``,
      ``Omega_C = eps2 + delta_z``.

    >>> sorted(normalize({"T": 1.0, "dT": 0.5}).items())
    [('T_C', 1.0), ('T_L', 1.5), ('T_R', 1.0)]
    """
    from ..fridge import normalize as fridge_normalize

    return fridge_normalize(params, cold_bias=0.0)


# -- small helpers --------------------------------------------------------------------
def _arr(params: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(params[name], dtype=float), (n,)))


def _spectral(omega: np.ndarray, Gamma: np.ndarray, Omega: np.ndarray, eps_c: np.ndarray) -> np.ndarray:
    """003 Eq. 3 (cutoff reading of SPEC §2) on ``(n, N)``; exactly 0 where ``Gamma = 0``."""
    G, O, ec = (a[:, None] for a in (Gamma, Omega, eps_c))
    with np.errstate(invalid="ignore", divide="ignore"):
        K = filtered_spectral_density(omega, G, O, ec)
    return np.where(G > 0, K, 0.0)


def _w(width: str) -> float:
    return 0.5 if width == "keldysh" else 1.0


def _target_step(P: Mapping[str, np.ndarray], w: float, ppw: int) -> np.ndarray:
    """Auto step per cell: the narrowest filter peak or resonance width over ``points_per_width``."""
    widths = []
    for lead in LEADS:
        g, om = P[f"Gamma_{lead}"], P[f"Omega_{lead}"]
        widths.append(np.where((g > 0) & (om > 0), g * np.abs(om), np.inf))
    for j, baths in ((1, ("L", "R")), (2, ("C",))):
        for shift in (0.0, 1.0):
            x = (P[f"eps{j}"] + shift * P["delta_z"])[:, None]
            K = sum(_spectral(x, P[f"Gamma_{b}"], P[f"Omega_{b}"], P["eps_c"]) for b in baths)[:, 0]
            widths.append(np.where(K > 0, w * K, np.inf))
    width = np.min(np.stack(widths), axis=0)
    width = np.where(np.isfinite(width), width, P["eps_c"] / 64.0)
    return np.where(P["d_omega"] > 0, P["d_omega"], width / ppw)


def _check(P: Mapping[str, np.ndarray], structural: Mapping[str, Any]) -> None:
    """Errors naming parameter, value and what is allowed, before any work starts."""
    def bad(name, mask, allowed):
        if np.any(mask):
            v = float(np.asarray(P[name])[mask].flat[0])
            raise ValueError(f"{name}={v!r} (in {int(mask.sum())} of {mask.size} cells) is not allowed; "
                             f"allowed: {allowed}")

    ec = P["eps_c"]
    bad("eps_c", ~(ec > 0), "a finite number > 0 (the frequency grid is (0, eps_c))")
    for j in ("eps1", "eps2"):
        bad(j, ~((P[j] > 0) & (P[j] < ec)), "0 < value < eps_c (the resonance must lie in the bath continuum)")
    for lead in LEADS:
        bad(f"Omega_{lead}", ~(P[f"Omega_{lead}"] > 0), "a finite number > 0")
    bad("hartree_tol", ~(P["hartree_tol"] > 0), "a finite number > 0")
    bad("hartree_damping", ~((P["hartree_damping"] > 0) & (P["hartree_damping"] <= 1)), "0 < value <= 1")


# -- the kernel on one grid -----------------------------------------------------------
def _grid_solve(P: Mapping[str, np.ndarray], N: int, opts: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Everything on the midpoint grid of ``N`` points for the cells of ``P`` (arrays ``(c,)``)."""
    w = _w(opts["width"])
    ec = P["eps_c"]
    c = ec.shape[0]
    h = ec / N
    hh = (h / _TWO_PI)[:, None]  # dω/2π per cell
    omega = (np.arange(N) + 0.5)[None, :] * h[:, None]
    L = sfft.next_fast_len(2 * N, real=True)

    K, sl, sg, nb = {}, {}, {}, {}
    for lead in LEADS:
        K[lead] = _spectral(omega, P[f"Gamma_{lead}"], P[f"Omega_{lead}"], ec)
        nb[lead] = bose(omega, P[f"T_{lead}"][:, None])
        sl[lead] = K[lead] * nb[lead]
        sg[lead] = K[lead] * (1.0 + nb[lead])
    K1, K2 = K["L"] + K["R"], K["C"]
    s1l, s1g, s2l, s2g = sl["L"] + sl["R"], sg["L"] + sg["R"], sl["C"], sg["C"]

    if opts["lamb_shift"] == "on":
        m = np.arange(L)
        kern = np.zeros(L)
        pos = (m > 0) & (m < N)
        kern[pos] = 1.0 / m[pos]
        kern[L - m[pos]] = -1.0 / m[pos]  # c[-m] = -1/m, stored circularly
        Kk = sfft.rfft(kern)
        lam1 = (w / np.pi) * sfft.irfft(sfft.rfft(K1, L, axis=-1) * Kk, L, axis=-1)[:, :N]
        lam2 = (w / np.pi) * sfft.irfft(sfft.rfft(K2, L, axis=-1) * Kk, L, axis=-1)[:, :N]
    else:
        lam1 = lam2 = 0.0
    x1 = omega - lam1 - P["eps1"][:, None]  # ω − ε_1 − Λ_1, the Hartree shift still to subtract
    x2 = omega - lam2 - P["eps2"][:, None]
    wK1sq, wK2sq = (w * K1) ** 2, (w * K2) ** 2
    dz = P["delta_z"][:, None]

    def occupations(n1, n2, idx=slice(None)):
        A1 = 1.0 / ((x1[idx] - dz[idx] * n2) ** 2 + wK1sq[idx])
        A2 = 1.0 / ((x2[idx] - dz[idx] * n1) ** 2 + wK2sq[idx])
        return (hh[idx] * A1 * s1l[idx]).sum(axis=-1), (hh[idx] * A2 * s2l[idx]).sum(axis=-1)

    # -- Hartree loop (damped; converged cells frozen) ---------------------------------
    tol, alpha = P["hartree_tol"], P["hartree_damping"]
    n1, n2 = occupations(np.zeros(c)[:, None], np.zeros(c)[:, None])
    iters = np.ones(c, dtype=np.int64)
    done = np.zeros(c, dtype=bool)
    resid = np.full(c, np.inf)
    for it in range(1, int(opts["hartree_max_iter"]) + 1):
        f1, f2 = occupations(n1[:, None], n2[:, None])
        r = np.maximum(np.abs(f1 - n1) / np.maximum(1.0, np.abs(n1)), np.abs(f2 - n2) / np.maximum(1.0, np.abs(n2)))
        resid = np.where(done, resid, r)
        newly = ~done & (r <= tol)
        iters = np.where(newly, it, iters)
        done |= newly
        if done.all():
            break
        upd = ~done
        n1 = np.where(upd, (1 - alpha) * n1 + alpha * f1, n1)
        n2 = np.where(upd, (1 - alpha) * n2 + alpha * f2, n2)
    iters = np.where(done, iters, int(opts["hartree_max_iter"]))
    fallback = np.zeros(c, dtype=bool)
    if not done.all():
        # strong feedback (steep F): the damped map stalls.  F1 depends on n2 only and F2 on n1
        # only, so the fixed point solves the scalar equation n1 = F1(F2(n1)): bracket and bisect.
        idx = np.flatnonzero(~done)
        nn1, nn2, ok, res, used = _bisect_hartree(occupations, idx, n1[idx], tol[idx])
        n1[idx], n2[idx], resid[idx] = nn1, nn2, res
        done[idx] = ok
        fallback[idx] = ok
        iters[idx] += used

    e1t, e2t = P["eps1"] + P["delta_z"] * n2, P["eps2"] + P["delta_z"] * n1
    # a shifted resonance outside (0, eps_c) is an undamped pole the grid cannot hold (K = 0 there)
    in_band = (e1t > 0) & (e1t < ec) & (e2t > 0) & (e2t < ec)
    A1 = 1.0 / ((x1 - dz * n2[:, None]) ** 2 + wK1sq)  # |G^r_1|²
    A2 = 1.0 / ((x2 - dz * n1[:, None]) ** 2 + wK2sq)
    g1l, g1g, g2l, g2g = A1 * s1l, A1 * s1g, A2 * s2l, A2 * s2g

    # -- single bubble by FFT: σ^≷_j = Δz² (h/2π)² g^≷_j ⊛ (g^?_k ⋆ g^?_k') -----------------
    F = {name: sfft.rfft(a, L, axis=-1) for name, a in (("1l", g1l), ("1g", g1g), ("2l", g2l), ("2g", g2g))}
    if opts["bubble"] == "density":
        pairs = {"1l": ("2l", "2g"), "1g": ("2g", "2l"), "2l": ("1l", "1g"), "2g": ("1g", "1l")}
    else:  # 003 Eq. 29 as printed: P^≷_k(t,t') = G^≷_k(t,t') G^≷_k(t',t)
        pairs = {"1l": ("2l", "2l"), "1g": ("2g", "2g"), "2l": ("1l", "1l"), "2g": ("1g", "1g")}
    pref = (dz * hh) ** 2  # Δz² (h/2π)²
    norm1 = {k: np.abs(a).sum(axis=-1) for k, a in
             (("1l", g1l), ("1g", g1g), ("2l", g2l), ("2g", g2g))}
    fft_rel = 8.0 * _EPS * np.log2(L)
    xc, xc_err = {}, {}
    for j, (a, b) in pairs.items():
        xc[j] = pref * sfft.irfft(F[j] * F[a] * np.conj(F[b]), L, axis=-1)[:, :N]
        # |FFT error| <= c ε log₂L ‖g_j‖₁‖g_a‖₁‖g_b‖₁ (all factors >= 0), an absolute bound per point
        xc_err[j] = pref[:, 0] * fft_rel * norm1[j] * norm1[a] * norm1[b]

    # -- currents (SPEC §1: positive = heat leaving the bath) --------------------------------
    def xc_part(A, sxl, sxg, bl, bg):
        return A * (sxg * bl - sxl * bg)

    dn_LR = nb["L"] - nb["R"]
    land = A1 * K["L"] * K["R"] * dn_LR  # Caroli: |G|² K_L K_R (n_L − n_R)
    t = {
        "L": land + xc_part(A1, xc["1l"], xc["1g"], sl["L"], sg["L"]),
        "R": -land + xc_part(A1, xc["1l"], xc["1g"], sl["R"], sg["R"]),
        "C": xc_part(A2, xc["2l"], xc["2g"], sl["C"], sg["C"]),
    }
    J = np.stack([(hh * omega * t[lead]).sum(axis=-1) for lead in LEADS], axis=-1)
    # rounding: ε-level cancellation in the sums and integrands, plus the FFT error of σ_xc
    gross, rnd = [], []
    for lead, (A, jl, jg) in zip(LEADS, ((A1, "1l", "1g"), (A1, "1l", "1g"), (A2, "2l", "2g"))):
        mag = A * (np.abs(xc[jg]) * sl[lead] + np.abs(xc[jl]) * sg[lead])
        if lead != "C":
            mag = mag + A * K["L"] * K["R"] * (nb["L"] + nb["R"])
        G = (hh * omega * mag).sum(axis=-1)
        fft_part = (hh * omega * A * (xc_err[jg][:, None] * sl[lead] + xc_err[jl][:, None] * sg[lead])).sum(axis=-1)
        gross.append(G)
        rnd.append(16.0 * np.log2(N) * _EPS * G + 2.0 * fft_part)
    gross, rnd = np.stack(gross, axis=-1), np.stack(rnd, axis=-1)

    s1 = (hh * A1 * (K1 + xc["1g"] - xc["1l"])).sum(axis=-1)
    s2 = (hh * A2 * (K2 + xc["2g"] - xc["2l"])).sum(axis=-1)
    n1f = (hh * A1 * (s1l + xc["1l"])).sum(axis=-1)
    n2f = (hh * A2 * (s2l + xc["2l"])).sum(axis=-1)
    return {"J": J, "gross": gross, "rounding": rnd, "n1": n1, "n2": n2, "iters": iters, "converged": done,
            "fallback": fallback, "in_band": in_band,
            "hartree_residual": resid, "eps1_tilde": e1t, "eps2_tilde": e2t, "sum1": s1 - 1.0, "sum2": s2 - 1.0,
            "n1_full": n1f, "n2_full": n2f, "h": h}


def _bisect_hartree(occupations, idx, n1_start, tol, max_steps: int = 200):
    """Bisection of ``g(n1) = F1(F2(n1)) − n1`` on ``[0, hi]`` for the cells ``idx``.

    ``g(0) ≥ 0`` (occupations are ≥ 0) and ``hi`` is doubled until ``g(hi) ≤ 0``.  Stops when the
    2-D residual ``max |F(n) − n|/max(1, |n|)`` is ≤ ``tol``.  Returns ``n1, n2, converged,
    residual, evaluations``.
    """
    m = idx.size

    def g(a):
        _, b = occupations(a[:, None], np.zeros(m)[:, None], idx)  # n2 = F2(n1)
        f1, _ = occupations(np.zeros(m)[:, None], b[:, None], idx)
        return f1 - a, b

    lo, hi = np.zeros(m), np.maximum(2.0 * np.abs(n1_start), 1.0)
    used = 0
    for _ in range(60):
        gh, _ = g(hi)
        used += 1
        if np.all(gh <= 0):
            break
        hi = np.where(gh > 0, 2.0 * hi, hi)
    ok = np.zeros(m, dtype=bool)
    res = np.full(m, np.inf)
    mid, n2 = 0.5 * (lo + hi), np.zeros(m)
    for _ in range(max_steps):
        mid = np.where(ok, mid, 0.5 * (lo + hi))
        gm, n2m = g(mid)
        used += 1
        f1, f2 = occupations(n2=n2m[:, None], n1=mid[:, None], idx=idx)
        r = np.maximum(np.abs(f1 - mid) / np.maximum(1.0, mid), np.abs(f2 - n2m) / np.maximum(1.0, np.abs(n2m)))
        n2 = np.where(ok, n2, n2m)
        res = np.where(ok, res, r)
        ok |= r <= tol
        if ok.all():
            break
        lo = np.where(~ok & (gm > 0), mid, lo)
        hi = np.where(~ok & (gm <= 0), mid, hi)
    return mid, n2, ok, res, used


def _grid_points(P: Mapping[str, np.ndarray], structural: Mapping[str, Any]) -> np.ndarray:
    h = _target_step(P, _w(structural["width"]), int(structural["points_per_width"]))
    N = np.ceil(P["eps_c"] / h / 16.0).astype(np.int64) * 16
    too_many = 2 * N > MAX_POINTS
    if np.any(too_many):
        i = int(np.flatnonzero(too_many)[0])
        raise ValueError(
            f"the frequency grid needs {int(N[i])} points (step {float(P['eps_c'][i] / N[i])!r} over (0, eps_c = "
            f"{float(P['eps_c'][i])!r}), from d_omega={float(P['d_omega'][i])!r}, points_per_width="
            f"{int(structural['points_per_width'])} and the narrowest width); allowed: at most {MAX_POINTS // 2} "
            "points (raise d_omega, lower points_per_width, or widen the filters)")
    return N


def solve_cells(params: Mapping[str, Any], *, refine: int = 2) -> dict[str, np.ndarray]:
    """The kernel on flat parameter arrays: results on the chosen grid ``N`` and on ``refine · N``.

    Returns a dict of per-cell arrays; ``J_fine`` is the current on the finer grid.  Used by
    :func:`evaluate` (``refine = 2``) and by tests of the grid convergence.
    """
    n = batch_size({k: v for k, v in params.items() if k in _NUMERIC})
    structural = {p.name: params.get(p.name, p.default) for p in PARAMETERS if p.structural}
    P = {k: _arr({**{p.name: p.default for p in PARAMETERS}, **params}, k, n) for k in _NUMERIC}
    _check(P, structural)
    N = _grid_points(P, structural)
    out: dict[str, np.ndarray] = {}
    for Ng in np.unique(N):
        cells = np.flatnonzero(N == Ng)
        L = sfft.next_fast_len(2 * refine * int(Ng), real=True)
        step = max(1, _BATCH_BYTES // (8 * _ARRAYS_PER_POINT * L))
        for start in range(0, cells.size, step):
            idx = cells[start:start + step]
            sub = {k: v[idx] for k, v in P.items()}
            coarse = _grid_solve(sub, int(Ng), structural)
            fine = _grid_solve(sub, refine * int(Ng), structural)
            coarse["J_fine"] = fine["J"]
            coarse["rounding"] = coarse["rounding"] + fine["rounding"]
            coarse["iters_fine"] = fine["iters"]
            coarse["converged"] = coarse["converged"] & fine["converged"]
            coarse["fallback"] = coarse["fallback"] | fine["fallback"]
            coarse["in_band"] = coarse["in_band"] & fine["in_band"]
            for k, v in coarse.items():
                if k not in out:
                    out[k] = np.empty((n,) + v.shape[1:], dtype=v.dtype)
                out[k][idx] = v
    return out


def evaluate(params: Mapping[str, Any], method: str) -> SteadyState:
    if method != "negf":
        raise ValueError(f"method={method!r} is not available for kerr_negf; allowed: 'auto', 'negf'")
    r = solve_cells(params)
    n = r["J"].shape[0]
    ok = r["converged"] & r["in_band"]
    J = np.where(ok[:, None], r["J"], np.nan)
    change = np.abs(r["J"] - r["J_fine"])
    disc = 3.0 * change
    err = np.where(ok[:, None], disc + r["rounding"], np.nan)
    rel = relative_bound(err, J)  # SPEC §5 rel_err(lead): 0 for an exact zero, inf if the sign is unsure
    T = np.stack([_arr(params, f"T_{lead}", n) for lead in LEADS], axis=-1)
    sigma = -(J / T).sum(axis=-1)
    sigma_abs_err = (err / T).sum(axis=-1) + 8 * _EPS * np.abs(J / T).sum(axis=-1)
    sigma_rel = relative_bound(np.where(sigma_abs_err > 0, sigma_abs_err, 0.0), sigma)
    _, bad, _ = heat_entropy_production(J, T)
    balance = J.sum(axis=-1)
    extras = fridge_performance(J, params, n)
    extras.update({
        "n1": ((), r["n1"]), "n2": ((), r["n2"]),
        "n1_full": ((), r["n1_full"]), "n2_full": ((), r["n2_full"]),
        "eps1_tilde": ((), r["eps1_tilde"]), "eps2_tilde": ((), r["eps2_tilde"]),
        "hartree_iterations": ((), np.maximum(r["iters"], r["iters_fine"])),
        "hartree_converged": ((), r["converged"]),
        "resonances_in_band": ((), r["in_band"]),
        "hartree_bisected": ((), r["fallback"]),
        "hartree_residual": ((), r["hartree_residual"]),
        "sum_rule_residual_1": ((), r["sum1"]), "sum_rule_residual_2": ((), r["sum2"]),
        "energy_balance": ((), balance),
        "J_Q_half_step": (("lead",), r["J_fine"]),
        "grid_change": (("lead",), change),
        "discretisation_err": (("lead",), disc),
        "rounding_err": (("lead",), r["rounding"]),
        "d_omega_used": ((), r["h"]),
        "second_law_violated": ((), bad & (sigma < -sigma_abs_err)),
    })
    return SteadyState(p=None, J_E=J, J_N=None, J_Q=J.copy(), sigma=sigma, rel_err=rel, sigma_rel_err=sigma_rel,
                       abs_err={"J_E": err, "J_Q": err}, extras=extras)


EXTRA_OUTPUTS = {
    **FRIDGE_OUTPUTS,
    "n1": OutputVariable("1", "<n1> of the converged mean-field (Hartree) G^< of resonator 1"),
    "n2": OutputVariable("1", "<n2> of the converged mean-field (Hartree) G^< of resonator 2"),
    "n1_full": OutputVariable("1", "int dw/2pi of the full g^<_1 (bath + xc self-energy) on (0, eps_c)"),
    "n2_full": OutputVariable("1", "int dw/2pi of the full g^<_2 (bath + xc self-energy) on (0, eps_c)"),
    "eps1_tilde": OutputVariable("energy", "Hartree-shifted frequency eps1 + delta_z <n2>"),
    "eps2_tilde": OutputVariable("energy", "Hartree-shifted frequency eps2 + delta_z <n1>"),
    "hartree_iterations": OutputVariable("1", "damped Hartree iterations used (larger of the two grids)"),
    "hartree_converged": OutputVariable("1", "True where the Hartree loop met hartree_tol on both grids "
                                             "(otherwise the currents are NaN)"),
    "resonances_in_band": OutputVariable("1", "True where both shifted resonances lie in (0, eps_c) (otherwise an "
                                              "undamped pole outside the grid: the currents are NaN)"),
    "hartree_bisected": OutputVariable("1", "True where the damped iteration stalled and the scalar fixed-point "
                                            "equation was bisected instead"),
    "hartree_residual": OutputVariable("1", "final |F(n) - n|/max(1, |n|) of the Hartree loop (chosen grid)"),
    "sum_rule_residual_1": OutputVariable("1", "int dw/2pi i(G^>_11 - G^<_11) - 1 on (0, eps_c) (not conserving)"),
    "sum_rule_residual_2": OutputVariable("1", "int dw/2pi i(G^>_22 - G^<_22) - 1 on (0, eps_c) (not conserving)"),
    "energy_balance": OutputVariable("energy/time", "J_Q[L] + J_Q[R] + J_Q[C] (vanishes to round-off: the "
                                                    "bubble conserves energy; the sum rules do not hold)"),
    "J_Q_half_step": OutputVariable("energy/time", "J_Q on the grid of half the step"),
    "grid_change": OutputVariable("energy/time", "|J_Q(d_omega) - J_Q(d_omega/2)| per lead"),
    "discretisation_err": OutputVariable("energy/time", "bound on the discretisation error of J_Q: "
                                                        "3 grid_change (O(h^2) quadrature: 4/3 asymptotically)"),
    "rounding_err": OutputVariable("energy/time", "bound on the floating-point error of J_Q (FFT and sums)"),
    "d_omega_used": OutputVariable("energy", "frequency step of the chosen grid (eps_c/N)"),
    "second_law_violated": OutputVariable("1", "True where sigma < -(its error bound): possible in this "
                                               "non-conserving approximation, reported not hidden"),
}


def _cell_bytes(p: Mapping[str, Any]) -> int:
    # sub-batched: the fixed buffers are SOLVER_BUFFER_BYTES; per cell only the outputs remain
    return 4096


KERR_NEGF = register(LindbladModel(
    name="kerr_negf",
    description="Kerr-coupled resonators with filtered bosonic baths L, R, C (003 §IV B): Keldysh Green's "
                "functions, Hartree mean field plus the single-bubble xc self-energy",
    states=(),
    leads=LEADS,
    parameters=PARAMETERS,
    evaluate=evaluate,
    methods=("negf",),
    auto_method="negf",
    lead_reservoir={lead: (f"T_{lead}", None) for lead in LEADS},
    forces=fridge_forces,
    force_flux=FORCE_FLUX,
    extra_outputs=EXTRA_OUTPUTS,
    normalize=normalize,
    reference="003 (Bhandari, Jordan) §IV B, Eqs. 20-30, App. C",
    kind="negf",
    cell_bytes=_cell_bytes,
))
