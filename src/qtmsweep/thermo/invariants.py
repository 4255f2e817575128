"""Per-cell physical invariants of a solved dataset, counted (issue 6: checked on every sweep).

Each check has a tolerance derived from the cell's own scale, so that rounding
never counts as a violation and a real violation never hides:

``second_law``
    ``sigma < -tol`` with ``tol = (rel_err + 1e-12) · Σ_k |J_k F_k|`` over the
    model's conjugate force–flux pairs (σ = Σ J_k F_k, so that is the size of
    the rounding error σ can carry).
``energy_conservation`` / ``particle_conservation``
    ``residual_E`` / ``residual_N`` (``|Σ_λ J[λ]| / max_λ |J[λ]|``) above ``1e-10 + rel_err``.
``precision``
    ``rel_err > 1e-6``: the kernel cannot vouch for the currents to six digits.
``nonfinite``
    any NaN or infinity among the currents, σ or populations.

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

from ..physics.registry import get_model

PRECISION_LIMIT = 1e-6
CONSERVATION_LIMIT = 1e-10
CHECKS = ("second_law", "energy_conservation", "particle_conservation", "precision", "nonfinite")


def violation_masks(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Boolean mask per check over the dataset's grid dims (``True`` = violated)."""
    model = get_model(ds.attrs["model"])
    rel = ds["rel_err"] if "rel_err" in ds else xr.zeros_like(ds["sigma"])
    rel = rel.where(np.isfinite(rel), 0.0)
    scale = xr.zeros_like(ds["sigma"])
    for force, (var, lead) in model.force_flux.items():
        if var in ds and force in ds.variables:
            scale = scale + abs(ds[var].sel(lead=lead, drop=True) * ds[force])
    masks = {"second_law": ds["sigma"] < -(rel + 1e-12) * scale}
    masks["energy_conservation"] = ds["residual_E"] > CONSERVATION_LIMIT + rel
    if "residual_N" in ds:
        masks["particle_conservation"] = ds["residual_N"] > CONSERVATION_LIMIT + rel
    else:
        masks["particle_conservation"] = xr.zeros_like(ds["sigma"], dtype=bool)
    masks["precision"] = ds["rel_err"] > PRECISION_LIMIT if "rel_err" in ds else xr.zeros_like(ds["sigma"], dtype=bool)
    bad = xr.zeros_like(ds["sigma"], dtype=bool)
    for var in ("p", "J_E", "J_N", "J_Q", "sigma"):
        if var in ds:
            extra = [d for d in ds[var].dims if d not in ds["sigma"].dims]
            bad = bad | (~np.isfinite(ds[var])).any(extra) if extra else bad | ~np.isfinite(ds[var])
    masks["nonfinite"] = bad
    return masks


def count_violations(ds: xr.Dataset) -> dict[str, int]:
    """Number of cells failing each check of :func:`violation_masks` (plus ``cells``, the total)."""
    counts = {name: int(mask.sum()) for name, mask in violation_masks(ds).items()}
    counts["cells"] = int(ds["sigma"].size)
    return counts
