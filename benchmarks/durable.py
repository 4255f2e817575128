"""Cost of ``durable: true`` (fsync of every chunk file and directory entry before the flag).

Runs the same small cqd sweep inline into fresh stores, with and without ``durable``, alternating,
and prints the ratio of the medians (absolute times depend on the disk and the machine's load).

    python benchmarks/durable.py [--cells 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from qtmsweep.sweep import RunOptions, run_sweep, validate_config

FIXED = {"eps_L": 1.0, "eps_R": 2.5, "kappa": -1.5, "T_b": 1.0, "T_r": 1.0, "mu_b": 1.0, "mu_r": 0.0,
         "gamma_a": 1.0, "gamma_b": 1.0, "gamma_r": 1.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=float, default=2e5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = max(2, int(round(args.cells ** 0.5)))
    cfg = validate_config({"sweeps": {"s": {"model": "cqd", "fixed": FIXED,
                                            "grid": {"T_a": {"linspace": [0.2, 2.0, n]},
                                                     "mu_a": {"linspace": [-1.0, 2.0, n]}},
                                            "chunks": {"T_a": max(1, n // 16)}}}})
    times: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for durable in (False, True):
                store = Path(tmp) / f"s{r}{int(durable)}.zarr"
                t0 = time.perf_counter()
                result = run_sweep(cfg, "s", store, RunOptions(cluster="inline", progress=False, durable=durable))
                times[durable].append(time.perf_counter() - t0)
    plain, durable = statistics.median(times[False]), statistics.median(times[True])
    print(f"{n * n} cells in {result.chunks_total} chunks: plain {plain:.3f} s, durable {durable:.3f} s "
          f"(median of {args.repeats}); durable / plain = {durable / plain:.2f}")


if __name__ == "__main__":
    main()
