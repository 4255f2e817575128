"""Write one computed chunk: its data, then its counts and run id, then (last) its completion flag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

from ..thermo.invariants import violation_arrays
from .grid import SweepPlan
from .layout import BOOKKEEPING, COUNTERS, CRC_ARRAY, FLOAT32_DIAGNOSTICS, StoreError, _quiet


def invariant_counts(ds: xr.Dataset, dims: tuple[str, ...]) -> np.ndarray:
    """Per-chunk counts of cells failing each invariant check (:data:`COUNTERS`, in that order)."""
    masks = violation_arrays(ds, dims)
    return np.array([np.count_nonzero(masks[k]) for k in COUNTERS], dtype=np.int64)


def write_chunk(path: str | Path, plan: SweepPlan, index: tuple[int, ...], ds: xr.Dataset, run: int,
                store_id: str | None = None, durable: bool = False) -> np.ndarray:
    """Write one computed chunk's data, then its counts, run id and (last) its completion flag.

    The variables are encoded as xarray would (``encode_zarr_variable``) and written as
    whole zarr chunks by a :class:`~qtmsweep.sweep.chunkio.ChunkWriter` (the bytes zarr
    writes, in half the time).  The completion flag is written only after every data file
    has been renamed into place.  With ``store_id`` (the ``store_id`` attr the store was
    created with), a task that outlived its run — the store deleted and created again
    meanwhile, e.g. by ``--fresh`` on a long-lived cluster — is refused before it writes
    data and again before it sets the flag.

    The crc32c of every data file is recorded in ``_sweep/crc32c`` with the chunk's counts and
    run id (stores created before it have no such array and record none).  With ``durable``,
    every file and its directory entry are fsync'ed before the next stage, so a flag set is a
    flag whose data survive a power loss.
    """
    slices = plan.chunk_slices(index)
    expected = tuple(s.stop - s.start for s in slices)
    got = tuple(ds.sizes[d] for d in plan.dims)
    if got != expected:
        raise StoreError(f"chunk {index} has shape {got}, expected {expected}")
    counts = invariant_counts(ds, plan.dims)  # on the float64 values of every variable
    # the variables (and dtypes) the sweep's store: block keeps; float32 arrays in this thread's buffers,
    # reused by its next chunk (written below before this function returns)
    ds = plan.store.apply(ds, reuse=True)
    dims = plan.dims
    items = {}
    for name, v in ds.data_vars.items():
        v = _encode(v.variable, name)
        selection = tuple(slices[dims.index(d)] if d in dims else slice(None) for d in v.dims)
        values = v.values
        if name in FLOAT32_DIAGNOSTICS:
            values = _float32_upward(values)
        items[name] = (selection, values)
    writer = _writer(path, store_id or plan.config_sha256)
    stored = _store_counts(writer, counts)
    book = {f"{BOOKKEEPING}/counts": (index + (slice(None),), stored[(None,) * len(index)]),
            f"{BOOKKEEPING}/run": (index, np.full((1,) * len(index), run, dtype=np.int32))}
    done = {f"{BOOKKEEPING}/done": (index, np.ones((1,) * len(index), dtype=np.int8))}
    if store_id:
        _check_store_id(path, store_id)
    crcs = _write_arrays(writer, items, durable=durable) or {}
    entries = _crc_entries(writer)
    if entries is not None:
        dims_of = {name: items_dims for name, items_dims in ((n, ds[n].dims) for n in ds.data_vars)}
        vec = np.full(len(entries), -1, dtype=np.int64)  # -1: not recorded (zarr wrote that file)
        for k, (name, other) in enumerate(entries):
            rest = iter(other)
            block = tuple(index[dims.index(d)] if d in dims else next(rest) for d in dims_of.get(name, ()))
            crc = crcs.get(name, {}).get(block)
            if crc is not None:
                vec[k] = crc
        book[f"{BOOKKEEPING}/{CRC_ARRAY}"] = (index + (slice(None),), vec[(None,) * len(index)])
    _write_arrays(writer, book, durable=durable)
    if store_id:
        _check_store_id(path, store_id)
    _write_arrays(writer, done, durable=durable)
    return counts


def _store_counts(writer, counts: np.ndarray) -> np.ndarray:
    """``counts`` (in :data:`COUNTERS` order) in the order of the counters the store was created with
    (its ``_sweep`` attrs): a store made before a check was added keeps its own counters."""
    names = getattr(writer, "_counters", None)
    if names is None:
        import zarr

        try:
            with _quiet():
                names = tuple(zarr.open_group(str(Path(writer.path) / BOOKKEEPING), mode="r").attrs["counters"])
        except Exception:  # noqa: BLE001 - no attrs: the current counters
            names = tuple(COUNTERS)
        writer._counters = names
    if names == tuple(COUNTERS):
        return counts
    return np.array([counts[COUNTERS.index(n)] if n in COUNTERS else 0 for n in names], dtype=np.int64)


def _crc_entries(writer) -> list[tuple[str, tuple[int, ...]]] | None:
    """The data files a chunk's ``_sweep/crc32c`` row describes, ``(variable, zarr chunk index along
    its non-swept dims)``, from the array's ``files`` attr (read once per writer); ``None`` for a
    store without checksums."""
    entries = getattr(writer, "_crc_entries", False)
    if entries is False:
        import zarr

        try:
            with _quiet():
                attrs = zarr.open_array(str(Path(writer.path) / BOOKKEEPING / CRC_ARRAY), mode="r").attrs
            entries = [(str(name), tuple(int(i) for i in other)) for name, other in attrs["files"]]
        except (FileNotFoundError, KeyError, ValueError, TypeError):
            entries = None
        except Exception:  # noqa: BLE001 - zarr raises its own not-found errors
            entries = None
        writer._crc_entries = entries
    return entries


def _float32_upward(values: np.ndarray) -> np.ndarray:
    """float64 -> float32 rounded towards +inf: a stored error bound or residual is never
    smaller than the computed one (values beyond float32's range become inf)."""
    values = np.asarray(values)
    if values.dtype != np.float64:
        return values
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(np.float32)
        low = out.astype(np.float64) < values
        if low.any():
            out[low] = np.nextafter(out[low], np.float32(np.inf))
    return out


def _check_store_id(path: str | Path, store_id: str) -> None:
    try:
        with open(Path(path) / "zarr.json", encoding="utf-8") as fh:
            current = json.load(fh).get("attributes", {}).get("store_id")
    except FileNotFoundError:
        current = None
    if current != store_id:
        raise StoreError(f"store {str(path)!r} was deleted or created again since this chunk's run started "
                         f"(store_id {store_id[:8]}..., now {str(current)[:8]}...); the chunk is not written")


def chunk_done(path: str | Path, plan: SweepPlan, index: tuple[int, ...], store_id: str | None = None) -> bool:
    """Whether chunk ``index`` carries its completion flag (one file check)."""
    plan = _writer(path, store_id or plan.config_sha256)._plan(f"{BOOKKEEPING}/done")
    return (plan.directory / plan.encode_key(tuple(int(i) for i in index))).is_file() if plan.direct else \
        bool(plan.array[tuple(slice(int(i), int(i) + 1) for i in index)].any())


def _encode(variable: xr.Variable, name: str) -> xr.Variable:
    try:
        from xarray.backends.zarr import encode_zarr_variable
    except ImportError:  # pragma: no cover - xarray moved it; float data need no encoding
        return variable
    return encode_zarr_variable(variable, needs_copy=False, name=name)


def _write_arrays(writer, *stages: Mapping[str, tuple[Any, np.ndarray]],
                  durable: bool = False) -> dict[str, dict[tuple[int, ...], int]]:
    """``array[selection] = values`` for every item, stage after stage (each stage only once the
    previous one is written); ``selection`` are chunk-grid indices (ints) or slices of cells.
    Returns the crc32c of every file written directly, by array name and zarr chunk index."""
    crcs: dict[str, dict[tuple[int, ...], int]] = {}
    for items in stages:
        for name, (selection, values) in items.items():
            sel = tuple(slice(i, i + 1) if isinstance(i, (int, np.integer)) else i for i in selection)
            got = writer.write(name, sel, values, durable=durable)
            if got:
                crcs[name] = got
    return crcs


_WRITERS: dict[tuple[str, str], Any] = {}


def _writer(path: str | Path, key: str):
    """This process's :class:`ChunkWriter` of a store (its metadata read once per store id)."""
    from .chunkio import ChunkWriter

    full = (str(Path(path).absolute()), key)
    writer = _WRITERS.get(full)
    if writer is None:
        while len(_WRITERS) >= 8:
            _WRITERS.pop(next(iter(_WRITERS), None), None)
        writer = _WRITERS[full] = ChunkWriter(full[0])
    return writer
