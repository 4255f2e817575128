# Figures: one file per entry of `figures:` in the config, drawn from its sweeps' stores and
# analysis stores alone (byte-for-byte reproducible: same data + same figure config = same file).
# Each is a report item: `snakemake --report report.html` shows it with its description.
wildcard_constraints:
    figure="|".join(re.escape(f) for f in FIGURES) or "(?!)",


rule figure:
    input:
        stores=lambda w: [sweep_store(s) for s in figure_sweeps(w.figure)],
        analyses=lambda w: [analysis_store(s) for s in figure_sweeps(w.figure)],
    output:
        report(
            f"{RESULTS}/figures/{{figure}}.{{ext}}",
            caption="../report/figure.rst",
            category="Figures",
            subcategory=lambda w: w.figure.split("_")[0],
            labels=lambda w: {"figure": w.figure, "kind": FIGURES[w.figure]["kind"]},
        ),
    params:
        python=PYTHON,
        first=lambda w: sweep_store(figure_sweeps(w.figure)[0]),
        kind=lambda w: FIGURES[w.figure]["kind"],
        args=lambda w: figure_arguments(w.figure),
        spec=lambda w: FIGURES[w.figure],  # redraw when the figure's config changes
        description=lambda w: FIGURES[w.figure].get("description", w.figure),
        sweeps=lambda w: ", ".join(figure_sweeps(w.figure)),
    log:
        "logs/figure/{figure}.{ext}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "{params.python:q} -m qtmsweep.cli figure {params.first:q} {params.kind} {output:q} {params.args}"
        " > {log:q} 2>&1"


# every paper figure of config/config.yaml and its presets (the counting-statistics figures of
# sweeps/noise.yaml are not a paper's: `snakemake noise`; the default target draws both)
rule papers:
    input:
        [figure_file(f) for f in FIGURES if f not in NOISE_FIGURES],
    localrule: True


TARGETS.extend(figure_file(f) for f in FIGURES)
