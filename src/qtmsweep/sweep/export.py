"""Export a sweep store to NetCDF, CSV or Parquet with CF-clean attributes.

NetCDF attributes may only be numbers, strings or 1-d numeric arrays: a boolean becomes 0/1, a
list of strings one space-separated string, a mapping or ``None`` JSON text.  String coordinates
(``lead``, ``state``) become fixed-width strings.  CSV and Parquet get one row per cell: a
variable over ``lead``/``state`` becomes one column per label (``J_E[a]``), the dataset attrs go
to a ``<OUT>.attrs.json`` next to a CSV and into the Parquet schema's metadata.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"J": (("x", "lead"), np.ones((2, 2)))}, coords={"x": [0.0, 1.0], "lead": ["a", "b"]},
...                 attrs={"complete": True, "chunk_dims": ["x"]})
>>> clean = cf_clean(ds)
>>> clean.attrs["complete"], clean.attrs["chunk_dims"], clean["lead"].dtype.kind
(1, 'x', 'U')
>>> list(cell_table(ds).columns)
['x', 'J[a]', 'J[b]']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .layout import StoreError

FORMATS = {".nc": "netcdf", ".csv": "csv", ".parquet": "parquet"}


def _clean_value(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(np.asarray(value).ravel().tolist()) if isinstance(value, np.ndarray) else list(value)
        if items and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            return np.asarray(items)
        if all(isinstance(v, str) for v in items):
            return " ".join(items)
        return json.dumps(items, default=str)
    return json.dumps(value, default=str)


def cf_clean(ds: xr.Dataset) -> xr.Dataset:
    """A copy of ``ds`` whose attrs (dataset, variables, coordinates) NetCDF can store, and whose
    string coordinates are fixed-width (xarray writes those as NetCDF strings)."""
    out = ds.copy()
    out.attrs = {str(k): _clean_value(v) for k, v in ds.attrs.items()}
    for name in list(out.variables):
        var = out[name]
        var.attrs = {str(k): _clean_value(v) for k, v in var.attrs.items()}
        if var.dtype == object or var.dtype.kind == "O":
            values = np.asarray(var.values).astype(str)
            out[name] = var.copy(data=values)
        out[name].encoding = {}
    return out


def cell_table(ds: xr.Dataset):
    """One row per cell of the swept dims (a :class:`pandas.DataFrame`): a variable over other dims
    (``lead``, ``state``) is split into one column per label, ``name[label]``."""
    import pandas as pd

    cell_dims = _cell_dims(ds)
    columns: dict[str, np.ndarray] = {}
    index = pd.MultiIndex.from_product([ds[d].values for d in cell_dims], names=cell_dims) if cell_dims else None
    for name, v in ds.data_vars.items():
        other = [d for d in v.dims if d not in cell_dims]
        v = v.transpose(*cell_dims, *other)
        values = np.asarray(v.values)
        if not other:
            columns[name] = values.reshape(-1)
            continue
        flat = values.reshape(values.shape[: len(cell_dims)] + (-1,))
        names = [",".join(str(ds[d].values[i]) if d in ds.coords else str(i) for d, i in zip(other, combo))
                 for combo in np.ndindex(*[v.sizes[d] for d in other])]
        for k, label in enumerate(names):
            columns[f"{name}[{label}]"] = flat[..., k].reshape(-1)
    frame = pd.DataFrame(columns, index=index)
    return frame.reset_index() if index is not None else frame


def _cell_dims(ds: xr.Dataset) -> list[str]:
    chunk_dims = ds.attrs.get("chunk_dims")
    if isinstance(chunk_dims, (list, tuple)) and all(d in ds.dims for d in chunk_dims):
        return list(chunk_dims)
    return [d for d in ds.dims if d not in ("lead", "state", "site", "eigenstate", "counter")]


def export_store(store: str | Path, out: str | Path, *, decode_flags: bool = False) -> Path:
    """Write the store (merged with its analysis, see :func:`qtmsweep.open_store`) to ``out``.

    The format follows the suffix: ``.nc`` (NetCDF-4 via h5netcdf, or NetCDF-3 via scipy when
    h5netcdf is not installed), ``.csv`` (plus ``<out>.attrs.json``) or ``.parquet`` (pyarrow).
    Cells not computed yet are NaN, and the ``computed`` mask is exported with them.
    """
    import warnings

    from .opening import IncompleteStoreWarning, open_store

    out = Path(out)
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise StoreError(f"export to {str(out)!r}: the suffix {out.suffix!r} is not allowed; allowed: "
                         + ", ".join(FORMATS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteStoreWarning)
        ds = open_store(store, decode_flags=decode_flags, load=True)
    ds = cf_clean(ds)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "netcdf":
        if "computed" in ds:
            ds["computed"] = ds["computed"].astype(np.int8)
            ds["computed"].attrs.update({"flag_values": np.array([0, 1], dtype=np.int8),
                                         "flag_meanings": "not_computed computed"})
        try:
            import h5netcdf  # noqa: F401

            ds.to_netcdf(out, engine="h5netcdf")
        except ImportError:
            ds = _netcdf3_safe(ds)
            ds.to_netcdf(out, engine="scipy")
        return out
    table = cell_table(ds)
    if kind == "csv":
        table.to_csv(out, index=False)
        Path(str(out) + ".attrs.json").write_text(json.dumps(_json_attrs(ds.attrs), indent=2) + "\n")
        return out
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise StoreError("export to .parquet needs pyarrow (pip install pyarrow); or export to .nc or .csv") from None
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[b"qtmsweep_attrs"] = json.dumps(_json_attrs(ds.attrs)).encode()
    pq.write_table(arrow.replace_schema_metadata(meta), out)
    return out


def _json_attrs(attrs: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in attrs.items()}


def _netcdf3_safe(ds: xr.Dataset) -> xr.Dataset:
    """NetCDF-3 has no int64: integer attrs and variables that fit go to int32, others to float64."""
    out = ds.copy()
    for name in list(out.variables):
        v = out[name]
        if v.dtype == np.int64:
            fits = v.size == 0 or (np.abs(v.values).max() < 2**31)
            out[name] = v.astype(np.int32 if fits else np.float64)
    return out
