"""``qtmsweep`` command line: run sweeps, evaluate one cell, inspect a store.

Commands
--------
``qtmsweep run CONFIG [--sweep NAME ...] [--out DIR]``
    Run the sweeps of a YAML config into ``DIR/<sweep>/<sweep>.zarr`` (resumes an
    interrupted store of the same config).
``qtmsweep point MODEL key=value ...``
    Solve one cell and print its results (unlisted parameters take the model's defaults,
    which are printed).
``qtmsweep info STORE``
    Dimensions, variables, completion, invariant counts and provenance of a store.
``qtmsweep verify STORE [--repair]``
    Read back every chunk the store says is computed; list the unreadable ones (a missing,
    truncated or garbage file) and, with ``--repair``, mark them for the next run to recompute.
``qtmsweep invalidate STORE CHUNK ...``
    Mark chunks (grid indices such as ``5,0``) for recomputation by the next run.
``qtmsweep validate CONFIG``
    Check a config (schema and model parameters) without computing anything.
``qtmsweep models [MODEL | CONFIG] [--json]``
    List the models, where each came from (built-in, plug-in, config, define_model) and every
    parameter: kind, allowed range, choices, default, aliases; with a CONFIG file also the models
    it declares.
``qtmsweep analyze|figure|plot|paper-figures ...``
    Analysis and figure steps, dispatched to :mod:`qtmsweep.plot.cli` (``plot CONFIG`` draws a
    config's figures from its stores without Snakemake).

Exit status: 0 on success, 2 for bad input (config, arguments, store conflicts; nothing
was computed), 1 when a run failed part-way (rerun to resume) or ``verify`` found bad
chunks it did not repair, 130 on interrupt.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="qtmsweep", description="Thermodynamic maps of quantum thermal machines.",
                                epilog="Each command has its own --help (e.g. `qtmsweep figure --help`).")
    p.add_argument("--version", action="version", version=f"qtmsweep {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run the sweeps of a config into zarr stores",
                       description="Run sweeps of a YAML config; each goes to OUT/<sweep>/<sweep>.zarr. "
                                   "An existing store of the same sweep config is resumed (only missing chunks "
                                   "are computed).")
    r.add_argument("config", help="YAML configuration file")
    r.add_argument("--sweep", action="append", metavar="NAME", help="sweep to run (repeatable; default: all)")
    r.add_argument("--out", metavar="DIR", help="results directory (default: the config's results_dir)")
    r.add_argument("--store", metavar="PATH", help="explicit store path (with exactly one --sweep)")
    r.add_argument("--cluster", choices=("auto", "local", "address", "slurm", "inline"),
                   help="where chunks run (default: the config's dask.cluster)")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="connect to a running Dask scheduler (implies --cluster address)")
    r.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: CPUs available)")
    r.add_argument("--threads-per-worker", type=int, metavar="N")
    r.add_argument("--numba-threads", type=int, metavar="N", help="kernel threads per chunk")
    r.add_argument("--max-in-flight", type=int, metavar="N", help="chunks submitted at once")
    r.add_argument("--slurm-jobs", type=int, metavar="N", help="SLURM jobs of a SLURMCluster")
    r.add_argument("--slurm-queue", metavar="PARTITION", help="SLURM partition of a SLURMCluster")
    r.add_argument("--max-chunks", type=int, metavar="K", help="compute at most K chunks, then stop (resumable)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true",
                   help="replace a store made from a different config (same config: resume)")
    g.add_argument("--fresh", action="store_true", help="discard an existing store and start over")
    r.add_argument("--no-disk-check", action="store_true",
                   help="run even if the projected store is larger than the free disk")
    r.add_argument("--durable", action="store_true", default=None,
                   help="fsync each chunk's files before its completion flag (survives a power loss)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--summary-json", metavar="PATH", help="write the run summary (and store info) as JSON")

    pt = sub.add_parser("point", help="solve one cell and print its results")
    pt.add_argument("model", help="model name (see `qtmsweep models`)")
    pt.add_argument("params", nargs="*", metavar="key=value")
    pt.add_argument("--method", default="auto", choices=("auto", "closed_form", "linear"))
    pt.add_argument("--json", action="store_true", help="print JSON")

    i = sub.add_parser("info", help="summarise a sweep store")
    i.add_argument("store")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.add_argument("--config", action="store_true", help="also print the stored config")

    vf = sub.add_parser("verify", help="read back every computed chunk of a store; find the bad ones",
                        description="Read back every chunk a store flags as computed: each of its files must "
                                    "exist and decode. Bad chunks are listed (exit status 1); --repair marks "
                                    "them incomplete so the next `qtmsweep run` of the sweep recomputes them.")
    vf.add_argument("store")
    vf.add_argument("--repair", action="store_true", help="mark the bad chunks incomplete (takes the store's lock)")
    vf.add_argument("--max-chunks", type=int, metavar="K", help="check only the first K flagged chunks")
    vf.add_argument("--json", action="store_true", help="print JSON")

    iv = sub.add_parser("invalidate", help="mark chunks of a store for recomputation",
                        description="Remove the completion flags of the given chunks (e.g. after a kernel fix "
                                    "or a disk error); the next `qtmsweep run` of the sweep recomputes them. "
                                    "`qtmsweep verify` lists chunks by these indices.")
    iv.add_argument("store")
    iv.add_argument("chunks", nargs="+", metavar="CHUNK", help="chunk-grid index, comma-separated (e.g. 5,0)")

    v = sub.add_parser("validate", help="check a config without computing")
    v.add_argument("config")

    m = sub.add_parser("models", help="list models (with where each came from) and every parameter "
                       "(kind, range, choices, default, aliases)")
    m.add_argument("model", nargs="?", metavar="MODEL|CONFIG",
                   help="one model (default: all), or a config file: also the models it declares")
    m.add_argument("--json", action="store_true", help="print JSON")

    for name in PLOT_COMMANDS:  # parsed by qtmsweep.plot.cli; listed here for --help
        sub.add_parser(name, help=PLOT_HELP[name], add_help=False)

    ex = sub.add_parser("export", help="write a store (with its analysis) to NetCDF, CSV or Parquet",
                        description="The format follows OUT's suffix: .nc, .csv (attrs in OUT.attrs.json) or .parquet.")
    ex.add_argument("store")
    ex.add_argument("out", help="output file: .nc, .csv or .parquet")
    ex.add_argument("--decode-flags", action="store_true", help="flag variables (mode) as their names")
    return p


#: Sub-commands provided by :mod:`qtmsweep.plot.cli` (analysis and figures), dispatched as they are.
PLOT_COMMANDS = ("analyze", "figure", "plot", "paper-figures")
#: Their one-line help, here rather than in :mod:`qtmsweep.plot.cli`: building this parser must not
#: import matplotlib (0.25 s on every ``run`` a Snakemake job starts).
PLOT_HELP = {
    "analyze": "add classification / mode / COP / cooling / contrast variables to a store",
    "figure": "draw one figure from sweep stores",
    "plot": "draw a config's figures from its stores (no Snakemake)",
    "paper-figures": "compute and draw the 000/001 paper figures in memory",
}


def _write_refined_summary(path: str, results) -> None:
    """``--summary-json`` of refined sweeps: what each run did (nodes per level, share of the dense grid)."""
    import dataclasses

    doc = {"refined": [{**dataclasses.asdict(r), "nodes_evaluated": r.nodes_evaluated, "ratio": r.ratio}
                       for r in results]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qtmsweep`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PLOT_COMMANDS:
        from .plot import cli as plot_cli

        return int(plot_cli.main(argv))
    args = _parser().parse_args(argv)
    try:
        return {"run": _run, "point": _point, "info": _info, "verify": _verify, "invalidate": _invalidate,
                "validate": _validate, "models": _models, "export": _export}[args.command](args)
    except KeyboardInterrupt:
        print("qtmsweep: interrupted (finished chunks are recorded; rerun to resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # pragma: no cover - e.g. `qtmsweep info X | head`
        return EXIT_OK


def _error(message: str, code: int = EXIT_USAGE) -> int:
    print(f"qtmsweep: error: {message}", file=sys.stderr)
    return code


# -- run -----------------------------------------------------------------------------------------
def _run(args: argparse.Namespace) -> int:
    from .sweep import ConfigError, RunOptions, StoreError, load_config, run_sweeps

    try:
        config = load_config(args.config)
        names = args.sweep or list(config["sweeps"])
        for n in names:
            if n not in config["sweeps"]:
                raise ConfigError(f"sweeps.{n}: no such sweep in {args.config}; allowed: {', '.join(config['sweeps'])}")
        if args.store and len(names) != 1:
            raise ValueError("--store needs exactly one --sweep")
        cluster = args.cluster or ("address" if args.scheduler else None)
        overrides: dict[str, Any] = {
            "cluster": cluster, "address": args.scheduler, "n_workers": args.workers,
            "threads_per_worker": args.threads_per_worker, "numba_threads": args.numba_threads,
            "max_in_flight": args.max_in_flight, "max_chunks": args.max_chunks,
            "if_exists": "fresh" if args.fresh else "overwrite" if args.overwrite else "resume",
            "progress": not args.no_progress, "durable": args.durable,
            "check_disk": False if args.no_disk_check else None,
        }
        options = RunOptions.from_config(config, **overrides)
        if args.slurm_jobs is not None or args.slurm_queue is not None:
            slurm = dict(options.slurm)
            if args.slurm_jobs is not None:
                slurm["jobs"] = args.slurm_jobs
            if args.slurm_queue is not None:
                slurm["queue"] = args.slurm_queue
            options.slurm = slurm
        options.validate()  # also: cluster 'slurm' needs the slurm extra and sbatch
        if args.summary_json:
            from .sweep.store import check_output_path

            sp = Path(args.summary_json)
            if sp.exists() and sp.is_dir():
                raise ValueError(f"--summary-json {args.summary_json!r} is a directory")
            check_output_path(sp.parent / "_")
    except (ConfigError, StoreError, ValueError) as err:
        return _error(str(err))

    stores = {names[0]: args.store} if args.store else None
    refined = [n for n in names if config["sweeps"][n].get("refine") is not None]
    if refined:  # adaptive refinement (qtmsweep.sweep.refine): one store of nested levels per sweep
        from .sweep.execute import default_store
        from .sweep.refine import run_refine

        refined_results = []
        try:
            for n in refined:
                r = run_refine(config, n, (stores or {}).get(n) or default_store(config, n, args.out), options)
                state = "complete" if r.complete else f"{r.levels_complete + 1}/{r.levels + 1} levels done"
                print(f"{r.sweep}: {r.status} {r.store}; {r.nodes_computed} nodes in {r.tasks_computed} tasks "
                      f"in {r.seconds:.2f} s; {r.nodes_evaluated} of {r.nodes_dense} dense nodes evaluated "
                      f"({100 * r.ratio:.2f}%); {state}")
                refined_results.append(r)
        except (ConfigError, StoreError) as err:
            return _error(str(err))
        except RuntimeError as err:
            return _error(str(err), EXIT_FAILED)
        names = [n for n in names if n not in refined]
        if not names:
            if args.summary_json:
                _write_refined_summary(args.summary_json, refined_results)
            return EXIT_OK
    try:
        results = run_sweeps(config, names, out=args.out, stores=stores, options=options)
    except (ConfigError, StoreError, ValueError) as err:
        return _error(str(err))
    except RuntimeError as err:
        return _error(str(err), EXIT_FAILED)
    for r in results:
        state = "complete" if r.complete else f"{r.chunks_done}/{r.chunks_total} chunks done"
        inv = ", ".join(f"{k}={v}" for k, v in r.invariants.items())
        print(f"{r.sweep}: {r.status} {r.store}; computed {r.chunks_computed} chunks ({r.cells_computed} cells) "
              f"in {r.seconds:.2f} s ({r.cells_per_second:.3g} cells/s); {state}; invariants: {inv}")
        _warn_invariants(r)
    if args.summary_json:
        from .sweep import store_info

        doc = {"results": [r.to_dict() for r in results],
               "stores": {r.sweep: _jsonable(store_info(r.store)) for r in results}}
        Path(args.summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_json).write_text(json.dumps(doc, indent=2) + "\n")
    return EXIT_OK


def _warn_invariants(result) -> None:
    """One line on stderr for a sweep whose cells fail an invariant check (or lose precision)."""
    from .thermo.invariants import CHECK_DOC, VIOLATIONS

    bad = {k: n for k, n in result.invariants.items() if n}
    if not bad:
        return
    violated = [f"{bad[k]} {CHECK_DOC[k]}" for k in VIOLATIONS if k in bad]
    flagged = [f"{n} {CHECK_DOC.get(k, k)}" for k, n in bad.items() if k not in VIOLATIONS]
    what = (f"VIOLATES physics invariants in {'; '.join(violated)}" if violated else "")
    if flagged:
        what += ("; also " if what else "has ") + "; ".join(flagged)
    print(f"warning: sweep {result.sweep} {what} (see `qtmsweep info {result.store}`)", file=sys.stderr)


# -- point ---------------------------------------------------------------------------------------
def _parse_value(model, key: str, text: str) -> Any:
    if key not in model.parameter_names:  # an alias (filters=resonant, T=1, dT=0.3): a number if it reads as one
        try:
            return float(text)
        except ValueError:
            return text
    kind = model.parameter(key).kind
    if kind == "choice":
        return text
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{key}={text!r} is not allowed; allowed: an integer") from None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not allowed; allowed: a number") from None


def _point(args: argparse.Namespace) -> int:
    import numpy as np

    from .physics.registry import get_model
    from .solve import solve

    try:
        model = get_model(args.model)
        given: dict[str, Any] = {}
        for item in args.params:
            if "=" not in item:
                raise ValueError(f"{item!r} is not key=value")
            key, text = item.split("=", 1)
            key = key.strip()
            if key in given:
                raise ValueError(f"{key} is given twice")
            given[key] = _parse_value(model, key, text.strip())
        names = set(model.normalize(dict(given)) if model.normalize is not None else given)
        defaulted = {k: v for k, v in model.defaults().items() if k not in names}
        ds = solve(model, method=args.method, **{**defaulted, **given})
    except ValueError as err:
        return _error(str(err))

    doc: dict[str, Any] = {"model": model.name, "method": ds.attrs.get("method"),
                           "parameters": {k: ds.attrs[k] for k in model.parameter_names if k in ds.attrs},
                           "defaults_used": sorted(defaulted), "results": {}}
    for name, v in ds.data_vars.items():
        extra = [d for d in v.dims]
        if extra:
            (d,) = extra
            value: Any = {str(label): float(x) for label, x in zip(ds[d].values, np.asarray(v.values).ravel())}
        else:
            value = float(v.values)
        doc["results"][name] = {"value": value, "units": v.attrs.get("units"), "long_name": v.attrs.get("long_name")}
    from .thermo.invariants import FINITE_OUTPUTS

    nonfinite = [n for n in FINITE_OUTPUTS if n in ds and not np.isfinite(np.asarray(ds[n].values)).all()]
    status = EXIT_OK
    if nonfinite:  # the numbers printed cannot be trusted: say so and fail
        print(f"qtmsweep: warning: {', '.join(nonfinite)} not finite at these parameters (the kernel lost "
              "precision: extreme temperatures or rates?); the values below are not results", file=sys.stderr)
        status = EXIT_FAILED
    if args.json:
        print(json.dumps(_jsonable(doc), indent=2))
        return status
    print(f"{doc['model']} (method: {doc['method']})")
    print("parameters: " + " ".join(f"{k}={_fmt(v)}" for k, v in doc["parameters"].items()))
    if defaulted:
        print("defaults used for: " + ", ".join(sorted(defaulted)))
    width = max(len(k) for k in doc["results"])
    for name, r in doc["results"].items():
        value = r["value"]
        text = "  ".join(f"{k}={_fmt(x)}" for k, x in value.items()) if isinstance(value, dict) else _fmt(value)
        print(f"  {name:<{width}}  {text}  [{r['units']}]")
    return status


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.10g}" if math.isfinite(x) else str(x)
    return str(x)


# -- info ----------------------------------------------------------------------------------------
def _info(args: argparse.Namespace) -> int:
    from .sweep import StoreError, store_info

    try:
        info = store_info(args.store)
    except (StoreError, OSError, ValueError) as err:
        return _error(str(err))
    if args.json:
        if not args.config:
            info.pop("config", None)
        print(json.dumps(_jsonable(info), indent=2))
        return EXIT_OK
    out = [f"store:  {info['store']}", f"sweep:  {info.get('sweep')}   model: {info.get('model')}"]
    out.append("dims:   " + ", ".join(f"{d}={n}" for d, n in info["dims"].items()))
    for name, c in info["coords"].items():
        if c and isinstance(c[0], float) and name in info["dims"]:
            out.append(f"        {name}: {c[0]:.6g} .. {c[1]:.6g} ({info['dims'][name]} points)")
        elif c:
            out.append(f"        {name}: {', '.join(map(str, c))}")
    out.append("variables:")
    for name, v in info["variables"].items():
        out.append(f"        {name:<12} ({', '.join(v['dims'])})  [{v['units']}]  {v['long_name'] or ''}")
    comp = info.get("completion", {})
    if "chunks_done" in comp:
        pct = 100.0 * comp["cells_done"] / comp["cells_total"] if comp["cells_total"] else 100.0
        out.append(f"completion: {comp['chunks_done']}/{comp['chunks_total']} chunks, "
                   f"{comp['cells_done']}/{comp['cells_total']} cells ({pct:.1f}%)"
                   + (" - complete" if comp["complete"] else " - incomplete (rerun `qtmsweep run` to resume)"))
        out.append("chunks: " + ", ".join(f"{d}={c}" for d, c in comp["chunks"].items()))
        out.append("invariants (over computed cells):")
        for k, n in info.get("invariants", {}).items():
            out.append(f"        {k:<24} {n:>10}   {info['invariants_doc'][k]}")
    else:
        out.append(f"completion: {comp.get('state')}")
    out.append("provenance:")
    for k, v in info["provenance"].items():
        if k == "dask_setup":
            v = json.dumps(v)
        out.append(f"        {k:<16} {v}")
    for r in info["runs"]:
        out.append(f"        run {r['run']}: {r['started']} -> {r.get('finished')} on {r.get('host')}, "
                   f"{r.get('chunks_computed')} chunks, {r['dask'].get('cluster')}")
    if info["fixed"]:
        out.append("attrs:  " + " ".join(f"{k}={_fmt(v)}" for k, v in info["fixed"].items()))
    if args.config and info.get("config"):
        out.append("config:")
        out.extend("        " + line for line in info["config"].splitlines())
    print("\n".join(out))
    return EXIT_OK


# -- verify / invalidate ---------------------------------------------------------------------------
def _verify(args: argparse.Namespace) -> int:
    from .sweep import StoreError
    from .sweep.verify import repair_store, verify_store

    if args.max_chunks is not None and args.max_chunks < 1:
        return _error(f"--max-chunks {args.max_chunks}: allowed: a positive number of chunks")
    try:
        report = verify_store(args.store, max_chunks=args.max_chunks)
        repaired = bool(args.repair and (report.bad or report.lost_bookkeeping))
        if repaired:
            n_bad = len(report.bad)
            repair_store(args.store, report)
    except (StoreError, OSError, ValueError) as err:
        return _error(str(err))
    if args.json:
        doc = {"store": report.store, "kind": report.kind, "chunk_dims": list(report.chunk_dims),
               "chunks_flagged": report.chunks_flagged,
               "chunks_total": report.chunks_total, "chunks_checked": report.chunks_checked,
               "files_read": report.files_read, "repaired": repaired,
               "bad": [{"chunk": list(k), "cells": {d: list(r) for d, r in report.cells(k).items()}, "problems": v}
                       for k, v in report.bad.items()],
               "store_problems": report.store_problems, "analysis_problems": report.analysis_problems,
               "notes": report.notes}
        print(json.dumps(doc, indent=2))
    else:
        if report.kind == "analysis":
            out = [f"store:   {report.store} (analysis store)", f"checked: every chunk, {report.files_read} files read"]
        else:
            out = [f"store:   {report.store}",
                   f"checked: {report.chunks_checked} of {report.chunks_flagged} chunks flagged done "
                   f"({report.chunks_total} in the grid), {report.files_read} files read",
                   f"bad:     {len(report.bad)} chunk{'s' if len(report.bad) != 1 else ''}"]
        for index, problems in report.bad.items():
            cells = " ".join(f"{d}[{a}:{b}]" for d, (a, b) in report.cells(index).items())
            out.append(f"  chunk {','.join(map(str, index))} ({cells}):")
            out.extend(f"      {p}" for p in problems)
        if report.store_problems:
            out.append("store files:")
            out.extend(f"      {p}" for p in report.store_problems)
        if report.analysis_problems:
            out.append("analysis variables (run `qtmsweep analyze` on the sweep store again to rewrite them):")
            out.extend(f"      {p}" for p in report.analysis_problems)
        out.extend(f"note: {n}" for n in report.notes)
        if repaired:
            out.append(f"marked {n_bad} chunk(s) incomplete"
                       + (f", re-created {', '.join(report.lost_bookkeeping)}" if report.lost_bookkeeping else "")
                       + f": run the sweep again (`qtmsweep run CONFIG --store {args.store}`) to recompute them")
        elif report.bad or report.lost_bookkeeping:
            out.append("rerun with --repair to mark them incomplete, then run the sweep again to recompute them")
        print("\n".join(out))
    if report.ok:
        return EXIT_OK
    return EXIT_OK if repaired and report.repairable else EXIT_FAILED


def _export(args: argparse.Namespace) -> int:
    from .sweep import StoreError
    from .sweep.export import export_store

    try:
        out = export_store(args.store, args.out, decode_flags=args.decode_flags)
    except (StoreError, OSError, ValueError) as err:
        return _error(str(err))
    print(f"{args.store} -> {out}")
    return EXIT_OK


def _invalidate(args: argparse.Namespace) -> int:
    from .sweep import StoreError
    from .sweep.store import mark_incomplete

    chunks = []
    for text in args.chunks:
        try:
            chunks.append(tuple(int(p) for p in text.split(",")))
        except ValueError:
            return _error(f"chunk {text!r}: allowed: chunk-grid indices separated by commas, such as 5,0")
    try:
        n = mark_incomplete(args.store, chunks)
    except (StoreError, OSError) as err:
        return _error(str(err))
    print(f"{args.store}: {n} of {len(chunks)} chunk(s) marked incomplete"
          + (f" ({len(chunks) - n} were not flagged done)" if n < len(chunks) else "")
          + "; run the sweep again to recompute them")
    return EXIT_OK


# -- validate / models -----------------------------------------------------------------------------
def _validate(args: argparse.Namespace) -> int:
    from .sweep import ConfigError, build_plan, load_config

    try:
        config = load_config(args.config)
        for name in config["sweeps"]:
            plan = build_plan(config, name, probe=False)
            from .sweep.grid import checked_probe
            from .sweep.sizes import format_bytes, projected_store_bytes

            size = projected_store_bytes(plan, checked_probe(plan))
            print(f"{name}: model {plan.model}, dims " + ", ".join(f"{d}={n}" for d, n in zip(plan.dims, plan.shape))
                  + f" ({plan.n_cells} cells), {plan.n_chunks} chunks of "
                  + "x".join(str(c) for c in plan.chunks) + f", store up to {format_bytes(size)} (uncompressed)"
                  + f", config_sha256 {plan.config_sha256[:12]}")
    except (ConfigError, ValueError) as err:
        return _error(str(err))
    print(f"{args.config}: OK")
    return EXIT_OK


#: Alternative parametrisations each model's ``normalize`` accepts (configs, ``solve`` and ``point``).
PARAMETER_ALIASES: dict[str, dict[str, str]] = {
    "cqd": {"kappa_c, kappa_s": "kappa = kappa_c - kappa_s (both >= 0), instead of kappa"},
    "qubit_fridge": {"T, dT": "T_L = T + dT, T_R = T, T_C = T - dT (003's symmetric bias), instead of T_L, T_R, T_C",
                     "filters=resonant": "Omega_L = eps1, Omega_R = eps1 + delta_z, Omega_C = eps2 + delta_z"},
    "kerr_fridge": {"T, dT": "T_L = T + dT, T_R = T, T_C = T - dT (003's symmetric bias), instead of T_L, T_R, T_C",
                    "filters=resonant": "Omega_L = eps1, Omega_R = eps1 + delta_z, Omega_C = eps2 + delta_z"},
    "chain": {"T, dT": "T_L = T + dT/2, T_R = T - dT/2 (a pair about T), instead of T_L, T_R"},
}


def model_document(m) -> dict[str, Any]:
    """Every parameter of model ``m``: kind, units, allowed range, choices, default, description; and aliases."""
    params = []
    for p in m.parameters:
        params.append({"name": p.name, "kind": p.kind, "units": p.units, "allowed": p.allowed(),
                       "minimum": p.minimum if p.minimum is not None else (0.0 if p.kind in ("rate", "coupling")
                                                                           else None),
                       "exclusive_minimum": p.kind == "temperature",
                       "choices": list(p.choices), "default": p.default, "structural": p.structural,
                       "description": p.description})
    return {"model": m.name, "description": m.description, "parameters": params,
            "aliases": PARAMETER_ALIASES.get(m.name, {})}


def _models(args: argparse.Namespace) -> int:
    from .physics.registry import PLUGIN_ERRORS, available_models, get_model, model_origin

    if args.model is not None and (args.model.endswith((".yaml", ".yml")) or os.path.isfile(args.model)):
        from .sweep import ConfigError, load_config

        try:  # register the models this config declares
            load_config(args.model, check=False)
        except (ConfigError, ValueError) as err:
            return _error(str(err))
        args.model = None
    names = available_models()
    if args.model is not None:
        if args.model not in names:
            return _error(f"model {args.model!r} is not known; allowed: {', '.join(names)}")
        names = [args.model]
    docs = [model_document(get_model(n)) for n in names]
    for doc, n in zip(docs, names):
        doc["origin"] = model_origin(n)
    for ep, err in PLUGIN_ERRORS.items():
        print(f"plug-in {ep} failed to load: {err}", file=sys.stderr)
    if args.json:
        print(json.dumps(_jsonable(docs if args.model is None else docs[0]), indent=2))
        return EXIT_OK
    for doc in docs:
        print(f"{doc['model']}: {doc['description']}  [{doc['origin']}]")
        for p in doc["parameters"]:
            allowed = "one of " + " | ".join(p["choices"]) if p["choices"] else p["allowed"]
            print(f"    {p['name']:<10} {p['kind']:<12} {allowed:<24} default {p['default']!r:<9} {p['description']}")
        for k, v in doc["aliases"].items():
            print(f"    alias {k}: {v}")
    return EXIT_OK


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
