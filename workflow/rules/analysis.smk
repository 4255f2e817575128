# Analysis: ICC / regime classification, operating mode, efficiency / COP beside their Carnot
# bounds, for every sweep, into a separate store next to the sweep's (the sweep store stays
# exactly what the kernels produced). Read it with xr.open_zarr; `qtmsweep info` summarises it.


def analysis_store(sweep):
    return f"{RESULTS}/{sweep}/analysis.zarr"


rule analyze:
    input:
        summary=lambda w: sweep_summary(w.sweep),
    output:
        directory(f"{RESULTS}/{{sweep}}/analysis.zarr"),
    params:
        store=lambda w: sweep_store(w.sweep),
    log:
        "logs/analyze/{sweep}.log",
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PYTHON:q} -m qtmsweep.cli analyze {params.store:q} --out {output:q} > {log:q} 2>&1"


TARGETS.extend(analysis_store(s) for s in SWEEPS)
