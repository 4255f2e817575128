"""Declared models vs the built-in kernel and vs a per-point scipy baseline, in one run (issue 14).

    nice python benchmarks/declared.py [--cells N] [--points K]

* declared ``cqd`` (4 states, the fused declared-dots kernel) vs the built-in fused cqd kernel, all through ``qtmsweep.solve``;
* a declared 4-orbital system (16 states) batched;
* a declared 3-orbital system (8 states) batched vs a per-point route (scipy.linalg.null_space
  of each cell's rate matrix, the way one loops by hand) and, where QmeQ is importable (the env of
  ``benchmarks/envs/qmeq.sh``; run with ``OMP_NUM_THREADS=1``), QmeQ's Pauli approach per point in
  a process of its own.
Prints cells/s (median and range of --rounds) and ratios (absolute timings on a shared machine mean little; ratios do).
Goals (issue 14): >= 1e6 cells/s at 4 states, >= 1e5 at 16, >= 300x the per-point route.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import qtmsweep  # noqa: E402
from qtmsweep.physics.declared import build_model  # noqa: E402

CQD = {"kind": "dots", "orbitals": {"L": {"energy": "eps_L"}, "R": {"energy": "eps_R"}},
       "coulomb": [["L", "R", "kappa"]],
       "leads": {"a": {"T": "T_a", "mu": "mu_a", "couples": {"L": "gamma_a"}},
                 "b": {"T": "T_b", "mu": "mu_b", "couples": {"L": "gamma_b"}},
                 "r": {"T": "T_r", "mu": "mu_r", "couples": {"R": "gamma_r"}}}}


def chain_dots(k):
    orbs = [f"d{i}" for i in range(k)]
    return {"kind": "dots", "orbitals": {o: f"e{i}" for i, o in enumerate(orbs)},
            "coulomb": [[a, b, "U"] for a, b in zip(orbs, orbs[1:])],
            "leads": {"L": {"T": "T_L", "mu": "mu_L", "couples": {orbs[0]: 1.0, orbs[1]: 0.3}},
                      "M": {"T": "T_M", "mu": "mu_M", "couples": {o: 0.5 for o in orbs[1:-1]}},
                      "R": {"T": "T_R", "mu": "mu_R", "couples": {orbs[-1]: 1.0}}}}


def timed(f, repeat=5):
    """Wall times of ``repeat`` calls (the machine is shared: report the median and the range)."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return np.array(out)


def rate(cells, times):
    """(median, low, high) cells/s of the timings."""
    r = cells / times
    return float(np.median(r)), float(r.min()), float(r.max())


def fmt(r):
    return f"{r[0]:.3g} [{r[1]:.3g}, {r[2]:.3g}]"


def random_params(model, n, rng):
    return {p.name: {"temperature": rng.uniform(0.3, 2, n), "chemical_potential": rng.uniform(-1, 1, n),
                     "rate": rng.uniform(0.1, 2, n), "energy": rng.uniform(-2, 2, n)}[p.kind] for p in model.parameters}


def per_point(model, params, n):
    """One cell at a time: the rate matrix from the model's transitions, scipy null space."""
    from scipy.linalg import null_space

    from qtmsweep.physics.distributions import fermi_np

    cm = model.channel_model
    idx = {s: i for i, s in enumerate(cm.states)}
    full = model.with_constants(params)
    out = np.empty(n)
    for c in range(n):
        pt = {k: (v[c] if np.ndim(v) else v) for k, v in full.items()}
        E = np.asarray(cm.state_energies({k: np.atleast_1d(v) for k, v in pt.items()}))[0]
        W = np.zeros((len(idx), len(idx)))
        for t in cm.transitions:
            i, j = idx[t.source], idx[t.target]
            kin, kout, _ = cm.lead_rates(t.lead, E[j] - E[i], pt)
            W[j, i] += kin
            W[i, j] += kout
        W -= np.diag(W.sum(axis=0))
        p = null_space(W)[:, 0]
        out[c] = p[0] / p.sum()
    return out


def per_point_qmeq(model, params, n):  # pragma: no cover - only where QmeQ is installed
    """QmeQ's Pauli approach one point at a time (the reference of the field), if importable.

    One ``qmeq.Builder`` reused through ``Builder.change`` (QmeQ's own way to sweep, and its faster
    route); ``Γ = 2π|t|²``; Coulomb terms ``U n_i n_j`` as QmeQ's ``(i, j, j, i)`` with ``i < j``.
    Returns the population of the empty state (QmeQ's state 0, qtmsweep's state 0).
    """
    import qmeq

    full = model.with_constants(params)
    spec = model.spec
    orbs = list(spec["orbitals"])
    leads = list(spec["leads"])
    out = np.empty(n)
    system = None
    for c in range(n):
        pt = {k: (float(v[c]) if np.ndim(v) else float(v)) for k, v in full.items()}
        val = lambda x: pt[x] if isinstance(x, str) else float(x)  # noqa: E731
        hsingle = {(i, i): val(o["energy"] if isinstance(o, dict) else o) for i, o in enumerate(spec["orbitals"].values())}
        coulomb = {(i, j, j, i): val(u) for a, b, u in spec.get("coulomb", [])
                   for i, j in [sorted((orbs.index(a), orbs.index(b)))]}
        tleads = {(li, orbs.index(o)): np.sqrt(val(g) / (2 * np.pi))
                  for li, lead in enumerate(leads) for o, g in spec["leads"][lead]["couples"].items()}
        mulst = {li: val(spec["leads"][lead]["mu"]) for li, lead in enumerate(leads)}
        tlst = {li: val(spec["leads"][lead]["T"]) for li, lead in enumerate(leads)}
        if system is None:
            system = qmeq.Builder(len(orbs), hsingle, coulomb, len(leads), tleads, mulst, tlst, 1e4,
                                  kerntype="Pauli")
        else:
            system.change(hsingle=hsingle, coulomb=coulomb, tleads=tleads, mulst=mulst, tlst=tlst)
        system.solve()
        out[c] = system.phi0[0]
    return out


_QMEQ: dict = {}


def _qmeq_setup(spec, params, n):  # pragma: no cover - only where QmeQ is installed
    """In the QmeQ worker process: build the model, keep the points, warm up on one point."""
    model = build_model("bench8_qmeq", spec)
    _QMEQ.update(model=model, params=params, n=n)
    per_point_qmeq(model, {k: v[:1] for k, v in params.items()}, 1)
    return per_point_qmeq(model, params, n)


def _qmeq_round():  # pragma: no cover - only where QmeQ is installed
    """In the QmeQ worker process: the wall time of one per-point pass over the kept points."""
    t = time.perf_counter()
    per_point_qmeq(_QMEQ["model"], _QMEQ["params"], _QMEQ["n"])
    return time.perf_counter() - t


def paired(n_a, run_a, n_b, run_b, rounds):
    """Throughput ratio a/b per round, a and b timed back to back in each round: this VM's speed drifts
    by tens of percent over seconds, so rounds of a and b taken apart can meet different machines.

    Returns the (median, min, max) ratio and each side's wall times (its cells/s come from the same
    rounds, not from a run of its own)."""
    out, ta, tb = [], [], []
    for _ in range(rounds):
        ta.append(timed(run_a, 1)[0])
        tb.append(run_b())
        out.append((n_a / ta[-1]) / (n_b / tb[-1]))
    return (float(np.median(out)), float(min(out)), float(max(out))), np.array(ta), np.array(tb)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=100000)
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    t_start = time.perf_counter()
    rng = np.random.default_rng(0)
    n = args.cells
    decl = qtmsweep.define_model("bench_cqd", CQD)
    m16 = qtmsweep.define_model("bench16", chain_dots(4))
    m8 = qtmsweep.define_model("bench8", chain_dots(3))
    p = random_params(decl, n, rng)
    p_builtin = dict(p)
    p16 = random_params(m16, n // 4, rng)
    p8 = random_params(m8, n, rng)
    k = args.points
    p8k = {key: v[:k] for key, v in p8.items()}
    for name, q in (("cqd", p_builtin), ("bench_cqd", p), ("bench16", p16), ("bench8", p8)):  # compile first
        qtmsweep.solve(name, **{key: v[:8] for key, v in q.items()})
    try:
        import qmeq  # noqa: F401
    except ImportError:
        have_qmeq = False
    else:
        have_qmeq = True
    R = args.rounds
    r16 = rate(n // 4, timed(lambda: qtmsweep.solve("bench16", **p16), R))
    ref = per_point(m8, p8k, k)
    got = m8.steady_state(p8k).p[:, 0]
    solve8 = lambda: qtmsweep.solve("bench8", **p8)  # noqa: E731
    pair_pp, t8, t_pp = paired(n, solve8, k, lambda: timed(lambda: per_point(m8, p8k, k), 1)[0], R)
    if have_qmeq:  # pragma: no cover - only where QmeQ is installed
        # In its own process: after a numba parallel region, libgomp's spin-waiting threads make
        # QmeQ's per-solve OpenMP regions ~100x slower in this one (see benchmarks/peers.py).
        # One worker for the whole run: each round times QmeQ there, then ours here, back to back.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            p_q = pool.submit(_qmeq_setup, chain_dots(3), p8k, k).result()
            run_q = lambda: pool.submit(_qmeq_round).result()  # noqa: E731
            run_q()  # QmeQ's first pass in the worker (imports, caches) is not a round
            pair_q, t8_q, t_q = paired(n, solve8, k, run_q, R)
        t8 = np.concatenate([t8, t8_q])
        r_q = rate(k, t_q)
    pair_cqd, t_decl, t_builtin = paired(n, lambda: qtmsweep.solve("bench_cqd", **p), n,
                                         lambda: timed(lambda: qtmsweep.solve("cqd", **p_builtin), 1)[0], R)
    r_builtin, r_decl, r8, r_pp = rate(n, t_builtin), rate(n, t_decl), rate(n, t8), rate(k, t_pp)
    import llvmlite.binding as llvm

    print(f"host {llvm.get_host_cpu_name()}; qtmsweep.solve, cells/s: median [min, max] over the rounds of the paired "
          "ratios below (shared machine: the ratios mean more)")
    print(f"  built-in cqd              {fmt(r_builtin)}")
    print(f"  declared cqd (4 states)   {fmt(r_decl)}   goal 1e6: {r_decl[0] / 1e6:.2f}x of goal")
    print(f"  declared 16 states        {fmt(r16)}   goal 1e5: {r16[0] / 1e5:.2f}x of goal")
    print(f"  declared 8 states         {fmt(r8)}")
    print(f"  per point, scipy null space (8 states) {fmt(r_pp)}")
    if have_qmeq:  # pragma: no cover
        print(f"  per point, QmeQ {qmeq.__version__} Pauli, builder reused (8 states, own process) {fmt(r_q)}")
    print(f"ratios, each round timing both back to back (median [min-max] of {R} rounds); "
          f"total {time.perf_counter() - t_start:.0f} s")
    print(f"  declared cqd / built-in cqd               {fmt(pair_cqd)}")
    print(f"  8 states batched / scipy per point        {fmt(pair_pp)}   goal 300x: "
          f"{'met' if pair_pp[0] >= 300 else 'NOT met'}; max |dp| vs per point {np.abs(got - ref).max():.1e}")
    if have_qmeq:  # pragma: no cover
        print(f"  8 states batched / QmeQ per point         {fmt(pair_q)}   goal 300x: "
              f"{'met' if pair_q[0] >= 300 else 'NOT met'}{' in every round' if pair_q[1] >= 300 else ''}; "
              f"max |dp| vs QmeQ {np.abs(got - p_q).max():.1e}")

if __name__ == "__main__":
    main()
