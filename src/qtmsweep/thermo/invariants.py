"""Per-cell physical invariants of a solved dataset, counted on every chunk of every sweep.

Each check has a tolerance derived from the cell's own scale, so that rounding
never counts as a violation and a real violation never hides:

``second_law``
    ``sigma < -tol`` with ``tol = min(sigma_rel_err, 1)·|sigma| + 1e-12 · Σ_k |J_k F_k|`` over the
    model's conjugate force–flux pairs: σ is negative beyond its own error bound (SPEC §5;
    ``sigma_rel_err ≥ 1`` means its sign is not guaranteed).  Datasets without
    ``sigma_rel_err`` use the old ``(rel_err + 1e-12) · Σ_k |J_k F_k|``.
``energy_conservation`` / ``particle_conservation``
    ``residual_E`` / ``residual_N`` (``|Σ_λ J[λ]| / max_λ |J[λ]|``) above ``1e-10 + rel_err``
    (the largest finite ``rel_err`` over the leads).  Where the dataset has ``J_E_full`` (the
    local master equations), energy conservation is checked on those full-Hamiltonian currents,
    which the dynamics conserves exactly: the bare currents of 003 Eq. A21 (``J_E``, whose
    ``residual_E`` is stored as data) are not conserved when the coupled levels differ, a known
    inconsistency of the local approach and not a bug.
``precision``
    ``rel_err > 1e-6`` on some lead whose currents are not all exactly 0, or
    ``sigma_rel_err > 1e-6`` with ``sigma ≠ 0``: the kernel cannot vouch for six digits
    (a flag for precision loss, not a violation of physics).  An exact zero has bound 0.
``nonfinite``
    any NaN or infinity among the populations, currents, σ or σ_micro.
``truncation`` (models with ``truncation_err``, e.g. ``kerr_fridge``)
    some lead's ``truncation_err > max(TRUNCATION_LIMIT · |J_Q|, rounding bound)`` (or an infinite
    estimate): the truncated Hilbert space cannot vouch for that current to three digits (a
    numerics flag; a truncation error below the rounding bound is left to ``precision``).
``secular`` (models with ``secular_ratio``: the global approaches)
    ``secular_ratio < SECULAR_LIMIT`` (10): the Bohr-frequency splitting is not large against
    the rates, so the secular (global) master equation is not valid there (a flag).
``population_range``
    a population ``p`` below ``-tol`` or above ``1 + tol``, ``tol = 1e-9 + rel_err`` (the
    largest bound of the cell): a probability outside [0, 1] beyond rounding.
``singular``
    the solver found the cell's rate matrix (Liouvillian, Lyapunov system) singular: no unique
    steady state (e.g. every rate of a bath zero, or a filter cutting a ladder).  The solvers write
    NaN over the whole state of such a cell, and only of that cell (every ``p``; every ``J_E`` for
    a model without populations), so the rest of its chunk is computed; it also counts as
    ``nonfinite``.

With counting statistics in the dataset (``tur``, ``tur_rel_err``, ``classical_dynamics``;
:mod:`qtmsweep.thermo.noise`) two more checks (:data:`NOISE_CHECKS`) are counted:

``tur``
    a cell of *classical* dynamics with ``Q (1 + tur_rel_err) < 2`` for some counted flux: the
    TUR is a theorem there, so this is a bug (it is in :data:`VIOLATIONS`);
``tur_classical_violations``
    the same beyond-the-bound ``Q < 2`` in a cell of coherent dynamics (local MEs with coherent
    coupling): physics, counted and mapped, not a violation (``tur_violation`` of the analysis).
    Cells with ``Q ≤ 0`` (``σ ≤ 0``) are left to ``second_law``.

Examples
--------
>>> import qtmsweep
>>> ds = qtmsweep.solve("sqd", eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
>>> count_violations(ds)["second_law"]
0
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from numba import njit, prange

from ..physics.registry import get_model
from ..physics.secular import SECULAR_LIMIT
from .currents import conservation_residual

PRECISION_LIMIT = 1e-6
CONSERVATION_LIMIT = 1e-10
SECOND_LAW_FLOOR = 1e-12
TRUNCATION_LIMIT = 1e-3
POPULATION_LIMIT = 1e-9
CHECKS = ("second_law", "energy_conservation", "particle_conservation", "precision", "nonfinite",
          "truncation", "secular", "population_range", "singular")
#: The checks that are violations of physics (``precision`` is a flag on the numerics).
VIOLATIONS = ("second_law", "energy_conservation", "particle_conservation", "nonfinite", "population_range")
CHECK_DOC = {
    "second_law": f"cells with sigma < -(min(sigma_rel_err, 1) |sigma| + {SECOND_LAW_FLOOR:g} sum_k |J_k F_k|)",
    "energy_conservation": f"cells with residual_E (of J_E_full where stored) > {CONSERVATION_LIMIT:g} + rel_err",
    "particle_conservation": f"cells with residual_N > {CONSERVATION_LIMIT:g} + rel_err",
    "precision": f"cells with rel_err (some lead) or sigma_rel_err > {PRECISION_LIMIT:g} "
                 "(precision loss flagged by the kernel)",
    "nonfinite": "cells with a NaN or infinite p, J_E, J_N, J_Q, sigma or sigma_micro",
    "truncation": f"cells with truncation_err > {TRUNCATION_LIMIT:g} * |J_Q| for some lead (truncation error)",
    "secular": f"cells with secular_ratio < {SECULAR_LIMIT:g} (secular approximation not valid)",
    "population_range": f"cells with a population p outside [0, 1] by more than {POPULATION_LIMIT:g} + rel_err",
    "singular": "cells whose rate matrix / Liouvillian is singular (no unique steady state; NaN there, flagged)",
}
#: Checks of the counting statistics (0 on a dataset without ``tur``); the store counts them per chunk too.
NOISE_CHECKS = ("tur", "tur_classical_violations")
VIOLATIONS = VIOLATIONS + ("tur",)
CHECK_DOC.update({
    "tur": "cells of classical dynamics with TUR ratio tur * (1 + tur_rel_err) < 2 (a bug)",
    "tur_classical_violations": "cells of coherent dynamics beating the classical TUR beyond the bound (physics)",
})
#: Outputs that must be finite in every cell (derived ones such as a COP may be NaN by design).
FINITE_OUTPUTS = ("p", "J_E", "J_N", "J_Q", "sigma", "sigma_micro")


def _cells(ds: xr.Dataset, name: str, dims: tuple[str, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Values of ``name`` as ``(cells, rest)``: the cell axes ``dims`` flattened (broadcast to ``shape``)."""
    v = ds[name].variable
    own = [d for d in dims if d in v.dims]
    extra = [d for d in v.dims if d not in dims]
    a = np.asarray(v.transpose(*own, *extra).values)
    a = a.reshape([ds.sizes[d] if d in v.dims else 1 for d in dims] + [ds.sizes[d] for d in extra])
    a = np.broadcast_to(a, shape + a.shape[len(dims):])
    return a.reshape((int(np.prod(shape, dtype=np.int64)), -1))


def violation_arrays(ds: xr.Dataset, dims: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Boolean numpy mask per check (:data:`CHECKS` and :data:`NOISE_CHECKS`) over the cell axes ``dims`` (default: sigma's dims)."""
    model = get_model(ds.attrs["model"])
    dims = tuple(ds["sigma"].dims) if dims is None else tuple(dims)
    shape = tuple(ds.sizes[d] for d in dims)
    n = int(np.prod(shape, dtype=np.int64))
    masks = np.zeros((len(CHECKS), n), dtype=np.bool_)
    zeros = np.zeros((n, 1))
    rel = _cells(ds, "rel_err", dims, shape) if "rel_err" in ds else zeros
    per_lead = "rel_err" in ds and "lead" in ds["rel_err"].dims
    if per_lead:  # (cells, leads): conservation tolerance = largest finite bound, precision = any lead
        rel_tol, rel_flag = np.zeros(n), np.zeros(n, dtype=np.bool_)
        if rel.shape[1]:
            _bound_rows(rel, PRECISION_LIMIT, rel_tol, rel_flag)  # one pass (numpy's axis-1 reductions: 5x slower)
    else:
        rel_tol = np.where(np.isfinite(rel[:, 0]), rel[:, 0], 0.0)
        rel_flag = rel[:, 0] > PRECISION_LIMIT
    if "sigma_rel_err" in ds:
        srel = _cells(ds, "sigma_rel_err", dims, shape)[:, 0]
        sig = _cells(ds, "sigma", dims, shape)[:, 0]
        rel_flag = rel_flag | ((srel > PRECISION_LIMIT) & (sig != 0))
        sigma_tol = np.minimum(srel, 1.0) * np.abs(sig)  # NaN bound -> NaN tol -> never flagged; counted as nonfinite
    else:
        srel = None
        sigma_tol = rel_tol
    scale = np.zeros(n)
    leads = list(ds["lead"].values) if "lead" in ds.coords else []
    for force, (var, lead) in model.force_flux.items():
        if var in ds and force in ds.variables and lead in leads:
            _add_abs_product(_cells(ds, var, dims, shape)[:, leads.index(lead)],
                             _cells(ds, force, dims, shape)[:, 0], scale)
    residuals = [_cells(ds, name, dims, shape)[:, 0] if name in ds else zeros[:, 0]
                 for name in ("residual_E", "residual_N")]
    if "J_E_full" in ds:  # local MEs: the conserved currents are the full-Hamiltonian ones
        residuals[0] = conservation_residual(_cells(ds, "J_E_full", dims, shape))
    _scalar_checks(_cells(ds, "sigma", dims, shape)[:, 0], np.ascontiguousarray(rel_tol),
                   np.ascontiguousarray(sigma_tol), srel is not None, np.ascontiguousarray(rel_flag), scale,
                   residuals[0], residuals[1], SECOND_LAW_FLOOR, CONSERVATION_LIMIT, masks)
    for name in FINITE_OUTPUTS:
        if name in ds:
            _mark_nonfinite_rows(_cells(ds, name, dims, shape), masks[CHECKS.index("nonfinite")])
    if "truncation_err" in ds and "J_Q" in ds:
        err, J = _cells(ds, "truncation_err", dims, shape), np.abs(_cells(ds, "J_Q", dims, shape))
        # rounding bound of each current: rel_err (cells, 1) scalar form or (cells, leads) per lead;
        # rel_err = inf (the current is below its own error bound) leaves the cell to ``precision``
        with np.errstate(invalid="ignore"):
            rounding = rel * (J.max(axis=1, keepdims=True) if rel.shape[1] == 1 else J)
        rounding = np.where(np.isinf(rel), np.inf, np.nan_to_num(rounding, nan=0.0))
        # a truncation error below the rounding bound is the precision check's business, not this one's
        masks[CHECKS.index("truncation")] = np.any(~(err <= np.maximum(TRUNCATION_LIMIT * J, rounding)), axis=1)
    if "secular_ratio" in ds:
        masks[CHECKS.index("secular")] = _cells(ds, "secular_ratio", dims, shape)[:, 0] < SECULAR_LIMIT
    if "p" in ds:  # population range and singular (the whole state NaN) in one pass over p
        p = _cells(ds, "p", dims, shape)
        bound = rel_tol if per_lead else np.where(np.isfinite(rel[:, 0]), rel[:, 0], 0.0)
        if p.shape[1]:
            _population_rows(p, np.ascontiguousarray(bound), POPULATION_LIMIT,
                             masks[CHECKS.index("population_range")], masks[CHECKS.index("singular")])
    elif "J_E" in ds:  # what a failed solve leaves NaN in full
        masks[CHECKS.index("singular")] = np.isnan(_cells(ds, "J_E", dims, shape)).all(axis=1)
    out = {k: masks[i].reshape(shape) for i, k in enumerate(CHECKS)}
    if "tur" in ds and "flux" in ds["tur"].dims:
        out.update({k: v.reshape(shape) for k, v in tur_violation_arrays(ds, dims, shape).items()})
    else:
        out.update({k: np.zeros(shape, dtype=bool) for k in NOISE_CHECKS})
    return out


def tur_violation_arrays(ds: xr.Dataset, dims, shape) -> dict[str, np.ndarray]:
    """``tur`` and ``tur_classical_violations`` masks (flat over cells), see the module docstring."""
    Q = _cells(ds, "tur", dims, shape)
    err = _cells(ds, "tur_rel_err", dims, shape) if "tur_rel_err" in ds else np.zeros_like(Q)
    classical = _cells(ds, "classical_dynamics", dims, shape)[:, 0].astype(bool) if "classical_dynamics" in ds \
        else np.ones(Q.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        # Q <= 0 is sigma <= 0: the second-law check's business, not the TUR's
        below = np.isfinite(Q) & np.isfinite(err) & (Q > 0) & (Q * (1.0 + err + 1e-12) < 2.0)
    below = below.any(axis=1)
    return {"tur": below & classical, "tur_classical_violations": below & ~classical}


def _outside_unit_interval(p: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Rows of ``p`` (cells, states) with a population outside [0, 1] beyond ``1e-9 + rel_err``
    (the cell's largest finite bound, per-lead or not); NaN is ``nonfinite``'s, not counted here."""
    bound = np.where(np.isfinite(rel), rel, 0.0).max(axis=1) if rel.shape[1] else np.zeros(len(p))
    tol = (POPULATION_LIMIT + bound)[:, None]
    with np.errstate(invalid="ignore"):
        return ((p < -tol) | (p > 1.0 + tol)).any(axis=1)


@njit(cache=True, parallel=True)
def _bound_rows(rel, limit, tol, flag):  # pragma: no cover - compiled
    """Per row of ``rel`` (cells, leads): the largest finite bound, and whether any exceeds ``limit``."""
    for i in prange(rel.shape[0]):
        m = 0.0
        f = False
        for j in range(rel.shape[1]):
            r = rel[i, j]
            if np.isfinite(r) and r > m:
                m = r
            if r > limit:
                f = True
        tol[i] = m
        flag[i] = f


@njit(cache=True, parallel=True)
def _population_rows(p, bound, limit, outside, singular):  # pragma: no cover - compiled
    """Per row of ``p`` (cells, states): a population outside [0, 1] by more than ``limit + bound``
    (:func:`_outside_unit_interval`), and every population NaN (a singular cell)."""
    for i in prange(p.shape[0]):
        tol = limit + bound[i]
        out = False
        nan = True
        for j in range(p.shape[1]):
            x = p[i, j]
            if x < -tol or x > 1.0 + tol:
                out = True
            if not np.isnan(x):
                nan = False
        outside[i] = out
        singular[i] = nan


@njit(cache=True, parallel=True)
def _add_abs_product(J, F, scale):  # pragma: no cover - compiled
    for i in prange(J.shape[0]):
        scale[i] += abs(J[i] * F[i])


@njit(cache=True, parallel=True)
def _scalar_checks(sigma, rel_tol, sigma_tol, absolute, flag, scale, res_E, res_N, floor, conservation,
                   masks):  # pragma: no cover - compiled
    for i in prange(sigma.shape[0]):
        r = rel_tol[i]
        if absolute:
            masks[0, i] = sigma[i] < -(sigma_tol[i] + floor * scale[i])
        else:
            masks[0, i] = sigma[i] < -(sigma_tol[i] + floor) * scale[i]
        masks[1, i] = res_E[i] > conservation + r
        masks[2, i] = res_N[i] > conservation + r
        masks[3, i] = flag[i]


@njit(cache=True, parallel=True)
def _mark_nonfinite_rows(a, out):  # pragma: no cover - compiled
    for i in prange(a.shape[0]):
        for j in range(a.shape[1]):
            if not np.isfinite(a[i, j]):
                out[i] = True
                break


def violation_masks(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Boolean mask per check over the dataset's grid dims (``True`` = violated)."""
    dims = tuple(ds["sigma"].dims)
    coords = {d: ds.coords[d] for d in dims if d in ds.coords}
    return {k: xr.DataArray(m, dims=dims, coords=coords) for k, m in violation_arrays(ds, dims).items()}


def count_violations(ds: xr.Dataset, dims: tuple[str, ...] | None = None) -> dict[str, int]:
    """Number of cells failing each check (plus ``cells``, the total)."""
    arrays = violation_arrays(ds, dims)
    counts = {name: int(np.count_nonzero(mask)) for name, mask in arrays.items()}
    counts["cells"] = int(np.prod(arrays["second_law"].shape, dtype=np.int64))
    return counts
