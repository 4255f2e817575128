"""The ``qtmsweep`` command line: run, point, info, validate, models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.cli import main
from tests.sweep.test_config import BAD_CONFIGS
from tests.sweep.conftest import data_vars_equal, force_sweep, grid_sweep, make_config, write_config

QTMSWEEP = shutil.which("qtmsweep") or str(Path(sys.executable).with_name("qtmsweep"))


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path / "config.yaml", make_config(g=grid_sweep(9, 5), f=force_sweep("I", 5, 6)))


def run_cli(*args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_writes_every_sweep_under_out(tmp_path, config, capsys):
    out_dir = tmp_path / "res"
    code, out, err = run_cli("run", config, "--out", out_dir, "--cluster", "inline", "--no-progress",
                             "--summary-json", tmp_path / "summary.json", capsys=capsys)
    assert code == 0, err
    for name in ("g", "f"):
        with xr.open_zarr(str(out_dir / name / f"{name}.zarr")) as ds:
            assert ds.attrs["sweep"] == name and ds.attrs["complete"] is True
        assert f"{name}: created" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["sweep"] for r in summary["results"]] == ["g", "f"]
    assert summary["stores"]["g"]["completion"]["complete"] is True


def test_run_one_sweep_into_an_explicit_store_matches_solve(tmp_path, config, capsys):
    store = tmp_path / "x.zarr"
    code, out, err = run_cli("run", config, "--sweep", "g", "--store", store, "--cluster", "inline", capsys=capsys)
    assert code == 0, err
    assert "100.0%" in err  # progress bar on stderr
    ref = qtmsweep.solve("cqd", **qtmsweep.grid(T_a=np.linspace(0.2, 2.0, 9), mu_a=np.linspace(-1.0, 2.0, 5)),
                         **grid_sweep()["fixed"])
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())


def test_run_partial_then_resume_and_info_reports_completion(tmp_path, config, capsys):
    store = tmp_path / "g.zarr"
    args = ("run", config, "--sweep", "g", "--store", store, "--cluster", "inline", "--no-progress")
    code, out, _ = run_cli(*args, "--max-chunks", "2", capsys=capsys)
    assert code == 0 and "2/6 chunks done" in out
    code, out, _ = run_cli("info", store, capsys=capsys)
    assert code == 0
    assert "completion: 2/6 chunks" in out and "incomplete" in out
    assert "T_a=9" in out and "sigma" in out and "config_sha256" in out and "git_revision" in out
    code, out, _ = run_cli(*args, capsys=capsys)
    assert code == 0 and "g: resumed" in out and "computed 4 chunks" in out and "complete" in out
    code, out, _ = run_cli("info", store, "--json", capsys=capsys)
    info = json.loads(out)
    assert info["completion"]["complete"] and info["completion"]["cells_done"] == 45
    assert [r["chunks_computed"] for r in info["runs"]] == [2, 4]
    assert info["invariants"]["second_law"] == 0 and info["invariants"]["precision"] == 0


def test_run_refuses_a_store_of_another_config_unless_overwrite(tmp_path, config, capsys):
    store = tmp_path / "g.zarr"
    assert run_cli("run", config, "--sweep", "g", "--store", store, "--cluster", "inline", "--no-progress",
                   capsys=capsys)[0] == 0
    other = make_config(g=grid_sweep(9, 5))
    other["sweeps"]["g"]["fixed"]["kappa"] = 1.5
    other_cfg = write_config(tmp_path / "other.yaml", other)
    args = ("run", other_cfg, "--sweep", "g", "--store", store, "--cluster", "inline", "--no-progress")
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2 and "different config" in err and "--overwrite" in err
    code, out, _ = run_cli(*args, "--overwrite", capsys=capsys)
    assert code == 0 and "replaced" in out


@pytest.mark.parametrize("mutate, key, value", BAD_CONFIGS)
def test_bad_config_exits_2_naming_the_key_and_value_and_writes_nothing(tmp_path, capsys, mutate, key, value):
    cfg = make_config(s=grid_sweep())
    mutate(cfg)
    path = write_config(tmp_path / "bad.yaml", cfg)
    for command in (("validate", path), ("run", path, "--out", tmp_path / "res", "--cluster", "inline")):
        code, _, err = run_cli(*command, capsys=capsys)
        assert code == 2 and key in err and value in err, err
        assert len(err.strip().splitlines()) == 1, err  # one message, no traceback
    assert not (tmp_path / "res").exists()


def test_run_into_an_output_path_that_is_a_file_exits_2_and_leaves_it(tmp_path, config, capsys):
    taken = tmp_path / "taken"
    taken.write_text("x")
    code, _, err = run_cli("run", config, "--out", taken, "--cluster", "inline", capsys=capsys)
    assert code == 2 and str(taken) in err and "is a file" in err, err
    code, _, err = run_cli("run", config, "--sweep", "g", "--store", taken, "--cluster", "inline", capsys=capsys)
    assert code == 2 and "not a directory" in err and "allowed" in err, err
    assert taken.read_text() == "x"


def test_run_says_at_the_end_when_cells_fail_an_invariant(tmp_path, capsys, monkeypatch):
    """Model I with F_N_b = 0 on the grid: J_N[b] vanishes exactly there, with bound 0 (SPEC §5), so
    the run is clean; a second run with a kernel that breaks the second law is reported as a violation."""
    cfg = write_config(tmp_path / "c.yaml", make_config(m=force_sweep("I", 5, 11)))
    code, out, err = run_cli("run", cfg, "--out", tmp_path / "a", "--cluster", "inline", "--no-progress",
                             capsys=capsys)
    n = xr.open_zarr(str(tmp_path / "a" / "m" / "m.zarr")).attrs["invariant_precision"]
    assert code == 0 and n == 0
    assert "rel_err" not in err and "VIOLATES" not in err, err
    solve_module = sys.modules["qtmsweep.solve"]
    original = solve_module.solve

    def broken(*args, **kwargs):
        ds = original(*args, **kwargs)
        return ds.assign(sigma=-ds.sigma - 1.0)

    monkeypatch.setattr(solve_module, "solve", broken)
    code, out, err = run_cli("run", cfg, "--out", tmp_path / "b", "--cluster", "inline", "--no-progress",
                             capsys=capsys)
    assert code == 0 and "warning: sweep m VIOLATES physics invariants in 55 cells with sigma < -" in err, err
    code, out, _ = run_cli("info", tmp_path / "b" / "m" / "m.zarr", capsys=capsys)
    assert "second_law" in out and " 55 " in out


def test_a_clean_run_prints_no_warning(tmp_path, config, capsys):
    code, _, err = run_cli("run", config, "--sweep", "g", "--out", tmp_path, "--cluster", "inline", "--no-progress",
                           capsys=capsys)
    assert code == 0 and "warning" not in err


def test_run_unknown_sweep_and_bad_options_exit_2(tmp_path, config, capsys):
    code, _, err = run_cli("run", config, "--sweep", "nope", capsys=capsys)
    assert code == 2 and "nope" in err
    code, _, err = run_cli("run", config, "--store", tmp_path / "x.zarr", capsys=capsys)
    assert code == 2 and "--store needs exactly one --sweep" in err
    code, _, err = run_cli("run", config, "--workers", "0", capsys=capsys)
    assert code == 2 and "n_workers" in err
    code, _, err = run_cli("run", config, "--cluster", "address", capsys=capsys)
    assert code == 2 and "address" in err


def test_validate_summarises_the_plan(config, capsys):
    code, out, _ = run_cli("validate", config, capsys=capsys)
    assert code == 0 and "g: model cqd, dims T_a=9, mu_a=5 (45 cells), 6 chunks" in out and "OK" in out


def test_point_prints_one_cell(capsys):
    code, out, _ = run_cli("point", "cqd", "kappa=-1.5", "T_a=0.5", "mu_r=0", "--json", capsys=capsys)
    assert code == 0
    doc = json.loads(out)
    ref = qtmsweep.solve("cqd", **{**qtmsweep.get_model("cqd").defaults(), "kappa": -1.5, "T_a": 0.5, "mu_r": 0.0})
    assert doc["results"]["sigma"]["value"] == float(ref.sigma)
    assert doc["results"]["J_E"]["value"]["r"] == float(ref.J_E.sel(lead="r"))
    assert doc["parameters"]["T_a"] == 0.5 and "eps_L" in doc["defaults_used"]
    code, out, _ = run_cli("point", "sqd", "eps=1", "T_l=2", capsys=capsys)
    assert code == 0 and "sigma" in out and "J_N" in out and "defaults used for" in out


@pytest.mark.parametrize("args, needle", [
    (("point", "cqd", "T_a=-1"), "T_a"),
    (("point", "cqd", "T_a=hot"), "T_a"),
    (("point", "cqd", "Ta=1"), "Ta"),
    (("point", "cqd", "T_a"), "key=value"),
    (("point", "nope"), "nope"),
])
def test_point_bad_input_exits_2(capsys, args, needle):
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2 and needle in err, err


def test_info_of_a_non_store_exits_2(tmp_path, capsys):
    code, _, err = run_cli("info", tmp_path, capsys=capsys)
    assert code == 2 and "not a zarr store" in err


def test_models_lists_parameters(capsys):
    code, out, _ = run_cli("models", capsys=capsys)
    assert code == 0 and "cqd" in out and "mu_r" in out and "sqd" in out


def test_console_script_runs_on_a_local_dask_cluster(tmp_path, config):
    """The installed `qtmsweep` entry point, default (local Dask) cluster with 2 workers."""
    assert Path(QTMSWEEP).exists()
    proc = subprocess.run([QTMSWEEP, "run", str(config), "--sweep", "f", "--out", str(tmp_path / "res"),
                           "--cluster", "local", "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    store = tmp_path / "res" / "f" / "f.zarr"
    with xr.open_zarr(str(store)) as ds:
        setup = json.loads(ds.attrs["dask_setup"])
        assert setup["cluster"] == "local" and setup["n_workers"] == 2
        assert ds.attrs["complete"] is True
    proc = subprocess.run([QTMSWEEP, "info", str(store)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "complete" in proc.stdout
    assert subprocess.run([QTMSWEEP, "--version"], capture_output=True, text=True).stdout.startswith("qtmsweep ")


# -- analysis and figure commands, models, point aliases, extras -----------------------------------
def test_help_lists_the_analysis_and_figure_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for name in ("analyze", "figure", "plot", "paper-figures", "models"):
        assert f"    {name}" in out
    proc = subprocess.run([sys.executable, "-m", "qtmsweep.plot.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "plot" in proc.stdout and "figure" in proc.stdout


def fridge_config(tmp_path):
    return write_config(tmp_path / "fridge.yaml", {
        "results_dir": str(tmp_path / "res"), "dask": {"cluster": "inline"},
        "sweeps": {"fr": {"model": "qubit_fridge",
                          "fixed": {"approach": "local", "eps1": 2.0, "eps2": 2.0, "delta_x": 0.0, "T": 1.0,
                                    "Gamma_L": 0.02, "Gamma_R": 0.08, "Gamma_C": 0.06, "filters": "resonant",
                                    "eps_c": 20.0},
                          "grid": {"dT": {"linspace": [0.01, 0.9, 7]}, "delta_z": {"values": [0.1, 0.3]}}}},
        "figures": {"fr_cuts": {"sweep": "fr", "kind": "fridge_cuts", "opts": {"x": "dT", "line_dim": "delta_z"}},
                    "fr_bad": {"sweep": "fr", "kind": "force_cuts"}}})


def test_plot_draws_a_configs_figures_without_snakemake(tmp_path, capsys):
    cfg = fridge_config(tmp_path)
    code, _, err = run_cli("plot", cfg, "--figure", "fr_cuts", capsys=capsys)
    assert code == 2 and "does not exist" in err and "qtmsweep run" in err  # no store yet: says what to do
    assert run_cli("run", cfg, "--no-progress", capsys=capsys)[0] == 0
    code, out, err = run_cli("plot", cfg, "--figure", "fr_cuts", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "res" / "figures" / "fr_cuts.png").read_bytes().startswith(b"\x89PNG")
    # a figure kind that does not fit the model: one line, no traceback
    code, _, err = run_cli("plot", cfg, "--figure", "fr_bad", capsys=capsys)
    assert code == 2 and "does not fit model 'qubit_fridge'" in err and "Traceback" not in err
    code, _, err = run_cli("plot", cfg, "--figure", "nope", capsys=capsys)
    assert code == 2 and "allowed: fr_cuts, fr_bad" in err


def test_figure_refuses_an_unknown_option_listing_the_allowed_ones(tmp_path, capsys):
    cfg = fridge_config(tmp_path)
    assert run_cli("run", cfg, "--no-progress", capsys=capsys)[0] == 0
    store = tmp_path / "res" / "fr" / "fr.zarr"
    code, _, err = run_cli("figure", store, "fridge_cuts", tmp_path / "x.png", "--opt", "x=dT",
                           "--opt", "colour=red", capsys=capsys)
    assert code == 2 and "figure option 'colour' is not known" in err and "allowed: x, line_dim, sel" in err
    code, _, err = run_cli("figure", tmp_path / "missing.zarr", "fridge_cuts", tmp_path / "x.png", capsys=capsys)
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli("analyze", tmp_path / "missing.zarr", capsys=capsys)
    assert code == 2 and "does not exist" in err


def test_point_accepts_alias_keys(capsys):
    code, out, err = run_cli("point", "qubit_fridge", "filters=resonant", "T=1", "dT=0.3", "eps1=2", "eps2=2",
                             "delta_z=0.1", "delta_x=0", "--json", capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["parameters"]["Omega_R"] == 2.1 and doc["parameters"]["T_C"] == pytest.approx(0.7)
    code, _, err = run_cli("point", "qubit_fridge", "filters=wide", capsys=capsys)
    assert code == 2 and "filters='wide' is not allowed" in err


def test_models_json_lists_kind_range_choices_default_and_aliases(capsys):
    from qtmsweep.physics.registry import available_models, get_model

    code, out, _ = run_cli("models", "chain", "--json", capsys=capsys)
    assert code == 0
    doc = json.loads(out)
    params = {p["name"]: p for p in doc["parameters"]}
    assert set(params) == set(get_model("chain").parameter_names)
    assert params["stat"]["choices"] == ["qubit", "boson"] and params["stat"]["default"] == "qubit"
    assert params["T_L"]["kind"] == "temperature" and params["T_L"]["exclusive_minimum"] is True
    assert params["gamma_L"]["minimum"] == 0.0 and "T, dT" in doc["aliases"]
    code, out, _ = run_cli("models", "--json", capsys=capsys)
    assert [d["model"] for d in json.loads(out)] == list(available_models())
    code, out, _ = run_cli("models", "qubit_fridge", capsys=capsys)
    assert "alias filters=resonant" in out and "one of local | global" in out
    code, _, err = run_cli("models", "nope", capsys=capsys)
    assert code == 2 and "allowed:" in err


def test_slurm_cluster_without_the_extra_says_which_extra_to_install(tmp_path, config, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dask_jobqueue" else real(name, *a))
    code, _, err = run_cli("run", config, "--cluster", "slurm", "--out", tmp_path / "r", capsys=capsys)
    assert code == 2 and "pip install 'qtmsweep[slurm]'" in err
    assert not (tmp_path / "r").exists()
