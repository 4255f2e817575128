"""Small sweep configs and helpers shared by the sweep tests."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import xarray as xr
import yaml

from qtmsweep.sweep.store import FLOAT32_DIAGNOSTICS, _float32_upward

CQD_FIXED = {"eps_L": 1.0, "eps_R": 2.5, "kappa": -1.5, "T_b": 1.0, "T_r": 1.0, "mu_b": 1.0, "mu_r": 0.0,
             "gamma_a": 1.0, "gamma_b": 1.0, "gamma_r": 1.0}
FORCE_FIXED = {"eps_L": 1.0, "eps_R": 2.5, "kappa": -1.5, "mu_r": 0.0, "gamma_a": 1.0, "gamma_b": 1.0,
               "gamma_r": 1.0}


def grid_sweep(n1: int = 13, n2: int = 7, chunks: dict | None = None) -> dict:
    """cqd over (T_a, mu_a)."""
    return {"model": "cqd", "fixed": dict(CQD_FIXED),
            "grid": {"T_a": {"linspace": [0.2, 2.0, n1]}, "mu_a": {"linspace": [-1.0, 2.0, n2]}},
            "chunks": dict(chunks if chunks is not None else {"T_a": 4, "mu_a": 3})}


def force_sweep(model: str = "I", n1: int = 9, n2: int = 11, chunks: dict | None = None) -> dict:
    """cqd on a force-space grid of reduced model I or II."""
    fe, beta = ("F_E_r", "beta_r") if model == "I" else ("F_E_b", "beta_b")
    return {"model": "cqd", "fixed": dict(FORCE_FIXED),
            "forces": {"reduced_model": model, fe: {"linspace": [0.0, 1.0, n1]},
                       "F_N_b": {"linspace": [-1.0, 4.0, n2]}, beta: 1.0, "mu_b": 1.0},
            "chunks": dict(chunks if chunks is not None else {fe: 4})}


def make_config(**sweeps: dict) -> dict:
    return {"sweeps": copy.deepcopy(sweeps), "dask": {"cluster": "inline"}}


def write_config(path: Path, config: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def data_vars_equal(a: xr.Dataset, b: xr.Dataset) -> None:
    """Bitwise equality of every data variable and coordinate (NaN == NaN).

    A store keeps the diagnostics in float32 (``FLOAT32_DIAGNOSTICS``, rounded upwards): where
    one side is float32 and the other float64, the float64 one is rounded so first.
    """
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        x, y = a[name].transpose(*b[name].dims), b[name]
        assert x.dims == y.dims, name
        if {x.dtype, y.dtype} == {np.dtype("float32"), np.dtype("float64")}:
            assert name in FLOAT32_DIAGNOSTICS, f"{name} is float32 on one side"
            x, y = (v.copy(data=_float32_upward(v.values)) for v in (x, y))
        assert np.array_equal(x.values, y.values, equal_nan=True), f"{name} differs"
    for name in a.coords:
        assert np.array_equal(a[name].values, b[name].values), name


def done_flags_on_disk(store: Path) -> int:
    """How many chunk-completion flags are in place in ``store`` (a flag being written is a
    ``.partial`` file until it is renamed, and does not count)."""
    from qtmsweep.sweep.store import BOOKKEEPING

    done_dir = Path(store) / BOOKKEEPING / "done" / "c"
    return sum(not name.endswith(".partial") for _, _, names in os.walk(done_dir) for name in names)


def wait_for_done_flags(store: Path, k: int, running: Callable[[], bool], timeout: float = 60.0,
                        poll: float = 0.005) -> int:
    """Poll until ``k`` chunks of ``store`` are flagged done, ``running()`` turns false or
    ``timeout`` seconds pass; returns the count last seen."""
    deadline = time.time() + timeout
    seen = 0
    while time.time() < deadline and running():
        seen = done_flags_on_disk(store)
        if seen >= k:
            break
        time.sleep(poll)
    return seen


@pytest.fixture
def open_store():
    """xr.open_zarr, loaded and closed."""
    def _open(path) -> xr.Dataset:
        with xr.open_zarr(str(path)) as ds:
            return ds.load()
    return _open


# -- one small cqd store, shared by the store-damage, checksum and verify tests ----------------------

#: Run options of the in-process tests (no Dask cluster, no progress bar).
def _inline():
    from qtmsweep.sweep import RunOptions

    return RunOptions(cluster="inline", progress=False)


INLINE = _inline()
CLI = [sys.executable, "-m", "qtmsweep.cli"]


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    """``python -m qtmsweep.cli ARGS``, output captured as text."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, **kw)


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """``(config, dataset)`` of 13 x 7 cells of cqd in 4 x 3 chunks (a 4 x 3 chunk grid, edge chunks included)."""
    from qtmsweep.sweep import run_sweep, validate_config

    cfg = validate_config(make_config(s=grid_sweep()))
    store = tmp_path_factory.mktemp("ref") / "s.zarr"
    run_sweep(cfg, "s", store, INLINE)
    with xr.open_zarr(str(store)) as ds:
        return cfg, ds.load()


@pytest.fixture
def store(tmp_path, reference) -> Path:
    """A fresh, complete copy of the :func:`reference` sweep's store (run again into ``tmp_path``)."""
    from qtmsweep.sweep import run_sweep

    path = tmp_path / "s.zarr"
    run_sweep(reference[0], "s", path, INLINE)
    return path
