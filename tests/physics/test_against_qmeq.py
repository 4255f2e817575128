"""Agreement with QmeQ's Pauli approach (the field's reference solver) on random points.

QmeQ is not a dependency: these tests run only where it is importable (the optional benchmark
env of ``benchmarks/envs/qmeq.sh``, numpy 1.26 and QmeQ 1.1 built from its git source) and are
skipped elsewhere. QmeQ builds the many-body problem its own way (Fock states from
``hsingle``/``coulomb``, rates ``Γ = 2π|t|²`` from ``tleads``, its own kernel and solver), so it
checks the built-in ``cqd`` kernel and the declared dots solver independently of both.
"""

from __future__ import annotations

import numpy as np
import pytest

from qtmsweep import define_model, get_model

from .declared.specs import ANDERSON_SPEC, TRIPLE_SPEC

qmeq = pytest.importorskip("qmeq")


def qmeq_point(spec, pt):
    """QmeQ's Pauli solution of a dots spec at one point: ``(occupations -> p, J_E, J_N)`` by lead."""
    val = lambda x: float(pt[x]) if isinstance(x, str) else float(x)  # noqa: E731
    orbs = list(spec["orbitals"])
    leads = list(spec["leads"])
    hsingle = {(i, i): val(o["energy"] if isinstance(o, dict) else o) for i, o in enumerate(spec["orbitals"].values())}
    pair = lambda a, b: sorted((orbs.index(a), orbs.index(b)))  # noqa: E731 - QmeQ wants m < n in U_mnkl
    coulomb = {(i, j, j, i): val(u) for a, b, u in spec.get("coulomb", []) for i, j in [pair(a, b)]}
    tleads = {(k, orbs.index(o)): np.sqrt(val(g) / (2 * np.pi))
              for k, lead in enumerate(leads) for o, g in spec["leads"][lead]["couples"].items()}
    mulst = {k: val(spec["leads"][lead]["mu"]) for k, lead in enumerate(leads)}
    tlst = {k: val(spec["leads"][lead]["T"]) for k, lead in enumerate(leads)}
    system = qmeq.Builder(len(orbs), hsingle, coulomb, len(leads), tleads, mulst, tlst, 1e4, kerntype="Pauli")
    lo, hi = spec.get("electrons", [0, len(orbs)])
    if (lo, hi) != (0, len(orbs)):  # the charge window: only those charge states enter the master equation
        system.si.set_statesdm([list(s) if lo <= q <= hi else [] for q, s in enumerate(system.si.chargelst)])
    system.solve()
    # QmeQ solves for the many-body eigenstates of each charge sector, ordered by energy: eigenstate j
    # of charge q is the Fock state (of chargelst[q]) its eigenvector points at (H is diagonal here),
    # whose get_state digits are the occupations of orbitals 0, 1, ...
    p = {}
    for q in range(lo, hi + 1):
        fock = system.si.chargelst[q]
        vecs = np.abs(np.asarray(system.qd.vecslst[q])).reshape(len(fock), len(fock))
        for j, b in enumerate(fock):
            occ = tuple(int(n) for n in system.si.get_state(fock[int(np.argmax(vecs[:, j]))]))
            p[occ] = float(system.phi0[system.si.get_ind_dm0(b, b, q)])
    J_E = dict(zip(leads, np.array(system.energy_current, dtype=float)))
    J_N = dict(zip(leads, np.array(system.current, dtype=float)))
    return p, J_E, J_N


def _random_point(model, rng):
    return {p.name: {"temperature": rng.uniform(0.2, 2.5), "chemical_potential": rng.uniform(-1, 1),
                     "rate": rng.uniform(0.1, 2.0), "energy": rng.uniform(-2, 2)}[p.kind] for p in model.parameters}


def _occupations(spec):
    """qtmsweep's Fock states as occupation tuples, in its order (integer code, first orbital lowest bit)."""
    n = len(spec["orbitals"])
    lo, hi = spec.get("electrons", [0, n])
    codes = [c for c in range(2 ** n) if lo <= bin(c).count("1") <= hi]
    return [tuple((c >> k) & 1 for k in range(n)) for c in codes]


def _check(model, spec, n_points, seed):
    rng = np.random.default_rng(seed)
    constants = dict(getattr(model, "constants", {}))
    points = [_random_point(model, rng) for _ in range(n_points)]
    batched = {k: np.array([pt[k] for pt in points]) for k in model.parameter_names}
    state = model.steady_state({**constants, **batched})
    occupations = _occupations(spec)
    assert len(occupations) == state.p.shape[1]
    for c, pt in enumerate(points):
        p, J_E, J_N = qmeq_point(spec, {**constants, **pt})
        np.testing.assert_allclose(state.p[c], [p[o] for o in occupations], rtol=0, atol=1e-14)
        scale = max(1.0, *(abs(v) for v in J_E.values()))
        for k, lead in enumerate(model.leads):
            assert abs(state.J_E[c, k] - J_E[lead]) <= 1e-13 * scale, (lead, "J_E", state.J_E[c, k], J_E[lead])
            assert abs(state.J_N[c, k] - J_N[lead]) <= 1e-13 * scale, (lead, "J_N", state.J_N[c, k], J_N[lead])


def test_cqd_kernel_against_qmeq():
    from .declared.specs import CQD_SPEC

    _check(get_model("cqd"), CQD_SPEC, 8, seed=17)


@pytest.mark.parametrize("spec", [ANDERSON_SPEC, TRIPLE_SPEC], ids=["anderson", "triple_dot"])
def test_declared_dots_against_qmeq(spec):
    _check(define_model(f"qmeq_ref_{len(spec['orbitals'])}", spec), spec, 6, seed=len(spec["orbitals"]))
