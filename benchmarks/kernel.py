"""Throughput and peak memory of the ``cqd`` kernel against a plain-numpy baseline.

Both compute *all observables* (populations, J_E/J_N/J_Q per lead, forces, σ
and the Schnakenberg σ_micro) for the same random cells, in this process:

* baseline — rates with numpy, the 4x4 rate matrices stacked, one batched
  ``np.linalg.solve``, then edge currents and σ with numpy;
* qtmsweep — ``qtmsweep.solve("cqd", ...)`` (fused numba cycle-flux kernel,
  plus the xarray packaging), and the bare kernel ``closed_form`` without it.

Peak memory per phase is measured with ``tracemalloc`` (numpy registers its
buffers with it), and printed as a ratio to the baseline; the process's
overall peak RSS is printed last.

Run: ``python benchmarks/kernel.py [--cells 1e6 1e7] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

import qtmsweep
from qtmsweep.physics.models.cqd import closed_form

NAMES = ("eps_L", "eps_R", "kappa", "T_a", "T_b", "T_r", "mu_a", "mu_b", "mu_r", "gamma_a", "gamma_b", "gamma_r")


def random_cells(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "eps_L": rng.uniform(-2, 2, n), "eps_R": rng.uniform(-2, 3, n), "kappa": rng.uniform(-2, 2, n),
        "T_a": rng.uniform(0.2, 3, n), "T_b": rng.uniform(0.2, 3, n), "T_r": rng.uniform(0.2, 3, n),
        "mu_a": rng.uniform(-1, 1, n), "mu_b": rng.uniform(-1, 1, n), "mu_r": rng.uniform(-1, 1, n),
        "gamma_a": rng.uniform(0.1, 2, n), "gamma_b": rng.uniform(0.1, 2, n), "gamma_r": rng.uniform(0.1, 2, n),
    }


def baseline(prm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Plain numpy: rates -> stacked W -> batched np.linalg.solve -> currents, forces, σ, σ_micro."""
    n = prm["eps_L"].size
    E = np.stack([np.zeros(n), prm["eps_L"], prm["eps_R"], prm["eps_L"] + prm["eps_R"] + prm["kappa"]], axis=1)
    # (source, target, lead)
    edges = [(0, 1, "a"), (0, 1, "b"), (2, 3, "a"), (2, 3, "b"), (0, 2, "r"), (1, 3, "r")]
    W = np.zeros((n, 4, 4))
    rates = []
    for i, j, lead in edges:
        w = E[:, j] - E[:, i]
        x = (w - prm[f"mu_{lead}"]) / prm[f"T_{lead}"]
        f = 1.0 / (1.0 + np.exp(np.clip(x, -700, 700)))
        kin, kout = prm[f"gamma_{lead}"] * f, prm[f"gamma_{lead}"] * (1 - f)
        W[:, j, i] += kin
        W[:, i, j] += kout
        rates.append((i, j, lead, w, kin, kout, x))
    W[:, range(4), range(4)] -= W.sum(axis=1)
    W[:, 3, :] = 1.0
    b = np.zeros((n, 4, 1))
    b[:, 3, 0] = 1.0
    p = np.linalg.solve(W, b)[..., 0]
    lp = np.log(np.maximum(p, 1e-300))
    JE = {k: np.zeros(n) for k in "abr"}
    JN = {k: np.zeros(n) for k in "abr"}
    sm = np.zeros(n)
    for i, j, lead, w, kin, kout, x in rates:
        flux = kin * p[:, i] - kout * p[:, j]
        JE[lead] += w * flux
        JN[lead] += flux
        sm += flux * (-x + lp[:, i] - lp[:, j])
    JQ = {k: JE[k] - prm[f"mu_{k}"] * JN[k] for k in "abr"}
    F_E_r = 1 / prm["T_a"] - 1 / prm["T_r"]
    F_E_b = 1 / prm["T_a"] - 1 / prm["T_b"]
    F_N_b = prm["mu_b"] / prm["T_b"] - prm["mu_a"] / prm["T_a"]
    sigma = JE["r"] * F_E_r + JE["b"] * F_E_b + JN["b"] * F_N_b
    return {"p": p, "J_E": np.stack([JE[k] for k in "abr"], 1), "J_N": np.stack([JN[k] for k in "abr"], 1),
            "J_Q": np.stack([JQ[k] for k in "abr"], 1), "sigma": sigma, "sigma_micro": sm}


def measure(fn, *args, repeat: int = 3):
    fn(*args)  # warm-up (JIT compile, page faults)
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
        del out
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=float, nargs="+", default=[1e6, 1e7])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import numba

    print(f"numba threads: {numba.get_num_threads()}, numpy {np.__version__}")
    print(f"{'cells':>10} {'method':<22} {'cells/s':>12} {'x baseline':>10} {'peak MiB':>9} {'mem x base':>10} {'max|dJ|':>9}")
    for n in map(int, args.cells):
        prm = random_cells(n)
        t_base, m_base, ref = measure(baseline, prm, repeat=args.repeat)
        t_kern, m_kern, ss = measure(closed_form, prm, repeat=args.repeat)
        t_solve, m_solve, ds = measure(lambda q: qtmsweep.solve("cqd", **q), prm, repeat=args.repeat)
        err = float(np.max(np.abs(ss.J_E - ref["J_E"])))
        for label, t, m in (("numpy batched solve", t_base, m_base), ("cqd kernel", t_kern, m_kern),
                            ("qtmsweep.solve (xr)", t_solve, m_solve)):
            print(f"{n:>10.0e} {label:<22} {n / t:>12.3e} {t_base / t:>10.1f} {m / 2**20:>9.0f} {m / m_base:>10.2f} "
                  f"{err if label != 'numpy batched solve' else 0:>9.1e}")
        del prm, ref, ss, ds
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
