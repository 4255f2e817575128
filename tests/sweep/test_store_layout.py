"""The ``store: {variables: [...], float32: [...]}`` block of a sweep (qtmsweep.sweep.storelayout)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr

from qtmsweep.sweep import run_sweep, validate_config
from qtmsweep.sweep.config import ConfigError
from qtmsweep.sweep.store import FLOAT32_DIAGNOSTICS, StoreError, _float32_upward
from qtmsweep.sweep.storelayout import FLOAT32_EPS, StoreLayout

from .conftest import INLINE, cli, force_sweep, grid_sweep, make_config, no_traceback, write_config

REDUCED = {"variables": ["currents", "rel_err", "sigma", "p"], "float32": ["currents", "p"]}


def _config(store=None, sweep=None):
    sc = copy.deepcopy(sweep or grid_sweep())
    if store is not None:
        sc["store"] = store
    return validate_config(make_config(s=sc))


def _open(path) -> xr.Dataset:
    with xr.open_zarr(str(path)) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(full store, reduced store) of the same sweep."""
    base = tmp_path_factory.mktemp("layout")
    run_sweep(_config(), "s", base / "full.zarr", INLINE)
    run_sweep(_config(REDUCED), "s", base / "reduced.zarr", INLINE)
    return base / "full.zarr", base / "reduced.zarr"


def test_default_layout_has_no_attrs_and_changes_nothing():
    # stores without a store: block are written exactly as before (no new attrs, same identity)
    assert StoreLayout().is_default and StoreLayout().attrs() == {}
    cfg = _config()
    assert "store" not in cfg["sweeps"]["s"]


def test_round_trip_reduced_store(pair):
    full, reduced = (_open(p) for p in pair)
    assert set(reduced.data_vars) == {"p", "J_E", "J_N", "J_Q", "rel_err", "sigma"}
    assert reduced.attrs["store_variables"] == ["p", "J_E", "J_N", "J_Q", "sigma", "rel_err"]
    assert reduced.attrs["store_float32"] == ["p", "J_E", "J_N", "J_Q"]
    for name in ("p", "J_E", "J_N", "J_Q"):
        assert reduced[name].dtype == np.float32 and "float32" in reduced[name].attrs["comment"]
        # rounding to nearest from the float64 result, the very value of the full store
        assert np.array_equal(reduced[name].values, full[name].values.astype(np.float32))
    assert reduced["sigma"].dtype == np.float64
    assert np.array_equal(reduced["sigma"].values, full["sigma"].values)
    # the variables kept carry their SPEC §4 attrs
    assert reduced["J_E"].attrs["units"] == "energy/time" and reduced["J_E"].attrs["long_name"]


def test_float32_rounding_is_within_the_stored_bound(pair):
    full, reduced = (_open(p) for p in pair)
    r_full = full["rel_err"].values.astype(np.float64)
    r_red = reduced["rel_err"].values.astype(np.float64)
    assert "float32 storage rounding" in reduced["rel_err"].attrs["comment"]
    # the stored bound covers the float32 rounding: never below the full store's, by at least 2**-24
    assert np.all(r_red >= r_full + FLOAT32_EPS * (1 - 1e-6))
    for name in ("J_E", "J_N", "J_Q"):
        exact, stored = full[name].values, reduced[name].values.astype(np.float64)
        err = np.abs(stored - exact)
        # against the float64 result (itself within r_full of the truth): the rounding alone is <= 2**-24 |J|
        assert np.all(err <= FLOAT32_EPS * np.abs(exact)), name
        assert np.all(err <= (r_red - r_full) * np.abs(exact) + 1e-300), name


def test_bound_is_infinite_outside_float32_range():
    ds = xr.Dataset({"J_E": (("x", "lead"), np.array([[1e-40, 1.0], [1.0, 1e39], [0.0, 2.0]])),
                     "rel_err": (("x", "lead"), np.full((3, 2), 1e-15))})
    out = StoreLayout(variables=None, float32=("J_E",)).apply(ds)
    r = out["rel_err"].values
    assert np.isinf(r[0, 0]) and np.isinf(r[1, 1])  # subnormal in float32, overflow to inf
    assert r[2, 0] == pytest.approx(1e-15 + FLOAT32_EPS) and np.isfinite(r[0, 1])


@pytest.mark.parametrize("store, where, says", [
    ({"variables": ["J_X"]}, "sweeps.s.store.variables[0]", "'J_X' is not a variable of this sweep; allowed: p, J_E"),
    ({"variables": ["J_E"], "float32": ["p"]}, "sweeps.s.store.float32[0]", "'p' is not stored"),
    ({"float32": ["nope"]}, "sweeps.s.store.float32[0]", "or a group: all, currents, forces"),
    ({"variables": "J_E"}, "sweeps.s.store.variables", "is not of type 'array'"),
    ({"variables": []}, "sweeps.s.store.variables", "should be non-empty"),
    ({"colour": 1}, "sweeps.s.store.colour", "allowed: variables, float32"),
])
def test_refusals_name_key_value_and_allowed(store, where, says):
    with pytest.raises(ConfigError) as err:
        _config(store)
    assert str(err.value).startswith(where + ":") and says in str(err.value)


def test_cli_refusal_has_no_traceback(tmp_path):
    cfg = make_config(s={**grid_sweep(), "store": {"variables": ["J_E", "J_X"]}})
    proc = cli("run", write_config(tmp_path / "c.yaml", cfg), "--out", tmp_path / "out")
    assert proc.returncode != 0
    no_traceback(proc)
    assert "sweeps.s.store.variables[1]" in proc.stderr and "'J_X'" in proc.stderr
    assert not (tmp_path / "out" / "s" / "s.zarr").exists()


def test_store_block_is_part_of_identity_resume_refused(tmp_path):
    path = tmp_path / "s.zarr"
    run_sweep(_config({"variables": ["J_E", "rel_err"]}), "s", path, INLINE)
    with pytest.raises(StoreError) as err:
        run_sweep(_config({"variables": ["J_E", "rel_err", "sigma"]}), "s", path, INLINE)
    assert "store layout" in str(err.value) and "the store holds variables J_E, rel_err" in str(err.value)
    with pytest.raises(StoreError, match="store layout"):
        run_sweep(_config(), "s", path, INLINE)  # nor by the default (full) layout
    assert _config({"variables": ["all"]})["sweeps"]["s"]["store"]  # the block stays in the config text


def test_verify_reduced_store(pair, tmp_path):
    from qtmsweep.sweep.verify import verify_store

    _, reduced = pair
    report = verify_store(reduced)
    assert not report.bad
    proc = cli("verify", reduced)
    assert proc.returncode == 0, proc.stderr
    assert "bad:     0 chunks" in proc.stdout


def test_analysis_recomputes_derivable_variables(tmp_path):
    # forces dropped (recomputed from the parameters) and J_Q dropped (J_E - mu J_N): same labels
    from qtmsweep.analysis import analyze

    keep = ["p", "J_E", "J_N", "sigma", "rel_err", "sigma_rel_err", "parameters"]
    run_sweep(_config(sweep=force_sweep("II")), "s", tmp_path / "f.zarr", INLINE)
    run_sweep(_config({"variables": keep}, sweep=force_sweep("II")), "s", tmp_path / "r.zarr", INLINE)
    full, red = _open(tmp_path / "f.zarr"), _open(tmp_path / "r.zarr")
    assert "J_Q" not in red and not any(n.startswith("F_") for n in red.data_vars if n not in red.dims)
    a, b = analyze(full), analyze(red)
    for name in ("mode", "regime"):
        assert np.array_equal(a[name].values, b[name].values), name


def test_analysis_fails_clearly_on_a_missing_variable(pair):
    from qtmsweep.analysis import analyze

    ds = _open(pair[1]).drop_vars("p")
    with pytest.raises(ValueError, match=r"needs variable\(s\) p, which this store does not hold"):
        analyze(ds)


def test_diagnostics_in_float32_list_stay_rounded_upward(tmp_path):
    # the diagnostics are float32 anyway and rounded upward: listing them changes nothing
    run_sweep(_config({"float32": ["diagnostics"]}), "s", tmp_path / "d.zarr", INLINE)
    run_sweep(_config(), "s", tmp_path / "e.zarr", INLINE)
    d, e = _open(tmp_path / "d.zarr"), _open(tmp_path / "e.zarr")
    for name in FLOAT32_DIAGNOSTICS:
        if name in e:
            assert np.array_equal(d[name].values, e[name].values), name


def test_analysis_names_an_underivable_heat_current(tmp_path):
    # a force-space grid's mu_a is an implied parameter: dropped too, J_Q cannot be recomputed
    from qtmsweep.analysis import analyze

    run_sweep(_config({"variables": ["p", "J_E", "J_N", "sigma", "rel_err"]}, sweep=force_sweep("II")), "s",
              tmp_path / "r.zarr", INLINE)
    with pytest.raises(ValueError, match=r"needs variable\(s\) J_Q"):
        analyze(_open(tmp_path / "r.zarr"))


def test_reused_buffers_give_the_same_store(tmp_path):
    # float32 buffers reused from chunk to chunk (edge chunks of other shapes in between): the store
    # equals the float64 one rounded, chunk by chunk
    run_sweep(_config({"float32": ["all"]}, sweep=grid_sweep(chunks={"T_a": 3, "mu_a": 2})), "s",
              tmp_path / "a.zarr", INLINE)
    run_sweep(_config(sweep=grid_sweep(chunks={"T_a": 3, "mu_a": 2})), "s", tmp_path / "b.zarr", INLINE)
    a, b = _open(tmp_path / "a.zarr"), _open(tmp_path / "b.zarr")
    for name in ("p", "J_E", "J_Q", "sigma", "F_E_r"):
        assert np.array_equal(a[name].values, b[name].values.astype(np.float32)), name
