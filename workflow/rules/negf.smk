# Seed 003 §IV B (model kerr_negf): the Fig. 10 and delta_z presets of config/sweeps/ and their
# figures.  Include from the Snakefile after sweep.smk (needs RESULTS, PYTHON, TARGETS):
#     include: "workflow/rules/negf.smk"
# Stores: {RESULTS}/negf/<sweep>/<sweep>.zarr (one per sweep of the preset); figures:
# {RESULTS}/figures/003_fig10.png and 003_negf_delta_z.png.
import os

NEGF_PRESETS = {
    "003_fig10": ("config/sweeps/003_fig10.yaml", "003_fig10_negf", "003_fig10_negf_keldysh", "003_fig10_me"),
    "003_negf_delta_z": ("config/sweeps/003_negf_delta_z.yaml", "003_negf_delta_z", "003_negf_delta_z_keldysh", "003_negf_delta_z_me"),
}
NEGF_PRESETS = {k: v for k, v in NEGF_PRESETS.items() if os.path.exists(v[0])}  # in this working directory
NEGF_FIGURE_KIND = {"003_fig10": "fig10", "003_negf_delta_z": "delta_z"}


wildcard_constraints:
    negf_preset="|".join(NEGF_PRESETS) or "(?!)",


# Every sweep of a preset; the store is not a declared output (resumable, as in sweep.smk).
rule negf_preset:
    input:
        config=lambda w: NEGF_PRESETS[w.negf_preset][0],
    output:
        summary=f"{RESULTS}/negf/{{negf_preset}}.summary.json",
    params:
        python=PYTHON,
        out=lambda w, output: os.path.dirname(output.summary),
    log:
        "logs/negf_preset/{negf_preset}.log",
    benchmark:
        "logs/benchmarks/negf_preset/{negf_preset}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV
    shell:
        "{params.python:q} -m qtmsweep.cli run {input.config:q} --out {params.out:q} --cluster local"
        " --workers {threads} --overwrite --no-progress --summary-json {output.summary:q} > {log:q} 2>&1"


rule negf_figure:
    input:
        summary=f"{RESULTS}/negf/{{negf_preset}}.summary.json",
    output:
        report(
            f"{RESULTS}/figures/{{negf_preset}}.png",
            caption="../report/negf.rst",
            category="Figures",
            subcategory="003",
            labels=lambda w: {"figure": w.negf_preset, "kind": NEGF_FIGURE_KIND[w.negf_preset]},
        ),
    params:
        negf=lambda w: negf_store(NEGF_PRESETS[w.negf_preset][1]),
        keldysh=lambda w: negf_store(NEGF_PRESETS[w.negf_preset][2]),
        me=lambda w: negf_store(NEGF_PRESETS[w.negf_preset][3]),
        kind=lambda w: NEGF_FIGURE_KIND[w.negf_preset],
        python=PYTHON,
    log:
        "logs/negf_figure/{negf_preset}.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    shell:
        "{params.python:q} -m qtmsweep.plot.negf {params.kind} --negf {params.negf:q} --keldysh {params.keldysh:q}"
        " --me {params.me:q} {output:q} > {log:q} 2>&1"


TARGETS.extend(f"{RESULTS}/figures/{p}.png" for p in NEGF_PRESETS)
