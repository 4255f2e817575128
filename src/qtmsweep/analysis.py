"""Analysis of a sweep: classification and performance variables added to its dataset or store.

One call per sweep, whatever the model (``ds.attrs["model"]``):

* ``cqd`` with a reduced model (``attrs["reduced_model"]`` or detected, see
  :func:`qtmsweep.thermo.classify.resolve_pair`) and ``sqd``: the regime labels of
  :func:`qtmsweep.thermo.classify` and the performance variables of
  :func:`qtmsweep.thermo.performance`;
* every other model with heat currents: the performance variables;
* ``qubit_fridge``, ``kerr_fridge``: also ``cooling`` (sign of ``J_Q[C]`` resolved with lead C's
  precision bound) and ``cop_over_carnot`` (:mod:`qtmsweep.thermo.fridge`);
* a sweep with counting statistics (``cumulants:``): ``tur_violation`` (coherent dynamics beating
  the classical TUR beyond its bound, the physics to map) and ``tur_min``
  (:func:`qtmsweep.thermo.noise.tur_variables`);
* ``chain``: also ``contrast`` (rectification contrast of ``J_Q[L]``) on a forward/reverse sweep
  (a ``direction`` dimension, from a ``reverse:`` block) and ``conductance`` (004's κ, on
  ``J_SS = 2 J_Q[L]``) on a sweep with a symmetric pair ``dT = ±δ`` (:mod:`qtmsweep.thermo.pairs`).

A forward/reverse sweep's reverse cells are analysed in their own frame (the swapped
parameters put back), so their mode and COP use the temperatures they really had.

:func:`analyze_store` does the same on a zarr store, slab by slab, and writes the
new variables into it (or into a separate store), so a workflow rule is one line.

Examples
--------
>>> import qtmsweep
>>> ds = qtmsweep.solve("sqd", eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
>>> out = analyze(ds)
>>> sorted(v for v in ("regime", "mode", "eta_2", "icc_J_E_l") if v in out)
['eta_2', 'icc_J_E_l', 'mode', 'regime']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .thermo.classify import cell_dims, classify, current_scales, resolve_pair
from .thermo.fridge import FRIDGE_MODELS, fridge_variables
from .thermo.pairs import (DEFAULT_SWAP, DIRECTION, Swap, conductance_from_dT, contrast_from_directions, reverse_swap,
                           swap_parameters, to_forward_frame)
from .thermo.performance import performance

#: Variables whose presence marks a dataset as analysed.
ANALYSIS_MARKER = "mode"
#: ``source`` attribute of every variable the analysis writes.
SOURCE = "qtmsweep.analysis"
#: Cells per slab when analysing a store.
SLAB_CELLS = 2_000_000


def analysis_variables(ds: xr.Dataset, reduced_model: str | None = None, **tolerances: float) -> xr.Dataset:
    """Only the new variables (classification and performance) for ``ds``; attrs say what was done."""
    ds = complete_reduced(ds)
    swap = reverse_swap(ds)
    if swap:
        return _forward_reverse_variables(ds, swap, reduced_model, **tolerances)
    out = _cell_variables(ds, reduced_model, **tolerances)
    if str(ds.attrs.get("model")) == "chain":
        G = conductance_from_dT(ds)
        if G is not None:
            out["conductance"] = G.assign_attrs(source=SOURCE)
    return out


_EPS64 = float(np.finfo(np.float64).eps)


class _Parameters:
    """``params[name]`` of a dataset for a model's ``forces``: a data variable or coordinate broadcast
    over the cell dims (numpy), or a fixed parameter from the attrs; ``KeyError`` otherwise."""

    def __init__(self, ds: xr.Dataset, like: xr.DataArray):
        self.ds, self.like = ds, like

    def __getitem__(self, name: str):
        if name in self.ds.variables and name not in ("lead", "state"):
            return xr.broadcast(self.ds[name].astype(float), self.like)[0].transpose(*self.like.dims).values
        if name in self.ds.attrs and isinstance(self.ds.attrs[name], (int, float)):
            return float(self.ds.attrs[name])
        raise KeyError(name)

    def get(self, name: str, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


def complete_reduced(ds: xr.Dataset) -> xr.Dataset:
    """A store written with a ``store: {variables: ...}`` block (``store_variables`` attr) that left out
    variables the analysis needs: recompute those derivable from what is stored — the forces ``F_*``
    from the parameters (the model's own ``forces``), ``J_Q = J_E - mu J_N`` (its lead's ``rel_err``
    widened to the bound of that difference) — and raise a ``ValueError`` naming any other one
    missing (``p``, ``J_E``, ``J_N``, ``rel_err``, ``sigma``).  Other datasets are returned as they are."""
    if "store_variables" not in ds.attrs or ds.attrs.get("store_variables") == "all" or "J_E" not in ds:
        return _require(ds, ["J_E"]) if "store_variables" in ds.attrs else ds
    from .physics.registry import get_model

    try:
        model = get_model(str(ds.attrs.get("model")))
    except ValueError:
        return ds
    dims = cell_dims(ds)
    like = ds["J_E"].isel(lead=0, drop=True).transpose(*dims)
    params = _Parameters(ds, like)
    exchange = bool(getattr(model, "particle_exchange", False))
    new: dict[str, xr.DataArray] = {}
    missing_forces = [f for f in getattr(model, "force_flux", {}) if f not in ds]
    if missing_forces:
        try:
            forces = model.forces(params)
        except (KeyError, TypeError, ValueError):
            forces = {}
        for f in missing_forces:
            if f in forces:
                kind = "F_E" if f.startswith("F_E") else "F_N"
                units = "1/energy" if kind == "F_E" else "1"
                new[f] = xr.DataArray(np.broadcast_to(np.asarray(forces[f], dtype=float), like.shape).copy(),
                                      dims=like.dims, coords=like.coords,
                                      attrs={"units": units, "long_name": f"thermodynamic force {f}",
                                             "comment": "recomputed from the parameters by the analysis (not stored)"})
    if "J_Q" not in ds and (not exchange or "J_N" in ds):
        try:
            new.update(_heat_current(ds, model, params, like, exchange))
        except KeyError:  # a lead's chemical potential is not stored either: J_Q stays missing
            pass
    out = ds.assign(new) if new else ds
    needed = ["J_E", "J_Q", "rel_err", "sigma"] + (["J_N"] if exchange else []) \
        + (["p"] if getattr(model, "transitions", None) else []) + missing_forces
    return _require(out, needed)


def _heat_current(ds: xr.Dataset, model, params: _Parameters, like: xr.DataArray, exchange: bool) -> dict:
    """``J_Q = J_E - mu J_N`` (and the widened ``rel_err``) from the stored currents."""
    from .solve import CURRENT_META

    new: dict[str, xr.DataArray] = {}
    J_E = ds["J_E"].astype(float)
    if exchange:
        mus = []
        for lead in [str(x) for x in ds["lead"].values]:
            name = model.lead_reservoir[lead][1]
            mus.append(xr.DataArray(params[name], dims=like.dims, coords=like.coords) if name else 0.0 * like)
        mu = xr.concat(mus, dim="lead").assign_coords(lead=ds["lead"])
        J_N = ds["J_N"].astype(float)
        J_Q = J_E - mu * J_N
        if "rel_err" in ds:  # |dJ_Q| <= (r + 2 eps)(|J_E| + |mu J_N|) for the bound r of J_E and J_N
            r = ds["rel_err"].astype(float)
            gross = abs(J_E) + abs(mu * J_N)
            with np.errstate(divide="ignore", invalid="ignore"):
                rq = xr.where(gross == 0, 0.0, (r + 2 * _EPS64) * gross / abs(J_Q))
            new["rel_err"] = np.maximum(r, rq).transpose(*ds["rel_err"].dims).assign_attrs(
                ds["rel_err"].attrs, comment="widened by the analysis to bound J_Q = J_E - mu J_N, recomputed "
                                             "from the stored J_E and J_N")
    else:
        J_Q = J_E.copy()
    units, long_name = CURRENT_META["J_Q"]
    new["J_Q"] = J_Q.transpose(*ds["J_E"].dims).assign_attrs(
        units=units, long_name=long_name, comment="recomputed from the stored J_E and J_N by the analysis")
    return new


def _require(ds: xr.Dataset, needed) -> xr.Dataset:
    missing = [n for n in needed if n not in ds]
    if missing:
        kept = ds.attrs.get("store_variables")
        raise ValueError(f"the analysis needs variable(s) {', '.join(missing)}, which this store does not hold and "
                         f"cannot recompute (its sweep's store: block keeps "
                         f"{', '.join(kept) if isinstance(kept, list) else kept}); add "
                         f"{', '.join(missing)} to the sweep's store.variables and run the sweep again")
    return ds


def _forward_reverse_variables(ds: xr.Dataset, swap, reduced_model, **tolerances) -> xr.Dataset:
    """Cell variables of each direction in its own frame, plus the pair quantities."""
    parts = []
    for d in ds[DIRECTION].values:
        sub = ds.sel({DIRECTION: d})
        if float(d) == 1.0:
            new = to_forward_frame(_cell_variables(to_forward_frame(sub, swap), reduced_model, **tolerances), swap)
        else:
            new = _cell_variables(sub, reduced_model, **tolerances)
        parts.append(new.expand_dims({DIRECTION: [d]}))
    out = xr.concat(parts, dim=DIRECTION, combine_attrs="override") if len(parts) > 1 else parts[0]
    dims = [d for d in ds["sigma"].dims]
    out = out.transpose(*dims, ...)
    if str(ds.attrs.get("model")) == "chain" and ds.sizes[DIRECTION] == 2:
        out["contrast"] = contrast_from_directions(ds).assign_attrs(source=SOURCE)
    return out


def _cell_variables(ds: xr.Dataset, reduced_model: str | None = None, **tolerances: float) -> xr.Dataset:
    model = str(ds.attrs.get("model"))
    scales = current_scales(ds)
    attrs: dict[str, Any] = {}
    parts = []
    classification = None
    if model in ("cqd", "sqd"):
        try:
            pair = resolve_pair(ds, reduced_model)
        except ValueError as err:
            attrs["classification"] = f"skipped: {err}"
        else:
            classification = classify(ds, pair.name, scales=scales, **tolerances)
            parts.append(classification)
            attrs.update({"reduced_model": pair.name, "forces_parallel": bool(pair.forces_parallel),
                          "force_pair": list(pair.forces), "flux_pair": classification.attrs["flux_pair"]})
    if "J_Q" in ds:
        parts.append(performance(ds, classification.attrs["reduced_model"] if classification is not None else None,
                                 classification=classification, scales=scales, **tolerances))
    if "tur" in ds and "flux" in ds["tur"].dims:
        from .thermo.noise import tur_variables

        parts.append(tur_variables(ds))
    if model in FRIDGE_MODELS:
        parts.append(fridge_variables(ds, scales=scales, **{k: v for k, v in tolerances.items()
                                                            if k in ("current_rtol", "err_factor")}))
    # a variable the model itself outputs (e.g. qubit_fridge's cooling_power/cop) is kept, not overwritten
    out = xr.Dataset({name: var.assign_attrs(source=SOURCE) for part in parts for name, var in part.data_vars.items()
                      if name not in ds or ds[name].attrs.get("source") == SOURCE})
    out.attrs.update(attrs)
    if "sigma" in ds:
        out.attrs["analysis_nonfinite_cells"] = int((~np.isfinite(ds["sigma"])).sum())
    for part in parts:
        for k, v in part.attrs.items():
            if k.endswith("rtol") or k == "err_factor":
                out.attrs[f"analysis_{k}"] = float(v)
    return out


def analyze(ds: xr.Dataset, reduced_model: str | None = None, **tolerances: float) -> xr.Dataset:
    """``ds`` with the classification and performance variables of its model added.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`qtmsweep.solve` or an opened sweep store.
    reduced_model : {"I", "II", None}
        Force pair for ``cqd``; ``None`` reads ``ds.attrs["reduced_model"]`` or detects it.
    **tolerances
        ``force_rtol``, ``current_rtol``, ``err_factor`` (see :mod:`qtmsweep.thermo.classify`).

    Returns
    -------
    xarray.Dataset
        A new dataset; ``ds`` is not modified.
    """
    new = analysis_variables(ds, reduced_model, **tolerances)
    out = ds.assign({k: v for k, v in new.data_vars.items()})
    out.attrs.update(new.attrs)
    return out


def is_analysed(ds: xr.Dataset) -> bool:
    """True when ``ds`` already carries the analysis variables."""
    return ANALYSIS_MARKER in ds


def analyze_store(store_path: str | Path, out_path: str | Path | None = None, *, reduced_model: str | None = None,
                  slab_cells: int = SLAB_CELLS, **tolerances: float) -> Path:
    """Analyse a sweep store and write the new variables into it (or into ``out_path``).

    The store is read slab by slab along its first grid dimension (about ``slab_cells``
    cells at a time), so stores larger than memory work.  Existing variables are not
    touched; re-running overwrites the analysis variables.  The analysis is a snapshot:
    cells not yet computed (NaN) are ``undetermined`` and counted in the attr
    ``analysis_nonfinite_cells``; analyse again after a sweep is resumed.

    Parameters
    ----------
    store_path : path
        A zarr store written by the sweep pipeline (or ``Dataset.to_zarr``).
    out_path : path, optional
        Write the analysis variables (with the coordinates and attrs) to a separate store
        instead.
    reduced_model, **tolerances
        As for :func:`analyze`.

    Returns
    -------
    pathlib.Path
        The store the variables were written to.
    """
    store_path = Path(store_path)
    ds = xr.open_zarr(str(store_path), consolidated=None)
    from .physics.declared import register_from_dataset

    register_from_dataset(ds)  # a declared model's spec travels in the store's config attr
    dims = cell_dims(ds)
    target = Path(out_path) if out_path is not None else store_path
    lead_dim = dims[0] if dims else None
    if lead_dim is None:
        slabs = [slice(None)]
    else:
        per_row = max(1, int(np.prod([ds.sizes[d] for d in dims[1:]], dtype=np.int64)))
        rows = max(1, slab_cells // per_row)
        chunk = _chunk_along(ds, lead_dim)
        if chunk:
            rows = max(chunk, (rows // chunk) * chunk)
        slabs = [slice(i, min(i + rows, ds.sizes[lead_dim])) for i in range(0, ds.sizes[lead_dim], rows)]

    first = True
    final_attrs: dict[str, Any] = {}
    nonfinite = 0
    for sl in slabs:
        sub = ds.isel({lead_dim: sl}) if lead_dim else ds
        new = analysis_variables(sub.load(), reduced_model, **tolerances)
        nonfinite += int(new.attrs.get("analysis_nonfinite_cells", 0))
        if first:
            final_attrs = dict(new.attrs)
            template = _template(ds, new, dims)
            if out_path is not None:
                template.to_zarr(str(target), mode="w", compute=False, consolidated=True)
            else:
                template.drop_vars(list(template.coords)).to_zarr(str(target), mode="a", compute=False,
                                                                    consolidated=True)
            first = False
        region = {d: (sl if d == lead_dim else slice(None)) for d in new.dims}
        new = new.drop_vars([c for c in new.coords])
        new.attrs = {}
        # every chunk gets its file, an all-NaN one too: `qtmsweep verify` can then tell a lost file
        new.to_zarr(str(target), region=region, mode="r+", consolidated=False, write_empty_chunks=True)
    final_attrs["analysis_nonfinite_cells"] = nonfinite
    final_attrs["analysis_every_chunk"] = 1  # every analysis chunk has its file (see `qtmsweep verify`)  # cells not (yet) computed: analysed as undetermined
    _update_attrs(target, final_attrs)
    return target


def _chunk_along(ds: xr.Dataset, dim: str) -> int | None:
    for var in ds.data_vars.values():
        chunks = var.encoding.get("chunks") or var.encoding.get("preferred_chunks", {}).get(dim)
        if isinstance(chunks, int):
            return chunks
        if chunks and dim in var.dims:
            return int(chunks[var.dims.index(dim)])
    return None


def _template(ds: xr.Dataset, new: xr.Dataset, dims: tuple[str, ...]) -> xr.Dataset:
    """Lazy full-size arrays shaped like ``new`` over the whole store (metadata only is written)."""
    import dask.array as da

    chunk = {d: (_chunk_along(ds, d) or ds.sizes[d]) for d in dims}
    data = {}
    for name, var in new.data_vars.items():
        shape = tuple(ds.sizes[d] for d in var.dims)
        fill = np.nan if var.dtype.kind == "f" else 0
        arr = da.full(shape, fill, dtype=var.dtype, chunks=tuple(chunk.get(d, ds.sizes[d]) for d in var.dims))
        data[name] = xr.DataArray(arr, dims=var.dims, attrs=var.attrs)
    coords = {d: ds[d] for d in dims if d in ds.coords}
    # to_zarr(mode="a") replaces the root attrs: carry the store's own attrs over
    return xr.Dataset(data, coords=coords, attrs={**ds.attrs, **new.attrs})


def _update_attrs(path: Path, attrs: dict[str, Any]) -> None:
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    group.attrs.update(_jsonable(attrs))
    try:
        zarr.consolidate_metadata(str(path))
    except Exception:  # pragma: no cover - stores without consolidated metadata
        pass


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def solve_pair(model: Any, *, swap: Swap = DEFAULT_SWAP, method: str = "auto", **params: Any):
    """Solve ``model`` at ``params`` (forward) and with ``swap`` applied (reverse) (for
    :mod:`qtmsweep.thermo.pairs`, which does not solve: thermo/ sits below :mod:`qtmsweep.solve`).

    Returns ``(forward, reverse)`` datasets of :func:`qtmsweep.solve`.
    """
    from .solve import solve

    return solve(model, method=method, **params), solve(model, method=method, **swap_parameters(params, swap))
