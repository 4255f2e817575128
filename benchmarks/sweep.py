"""End-to-end throughput and memory of a large ``cqd`` sweep against the kernel alone.

Three measurements, each in a fresh process so that peak memory is its own:

* ``kernel`` — ``qtmsweep.solve`` on the sweep's chunks one after another in-process
  (numba on every core), results discarded: the ceiling for the pipeline;
* ``sweep, N workers`` — ``qtmsweep.sweep.run_sweeps`` on a local Dask cluster of N worker
  processes (numba threads = cores / N) writing the zarr store, for N in ``--workers``;
* ``sweep, layouts`` — the same sweep with the ``store:`` blocks of :data:`LAYOUTS` (``--layouts``:
  float32 physics, three maps only, the derivable variables dropped), with the most workers;
* ``plain loop`` — as many plain processes computing the chunks and writing the same encoded
  bytes, with no template, bookkeeping, checks or scheduler (the issue's "plain two-process loop");
* ``store only`` (``--write``) — the store's arrays encoded and written to disk by one thread per
  core, nothing computed: what storing the result costs on this machine by itself;
* a profile of one task's parts (completion check, kernel, invariant counts, writes) in one
  process, and the sweep's time split into template, tasks and scheduling/driver.

The kernel is timed after a warm-up call (imports and the numba cache load are not
counted); likewise the sweep is the second of two sweeps run on one cluster, after a
one-chunk-per-worker ``warmup`` sweep that imports the package and loads the kernel in
every worker.  Cells/s of the sweep are over that sweep's own time (store template,
chunks, bookkeeping); ``wall`` is the whole measurement, cluster start-up and warm-up
sweep included.  Peak RSS is the largest sum over the driver and all its descendant
processes (Dask nanny + workers), sampled every 50 ms with psutil, plus the largest
single process.

This machine's timings drift by tens of percent from one minute to the next (page-cache
writes in particular: into memory freed a moment ago they run several times faster than
into memory left alone for a few seconds, as most of a long sweep's store is), so each
measurement starts ``--settle`` seconds after the previous one ended, is repeated
``--repeat`` times, interleaved, and the table shows medians, with the ratio to the kernel
of the same round.

Run: ``python benchmarks/sweep.py [--cells 4e6] [--workers 2] [--layouts f32 maps3] [--write] [--repeat 2]``
(about 2 minutes at the defaults)
(the stores go to ``benchmarks/out/``, deleted afterwards unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXED = {"eps_L": 1.0, "eps_R": 2.5, "kappa": -1.5, "T_b": 1.0, "T_r": 1.0, "mu_b": 1.0, "mu_r": 0.0,
         "gamma_a": 1.0, "gamma_b": 1.0, "gamma_r": 1.0}


#: Store layouts measured (the sweep's ``store:`` block, :mod:`qtmsweep.sweep.storelayout`).
LAYOUTS = {
    "full": None,  # SPEC §4's full set, float64 physics (the default)
    "f32": {"float32": ["all"]},  # the same variables, physics in float32
    "maps3": {"variables": ["J_E"]},  # three maps only: J_E of the three leads
    "derivable": {"variables": ["p", "J_E", "J_N", "sigma", "sigma_micro", "rel_err", "sigma_rel_err",
                                "residual_E", "residual_N", "cycle_flux"]},  # J_Q and the forces dropped
}


def config(cells: float, chunk_cells: int | None = None, layout: str = "full") -> dict:
    """The ``bench`` sweep (a square T_a x mu_a grid of ``cells``; automatic chunks unless
    ``chunk_cells``; its ``store:`` block from :data:`LAYOUTS`) and a small ``warmup`` sweep of 8 chunks."""
    n = int(math.ceil(math.sqrt(cells)))

    def sweep(n_T: int, n_mu: int) -> dict:
        return {"model": "cqd", "fixed": dict(FIXED),
                "grid": {"T_a": {"linspace": [0.2, 3.0, n_T]}, "mu_a": {"linspace": [-2.0, 3.0, n_mu]}}}

    bench, warmup = sweep(n, n), sweep(8, 1000)
    if LAYOUTS[layout]:
        bench["store"] = LAYOUTS[layout]
    if chunk_cells:
        bench["chunk_cells"] = int(chunk_cells)
    warmup["chunks"] = {"T_a": 1}
    return {"sweeps": {"bench": bench, "warmup": warmup}, "dask": {"cluster": "local"}}


class PeakRSS:
    """Sample the RSS of this process and all its descendants in a thread."""

    def __init__(self, interval: float = 0.05):
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.peak_total = self.peak_single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            self.peak_single = max(self.peak_single, rss)
        self.peak_total = max(self.peak_total, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def one(kind: str, cells: float, chunk_cells: int | None, workers: int, out: Path, layout: str = "full") -> dict:
    """One measurement (runs in its own process)."""
    import numba

    from qtmsweep.sweep import RunOptions, available_cpus, build_plan, run_sweeps, validate_config

    cfg = validate_config(config(cells, chunk_cells, layout))
    plan = build_plan(cfg, "bench")
    cpus = available_cpus()
    result = {"kind": kind, "cells": plan.n_cells, "shape": list(plan.shape), "chunks": list(plan.chunks),
              "n_chunks": plan.n_chunks, "cpus": cpus}
    with PeakRSS() as rss:
        if kind == "kernel":
            numba.set_num_threads(cpus)
            plan.compute(plan.chunk_slices(plan.chunk_index(0)))  # warm-up (numba cache load)
            c0, t0 = cpu_seconds(), time.perf_counter()
            for index in plan.iter_chunks():
                plan.compute(plan.chunk_slices(index))
            seconds = time.perf_counter() - t0
            result.update(seconds=seconds, wall=seconds, cpu_seconds=cpu_seconds() - c0)
        elif kind == "write":
            result.update(write_only(plan, out / "write-only", cpus))
        elif kind == "plain":
            result.update(plain_loop(plan, out / "plain", workers, cells, chunk_cells, layout))
        elif kind == "profile":
            result.update(profile(plan, out / "profile.zarr"))
        else:
            store = out / f"bench-{workers}w.zarr"
            warm_store = out / f"warmup-{workers}w.zarr"
            for path in (store, warm_store):
                shutil.rmtree(path, ignore_errors=True)
            t0 = time.perf_counter()
            _, r = run_sweeps(cfg, ["warmup", "bench"], stores={"warmup": warm_store, "bench": store},
                              options=RunOptions(cluster="local", n_workers=workers, progress=False,
                                                 if_exists="fresh"), cpus=cpus)
            wall = time.perf_counter() - t0
            shutil.rmtree(warm_store, ignore_errors=True)
            assert r.complete and r.cells_computed == plan.n_cells
            result.update(seconds=r.seconds, wall=wall, setup=r.setup, template_seconds=r.template_seconds,
                          task_seconds=r.task_seconds, layout=layout,
                          store_mb=sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 2**20)
    result.update(cells_per_s=plan.n_cells / result["seconds"], peak_rss_total=rss.peak_total,
                  peak_rss_single=rss.peak_single)
    return result


def write_only(plan, directory: Path, threads: int) -> dict:
    """Store the sweep's results, and nothing else: chunk 0 is computed once (not timed); then,
    for every chunk, its arrays are encoded (blosc, as the store does) and written as the
    store's files into a fresh directory, by ``threads`` threads (both release the GIL).
    The time and CPU this machine needs just to put the store on disk."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from zarr.codecs import BytesCodec

    from qtmsweep.sweep.chunkio import _encoder
    from qtmsweep.sweep.store import FLOAT32_DIAGNOSTICS, _compressors, _float32_upward

    ds = plan.compute(plan.chunk_slices(plan.chunk_index(0)))
    arrays = []
    for name, v in ds.data_vars.items():
        a = _float32_upward(v.values) if name in FLOAT32_DIAGNOSTICS else v.values
        arrays += [a] if a.ndim == len(plan.dims) else [a[..., j] for j in range(a.shape[-1])]
    # the store's codec chain, with the item size zarr gives it when it creates an array
    encoders = [_encoder((BytesCodec(), replace(_compressors()[0], typesize=a.dtype.itemsize)), a.dtype)
                for a in arrays]
    shutil.rmtree(directory, ignore_errors=True)
    sizes = []

    def store(chunk: int) -> None:
        d = directory / str(chunk)
        d.mkdir(parents=True)
        n = 0
        for k, (a, encode) in enumerate(zip(arrays, encoders)):
            data = encode(a)
            n += len(data)
            with open(d / str(k), "wb") as fh:
                fh.write(data)
        sizes.append(n)

    c0, t0 = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(store, range(plan.n_chunks)))
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    shutil.rmtree(directory, ignore_errors=True)
    return {"seconds": seconds, "wall": seconds, "cpu_seconds": cpu, "store_mb": sum(sizes) / 2**20}


def _store_arrays(plan, ds) -> list:
    """The arrays of one chunk as the store holds them (its layout applied, diagnostics in float32
    rounded upward), one per zarr chunk (split along ``lead``/``state``)."""
    from qtmsweep.sweep.store import FLOAT32_DIAGNOSTICS, _float32_upward

    ds = plan.store.apply(ds)
    arrays = []
    for name, v in ds.data_vars.items():
        a = _float32_upward(v.values) if name in FLOAT32_DIAGNOSTICS else v.values
        arrays += [a] if a.ndim == len(plan.dims) else [np.ascontiguousarray(a[..., j]) for j in range(a.shape[-1])]
    return arrays


_ENCODERS: dict = {}


def _encode_write(arrays: list, directory: Path) -> int:
    """Encode every array with the store's codecs (blosc lz4, byte shuffle) and write it to a file."""
    from dataclasses import replace

    from zarr.codecs import BytesCodec

    from qtmsweep.sweep.chunkio import _encoder
    from qtmsweep.sweep.store import _compressors

    directory.mkdir(parents=True, exist_ok=True)
    n = 0
    for k, a in enumerate(arrays):
        encode = _ENCODERS.get(a.dtype)
        if encode is None:
            encode = _ENCODERS[a.dtype] = _encoder((BytesCodec(), replace(_compressors()[0], typesize=a.dtype.itemsize)),
                                                   a.dtype)
        data = encode(a)
        n += len(data)
        with open(directory / str(k), "wb") as fh:
            fh.write(data)
    return n


def _plain_worker(rank, workers, cells, chunk_cells, layout, directory, barrier, queue, threads):
    """One process of the plain loop: warm up, wait for the others, then compute and store every
    ``workers``-th chunk (no template, no bookkeeping, no checks, no scheduler)."""
    import numba

    from qtmsweep.sweep import build_plan, validate_config

    numba.set_num_threads(threads)
    plan = build_plan(validate_config(config(cells, chunk_cells, layout)), "bench", probe=False)
    plan.compute(plan.chunk_slices(plan.chunk_index(0)))  # warm-up (imports, numba cache load)
    barrier.wait()
    t0, c0 = time.time(), cpu_seconds()
    n = 0
    for flat in range(rank, plan.n_chunks, workers):
        ds = plan.compute(plan.chunk_slices(plan.chunk_index(flat)))
        n += _encode_write(_store_arrays(plan, ds), directory / str(flat))
    queue.put((t0, time.time(), n, cpu_seconds() - c0))


def plain_loop(plan, directory: Path, workers: int, cells, chunk_cells, layout) -> dict:
    """``workers`` plain processes computing and storing the chunks between them: what the sweep
    would cost with nothing of its own (the issue's "plain two-process loop doing the same work")."""
    import multiprocessing as mp

    from qtmsweep.sweep import available_cpus

    shutil.rmtree(directory, ignore_errors=True)
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    threads = max(1, available_cpus() // workers)
    procs = [ctx.Process(target=_plain_worker, args=(r, workers, cells, chunk_cells, layout, directory, barrier,
                                                     queue, threads)) for r in range(workers)]
    from qtmsweep.sweep.execute import WORKER_MALLOC

    saved = {k: os.environ.get(k) for k in WORKER_MALLOC}
    os.environ.update({k: str(v) for k, v in WORKER_MALLOC.items()})  # the sweep's workers' malloc settings
    try:
        for p in procs:
            p.start()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    got = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    shutil.rmtree(directory, ignore_errors=True)
    seconds = max(g[1] for g in got) - min(g[0] for g in got)
    return {"seconds": seconds, "wall": seconds, "store_mb": sum(g[2] for g in got) / 2**20,
            "cpu_seconds": sum(g[3] for g in got), "workers": workers}


def profile(plan, path: Path, n_chunks: int = 6) -> dict:
    """Where a sweep task's time goes, in this process with one kernel thread (as a worker of a
    2-worker cluster on 2 cores): the template, then per chunk the completion check, the kernel,
    the invariant counts, the store layout, the data and bookkeeping writes — against the plain
    loop's encode + write of the same arrays."""
    import numba

    from qtmsweep.sweep.chunkwrite import chunk_done, invariant_counts, write_chunk
    from qtmsweep.sweep.template import prepare_store

    numba.set_num_threads(1)
    probe = plan.probe()
    plan.compute(plan.chunk_slices(plan.chunk_index(0)))  # warm-up
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    prepare_store(path, plan, probe, if_exists="fresh")
    template = time.perf_counter() - t0
    # warm-up of the checks and the writer (numba compilation or cache load, store metadata read once)
    write_chunk(str(path), plan, plan.chunk_index(0), plan.compute(plan.chunk_slices(plan.chunk_index(0))), 1)
    parts = {k: 0.0 for k in ("done check", "kernel", "invariant counts", "write_chunk (all)", "plain encode+write")}
    cells = 0
    plain_dir = path.parent / "profile-plain"
    for flat in range(1, 1 + min(n_chunks, plan.n_chunks - 1)):
        index = plan.chunk_index(flat)
        cells += plan.chunk_cells(index)
        for key, fn in (("done check", lambda: chunk_done(str(path), plan, index)),
                        ("kernel", lambda: plan.compute(plan.chunk_slices(index)))):
            t = time.perf_counter()
            value = fn()
            parts[key] += time.perf_counter() - t
        ds = value
        t = time.perf_counter()
        invariant_counts(ds, plan.dims)
        parts["invariant counts"] += time.perf_counter() - t
        t = time.perf_counter()
        _encode_write(_store_arrays(plan, ds), plain_dir / str(flat))
        parts["plain encode+write"] += time.perf_counter() - t
        t = time.perf_counter()
        write_chunk(str(path), plan, index, ds, 1)
        parts["write_chunk (all)"] += time.perf_counter() - t
    shutil.rmtree(plain_dir, ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)
    return {"seconds": sum(parts.values()) + template, "wall": 0.0, "template_seconds": template,
            "profile_cells": cells, "parts": parts}


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _label(r: dict) -> str:
    if r["kind"] == "kernel":
        return "kernel (solve, in-process)"
    if r["kind"] == "write":
        return "store only (encode + write)"
    if r["kind"] == "plain":
        return f"plain {r['workers']}-process loop"
    return f"sweep {r['setup']['n_workers']}w, {r['layout']}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=float, default=4e6, help="grid cells (a square T_a x mu_a grid) [4e6]")
    ap.add_argument("--workers", type=int, nargs="+", default=[2], help="local Dask workers to try [2]")
    ap.add_argument("--layouts", nargs="*", default=["f32", "maps3"], choices=sorted(LAYOUTS),
                    help="store layouts measured besides the full one, with the most workers [f32 maps3]")
    ap.add_argument("--write", action="store_true", help="also measure storing alone (encode + write)")
    ap.add_argument("--chunk-cells", type=int, default=0, help="cells per chunk [0: automatic]")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of measurements, interleaved [2]")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait before each measurement [2]: page-cache writes into memory freed "
                         "a moment ago run several times faster here than into memory left alone a while")
    ap.add_argument("--out", type=Path, default=HERE / "out", help="where the stores go [benchmarks/out]")
    ap.add_argument("--keep", action="store_true", help="keep the stores of the last round")
    ap.add_argument("--_one", nargs=3, metavar=("KIND", "WORKERS", "LAYOUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args._one:
        print(json.dumps(one(args._one[0], args.cells, args.chunk_cells, int(args._one[1]), args.out, args._one[2])))
        return
    t_start = time.perf_counter()
    most = max(args.workers)
    runs = ([("kernel", 0, "full")] + [("sweep", w, "full") for w in args.workers]
            + [("sweep", most, layout) for layout in args.layouts if layout != "full"]
            + [("plain", most, "full")] + ([("write", 0, "full")] if args.write else []))

    def measure(kind: str, w: int, layout: str) -> dict:
        time.sleep(args.settle)  # let the memory freed by the previous measurement settle
        cmd = [sys.executable, __file__, "--cells", str(args.cells), "--chunk-cells", str(args.chunk_cells),
               "--out", str(args.out), "--_one", kind, str(w), layout]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if proc.returncode != 0:
            sys.exit(f"{kind} {w} {layout}: failed\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    rounds: list[list[dict]] = []
    for i in range(args.repeat):
        results = []
        for kind, w, layout in runs:
            r = measure(kind, w, layout)
            r["ratio"] = r["cells_per_s"] / (results[0]["cells_per_s"] if results else r["cells_per_s"])
            results.append(r)
            if kind == "sweep" and not (args.keep and i == args.repeat - 1):
                shutil.rmtree(args.out / f"bench-{w}w.zarr", ignore_errors=True)
        rounds.append(results)
        print(f"round {i + 1}: " + ", ".join(f"{_label(r)} {r['cells_per_s']:.3g} cells/s ({r['ratio']:.0%})"
                                             for r in results), file=sys.stderr)
    prof = measure("profile", 1, "full")

    def med(j: int, key: str) -> float:
        return statistics.median(rnd[j][key] for rnd in rounds)

    k = rounds[0][0]
    gib = 2**30
    print(f"cqd sweep, {k['cells']:.3g} cells ({k['shape'][0]} x {k['shape'][1]}), {k['n_chunks']} chunks of "
          f"{k['chunks'][0]} x {k['chunks'][1]}, {k['cpus']} CPUs; medians of {len(rounds)} interleaved rounds "
          "(ratios: to the kernel of the same round)")
    print(f"{'run':<30} {'cells/s':>10} {'vs kernel':>10} {'(min-max)':>11} {'time s':>8} {'wall s':>8} "
          f"{'peak RSS (sum)':>15} {'largest proc':>13} {'store MiB':>10}")
    for j, r in enumerate(rounds[0]):
        ratios = [rnd[j]["ratio"] for rnd in rounds]
        print(f"{_label(r):<30} {med(j, 'cells_per_s'):>10.3g} {med(j, 'ratio'):>9.0%} "
              f"{f'{min(ratios):.0%}-{max(ratios):.0%}':>11} {med(j, 'seconds'):>8.2f} {med(j, 'wall'):>8.2f} "
              f"{max(rnd[j]['peak_rss_total'] for rnd in rounds) / gib:>11.2f} GiB "
              f"{max(rnd[j]['peak_rss_single'] for rnd in rounds) / gib:>9.2f} GiB {r.get('store_mb', float('nan')):>10.0f}")
    kinds = [(r["kind"], r.get("layout"), r.get("setup", {}).get("n_workers")) for r in rounds[0]]
    full = kinds.index(("sweep", "full", most))
    plain = [i for i, kd in enumerate(kinds) if kd[0] == "plain"][0]
    for j, (kind, layout, _) in enumerate(kinds):
        if kind == "sweep" and layout != "full":
            rel = [rnd[j]["cells_per_s"] / rnd[full]["cells_per_s"] for rnd in rounds]
            print(f"layout {layout!r} / full layout, same workers: {statistics.median(rel):.2f}x "
                  f"({min(rel):.2f}-{max(rel):.2f})")
    # the sweep against the plain loop doing the same work, and where the difference goes
    rel = [rnd[full]["cells_per_s"] / rnd[plain]["cells_per_s"] for rnd in rounds]
    print(f"\nsweep ({most}w, full) / plain {most}-process loop: {statistics.median(rel):.2f}x "
          f"({min(rel):.2f}-{max(rel):.2f})")
    n = k["cells"]
    sweep_s, plain_s = med(full, "seconds"), med(plain, "seconds")
    template_s, task_s = med(full, "template_seconds"), med(full, "task_seconds") / most
    print(f"per cell, wall time on the {most} workers: sweep {sweep_s / n * 1e9:.0f} ns = template "
          f"{template_s / n * 1e9:.0f} + tasks {task_s / n * 1e9:.0f} + scheduling/driver "
          f"{(sweep_s - template_s - task_s) / n * 1e9:.0f}; plain loop {plain_s / n * 1e9:.0f} ns")
    pc, parts = prof["profile_cells"], prof["parts"]
    extra = parts["write_chunk (all)"] - parts["invariant counts"] - parts["plain encode+write"]
    print(f"one chunk task, 1 kernel thread, {pc} cells (ns/cell): " + ", ".join(
        f"{key} {v / pc * 1e9:.0f}" for key, v in parts.items())
        + f"; write_chunk beyond counts + plain writes (bookkeeping, crc, renames) {extra / pc * 1e9:.0f}; "
          f"template {prof['template_seconds']:.2f} s")
    kinds_ = [r["kind"] for r in rounds[0]]
    if "write" in kinds_:
        j = kinds_.index("write")
        compute_cpu, write_cpu = med(0, "cpu_seconds") / n, med(j, "cpu_seconds") / n
        ceiling = k["cpus"] / (compute_cpu + write_cpu)
        print(f"CPU per cell: computing {compute_cpu * 1e9:.0f} ns, storing {write_cpu * 1e9:.0f} ns; "
              f"ceiling with {k['cpus']} cores busy on nothing else: {ceiling:.3g} cells/s "
              f"({ceiling / med(0, 'cells_per_s'):.0%} of the kernel)")
    print(f"(benchmark wall time {time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
