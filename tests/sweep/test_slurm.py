"""Against a real SLURM cluster (runs only when SLURM_CONF is set, e.g. by .ci/slurm_integration.sh or .ci/run).

(a) the Snakemake workflow with the SLURM executor plugin (workflow/profiles/slurm), and
(b) a sweep on a dask-jobqueue SLURMCluster,
each compared bitwise with the same sweeps run locally.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
import yaml

from qtmsweep.sweep import RunOptions, run_sweep, validate_config

from .conftest import data_vars_equal, force_sweep, grid_sweep, make_config, write_config

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(not os.environ.get("SLURM_CONF"), reason="needs a SLURM cluster (SLURM_CONF unset)"),
]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SNAKEMAKE = shutil.which("snakemake") or str(BIN / "snakemake")
QTMSWEEP = shutil.which("qtmsweep") or str(BIN / "qtmsweep")


def sweeps() -> dict:
    return make_config(slurm_grid=grid_sweep(15, 9, chunks={"T_a": 4}),
                       slurm_forces=force_sweep("II", 11, 13, chunks={"F_E_b": 3}))


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The same sweeps computed locally (inline)."""
    cfg = validate_config(sweeps())
    out = tmp_path_factory.mktemp("local")
    result = {}
    for name in cfg["sweeps"]:
        run_sweep(cfg, name, out / f"{name}.zarr", RunOptions(cluster="inline", progress=False))
        with xr.open_zarr(str(out / f"{name}.zarr")) as ds:
            result[name] = ds.load()
    return result


def _env(shim_dir: Path | None = None) -> dict:
    """Environment of the submitting process; inherited by the jobs (sbatch --export=ALL)."""
    env = dict(os.environ)
    path = [str(BIN)]  # the jobs find this interpreter's tools
    if shim_dir is not None:
        path.insert(0, str(shim_dir))
    env["PATH"] = os.pathsep.join(path + [env.get("PATH", "")])
    return env


def _srun_shim(directory: Path) -> Path | None:
    """An ``srun`` that knows SLURM_CONF, for the job-step executor.

    snakemake-executor-plugin-slurm-jobstep removes every ``SLURM_*`` variable, SLURM_CONF
    included, before it calls ``srun`` inside the job (snakemake-executor-plugin-slurm
    issue #164); a cluster whose slurm.conf is not at the default path (like the private CI
    cluster of .ci/slurm/up.sh) then fails with "Could not establish a configuration source".
    Real clusters have the default path or configless mode, and need no shim.
    """
    conf = os.environ["SLURM_CONF"]
    real = shutil.which("srun")
    if real is None or Path(conf) == Path("/etc/slurm/slurm.conf"):
        return None
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "srun"
    shim.write_text(f"#!/bin/sh\nSLURM_CONF={conf}; export SLURM_CONF\nexec {real} \"$@\"\n")
    shim.chmod(0o755)
    return directory


def test_workflow_with_the_slurm_executor_equals_a_local_run(tmp_path, local_reference):
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config" / "config.yaml", {**sweeps(), "dask": {"cluster": "local"}})
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm"), "--jobs", "2"]
    env = _env(_srun_shim(tmp_path / "shim"))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-5000:]
    assert "slurm" in text.lower()
    for name, ref in local_reference.items():
        summary = json.loads((tmp_path / "results" / name / f"{name}.summary.json").read_text())
        assert summary["results"][0]["complete"] is True
        with xr.open_zarr(str(tmp_path / "results" / name / f"{name}.zarr")) as ds:
            data_vars_equal(ref, ds.load())
            assert ds.attrs["config_sha256"] == ref.attrs["config_sha256"]
            runs = json.loads(ds.attrs["runs"])
        assert runs[-1]["slurm_job_id"], "the sweep ran inside a SLURM job"


def test_sweep_on_a_dask_jobqueue_slurm_cluster_equals_a_local_run(tmp_path, local_reference):
    cfg = sweeps()
    cfg["dask"] = {"cluster": "slurm", "max_in_flight": 4,
                   "slurm": {"queue": "debug", "jobs": 2, "cores": 1, "processes": 1, "memory": "1GB",
                             "walltime": "00:15:00", "interface": "lo", "worker_timeout": 120,
                             "log_directory": str(tmp_path / "dask-logs")}}
    config = write_config(tmp_path / "config.yaml", cfg)
    proc = subprocess.run([QTMSWEEP, "run", str(config), "--out", str(tmp_path / "res"), "--no-progress"],
                          capture_output=True, text=True, timeout=900, env=_env())
    assert proc.returncode == 0, proc.stderr[-5000:]
    for name, ref in local_reference.items():
        with xr.open_zarr(str(tmp_path / "res" / name / f"{name}.zarr")) as ds:
            data_vars_equal(ref, ds.load())
            setup = json.loads(ds.attrs["dask_setup"])
            assert setup["cluster"] == "slurm" and setup["jobs"] == 2
            assert setup["slurm"]["queue"] == "debug"
    assert list((tmp_path / "dask-logs").glob("*")), "the workers ran as SLURM jobs (their logs)"
    assert yaml.safe_load(config.read_text())["dask"]["cluster"] == "slurm"
