# Analysis: regime classification, operating mode, COP / efficiency beside their Carnot bounds,
# the resolved cooling sign of the refrigerators and the rectifier's contrast and conductance,
# into a separate store next to the sweep's (the sweep store stays what the kernels produced).


rule analyze:
    input:
        store=f"{RESULTS}/{{sweep}}/{{sweep}}.zarr",
        summary=f"{RESULTS}/{{sweep}}/{{sweep}}.summary.json",
    output:
        directory(f"{RESULTS}/{{sweep}}/analysis.zarr"),
    params:
        python=PYTHON,
    log:
        "logs/analyze/{sweep}.log",
    benchmark:
        "logs/benchmarks/analyze/{sweep}.tsv"
    resources:
        mem_mb=lambda w: sweep_resources(w.sweep, "mem_mb"),
        runtime=lambda w: sweep_resources(w.sweep, "runtime"),
    conda:
        ENV
    shell:
        "{params.python:q} -m qtmsweep.cli analyze {input.store:q} --out {output:q} > {log:q} 2>&1"


TARGETS.extend(analysis_store(s) for s in SWEEPS)
