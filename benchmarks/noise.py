"""Counting-statistics throughput (issue 12): noise vs the mean-only kernel vs QuTiP per point.

For each configuration, in one process and on the same points:

* ``mean``  — ``qtmsweep.solve(model, **grid)`` (means only), cells/s;
* ``noise`` — ``qtmsweep.solve(model, cumulants=2, fluxes=...)``, cells/s (means + covariance + ratios);
* ``fcs``   — the counting part alone (generator + cumulants), cells/s;
* ``kernel``— the cumulants alone on a built generator (``flux_cumulants``: the fused rate-matrix
  kernel forming the weights itself, or the dense Drazin route for Lindblad generators), cells/s;
* ``qutip`` — QuTiP 5 ``countstat_current_noise`` on a sample of the points (its Liouvillian from
  ``qutip.liouvillian``; current superoperators from the same jumps), points/s, and the largest
  relative difference of the diagonal noise on that sample.

Printed: throughputs and the ratios measured in this one run — ``noise/mean`` (time of the solve
with cumulants over the mean-only solve), ``kern/mean`` (time of the cumulant kernel alone over the
mean-only solve) and ``x qutip`` (QuTiP's time per point over ours per cell, end to end).  Keep runs small on a
shared machine: ``python benchmarks/noise.py [--cells 2e5] [--qutip-points 20]``.
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


CONFIGS = {
    "cqd (2 fluxes)": ("cqd", {}, ["J_E[r]", "J_N[b]"], dict(
        eps_L=(-1.0, 2.0), eps_R=2.5, kappa=-1.5, T_a=(0.5, 2.0), T_b=1.0, T_r=1.0, mu_a=(-1.0, 1.0), mu_b=1.0,
        mu_r=0.0, gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)),
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


def run(cells: int, qutip_points: int) -> None:
    import qtmsweep
    from qtmsweep.physics.generator import default_fluxes
    from qtmsweep.physics.counting import flux_cumulants
    from qtmsweep.physics.generator import generator, parse_flux
    from qtmsweep.thermo.noise import counting_statistics

    print(f"{'configuration':22s} {'cells':>8s} {'mean/s':>10s} {'noise/s':>10s} {'fcs/s':>10s} "
          f"{'kernel/s':>10s} {'noise/mean':>10s} {'kern/mean':>9s} {'qutip/s':>9s} {'x qutip':>9s} {'max rel diff':>12s}")
    for name, (model, structural, fluxes, spec) in CONFIGS.items():
        fluxes = fluxes or default_fluxes(model)
        n = cells if model in ("cqd", "kerr_fridge") else max(1000, cells // 10)
        if structural.get("stat") == "boson":
            n = max(100, cells // 1000)
        p = _rng_grid(n, spec)
        small = {k: (v[:64] if np.ndim(v) else v) for k, v in p.items()}
        qtmsweep.solve(model, cumulants=2, fluxes=fluxes, **structural, **small)  # compile / warm up
        t = time.perf_counter()
        qtmsweep.solve(model, **structural, **p)
        t_mean = time.perf_counter() - t
        t = time.perf_counter()
        ds = qtmsweep.solve(model, cumulants=2, fluxes=fluxes, **structural, **p)
        t_noise = time.perf_counter() - t
        t = time.perf_counter()
        counting_statistics(model, {**structural, **p}, fluxes, 2)
        t_fcs = time.perf_counter() - t
        gen = generator(model, {**structural, **p})
        pairs = [parse_flux(f) for f in fluxes]
        t = time.perf_counter()
        flux_cumulants(gen, pairs, order=2)
        t_kernel = time.perf_counter() - t
        k = min(qutip_points, n)
        t = time.perf_counter()
        ref = [_qutip_noise_point(model, structural, {kk: (float(v[i]) if np.ndim(v) else v) for kk, v in p.items()},
                                  fluxes) for i in range(k)]
        t_q = (time.perf_counter() - t) / k
        ours = np.einsum("nff->nf", ds.S.values.reshape(n, len(fluxes), len(fluxes))[:k])
        diff = np.max(np.abs(ours - np.array(ref)) / np.abs(ours).max(axis=1, keepdims=True))
        print(f"{name:22s} {n:8d} {n / t_mean:10.3g} {n / t_noise:10.3g} {n / t_fcs:10.3g} "
              f"{n / t_kernel:10.3g} {t_noise / t_mean:10.2f} {t_kernel / t_mean:9.2f} {1 / t_q:9.3g} {t_q * n / t_noise:9.3g} {diff:12.2e}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=float, default=2e5)
    ap.add_argument("--qutip-points", type=int, default=20)
    a = ap.parse_args()
    run(int(a.cells), a.qutip_points)
