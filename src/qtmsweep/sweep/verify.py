"""Check that every chunk a store says is computed can be read back, and mark the bad ones.

A chunk's completion flag (``_sweep/done``) says its data files were renamed into place;
it cannot say they are still intact.  A disk error, a copy cut short or a stray write can
leave a flagged chunk with a file that is missing, truncated or garbage — and a missing
zarr chunk reads silently as the fill value (NaN).  :func:`verify_store` looks at every
flagged chunk:

* every zarr chunk file of every variable (one per ``lead``/``state`` element) and of the
  bookkeeping (``run``, ``counts``) must exist — qtmsweep writes every chunk file, also
  one equal to the fill value;
* every file must hold what its codec chain says it holds — for blosc, the compressed size in
  its header equals the file's size and the decompressed size the chunk's (blosc decodes a
  truncated buffer without noticing) — and decode to a chunk of the right shape;
* the flag itself must decode to 1, ``run`` to a run number that the store's attrs record.

:func:`repair_store` marks the bad chunks incomplete (:func:`~qtmsweep.sweep.store.mark_incomplete`),
so that a rerun of the same config recomputes exactly those.  The check reads every byte of the
store once (it is what ``qtmsweep verify`` does) and needs no lock: a running sweep never
rewrites a chunk that is already flagged.

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
>>> _ = run_sweep(cfg, "s", store, RunOptions(cluster="inline", progress=False))
>>> report = verify_store(store)
>>> report.chunks_checked, report.ok
(2, True)
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .store import (BOOKKEEPING, StoreError, _done_indices, _open_group, _quiet, chunk_files, mark_incomplete,
                    qtmsweep_attrs)

BOOK_ARRAYS = ("done", "run", "counts")
from .layout import ANALYSIS_SOURCE, CRC_ARRAY, chunked_variables  # noqa: E402


@dataclass
class VerifyReport:
    """What :func:`verify_store` found.

    Attributes
    ----------
    store : str
        The store checked.
    chunk_dims : tuple of str
        The swept dims, in the order of a chunk index.
    chunk_sizes, dim_sizes : tuple of int
        Cells per chunk, and in the grid, along each of ``chunk_dims``.
    chunks_flagged, chunks_total : int
        Chunks flagged done, and in the chunk grid.
    chunks_checked : int
        Flagged chunks whose files were all read (all of them, unless ``max_chunks``).
    files_read : int
        Chunk files decoded.
    bad : dict
        Chunk index -> the problems found in it (``"sigma: chunk file 1/2 missing"``, ...), flagged
        chunks only.
    """

    store: str
    chunk_dims: tuple[str, ...]
    chunk_sizes: tuple[int, ...]
    dim_sizes: tuple[int, ...]
    chunks_flagged: int
    chunks_total: int
    chunks_checked: int = 0
    files_read: int = 0
    bad: dict[tuple[int, ...], list[str]] = field(default_factory=dict)
    kind: str = "sweep"
    store_problems: list[str] = field(default_factory=list)
    analysis_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lost_bookkeeping: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No flagged chunk, coordinate, bookkeeping or analysis file has a problem."""
        return not (self.bad or self.store_problems or self.analysis_problems)

    @property
    def repairable(self) -> bool:
        """Every problem found is one ``--repair`` + a rerun fixes (bad chunks, lost bookkeeping)."""
        return not self.analysis_problems and len(self.store_problems) == len(self.lost_bookkeeping)

    def cells(self, index: tuple[int, ...]) -> dict[str, tuple[int, int]]:
        """The cells of chunk ``index``: ``{dim: (start, stop)}`` along each swept dim."""
        return {d: (i * c, min((i + 1) * c, n))
                for d, i, c, n in zip(self.chunk_dims, index, self.chunk_sizes, self.dim_sizes)}


def _arrays(group, chunk_dims: tuple[str, ...], chunk_sizes: tuple[int, ...]):
    """(name, array, positions of the chunk dims) of every array written chunk by chunk: the
    dataset's data variables (its coordinates are written with the template)."""
    out = []
    for name, array, dims in chunked_variables(group, chunk_dims):
        pos = tuple(dims.index(d) for d in chunk_dims)
        got = tuple(int(array.chunks[p]) for p in pos)
        if got != chunk_sizes:
            raise StoreError(f"{name}: zarr chunks {got} along {chunk_dims}, the sweep's chunks are {chunk_sizes}; "
                             "not a store laid out by qtmsweep")
        out.append((name, array, pos))
    book = group[BOOKKEEPING]
    for name in ("run", "counts"):
        if name in book:
            out.append((f"{BOOKKEEPING}/{name}", book[name], tuple(range(len(chunk_dims)))))
    return out


def _coordinate_arrays(group) -> list[tuple[str, object]]:
    """The arrays written with the template: coordinates (named as dims, or listed in a variable's
    ``coordinates`` attr)."""
    arrays = sorted(group.arrays())
    names = set()
    for _, array in arrays:
        names.update(array.metadata.dimension_names or ())
        names.update(str(array.attrs.get("coordinates", "")).split())
    return [(name, array) for name, array in arrays if name in names]


def _check_every_chunk(name: str, array, missing_is_damage: bool) -> tuple[list[str], list[str], int]:
    """(problems, notes, files read) over every zarr chunk of ``array``."""
    problems, notes, read = [], [], 0
    present = _present(array, name)
    lost = 0
    for block in itertools.product(*(range(n) for n in array.cdata_shape)):
        where = f"{name}: chunk file {'/'.join(map(str, block))}"
        if block not in present:
            lost += 1
            if missing_is_damage:
                problems.append(f"{where} missing")
            continue
        values = _size_problem(array, block) or _read_block(array, block)
        read += 1
        if isinstance(values, str):
            problems.append(f"{where} {values}")
    if lost and not missing_is_damage:
        notes.append(f"{name}: {lost} chunk file(s) absent (read as the fill value; this analysis was written by a "
                     "version that skipped all-NaN chunks)")
    return problems, notes, read


def _present(array, name: str) -> set[tuple[int, ...]]:
    """Chunk indices of ``array`` that have a file."""
    found = chunk_files(array)
    if found is None:  # pragma: no cover - other zarr versions / stores
        raise StoreError(f"{name}: this store's chunk files cannot be listed; verify needs a local zarr v3 store")
    return set(found)


def _block_shape(array, block: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(min(c, n - b * c) for b, c, n in zip(block, array.chunks, array.shape))


def verify_store(path: str | Path, max_chunks: int | None = None) -> VerifyReport:
    """Read back every chunk flagged done in the store at ``path``; report the unreadable ones.

    Parameters
    ----------
    path : path
        A store written by ``qtmsweep run``.
    max_chunks : int, optional
        Check only the first ``max_chunks`` flagged chunks (a quick look at a large store).

    Returns
    -------
    VerifyReport

    Raises
    ------
    StoreError
        ``path`` is not a qtmsweep store, or one whose template was never finished.
    """
    attrs = qtmsweep_attrs(path)
    with _quiet():
        group = _open_group(path, "r")
        if BOOKKEEPING not in group and "analysis_nonfinite_cells" in attrs:
            return _verify_analysis_store(path, group, attrs)
        if "config_sha256" not in attrs:
            raise StoreError(f"{str(path)!r} is an interrupted template (nothing computed): nothing to verify")
        chunk_dims = tuple(attrs["chunk_dims"])
        chunk_sizes = tuple(int(c) for c in attrs["chunk_sizes"])
        runs = {int(r["run"]) for r in json.loads(attrs.get("runs", "[]"))}
        dim_sizes = tuple(int(group[d].shape[0]) for d in chunk_dims)
        grid = tuple(-(-n // c) for n, c in zip(dim_sizes, chunk_sizes))
        book = group[BOOKKEEPING] if BOOKKEEPING in group else None
        lost = tuple(name for name in BOOK_ARRAYS if book is None or name not in book)
        flags = None if "done" in lost else book["done"]
        flagged = [] if flags is None else [tuple(int(i) for i in idx) for idx in _done_indices(book)]
        report = VerifyReport(str(path), chunk_dims, chunk_sizes, dim_sizes, len(flagged), int(np.prod(grid)),
                              lost_bookkeeping=lost)
        for name in lost:
            report.store_problems.append(
                f"{BOOKKEEPING}/{name}: the bookkeeping array is missing (its directory or zarr.json); "
                + ("the completion flags are lost: --repair re-creates them empty and a rerun recomputes the sweep"
                   if name == "done" else "--repair re-creates it and marks the chunks flagged done incomplete, "
                   "and a rerun recomputes them"))
        for name, array in _coordinate_arrays(group):
            problems, _, read = _check_every_chunk(name, array, missing_is_damage=True)
            report.files_read += read
            report.store_problems.extend(
                f"{p} (coordinates are written with the store's template: restore the file from a copy, or start "
                "over with `qtmsweep run --fresh`)" for p in problems)
        for name, array in sorted(group.arrays()):
            if array.attrs.get("source") == ANALYSIS_SOURCE:
                problems, notes, read = _check_every_chunk(name, array, bool(attrs.get("analysis_every_chunk")))
                report.files_read += read
                report.analysis_problems.extend(problems)
                report.notes.extend(notes)
        arrays = [(name, array, pos, _present(array, name))
                  for name, array, pos in _arrays(group, chunk_dims, chunk_sizes)]
        checksums = _checksums(book, group, chunk_dims) if book is not None and CRC_ARRAY in book else None
        for index in flagged[:max_chunks]:
            cells = int(np.prod([b - a for a, b in report.cells(index).values()]))
            problems, read = _check_chunk(index, flags, arrays, runs, cells)
            if checksums is not None:  # a file already found damaged is named once
                problems.extend(p for p in _crc_problems(index, *checksums)
                                if not any(q.startswith(p.split(" has crc32c")[0] + " ") for q in problems))
            report.files_read += read
            if problems:
                report.bad[index] = problems
            report.chunks_checked += 1
    return report


def _checksums(book, group, chunk_dims):
    """(crc array, [(variable, file path of a chunk index)]) for :func:`_crc_problems`; ``None`` when
    the checksums cannot be compared (a non-local store, or files no longer matching the arrays)."""
    crc = book[CRC_ARRAY]
    entries = []
    for name, other in crc.attrs.get("files", []):
        if name not in group:
            return None
        array = group[name]
        root = getattr(array.store_path.store, "root", None)
        if root is None:
            return None
        dims = tuple(array.metadata.dimension_names or ())
        entries.append((name, Path(root) / array.store_path.path, array.metadata.encode_chunk_key, dims,
                        tuple(int(i) for i in other)))
    return crc, entries, tuple(chunk_dims)


def _crc_problems(index, crc, entries, chunk_dims) -> list[str]:
    """Data files of chunk ``index`` whose crc32c differs from the one recorded when they were written."""
    from .chunkio import crc32c

    row = _read_block(crc, tuple(index) + (0,))
    if isinstance(row, str):
        return [f"{BOOKKEEPING}/{CRC_ARRAY}: chunk file {'/'.join(map(str, index))}/0 {row}"]
    row = row.reshape(-1)
    problems = []
    for (name, directory, encode, dims, other), want in zip(entries, row):
        if want < 0:
            continue
        rest = iter(other)
        block = tuple(index[chunk_dims.index(d)] if d in chunk_dims else next(rest) for d in dims)
        try:
            got = crc32c((directory / encode(block)).read_bytes())
        except OSError:
            continue  # a missing or unreadable file is reported by the file checks
        if got != int(want):
            problems.append(f"{name}: chunk file {'/'.join(map(str, block))} has crc32c {got:08x}, {int(want):08x} was "
                            "recorded when it was written (bytes changed, or another chunk's file in its place)")
    return problems


def _verify_analysis_store(path, group, attrs) -> VerifyReport:
    """An analysis store (``qtmsweep analyze --out``): every chunk of every array decodes (no flags)."""
    report = VerifyReport(str(path), (), (), (), 0, 0, kind="analysis")
    every = bool(attrs.get("analysis_every_chunk"))
    for name, array in sorted(group.arrays()):
        is_coord = array.attrs.get("source") != ANALYSIS_SOURCE
        problems, notes, read = _check_every_chunk(name, array, missing_is_damage=every or is_coord)
        report.files_read += read
        (report.store_problems if is_coord else report.analysis_problems).extend(problems)
        report.notes.extend(notes)
    return report


def _check_chunk(index, flags, arrays, runs, cells: int) -> tuple[list[str], int]:
    """The problems of one flagged chunk, and how many files were read."""
    problems: list[str] = []
    flag = _size_problem(flags, index) or _read_block(flags, index)
    read = 1
    if isinstance(flag, str):
        problems.append(f"{BOOKKEEPING}/done: {flag}")
    elif int(flag.reshape(-1)[0]) != 1:
        problems.append(f"{BOOKKEEPING}/done: holds {int(flag.reshape(-1)[0])}, a flag is 1")
    for name, array, pos, present in arrays:
        for block in _blocks(array, pos, index):
            where = f"{name}: chunk file {'/'.join(map(str, block))}"
            if block not in present:
                problems.append(f"{where} missing")
                continue
            values = _size_problem(array, block) or _read_block(array, block)
            read += 1
            if isinstance(values, str):
                problems.append(f"{where} {values}")
            elif name == f"{BOOKKEEPING}/run" and int(values.reshape(-1)[0]) not in runs:
                problems.append(f"{name}: run {int(values.reshape(-1)[0])} is not a run of this store "
                                f"(runs: {sorted(runs)})")
            elif name == f"{BOOKKEEPING}/counts":
                counts = values.reshape(-1)
                if (counts < 0).any() or (counts > cells).any():
                    problems.append(f"{name}: counts {counts.tolist()} outside [0, {cells}] (the chunk's cells): "
                                    "overwritten")
    return problems, read


def _blocks(array, pos: tuple[int, ...], index: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The zarr chunk indices of ``array`` that hold computation chunk ``index`` (which sits at
    the positions ``pos`` of the array's dims; every chunk along the other dims)."""
    ranges = [range(n) for n in array.cdata_shape]
    for p, i in zip(pos, index):
        ranges[p] = range(i, i + 1)
    return list(itertools.product(*ranges))


def _size_problem(array, block: tuple[int, ...]) -> str | None:
    """What is wrong with the size of a local chunk file, for the codec chains qtmsweep writes
    (``bytes``, optionally followed by ``blosc``); ``None`` if it is right or cannot be told."""
    from .chunkio import chain_kind

    root = getattr(array.store_path.store, "root", None)
    kind = chain_kind(array.metadata.codecs)
    if root is None or kind is None:
        return None
    path = Path(root) / array.store_path.path / array.metadata.encode_chunk_key(block)
    nbytes = int(np.prod(array.chunks)) * np.dtype(array.dtype).itemsize
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.read(16)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if kind == "bytes":
        return None if size == nbytes else f"has {size} bytes, an uncompressed chunk has {nbytes}"
    if len(header) < 16:
        return f"has {size} bytes, shorter than a blosc header (16)"
    held, stored = int.from_bytes(header[4:8], "little"), int.from_bytes(header[12:16], "little")
    if stored != size:
        return f"has {size} bytes, its blosc header says {stored} (truncated or overwritten)"
    if held != nbytes:
        return f"decompresses to {held} bytes by its blosc header, the chunk has {nbytes}"
    return None


def _read_block(array, block: tuple[int, ...]):
    """The decoded chunk, or a short description of why it cannot be read."""
    try:
        values = np.asarray(array.get_block_selection(block))
    except Exception as err:  # noqa: BLE001 - any codec error is a bad file
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return f"does not decode ({type(err).__name__}{': ' + text[:120] if text else ''})"
    if values.shape != _block_shape(array, block):
        return f"decodes to shape {values.shape}, expected {_block_shape(array, block)}"
    return values


def repair_store(path: str | Path, report: VerifyReport | None = None) -> VerifyReport:
    """Verify the store (unless given a fresh ``report`` of it) and mark its bad chunks incomplete.

    Takes the store's lock for the marking (refused while a run writes the store).  A rerun of
    the sweep then recomputes the marked chunks, and only those.
    """
    report = verify_store(path) if report is None else report
    if report.lost_bookkeeping:
        _recreate_bookkeeping(path, report)
    if report.bad:
        mark_incomplete(path, list(report.bad))
    return report


def _recreate_bookkeeping(path, report: VerifyReport) -> None:
    """Re-create the lost ``_sweep`` arrays (lock held); with ``run`` or ``counts`` lost, every chunk
    flagged done is marked incomplete (what it recorded is gone)."""
    from .bookkeeping import _write_summary
    from .lock import StoreLock
    from .template import create_bookkeeping

    grid = tuple(-(-n // c) for n, c in zip(report.dim_sizes, report.chunk_sizes))
    lock = StoreLock(path).acquire()
    try:
        with _quiet():
            group = _open_group(path, "r+")
            names = ("done", "run", "counts") if "done" in report.lost_bookkeeping else report.lost_bookkeeping
            if "done" not in report.lost_bookkeeping:
                names = ("done",) + tuple(names)  # clear the flags: their chunks' records are gone
            create_bookkeeping(group, grid, report.chunk_dims, names=tuple(dict.fromkeys(names)))
        report.bad = {}
        _write_summary(path)
    finally:
        lock.release(remove=True)
