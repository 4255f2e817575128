# Sweeps: config -> zarr store, one per sweep (the work is done by the qtmsweep package).


wildcard_constraints:
    sweep="|".join(re.escape(s) for s in SWEEPS) or "(?!)",


localrules:
    sweep_config,


# The sweep's resolved config (defaults filled, --config overrides applied) as a file. Rewritten
# only when what defines the sweep's data changes (its config_sha256: not its description or
# resources) or the run settings do; that reruns `sweep`. A `run:` block inside the Snakemake
# process (no conda env: with one, Snakemake would start a new process that parses the workflow
# again, ~10 s per sweep).
rule sweep_config:
    output:
        f"{RESULTS}/{{sweep}}/config.yaml",
    params:
        identity=lambda w: qcfg.sweep_sha256(config, w.sweep),
        dask=config["dask"],
    log:
        "logs/sweep_config/{sweep}.log",
    run:
        qcfg.write_sweep_config(config, wildcards.sweep, output[0])


# A sweep with resources.threads = 1 runs its chunks in the job's own process (no Dask cluster to
# start: the small paper presets); more threads start a local Dask cluster of that many workers.
# Invariant and precision warnings are copied from the log to the console.
rule sweep:
    input:
        config=f"{RESULTS}/{{sweep}}/config.yaml",
    output:
        store=directory(f"{RESULTS}/{{sweep}}/{{sweep}}.zarr"),
        summary=f"{RESULTS}/{{sweep}}/{{sweep}}.summary.json",
    params:
        python=PYTHON,
        cluster=lambda w, threads: "inline" if threads == 1 else f"local --workers {threads}",
    log:
        "logs/sweep/{sweep}.log",
    benchmark:
        "logs/benchmarks/sweep/{sweep}.tsv"
    threads: lambda w: sweep_resources(w.sweep, "threads")
    resources:
        mem_mb=lambda w: sweep_resources(w.sweep, "mem_mb"),
        runtime=lambda w: sweep_resources(w.sweep, "runtime"),
    conda:
        ENV
    shell:
        "{params.python:q} -m qtmsweep.cli run {input.config:q} --sweep {wildcards.sweep} --store {output.store:q}"
        " --cluster {params.cluster} --overwrite --no-progress --summary-json {output.summary:q} > {log:q} 2>&1"
        " || {{ tail -n 5 {log:q} >&2; exit 1; }}; grep '^warning:' {log:q} >&2 || true"


TARGETS.extend(sweep_summary(s) for s in SWEEPS)
TARGETS.extend(sweep_store(s) for s in SWEEPS)  # requested: a deleted store is recomputed
