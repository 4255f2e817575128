"""issue 16: a sweep states its cells and projected store size, refuses one larger than the free disk
unless told otherwise, and an axis too large to hold is refused before its values are made."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qtmsweep.sweep import ConfigError, RunOptions, StoreError, build_plan, run_sweep, validate_config
from qtmsweep.sweep.grid import checked_probe
from qtmsweep.sweep.sizes import bytes_per_cell, projected_store_bytes

from .conftest import CQD_FIXED, grid_sweep, make_config, write_config


def big_sweep(n: int = 1_000_000) -> dict:
    return {"model": "cqd", "fixed": dict(CQD_FIXED),
            "grid": {"T_a": {"linspace": [0.5, 2.0, n]}, "mu_a": {"linspace": [-1.0, 2.0, n]}}}


def test_projected_size_bounds_the_store_written(tmp_path):
    cfg = validate_config(make_config(s=grid_sweep()))
    plan = build_plan(cfg, "s", probe=False)
    projected = projected_store_bytes(plan, checked_probe(plan))
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(cluster="inline", progress=False))
    data = sum(p.stat().st_size for p in store.rglob("*") if p.is_file() and "/c/" in str(p)
               and "_sweep" not in str(p))
    import xarray as xr

    with xr.open_zarr(str(store)) as ds:  # the exact uncompressed size of the data variables
        exact = sum(v.size * v.dtype.itemsize for v in ds.data_vars.values())
    assert projected >= exact and projected - exact == sum(8 * n for n in plan.shape)
    assert bytes_per_cell(checked_probe(plan), plan.dims) * plan.n_cells == exact
    assert data < 2 * projected  # edge chunks are padded, and blosc adds headers: the same order


def test_a_1e12_cell_grid_is_stated_and_refused_before_any_store(tmp_path):
    """A 1e12-cell grid validated and started (2,000,000 chunks, ~92 TB, no size or free-disk check)."""
    cfg_path = write_config(tmp_path / "c.yaml", make_config(big=big_sweep()))
    val = subprocess.run([sys.executable, "-m", "qtmsweep.cli", "validate", str(cfg_path)], capture_output=True,
                         text=True)
    assert val.returncode == 0 and "1000000000000 cells" in val.stdout and "TiB (uncompressed)" in val.stdout
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "qtmsweep.cli", "run", str(cfg_path), "--out", str(out),
                          "--no-progress"], capture_output=True, text=True)
    assert run.returncode == 2 and "free" in run.stderr and "--no-disk-check" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


def test_no_disk_check_lets_a_sweep_larger_than_the_disk_start(tmp_path, monkeypatch):
    import qtmsweep.sweep.sizes as sizes

    cfg = validate_config(make_config(s=grid_sweep()))
    monkeypatch.setattr(sizes, "free_bytes", lambda path: 1000)  # a nearly full disk
    with pytest.raises(StoreError, match="1000 B free"):
        run_sweep(cfg, "s", tmp_path / "s.zarr", RunOptions(cluster="inline", progress=False))
    assert not (tmp_path / "s.zarr").exists()
    result = run_sweep(cfg, "s", tmp_path / "s.zarr", RunOptions(cluster="inline", progress=False, check_disk=False))
    assert result.complete


def test_a_1e9_point_axis_is_refused_without_allocating_it():
    """A 1e9-value axis died in a MemoryError traceback at validate time."""
    with pytest.raises(ConfigError, match=r"num=1000000000 is not allowed; allowed: at most 10000000"):
        validate_config(make_config(big=big_sweep(1_000_000_000)))
