"""Benchmark: one 003 Fig. 10 curve set from ``kerr_negf`` (150 ΔT points × Gamma_L ∈ {0.01, 0.02}).

Goal (issue 13): under 30 s on 2 cores, batched over the points.  Prints the wall time of the
NEGF solve (both grids h and h/2, Hartree loops, FFT bubbles) and, as a baseline measured in the
same process, the master-equation inset (``kerr_fridge``, N1 = N2 = 8) on the same cells, and
their ratio (absolute times on a shared machine are not meaningful; the ratio is steadier).

    python benchmarks/negf.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import qtmsweep
from qtmsweep.physics.registry import get_model


def cells():
    dT = np.linspace(0.01, 1.5, 150)
    G = np.array([0.01, 0.02])
    dT2, G2 = np.meshgrid(dT, G)
    return dT2.ravel(), G2.ravel()


def run_negf(width: str = "paper"):
    dT, G = cells()
    p = {**get_model("kerr_negf").defaults(), "T_L": 1.0 + dT, "T_R": 1.0, "T_C": 1.0, "Gamma_L": G, "width": width}
    return qtmsweep.solve("kerr_negf", **p)


def run_me():
    dT, G = cells()
    return qtmsweep.solve("kerr_fridge", N1=8, N2=8, eps1=2.0, eps2=2.0, delta_z=0.2, T_L=1.0 + dT, T_R=1.0,
                          T_C=1.0, Gamma_L=G, Gamma_R=0.02, Gamma_C=0.02, Omega_L=2.0, Omega_R=2.2, Omega_C=2.2,
                          eps_c=7.0)


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    run_negf(), run_me()  # warm-up (imports, FFT plans)
    t_me = best(run_me, a.repeat)
    for width in ("paper", "keldysh"):
        t = best(lambda: run_negf(width), a.repeat)
        print(f"kerr_negf width={width}: 300 cells (150 dT x 2 Gamma_L) in {t:.2f} s "
              f"({300 / t:.0f} cells/s; goal < 30 s); {t / t_me:.1f}x the master-equation inset")
    print(f"kerr_fridge N1 = N2 = 8 (baseline, same cells): {t_me:.2f} s")


if __name__ == "__main__":
    main()
