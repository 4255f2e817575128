"""A 10^8-cell ``cqd`` sweep end to end on this machine: time, throughput, peak memory, store size.

The same square ``T_a x mu_a`` grid as ``benchmarks/sweep.py`` (automatic chunks),
run by ``qtmsweep.sweep.run_sweep`` on a local Dask cluster of ``--workers`` worker
processes into ``benchmarks/out/scale.zarr``.  Peak RSS is the largest sum over this
process and all its descendants (sampled every 50 ms), as in ``benchmarks/sweep.py``.
After the run the store is reopened with ``xr.open_zarr`` and checked: complete, every
cell finite, the invariant counters of the attrs, and the store size on disk; then
``verify_store`` (``qtmsweep verify``) reads every chunk file back (time, GB/s, peak RSS).

Run: ``python benchmarks/scale.py [--cells 1e8] [--workers 2] [--keep]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sweep import PeakRSS, config  # noqa: E402  (benchmarks/sweep.py)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=float, default=1e8, help="grid cells [1e8]")
    ap.add_argument("--workers", type=int, default=None, help="local Dask workers [one per CPU]")
    ap.add_argument("--out", type=Path, default=HERE / "out", help="where the store goes [benchmarks/out]")
    ap.add_argument("--keep", action="store_true", help="keep the store")
    args = ap.parse_args()

    import numpy as np
    import xarray as xr

    from qtmsweep.sweep import RunOptions, available_cpus, build_plan, run_sweep, validate_config, verify_store

    cfg = validate_config(config(args.cells))
    plan = build_plan(cfg, "bench")
    store = args.out / "scale.zarr"
    shutil.rmtree(store, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"cqd sweep of {plan.n_cells:.3g} cells ({plan.shape[0]} x {plan.shape[1]}), {plan.n_chunks} chunks of "
          f"{plan.chunks[0]} x {plan.chunks[1]}, {available_cpus()} CPUs", flush=True)
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        r = run_sweep(cfg, "bench", store, RunOptions(cluster="local", n_workers=args.workers, progress=True,
                                                    if_exists="fresh"))
        wall = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    files = sum(1 for f in store.rglob("*") if f.is_file())
    t1 = time.perf_counter()
    with xr.open_zarr(str(store)) as ds:
        finite = all(bool(np.isfinite(ds[v]).all()) for v in ("p", "J_E", "J_N", "J_Q", "sigma"))
        attrs = dict(ds.attrs)
    check_s = time.perf_counter() - t1
    with PeakRSS() as verify_rss:  # `qtmsweep verify`: every flagged chunk's files read back
        t2 = time.perf_counter()
        report = verify_store(store)
        verify_s = time.perf_counter() - t2
    summary = {
        "cells": plan.n_cells, "chunks": plan.n_chunks, "workers": r.setup.get("n_workers"),
        "complete": r.complete, "sweep_seconds": round(r.seconds, 2), "wall_seconds": round(wall, 2),
        "cells_per_second": float(f"{r.cells_per_second:.3g}"),
        "peak_rss_total_GiB": round(rss.peak_total / 2**30, 3), "peak_rss_largest_process_GiB":
            round(rss.peak_single / 2**30, 3),
        "store_GiB": round(size / 2**30, 2), "store_files": files, "bytes_per_cell": round(size / plan.n_cells, 1),
        "reload_and_check_seconds": round(check_s, 1), "all_finite": finite,
        "verify_seconds": round(verify_s, 1), "verify_GB_per_second": round(size / verify_s / 1e9, 2),
        "verify_peak_rss_GiB": round(verify_rss.peak_total / 2**30, 3), "verify_bad_chunks": len(report.bad),
        "invariants": {k: attrs[f"invariant_{k}"] for k in r.invariants},
    }
    print(json.dumps(summary, indent=1))
    if not args.keep:
        shutil.rmtree(store, ignore_errors=True)
    if not (r.complete and finite and report.ok):
        sys.exit("the sweep did not complete with finite values, or its store did not verify")


if __name__ == "__main__":
    main()
