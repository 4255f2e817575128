"""Counting-statistics throughput (issue 12): noise vs the mean-only kernel vs QuTiP per point.

For each configuration, in one process and on the same points:

* ``mean``  — ``qtmsweep.solve(model, **grid)`` (means only), cells/s;
* ``noise`` — ``qtmsweep.solve(model, cumulants=2, fluxes=...)``, cells/s (means + covariance + ratios);
* ``qutip`` — QuTiP 5 ``countstat_current_noise`` on a sample of the points (its Liouvillian from
  ``qutip.liouvillian``; current superoperators from the same jumps), points/s, and the largest
  relative difference of the diagonal noise on that sample.

Printed, all from this one run: medians over ``--rounds`` interleaved rounds (mean, noise, mean,
noise, ...) with their ranges ``[min–max]`` — this shared 2-core machine drifts by tens of percent
from one minute to the next, so read the ratios: ``noise/s`` (end to end: rates, generator or fused
kernel, cumulants, ratios and bounds, Dataset), ``noise/mean`` (time of the solve with cumulants over
the mean-only solve, per round) and ``x qutip`` (QuTiP's median time per point over ours per cell,
end to end).  QuTiP is imported and warmed on one point of each configuration before it is timed.
``--quick`` (< 2 min on the loaded 2-core machine): 1e6 cqd cells, 1e4 cells of the other
models (200 of the oscillator chain), 3 rounds, 5 QuTiP points (2 for the oscillator chain); the
default (1e6 / 2e4 cells, 5 rounds, 20 QuTiP points) takes ~4 min.  Per-call costs of the
Python-assembled generators weigh at small batches: at 2000 cells the local fridge is ~500x QuTiP,
at 2e4 ~1.4e3x.  The last lines check the goals of issue 12:
>= 1e6 cells/s end to end for cqd with two counted fluxes, >= 1000x QuTiP for the Lindblad models.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rng_grid(n, spec, seed=0):
    rng = np.random.default_rng(seed)
    return {k: (rng.uniform(*v, n) if isinstance(v, tuple) else v) for k, v in spec.items()}


_CQD = dict(eps_L=(-1.0, 2.0), eps_R=(1.0, 3.0), kappa=(-2.0, 1.0), T_a=(0.5, 2.0), T_b=(0.5, 2.0), T_r=(0.5, 2.0),
            mu_a=(-1.0, 1.0), mu_b=(-1.0, 1.0), mu_r=(-1.0, 1.0), gamma_a=(0.2, 2.0), gamma_b=(0.2, 2.0),
            gamma_r=(0.2, 2.0))  # ~1e6 random cells: every parameter drawn
CONFIGS = {
    "cqd (2 fluxes)": ("cqd", {}, ["J_E[r]", "J_N[b]"], _CQD),
    "cqd (default 3 fluxes)": ("cqd", {}, None, _CQD),
    "kerr_fridge 3x3": ("kerr_fridge", {"N1": 3, "N2": 3}, None, dict(
        eps1=1.0, eps2=1.0, delta_z=0.05, T_L=(1.0, 2.0), T_R=1.0, T_C=(0.5, 1.0), Gamma_L=0.02, Gamma_R=0.08,
        Gamma_C=0.06, Omega_L=1.0, Omega_R=1.05, Omega_C=1.05, eps_c=10.0)),
    "qubit_fridge local": ("qubit_fridge", {"approach": "local"}, None, dict(
        eps1=2.0, eps2=2.0, delta_z=0.1, delta_x=(0.0, 0.2), T_L=(1.0, 2.0), T_R=1.0, T_C=(0.5, 1.0), Gamma_L=0.02,
        Gamma_R=0.08, Gamma_C=0.06, Omega_L=2.0, Omega_R=2.1, Omega_C=2.1, eps_c=20.0)),
    "qubit_fridge global": ("qubit_fridge", {"approach": "global"}, None, dict(
        eps1=2.0, eps2=1.5, delta_z=0.1, delta_x=(0.05, 0.3), T_L=(1.0, 2.0), T_R=1.0, T_C=(0.5, 1.0),
        Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, Omega_L=2.0, Omega_R=2.1, Omega_C=1.6, eps_c=20.0)),
    "chain local N=3": ("chain", {"N": 3, "stat": "qubit", "approach": "local"}, None, dict(
        omega=1.0, g=(0.005, 0.05), T_L=(0.5, 2.0), T_R=(0.5, 2.0), gamma_L=0.01, gamma_R=0.02)),
    "chain global N=2": ("chain", {"N": 2, "stat": "qubit", "approach": "global"}, None, dict(
        omega=1.0, g=(0.05, 0.3), T_L=(0.5, 2.0), T_R=(0.5, 2.0), gamma_L=0.01, gamma_R=0.02)),
    "boson chain N=2 n6": ("chain", {"N": 2, "stat": "boson", "approach": "local", "n_max": 6}, None, dict(
        omega=1.0, g=(0.005, 0.05), T_L=(0.3, 0.8), T_R=(0.3, 0.8), gamma_L=0.01, gamma_R=0.02)),
}


def _qutip_problem(model, structural, p):
    """(H, jumps [(rate, op, lead)], energy per jump) of one point, from the test-suite builders
    (Lindblad models) or from the rate model's edges (H = 0, jumps |j><i|)."""
    from tests.physics import test_counting_qutip as q

    if model == "qubit_fridge":
        return q._fridge_problem(p, structural["approach"])
    if model == "chain" and structural.get("stat") == "boson":
        return q._boson_chain_problem(p, structural["N"], structural["n_max"])
    if model == "chain":
        return q._chain_problem(p, structural["approach"], structural["N"])
    from qtmsweep.physics.generator import generator

    g = generator(model, {**structural, **p})
    jumps, energy = [], []
    for k in range(g.jumps.shape[0]):
        j, i = map(int, np.argwhere(g.jumps[k])[0])
        P = np.zeros((g.jumps.shape[1],) * 2, dtype=complex)
        P[j, i] = 1
        jumps.append((float(g.rate[0, k]), P, g.leads[g.lead[k]]))
        energy.append((float(g.energy[0, k]), float(g.particles[k])))
    return np.zeros((g.jumps.shape[1],) * 2), jumps, energy


def _qutip_noise_point(model, structural, p, fluxes):
    import qutip

    from qtmsweep.physics.generator import parse_flux

    H, jumps, energy = _qutip_problem(model, structural, p)
    c_ops = [qutip.Qobj(np.sqrt(r) * op) for r, op, _ in jumps]
    L = qutip.liouvillian(qutip.Qobj(H), c_ops)
    I_ops, J_ops = [], []
    for f in fluxes:
        var, lead = parse_flux(f)
        nu = []
        for k, (_, _, ld) in enumerate(jumps):
            e = energy[k]
            w, npart = (e if isinstance(e, tuple) else (e, 0.0))
            nu.append(0.0 if ld != lead else {"J_E": w, "J_Q": w, "J_N": npart}[var])
        I_ops.append(sum(v * qutip.sprepost(c, c.dag()) for v, c in zip(nu, c_ops) if v != 0))
        J_ops.append(sum(v * v * qutip.sprepost(c, c.dag()) for v, c in zip(nu, c_ops) if v != 0))
    _, noise = qutip.countstat_current_noise(L, [], J_ops=J_ops, I_ops=I_ops, sparse=False)[:2]
    return np.diag(np.asarray(noise)[..., 0])


def _median_range(xs):
    xs = np.asarray(xs, dtype=float)
    return float(np.median(xs)), float(xs.min()), float(xs.max())


def _fmt(m, lo, hi, f="{:.3g}"):
    return f"{f.format(m)} [{f.format(lo)}-{f.format(hi)}]"


LINDBLAD = ("qubit_fridge local", "qubit_fridge global", "chain local N=3", "chain global N=2", "kerr_fridge 3x3",
            "boson chain N=2 n6")  # every model QuTiP solves as a Lindblad problem (kerr: its rate process)


def run(cells: int, lindblad_cells: int, qutip_points: int, rounds: int, only=None) -> dict:
    import qutip  # imported (and warmed on each configuration's first point) before any timing

    import qtmsweep
    from qtmsweep.physics.generator import default_fluxes

    del qutip
    results = {}
    print(f"{'configuration':24s} {'cells':>8s} {'mean cells/s':>26s} {'noise cells/s':>26s} {'noise/mean':>18s} "
          f"{'qutip pts/s':>11s} {'x qutip':>26s} {'max rel diff':>12s}")
    for name, (model, structural, fluxes, spec) in CONFIGS.items():
        if only and not any(o in name for o in only):
            continue
        fluxes = fluxes or default_fluxes(model)
        n = cells if model == "cqd" else lindblad_cells
        if structural.get("stat") == "boson":
            n = max(20, lindblad_cells // 50)
        p = _rng_grid(n, spec)
        small = {k: (v[:64] if np.ndim(v) else v) for k, v in p.items()}
        qtmsweep.solve(model, cumulants=2, fluxes=fluxes, **structural, **small)  # compile / warm up
        qtmsweep.solve(model, **structural, **small)
        t_mean, t_noise = [], []
        for _ in range(rounds):  # interleaved, so drift hits both alike
            t = time.perf_counter()
            qtmsweep.solve(model, **structural, **p)
            t_mean.append(time.perf_counter() - t)
            t = time.perf_counter()
            ds = qtmsweep.solve(model, cumulants=2, fluxes=fluxes, **structural, **p)
            t_noise.append(time.perf_counter() - t)
        k = min(qutip_points if structural.get("stat") != "boson" else max(1, qutip_points // 2), n)
        pts = [{kk: (float(v[i]) if np.ndim(v) else v) for kk, v in p.items()} for i in range(k)]
        _qutip_noise_point(model, structural, pts[0], fluxes)  # warm QuTiP's code paths
        t_q, ref = [], []
        for pt in pts:
            t = time.perf_counter()
            ref.append(_qutip_noise_point(model, structural, pt, fluxes))
            t_q.append(time.perf_counter() - t)
        ours = np.einsum("nff->nf", ds.S.values.reshape(n, len(fluxes), len(fluxes))[:k])
        diff = np.max(np.abs(ours - np.array(ref)) / np.abs(ours).max(axis=1, keepdims=True))
        mean_rate = _median_range([n / t for t in t_mean])
        noise_rate = _median_range([n / t for t in t_noise])
        ratio = _median_range([b / a for a, b in zip(t_mean, t_noise)])
        tq = float(np.median(t_q))
        speedup = _median_range([tq * n / t for t in t_noise])
        results[name] = dict(noise_rate=noise_rate, ratio=ratio, speedup=speedup)
        print(f"{name:24s} {n:8d} {_fmt(*mean_rate):>26s} {_fmt(*noise_rate):>26s} {_fmt(*ratio, '{:.2f}'):>18s} "
              f"{1 / tq:11.3g} {_fmt(*speedup):>26s} {diff:12.2e}", flush=True)
    if "cqd (2 fluxes)" in results:
        m, lo, hi = results["cqd (2 fluxes)"]["noise_rate"]
        print(f"goal cqd, 2 fluxes, end to end >= 1e6 cells/s: median {m:.3g} [{lo:.3g}-{hi:.3g}] -> "
              f"{'met' if m >= 1e6 else 'NOT met'}")
    lind = {k: v for k, v in results.items() if k in LINDBLAD}
    if lind:
        worst = min(lind, key=lambda k: lind[k]["speedup"][0])
        m = lind[worst]["speedup"][0]
        print(f"goal Lindblad models >= 1000x QuTiP per point: smallest median {m:.3g}x ({worst}) -> "
              f"{'met' if m >= 1000 else 'NOT met'}")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=float, default=1e6, help="cqd cells (default 1e6)")
    ap.add_argument("--lindblad-cells", type=float, default=2e4, help="cells of the other models (default 2e4)")
    ap.add_argument("--qutip-points", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved mean/noise rounds (medians, ranges)")
    ap.add_argument("--only", nargs="*", help="configurations whose name contains one of these")
    ap.add_argument("--quick", action="store_true", help="small sizes: < 2 min on the loaded 2-core machine")
    a = ap.parse_args()
    if a.quick:
        a.lindblad_cells, a.qutip_points, a.rounds = min(a.lindblad_cells, 1e4), min(a.qutip_points, 5), min(a.rounds, 3)
    run(int(a.cells), int(a.lindblad_cells), a.qutip_points, a.rounds, a.only)
