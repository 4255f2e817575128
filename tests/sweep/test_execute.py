"""Execution: resume after an interruption, Dask clusters, bounded in-flight work, failures, progress."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.sweep import RunOptions, build_plan, run_sweep, store_info, validate_config
from qtmsweep.sweep.execute import ChunkTarget, _execute, dask_client
from qtmsweep.sweep.store import prepare_store, read_bookkeeping, start_run

from .conftest import data_vars_equal, force_sweep, grid_sweep, make_config, wait_for_done_flags, write_config

INLINE = dict(cluster="inline", progress=False)


@pytest.fixture
def count_solves(monkeypatch):
    """Count kernel calls made in this process (qtmsweep.solve, as the sweep calls it)."""
    solve_module = sys.modules["qtmsweep.solve"]
    original = solve_module.solve
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(solve_module, "solve", counting)
    return calls


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted inline run of the force-space sweep (12 chunks)."""
    cfg = validate_config(make_config(m=force_sweep("I", 9, 11, chunks={"F_E_r": 3, "F_N_b": 3})))
    store = tmp_path_factory.mktemp("ref") / "m.zarr"
    run_sweep(cfg, "m", store, RunOptions(**INLINE))
    with xr.open_zarr(str(store)) as ds:
        return cfg, ds.load()


def test_resume_computes_only_missing_chunks_and_gives_the_same_result(tmp_path, reference, count_solves):
    cfg, ref = reference
    store = tmp_path / "m.zarr"
    first = run_sweep(cfg, "m", store, RunOptions(**INLINE, max_chunks=5))
    assert (first.chunks_computed, first.chunks_done, first.complete) == (5, 5, False)
    info = store_info(store)
    assert info["completion"]["chunks_done"] == 5 and not info["completion"]["complete"]
    with xr.open_zarr(str(store)) as partial:
        assert np.isnan(partial.sigma.values).any()  # missing chunks read as the fill value
        assert partial.attrs["complete"] is False

    count_solves.clear()
    second = run_sweep(cfg, "m", store, RunOptions(**INLINE))
    assert second.status == "resumed" and second.complete
    assert second.chunks_computed == 12 - 5
    assert len(count_solves) == 1 + (12 - 5)  # the probe, then one kernel call per missing chunk
    book = read_bookkeeping(store)
    assert (book["run"].ravel()[:5] == 1).all() and (book["run"].ravel()[5:] == 2).all()
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())
        assert len(json.loads(ds.attrs["runs"])) == 2

    count_solves.clear()
    third = run_sweep(cfg, "m", store, RunOptions(**INLINE))
    assert third.chunks_computed == 0 and len(count_solves) == 1  # only the probe


def test_fresh_recomputes_everything(tmp_path, reference):
    cfg, ref = reference
    store = tmp_path / "m.zarr"
    run_sweep(cfg, "m", store, RunOptions(**INLINE, max_chunks=3))
    result = run_sweep(cfg, "m", store, RunOptions(**INLINE, if_exists="fresh"))
    assert result.status == "replaced" and result.chunks_computed == 12
    assert (read_bookkeeping(store)["run"] == 1).all()


def test_a_failing_chunk_is_not_marked_done_and_a_rerun_completes(tmp_path, reference, monkeypatch):
    cfg, ref = reference
    store = tmp_path / "m.zarr"
    solve_module = sys.modules["qtmsweep.solve"]
    original = solve_module.solve
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # the probe, then chunks 0..2 succeed, chunk 3 fails
            raise MemoryError("injected failure")
        return original(*args, **kwargs)

    monkeypatch.setattr(solve_module, "solve", flaky)
    with pytest.raises(RuntimeError, match="chunk 3 failed.*injected failure"):
        run_sweep(cfg, "m", store, RunOptions(**INLINE))
    done = read_bookkeeping(store)["done"].ravel()
    assert done[:3].all() and not done[3:].any()
    with xr.open_zarr(str(store)) as ds:
        assert ds.attrs["chunks_done"] == 3 and json.loads(ds.attrs["runs"])[0]["chunks_computed"] == 3
    monkeypatch.setattr(solve_module, "solve", original)
    assert run_sweep(cfg, "m", store, RunOptions(**INLINE)).chunks_computed == 9
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())


def test_data_mask_is_written_only_after_the_data(tmp_path, reference, monkeypatch):
    """A chunk whose data write fails stays 'not done' (its bookkeeping is never written)."""
    import qtmsweep.sweep.chunkwrite as store_mod

    cfg, ref = reference
    store = tmp_path / "m.zarr"
    original = store_mod._write_arrays

    def failing(writer, items, *later, **kwargs):
        original(writer, dict(list(items.items())[:3]))  # part of the data reached the disk ...
        raise OSError("disk full")  # ... then the write failed

    monkeypatch.setattr(store_mod, "_write_arrays", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        run_sweep(cfg, "m", store, RunOptions(**INLINE))
    assert not read_bookkeeping(store)["done"].any()
    monkeypatch.setattr(store_mod, "_write_arrays", original)
    assert run_sweep(cfg, "m", store, RunOptions(**INLINE)).chunks_computed == 12


@pytest.fixture(scope="module")
def dask_cluster():
    from distributed import LocalCluster

    import logging

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster:
        yield cluster


@pytest.mark.slow
def test_dask_run_interrupted_then_resumed_equals_inline_run(tmp_path, reference, dask_cluster):
    cfg, ref = reference
    store = tmp_path / "m.zarr"
    options = dict(cluster="address", address=dask_cluster.scheduler_address, progress=False, numba_threads=1)
    first = run_sweep(cfg, "m", store, RunOptions(**options, max_chunks=4))
    assert first.chunks_computed == 4 and first.setup["cluster"] == "address" and first.setup["workers"] == 2
    second = run_sweep(cfg, "m", store, RunOptions(**options))
    assert second.complete and second.chunks_computed == 8
    book = read_bookkeeping(store)
    assert (book["run"] == 1).sum() == 4 and (book["run"] == 2).sum() == 8
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())


@pytest.mark.slow
def test_driver_keeps_at_most_max_in_flight_chunks_submitted(tmp_path, dask_cluster):
    from distributed import Client

    cfg = validate_config(make_config(s=grid_sweep(20, 6, chunks={"T_a": 1})))
    plan = build_plan(cfg, "s")
    store = tmp_path / "s.zarr"
    prepare_store(store, plan, plan.probe())
    run = start_run(store, {})
    state = {"submitted": 0, "yielded": 0, "peak": 0}

    class Watching:
        def __init__(self, client):
            self.client = client

        def submit(self, *args, **kwargs):
            state["submitted"] += 1
            state["peak"] = max(state["peak"], state["submitted"] - state["yielded"])
            return self.client.submit(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.client, name)

    with Client(dask_cluster.scheduler_address) as client:
        for _ in _execute(plan, ChunkTarget(str(store), run), list(range(plan.n_chunks)), Watching(client),
                          {"max_in_flight": 3, "numba_threads": 1}):
            state["yielded"] += 1
    assert state["submitted"] == state["yielded"] == 20
    assert state["peak"] == 3
    assert read_bookkeeping(store)["done"].all()


@pytest.mark.slow
def test_local_cluster_setup_is_sized_by_the_cpu_budget_and_tunes_the_workers(monkeypatch):
    # what a LocalCluster started earlier in this process leaves behind (a nanny sets it in our environ)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with dask_client(RunOptions(cluster="local", n_workers=None, progress=False), cpus=2) as (client, setup):
        assert len(client.nthreads()) == 2 and setup["numba_threads"] == 1
        assert setup["max_in_flight"] == 4
        environ = client.run(lambda: {k: os.environ.get(k) for k in
                                      ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")})
    for env in environ.values():  # set before the worker process started, so glibc read them
        assert env == {"MALLOC_MMAP_THRESHOLD_": str(64 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(512 * 2**20),
                       "OMP_NUM_THREADS": "1"}
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # ours is restored


def test_progress_bar_reports_chunks(tmp_path, reference):
    cfg, _ = reference
    stream = io.StringIO()
    run_sweep(cfg, "m", tmp_path / "m.zarr", RunOptions(cluster="inline"), stream=stream)
    text = stream.getvalue()
    assert "0/12 chunks" in text and "100.0% 12/12 chunks" in text and "cells/s" in text


@pytest.mark.parametrize("cluster", ["inline", pytest.param("local", marks=pytest.mark.slow)])
def test_sigkill_mid_run_then_rerun_completes_without_recomputing(tmp_path, cluster):
    """Kill the CLI (SIGKILL) after a few chunks; its Dask workers (local cluster) exit too, and the
    rerun finishes the store with the same data, rewriting no chunk finished before the kill."""
    import psutil

    sweep = grid_sweep(120, 2000, chunks={"T_a": 2})  # 60 chunks of 4000 cells
    config = write_config(tmp_path / "c.yaml", make_config(s=sweep))
    store = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "qtmsweep.cli", "run", str(config), "--store", str(store), "--sweep", "s",
           "--cluster", cluster, "--no-progress"] + (["--workers", "2"] if cluster == "local" else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_done_flags(store, 3, lambda: proc.poll() is None, timeout=120, poll=0.01)
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.stderr.read().decode()
    children = psutil.Process(proc.pid).children(recursive=True)
    workers = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
    assert len(workers) == (2 if cluster == "local" else 0), [c.cmdline() for c in children]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    _, alive = psutil.wait_procs(children, timeout=60)  # a worker may finish the chunk it holds, then exits
    assert not alive, f"processes of the killed run still running: {alive}"
    before = read_bookkeeping(store)
    k = int(before["done"].sum())
    assert 3 <= k < 60
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = read_bookkeeping(store)
    assert after["done"].all()
    assert (after["run"][before["done"]] == 1).all() and (after["run"][~before["done"]] == 2).all()
    ref = qtmsweep.solve("cqd", **qtmsweep.grid(T_a=np.linspace(0.2, 2.0, 120), mu_a=np.linspace(-1.0, 2.0, 2000)),
                         **sweep["fixed"])
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())


@pytest.mark.slow
def test_memory_is_bounded_by_the_chunk_not_the_grid(tmp_path):
    """A 1.6e9-cell sweep: template and two chunks in well under the memory of one grid variable (12.8 GB)."""
    import tracemalloc

    sweep = grid_sweep(40_000, 40_000, chunks={})
    cfg = validate_config(make_config(big=sweep))
    plan = build_plan(cfg, "big")
    assert plan.n_cells == 1_600_000_000 and plan.n_chunks > 3_000
    # the grid would need 262 GiB if it were computed in full: the disk check is what this test is not about
    tracemalloc.start()
    try:
        result = run_sweep(cfg, "big", tmp_path / "big.zarr", RunOptions(**INLINE, max_chunks=2, check_disk=False))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.chunks_computed == 2 and not result.complete
    assert peak < 400 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    with xr.open_zarr(str(tmp_path / "big.zarr")) as ds:
        assert ds.sigma.shape == (40_000, 40_000)
        assert np.isfinite(ds.sigma[:3, :10].values).all()  # the first chunk is there
