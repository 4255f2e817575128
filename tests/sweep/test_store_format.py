"""Store format 3 (label coordinates of the models' own dims, alias coordinates with units, the
``singular`` counter): stores of format 2 still read, and a resume of one is refused saying what to do.

``data/format2_chain3.zarr`` was written by the format-2 code (qtmsweep 0.1.0+gba7d5aeac121, the
commit before the bump) from ``data/format2_chain3.yaml``: a chain of 3 sites on a T x dT grid.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.sweep import StoreError, load_config, run_sweep, store_info, validate_config
from qtmsweep.sweep.layout import STORE_FORMAT, read_attrs
from qtmsweep.sweep.verify import verify_store

from .conftest import INLINE, cli, no_traceback

DATA = Path(__file__).with_name("data")


@pytest.fixture
def old_store(tmp_path) -> Path:
    path = tmp_path / "chain3.zarr"
    shutil.copytree(DATA / "format2_chain3.zarr", path)
    return path


def test_the_fixture_is_a_complete_format_2_store(old_store):
    attrs = read_attrs(old_store)
    assert attrs["qtmsweep_store_format"] == 2 < STORE_FORMAT and attrs["complete"]


def test_a_format_2_store_reads_with_open_store_info_verify_and_analyze(old_store):
    assert verify_store(old_store).ok
    assert store_info(old_store)["sweep"] == "chain3"
    ds = qtmsweep.open_store(old_store, load=True)
    assert "site" not in ds.coords and ds.occupation.sizes["site"] == 3  # the old layout: no site labels
    assert np.isfinite(ds.J_Q.values).all()
    from qtmsweep.analysis import analyze_store

    analyze_store(old_store)
    assert verify_store(old_store).ok
    merged = qtmsweep.open_store(old_store, load=True)
    assert set(ds.data_vars) < set(merged.data_vars)  # the analysis variables came in
    info = cli("info", old_store)
    no_traceback(info)
    assert info.returncode == 0


def test_resuming_a_format_2_store_is_refused_saying_what_to_do(old_store, tmp_path):
    cfg = load_config(DATA / "format2_chain3.yaml")
    with pytest.raises(StoreError) as err:
        run_sweep(cfg, "chain3", old_store, INLINE)
    msg = str(err.value)
    assert "has store format 2, this version writes format 3" in msg and "cannot be resumed" in msg
    assert "still reads as before" in msg and "--overwrite" in msg and "0.1.0+gba7d5aeac121" in msg
    run = cli("run", DATA / "format2_chain3.yaml", "--sweep", "chain3", "--store", old_store, "--no-progress")
    no_traceback(run)
    assert run.returncode != 0 and "cannot be resumed" in run.stderr
    assert read_attrs(old_store)["qtmsweep_store_format"] == 2  # untouched


def test_a_format_3_store_labels_sites_and_aliases_and_equals_the_old_data(old_store, tmp_path):
    cfg = load_config(DATA / "format2_chain3.yaml")
    new = tmp_path / "new.zarr"
    run_sweep(cfg, "chain3", new, INLINE)
    assert read_attrs(new)["qtmsweep_store_format"] == STORE_FORMAT == 3
    with xr.open_zarr(str(new)) as ds, xr.open_zarr(str(old_store)) as old:
        assert ds["site"].values.tolist() == [0, 1, 2] and "bath L" in ds["site"].attrs["long_name"]
        assert ds["T"].attrs["units"] == "energy" and "T_L = T + dT/2" in ds["T"].attrs["long_name"]
        assert ds["dT"].attrs["units"] == "energy"
        # The same numbers as the format-2 code computed, to round-off: the fixture was written on
        # another machine, where numba's code generation (vector width, FMA contraction) may differ
        # in the last bit. The residuals (relative, round-off size) agree to a few ulp of 1.
        for name in old.data_vars:
            a, b = ds[name].values, old[name].values
            assert a.dtype == b.dtype and a.shape == b.shape, name
            if name.startswith("residual"):
                np.testing.assert_allclose(a, b, rtol=0, atol=4e-15, err_msg=name)
            elif a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=4e-15, atol=0, err_msg=name)
            else:
                assert np.array_equal(a, b), name
        assert ds.attrs["invariant_singular"] == 0


def test_the_global_qubit_fridge_labels_its_eigenstates_as_its_long_name_says(tmp_path):
    m = qtmsweep.get_model("qubit_fridge")
    fixed = {k: v for k, v in m.defaults().items() if k != "T_L"} | {"approach": "global"}
    cfg = validate_config({"sweeps": {"q": {"model": "qubit_fridge", "fixed": fixed,
                                            "grid": {"T_L": {"linspace": [1.2, 2.0, 3]}}}}})
    store = tmp_path / "q.zarr"
    run_sweep(cfg, "q", store, INLINE)
    with xr.open_zarr(str(store)) as ds:
        labels = ds["eigenstate"].values.tolist()
        assert labels == ["0", "+", "-", "d"]
        assert "0, +, -, d" in ds["p_eigen"].attrs["long_name"]
        assert ds["eigenstate"].attrs["long_name"].startswith("eigenstate of H_S")
        assert np.allclose(ds.p_eigen.sum("eigenstate"), 1.0, atol=1e-12)
    direct = qtmsweep.solve("qubit_fridge", **fixed, T_L=1.2)
    assert direct.p_eigen.sel(eigenstate="d").item() == pytest.approx(float(ds.p_eigen.sel(eigenstate="d").isel(T_L=0)))
