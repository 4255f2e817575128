"""The Snakemake workflow on the default config: end to end, then what a config change reruns."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """`snakemake --cores 2` on the repository's default config, in a scratch working directory."""
    workdir = tmp_path_factory.mktemp("wf")
    (workdir / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", workdir / "config" / "config.yaml")
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, proc


@pytest.mark.slow
def test_default_workflow_leaves_one_spec_store_per_sweep(workflow_run):
    workdir, _ = workflow_run
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for sweep in config["sweeps"]:
        store = workdir / "results" / sweep / f"{sweep}.zarr"
        with xr.open_zarr(str(store)) as ds:
            assert ds.attrs["sweep"] == sweep and ds.attrs["complete"] is True
            assert {"p", "J_E", "J_N", "J_Q", "sigma", "sigma_micro"} <= set(ds.data_vars)
            assert all(v.attrs.get("units") and v.attrs.get("long_name") for v in ds.data_vars.values())
            assert ds.attrs["config_sha256"] and ds.attrs["qtmsweep_version"] and ds.attrs["created"]
            assert float(ds.sigma.min()) >= 0.0
        summary = json.loads((workdir / "results" / sweep / f"{sweep}.summary.json").read_text())
        assert summary["stores"][sweep]["completion"]["complete"] is True
        log = (workdir / "logs" / "sweep" / f"{sweep}.log").read_text()
        assert f"{sweep}: created" in log


@pytest.mark.slow
def test_force_space_stores_carry_the_reduced_model(workflow_run):
    workdir, _ = workflow_run
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    force_sweeps = {name: s for name, s in config["sweeps"].items() if "forces" in s}
    assert force_sweeps, "the default config has force-space sweeps"
    for name, sweep in force_sweeps.items():
        model = sweep["forces"]["reduced_model"]
        fe = "F_E_r" if model == "I" else "F_E_b"
        with xr.open_zarr(str(workdir / "results" / name / f"{name}.zarr")) as ds:
            assert ds.attrs["reduced_model"] == model
            assert ds.attrs["forces_parallel"] is (model == "II")
            assert ds.sigma.dims[-2:] == (fe, "F_N_b")
            assert "mu_r" in ds.attrs or "mu_r" in ds.dims  # 000 never states it: recorded


@pytest.mark.slow
def test_rerun_is_a_no_op_and_a_changed_sweep_alone_is_rerun(workflow_run):
    workdir, _ = workflow_run
    proc = snakemake(workdir, "-n")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    changed_sweep = list(config["sweeps"])[-1]
    config["sweeps"][changed_sweep]["fixed"]["eps_L"] = 1.25
    changed = workdir / "changed.yaml"
    changed.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(workdir, "-n", "--configfile", str(changed))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    rerun = {line.split("sweep=")[1].strip() for line in text.splitlines()
             if line.strip().startswith("wildcards:") and "sweep=" in line}
    assert changed_sweep in rerun and len(rerun) == 1, rerun


def test_schema_errors_stop_the_workflow_naming_the_key(tmp_path):
    from .conftest import grid_sweep, make_config

    (tmp_path / "config").mkdir()
    config = make_config(g=grid_sweep())
    config["sweeps"]["g"]["grid"]["T_a"] = {"linspace": [0.2, 2.0]}
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(tmp_path, "-n")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "['g']['grid']['T_a']['linspace']" in text and "is too short" in text
    config["sweeps"]["g"]["grid"]["T_a"] = {"linspace": [0.2, 2.0, 5]}
    config["sweeps"]["g"]["fixed"].pop("mu_r")
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(tmp_path, "-n")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "sweeps.g" in text and "mu_r" in text
    assert not (tmp_path / "results").exists()
