"""Command-line entry points of the analysis and figure steps (``qtmsweep analyze|figure|plot|paper-figures``).

``qtmsweep analyze STORE [--out PATH] [--reduced-model I|II]``
    :func:`qtmsweep.analysis.analyze_store`.
``qtmsweep figure STORE KIND OUT [--with STORE ...] [--analysis PATH ...] [--opt KEY=VALUE ...]``
    :func:`qtmsweep.plot.figure_from_store`; ``--with`` adds further stores drawn on the same
    figure (kinds that draw several sweeps); ``--analysis`` gives their analysis stores in the
    same order (default: ``analysis.zarr`` beside each store when it exists).  ``VALUE`` is
    read as JSON when it parses (``--opt flux_names='["J_N_b","J_E_b"]'``), else as a string.
``qtmsweep plot CONFIG [--figure NAME ...] [--results DIR]``
    Draw a config's ``figures:`` from the stores under ``DIR`` (default: the config's
    ``results_dir``) without Snakemake: ``DIR/figures/<name>.<format>``.
``qtmsweep paper-figures OUTDIR [--only NAME ...] [--format png|pdf|svg]``
    :func:`qtmsweep.plot.paper.make_paper_figures` (computes the 000/001 datasets in memory).

Each ``*_main(argv)`` returns a process exit code; bad input (a missing store, an unknown
figure option, a kind that does not fit the model) prints one ``qtmsweep: error:`` line and
returns 2, never a traceback.

Examples
--------
>>> parse_options(["panel_dim=kappa", 'sel={"mu_r": 3.0}'])
{'panel_dim': 'kappa', 'sel': {'mu_r': 3.0}}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from ..cli import PLOT_HELP as HELP  # one help table for both parsers

EXIT_OK, EXIT_USAGE = 0, 2


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``["k=v", ...]`` → ``{k: json(v) or v}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--opt {item!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _error(message: str) -> int:
    print(f"qtmsweep: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _check_store(path: str, what: str = "store") -> None:
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{what} {path!r} does not exist (run the sweep first: `qtmsweep run CONFIG`)")
    if not p.is_dir() or not ((p / "zarr.json").exists() or (p / ".zgroup").exists()):
        raise ValueError(f"{what} {path!r} is not a zarr store")


def _default_analysis(store: str) -> str | None:
    candidate = Path(store).parent / "analysis.zarr"
    return str(candidate) if candidate.is_dir() else None


def analyze_main(argv: Sequence[str] | None = None) -> int:
    from ..analysis import analyze_store

    p = argparse.ArgumentParser(prog="qtmsweep analyze",
                                description="Add the classification, operating-mode, COP, cooling and "
                                            "rectification variables of a store's model (qtmsweep.analysis).")
    p.add_argument("store")
    p.add_argument("--out", default=None, help="write the analysis to this separate store instead")
    p.add_argument("--reduced-model", default=None, choices=["I", "II"])
    args = p.parse_args(argv)
    try:
        _check_store(args.store)
        path = analyze_store(args.store, args.out, reduced_model=args.reduced_model)
    except (ValueError, KeyError, OSError) as err:
        return _error(str(err).strip("'\""))
    print(path)
    return EXIT_OK


def figure_main(argv: Sequence[str] | None = None) -> int:
    from . import FIGURE_KINDS, figure_from_store

    p = argparse.ArgumentParser(prog="qtmsweep figure", description="Draw a figure from sweep stores "
                                "(kinds: see qtmsweep.plot; the machine kinds take several stores via --with).")
    p.add_argument("store")
    p.add_argument("kind", choices=sorted(FIGURE_KINDS))
    p.add_argument("out")
    p.add_argument("--with", dest="more", action="append", default=[], metavar="STORE",
                   help="a further store drawn on the same figure (repeatable)")
    p.add_argument("--analysis", action="append", default=None, metavar="PATH",
                   help="analysis store of each store, in order (default: analysis.zarr beside each store)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    stores = [args.store, *args.more]
    try:
        for s in stores:
            _check_store(s)
        analyses = args.analysis if args.analysis is not None else [_default_analysis(s) for s in stores]
        if len(analyses) != len(stores):
            raise ValueError(f"{len(analyses)} --analysis for {len(stores)} stores; allowed: one per store")
        for a in analyses:
            if a is not None:
                _check_store(a, "analysis store")
        out = figure_from_store(stores if len(stores) > 1 else stores[0], args.kind, args.out,
                                analysis_path=analyses if len(stores) > 1 else analyses[0],
                                **parse_options(args.opt))
    except (ValueError, KeyError, OSError) as err:
        return _error(str(err).strip("'\""))
    print(out)
    return EXIT_OK


def figure_paths(config: dict, name: str, results: str | Path) -> dict[str, Any]:
    """Stores, analysis stores and output path of figure ``name`` of a validated config."""
    spec = config["figures"][name]
    sweeps = [spec["sweep"], *spec.get("sweeps", [])]
    results = Path(results)
    return {"stores": [str(results / s / f"{s}.zarr") for s in sweeps],
            "analyses": [str(results / s / "analysis.zarr") for s in sweeps],
            "out": str(results / "figures" / f"{name}.{spec.get('format', 'png')}"),
            "kind": spec["kind"], "opts": dict(spec.get("opts", {}))}


def plot_main(argv: Sequence[str] | None = None) -> int:
    from ..sweep import ConfigError, load_config
    from . import figure_from_store

    p = argparse.ArgumentParser(prog="qtmsweep plot", description="Draw the figures: of a config from its "
                                "stores, without Snakemake (run the sweeps first with `qtmsweep run CONFIG`).")
    p.add_argument("config")
    p.add_argument("--figure", action="append", metavar="NAME", help="figure to draw (repeatable; default: all)")
    p.add_argument("--results", metavar="DIR", help="results directory (default: the config's results_dir)")
    args = p.parse_args(argv)
    try:
        config = load_config(args.config)
        figures = config.get("figures", {})
        names = args.figure or list(figures)
        for n in names:
            if n not in figures:
                raise ValueError(f"--figure {n!r} is not a figure of {args.config}; allowed: "
                                 f"{', '.join(figures) or '(none)'}")
        results = args.results or config["results_dir"]
        for n in names:
            f = figure_paths(config, n, results)
            for s in f["stores"]:
                _check_store(s)
            analyses = [a if Path(a).is_dir() else None for a in f["analyses"]]
            out = figure_from_store(f["stores"] if len(f["stores"]) > 1 else f["stores"][0], f["kind"], f["out"],
                                    analysis_path=analyses if len(analyses) > 1 else analyses[0], **f["opts"])
            print(f"{n}: {out}")
    except (ConfigError, ValueError, KeyError, OSError) as err:
        return _error(str(err).strip("'\""))
    return EXIT_OK


def paper_figures_main(argv: Sequence[str] | None = None) -> int:
    from .paper import PAPER_FIGURES, make_paper_figures

    p = argparse.ArgumentParser(prog="qtmsweep paper-figures",
                                description="Compute the 000/001 datasets in memory and draw their figures.")
    p.add_argument("outdir")
    p.add_argument("--only", action="append", choices=sorted(PAPER_FIGURES))
    p.add_argument("--format", default="png", choices=["png", "pdf", "svg"])
    args = p.parse_args(argv)
    for name, path in make_paper_figures(args.outdir, args.only, fmt=args.format).items():
        print(f"{name}: {path}")
    return EXIT_OK


COMMANDS = {"analyze": analyze_main, "figure": figure_main, "plot": plot_main, "paper-figures": paper_figures_main}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``analyze`` / ``figure`` / ``plot`` / ``paper-figures`` (``--help`` lists them)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        text = "usage: python -m qtmsweep.plot.cli COMMAND ...\n\ncommands:\n" + "\n".join(
            f"  {k:<14} {v}" for k, v in HELP.items())
        if argv and argv[0] in ("-h", "--help"):
            print(text)
            return EXIT_OK
        print(text + ("" if not argv else f"\n\nqtmsweep: error: unknown command {argv[0]!r}"), file=sys.stderr)
        return EXIT_USAGE
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
