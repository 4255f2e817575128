"""issue 16: run settings are checked before any store is created or cluster started, and a resumed
run with nothing left to do returns without starting a cluster."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from qtmsweep.sweep import RunOptions, run_sweep, validate_config

from .conftest import grid_sweep, make_config, write_config

CLI = [sys.executable, "-m", "qtmsweep.cli"]


@pytest.mark.parametrize("value", ["1KiB", -5, "bogus", True, 1024])
def test_memory_limits_a_worker_cannot_live_with_are_refused(value):
    with pytest.raises(ValueError, match=r"memory_limit=.*allowed: 'auto'"):
        RunOptions(cluster="local", memory_limit=value).validate()


@pytest.mark.parametrize("value", ["auto", "4GB", "2GiB", 2**30])
def test_usable_memory_limits_pass(value):
    RunOptions(cluster="local", memory_limit=value).validate()


@pytest.mark.parametrize("address", ["garbage", "tcp://", "tcp://host:notaport", "http://h:8786", "h:99999", ""])
def test_a_garbage_scheduler_address_is_refused(address):
    with pytest.raises(ValueError, match="scheduler address|needs a scheduler address"):
        RunOptions(cluster="address", address=address).validate()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_closed_port_is_refused_before_any_store_exists(tmp_path):
    """A closed port took 60 s, then a traceback."""
    cfg = write_config(tmp_path / "c.yaml", make_config(s=grid_sweep()))
    store = tmp_path / "s.zarr"
    proc = subprocess.run([*CLI, "run", cfg, "--store", store, "--sweep", "s", "--no-progress",
                           "--scheduler", f"tcp://127.0.0.1:{_closed_port()}"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "nothing answers there" in proc.stderr and "Traceback" not in proc.stderr
    assert not store.exists()


def test_slurm_without_sbatch_is_refused_at_once(monkeypatch, tmp_path):
    """`--cluster slurm` without `sbatch` hung."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    with pytest.raises(ValueError, match="sbatch"):
        RunOptions(cluster="slurm").validate()


def test_cli_refuses_a_bad_memory_limit_in_the_config_before_any_store(tmp_path):
    config = make_config(s=grid_sweep())
    config["dask"] = {"cluster": "local", "memory_limit": "1KiB"}
    cfg = write_config(tmp_path / "c.yaml", config)
    store = tmp_path / "s.zarr"
    proc = subprocess.run([*CLI, "run", cfg, "--store", store, "--sweep", "s", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "memory_limit" in proc.stderr and "Traceback" not in proc.stderr
    assert not store.exists()


def test_a_resumed_complete_store_returns_without_a_cluster(tmp_path, monkeypatch):
    """A resumed run with nothing left to do started a Dask cluster (13.6 s)."""
    import qtmsweep.sweep.execute as ex

    cfg = validate_config(make_config(s=grid_sweep()))
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(cluster="inline", progress=False))

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a complete store")

    monkeypatch.setattr(ex, "dask_client", no_cluster)
    result = run_sweep(cfg, "s", store, RunOptions(cluster="local", progress=False))
    assert result.complete and result.chunks_computed == 0 and result.status == "resumed"
    # an incomplete store does need the cluster
    from qtmsweep.sweep.store import mark_incomplete

    mark_incomplete(store, [(0, 0)])
    with pytest.raises(AssertionError, match="a cluster was started"):
        run_sweep(cfg, "s", store, RunOptions(cluster="local", progress=False))


def test_cluster_auto_computes_a_small_sweep_in_process_and_a_large_one_on_a_cluster(tmp_path, monkeypatch):
    """issue 17: no cluster start for a sweep smaller than the start-up; `cluster: local` overrides."""
    import qtmsweep.sweep.execute as ex

    cfg = validate_config(make_config(s=grid_sweep()))
    cfg.pop("dask", None)
    options = RunOptions.from_config(cfg, progress=False)
    assert options.cluster == "auto"
    result = run_sweep(cfg, "s", tmp_path / "a.zarr", options)
    assert result.setup["cluster"] == "inline" and "cluster: auto (91 cells left" in result.setup["chosen_by"]
    asked = []

    def record(opts, **kwargs):
        asked.append(opts.cluster)
        raise RuntimeError("no cluster in this test")

    monkeypatch.setattr(ex, "dask_client", record)
    monkeypatch.setattr(ex, "AUTO_INLINE_CELLS", 90)  # the same sweep, now "large"
    with pytest.raises(RuntimeError, match="no cluster in this test"):
        run_sweep(cfg, "s", tmp_path / "b.zarr", options)
    assert asked == ["local"]
