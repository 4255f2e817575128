# Sweeps: config -> zarr store, one per sweep (the work is done by the qtmsweep package).
import re
import sys

PYTHON = sys.executable


wildcard_constraints:
    sweep="|".join(re.escape(s) for s in SWEEPS) or "(?!)",


def sweep_store(sweep):
    """Path of a sweep's zarr store (read it with xr.open_zarr)."""
    return f"{RESULTS}/{sweep}/{sweep}.zarr"


def sweep_summary(sweep):
    """The sweep rule's output; depend on it to read sweep_store(sweep)."""
    return f"{RESULTS}/{sweep}/{sweep}.summary.json"


localrules:
    sweep_config,


# The sweep's resolved config (defaults filled, --config overrides applied) as a file.
# Rewritten only when this sweep's section or the run settings change (params trigger),
# which then reruns `sweep` (a store of another config is replaced; same config: resumed).
rule sweep_config:
    output:
        f"{RESULTS}/{{sweep}}/config.yaml",
    params:
        sweep=lambda w: config["sweeps"][w.sweep],
        dask=config["dask"],
    log:
        "logs/sweep_config/{sweep}.log",
    run:
        qcfg.write_sweep_config(config, wildcards.sweep, output[0])


# The store is not a declared output: Snakemake deletes outputs before rerunning a job, and
# an interrupted sweep must be resumed, not restarted. The summary marks completion.
rule sweep:
    input:
        config=f"{RESULTS}/{{sweep}}/config.yaml",
    output:
        summary=f"{RESULTS}/{{sweep}}/{{sweep}}.summary.json",
    params:
        store=lambda w: sweep_store(w.sweep),
    log:
        "logs/sweep/{sweep}.log",
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "{PYTHON:q} -m qtmsweep.cli run {input.config:q} --sweep {wildcards.sweep} --store {params.store:q}"
        " --cluster local --workers {threads} --overwrite --summary-json {output.summary:q} > {log:q} 2>&1"


TARGETS.extend(sweep_summary(s) for s in SWEEPS)
