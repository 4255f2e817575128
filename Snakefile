# qtmsweep workflow: one zarr store per sweep of config/config.yaml, then analysis and figures.
#
#   snakemake --cores 2                                        # local
#   snakemake --workflow-profile workflow/profiles/slurm       # every job a SLURM job
#
# Stores: results/<sweep>/<sweep>.zarr (xr.open_zarr), next to <sweep>.summary.json
# (the sweep rule's output: run summary + store info) and config.yaml (the sweep's resolved
# config). Logs: logs/<rule>/<sweep>.log.
from snakemake.utils import min_version, validate

min_version("9.0")

import qtmsweep.sweep.config as qcfg


configfile: "config/config.yaml"


# One schema for the CLI and the workflow (package data); fills the defaults.
validate(config, str(qcfg.SCHEMA_PATH))
# What the schema cannot say: model parameters fixed/swept exactly once, ranges, grids, chunks.
qcfg.check_config(config)

RESULTS = config["results_dir"]
SWEEPS = list(config["sweeps"])
# Files `rule all` builds; each rules file appends its final outputs (one line each).
TARGETS = []


include: "workflow/rules/sweep.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/negf.smk"


rule all:
    default_target: True
    input:
        TARGETS,
