"""Open a sweep store as one dataset: its analysis merged in, a ``computed`` mask, flags decoded on request.

Examples
--------
>>> import tempfile, qtmsweep
>>> from qtmsweep.sweep import RunOptions, run_sweep, validate_config
>>> cfg = validate_config({"sweeps": {"s": {"model": "cqd",
...     "fixed": {"eps_L": 1.0, "eps_R": 2.5, "kappa": -1.5, "T_b": 1.0, "T_r": 1.0, "mu_b": 1.0,
...               "mu_r": 0.0, "gamma_a": 1.0, "gamma_b": 1.0, "gamma_r": 1.0},
...     "grid": {"T_a": {"linspace": [0.5, 2.0, 8]}, "mu_a": {"linspace": [-1.0, 2.0, 6]}},
...     "chunks": {"T_a": 4}}}})
>>> store = tempfile.mkdtemp() + "/s.zarr"
>>> _ = run_sweep(cfg, "s", store, RunOptions(cluster="inline", progress=False, max_chunks=1))
>>> import warnings
>>> with warnings.catch_warnings(record=True) as w:
...     warnings.simplefilter("always")
...     ds = qtmsweep.open_store(store)
>>> int(ds["computed"].sum()), ds["computed"].size, "incomplete" in str(w[-1].message)
(24, 48, True)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .layout import BOOKKEEPING, StoreError, _open_group, _quiet, qtmsweep_attrs

#: File name of the separate analysis store ``qtmsweep analyze --out`` writes next to a sweep store
#: in the workflow (``results/<sweep>/analysis.zarr``).
ANALYSIS_STORE = "analysis.zarr"


class IncompleteStoreWarning(UserWarning):
    """The store opened has chunks not computed yet (their cells are NaN; see ``computed``)."""


def open_store(path: str | Path, analysis: str | Path | bool | None = None, *, decode_flags: bool = False,
               load: bool = False) -> xr.Dataset:
    """A sweep store as one dataset.

    Parameters
    ----------
    path : path
        A store written by ``qtmsweep run`` (analysed in place or not).
    analysis : path, bool or None
        A separate analysis store to merge (``qtmsweep analyze STORE --out A``).  ``None``: the
        ``analysis.zarr`` next to the store, if it exists and was made from the same config;
        ``False``: none.
    decode_flags : bool
        Replace every variable carrying CF ``flag_values``/``flag_meanings`` (such as ``mode``) by
        its names (a string array; the codes stay in ``<name>_code``).
    load : bool
        Load into memory (default: lazy, dask-backed).

    Returns
    -------
    xarray.Dataset
        With a boolean ``computed`` over the swept dims: True where the cell's chunk is flagged
        done.  An :class:`IncompleteStoreWarning` is issued when not every chunk is.

    Raises
    ------
    StoreError
        ``path`` is not a qtmsweep store, or its analysis store belongs to another config.
    """
    path = Path(path)
    attrs = qtmsweep_attrs(path)
    with _quiet():
        ds = xr.open_zarr(str(path), consolidated=None)
    _register_declared(ds)
    extra_path = _analysis_path(path, analysis)
    if extra_path is not None:
        extra_attrs = qtmsweep_attrs(extra_path)
        if extra_attrs.get("config_sha256") != attrs.get("config_sha256"):
            if analysis is None:
                extra_path = None  # a stale neighbour: not this store's analysis
            else:
                raise StoreError(f"analysis store {str(extra_path)!r} was made from another config "
                                 f"(config_sha256 {str(extra_attrs.get('config_sha256'))[:12]}... vs "
                                 f"{str(attrs.get('config_sha256'))[:12]}...)")
    if extra_path is not None:
        with _quiet():
            extra = xr.open_zarr(str(extra_path), consolidated=None)
        ds = ds.assign({k: v for k, v in extra.data_vars.items() if k not in ds})
        ds.attrs.update({k: v for k, v in extra.attrs.items() if k not in ds.attrs})
        ds.attrs["analysis_store"] = str(extra_path)
    computed = computed_mask(path, ds, attrs)
    if computed is not None:
        ds = ds.assign(computed=computed)
        n, total = int(computed.sum()), int(computed.size)
        if n < total:
            warnings.warn(f"store {str(path)!r} is incomplete: {n} of {total} cells computed "
                          f"({100.0 * n / total:.1f}%); the others are NaN (see the `computed` variable; rerun "
                          "`qtmsweep run` to resume)", IncompleteStoreWarning, stacklevel=2)
    if decode_flags:
        ds = decode_flag_variables(ds)
    return ds.load() if load else ds


def _register_declared(ds: xr.Dataset) -> None:
    """A store of a declared model carries its spec (the config attr): register it, so a fresh
    process analyses the store without the user declaring the model again."""
    from ..physics.declared import register_from_dataset

    register_from_dataset(ds)


def _analysis_path(path: Path, analysis) -> Path | None:
    if analysis is False:
        return None
    if analysis is None or analysis is True:
        candidate = path.parent / ANALYSIS_STORE
        if candidate.resolve() != path.resolve() and (candidate / "zarr.json").is_file():
            return candidate
        if analysis is True:
            raise StoreError(f"no analysis store {str(candidate)!r} next to {str(path)!r}")
        return None
    return Path(analysis)


def computed_mask(path: Path, ds: xr.Dataset, attrs: dict) -> xr.DataArray | None:
    """Boolean over the swept dims: the cell's chunk is flagged done (``None`` without bookkeeping)."""
    from .bookkeeping import read_done

    with _quiet():
        if BOOKKEEPING not in _open_group(path, "r") or "chunk_dims" not in attrs:
            return None
    done = read_done(path)
    dims = list(attrs["chunk_dims"])
    sizes = [int(c) for c in attrs["chunk_sizes"]]
    mask = done
    for axis, (d, c) in enumerate(zip(dims, sizes)):
        mask = np.repeat(mask, c, axis=axis)[(slice(None),) * axis + (slice(0, ds.sizes[d]),)]
    return xr.DataArray(mask, dims=dims, coords={d: ds[d] for d in dims},
                        attrs={"long_name": "cell computed (its chunk is flagged done)", "units": "1"})


def decode_flag_variables(ds: xr.Dataset) -> xr.Dataset:
    """Every variable with CF ``flag_values``/``flag_meanings`` as a string array of its names (codes
    kept as ``<name>_code``); an undefined code becomes ``""``."""
    out = ds
    for name, v in ds.data_vars.items():
        values, meanings = v.attrs.get("flag_values"), v.attrs.get("flag_meanings")
        if values is None or meanings is None:
            continue
        names = str(meanings).split()
        codes = np.asarray(values).ravel()
        if len(names) != len(codes):
            continue
        lookup = dict(zip(codes.tolist(), names))
        width = max(len(s) for s in names)

        def decode(a, lookup=lookup, width=width):
            a = np.asarray(a)
            out = np.full(a.shape, "", dtype=f"<U{width}")
            for code, label in lookup.items():
                out[a == code] = label
            return out

        labels = xr.apply_ufunc(decode, v, dask="parallelized", output_dtypes=[f"<U{width}"])
        labels.attrs = {k: val for k, val in v.attrs.items() if k not in ("flag_values", "flag_meanings", "units")}
        labels.attrs["comment"] = f"decoded from {name}_code ({meanings})"
        out = out.assign({f"{name}_code": v, name: labels})
    return out
