"""The Snakemake workflow: a small config end to end, what a config change reruns, the catalogue's
standards (lint, report, benchmarks, resources, conda env), and (slow) every paper figure."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import xarray as xr
import yaml

from .conftest import force_sweep, grid_sweep

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
PAPER_FIGURES = ["000_fig3", "000_fig4", "000_fig5", "000_fig6", "001_fig3", "003_fig3", "003_fig4", "003_fig5",
                 "003_fig7", "003_fig8", "004_fig2", "004_fig4_upper", "004_fig4_lower", "004_fig5"]

FRIDGE = {"model": "qubit_fridge",
          "fixed": {"approach": "local", "eps1": 2.0, "eps2": 2.1, "delta_x": 0.01, "T": 1.0, "Gamma_L": 0.02,
                    "Gamma_R": 0.08, "Gamma_C": 0.06, "filters": "resonant", "eps_c": 10.0},
          "grid": {"dT": {"linspace": [0.05, 0.5, 6]}, "delta_z": {"values": [0.1, 0.3]}},
          "resources": {"threads": 1}}
RECTIFIER = {"model": "chain", "fixed": {"N": 2, "stat": "qubit", "approach": "global", "omega": 1.0, "g": 0.8,
                                         "gamma_L": 0.002, "gamma_R": 0.02, "T_R": 0.004},
             "grid": {"T_L": {"geomspace": [0.1, 10.0, 7]}}, "reverse": [["T_L", "T_R"]],
             "resources": {"threads": 1}}


def small_config() -> dict:
    return {
        "sweeps": {"cqd_I": {**force_sweep("I", 5, 6), "resources": {"threads": 2}},
                   "g": {**grid_sweep(5, 4), "description": "cqd over T_a, mu_a", "resources": {"threads": 1}},
                   "fridge": FRIDGE, "rect": RECTIFIER},
        "figures": {"fridge_cuts": {"description": "J_C against dT per delta_z", "sweep": "fridge",
                                    "kind": "fridge_cuts", "opts": {"x": "dT", "line_dim": "delta_z"}},
                    "rect": {"description": "forward/reverse heat current and contrast", "sweep": "rect",
                             "kind": "rectification", "opts": {"x": "T_L"}},
                    "icc": {"description": "J_E[r] over the force plane", "sweep": "cqd_I", "kind": "current_map",
                            "opts": {"flux_names": "J_E_r"}}},
    }


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def planned(proc: subprocess.CompletedProcess, rule: str) -> set[str]:
    """Wildcard values of the jobs of ``rule`` a (dry) run lists."""
    out, jobs, current = proc.stdout + proc.stderr, set(), None
    for line in out.splitlines():
        m = re.match(r"\s*(?:local)?rule (\w+):", line)
        if m:
            current = m.group(1)
        elif current == rule and line.strip().startswith("wildcards:"):
            jobs.add(line.split(":", 1)[1].strip())
    return jobs


def write(workdir: Path, config: dict, name: str = "config/config.yaml") -> Path:
    path = workdir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """`snakemake --cores 2` on a small config (cqd, qubit_fridge, a forward/reverse chain) in a scratch dir."""
    workdir = tmp_path_factory.mktemp("wf")
    write(workdir, small_config())
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, proc


@pytest.mark.slow  # shares one workflow run of a few minutes
def test_workflow_writes_every_store_analysis_and_figure(workflow_run):
    workdir, _ = workflow_run
    for sweep in small_config()["sweeps"]:
        with xr.open_zarr(str(workdir / "results" / sweep / f"{sweep}.zarr")) as ds:
            assert ds.attrs["sweep"] == sweep and ds.attrs["complete"] is True
            assert float(ds.sigma.min()) >= 0.0
        assert (workdir / "results" / sweep / "analysis.zarr").is_dir()
        assert (workdir / "logs" / "benchmarks" / "sweep" / f"{sweep}.tsv").is_file()
    with xr.open_zarr(str(workdir / "results" / "rect" / "analysis.zarr")) as an:
        assert "contrast" in an and an.contrast.dims == ("T_L",)
    with xr.open_zarr(str(workdir / "results" / "fridge" / "analysis.zarr")) as an:
        assert set(an.cooling.attrs["flag_meanings"].split()) == {"heating", "undetermined", "cooling"}
    for fig in small_config()["figures"]:
        assert (workdir / "results" / "figures" / f"{fig}.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow  # shares one workflow run of a few minutes
def test_invariant_warnings_reach_the_console(workflow_run):
    _, proc = workflow_run
    # the global chain with hot baths leaves the secular regime (rates above the splitting 2g): the
    # sweep's store counts it and its warning reaches the Snakemake console, not only the rule log
    assert re.search(r"warning: sweep rect has \d+ cells with secular_ratio < 10", proc.stderr), proc.stderr[-3000:]
    # the local fridge with eps1 != eps2 and delta_x > 0: 003 Eq. A21's bare currents are not conserved,
    # the full-Hamiltonian ones are, so this is physics of the local ME and not a violation
    assert "warning: sweep fridge VIOLATES" not in proc.stderr


@pytest.mark.slow  # shares one workflow run of a few minutes
def test_threads_come_from_the_sweeps_resources(workflow_run):
    workdir, _ = workflow_run
    for sweep, cluster in (("cqd_I", "local"), ("g", "inline")):  # threads 2: a Dask cluster; 1: in-process
        with xr.open_zarr(str(workdir / "results" / sweep / f"{sweep}.zarr")) as ds:
            setup = json.loads(ds.attrs["dask_setup"])
        assert setup["cluster"] == cluster, (sweep, setup)
    assert json.loads(json.dumps(setup))  # plain JSON


@pytest.mark.slow  # shares one workflow run of a few minutes
def test_rerun_is_a_no_op_and_a_description_edit_reruns_nothing(workflow_run):
    workdir, _ = workflow_run
    proc = snakemake(workdir, "-n")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr
    config = small_config()
    config["sweeps"]["g"]["description"] = "a new description of the same data"
    config["sweeps"]["g"]["resources"] = {"threads": 1, "mem_mb": 1500}
    proc = snakemake(workdir, "-n", "--configfile", str(write(workdir, config, "described.yaml")))
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-2000:]


@pytest.mark.slow  # shares one workflow run of a few minutes
def test_a_changed_sweep_alone_is_rerun(workflow_run):
    workdir, _ = workflow_run
    config = small_config()
    config["sweeps"]["g"]["fixed"]["eps_L"] = 1.25
    proc = snakemake(workdir, "-n", "--configfile", str(write(workdir, config, "changed.yaml")))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert planned(proc, "sweep") == {"sweep=g"}


@pytest.mark.slow  # shares one workflow run of a few minutes
def test_deleting_a_store_reruns_its_sweep(workflow_run):
    workdir, _ = workflow_run
    backup = workdir / "rect_backup.zarr"
    store = workdir / "results" / "rect" / "rect.zarr"
    shutil.copytree(store, backup)
    try:
        shutil.rmtree(store)
        proc = snakemake(workdir, "-n")
        assert proc.returncode == 0
        assert planned(proc, "sweep") == {"sweep=rect"} and "figure=rect" in " ".join(planned(proc, "figure"))
    finally:
        shutil.rmtree(store, ignore_errors=True)
        shutil.copytree(backup, store)


@pytest.mark.slow  # shares one workflow run of a few minutes
def test_a_users_configfile_gives_that_users_sweeps_only(workflow_run, tmp_path):
    workdir, _ = workflow_run
    mine = {"results_dir": "mine", "sweeps": {"only_mine": grid_sweep(4, 3)}}
    proc = snakemake(workdir, "-n", "--configfile", str(write(tmp_path, mine, "mine.yaml")))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert planned(proc, "sweep") == {"sweep=only_mine"} and not planned(proc, "figure")


@pytest.mark.slow  # shares one workflow run of a few minutes
def test_report_shows_every_figure_with_its_caption(workflow_run):
    workdir, _ = workflow_run
    report = workdir / "report.zip"
    proc = snakemake(workdir, "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-2000:]
    import zipfile

    with zipfile.ZipFile(report) as z:
        names = z.namelist()
        text = "".join(z.read(n).decode("utf-8", "replace") for n in names if n.endswith((".html", ".js", ".json")))
    for fig in small_config()["figures"]:
        assert any(n.endswith(f"{fig}.png") for n in names), fig
    assert "forward/reverse heat current and contrast" in text  # a caption


def test_lint_finds_nothing():
    proc = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(REPO), "--lint"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Congratulations" in proc.stdout + proc.stderr, proc.stdout[-3000:]


def test_conda_env_matches_pyproject():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "workflow" / "envs" / "qtmsweep.yaml").read_text())["dependencies"]
    conda = {str(d) for d in env if isinstance(d, str)}
    for dep in deps:
        name = re.split(r"[<>=\[]", dep)[0]
        spec = dep.replace("[array]", "")
        assert spec in conda, f"{dep} of pyproject.toml is not in workflow/envs/qtmsweep.yaml as {spec}"
    assert any(isinstance(d, dict) and "--editable ../.." in d.get("pip", []) for d in env)


def test_schema_errors_stop_the_workflow_naming_the_key(tmp_path):
    from .conftest import make_config

    config = make_config(g=grid_sweep())
    config["sweeps"]["g"]["grid"]["T_a"] = {"linspace": [0.2, 2.0]}
    write(tmp_path, config)
    proc = snakemake(tmp_path, "-n")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "['g']['grid']['T_a']['linspace']" in text and "is too short" in text
    config["sweeps"]["g"]["grid"]["T_a"] = {"linspace": [0.2, 2.0, 5]}
    config["sweeps"]["g"]["fixed"].pop("mu_r")
    write(tmp_path, config)
    proc = snakemake(tmp_path, "-n")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "sweeps.g" in text and "mu_r" in text
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_papers_target_draws_every_paper_figure_reproducibly(tmp_path):
    """`snakemake papers` on the repository's default config: every seed figure, drawn twice the same."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    proc = snakemake(tmp_path, "papers", timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = {f: (tmp_path / "results" / "figures" / f"{f}.png").read_bytes() for f in PAPER_FIGURES}
    for f in first:
        (tmp_path / "results" / "figures" / f"{f}.png").unlink()
    proc = snakemake(tmp_path, "papers", timeout=1200)
    assert proc.returncode == 0 and planned(proc, "sweep") == set()  # only the figures are redrawn
    for f, data in first.items():
        assert (tmp_path / "results" / "figures" / f"{f}.png").read_bytes() == data, f
