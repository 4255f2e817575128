"""``cqd`` throughput against peers on the same random points, with their agreement with us.

* qtmsweep — the fused cycle-flux kernel through ``qtmsweep.solve`` (all observables);
* per-point numpy/scipy — the 4x4 rate matrix of each point solved with ``scipy.linalg.solve``,
  currents from the edge fluxes (how a hand-written script does it);
* QuTiP 5 — ``qutip.steadystate`` of the explicit Lindblad problem (H and jump operators built
  from SPEC §2 with ``qutip.fdestroy``), currents ``Tr[H D_λ(ρ)]`` (optional extra: skipped when
  QuTiP is not installed);
* QmeQ — its Pauli approach (``qmeq.Builder(..., kerntype="Pauli")``, two spinless levels with
  the Coulomb term ``kappa``, leads a, b on dot L and r on dot R, ``Γ = 2π|t|²``), one builder
  reused through ``Builder.change`` (optional: skipped, and said so, when QmeQ is not importable;
  run it with ``OMP_NUM_THREADS=1``).

Only what is measured in this run is printed: no figure from elsewhere.

Run: ``python benchmarks/peers.py [--points 300] [--cells 1e6]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

import qtmsweep

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel import random_cells  # noqa: E402

EDGES = [(0, 1, "a"), (0, 1, "b"), (2, 3, "a"), (2, 3, "b"), (0, 2, "r"), (1, 3, "r")]


def fermi(x):
    return 1.0 / (1.0 + np.exp(x))


def scipy_point(p: dict[str, float]) -> np.ndarray:
    E = [0.0, p["eps_L"], p["eps_R"], p["eps_L"] + p["eps_R"] + p["kappa"]]
    W = np.zeros((4, 4))
    rates = []
    for i, j, lead in EDGES:
        w = E[j] - E[i]
        f = fermi((w - p[f"mu_{lead}"]) / p[f"T_{lead}"])
        kin, kout = p[f"gamma_{lead}"] * f, p[f"gamma_{lead}"] * (1 - f)
        W[j, i] += kin
        W[i, j] += kout
        W[i, i] -= kin
        W[j, j] -= kout
        rates.append((i, j, "abr".index(lead), w, kin, kout))
    W[3, :] = 1.0
    pop = scipy.linalg.solve(W, [0.0, 0.0, 0.0, 1.0])
    JE = np.zeros(3)
    for i, j, k, w, kin, kout in rates:
        JE[k] += w * (kin * pop[i] - kout * pop[j])
    return JE


def qutip_point(p: dict[str, float], qutip) -> np.ndarray:
    dL, dR = qutip.fdestroy(2, 0), qutip.fdestroy(2, 1)
    nL, nR = dL.dag() * dL, dR.dag() * dR
    one = qutip.qeye(nL.dims[0])
    H = p["eps_L"] * nL + p["eps_R"] * nR + p["kappa"] * nL * nR
    ops = {}
    for lead, d, n_other, eps in (("a", dL, nR, p["eps_L"]), ("b", dL, nR, p["eps_L"]), ("r", dR, nL, p["eps_R"])):
        lst = []
        for proj, w in ((one - n_other, eps), (n_other, eps + p["kappa"])):
            f = fermi((w - p[f"mu_{lead}"]) / p[f"T_{lead}"])
            lst += [np.sqrt(p[f"gamma_{lead}"] * f) * d.dag() * proj, np.sqrt(p[f"gamma_{lead}"] * (1 - f)) * d * proj]
        ops[lead] = lst
    rho = qutip.steadystate(H, [c for lst in ops.values() for c in lst])
    out = np.zeros(3)
    for k, lead in enumerate("abr"):
        D = sum(c * rho * c.dag() - 0.5 * (c.dag() * c * rho + rho * c.dag() * c) for c in ops[lead])
        out[k] = (H * D).tr().real
    return out


def qmeq_runner(p0: dict[str, float], qmeq):
    """A QmeQ Pauli builder for the cqd model and a function solving it at one point (J_E per lead)."""
    def spec(p):
        hsingle = {(0, 0): p["eps_L"], (1, 1): p["eps_R"]}
        coulomb = {(0, 1, 1, 0): p["kappa"]}
        tleads = {(k, level): np.sqrt(p[f"gamma_{lead}"] / (2 * np.pi))
                  for k, (lead, level) in enumerate((("a", 0), ("b", 0), ("r", 1)))}
        mulst = {k: p[f"mu_{lead}"] for k, lead in enumerate("abr")}
        tlst = {k: p[f"T_{lead}"] for k, lead in enumerate("abr")}
        return hsingle, coulomb, tleads, mulst, tlst

    hsingle, coulomb, tleads, mulst, tlst = spec(p0)
    system = qmeq.Builder(2, hsingle, coulomb, 3, tleads, mulst, tlst, 1e4, kerntype="Pauli", itype=0)

    def solve(p):
        hsingle, coulomb, tleads, mulst, tlst = spec(p)
        system.change(hsingle=hsingle, coulomb=coulomb, tleads=tleads, mulst=mulst, tlst=tlst)
        system.solve()
        return np.asarray(system.energy_current, dtype=float)

    return solve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=300, help="points for the per-point peers")
    ap.add_argument("--cells", type=float, default=1e6, help="cells for qtmsweep's batched run")
    args = ap.parse_args()

    big = random_cells(int(args.cells), seed=7)
    qtmsweep.solve("cqd", **{k: v[:10] for k, v in big.items()})  # JIT warm-up
    t0 = time.perf_counter()
    ours = qtmsweep.solve("cqd", **big)
    rate_ours = big["eps_L"].size / (time.perf_counter() - t0)
    ours_JE = ours.J_E.values[: args.points]
    points = [{k: float(v[i]) for k, v in big.items()} for i in range(args.points)]

    rows = [("qtmsweep (cqd kernel, batched)", rate_ours, 0.0)]
    t0 = time.perf_counter()
    ref = np.array([scipy_point(p) for p in points])
    rows.append(("numpy/scipy per point", args.points / (time.perf_counter() - t0), float(np.max(np.abs(ref - ours_JE)))))
    try:
        import qutip
    except ImportError:
        print("QuTiP not installed: skipping it (pip install qtmsweep[test])")
    else:
        n_q = min(args.points, 200)
        qutip_point(points[0], qutip)
        t0 = time.perf_counter()
        q = np.array([qutip_point(p, qutip) for p in points[:n_q]])
        rows.append((f"QuTiP {qutip.__version__} steadystate", n_q / (time.perf_counter() - t0),
                     float(np.max(np.abs(q - ours_JE[:n_q])))))
    try:
        import qmeq
    except ImportError:
        print("QmeQ is not importable here: skipping it (build it from its git source in a benchmark env)")
    else:
        run = qmeq_runner(points[0], qmeq)
        run(points[0])  # warm-up, outside the timing
        t0 = time.perf_counter()
        q = np.array([run(p) for p in points])
        rows.append((f"QmeQ {getattr(qmeq, '__version__', '?')} Pauli (builder reused)",
                     len(points) / (time.perf_counter() - t0), float(np.max(np.abs(q - ours_JE)))))
    print(f"{'solver':<34} {'points/s':>11} {'ours / it':>10} {'max |ΔJ_E| vs ours':>19}")
    for name, rate, err in rows:
        print(f"{name:<34} {rate:>11.3e} {rate_ours / rate:>10.0f} {err:>19.1e}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
