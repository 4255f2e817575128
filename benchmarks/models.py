"""Throughput of the bosonic/coherent models (issue 4) on realistic grids, against QuTiP per point.

For every model configuration:

* qtmsweep — ``qtmsweep.solve`` on a grid shaped like a paper figure sweep (all outputs:
  currents, σ, forces, extras), cells per second: the median of ``--repeats`` timed solves
  (after an untimed warm-up solve) with their range;
* QuTiP 5 — ``qutip.steadystate`` of the explicit Lindblad problem on a sample of the same
  points (the builders of the test suite: H and jump operators written from SPEC/003/004,
  currents ``Tr[H D_λ(ρ)]``), points per second: QuTiP and the builders are imported and one
  point is solved before the clock starts (an import inside the timing overstated our lead
  ~2×), then each point is timed and the median reported, with its range; and the largest
  difference of the currents between the two relative to the sample's largest current (cells
  at equilibrium carry currents at round-off, so a per-cell relative difference would be
  meaningless there);
* with ``--baseline SRC`` (e.g. ``/work/main/src``): the same cases with the ``qtmsweep``
  found in ``SRC``, in the same run, in processes alternating with ours (``--rounds``), and
  the ratios ``ours / baseline`` of the median and of the best throughputs (< 1: we are slower;
  on a busy machine the best of the repeats is the steadier of the two);
* ``--clock cpu`` times the process's CPU time instead of the wall clock (on a shared machine
  the steadier measure of cost; with ``OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1`` a single core's);
* peak RSS of a fresh process running only that configuration (``ru_maxrss``), and of a
  process that only imports the package (the baseline).

Run: ``python benchmarks/models.py [--cells 1e5] [--qutip-points 30] [--repeats 5]
[--baseline /path/to/other/src --rounds 2] [--clock cpu] [--only "kerr_fridge 3x3" ...]``
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


def _use_src(src: str | None) -> None:
    """Import ``qtmsweep`` from ``src`` (a ``src/`` directory) in this (spawned) process."""
    if src:
        sys.path.insert(0, str(Path(src).resolve()))
    import qtmsweep

    if src and not Path(qtmsweep.__file__).resolve().is_relative_to(Path(src).resolve()):
        raise RuntimeError(f"qtmsweep came from {qtmsweep.__file__}, not from {src}")


def median_range(values) -> tuple[float, float, float]:
    """``(median, min, max)`` of ``values``."""
    v = np.sort(np.asarray(values, dtype=float))
    return float(np.median(v)), float(v[0]), float(v[-1])


def run_case(name: str, n_cells: int, n_qutip: int, repeats: int, src: str | None, queue, clock: str = "wall") -> None:
    _use_src(src)
    tick = time.process_time if clock == "cpu" else time.perf_counter
    import qtmsweep

    model, structural, method, build, factor, ref = CASES[name]
    params = build(max(8, int(n_cells * factor)))
    n = int(np.size(next(v for v in params.values() if np.ndim(v))))
    qtmsweep.solve(model, method=method, **structural, **{k: (v[:4] if np.ndim(v) else v) for k, v in params.items()})
    rates = []
    for _ in range(repeats):
        t0 = tick()
        ds = qtmsweep.solve(model, method=method, **structural, **params)
        rates.append(n / (tick() - t0))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q_rate, agree = (float("nan"),) * 3, float("nan")
    if n_qutip:
        idx = np.random.default_rng(1).choice(n, size=min(n_qutip, n), replace=False)
        points = [{k: float(v[i]) if np.ndim(v) else float(v) for k, v in params.items()} for i in idx]
        if ref == "chain_boson":  # truncated Fock needs low occupations: take cold points only
            points = [{**pt, "T_L": min(pt["T_L"], 0.35), "T_R": min(pt["T_R"], 0.3)} for pt in points]
        qutip_reference(ref, points[0], structural)  # imports QuTiP and the builders: outside the timing
        refs, rates_q = [], []
        for pt in points:
            t0 = tick()
            refs.append(qutip_reference(ref, pt, structural))
            rates_q.append(1.0 / (tick() - t0))
        q_rate = median_range(rates_q)
        ours = qtmsweep.solve(model, method=method, **structural,
                              **{k: np.array([pt[k] for pt in points]) for k in points[0]}).J_Q.values
        refs = np.array(refs)  # difference relative to the sample's current scale (equilibrium cells have J ~ 1e-17)
        agree = float(np.max(np.abs(ours - refs)) / np.max(np.abs(refs)))
    queue.put((name, n, median_range(rates), q_rate, agree, rss, bool(np.isfinite(ds.J_Q.values).all())))


def baseline(queue) -> None:
    import qtmsweep  # noqa: F401

    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _run(ctx, q, name: str, args, src: str | None, n_qutip: int):
    p = ctx.Process(target=run_case, args=(name, int(args.cells), n_qutip, args.repeats, src, q, args.clock))
    p.start()
    out = q.get()
    p.join()
    return out


def _fmt(r: tuple[float, float, float]) -> str:
    return f"{r[0]:.3g} [{r[1]:.3g}, {r[2]:.3g}]"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=float, default=1e5)
    ap.add_argument("--qutip-points", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5, help="timed solves per process (median and range reported)")
    ap.add_argument("--baseline", default=None, help="a src/ directory with another qtmsweep to compare with")
    ap.add_argument("--rounds", type=int, default=2, help="with --baseline: alternating processes per side")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or the process's CPU time (steadier on a shared machine; with "
                         "OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 it is the single-core cost)")
    ap.add_argument("--only", nargs="*", default=None, help="case names to run")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=baseline, args=(q,))
    p.start()
    base = q.get()
    p.join()
    print(f"baseline RSS (import qtmsweep): {base:.0f} MiB")
    print(f"throughputs ({args.clock} clock): median [min, max] over the timed repeats")
    head = (f"{'case':<32} {'cells':>7} {'qtmsweep cells/s':>28} {'QuTiP pts/s':>26} {'speed-up':>9} "
            f"{'max rel diff':>12} {'RSS MiB':>8}")
    if args.baseline:
        head += f" {'baseline cells/s':>28} {'ours/baseline median, best':>27}"
    print(head)
    for name in CASES:
        if args.only and name not in args.only:
            continue
        ours, theirs = [], []
        for k in range(args.rounds if args.baseline else 1):
            if args.baseline:
                theirs.append(_run(ctx, q, name, args, args.baseline, 0))
            ours.append(_run(ctx, q, name, args, None, args.qutip_points if k == 0 else 0))
        _, n, _, q_rate, agree, _, _ = ours[0]
        rate = median_range([x for o in ours for x in o[2]])
        finite = all(o[6] for o in ours)
        line = (f"{name:<32} {n:>7d} {_fmt(rate):>28} {_fmt(q_rate):>26} {rate[0] / q_rate[0]:>9.0f} "
                f"{agree:>12.1e} {max(o[5] for o in ours):>8.0f}")
        if args.baseline:
            b = median_range([x for t in theirs for x in t[2]])
            line += f" {_fmt(b):>28} {rate[0] / b[0]:>18.2f}, {rate[2] / b[2]:.2f}"
        print(line + ("" if finite else "  (non-finite cells!)"), flush=True)


if __name__ == "__main__":
    main()
