"""`qtmsweep export STORE OUT.{nc,csv,parquet}` and `export_store`: CF-clean attributes, and every
value round-trips through NetCDF and pandas (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.sweep import RunOptions, StoreError, run_sweep, validate_config
from qtmsweep.sweep.export import cf_clean, export_store

from .conftest import grid_sweep, make_config


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from qtmsweep.analysis import analyze_store

    cfg = validate_config(make_config(s=grid_sweep()))
    path = tmp_path_factory.mktemp("ex") / "s.zarr"
    run_sweep(cfg, "s", path, RunOptions(cluster="inline", progress=False))
    analyze_store(path)
    return path


def test_plain_to_netcdf_of_the_store_needs_the_cleaning(store, tmp_path):
    """`ds.to_netcdf(...)` failed out of the box (boolean attrs, list attrs, string-dtype coords)."""
    ds = qtmsweep.open_store(store, load=True)
    with pytest.raises(Exception, match="bool|dtype|attribute|Invalid"):  # noqa: PT011 - h5netcdf's own error types
        ds.to_netcdf(tmp_path / "raw.nc", engine="h5netcdf")
    clean = cf_clean(ds)
    for attrs in [clean.attrs] + [clean[n].attrs for n in clean.variables]:
        for k, v in attrs.items():
            assert isinstance(v, (int, float, str, np.ndarray)) and not isinstance(v, bool), (k, v)


@pytest.mark.parametrize("engine", ["h5netcdf", "scipy"])
def test_netcdf_round_trips_every_value(store, tmp_path, engine, monkeypatch):
    if engine == "scipy":  # the fallback without h5netcdf
        import builtins

        real = builtins.__import__
        monkeypatch.setattr(builtins, "__import__",
                            lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name)) if name == "h5netcdf"
                            else real(name, *a, **k))
    out = export_store(store, tmp_path / "s.nc")
    ref = qtmsweep.open_store(store, load=True)
    with xr.open_dataset(out, engine=engine) as back:
        for name in ref.data_vars:
            a, b = np.asarray(ref[name].values), np.asarray(back[name].values)
            assert np.array_equal(a.astype(b.dtype) if a.dtype == bool else a, b, equal_nan=True), name
        assert list(back["lead"].values) == [str(x) for x in ref["lead"].values]
        assert back.attrs["complete"] == 1 and back.attrs["config_sha256"] == ref.attrs["config_sha256"]
        assert back["mode"].attrs["flag_meanings"] == ref["mode"].attrs["flag_meanings"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_have_one_row_per_cell_and_round_trip_in_pandas(store, tmp_path, suffix):
    out = tmp_path / f"s{suffix}"
    proc = subprocess.run([sys.executable, "-m", "qtmsweep.cli", "export", str(store), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    ref = qtmsweep.open_store(store, load=True)
    assert len(table) == ref.sizes["T_a"] * ref.sizes["mu_a"]
    row = table.iloc[17]
    cell = ref.sel(T_a=row["T_a"], mu_a=row["mu_a"])
    for lead in ref["lead"].values:
        assert row[f"J_E[{lead}]"] == float(cell["J_E"].sel(lead=lead))  # exact: written as float64 text/binary
    assert row["sigma"] == float(cell["sigma"])
    if suffix == ".csv":
        attrs = json.loads((tmp_path / "s.csv.attrs.json").read_text())
    else:
        import pyarrow.parquet as pq

        attrs = json.loads(pq.read_schema(out).metadata[b"qtmsweep_attrs"])
    assert attrs["config_sha256"] == ref.attrs["config_sha256"]


def test_an_unknown_suffix_is_refused(store, tmp_path):
    with pytest.raises(StoreError, match=r"allowed: \.nc, \.csv, \.parquet"):
        export_store(store, tmp_path / "s.xlsx")
