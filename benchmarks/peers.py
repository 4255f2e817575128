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
  ``benchmarks/envs/qmeq.sh`` builds an env where it is; run it with ``OMP_NUM_THREADS=1``, or its
  OpenMP kernels stall on a busy core).

Only what is measured in this run is printed: no figure from elsewhere.

Run: ``python benchmarks/peers.py [--points 300] [--cells 1e6] [--rounds 3]``; with QmeQ:
``benchmarks/envs/qmeq.sh && OMP_NUM_THREADS=1 .venv-qmeq/bin/python benchmarks/peers.py``
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
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
        return np.array(system.energy_current, dtype=float)  # a copy: QmeQ overwrites its array in place

    return solve


def _fmt(values, spec):
    lo, med, hi = np.min(values), np.median(values), np.max(values)
    return f"{med:{spec}} [{lo:{spec}}–{hi:{spec}}]" if len(values) > 1 else f"{med:{spec}}"


_PEERS: dict = {}  # in the peer process: name -> function of a list of points returning J_E per point


def _peer_solvers() -> dict:
    """The per-point peers available here (built once per process, warmed up on one point)."""
    if _PEERS:
        return _PEERS
    _PEERS["numpy/scipy per point"] = lambda pts: np.array([scipy_point(p) for p in pts])
    try:
        import qutip
    except ImportError:
        print("QuTiP not installed: skipping it (pip install qtmsweep[test])")
    else:
        _PEERS[f"QuTiP {qutip.__version__} steadystate"] = lambda pts: np.array([qutip_point(p, qutip) for p in pts])
    try:
        import qmeq
    except ImportError:
        print("QmeQ is not importable here: skipping it (benchmarks/envs/qmeq.sh builds an env with it)")
    else:
        runners = {}

        def qmeq_all(pts):
            run = runners.setdefault("run", qmeq_runner(pts[0], qmeq))
            return np.array([run(p) for p in pts])

        _PEERS[f"QmeQ {getattr(qmeq, '__version__', '?')} Pauli (builder reused)"] = qmeq_all
    return _PEERS


def _peer_names() -> list[str]:
    return list(_peer_solvers())


def _peer_round(name: str, points: list[dict]) -> tuple[float, np.ndarray]:
    """Time one peer on ``points`` (in the peer process); a first call on one point warms it up."""
    fn = _peer_solvers()[name]
    fn(points[:1])
    t0 = time.perf_counter()
    out = fn(points)
    return len(points) / (time.perf_counter() - t0), out


def _fmt(values, spec):
    lo, med, hi = np.min(values), np.median(values), np.max(values)
    return f"{med:{spec}} [{lo:{spec}}–{hi:{spec}}]" if len(values) > 1 else f"{med:{spec}}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=300, help="points for the per-point peers")
    ap.add_argument("--cells", type=float, default=1e6, help="cells for qtmsweep's batched run")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds (each solver once per round); medians [min–max] over rounds, "
                         "ratios taken within each round")
    args = ap.parse_args()

    big = random_cells(int(args.cells), seed=7)
    qtmsweep.solve("cqd", **{k: v[:10] for k, v in big.items()})  # JIT warm-up
    points = [{k: float(v[i]) for k, v in big.items()} for i in range(args.points)]
    n_points = {"numpy/scipy per point": len(points)}

    ours_name = "qtmsweep (cqd kernel, batched)"
    rates: dict[str, list[float]] = {ours_name: []}
    results: dict[str, np.ndarray] = {}
    # The per-point peers run in a separate process: after a numba parallel region, libgomp's
    # spin-waiting threads made QmeQ's own OpenMP regions (one per solve) ~100x slower in this
    # process on a busy core, even with OMP_NUM_THREADS=1 (OMP_WAIT_POLICY=PASSIVE lifts it too).
    # Rounds stay interleaved: our solve, then each peer in turn, waiting for each.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as peer:
        names = peer.submit(_peer_names).result()
        for name in names:
            rates[name] = []
            n_points[name] = min(len(points), 200) if name.startswith("QuTiP") else len(points)
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            results[ours_name] = qtmsweep.solve("cqd", **big).J_E.values[: args.points]
            rates[ours_name].append(big["eps_L"].size / (time.perf_counter() - t0))
            for name in names:
                rate, results[name] = peer.submit(_peer_round, name, points[: n_points[name]]).result()
                rates[name].append(rate)
    ours_JE = results[ours_name]
    print(f"{args.rounds} interleaved rounds; points/s median [min–max]; 'ours / it' is the median of the "
          f"per-round ratios (same load); peers in a separate process")
    print(f"{'solver':<34} {'points/s':>33} {'ours / it':>26} {'max |ΔJ_E| vs ours':>19}")
    for name, r in rates.items():
        ratio = np.asarray(rates[ours_name]) / np.asarray(r)
        err = float(np.max(np.abs(results[name] - ours_JE[: len(results[name])])))
        print(f"{name:<34} {_fmt(r, '.3g'):>33} {_fmt(ratio, '.3g'):>26} {err:>19.1e}")
    print(f"peak RSS (this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
