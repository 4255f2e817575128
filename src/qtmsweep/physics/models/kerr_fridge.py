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

Truncation error (reported with every result, :func:`truncation_error`): the currents are
also computed with ``N1 + 1``, ``N1 + 2`` levels of resonator 1 (``N2`` kept) and with
``N2 + 1``, ``N2 + 2`` of resonator 2 (``N1`` kept), and the two tails are extrapolated
geometrically.  ``truncation_err(lead)`` is a conservative estimate of the **absolute** error
``|J_Q[lead](N1, N2) − J_Q[lead](∞, ∞)|`` in the units of ``J_Q`` (it adds to the rounding
bound: the error of ``J_Q[lead]`` is at most ``rel_err · |J_Q[lead]| + truncation_err[lead]``,
and a sign of ``J_Q[lead]`` is resolved only where ``|J_Q[lead]|`` exceeds that sum);
``inf`` where the differences do not yet shrink (N far too small to estimate anything).
``truncation_rate_1``/``_2`` are the measured convergence ratios of the two directions
(the factor by which one more level shrinks the change; ``≥ 1``: not converging yet), and
``p_top_1``/``p_top_2`` the populations of the highest kept level of each resonator.

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
>>> err = ds.truncation_err.sel(lead="C")  # absolute, in the units of J_Q
>>> bool(0 < err < 0.5 * abs(ds.cooling_power))  # the cooling power is known to better than 50 %
True
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Mapping

import numpy as np
from numba import njit, prange

from ..batch import batch_size
from ..baths import filtered_rate_deviation, filtered_rates
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
from ..pauli import edge_cell, gth_cell
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


def _rate_deviation(lead: str, omega: np.ndarray, params: Mapping[str, np.ndarray], T0, mu0):
    return filtered_rate_deviation(omega, params[f"T_{lead}"], T0, params[f"Gamma_{lead}"], params[f"Omega_{lead}"],
                                   params["eps_c"])


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
        rate_deviation=_rate_deviation,
        lead_reservoir={lead: (f"T_{lead}", None) for lead in LEADS},
        forces=fridge_forces,
        force_flux=FORCE_FLUX,
        particle_exchange=False,
        reference="003 §IV A, App. B",
    )


#: Bytes of rate matrix per sub-batch of the generic Pauli solver (bounds the peak memory).
def _ladder_range(a, dz, top: int):
    """``(max, min)`` of ``|a + dz n|`` over the integers ``n = 0 .. top``."""
    ends = np.maximum(np.abs(a), np.abs(a + dz * top))
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where(dz != 0, np.clip(np.round(-a / np.where(dz != 0, dz, 1.0)), 0, top), 0)
    return ends, np.abs(a + dz * n)


def constraints(params: Mapping[str, Any]) -> None:
    """The filter cutoff must leave every truncated ladder connected (:attr:`LindbladModel.constraints`).

    The filter ``Theta(eps_c − |w|)`` switches a transition above the cutoff off, both ways.  Resonator 1
    steps at ``|eps1 + delta_z n2|`` (the same for every ``n1``, so a whole row ``n2`` of the state grid
    loses its ``n1`` steps), resonator 2 at ``|eps2 + delta_z n1|`` (a column ``n1`` loses its ``n2``
    steps).  With a row and a column both cut, the state where they cross has no rate in or out: the
    rate matrix is singular (no unique steady state).  So each solve needs every row on and some column
    on, or every column on and some row on; checked for the two largest solves of the truncation error,
    ``(N1 + 2) x N2`` and ``N1 x (N2 + 2)`` (the others are parts of them).

    >>> constraints({"N1": 3, "N2": 3, "eps1": 1.0, "eps2": 1.0, "delta_z": 0.05, "eps_c": 1.12})  # rows cut, columns on
    >>> constraints({"N1": 3, "N2": 3, "eps1": 1.0, "eps2": 1.0, "delta_z": 0.05, "eps_c": 1.08})
    Traceback (most recent call last):
    ...
    ValueError: eps_c=1.08 cuts both ladders of the 5 x 3 solve (with the truncation-error levels): resonator 1 steps at |eps1 + delta_z n2| = 1.0 .. 1.1 (n2 = 0 .. 2), resonator 2 at |eps2 + delta_z n1| = 1.0 .. 1.2 (n1 = 0 .. 4), at eps1=1.0, eps2=1.0, delta_z=0.05; a state with both its steps above the cutoff has no rate in or out (the rate matrix is singular); allowed: eps_c >= 1.1 (one ladder entirely below the cutoff, the other not entirely above it)
    """
    N1, N2 = int(params.get("N1", 3)), int(params.get("N2", 3))
    ec = np.asarray(params["eps_c"], dtype=float)
    dz = np.asarray(params["delta_z"], dtype=float)
    e1, e2 = (np.asarray(params[k], dtype=float) for k in ("eps1", "eps2"))
    for A, B in ((N1 + 2, N2), (N1, N2 + 2)):  # levels of resonator 1 (columns n1) and 2 (rows n2)
        with np.errstate(invalid="ignore", over="ignore"):
            top1, low1 = _ladder_range(e1, dz, B - 1)  # resonator-1 steps, one per row n2
            top2, low2 = _ladder_range(e2, dz, A - 1)  # resonator-2 steps, one per column n1
            ok = ((top1 <= ec) & (low2 <= ec)) | ((top2 <= ec) & (low1 <= ec))
        if np.all(ok):
            continue
        arrs = np.broadcast_arrays(ec, top1, low1, top2, low2, e1, e2, dz)
        i = np.flatnonzero(~np.broadcast_to(ok, arrs[0].shape))[0]
        c, t1, l1, t2, l2, a1, a2, d = (float(a.flat[i]) for a in arrs)
        need = min(max(t1, l2), max(t2, l1))
        raise ValueError(f"eps_c={c!r} cuts both ladders of the {A} x {B} solve (with the truncation-error levels): "
                         f"resonator 1 steps at |eps1 + delta_z n2| = {l1!r} .. {t1!r} (n2 = 0 .. {B - 1}), resonator 2 "
                         f"at |eps2 + delta_z n1| = {l2!r} .. {t2!r} (n1 = 0 .. {A - 1}), at eps1={a1!r}, eps2={a2!r}, "
                         f"delta_z={d!r}; a state with both its steps above the cutoff has no rate in or out (the rate "
                         f"matrix is singular); allowed: eps_c >= {need!r} (one ladder entirely below the cutoff, the "
                         "other not entirely above it)")


#: Bytes of rate matrix per sub-batch of the generic Pauli solver (bounds the peak memory).
_BATCH_BYTES = 64 * 2**20


def sub_batch_cells(d: int) -> int:
    """Cells per sub-batch of the ``d``-state solve: as many dense rate matrices (``8 d²`` bytes each) as
    fit :data:`_BATCH_BYTES`, at least one (then the one cell's matrix is the memory, see
    :func:`memory_estimate`).

    >>> sub_batch_cells(9), sub_batch_cells(3006)   # 3 x 3 levels; N1 = 1000, N2 = 3 at N1 + 2
    (103563, 1)
    """
    return max(1, _BATCH_BYTES // (8 * d * d))


def largest_solve_states(N1: int, N2: int) -> int:
    """States of the largest of the five solves (``N1 x N2`` and the truncation-error ones with
    ``N1 + 1, N1 + 2`` or ``N2 + 1, N2 + 2`` levels)."""
    return max((N1 + 2) * N2, N1 * (N2 + 2))


def memory_estimate(structural: Mapping[str, Any], method: str) -> tuple[int, str]:
    """Bytes of the solve of one cell (:attr:`~qtmsweep.physics.lindblad.LindbladModel.memory_estimate`):
    the dense rate matrix of the largest solve, ``8 d²`` bytes, four times: the fused kernel builds one
    per block of cells and eliminates it in place, and up to four blocks run at once (one per thread);
    a one-cell solve holds one (measured 0.94 MB by ``tracemalloc`` for the 80 x 2 solve, d = 320),
    plus 4 kB per state (transitions, rate tables, populations of the five solves; this estimate's
    4.6 MB for that solve)."""
    N1, N2 = int(structural.get("N1", 3)), int(structural.get("N2", 3))
    d = largest_solve_states(N1, N2)
    what = (f"the dense rate matrix of the {d} states of the largest solve ({N1 + 2} x {N2} or {N1} x {N2 + 2} "
            f"levels, with the truncation-error levels), 8 d^2 bytes, one per thread (up to four) while it is built and "
            "eliminated; lower N1 or N2: the memory grows as (N1 N2)^2")
    return 32 * d * d + 4096 * d, what


def _level_rates(numeric: Mapping[str, Any], n: int, top1: int, top2: int, T0: np.ndarray):
    """The bath rates of every transition frequency up to ``n1 < top1``, ``n2 < top2``, once.

    Resonator 1's transitions at ``n2 = b`` have ``ω = eps1 + delta_z b`` (baths L, R), resonator
    2's at ``n1 = a`` have ``ω = eps2 + delta_z a`` (bath C): ``2 top2 + top1`` frequencies serve
    every truncation up to ``top1 × top2`` (the generic solver evaluates them once per transition).
    Returns ``(keys, [k_in, k_out, log_ratio, ge_coef, use_j])``: the ``(lead, level)`` keys and,
    per quantity, an array ``(keys, n)`` of a unit-weight edge, where the deviation drive is ``g_e = weight · ge_coef · (p0_j if use_j else p0_i)``
    (as :func:`~qtmsweep.physics.pauli.solve_rate_equations` forms it, with ``μ0 = 0``).
    """
    e1, e2, dz = (np.broadcast_to(np.asarray(numeric[k], dtype=float), (n,)) for k in ("eps1", "eps2", "delta_z"))
    order, parts = [], [[] for _ in range(5)]
    for lead, count, base in (("L", top2, e1), ("R", top2, e1), ("C", top1, e2)):
        # all levels of this bath at once: omega (count, n) against the cells' parameters (n,)
        omega = np.stack([base + dz * level for level in range(count)])
        k_in, k_out, log_ratio = _lead_rates(lead, omega, numeric)
        dk_in, dk_out, dk_diff = (np.broadcast_to(np.asarray(v, dtype=float), (count, n))
                                  for v in _rate_deviation(lead, omega, numeric, T0, None))
        lr0 = -omega / T0
        use_j = lr0 > 0
        with np.errstate(over="ignore", invalid="ignore"):
            coef = np.where(use_j, dk_in * np.expm1(-np.maximum(lr0, 0)) + dk_diff,
                            -dk_in * np.expm1(np.minimum(lr0, 0)) + np.exp(np.minimum(lr0, 0)) * dk_diff)
        coef = np.where((dk_in == 0) & (dk_out == 0), 0.0, coef)
        order += [(lead, level) for level in range(count)]
        for f, v in enumerate((k_in, k_out, log_ratio, coef, use_j)):
            parts[f].append(np.broadcast_to(v, (count, n)))
    table = [np.ascontiguousarray(np.concatenate(part), dtype=float) for part in parts]
    return order, table


@lru_cache(maxsize=64)
def _edge_table(N1: int, N2: int):
    """Edges of the ``N1 × N2`` truncation as arrays: source, target, lead index, weight, and
    the ``(lead, level)`` key of :func:`_level_rates` (the order of :func:`truncated_model`)."""
    rows = []
    for a in range(N1):
        for b in range(N2):
            if a + 1 < N1:
                for lead in ("L", "R"):
                    rows.append((a * N2 + b, (a + 1) * N2 + b, LEADS.index(lead), float(a + 1), (lead, b)))
            if b + 1 < N2:
                rows.append((a * N2 + b, a * N2 + b + 1, LEADS.index("C"), float(b + 1), ("C", a)))
    I, J, L, W, keys = zip(*rows)
    return np.array(I), np.array(J), np.array(L), np.array(W), keys


@njit(cache=True, parallel=True, error_model="numpy")
def _solve_fused(e1, e2, dz, T0, Tmin, n1, n2, I, Jx, LEAD, U, W, K_in, K_out, LR, coef, use_j, is_c, gamma, nkeys, micro,
                 p, cur, err, sigma_micro, err_micro, R_work, chunk):  # pragma: no cover - compiled
    """Everything :func:`~qtmsweep.physics.pauli.solve_rate_equations` does for one truncation (levels
    ``n1, n2`` per state), from the unit-weight rates of :func:`_level_rates` (transposed: ``(n, keys)``), in one pass per cell:
    energies, the reference Gibbs state ``p0`` (at ``T0``) and its most populated state, the rates'
    relative error ``rho``, the rate matrix and drive, the GTH elimination
    (:func:`~qtmsweep.physics.pauli.gth_cell`) and the edge currents with their bounds
    (:func:`~qtmsweep.physics.pauli.edge_cell`) (the same arithmetic, without the
    rate matrices and edge arrays of every cell in memory).

    The energy weight of a bath-C edge (``is_c``) is ``delta_z n1`` instead of its frequency
    ``eps2 + delta_z n1``: resonator 2 changes only by C's jumps, one quantum each, so the net C
    fluxes sum to exactly 0 in the steady state and ``J_Q[C] = Σ (eps2 + delta_z n1) F = Σ delta_z n1 F``
    (a current that the frequency-weighted sum forms as a difference of terms up to
    ``eps2/(delta_z n1)`` times larger, with their rounding)."""
    m = I.shape[0]
    n = e1.shape[0]
    d = n1.shape[0]
    eps = np.finfo(np.float64).eps
    PART = np.zeros(m)
    for blk in prange((n + chunk - 1) // chunk):  # a block of cells per scratch (no allocation per cell)
        E = np.empty(d)
        p0 = np.empty(d)
        R = R_work[blk]  # the block's rate matrix (allocated by the caller: seen by tracemalloc)
        g = np.empty(d)
        omega_e = np.empty(m)
        kin_e = np.empty(m)
        kout_e = np.empty(m)
        lr_e = np.empty(m)
        ge_e = np.empty(m)
        zero = np.zeros(m)
        x = np.empty(d)
        y = np.empty(d)
        iwork = np.empty(2 * d, dtype=np.int64)
        fwork = np.empty(2 * d)
        for c in range(blk * chunk, min(n, (blk + 1) * chunk)):
            e_max = 0.0
            lmax = -np.inf
            for a in range(d):
                E[a] = e1[c] * n1[a] + e2[c] * n2[a] + dz[c] * n1[a] * n2[a]
                e_max = max(e_max, abs(E[a]))
                p0[a] = -E[a] / T0[c]
                lmax = max(lmax, p0[a])
            tot = 0.0
            for a in range(d):
                p0[a] = np.exp(p0[a] - lmax)
                tot += p0[a]
            best = 0
            for a in range(d):
                p0[a] /= tot
                if p0[a] > p0[best]:
                    best = a
            rho = eps * (8.0 + 3.0 * max(2.0 * e_max / Tmin[c], 2.0 * e_max / T0[c]))
            for a in range(d):
                g[a] = 0.0
                for b in range(d):
                    R[a, b] = 0.0
            for e in range(m):
                u = U[e]
                w = W[e]
                i = I[e]
                j = Jx[e]
                ki = w * K_in[c, u]
                ko = w * K_out[c, u]
                ge = (w * coef[c, u]) * (p0[j] if use_j[c, u] != 0.0 else p0[i])
                omega_e[e] = dz[c] * n1[i] if is_c[e] else E[j] - E[i]
                kin_e[e] = ki
                kout_e[e] = ko
                lr_e[e] = LR[c, u]
                ge_e[e] = ge
                R[i, j] += ki
                R[j, i] += ko
                g[j] += ge
                g[i] -= ge
            gth_cell(R, g, best, p[c], x, y, iwork, fwork)
            floor = 0.0
            for a in range(d):
                if p[c, a] < 1e-280 or not np.isfinite(p[c, a]):
                    floor = 1e-270
            sg, es = edge_cell(I, Jx, LEAD, PART, omega_e, kin_e, kout_e, lr_e, zero, ge_e, p[c], x, y,
                               gamma + d * rho, rho, floor, True, cur[:, c, :], err[:, c, :], nkeys, micro)
            sigma_micro[c] = sg
            err_micro[c] = es


def _solve_truncation(numeric: Mapping[str, Any], n: int, N1: int, N2: int, rates, T0: np.ndarray,
                      energy_only: bool) -> SteadyState:
    """:func:`solve_rate_equations` of :func:`truncated_model` ``(N1, N2)`` from precomputed rates
    (:func:`_level_rates`): the same edges, drive, reference state and error bound ``ρ`` (the
    assembly, elimination and currents of :func:`~qtmsweep.physics.pauli.solve_stacked` fused per cell)."""
    d = N1 * N2
    e1, e2, dz = (np.ascontiguousarray(np.broadcast_to(np.asarray(numeric[k], dtype=float), (n,)))
                  for k in ("eps1", "eps2", "delta_z"))
    Tmin = np.min(np.stack([np.broadcast_to(np.asarray(numeric[f"T_{lead}"], dtype=float), (n,)) for lead in LEADS]),
                  axis=0)
    n1 = np.repeat(np.arange(N1, dtype=float), N2)
    n2 = np.tile(np.arange(N2, dtype=float), N1)
    I, Jx, LEAD, W, keys = _edge_table(N1, N2)
    order, table = rates
    U = np.array([order.index(key) for key in keys], dtype=np.int64)
    nkeys = 1 if energy_only else 3
    p = np.empty((n, d))
    cur = np.zeros((nkeys, n, len(LEADS)))
    err = np.zeros((nkeys, n, len(LEADS)))
    sigma_micro = np.empty(n)
    err_micro = np.empty(n)
    gamma = (2 * d * d + 16) * np.finfo(float).eps
    chunk = 256  # cells per block of scratch
    R_work = np.empty(((n + chunk - 1) // chunk, d, d))
    _solve_fused(e1, e2, dz, np.ascontiguousarray(T0), Tmin, n1, n2, I, Jx, LEAD, U, W, *table, LEAD == LEADS.index("C"), gamma, nkeys,
                 not energy_only, p, cur, err, sigma_micro, err_micro, R_work, chunk)
    if energy_only:
        sigma_micro, err_micro = np.full(n, np.nan), np.full(n, np.inf)
    J_E, e_E = cur[0], err[0]
    J_Q, e_Q = (cur[0], err[0]) if energy_only else (cur[2], err[2])
    return SteadyState(p=p, J_E=J_E, J_N=None, J_Q=J_Q, sigma_micro=sigma_micro,
                       abs_err={"J_E": e_E, "J_Q": e_Q, "sigma_micro": err_micro})


def _solve_family(numeric: Mapping[str, Any], n: int, sizes):
    """The steady states of the truncations ``sizes`` (``[(N1, N2), ...]``; the first with
    ``sigma_micro`` and all bounds, the others energy currents only), in sub-batches of bounded memory,
    the bath rates evaluated once per sub-batch for all of them."""
    d = max(a * b for a, b in sizes)
    step = sub_batch_cells(d)
    top1, top2 = max(a for a, _ in sizes), max(b for _, b in sizes)
    parts = []
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        k = sl.stop - sl.start
        sub = {key: (np.broadcast_to(v, (n,))[sl] if np.ndim(v) else v) for key, v in numeric.items()}
        T0 = np.broadcast_to(np.asarray(sub["T_L"], dtype=float), (k,))
        order, table = _level_rates(sub, k, top1, top2, T0)
        rates = order, [np.ascontiguousarray(t.T) for t in table]  # (n, keys): one cell's rates together
        parts.append([_solve_truncation(sub, k, a, b, rates, T0, energy_only=(i > 0)) for i, (a, b) in enumerate(sizes)])
    if len(parts) == 1:
        return parts[0]
    out = []
    for i in range(len(sizes)):
        ss = [part[i] for part in parts]
        cat = {f: np.concatenate([getattr(s, f) for s in ss]) for f in ("p", "J_E", "J_Q", "sigma_micro")}
        abs_err = {key: np.concatenate([s.abs_err[key] for s in ss]) for key in ss[0].abs_err}
        out.append(SteadyState(J_N=None, abs_err=abs_err, **cat))
    return out


def rounding_error(state: SteadyState) -> np.ndarray:
    """Absolute rounding bound ``(n, leads)`` of a solve's currents: its ``abs_err["J_E"]`` (the
    solver's own bound), or, for a state that carries only ``rel_err``, that times ``|J|``."""
    if state.abs_err and "J_E" in state.abs_err:
        return np.asarray(state.abs_err["J_E"], dtype=float)
    rel = np.nan_to_num(np.asarray(state.rel_err, dtype=float), nan=0.0, posinf=0.0)
    J = np.abs(state.J_E)
    return rel[:, None] * J.max(axis=1, keepdims=True) if rel.ndim == 1 else rel * J


#: Margin on the geometric tail (for the small-N cells where the changes are not yet geometric).
TRUNCATION_SAFETY = 1.25


def truncation_error(J0: np.ndarray, J1: np.ndarray, J2: np.ndarray, noise: np.ndarray | None = None):
    """Tail estimate of a truncation sequence ``J(N), J(N+1), J(N+2)`` (arrays ``(n, leads)``).

    With the changes ``d1 = J(N+1) − J(N)``, ``d2 = J(N+2) − J(N+1)`` and the ratio
    ``r = |d2/d1|`` of the *dominant* lead (largest ``|d1| + |d2|``: its sequence is the clean
    geometric one that the level populations impose, ``p(n) ~ r^n``; a small current such as
    ``J_Q[C]`` can mix two decay rates and even change the sign of its changes), the
    remaining change after ``N`` is bounded by the geometric series

    ``tail = |d1| + |d2| / (1 − r)``   (that is ``|d1| (1 + r/(1 − r))`` for a geometric lead),

    which is conservative as long as the ratios of later changes do not exceed ``r`` (they
    decrease towards the population ratio from above, for the dominant lead).  A lead whose own
    changes change sign or shrink more slowly than the dominant lead's is not yet in the
    asymptotic regime; its tail is taken as at least the dominant lead's *relative* tail times its
    own ``|J(N)|``.  The tail carries a margin :data:`TRUNCATION_SAFETY`.  Changes below the rounding noise (``noise``: absolute bound of one solve,
    ``(n, leads)``) count as converged.  Returns ``(tail, r)``: ``tail`` ``(n, leads)``
    (``inf`` where ``r >= 1``: the changes do not shrink yet) and ``r`` ``(n,)``.

    >>> J0, J1, J2 = (np.array([[1.0 - 0.5 ** k]]) for k in (3, 4, 5))  # one cell, one lead; limit 1
    >>> tail, r = truncation_error(J0, J1, J2)
    >>> float(tail[0, 0]), float(r[0])  # exact error: 1 - J0 = 0.125
    (0.15625, 0.5)
    """
    d1, d2 = J1 - J0, J2 - J1
    if noise is None:
        noise = np.zeros_like(J0)
    a1, a2 = np.abs(d1), np.abs(d2)
    converged = (a1 <= 2 * noise) & (a2 <= 2 * noise)  # both changes at rounding level
    size = np.where(converged, 0.0, a1 + a2)
    dom = np.argmax(size, axis=1)[:, None]
    a1d, a2d = np.take_along_axis(a1, dom, 1)[:, 0], np.take_along_axis(a2, dom, 1)[:, 0]
    none = np.take_along_axis(size, dom, 1)[:, 0] == 0.0  # every lead converged to rounding
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(none, 0.0, np.where(a1d > 0, a2d / a1d, np.inf))
        geo = np.where(r[:, None] < 1.0, a1 + a2 / (1.0 - r[:, None]), np.inf)
        J_dom = np.abs(np.take_along_axis(J0, dom, 1))
        rel_dom = np.take_along_axis(geo, dom, 1) / J_dom
        odd = ((d1 * d2) < 0) | (a2 > r[:, None] * a1)
        tail = np.where(odd & ~converged, np.maximum(geo, rel_dom * np.abs(J0)), geo)
    tail = np.where(converged, a1 + a2, TRUNCATION_SAFETY * tail)
    return np.where(none[:, None], a1 + a2, tail), r


def evaluate(params: Mapping[str, Any], method: str) -> SteadyState:
    if method != "linear":
        raise ValueError(f"method={method!r} is not available for kerr_fridge; allowed: 'auto', 'linear'")
    N1, N2 = int(params.get("N1", 3)), int(params.get("N2", 3))
    numeric = {k: v for k, v in params.items() if k not in ("N1", "N2")}
    n = batch_size(numeric)
    base, *more = _solve_family(numeric, n, [(N1, N2), (N1 + 1, N2), (N1 + 2, N2), (N1, N2 + 1), (N1, N2 + 2)])
    along_1, along_2 = more[:2], more[2:]
    J = base.J_E
    noise = np.maximum.reduce([rounding_error(s) for s in (base, *along_1, *along_2)])
    tail_1, rate_1 = truncation_error(J, along_1[0].J_E, along_1[1].J_E, noise)
    tail_2, rate_2 = truncation_error(J, along_2[0].J_E, along_2[1].J_E, noise)
    p = base.p.reshape(n, N1, N2)
    T = np.stack([np.broadcast_to(np.asarray(params[f"T_{lead}"], dtype=float), (n,)) for lead in LEADS], axis=-1)
    err = base.abs_err["J_E"]
    sigma, sigma_rel_err, bad = heat_entropy_bounds(J, T, err, ref=1)
    micro_bad = (base.sigma_micro < 0) & (relative_bound(base.abs_err["sigma_micro"], base.sigma_micro) < 1.0)
    extras = fridge_performance(J, numeric, n)
    extras.update({
        "truncation_err": (("lead",), tail_1 + tail_2),
        "truncation_rate_1": ((), rate_1),
        "truncation_rate_2": ((), rate_2),
        "p_top_1": ((), p[:, -1, :].sum(axis=1)),
        "p_top_2": ((), p[:, :, -1].sum(axis=1)),
        "second_law_violated": ((), bad | micro_bad),
    })
    return SteadyState(p=base.p, J_E=J, J_N=None, J_Q=J.copy(), sigma=sigma, sigma_micro=base.sigma_micro,
                       rel_err=relative_bound(err, J), sigma_rel_err=sigma_rel_err, extras=extras,
                       states=truncated_model(N1, N2).states)


EXTRA_OUTPUTS = {
    **FRIDGE_OUTPUTS,
    "truncation_err": OutputVariable("energy/time", "conservative estimate of the absolute truncation error "
                                     "|J_Q(N1,N2) - J_Q(inf,inf)| per lead, from N+1 and N+2 solves in each direction "
                                     "(geometric tails; inf: not converging yet). The error of J_Q is at most "
                                     "rel_err*|J_Q| + truncation_err"),
    "truncation_rate_1": OutputVariable("1", "convergence ratio of the currents per level of resonator 1 "
                                        "(|change N1+1 -> N1+2| / |change N1 -> N1+1|, dominant lead; >= 1: not converging)"),
    "truncation_rate_2": OutputVariable("1", "the same for resonator 2"),
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
    constraints=constraints,
    memory_estimate=memory_estimate,
    reference="003 (Bhandari, Jordan) §IV A, App. B",
    kind="pauli",
    # measured ~1.4, 3.9 and 4.9 kB/cell at N1 x N2 = 4, 9 and 25 levels (4e4 cells, N and N+1 solves;
    # the N+2 solves run after them, one at a time, with the same sub-batching)
    cell_bytes=lambda p: 1024 + 512 * int(p.get("N1", 3)) * int(p.get("N2", 3)),
))
