"""The zarr (v3) store of a sweep: template, whole-chunk writes, completion mask, provenance, lock.

Layout of ``<sweep>.zarr`` (store format 2)::

    zarr.json            root group: the SPEC §4 dataset's attrs (provenance, fixed parameters,
                         ``store_id``, completion and invariant totals)
    <var>/               one array per variable; its zarr chunks are the computation chunks along
                         the swept dims and single elements along ``lead``/``state``
    _sweep/done          int8 over the chunk grid: 1 once a chunk's data are written
    _sweep/run           int32 over the chunk grid: which run (1, 2, ...) wrote the chunk
    _sweep/counts        int64 (chunk grid, counter): cells failing each invariant check, per chunk

``xr.open_zarr(store)`` sees only the dataset (the ``_sweep`` group is ignored).
A chunk is written by one task, as ``data -> counts -> run -> done``, each file to a
temporary name and renamed into place; ``done`` is the only proof of completion (data
files are not: a killed task may have written some of them).  Every zarr chunk gets its
file, also one equal to the fill value, so a flagged chunk with a file missing has lost
it.  The order holds for a killed process or worker (the page cache keeps what was
written); the files are not fsync'ed, so a machine that loses power may lose recent
chunks of data under flags already set (:func:`qtmsweep.sweep.verify.verify_store`
finds such chunks).  Each bookkeeping element is its own zarr chunk, so concurrent
workers never share a file.  The template is created with ``compute=False`` and
``config_sha256`` is written last: a store without it is an interrupted template.

A run holds an advisory ``flock`` on ``<store>.lock`` for its whole duration and removes
the file when it ends; the kernel releases the lock if the process dies, so a left-over
lock file never blocks a rerun.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import shutil
import socket
import subprocess
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import xarray as xr

from ..thermo.invariants import CHECK_DOC, CHECKS, CONSERVATION_LIMIT, PRECISION_LIMIT, violation_arrays
from .grid import SweepPlan

BOOKKEEPING = "_sweep"
#: 2: one zarr chunk per element of the non-swept dims (lead, state); float32 diagnostics.
STORE_FORMAT = 2
#: Invariant checks counted per chunk on the worker (:mod:`qtmsweep.thermo.invariants`).
COUNTERS = CHECKS
COUNTER_DOC = CHECK_DOC
#: Diagnostics kept in float32 in the store (their float64 values are checked on the worker, see
#: :data:`COUNTERS`): 7 digits of an error bound or a residual are plenty, and the store is ~7% smaller.
FLOAT32_DIAGNOSTICS = ("residual_E", "residual_N", "rel_err", "sigma_rel_err")


class StoreError(RuntimeError):
    """A store cannot be created, resumed or written as asked."""


# -- small helpers ------------------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence zarr's warnings about consolidated metadata / string dtypes not in the v3 spec."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        yield


def _open_group(path: str | Path, mode: str = "r"):
    import zarr

    with _quiet():
        return zarr.open_group(str(path), mode=mode, use_consolidated=False, zarr_format=3)


def git_revision() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the source tree the package is imported from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return None, None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip(), bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def check_output_path(path: str | Path) -> Path:
    """Refuse output paths that cannot hold a store (before any work is done)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StoreError(f"output path {str(path)!r} exists and is not a directory; allowed: a new or existing "
                         "zarr store directory")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(f"output path {str(path)!r}: {str(parent)!r} is a file, not a directory")
            if not os.access(parent, os.W_OK) and not path.exists():
                raise StoreError(f"output path {str(path)!r}: directory {str(parent)!r} is not writable")
            break
    return path


# -- lock -----------------------------------------------------------------------------------
class StoreLock:
    """Exclusive advisory lock on ``<store>.lock`` (``fcntl.flock``; released when the process dies).

    Raises
    ------
    StoreError
        If another process holds it (the message says which, from the lock file).
    """

    def __init__(self, store: str | Path):
        self.path = Path(str(store).rstrip("/") + ".lock")
        self._fd: int | None = None

    def acquire(self) -> "StoreLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown process"
                finally:
                    os.close(fd)
                raise StoreError(f"store {str(self.path)[:-5]!r} is being written by another run ({holder}); "
                                 "wait for it to finish") from None
            # the holder before us may have removed the file after we opened it: lock the file on disk
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n".encode())
        self._fd = fd
        return self

    def release(self, remove: bool = False) -> None:
        """Unlock; with ``remove``, delete the lock file first (while still holding it)."""
        if self._fd is not None:
            try:
                if remove:
                    try:
                        os.unlink(self.path)
                    except FileNotFoundError:
                        pass
                else:
                    os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "StoreLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# -- template --------------------------------------------------------------------------------
def _axis_attrs(plan: SweepPlan, name: str) -> dict[str, str]:
    from ..physics.registry import get_model

    if name.startswith("F_E"):
        return {"units": "1/energy", "long_name": f"force {name} (difference of inverse temperatures)"}
    if name.startswith("F_N"):
        return {"units": "1", "long_name": f"force {name} (difference of beta*mu)"}
    model = get_model(plan.model)
    if name in model.parameter_names:
        p = model.parameter(name)
        return {"units": p.units, "long_name": p.description}
    return {"units": "1", "long_name": name}


def template(plan: SweepPlan, probe: xr.Dataset) -> tuple[xr.Dataset, dict[str, dict]]:
    """Lazy (dask zeros, never computed) dataset with the store's full shape, and its encoding."""
    import dask.array as da

    dims = plan.dims
    coords: dict[str, Any] = {a.name: (a.name, a.values, _axis_attrs(plan, a.name)) for a in plan.axes}
    for name, c in probe.coords.items():
        if name in dims:
            continue
        values = c.values
        if values.dtype.kind == "U":  # variable-length strings have a zarr v3 spec, fixed-width ones don't
            values = values.astype(object)
        coords[name] = (c.dims, values, dict(c.attrs))
    data, encoding = {}, {}
    for name, v in probe.data_vars.items():
        if not set(v.dims) & set(dims):
            raise StoreError(f"output {name!r} does not depend on any swept dimension; cannot be stored per chunk")
        shape = tuple(plan.shape[dims.index(d)] if d in dims else v.sizes[d] for d in v.dims)
        chunks = tuple(plan.chunks[dims.index(d)] if d in dims else 1 for d in v.dims)
        # one dask chunk (never computed): the graph stays one task per variable for any grid size;
        # the zarr chunks come from the encoding
        dtype, attrs = v.dtype, dict(v.attrs)
        if name in FLOAT32_DIAGNOSTICS and dtype == np.float64:
            dtype = np.dtype(np.float32)
            attrs["comment"] = "stored as float32 (a diagnostic: 7 significant digits; computed in float64)"
        data[name] = (v.dims, da.zeros(shape, dtype=dtype, chunks=shape), attrs)
        encoding[name] = {"chunks": chunks, "compressors": _compressors()}
    ds = xr.Dataset(data, coords=coords)
    return ds, encoding


def _compressors() -> tuple:
    """Blosc LZ4 with byte shuffle: ~1/3 smaller than raw float64 maps, faster to write than zarr's zstd default."""
    from zarr.codecs import BloscCodec

    return (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),)


def provenance(plan: SweepPlan) -> dict[str, Any]:
    """Attrs recorded when a store is created (SPEC §4 and issue 3)."""
    from .. import __version__

    rev, dirty = git_revision()
    return {
        "qtmsweep_version": __version__,
        "git_revision": rev if rev is not None else "none",
        "git_dirty": bool(dirty) if dirty is not None else False,
        "config": plan.config_yaml,
        "created": _now(),
        "chunk_dims": list(plan.dims),
        "chunk_sizes": [int(c) for c in plan.chunks],
        "qtmsweep_store_format": STORE_FORMAT,
    }


def create_store(path: str | Path, plan: SweepPlan, probe: xr.Dataset) -> None:
    """Write the template (metadata and coordinates only) and the bookkeeping arrays."""
    path = Path(path)
    ds, encoding = template(plan, probe)
    attrs = dict(probe.attrs)
    attrs.update(plan.extra_attrs)
    attrs.update(provenance(plan))
    attrs.update({"complete": False, "chunks_done": 0, "chunks_total": plan.n_chunks, "runs": "[]",
                  "store_id": uuid.uuid4().hex})
    ds.attrs = attrs
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet():
        ds.to_zarr(str(path), mode="w", compute=False, zarr_format=3, consolidated=True, encoding=encoding)
        group = _open_group(path, "r+")
        book = group.create_group(BOOKKEEPING)
        grid = plan.chunk_grid
        ones = (1,) * len(grid)
        book.create_array("done", shape=grid, chunks=ones, dtype="int8", fill_value=0, compressors=None,
                          dimension_names=[f"chunk_{d}" for d in plan.dims])
        book.create_array("run", shape=grid, chunks=ones, dtype="int32", fill_value=0, compressors=None,
                          dimension_names=[f"chunk_{d}" for d in plan.dims])
        book.create_array("counts", shape=grid + (len(COUNTERS),), chunks=ones + (len(COUNTERS),), dtype="int64",
                          fill_value=0, compressors=None,
                          dimension_names=[f"chunk_{d}" for d in plan.dims] + ["counter"])
        book.attrs.update({"counters": list(COUNTERS), "counter_doc": COUNTER_DOC,
                           "conservation_limit": CONSERVATION_LIMIT, "precision_limit": PRECISION_LIMIT})
    # written last: its presence marks a complete template
    update_attrs(path, {"config_sha256": plan.config_sha256})


def update_attrs(path: str | Path, attrs: Mapping[str, Any]) -> None:
    """Update the root attrs and refresh the consolidated metadata (so plain ``xr.open_zarr`` is quiet)."""
    import zarr

    group = _open_group(path, "r+")
    group.attrs.update(dict(attrs))
    with _quiet():
        zarr.consolidate_metadata(str(path))


def read_attrs(path: str | Path) -> dict[str, Any]:
    return dict(_open_group(path, "r").attrs)


def qtmsweep_attrs(path: str | Path) -> dict[str, Any]:
    """The attrs of the qtmsweep store at ``path``; :class:`StoreError` for anything else."""
    if not is_store(path):
        raise StoreError(f"{str(path)!r} is not a zarr store")
    attrs = read_attrs(path)
    if "qtmsweep_store_format" not in attrs:
        raise StoreError(f"{str(path)!r} is a zarr store not written by qtmsweep")
    return attrs


def is_store(path: str | Path) -> bool:
    return (Path(path) / "zarr.json").is_file()


def prepare_store(path: str | Path, plan: SweepPlan, probe: xr.Dataset, *, if_exists: str = "resume") -> str:
    """Create the store, or check an existing one can be resumed.  Call with the lock held.

    Parameters
    ----------
    if_exists : {"resume", "overwrite", "fresh"}
        ``resume``: continue a store made from the same sweep config, refuse another;
        ``overwrite``: resume the same config, replace a store of another config;
        ``fresh``: always start over.

    Returns
    -------
    str
        ``"created"``, ``"resumed"`` or ``"replaced"``.
    """
    if if_exists not in ("resume", "overwrite", "fresh"):
        raise ValueError(f"if_exists={if_exists!r} is not allowed; allowed: 'resume', 'overwrite', 'fresh'")
    path = check_output_path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        create_store(path, plan, probe)
        return "created"
    if not is_store(path):
        raise StoreError(f"{str(path)!r} exists and is not a zarr store; refusing to touch it")
    attrs = read_attrs(path)
    if "qtmsweep_store_format" not in attrs:
        raise StoreError(f"{str(path)!r} is a zarr store not written by qtmsweep; refusing to touch it")
    sha = attrs.get("config_sha256")
    fmt = attrs["qtmsweep_store_format"]
    if fmt != STORE_FORMAT and sha is not None and if_exists == "resume":
        raise StoreError(f"{str(path)!r} has store format {fmt}, this version writes format {STORE_FORMAT} "
                         "(another chunk layout); use --overwrite or --fresh to start over, or another --out")
    if sha is None or fmt != STORE_FORMAT:  # an interrupted template (nothing computed), or another layout
        shutil.rmtree(path)
        create_store(path, plan, probe)
        return "replaced"
    if if_exists == "fresh" or (sha != plan.config_sha256 and if_exists == "overwrite"):
        shutil.rmtree(path)
        create_store(path, plan, probe)
        return "replaced"
    if sha != plan.config_sha256:
        raise StoreError(f"{str(path)!r} was made from a different config of sweep {plan.name!r} "
                         f"(config_sha256 {sha[:12]}... vs {plan.config_sha256[:12]}...); "
                         "use --overwrite to replace it, or another --out")
    if list(attrs.get("chunk_sizes", [])) != list(plan.chunks) or list(attrs.get("chunk_dims", [])) != list(plan.dims):
        raise StoreError(f"{str(path)!r} has chunks {attrs.get('chunk_sizes')} over {attrs.get('chunk_dims')}, this "
                         f"version plans {list(plan.chunks)} over {list(plan.dims)}; use --fresh to start over")
    remove_partial_files(path)  # left by a writer that was killed mid-file
    return "resumed"


# -- chunks ---------------------------------------------------------------------------------
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
    book = _open_group(path, "r")[BOOKKEEPING]
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
        book = _open_group(path, "r")[BOOKKEEPING]["done"]
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
    book = _open_group(path, "r")[BOOKKEEPING]
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


def invariant_counts(ds: xr.Dataset, dims: tuple[str, ...]) -> np.ndarray:
    """Per-chunk counts of cells failing each invariant check (:data:`COUNTERS`, in that order)."""
    masks = violation_arrays(ds, dims)
    return np.array([np.count_nonzero(masks[k]) for k in COUNTERS], dtype=np.int64)


def write_chunk(path: str | Path, plan: SweepPlan, index: tuple[int, ...], ds: xr.Dataset, run: int,
                store_id: str | None = None) -> np.ndarray:
    """Write one computed chunk's data, then its counts, run id and (last) its completion flag.

    The variables are encoded as xarray would (``encode_zarr_variable``) and written as
    whole zarr chunks by a :class:`~qtmsweep.sweep.chunkio.ChunkWriter` (the bytes zarr
    writes, in half the time).  The completion flag is written only after every data file
    has been renamed into place.  With ``store_id`` (the ``store_id`` attr the store was
    created with), a task that outlived its run — the store deleted and created again
    meanwhile, e.g. by ``--fresh`` on a long-lived cluster — is refused before it writes
    data and again before it sets the flag.
    """
    slices = plan.chunk_slices(index)
    expected = tuple(s.stop - s.start for s in slices)
    got = tuple(ds.sizes[d] for d in plan.dims)
    if got != expected:
        raise StoreError(f"chunk {index} has shape {got}, expected {expected}")
    counts = invariant_counts(ds, plan.dims)
    dims = plan.dims
    items = {}
    for name, v in ds.data_vars.items():
        v = _encode(v.variable, name)
        selection = tuple(slices[dims.index(d)] if d in dims else slice(None) for d in v.dims)
        values = v.values
        if name in FLOAT32_DIAGNOSTICS:
            values = _float32_upward(values)
        items[name] = (selection, values)
    book = {f"{BOOKKEEPING}/counts": (index + (slice(None),), counts[(None,) * len(index)]),
            f"{BOOKKEEPING}/run": (index, np.full((1,) * len(index), run, dtype=np.int32))}
    done = {f"{BOOKKEEPING}/done": (index, np.ones((1,) * len(index), dtype=np.int8))}
    writer = _writer(path, store_id or plan.config_sha256)
    for stage in ((items, book), (done,)):
        if store_id:
            _check_store_id(path, store_id)
        _write_arrays(writer, *stage)
    return counts


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


def _write_arrays(writer, *stages: Mapping[str, tuple[Any, np.ndarray]]) -> None:
    """``array[selection] = values`` for every item, stage after stage (each stage only once the
    previous one is written); ``selection`` are chunk-grid indices (ints) or slices of cells."""
    for items in stages:
        for name, (selection, values) in items.items():
            sel = tuple(slice(i, i + 1) if isinstance(i, (int, np.integer)) else i for i in selection)
            writer.write(name, sel, values)


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


# -- runs and summary ---------------------------------------------------------------------------
def start_run(path: str | Path, setup: dict[str, Any]) -> int:
    """Record a run in the store's attrs (driver only, lock held); return its number (1, 2, ...)."""
    group = _open_group(path, "r+")
    runs = json.loads(group.attrs.get("runs", "[]"))
    number = len(runs) + 1
    runs.append({"run": number, "started": _now(), "host": socket.gethostname(), "pid": os.getpid(),
                 "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "dask": setup, "chunks_computed": 0,
                 "finished": None})
    update_attrs(path, {"runs": json.dumps(runs), "dask_setup": json.dumps(setup)})
    return number


def finish_run(path: str | Path, plan: SweepPlan, number: int, computed: int) -> dict[str, Any]:
    """Update run record, completion and invariant totals in the attrs; return the summary."""
    group = _open_group(path, "r+")
    runs = json.loads(group.attrs.get("runs", "[]"))
    for r in runs:
        if r["run"] == number:
            r.update({"finished": _now(), "chunks_computed": int(computed)})
    return _write_summary(path, {"runs": json.dumps(runs)})


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
    if "config_sha256" not in attrs:
        info["completion"] = {"state": "interrupted template (nothing computed)"}
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
