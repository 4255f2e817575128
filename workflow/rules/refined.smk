# Issue 15: the refined presets of config/sweeps/refined.yaml (000 Fig. 4 and Fig. 6 ICC boundaries,
# 003 cooling boundary at 4097 x 4097 effective nodes), each drawn as a `refined_map`.  Not part of
# the default target; build them with `snakemake refined --cores 2`.  Include from the Snakefile after
# common.smk (needs RESULTS, PYTHON):
#     include: "workflow/rules/refined.smk"
# Stores: {RESULTS}/refined/<sweep>/<sweep>.zarr (level groups, xr.open_zarr(store, group="level_<k>"));
# figures: {RESULTS}/figures/<sweep>.png.
import os

import yaml

REFINED_PRESET = "config/sweeps/refined.yaml"
REFINED = list(yaml.safe_load(open(REFINED_PRESET))["sweeps"]) if os.path.exists(REFINED_PRESET) else []


wildcard_constraints:
    refined="|".join(re.escape(s) for s in REFINED) or "(?!)",


# One refined sweep: level by level into one store of nested levels (resumable; --overwrite: the
# store is the rule's output, so a rerun starts it afresh).
rule refined_sweep:
    input:
        config=REFINED_PRESET,
    output:
        store=directory(f"{RESULTS}/refined/{{refined}}/{{refined}}.zarr"),
        summary=f"{RESULTS}/refined/{{refined}}.summary.json",
    params:
        python=PYTHON,
    log:
        "logs/refined_sweep/{refined}.log",
    benchmark:
        "logs/benchmarks/refined_sweep/{refined}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    shell:
        "{params.python:q} -m qtmsweep.cli run {input.config:q} --sweep {wildcards.refined} --store {output.store:q}"
        " --cluster inline --overwrite --no-progress --summary-json {output.summary:q} > {log:q} 2>&1"


rule refined_figure:
    input:
        store=f"{RESULTS}/refined/{{refined}}/{{refined}}.zarr",
    output:
        report(
            f"{RESULTS}/figures/{{refined}}.png",
            caption="../report/refined.rst",
            category="Figures",
            subcategory="refined",
            labels=lambda w: {"figure": w.refined, "kind": "refined_map"},
        ),
    params:
        python=PYTHON,
    log:
        "logs/refined_figure/{refined}.log",
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        ENV
    shell:
        "{params.python:q} -m qtmsweep.cli figure {input.store:q} refined_map {output:q} > {log:q} 2>&1"


rule refined:
    input:
        [f"{RESULTS}/figures/{s}.png" for s in REFINED],
    localrule: True
