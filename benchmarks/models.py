"""Throughput of the bosonic/coherent models (issue 4) on realistic grids, against QuTiP per point.

For every model configuration:

* qtmsweep — ``qtmsweep.solve`` on a grid shaped like a paper figure sweep (all outputs:
  currents, σ, forces, extras), cells per second;
* QuTiP 5 — ``qutip.steadystate`` of the explicit Lindblad problem on a sample of the same
  points (the builders of the test suite: H and jump operators written from SPEC/003/004,
  currents ``Tr[H D_λ(ρ)]``), points per second, and the largest difference of the currents
  between the two relative to the sample's largest current (cells at equilibrium carry
  currents at round-off, so a per-cell relative difference would be meaningless there);
* peak RSS of a fresh process running only that configuration (``ru_maxrss``), and of a
  process that only imports the package (the baseline).

Run: ``python benchmarks/models.py [--cells 1e5] [--qutip-points 30]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def grid(n_cells: int, axes: dict[str, tuple[float, float]], seed: int = 0) -> dict[str, np.ndarray]:
    """A regular grid over ``axes`` with about ``n_cells`` points (flattened)."""
    k = len(axes)
    per = max(2, int(round(n_cells ** (1.0 / k))))
    mesh = np.meshgrid(*(np.linspace(a, b, per) for a, b in axes.values()), indexing="ij")
    return {name: m.reshape(-1) for name, m in zip(axes, mesh)}


def fridge_params(n_cells: int) -> dict:
    """003 Fig. 5 style: delta_z x delta_x x Delta T (eps1 = 2, eps2 = 2.1, filters on resonance)."""
    g = grid(n_cells, {"delta_z": (0.01, 1.0), "delta_x": (0.0, 0.05), "dT": (0.02, 0.5)})
    dz, dT = g["delta_z"], g.pop("dT")
    return dict(eps1=2.0, eps2=2.1, delta_z=dz, delta_x=g["delta_x"], T_L=1 + dT, T_R=1.0, T_C=1 - dT,
                Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, Omega_L=2.0, Omega_R=2.0 + dz, Omega_C=2.1 + dz, eps_c=10.0)


def kerr_params(n_cells: int) -> dict:
    """003 Figs. 7–8 style: delta_z x Delta T."""
    g = grid(n_cells, {"delta_z": (0.01, 1.0), "dT": (0.02, 0.9)})
    dz, dT = g["delta_z"], g["dT"]
    return dict(eps1=1.0, eps2=1.0, delta_z=dz, T_L=1 + dT, T_R=1.0, T_C=1 - dT, Gamma_L=0.02, Gamma_R=0.08,
                Gamma_C=0.06, Omega_L=1.0, Omega_R=1.0 + dz, Omega_C=1.0 + dz, eps_c=20.0)


def chain_params(n_cells: int, global_: bool = False) -> dict:
    """004 Figs. 2/4/5 style: T_L x T_R x gamma_L (g = 0.8 for the global approach)."""
    g = grid(n_cells, {"T_L": (0.05, 5.0), "T_R": (0.05, 5.0), "gamma_L": (0.001, 0.02)})
    return dict(omega=1.0, g=0.8 if global_ else 0.01, T_L=g["T_L"], T_R=g["T_R"], gamma_L=g["gamma_L"], gamma_R=0.02)


CASES = {
    # name: (model, structural kwargs, method, params builder, cell factor, qutip reference)
    "qubit_fridge local": ("qubit_fridge", {"approach": "local"}, "auto", fridge_params, 1.0, "fridge_local"),
    "qubit_fridge global": ("qubit_fridge", {"approach": "global"}, "auto", fridge_params, 1.0, "fridge_global"),
    "qubit_fridge global pauli": ("qubit_fridge", {"approach": "global"}, "pauli", fridge_params, 1.0, "fridge_global"),
    "kerr_fridge 3x3": ("kerr_fridge", {"N1": 3, "N2": 3}, "auto", kerr_params, 1.0, "kerr"),
    "kerr_fridge 6x6": ("kerr_fridge", {"N1": 6, "N2": 6}, "auto", kerr_params, 0.3, "kerr"),
    "chain qubit local N=2": ("chain", {"N": 2, "stat": "qubit", "approach": "local"}, "auto", chain_params, 1.0, "chain_local"),
    "chain qubit local N=2 lindblad": ("chain", {"N": 2, "stat": "qubit", "approach": "local"}, "lindblad", chain_params, 1.0, "chain_local"),
    "chain qubit global N=2": ("chain", {"N": 2, "stat": "qubit", "approach": "global"}, "auto",
                               lambda n: chain_params(n, True), 1.0, "chain_global"),
    "chain boson local N=2": ("chain", {"N": 2, "stat": "boson", "approach": "local"}, "auto", chain_params, 1.0, "chain_boson"),
    "chain qubit local N=5": ("chain", {"N": 5, "stat": "qubit", "approach": "local"}, "auto", chain_params, 0.3, "chain_local"),
    "chain qubit local N=5 lindblad": ("chain", {"N": 5, "stat": "qubit", "approach": "local"}, "lindblad",
                                       chain_params, 0.005, "chain_local"),
}


def qutip_reference(kind: str, p: dict, structural: dict):
    """Currents (J_Q per lead) of one point from the test suite's explicit QuTiP builders."""
    sys.path.insert(0, str(ROOT))
    if kind == "fridge_local":
        from tests.physics.test_qubit_fridge import qutip_local

        return qutip_local(p)[1]
    if kind == "fridge_global":
        from tests.physics.test_qubit_fridge import qutip_global

        return qutip_global(p)[1]
    if kind == "kerr":
        from tests.physics.test_kerr_fridge import qutip_kerr

        return qutip_kerr(p, structural["N1"], structural["N2"])[1]
    if kind == "chain_local":
        from tests.physics.test_chain import qutip_local as chain_local

        return chain_local(p, structural["N"], "qubit")[0]
    if kind == "chain_boson":
        from tests.physics.test_chain import qutip_local as chain_local

        return chain_local(p, structural["N"], "boson", cutoff=8)[0]
    if kind == "chain_global":
        from tests.physics.test_chain import qutip_global

        return qutip_global(p, "qubit")[0]
    raise KeyError(kind)


def run_case(name: str, n_cells: int, n_qutip: int, queue) -> None:
    import qtmsweep

    model, structural, method, build, factor, ref = CASES[name]
    params = build(max(8, int(n_cells * factor)))
    n = int(np.size(next(v for v in params.values() if np.ndim(v))))
    qtmsweep.solve(model, method=method, **structural, **{k: (v[:4] if np.ndim(v) else v) for k, v in params.items()})
    t0 = time.perf_counter()
    ds = qtmsweep.solve(model, method=method, **structural, **params)
    rate = n / (time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q_rate, agree = float("nan"), float("nan")
    if n_qutip:
        idx = np.random.default_rng(1).choice(n, size=min(n_qutip, n), replace=False)
        points = [{k: float(v[i]) if np.ndim(v) else float(v) for k, v in params.items()} for i in idx]
        if ref == "chain_boson":  # truncated Fock needs low occupations: take cold points only
            points = [{**pt, "T_L": min(pt["T_L"], 0.35), "T_R": min(pt["T_R"], 0.3)} for pt in points]
        t0 = time.perf_counter()
        refs = [qutip_reference(ref, pt, structural) for pt in points]
        q_rate = len(points) / (time.perf_counter() - t0)
        ours = qtmsweep.solve(model, method=method, **structural,
                              **{k: np.array([pt[k] for pt in points]) for k in points[0]}).J_Q.values
        refs = np.array(refs)  # difference relative to the sample's current scale (equilibrium cells have J ~ 1e-17)
        agree = float(np.max(np.abs(ours - refs)) / np.max(np.abs(refs)))
    queue.put((name, n, rate, q_rate, agree, rss, bool(np.isfinite(ds.J_Q.values).all())))


def baseline(queue) -> None:
    import qtmsweep  # noqa: F401

    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=float, default=1e5)
    ap.add_argument("--qutip-points", type=int, default=30)
    ap.add_argument("--only", nargs="*", default=None, help="case names to run")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=baseline, args=(q,))
    p.start()
    base = q.get()
    p.join()
    print(f"baseline RSS (import qtmsweep): {base:.0f} MiB")
    print(f"{'case':<32} {'cells':>8} {'qtmsweep cells/s':>17} {'QuTiP pts/s':>12} {'speed-up':>9} "
          f"{'max rel diff':>13} {'peak RSS MiB':>13}")
    for name in CASES:
        if args.only and name not in args.only:
            continue
        p = ctx.Process(target=run_case, args=(name, int(args.cells), args.qutip_points, q))
        p.start()
        name, n, rate, q_rate, agree, rss, finite = q.get()
        p.join()
        print(f"{name:<32} {n:>8d} {rate:>17.3g} {q_rate:>12.3g} {rate / q_rate:>9.0f} {agree:>13.1e} {rss:>13.0f}"
              + ("" if finite else "  (non-finite cells!)"))


if __name__ == "__main__":
    main()
