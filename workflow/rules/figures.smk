# Figures: one file per entry of `figures:` in the config, drawn from the sweep's store and
# its analysis store alone (byte-for-byte reproducible: same data + same config = same file).
import json

FIGURES = config.get("figures", {})


def figure_file(name):
    spec = FIGURES[name]
    return f"{RESULTS}/figures/{name}.{spec['format']}"


def figure_options(name):
    return " ".join(
        "--opt " + shlex.quote(f"{k}={json.dumps(v) if not isinstance(v, str) else v}")
        for k, v in FIGURES[name]["opts"].items()
    )


import shlex


wildcard_constraints:
    figure="|".join(re.escape(f) for f in FIGURES) or "(?!)",


rule figure:
    input:
        summary=lambda w: sweep_summary(FIGURES[w.figure]["sweep"]),
        analysis=lambda w: analysis_store(FIGURES[w.figure]["sweep"]),
    output:
        f"{RESULTS}/figures/{{figure}}.{{ext}}",
    params:
        store=lambda w: sweep_store(FIGURES[w.figure]["sweep"]),
        kind=lambda w: FIGURES[w.figure]["kind"],
        opts=lambda w: figure_options(w.figure),
        spec=lambda w: FIGURES[w.figure],  # redraw when the figure's config changes
    log:
        "logs/figure/{figure}.{ext}.log",
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PYTHON:q} -m qtmsweep.cli figure {params.store:q} {params.kind} {output:q}"
        " --analysis {input.analysis:q} {params.opts} > {log:q} 2>&1"


TARGETS.extend(figure_file(f) for f in FIGURES)
