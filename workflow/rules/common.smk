# Helpers shared by the rules (paths, the Python that runs the package, resources per sweep).
import json
import re
import shlex
import sys


# The package's interpreter: with --software-deployment-method conda the rule's environment
# (workflow/envs/qtmsweep.yaml) provides `python`; otherwise the one running Snakemake.
def _python():
    methods = {str(m).lower() for m in (workflow.deployment_settings.deployment_method or ())}
    return "python" if any("conda" in m for m in methods) else sys.executable


PYTHON = _python()
ENV = "../envs/qtmsweep.yaml"


def sweep_store(sweep):
    """Path of a sweep's zarr store (read it with xr.open_zarr)."""
    return f"{RESULTS}/{sweep}/{sweep}.zarr"


def sweep_summary(sweep):
    return f"{RESULTS}/{sweep}/{sweep}.summary.json"


def analysis_store(sweep):
    return f"{RESULTS}/{sweep}/analysis.zarr"


def sweep_resources(sweep, key):
    """threads / mem_mb / runtime of a sweep's jobs: its `resources:` (schema defaults 2, 2000, 60)."""
    return config["sweeps"][sweep]["resources"][key]


FIGURES = config.get("figures", {})
# the counting-statistics figures of sweeps/noise.yaml (`snakemake noise`; not a paper's figures)
NOISE_FIGURES = [f for f in FIGURES if f.startswith("noise_")]


def figure_sweeps(name):
    spec = FIGURES[name]
    return [spec["sweep"], *spec.get("sweeps", [])]


def figure_file(name):
    return f"{RESULTS}/figures/{name}.{FIGURES[name]['format']}"


def figure_arguments(name):
    """Further stores, their analysis stores and the --opt flags of figure `name` (shell-quoted)."""
    sweeps = figure_sweeps(name)
    stores = [f"--with {shlex.quote(sweep_store(s))}" for s in sweeps[1:]]
    analyses = [f"--analysis {shlex.quote(analysis_store(s))}" for s in sweeps]
    opts = [
        f"--opt {shlex.quote(f'{k}={v if isinstance(v, str) else json.dumps(v)}')}"
        for k, v in FIGURES[name]["opts"].items()
    ]
    return " ".join([*stores, *analyses, *opts])


def negf_store(sweep):
    """Store of a kerr_negf preset sweep (workflow/rules/negf.smk)."""
    return f"{RESULTS}/negf/{sweep}/{sweep}.zarr"
