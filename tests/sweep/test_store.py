"""The zarr store: SPEC §4 contract, provenance, layout, bookkeeping, refusals, lock."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import yaml
import zarr

import qtmsweep
from qtmsweep.sweep import RunOptions, StoreError, build_plan, run_sweep, store_info, validate_config
from qtmsweep.sweep.store import COUNTERS, StoreLock, prepare_store, read_bookkeeping

from .conftest import CQD_FIXED, data_vars_equal, force_sweep, grid_sweep, make_config

INLINE = dict(cluster="inline", progress=False)


@pytest.fixture
def grid_store(tmp_path):
    cfg = validate_config(make_config(s=grid_sweep(13, 7)))
    store = tmp_path / "s" / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE))
    return cfg, store


def test_store_holds_the_spec_dataset(grid_store, open_store):
    cfg, store = grid_store
    ds = open_store(store)
    assert dict(ds.sizes) == {"T_a": 13, "mu_a": 7, "state": 4, "lead": 3}
    for name in ("p", "J_E", "J_N", "J_Q", "sigma", "sigma_micro", "F_E_r", "F_E_b", "F_N_b", "rel_err"):
        assert name in ds.data_vars, name
    assert ds.p.dims == ("T_a", "mu_a", "state") and ds.J_E.dims == ("T_a", "mu_a", "lead")
    for name, v in ds.data_vars.items():
        assert v.attrs.get("units") and v.attrs.get("long_name"), name
    assert list(ds.lead.values) == ["a", "b", "r"] and list(ds.state.values) == ["A", "B", "C", "D"]
    assert ds.T_a.attrs["units"] == "energy"
    assert ds.attrs["model"] == "cqd"
    for k, v in CQD_FIXED.items():
        assert ds.attrs[k] == v


def test_store_data_equal_a_direct_solve_bitwise(grid_store, open_store):
    cfg, store = grid_store
    ref = qtmsweep.solve("cqd", **qtmsweep.grid(T_a=np.linspace(0.2, 2.0, 13), mu_a=np.linspace(-1.0, 2.0, 7)),
                         **CQD_FIXED)
    data_vars_equal(ref, open_store(store))


def test_provenance_attrs(grid_store, open_store):
    cfg, store = grid_store
    attrs = open_store(store).attrs
    assert attrs["qtmsweep_version"].split("+")[0] == qtmsweep.__version__.split("+")[0]
    # the identity hash covers what defines the data: the stored YAML less description/resources
    from qtmsweep.sweep.config import sweep_sha256

    assert attrs["config_sha256"] == sweep_sha256(yaml.safe_load(attrs["config"]), "s")
    assert yaml.safe_load(attrs["config"])["sweeps"]["s"]["fixed"]["kappa"] == -1.5
    assert attrs["created"].endswith("+00:00")
    assert "git_revision" in attrs
    assert json.loads(attrs["dask_setup"])["cluster"] == "inline"
    runs = json.loads(attrs["runs"])
    assert len(runs) == 1 and runs[0]["chunks_computed"] == 12 and runs[0]["finished"]
    assert attrs["complete"] is True and attrs["chunks_done"] == attrs["chunks_total"] == 12
    for k in COUNTERS:
        assert attrs[f"invariant_{k}"] == 0


def test_zarr_chunks_are_the_computation_chunks_one_per_lead_and_state(grid_store):
    cfg, store = grid_store
    group = zarr.open_group(str(store), mode="r")
    assert group["sigma"].chunks == (4, 3)
    assert group["p"].chunks == (4, 3, 1) and group["J_E"].chunks == (4, 3, 1)
    assert group["sigma"].metadata.zarr_format == 3


def test_bookkeeping_is_invisible_to_xarray_and_complete(grid_store, open_store):
    cfg, store = grid_store
    ds = open_store(store)
    assert not any(name.startswith("_") for name in ds.variables)
    book = read_bookkeeping(store)
    assert book["done"].shape == (4, 3) and book["done"].all()
    assert (book["run"] == 1).all()


def test_open_zarr_is_quiet(grid_store):
    cfg, store = grid_store
    code = f"import warnings, xarray as xr; warnings.simplefilter('error'); xr.open_zarr({str(store)!r}).load()"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_force_space_store_has_force_coords_and_implied_variables(tmp_path, open_store):
    cfg = validate_config(make_config(m=force_sweep("II", 6, 5, chunks={"F_E_b": 4, "F_N_b": 2})))
    store = tmp_path / "m.zarr"
    run_sweep(cfg, "m", store, RunOptions(**INLINE))
    ds = open_store(store)
    assert ds.sigma.dims == ("F_E_b", "F_N_b")
    assert ds.F_E_b.attrs["units"] == "1/energy"
    for name in ("T_a", "T_r", "mu_a"):
        assert name in ds.data_vars and ds[name].attrs["units"] == "energy"
    assert ds.attrs["reduced_model"] == "II" and ds.attrs["forces_parallel"] is True
    assert ds.attrs["beta_b"] == 1.0 and ds.attrs["mu_b"] == 1.0 and ds.attrs["mu_r"] == 0.0
    np.testing.assert_allclose(ds.T_a.values, 1.0 / (1.0 + ds.F_E_b.values)[:, None] * np.ones((1, 5)), rtol=1e-15)


@pytest.mark.parametrize("chunks", [{"T_a": 3, "mu_a": 2}, {"T_a": 5}, {"T_a": -1, "mu_a": -1}])
def test_data_do_not_depend_on_the_chunking(tmp_path, grid_store, open_store, chunks):
    cfg, store = grid_store
    other = validate_config(make_config(s=grid_sweep(13, 7, chunks=chunks)))
    run_sweep(other, "s", tmp_path / "other.zarr", RunOptions(**INLINE))
    data_vars_equal(open_store(store), open_store(tmp_path / "other.zarr"))


def test_store_info_summarises(grid_store):
    cfg, store = grid_store
    info = store_info(store)
    assert info["dims"]["T_a"] == 13 and "sigma" in info["variables"]
    assert info["completion"] == {"chunks_done": 12, "chunks_total": 12, "cells_done": 91, "cells_total": 91,
                                  "complete": True, "chunks": {"T_a": 4, "mu_a": 3}}
    assert info["invariants"] == {k: 0 for k in COUNTERS}
    assert info["provenance"]["config_sha256"] == build_plan(cfg, "s").config_sha256


def test_invariant_counts_are_accumulated_per_chunk(tmp_path):
    """Precision flags are counted per computed cell and chunk (the generic solver, method linear,
    flags cells with forces of 1e-9)."""
    sweep = force_sweep("I", 5, 11, chunks={"F_E_r": 2})  # F_N_b = 0 at index 2
    sweep["forces"]["F_E_r"] = {"linspace": [0.0, 1e-9, 5]}
    sweep["method"] = "linear"
    cfg = validate_config(make_config(m=sweep))
    store = tmp_path / "m.zarr"
    result = run_sweep(cfg, "m", store, RunOptions(**INLINE))
    ds = xr.open_zarr(str(store)).load()
    flagged = (ds.rel_err > 1e-6).any("lead") | ((ds.sigma_rel_err > 1e-6) & (ds.sigma != 0))
    expected = int(flagged.sum())
    assert expected > 0
    assert result.invariants["precision"] == expected == ds.attrs["invariant_precision"]
    book = read_bookkeeping(store)
    assert book["counts"][..., COUNTERS.index("precision")].sum() == expected


# -- refusals, before any work -------------------------------------------------------------------
def test_output_path_that_is_a_file_is_refused(tmp_path):
    cfg = validate_config(make_config(s=grid_sweep()))
    f = tmp_path / "taken"
    f.write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        run_sweep(cfg, "s", f, RunOptions(**INLINE))
    with pytest.raises(StoreError, match="is a file"):
        run_sweep(cfg, "s", f / "s.zarr", RunOptions(**INLINE))
    assert f.read_text() == "x"


def test_a_non_store_directory_is_not_touched(tmp_path):
    cfg = validate_config(make_config(s=grid_sweep()))
    d = tmp_path / "data"
    d.mkdir()
    (d / "precious.txt").write_text("keep")
    for mode in ("resume", "overwrite", "fresh"):
        with pytest.raises(StoreError, match="not a zarr store"):
            run_sweep(cfg, "s", d, RunOptions(**INLINE, if_exists=mode))
    assert (d / "precious.txt").read_text() == "keep"


def test_store_of_another_config_is_refused_unless_overwrite(grid_store, open_store):
    cfg, store = grid_store
    other = validate_config(make_config(s=grid_sweep(13, 7)))
    other["sweeps"]["s"]["fixed"]["kappa"] = 1.5
    with pytest.raises(StoreError, match="different config"):
        run_sweep(other, "s", store, RunOptions(**INLINE))
    assert open_store(store).attrs["kappa"] == -1.5
    result = run_sweep(other, "s", store, RunOptions(**INLINE, if_exists="overwrite"))
    assert result.status == "replaced" and open_store(store).attrs["kappa"] == 1.5


def test_bad_config_leaves_no_store_behind(tmp_path):
    cfg = validate_config(make_config(s=grid_sweep()))
    cfg["sweeps"]["s"]["fixed"]["T_b"] = -1.0  # bypassing validation: run_sweep re-checks
    with pytest.raises(ValueError, match="T_b"):
        run_sweep(cfg, "s", tmp_path / "out" / "s" / "s.zarr", RunOptions(**INLINE))
    assert not (tmp_path / "out").exists()


def test_diagnostics_are_stored_as_float32_and_the_physics_as_float64(grid_store, open_store):
    from qtmsweep.sweep.store import FLOAT32_DIAGNOSTICS

    _, store = grid_store
    ds = open_store(store)
    for name, v in ds.data_vars.items():
        expected = np.float32 if name in FLOAT32_DIAGNOSTICS else np.float64
        assert v.dtype == expected, name
    assert "float32" in ds.rel_err.attrs["comment"]


def test_float32_diagnostics_are_rounded_upwards_so_a_bound_stays_a_bound():
    from qtmsweep.sweep.store import _float32_upward

    x = np.concatenate([np.random.default_rng(0).lognormal(-30, 5, 10_000), [0.0, 1.0, np.inf, np.nan, 1e300]])
    with np.errstate(over="ignore"):
        y = _float32_upward(x)
        nearest = x.astype(np.float32)
    assert y.dtype == np.float32
    finite = np.isfinite(x) & (x < 3e38)
    assert (y[finite].astype(np.float64) >= x[finite]).all()  # never below the float64 value
    assert (np.nextafter(y[finite], np.float32(-np.inf)).astype(np.float64) < x[finite]).all()  # by < 1 ulp
    assert (y[finite] >= nearest[finite]).all() and (y != nearest)[finite].any()
    assert y[-5] == 0.0 and y[-4] == 1.0 and np.isinf(y[-3]) and np.isnan(y[-2]) and np.isinf(y[-1])


def test_a_store_of_another_format_is_refused_unless_replaced(tmp_path):
    cfg = validate_config(make_config(s=grid_sweep()))
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE, max_chunks=2))
    group = zarr.open_group(str(store), mode="r+", use_consolidated=False)
    group.attrs["qtmsweep_store_format"] = 1  # as written by an older version (one chunk over all leads)
    with pytest.raises(StoreError, match="store format 1.*--overwrite or --fresh"):
        run_sweep(cfg, "s", store, RunOptions(**INLINE))
    result = run_sweep(cfg, "s", store, RunOptions(**INLINE, if_exists="overwrite"))
    assert result.status == "replaced" and result.complete


def test_info_reads_a_store_whose_counters_are_those_of_an_older_format(tmp_path):
    """A format-1 store recorded 4 counters under other names: info shows them, it does not crash."""
    cfg = validate_config(make_config(s=grid_sweep()))
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(**INLINE))
    book = zarr.open_group(str(store), mode="r+", use_consolidated=False)["_sweep"]
    old = ("sigma_negative", "conservation_violation", "rel_err_large", "nonfinite")
    grid = book["done"].shape
    del book["counts"]
    counts = book.create_array("counts", shape=grid + (4,), chunks=(1,) * len(grid) + (4,), dtype="int64",
                               fill_value=0, compressors=None)
    counts[...] = 7
    book.attrs["counters"] = list(old)
    info = store_info(store)
    assert list(info["invariants"]) == list(old)
    assert info["invariants"]["rel_err_large"] == 7 * int(np.prod(grid))
    assert "older store format" in info["invariants_doc"]["sigma_negative"]


def test_interrupted_template_is_replaced(tmp_path, open_store):
    cfg = validate_config(make_config(s=grid_sweep()))
    plan = build_plan(cfg, "s")
    store = tmp_path / "s.zarr"
    prepare_store(store, plan, plan.probe())
    group = zarr.open_group(str(store), mode="r+", use_consolidated=False)
    del group.attrs["config_sha256"]  # as if killed while writing the template
    result = run_sweep(cfg, "s", store, RunOptions(**INLINE))
    assert result.status == "replaced" and result.complete


def test_lock_refuses_a_second_writer_and_is_released(tmp_path):
    store = tmp_path / "s.zarr"
    lock = StoreLock(store).acquire()
    try:
        cfg = validate_config(make_config(s=grid_sweep()))
        with pytest.raises(StoreError, match="being written by another run"):
            run_sweep(cfg, "s", store, RunOptions(**INLINE))
        code = ("import sys; from qtmsweep.sweep.store import StoreLock, StoreError\n"
                f"try:\n    StoreLock({str(store)!r}).acquire()\nexcept StoreError as e:\n    print(e); sys.exit(3)")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode == 3 and f"pid {os.getpid()}" in proc.stdout
    finally:
        lock.release(remove=True)
    assert not lock.path.exists()
    assert run_sweep(cfg, "s", store, RunOptions(**INLINE)).complete


def test_lock_dies_with_its_process(tmp_path):
    store = tmp_path / "s.zarr"
    code = f"import os; from qtmsweep.sweep.store import StoreLock; StoreLock({str(store)!r}).acquire(); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert StoreLock(store).path.exists()  # left behind by the dead process ...
    StoreLock(store).acquire().release(remove=True)  # ... but not locked


def test_invariant_counts_count_cells_not_elements_and_ignore_rounding():
    from qtmsweep.sweep.store import COUNTERS, invariant_counts

    plan = build_plan(validate_config(make_config(s=grid_sweep(13, 7))), "s")
    ds = plan.compute((slice(0, 13), slice(0, 7))).copy(deep=True)
    assert list(invariant_counts(ds, plan.dims)) == [0] * 11
    assert COUNTERS == ("second_law", "energy_conservation", "particle_conservation", "precision", "nonfinite",
                        "truncation", "secular", "population_range", "singular", "tur", "tur_classical_violations")
    ds["sigma"][0, 1] = -1e-30  # rounding at the scale of sum |J F|: not a violation
    ds["sigma"][0, 2] = -1e-3  # a real second-law violation
    ds["residual_N"][4, :3] = 1.0
    ds["residual_E"][4, 0] = 1.0  # same cell as a residual_N violation
    ds["p"][3, 5, :] = np.nan  # four non-finite elements, one cell
    ds["J_E"][7, 6, 2] = np.inf
    ds["rel_err"][2, 2] = np.inf  # precision loss, not "non-finite": inf is the bound of a vanishing current
    # cqd: no truncation_err, no secular_ratio; a cell whose every p is NaN is non-finite and singular
    expected = [1, 1, 3, 1, 2, 0, 0, 0, 1, 0, 0]
    assert list(invariant_counts(ds, plan.dims)) == expected
    assert list(invariant_counts(ds.transpose("mu_a", "T_a", ...), plan.dims)) == expected
