"""Summary of a store for ``qtmsweep info``: dims, variables, completion, invariants, provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xarray as xr

from .bookkeeping import chunk_extents, invariant_totals, read_bookkeeping
from .layout import COUNTER_DOC, _quiet, qtmsweep_attrs


def _variable_order(name: str) -> tuple[int, str]:
    first = ("p", "J_E", "J_N", "J_Q", "sigma", "sigma_micro")
    if name in first:
        return (0, f"{first.index(name):02d}")
    if name.startswith("F_"):
        return (1, name)
    if name.startswith("residual_") or name in ("rel_err", "sigma_rel_err"):
        return (2, name)
    return (3, name)


def store_info(path: str | Path) -> dict[str, Any]:
    """Summary of a store: dims, variables, completion, invariant counts, provenance."""
    path = Path(path)
    attrs = qtmsweep_attrs(path)
    with _quiet():
        ds = xr.open_zarr(str(path), consolidated=False)
    info: dict[str, Any] = {"store": str(path), "sweep": attrs.get("sweep"), "model": attrs.get("model"),
                            "dims": {d: int(n) for d, n in ds.sizes.items()},
                            "coords": {}, "variables": {}}
    for name in sorted(ds.coords, key=lambda n: (list(ds.dims).index(n) if n in ds.dims else len(ds.dims), n)):
        c = ds.coords[name]
        if c.ndim == 1 and c.size:
            vals = c.values
            info["coords"][name] = ([str(v) for v in vals] if vals.dtype.kind not in "fiu"
                                    else [float(vals[0]), float(vals[-1])])
    for name in sorted(ds.data_vars, key=_variable_order):
        v = ds[name]
        info["variables"][name] = {"dims": list(v.dims), "dtype": str(v.dtype), "units": v.attrs.get("units"),
                                   "long_name": v.attrs.get("long_name")}
    from .layout import BOOKKEEPING, _open_group

    with _quiet():
        has_book = BOOKKEEPING in _open_group(path, "r")
    if "config_sha256" not in attrs:
        info["completion"] = {"state": "interrupted template (nothing computed)"}
    elif not has_book and "analysis_nonfinite_cells" in attrs:
        info["kind"] = "analysis"
        info["completion"] = {"state": "analysis store (written by `qtmsweep analyze --out`; no chunk bookkeeping): "
                                       f"{attrs['analysis_nonfinite_cells']} cells were not finite when analysed"}
    else:
        book = read_bookkeeping(path)
        done = book["done"]
        chunk_dims = list(attrs["chunk_dims"])
        extents = chunk_extents(list(attrs["chunk_sizes"]), [ds.sizes[d] for d in chunk_dims])
        counts = invariant_totals(book)
        info["completion"] = {"chunks_done": int(done.sum()), "chunks_total": int(done.size),
                              "cells_done": int(extents[done].sum()), "cells_total": int(extents.sum()),
                              "complete": bool(done.all()),
                              "chunks": dict(zip(chunk_dims, (int(c) for c in attrs["chunk_sizes"])))}
        info["invariants"] = {k: int(v) for k, v in zip(book["counters"], counts)}
        info["invariants_doc"] = {k: COUNTER_DOC.get(k, "(a counter of an older store format)")
                                  for k in book["counters"]}
    prov_keys = ("qtmsweep_version", "qtmsweep_store_format", "store_id", "git_revision", "git_dirty", "created",
                 "config_sha256", "method", "reduced_model", "forces_parallel")
    info["provenance"] = {k: attrs[k] for k in prov_keys if k in attrs}
    info["provenance"]["dask_setup"] = json.loads(attrs["dask_setup"]) if "dask_setup" in attrs else None
    info["runs"] = json.loads(attrs.get("runs", "[]"))
    info["config"] = attrs.get("config")
    skip = set(prov_keys) | {"config", "runs", "dask_setup", "chunk_dims", "chunk_sizes", "complete", "chunks_done",
                             "chunks_total", "qtmsweep_store_format", "sweep", "model"}
    info["fixed"] = {k: v for k, v in attrs.items() if k not in skip and not k.startswith("invariant_")}
    return info
