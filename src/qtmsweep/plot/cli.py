"""Command-line entry points for the analysis and figure steps (to be hooked into ``qtmsweep``'s CLI).

``qtmsweep analyze STORE [--out PATH] [--reduced-model I|II]``
    :func:`qtmsweep.analysis.analyze_store`.
``qtmsweep figure STORE KIND OUT [--analysis PATH] [--opt KEY=VALUE ...]``
    :func:`qtmsweep.plot.figure_from_store`; ``VALUE`` is read as JSON when it parses
    (``--opt flux_names='["J_N_b","J_E_b"]'``, ``--opt sel='{"mu_r": 3.0}'``), else as a string.
``qtmsweep paper-figures OUTDIR [--only NAME ...] [--format png|pdf|svg]``
    :func:`qtmsweep.plot.paper.make_paper_figures` (computes the datasets in memory).

Each ``*_main(argv)`` returns a process exit code.

Examples
--------
>>> parse_options(["panel_dim=kappa", 'sel={"mu_r": 3.0}'])
{'panel_dim': 'kappa', 'sel': {'mu_r': 3.0}}
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence


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


def analyze_main(argv: Sequence[str] | None = None) -> int:
    from ..analysis import analyze_store

    p = argparse.ArgumentParser(prog="qtmsweep analyze", description="add ICC / operating-mode variables to a store")
    p.add_argument("store")
    p.add_argument("--out", default=None, help="write the analysis to this separate store instead")
    p.add_argument("--reduced-model", default=None, choices=["I", "II"])
    args = p.parse_args(argv)
    path = analyze_store(args.store, args.out, reduced_model=args.reduced_model)
    print(path)
    return 0


def figure_main(argv: Sequence[str] | None = None) -> int:
    from . import FIGURE_KINDS, figure_from_store

    p = argparse.ArgumentParser(prog="qtmsweep figure", description="draw a figure from a sweep store")
    p.add_argument("store")
    p.add_argument("kind", choices=sorted(FIGURE_KINDS))
    p.add_argument("out")
    p.add_argument("--analysis", default=None, help="separate analysis store written by `qtmsweep analyze --out`")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    print(figure_from_store(args.store, args.kind, args.out, analysis_path=args.analysis, **parse_options(args.opt)))
    return 0


def paper_figures_main(argv: Sequence[str] | None = None) -> int:
    from .paper import PAPER_FIGURES, make_paper_figures

    p = argparse.ArgumentParser(prog="qtmsweep paper-figures", description="compute and draw the papers' figures")
    p.add_argument("outdir")
    p.add_argument("--only", action="append", choices=sorted(PAPER_FIGURES))
    p.add_argument("--format", default="png", choices=["png", "pdf", "svg"])
    args = p.parse_args(argv)
    for name, path in make_paper_figures(args.outdir, args.only, fmt=args.format).items():
        print(f"{name}: {path}")
    return 0


COMMANDS = {"analyze": analyze_main, "figure": figure_main, "paper-figures": paper_figures_main}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``analyze`` / ``figure`` / ``paper-figures``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
