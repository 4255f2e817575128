"""The zarr (v3) store of a sweep: one import for its parts (a facade over the modules by job).

* :mod:`~qtmsweep.sweep.layout` — the layout, constants, :class:`StoreError`, metadata access;
* :mod:`~qtmsweep.sweep.lock` — the run's advisory lock on ``<store>.lock``;
* :mod:`~qtmsweep.sweep.provenance` — what a store records about the code that wrote it;
* :mod:`~qtmsweep.sweep.template` — create the template, or check a store can be resumed;
* :mod:`~qtmsweep.sweep.bookkeeping` — completion flags, run records, invariant totals;
* :mod:`~qtmsweep.sweep.chunkwrite` — write one computed chunk, flag last;
* :mod:`~qtmsweep.sweep.info` — the summary ``qtmsweep info`` prints.

The layout and the write protocol are described in :mod:`qtmsweep.sweep.layout`.
"""

from __future__ import annotations

from .bookkeeping import (_decode_chunk_key, _done_indices, _write_summary, chunk_extents, chunk_files, finish_run,
                          invariant_totals, mark_incomplete, read_bookkeeping, read_done, remove_partial_files,
                          start_run)
from .chunkwrite import (_check_store_id, _encode, _float32_upward, _write_arrays, _writer, chunk_done,
                         invariant_counts, write_chunk)
from .info import _variable_order, store_info
from .layout import (BOOKKEEPING, COUNTER_DOC, COUNTERS, FLOAT32_DIAGNOSTICS, STORE_FORMAT, StoreError, _now,
                     _open_group, _quiet, is_store, qtmsweep_attrs, read_attrs, update_attrs)
from .lock import StoreLock
from .provenance import git_revision, provenance
from .template import _axis_attrs, _compressors, check_output_path, create_store, prepare_store, template

__all__ = [
    "BOOKKEEPING", "COUNTERS", "COUNTER_DOC", "FLOAT32_DIAGNOSTICS", "STORE_FORMAT", "StoreError", "StoreLock",
    "check_output_path", "chunk_done", "chunk_extents", "chunk_files", "create_store", "finish_run", "git_revision",
    "invariant_counts", "invariant_totals", "is_store", "mark_incomplete", "prepare_store", "provenance",
    "qtmsweep_attrs", "read_attrs", "read_bookkeeping", "read_done", "remove_partial_files", "start_run",
    "store_info", "template", "update_attrs", "write_chunk",
]
