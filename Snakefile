# qtmsweep workflow: one zarr store per sweep of the config, then analysis and figures.
#
#   snakemake --cores 2                                        # every sweep, analysis and figure
#   snakemake papers --cores 2                                 # the same, named: every paper figure
#   snakemake noise --cores 2                                  # the counting-statistics figures only
#   snakemake --configfile mine.yaml --cores 2                 # YOUR sweeps only (not merged with ours)
#   snakemake --report report.html                             # every figure with its caption
#   snakemake --workflow-profile workflow/profiles/slurm       # every job a SLURM job
#
# Stores: results/<sweep>/<sweep>.zarr (xr.open_zarr; a declared output: delete it and it is
# recomputed), next to <sweep>.summary.json and config.yaml (the sweep's resolved config) and
# analysis.zarr. Figures: results/figures/<name>.png. Logs: logs/<rule>/<name>.log;
# benchmarks: logs/benchmarks/<rule>/<name>.tsv.
import copy
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

import qtmsweep.sweep.config as qcfg


configfile: "config/config.yaml"


# --configfile FILE replaces the default config rather than extending it: a user's config gives
# that user's sweeps and figures only (--config KEY=VALUE still overrides single keys).
if workflow.overwrite_configfiles:
    config.clear()
    config.update(copy.deepcopy(workflow.config_settings.overwrite_config))
    CONFIG_DIR = Path(workflow.overwrite_configfiles[0]).parent
else:
    CONFIG_DIR = Path("config")
# include: files (the paper presets of config/sweeps/), relative to the config's folder
qcfg.expand_includes(config, CONFIG_DIR)
# One schema for the CLI and the workflow (package data); fills the defaults.
validate(config, str(qcfg.SCHEMA_PATH))
# What the schema cannot say: model parameters fixed/swept exactly once, ranges, grids, chunks.
# Checked once, by the main process (each job's own process parses the workflow again).
if workflow.is_main_process:
    qcfg.check_config(config)

RESULTS = config["results_dir"]
SWEEPS = list(config["sweeps"])
# Files `rule all` builds; each rules file appends its final outputs.
TARGETS = []


include: "workflow/rules/common.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/noise.smk"
# 003 §IV B (kerr_negf) presets: part of the default workflow, not of a user's --configfile run
if not workflow.overwrite_configfiles:

    include: "workflow/rules/negf.smk"
    # issue 15: refined presets (config/sweeps/refined.yaml), target `snakemake refined`
    include: "workflow/rules/refined.smk"



rule all:
    default_target: True
    input:
        TARGETS,
