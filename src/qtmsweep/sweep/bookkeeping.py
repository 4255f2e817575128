"""The ``_sweep`` bookkeeping: completion flags, run records, invariant counts and the summary attrs."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from .layout import BOOKKEEPING, StoreError, _now, _open_group, is_store, open_bookkeeping, update_attrs
from .layout import COUNTERS  # noqa: F401 - the counters' names, with the bookkeeping
from .lock import StoreLock

if TYPE_CHECKING:  # pragma: no cover
    from .grid import SweepPlan


def chunk_files(array) -> list[tuple[int, ...]] | None:
    """Indices of the zarr chunks of ``array`` that have a file, from one listing of the store
    (no reads); ``None`` where the store or zarr version cannot list them.  A ``.partial`` file
    (a write in progress, or a killed one) is not a chunk."""
    store, base = array.store_path.store, array.store_path.path
    encoding = array.metadata.chunk_key_encoding

    async def keys() -> list[str]:
        return [k async for k in store.list_prefix(f"{base}/c")]

    try:
        from zarr.core.sync import sync

        found = sync(keys())
    except (ImportError, AttributeError, NotImplementedError):  # pragma: no cover - other zarr versions / stores
        return None
    out = []
    for key in found:
        try:
            out.append(_decode_chunk_key(encoding, key[len(base) + 1:]))
        except (ValueError, NotImplementedError):
            continue
    return out


def _done_indices(book) -> np.ndarray:
    """Chunk-grid indices (k, ndim) whose completion flag exists, from a listing of the flag's
    zarr chunks (each flag is its own zarr chunk, written only as 1): no per-chunk reads."""
    done = book["done"]
    found = chunk_files(done)
    if found is None:  # pragma: no cover - other zarr versions / stores
        return np.argwhere(np.asarray(done[...]).astype(bool))
    out = [index for index in found
           if len(index) == done.ndim and all(0 <= i < n for i, n in zip(index, done.shape))]
    return np.array(sorted(out), dtype=np.int64).reshape(-1, done.ndim)


def _decode_chunk_key(encoding, key: str) -> tuple[int, ...]:
    """Chunk coordinates of a chunk key (zarr 3.1's ``DefaultChunkKeyEncoding.decode_chunk_key``
    mis-parses ``c/0/5``)."""
    sep = getattr(encoding, "separator", "/")
    if getattr(encoding, "name", "") == "default":
        if key == "c":
            return ()
        if not key.startswith("c" + sep):
            raise ValueError(key)
        return tuple(int(p) for p in key[2:].split(sep))
    return tuple(int(p) for p in encoding.decode_chunk_key(key))


def read_done(path: str | Path) -> np.ndarray:
    """Completion mask over the chunk grid (bool)."""
    book = open_bookkeeping(path)
    mask = np.zeros(book["done"].shape, dtype=bool)
    idx = _done_indices(book)
    mask[tuple(idx.T)] = True
    return mask


def mark_incomplete(path: str | Path, chunks) -> int:
    """Mark chunks as not computed (their completion flags removed); a rerun recomputes them.

    For chunks whose data are known to be bad (a disk error — :func:`~qtmsweep.sweep.verify.verify_store`
    finds those — or a kernel fixed since).  Takes
    the store's lock (refused while a run writes the store) and updates the completion and
    invariant attrs.

    Parameters
    ----------
    chunks : iterable of tuple of int
        Chunk-grid indices (as in ``_sweep/done``).

    Returns
    -------
    int
        How many of them were marked done before.
    """
    if not is_store(path):
        raise StoreError(f"{str(path)!r} is not a zarr store")
    lock = StoreLock(path).acquire()
    try:
        book = open_bookkeeping(path)["done"]
        root = Path(path) / BOOKKEEPING / "done"
        indices = [tuple(int(i) for i in index) for index in chunks]
        for index in indices:
            if len(index) != book.ndim or not all(0 <= i < k for i, k in zip(index, book.shape)):
                raise StoreError(f"chunk {index} is not in the chunk grid {book.shape} of {str(path)!r}")
        n = 0
        for index in indices:
            try:
                os.unlink(root / book.metadata.encode_chunk_key(index))
                n += 1
            except FileNotFoundError:
                pass
        _write_summary(path)
        return n
    finally:
        lock.release(remove=True)


def remove_partial_files(path: str | Path) -> int:
    """Delete the temporary ``*.partial`` files a killed writer left in the store; return how many."""
    n = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            if f.endswith(".partial"):
                try:
                    os.unlink(os.path.join(dirpath, f))
                    n += 1
                except FileNotFoundError:
                    pass
    return n


def read_bookkeeping(path: str | Path) -> dict[str, Any]:
    """``done`` (bool), ``run`` (int32) and ``counts`` (int64, last axis = ``counters``) arrays, and
    ``counters``: the names of the counts as the store recorded them (:data:`COUNTERS` for this format).

    Only the chunks marked done are read (concurrently), whatever the size of the chunk grid.
    """
    book = open_bookkeeping(path)
    counters = tuple(book.attrs.get("counters", COUNTERS))
    shape = book["done"].shape
    idx = _done_indices(book)
    done = np.zeros(shape, dtype=bool)
    run = np.zeros(shape, dtype=np.int32)
    k = len(counters)
    counts = np.zeros(shape + (k,), dtype=np.int64)
    if len(idx):
        sel = tuple(idx.T)
        done[sel] = True
        run[sel] = book["run"].get_coordinate_selection(sel)
        csel = tuple(np.repeat(c, k) for c in idx.T) + (np.tile(np.arange(k), len(idx)),)
        counts[sel] = np.asarray(book["counts"].get_coordinate_selection(csel)).reshape(len(idx), k)
    return {"done": done, "run": run, "counts": counts, "counters": counters}


def invariant_totals(book: Mapping[str, Any]) -> np.ndarray:
    """Counts of each invariant check (``book["counters"]``) summed over the chunks done, from
    :func:`read_bookkeeping`."""
    done = book["done"]
    return book["counts"][done].sum(axis=0) if done.any() else np.zeros(len(book["counters"]), dtype=np.int64)



def start_run(path: str | Path, setup: dict[str, Any]) -> int:
    """Record a run in the store's attrs (driver only, lock held); return its number (1, 2, ...)."""
    try:
        group = _open_group(path, "r+")
    except OSError as err:
        raise StoreError(f"cannot write store {str(path)!r}: {_reason(err)}; nothing was computed") from None
    runs = json.loads(group.attrs.get("runs", "[]"))
    number = len(runs) + 1
    runs.append({"run": number, "started": _now(), "host": socket.gethostname(), "pid": os.getpid(),
                 "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "dask": setup, "chunks_computed": 0,
                 "finished": None})
    try:
        update_attrs(path, {"runs": json.dumps(runs), "dask_setup": json.dumps(setup)})
    except OSError as err:
        raise StoreError(f"cannot write store {str(path)!r}: {_reason(err)}; nothing was computed") from None
    return number


def _reason(err: OSError) -> str:
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    return f"{err.strerror or err}{where}"


def finish_run(path: str | Path, plan: SweepPlan, number: int, computed: int) -> dict[str, Any]:
    """Update run record, completion and invariant totals in the attrs; return the summary."""
    try:
        group = _open_group(path, "r+")
        runs = json.loads(group.attrs.get("runs", "[]"))
        for r in runs:
            if r["run"] == number:
                r.update({"finished": _now(), "chunks_computed": int(computed)})
        return _write_summary(path, {"runs": json.dumps(runs)})
    except OSError as err:
        raise StoreError(f"store {str(path)!r}: the {int(computed)} chunk(s) this run computed are written and flagged, "
                         f"but its summary attrs could not be updated: {_reason(err)}. Free the space or fix the "
                         "permissions, then run the sweep again (it recomputes nothing and writes the summary)") from None


def _write_summary(path: str | Path, attrs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Completion and invariant totals from the bookkeeping, written to the attrs (with ``attrs``)."""
    book = read_bookkeeping(path)
    done = book["done"]
    totals = invariant_totals(book)
    summary = dict(attrs or {})
    summary.update({"complete": bool(done.all()), "chunks_done": int(done.sum()), "chunks_total": int(done.size)})
    summary.update({f"invariant_{k}": int(v) for k, v in zip(book["counters"], totals)})
    update_attrs(path, summary)
    return summary


def chunk_extents(chunks: list[int], shape: list[int]) -> np.ndarray:
    """Cells per chunk over the chunk grid."""
    per_dim = []
    for c, n in zip(chunks, shape):
        k = -(-n // c)
        e = np.full(k, c, dtype=np.int64)
        e[-1] = n - c * (k - 1)
        per_dim.append(e)
    out = np.ones((), dtype=np.int64)
    for e in per_dim:
        out = np.multiply.outer(out, e)
    return out
