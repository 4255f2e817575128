"""Helpers shared by the figure kinds: the force pair of a dataset, selections, captions."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import xarray as xr

from ..analysis import analyze, is_analysed
from ..physics.reduced import ReducedModel
from ..thermo.classify import resolve_pair
from .style import symbol

#: Parameters quoted in a figure's caption line, in this order.
CAPTION_PARAMETERS = ("eps_L", "eps_R", "eps", "kappa", "mu_b", "mu_r", "mu_l", "gamma_a", "gamma_b", "gamma_r",
                      "gamma_l", "T_r", "T_b", "T_l")


def ensure_analysed(ds: xr.Dataset, reduced_model: str | None = None) -> xr.Dataset:
    """``ds`` with the analysis variables (computed if the dataset does not carry them)."""
    if is_analysed(ds) and ("regime" in ds or ds.attrs.get("model") not in ("cqd", "sqd")):
        return ds
    return analyze(ds, reduced_model)


def pair_of(ds: xr.Dataset, reduced_model: str | None = None) -> ReducedModel:
    """The force pair of an analysed or raw ``cqd``/``sqd`` dataset."""
    return resolve_pair(ds, reduced_model or ds.attrs.get("reduced_model"))


def flux(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``"J_E_r"`` → ``ds.J_E.sel(lead="r")`` (with its attrs)."""
    var, _, lead = name.rpartition("_")
    if var not in ds or lead not in [str(x) for x in ds["lead"].values]:
        raise ValueError(f"flux {name!r} is not in the dataset; allowed: <J_E|J_N|J_Q>_<lead> with lead in "
                         f"{[str(x) for x in ds['lead'].values]}")
    return ds[var].sel(lead=lead, drop=True).rename(name)


def select(ds: xr.Dataset, sel: Mapping[str, Any] | None) -> xr.Dataset:
    """``ds.sel(**sel)`` with nearest-neighbour lookup for float coordinates."""
    if not sel:
        return ds
    return ds.sel({k: v for k, v in sel.items()}, method="nearest")


def plane(da: xr.DataArray, x: str, y: str) -> np.ndarray:
    """``da`` as a 2-D array ``[y, x]`` for pcolormesh/contour; other dims must have size 1."""
    extra = [d for d in da.dims if d not in (x, y)]
    if any(da.sizes[d] != 1 for d in extra):
        raise ValueError(f"{da.name} still varies along {[d for d in extra if da.sizes[d] != 1]}; "
                         "select a value (sel={...}) or make it the panel dimension (panel_dim=...)")
    return np.asarray(da.squeeze(extra, drop=True).transpose(y, x).values)


def along_own_force(J: xr.DataArray, F_own: xr.DataArray, F_other: xr.DataArray) -> xr.DataArray:
    """``J·sign(F_own)`` where both forces are non-zero with the same sign, NaN elsewhere.

    Negative exactly where the flux runs against both forces (genuine ICC); its zero
    contour is the smooth edge of the ICC region.
    """
    same = (np.sign(F_own) == np.sign(F_other)) & (F_own != 0) & (F_other != 0)
    return (J * np.sign(F_own)).where(same)


def zero_index(coord: xr.DataArray) -> int:
    """Index of the exact zero of a force coordinate (raises if the grid has none)."""
    values = np.asarray(coord.values, dtype=float)
    hits = np.flatnonzero(values == 0.0)
    if hits.size == 0:
        raise ValueError(f"the {coord.name} grid has no exact 0 (closest {values[np.argmin(np.abs(values))]!r}); "
                         "a cut at zero force needs one")
    return int(hits[0])


def caption(ds: xr.Dataset, skip: tuple[str, ...] = ()) -> str:
    """One line of the fixed parameters, e.g. ``ε_L = 1, ε_R = 2.5, μ_b = 1, β_r = 1``."""
    parts = []
    gammas = [k for k in ("gamma_a", "gamma_b", "gamma_r", "gamma_l") if k in ds.attrs and k not in skip]
    for k in CAPTION_PARAMETERS:
        if k in skip or k not in ds.attrs or k in gammas:
            continue
        value = float(ds.attrs[k])
        if k.startswith("T_"):
            parts.append(f"$\\beta_{k[2:]}$ = {1.0 / value:g}")
        else:
            parts.append(f"{symbol(k)} = {value:g}")
    if gammas:
        values = {float(ds.attrs[k]) for k in gammas}
        if len(values) == 1:
            parts.append(" = ".join(f"$\\gamma_{k[-1]}$" for k in gammas) + f" = {values.pop():g}")
        else:
            parts.extend(f"$\\gamma_{k[-1]}$ = {float(ds.attrs[k]):g}" for k in gammas)
    return ", ".join(parts)


def model_title(ds: xr.Dataset, pair: ReducedModel | None) -> str:
    model = str(ds.attrs.get("model", "?"))
    if model == "cqd" and pair is not None:
        return f"cqd, reduced model {pair.name}"
    return model
