"""The zarr (v3) store of a sweep: names, constants and metadata access shared by the store modules.

Layout of ``<sweep>.zarr`` (store format 3, :data:`STORE_FORMAT`)::

    zarr.json            root group: the SPEC §4 dataset's attrs (provenance, fixed parameters,
                         ``store_id``, completion and invariant totals)
    <var>/               one array per variable; its zarr chunks are the computation chunks along
                         the swept dims and single elements along ``lead``/``state``
    _sweep/done          int8 over the chunk grid: 1 once a chunk's data are written
    _sweep/run           int32 over the chunk grid: which run (1, 2, ...) wrote the chunk
    _sweep/counts        int64 (chunk grid, counter): cells failing each invariant check, per chunk
    _sweep/crc32c        int64 (chunk grid, file): crc32c of each data file of the chunk, as written
                         (stores created before it have none and are read as before)

``xr.open_zarr(store)`` sees only the dataset (the ``_sweep`` group is ignored).
A chunk is written by one task, as ``data -> counts, run, crc32c -> done``, each file to a
temporary name and renamed into place; ``done`` is the only proof of completion (data
files are not: a killed task may have written some of them).  Every zarr chunk gets its
file, also one equal to the fill value, so a flagged chunk with a file missing has lost
it.  The order holds for a killed process or worker (the page cache keeps what was
written); the files are fsync'ed only with ``durable: true`` (``dask`` section), so without it a
machine that loses power may lose recent chunks of data under flags already set
(:func:`qtmsweep.sweep.verify.verify_store` finds such chunks).  Each bookkeeping element is its own zarr chunk, so concurrent
workers never share a file.  The template is created with ``compute=False`` and
``config_sha256`` is written last, into a temporary directory renamed into place at the
end: a killed template leaves no store (a store without it is one of an older version).

A run holds an advisory ``flock`` on ``<store>.lock`` for its whole duration and removes
the file when it ends; the kernel releases the lock if the process dies, so a left-over
lock file never blocks a rerun.
"""

from __future__ import annotations

import datetime as _dt
import json
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..thermo.invariants import CHECK_DOC, CHECKS, NOISE_CHECKS

BOOKKEEPING = "_sweep"
#: ``_sweep/crc32c``: int64 (chunk grid, file): crc32c of each data file of a chunk (-1: not recorded);
#: its ``files`` attr lists them as ``[variable, [zarr chunk index along the non-swept dims]]``.
CRC_ARRAY = "crc32c"
#: 2: one zarr chunk per element of the non-swept dims (lead, state); float32 diagnostics.
#: 3: label coordinates of the models' own dims (``site`` of the chain, ``eigenstate`` "0", "+", "-", "d"
#: of the global qubit fridge), alias coordinates with units and meaning, the ``singular`` counter and
#: the two TUR counters.
#: Stores of an older format read as before (``open_store``, ``info``, ``verify``, ``analyze``); only a
#: resume is refused (:data:`FORMAT_CHANGES` says why).
STORE_FORMAT = 3
#: What each format changed against the one before (the resume refusal of an older store quotes it).
FORMAT_CHANGES = {
    2: "one zarr chunk per element of lead/state, float32 diagnostics",
    3: "site and eigenstate label coordinates, alias coordinates with units, the 'singular' and TUR counters",
}
#: Invariant checks counted per chunk on the worker (:mod:`qtmsweep.thermo.invariants`); the two TUR
#: counters are 0 for sweeps without ``cumulants:`` (``tur``: classical dynamics below the TUR, a bug;
#: ``tur_classical_violations``: coherent dynamics below it, physics).
COUNTERS = CHECKS + NOISE_CHECKS
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


def update_attrs(path: str | Path, attrs: Mapping[str, Any]) -> None:
    """Update the root attrs and refresh the consolidated metadata (so plain ``xr.open_zarr`` is quiet)."""
    import zarr

    group = _open_group(path, "r+")
    group.attrs.update(dict(attrs))
    with _quiet():
        zarr.consolidate_metadata(str(path))


def read_attrs(path: str | Path) -> dict[str, Any]:
    try:
        return dict(_open_group(path, "r").attrs)
    except Exception as err:  # noqa: BLE001 - name the damaged metadata file instead of a bare decode error
        bad = damaged_metadata(path)
        if bad:
            raise StoreError(_metadata_message(path, bad)) from None
        raise StoreError(f"{str(path)!r}: its metadata cannot be read ({type(err).__name__}: {err})") from None


def damaged_metadata(path: str | Path) -> list[tuple[str, str]]:
    """``(file, why)`` for every ``zarr.json`` of the store's groups and arrays that is not a JSON
    object of zarr v3 metadata (cheap: one small file per array, chunk directories not entered)."""
    path = Path(path)
    out = []
    candidates = [path / "zarr.json"] + sorted(path.glob("*/zarr.json")) + sorted(path.glob(f"{BOOKKEEPING}/*/zarr.json"))
    for f in candidates:
        if not f.is_file():
            continue
        try:
            doc = json.loads(f.read_bytes().decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("zarr_format") != 3 or "node_type" not in doc:
                raise ValueError("not zarr v3 metadata (zarr_format 3 and node_type expected)")
        except (UnicodeDecodeError, ValueError) as err:
            out.append((str(f), str(err).splitlines()[0][:120]))
        except OSError as err:
            out.append((str(f), err.strerror or str(err)))
    return out


def _metadata_message(path: str | Path, bad: list[tuple[str, str]]) -> str:
    files = "; ".join(f"{f}: {why}" for f, why in bad)
    return (f"store {str(path)!r} has damaged metadata: {files}. Restore the file from a copy of the store; "
            "or start the sweep over (`qtmsweep run --fresh`, which recomputes everything)")


def check_metadata(path: str | Path) -> None:
    """:class:`StoreError` naming every damaged ``zarr.json`` of the store (see :func:`damaged_metadata`)."""
    bad = damaged_metadata(path)
    if bad:
        raise StoreError(_metadata_message(path, bad))


def qtmsweep_attrs(path: str | Path) -> dict[str, Any]:
    """The attrs of the qtmsweep store at ``path``; :class:`StoreError` for anything else."""
    if not is_store(path):
        raise StoreError(f"{str(path)!r} is not a zarr store")
    check_metadata(path)
    attrs = read_attrs(path)
    if "qtmsweep_store_format" not in attrs:
        raise StoreError(f"{str(path)!r} is a zarr store not written by qtmsweep")
    return attrs


def open_bookkeeping(path: str | Path, mode: str = "r"):
    """The store's ``_sweep`` group, checked to hold its three arrays; a :class:`StoreError` saying
    what is lost and what to do otherwise (never a ``KeyError``)."""
    group = _open_group(path, mode)
    if BOOKKEEPING not in group:
        if "analysis_nonfinite_cells" in group.attrs and "config_sha256" in group.attrs:
            raise StoreError(f"{str(path)!r} is an analysis store (written by `qtmsweep analyze --out`): it has no "
                             "chunk bookkeeping; its sweep store has")
        raise StoreError(f"store {str(path)!r} has lost its bookkeeping group {BOOKKEEPING}/ (completion flags): "
                         "`qtmsweep verify --repair` re-creates it with every chunk incomplete, and a rerun then "
                         "recomputes the sweep")
    book = group[BOOKKEEPING]
    missing = [name for name in ("done", "run", "counts") if name not in book]
    if missing:
        raise StoreError(f"store {str(path)!r} has lost its bookkeeping array(s) "
                         + ", ".join(f"{BOOKKEEPING}/{m}/" for m in missing)
                         + ": `qtmsweep verify --repair` re-creates them (the chunks they described are marked "
                         "incomplete), and a rerun then recomputes those chunks")
    return book


def is_store(path: str | Path) -> bool:
    return (Path(path) / "zarr.json").is_file()


#: ``source`` attribute of the variables :mod:`qtmsweep.analysis` adds to a store in place.
ANALYSIS_SOURCE = "qtmsweep.analysis"


def chunked_variables(group, dims) -> list[tuple[str, Any, tuple[str, ...]]]:
    """``(name, array, its dimension names)`` of every array of ``group`` written chunk by chunk:
    over all the swept ``dims``, neither a coordinate nor an analysis variable; sorted by name
    (the order of a ``_sweep/crc32c`` row)."""
    arrays = sorted(group.arrays())
    coords = set()
    for _, array in arrays:
        coords.update(array.metadata.dimension_names or ())
        coords.update(str(array.attrs.get("coordinates", "")).split())
    out = []
    for name, array in arrays:
        names = tuple(array.metadata.dimension_names or ())
        if name in coords or not set(dims) <= set(names) or array.attrs.get("source") == ANALYSIS_SOURCE:
            continue
        out.append((name, array, names))
    return out

