"""Declared models vs the built-in kernel and vs a per-point scipy baseline, in one run (issue 14).

    nice python benchmarks/declared.py [--cells N] [--points K]

* declared ``cqd`` (4 states, generic batched Pauli solver) vs the built-in fused cqd kernel;
* a declared 4-orbital system (16 states) batched;
* a declared 3-orbital system (8 states) batched vs a per-point route (scipy.linalg.null_space
  of each cell's rate matrix, the way one loops with QmeQ or by hand).
Prints cells/s and ratios (absolute timings on a shared machine mean little; ratios do).
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


def timed(f, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=100000)
    ap.add_argument("--points", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.cells
    builtin = qtmsweep.get_model("cqd")
    decl = qtmsweep.define_model("bench_cqd", CQD)
    m16 = build_model("bench16", chain_dots(4))
    m8 = build_model("bench8", chain_dots(3))
    p = random_params(decl, n, rng)
    p16 = random_params(m16, n // 4, rng)
    p8 = random_params(m8, n, rng)
    k = args.points
    p8k = {key: v[:k] for key, v in p8.items()}
    for m, q in ((builtin, p), (decl, p), (m16, p16), (m8, p8k)):  # compile outside the timings
        m.steady_state({key: v[:8] for key, v in q.items()})

    t_builtin = timed(lambda: builtin.steady_state(p))
    t_decl = timed(lambda: decl.steady_state(p))
    t16 = timed(lambda: m16.steady_state(p16))
    t8 = timed(lambda: m8.steady_state(p8))
    t_pp = timed(lambda: per_point(m8, p8k, k), repeat=1)
    r_builtin, r_decl, r16, r8, r_pp = n / t_builtin, n / t_decl, (n // 4) / t16, n / t8, k / t_pp
    ref = per_point(m8, p8k, k)
    got = m8.steady_state(p8k).p[:, 0]
    print(f"cells/s (this run; absolute numbers depend on the machine's load): built-in cqd {r_builtin:.3g}, "
          f"declared cqd (4 states) {r_decl:.3g}, declared 16 states {r16:.3g}, declared 8 states {r8:.3g}, "
          f"per-point scipy (8 states) {r_pp:.3g}")
    print(f"ratios: declared cqd / built-in = {r_decl / r_builtin:.2f}; 16 states / built-in cqd = "
          f"{r16 / r_builtin:.3f}; 8 states batched / per point = {r8 / r_pp:.0f}x "
          f"(goals: 4 states >= 1e6 cells/s, 16 states >= 1e5, >= 300x per point; max |dp| {np.abs(got - ref).max():.1e})")


if __name__ == "__main__":
    main()
