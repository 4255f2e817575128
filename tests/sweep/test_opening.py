"""`qtmsweep.open_store`: the sweep store with its analysis, a `computed` mask and a warning when
incomplete, flags decoded to names on request (issue 16)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.sweep import RunOptions, StoreError, run_sweep, validate_config
from qtmsweep.sweep.opening import IncompleteStoreWarning
from qtmsweep.sweep.store import read_done

from .conftest import grid_sweep, make_config

INLINE = RunOptions(cluster="inline", progress=False)


@pytest.fixture(scope="module")
def cfg():
    return validate_config(make_config(s=grid_sweep()))


def test_an_incomplete_store_warns_and_its_computed_mask_is_where_the_data_are(tmp_path, cfg):
    store = tmp_path / "s" / "s.zarr"
    run_sweep(cfg, "s", store, RunOptions(cluster="inline", progress=False, max_chunks=5))
    with pytest.warns(IncompleteStoreWarning, match=r"incomplete: \d+ of 91 cells"):
        ds = qtmsweep.open_store(store, load=True)
    computed = ds["computed"].values
    assert computed.dtype == bool and 0 < computed.sum() < computed.size
    assert np.array_equal(np.isfinite(ds["sigma"].values), computed)  # NaN exactly where not computed
    assert int(read_done(store).sum()) == 5


def test_a_complete_store_opens_quietly_with_its_analysis_merged(tmp_path, cfg):
    from qtmsweep.analysis import analyze_store

    store = tmp_path / "s" / "s.zarr"
    run_sweep(cfg, "s", store, INLINE)
    analyze_store(store, store.parent / "analysis.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = qtmsweep.open_store(store)
    assert bool(ds["computed"].all()) and "mode" in ds and "sigma" in ds
    assert ds.attrs["analysis_store"].endswith("analysis.zarr")
    assert "mode" not in qtmsweep.open_store(store, analysis=False)


def test_an_analysis_of_another_config_is_not_merged(tmp_path, cfg):
    from qtmsweep.analysis import analyze_store

    other = validate_config(make_config(s=grid_sweep(n1=5)))
    run_sweep(other, "s", tmp_path / "o.zarr", INLINE)
    analyze_store(tmp_path / "o.zarr", tmp_path / "s" / "analysis.zarr")
    store = tmp_path / "s" / "s.zarr"
    run_sweep(cfg, "s", store, INLINE)
    assert "mode" not in qtmsweep.open_store(store)
    with pytest.raises(StoreError, match="another config"):
        qtmsweep.open_store(store, analysis=tmp_path / "s" / "analysis.zarr")


def test_decode_flags_gives_the_names_of_the_codes(tmp_path, cfg):
    from qtmsweep.analysis import analyze_store

    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, INLINE)
    analyze_store(store)
    ds = qtmsweep.open_store(store, decode_flags=True, load=True)
    meanings = ds["mode_code"].attrs["flag_meanings"].split()
    values = list(ds["mode_code"].attrs["flag_values"])
    assert ds["mode"].dtype.kind == "U"
    for code, name in zip(ds["mode_code"].values.ravel(), ds["mode"].values.ravel()):
        assert name == meanings[values.index(int(code))]


def test_what_is_not_a_store_is_refused(tmp_path):
    with pytest.raises(StoreError, match="not a zarr store"):
        qtmsweep.open_store(tmp_path)
