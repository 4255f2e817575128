"""Faults mid-sweep: a killed Dask worker, a chunk of garbage, a second run on the same store.

Each test checks the two promises of the store: a rerun (or the run itself) finishes with
the data of an uninterrupted run, and nothing that was already recorded as computed is
computed again (its files are not rewritten).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from qtmsweep.sweep import RunOptions, run_sweep, validate_config
from qtmsweep.sweep.store import BOOKKEEPING, COUNTERS, mark_incomplete, read_bookkeeping, remove_partial_files
from qtmsweep.sweep.verify import verify_store

from .conftest import data_vars_equal, grid_sweep, make_config, wait_for_done_flags, write_config

INLINE = dict(cluster="inline", progress=False)


def _chunk_files_by_chunk(store: Path, index: tuple[int, ...]) -> list[Path]:
    """Every file (data and bookkeeping) that belongs to chunk ``index`` of a (T_a, mu_a) sweep."""
    i, j = index
    out = []
    for var in store.iterdir():
        if var.is_dir():
            roots = [var / "c"] if var.name != BOOKKEEPING else [var / b / "c" for b in ("done", "run", "counts")]
            for root in roots:
                base = root / str(i) / str(j)
                if base.is_file():
                    out.append(base)
                elif base.is_dir():
                    out.extend(p for p in base.rglob("*") if p.is_file())
    return out


def _mtimes(store: Path, chunks) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for index in chunks for p in _chunk_files_by_chunk(store, index)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted inline run: 24 chunks of 2 x 4000 cells."""
    cfg = validate_config(make_config(s=grid_sweep(48, 4000, chunks={"T_a": 2})))
    store = tmp_path_factory.mktemp("ref") / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE))
    with xr.open_zarr(str(store)) as ds:
        return cfg, ds.load()


@pytest.fixture
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as c:
        yield c


@pytest.mark.slow
def test_a_killed_dask_worker_loses_nothing_and_nothing_done_is_recomputed(tmp_path, reference, cluster):
    """SIGKILL one of two workers mid-sweep: Dask reruns its chunk elsewhere, the run finishes,
    the store equals an uninterrupted run, and the chunks finished before the kill are untouched."""
    from distributed import Client

    cfg, ref = reference
    store = tmp_path / "s.zarr"
    with Client(cluster.scheduler_address) as client:
        pids = list(client.run(os.getpid).values())
    options = RunOptions(cluster="address", address=cluster.scheduler_address, progress=False, numba_threads=1,
                         max_in_flight=2)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = run_sweep(cfg, "s", store, options)
        except BaseException as err:  # reported below
            outcome["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    wait_for_done_flags(store, 4, thread.is_alive, timeout=120)
    before = read_bookkeeping(store)["done"]
    finished = [tuple(int(i) for i in idx) for idx in np.argwhere(before)]
    stamps = _mtimes(store, finished)
    os.kill(pids[0], signal.SIGKILL)
    thread.join(timeout=180)
    assert not thread.is_alive()
    if "error" in outcome:  # the scheduler gave up on the chunk: the rerun must finish the store
        result = run_sweep(cfg, "s", store, options)
    else:
        result = outcome["result"]
    assert 4 <= len(finished) < 24, "the kill did not land mid-sweep"
    assert result.complete
    assert _mtimes(store, finished) == stamps  # nothing finished before the kill was written again
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())


def test_a_chunk_of_garbage_marked_incomplete_is_recomputed_alone(tmp_path, reference):
    cfg, ref = reference
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE))
    bad = (5, 0)
    for f in _chunk_files_by_chunk(store, bad):  # garbage in every file of the chunk, data and bookkeeping
        if BOOKKEEPING not in f.parts:
            f.write_bytes(os.urandom(f.stat().st_size))
    with pytest.raises(Exception):
        with xr.open_zarr(str(store)) as ds:
            ds.sigma.load()  # the garbage is not a valid chunk
    assert set(verify_store(store).bad) == {bad}  # `qtmsweep verify` finds it, and only it
    assert mark_incomplete(store, [bad]) == 1
    with xr.open_zarr(str(store)) as ds:
        assert ds.attrs["complete"] is False and ds.attrs["chunks_done"] == 23
    others = [tuple(int(i) for i in idx) for idx in np.argwhere(read_bookkeeping(store)["done"])]
    assert len(others) == 23 and bad not in others
    stamps = _mtimes(store, others)
    result = run_sweep(cfg, "s", store, RunOptions(**INLINE))
    assert result.complete and result.chunks_computed == 1
    assert _mtimes(store, others) == stamps
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())
    assert read_bookkeeping(store)["run"][bad] == 2


def test_mark_incomplete_refuses_a_chunk_outside_the_grid(tmp_path, reference):
    from qtmsweep.sweep.store import StoreError

    cfg, _ = reference
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE, max_chunks=1))
    with pytest.raises(StoreError, match=r"chunk \(24, 0\) is not in the chunk grid \(24, 1\)"):
        mark_incomplete(store, [(0, 0), (24, 0)])
    assert read_bookkeeping(store)["done"][0, 0]  # nothing was unmarked
    from qtmsweep.sweep.store import StoreLock

    lock = StoreLock(store).acquire()
    try:
        with pytest.raises(StoreError, match="being written by another run"):
            mark_incomplete(store, [(0, 0)])
    finally:
        lock.release(remove=True)


def test_a_second_run_on_the_same_store_is_refused_while_the_first_finishes(tmp_path):
    """Two real runs: the first is paused (SIGSTOP) mid-sweep while the second tries the store."""
    sweep = grid_sweep(200, 500, chunks={"T_a": 1})
    config = write_config(tmp_path / "c.yaml", make_config(s=sweep))
    store = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "qtmsweep.cli", "run", str(config), "--store", str(store), "--sweep", "s",
           "--cluster", "inline", "--no-progress"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and first.poll() is None and not (store / BOOKKEEPING / "done" / "c").exists():
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)
        assert first.poll() is None, "the first run ended before it could be paused"
        second = subprocess.run(cmd, capture_output=True, text=True)
        assert second.returncode == 2
        assert "is being written by another run" in second.stderr and f"pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    book = read_bookkeeping(store)
    assert book["done"].all() and (book["run"] == 1).all()  # the second run wrote nothing


@pytest.mark.slow
def test_sigint_mid_run_records_what_is_done_and_a_rerun_completes(tmp_path, reference):
    """Ctrl-C (SIGINT) of the CLI: it stops, says how far it got, and the rerun finishes the store."""
    _, ref = reference  # the same grid in 48 chunks of 4000 cells: a wide margin for the signal to land
    config = write_config(tmp_path / "c.yaml", make_config(s=grid_sweep(48, 4000, chunks={"T_a": 1})))
    store = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "qtmsweep.cli", "run", str(config), "--store", str(store), "--sweep", "s",
           "--cluster", "inline", "--no-progress"]
    # SIGINT at its default in the child: a shell without job control starts background jobs with SIGINT
    # ignored (POSIX), the child inherits that, and a CLI that honours it is right to run on
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_done_flags(store, 2, lambda: proc.poll() is None, poll=0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted (finished chunks are recorded; rerun to resume)" in err, err
    with xr.open_zarr(str(store)) as ds:
        recorded = ds.attrs["chunks_done"]
    book = read_bookkeeping(store)
    assert 2 <= int(book["done"].sum()) == recorded < 48  # the attrs agree with the flags
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())


def test_temporary_files_of_a_killed_write_are_removed_on_resume(tmp_path, reference):
    cfg, _ = reference
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE, max_chunks=3))
    junk = store / "sigma" / "c" / "7" / "0.0123456789ab.1.partial"
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_bytes(b"half a chunk")
    assert run_sweep(cfg, "s", store, RunOptions(**INLINE)).complete
    assert not junk.exists() and remove_partial_files(store) == 0


def test_a_chunk_already_flagged_done_is_not_computed_again(tmp_path, reference):
    """What Dask does after a worker died having written a chunk but not reported it: the task
    runs again; it must find the flag and leave the chunk alone."""
    from qtmsweep.sweep import build_plan
    from qtmsweep.sweep.execute import ChunkTarget, compute_chunk
    from qtmsweep.sweep.store import read_attrs

    cfg, _ = reference
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE, max_chunks=2))
    plan = build_plan(cfg, "s")
    target = ChunkTarget(str(store), 1, read_attrs(store)["store_id"])
    stamps = _mtimes(store, [(0, 0)])
    flat, cells, counts, _ = compute_chunk(plan, target, 0, 1)
    assert (flat, cells, counts) == (0, 2 * 4000, None)
    assert _mtimes(store, [(0, 0)]) == stamps
    assert compute_chunk(plan, target, 2, 1)[2] == [0] * len(COUNTERS)  # a chunk not done yet is computed


def test_a_task_of_a_run_whose_store_was_created_again_writes_nothing(tmp_path, reference):
    """A task still running after its run was cancelled, when the store has meanwhile been
    deleted and created again (--fresh on a long-lived cluster), is refused."""
    from qtmsweep.sweep import build_plan
    from qtmsweep.sweep.execute import ChunkTarget, compute_chunk
    from qtmsweep.sweep.store import StoreError, read_attrs

    cfg, _ = reference
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE, max_chunks=1))
    plan = build_plan(cfg, "s")
    stale = ChunkTarget(str(store), 1, read_attrs(store)["store_id"])
    run_sweep(cfg, "s", store, RunOptions(**INLINE, max_chunks=1, if_exists="fresh"))
    assert read_attrs(store)["store_id"] != stale.store_id
    with pytest.raises(StoreError, match="created again since this chunk's run started"):
        compute_chunk(plan, stale, 5, 1)
    assert not read_bookkeeping(store)["done"].ravel()[5]
    assert not (store / "sigma" / "c" / "5").exists()
