"""``secular_ratio`` of the global approaches (issue 11 item 6): it flags where the secular
approximation fails (at eps1 = eps2 the global cooling power jumps from +4.5e-4 at delta_x = 0 to
-1.1 at delta_x = 1e-3, while the local approach, which makes no secular approximation, varies
smoothly) and stays quiet far from degeneracy."""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from qtmsweep.physics.secular import SECULAR_LIMIT, mode_secular_ratio, secular_ratio
from tests.physics.test_qubit_fridge import random_cells

FIG3 = dict(eps1=2.0, eps2=2.0, delta_z=0.1, T_L=1.3, T_R=1.0, T_C=0.7, Gamma_L=0.02, Gamma_R=0.08,
            Gamma_C=0.06, Omega_L=2.0, Omega_R=2.1, Omega_C=2.1, eps_c=20.0)


def test_degenerate_qubits_the_jump_of_the_global_cooling_power_is_flagged():
    g0 = qtmsweep.solve("qubit_fridge", approach="global", delta_x=0.0, **FIG3)
    g1 = qtmsweep.solve("qubit_fridge", approach="global", delta_x=1e-3, **FIG3)
    l0 = qtmsweep.solve("qubit_fridge", approach="local", delta_x=0.0, **FIG3)
    l1 = qtmsweep.solve("qubit_fridge", approach="local", delta_x=1e-3, **FIG3)
    # the facts of the issue: the global result jumps, the local one does not
    assert float(g0.cooling_power) == pytest.approx(4.5e-4, rel=0.01)
    assert float(g1.cooling_power) == pytest.approx(-1.1, rel=0.01)
    assert abs(float(l1.cooling_power - l0.cooling_power)) < 1e-3 * abs(float(l0.cooling_power))
    # the ratio flags the jump: at delta_x = 1e-3 the levels split by 2e-3, below the rates (~0.1)
    assert float(g1.secular_ratio) < 0.1
    # delta_x = 0: bare levels, no bath couples both qubits, the rate equation is exact: not flagged
    assert float(g0.secular_ratio) == np.inf


def weak_cells(n, seed):
    """Cells with weak rates (filters far off the transition energies: K ~ Gamma w/(w - Omega)^2 ~ 1e-2)."""
    rng = np.random.default_rng(seed)
    eps1 = rng.uniform(1.0, 2.0, n)
    c = dict(eps1=eps1, eps2=eps1 + rng.uniform(0.5, 1.5, n), delta_z=rng.uniform(0.05, 0.5, n),
             delta_x=rng.uniform(0.0, 0.2, n), T_L=rng.uniform(1.0, 3.0, n), T_R=rng.uniform(0.5, 1.0, n),
             T_C=rng.uniform(0.2, 0.5, n), eps_c=20.0)
    for lead in "LRC":
        c[f"Gamma_{lead}"] = rng.uniform(0.02, 0.1, n)
        c[f"Omega_{lead}"] = rng.uniform(7.0, 9.0, n)
    return c


def test_far_from_degeneracy_with_weak_rates_nothing_is_flagged_and_at_degeneracy_everything():
    c = weak_cells(300, seed=31)
    far = qtmsweep.solve("qubit_fridge", approach="global", **c).secular_ratio.values
    assert np.all(far > SECULAR_LIMIT)
    near = qtmsweep.solve("qubit_fridge", approach="global", **{**c, "eps2": c["eps1"], "delta_x": 1e-3})
    assert np.all(near.secular_ratio.values < SECULAR_LIMIT)
    # the ratio grows with the level splitting 2 delta_x at eps1 = eps2
    dx = np.array([1e-4, 1e-3, 1e-2, 1e-1])
    ratio = qtmsweep.solve("qubit_fridge", approach="global", delta_x=dx, **FIG3).secular_ratio.values
    assert np.all(np.diff(ratio) > 0)


def test_003_rate_scale_is_not_secular_once_delta_x_mixes_the_qubits():
    """With 003's filters on resonance the rates reach K n ~ 1/(Gamma_L eps1) n ~ 10-40, far above any
    level splitting below 1: the global approach is outside its regime at every delta_x != 0 there."""
    dx = np.array([0.0, 0.05, 0.5])
    ratio = qtmsweep.solve("qubit_fridge", approach="global", **{**FIG3, "eps2": 2.5}, delta_x=dx).secular_ratio
    assert float(ratio[0]) == np.inf and np.all(ratio.values[1:] < 1.0)


def test_secular_ratio_is_the_definition():
    """|E+ - E-| (every bath drives 0 -> + and 0 -> - once delta_x mixes the qubits) over the largest
    escape rate of an eigenstate, computed by hand from 003 Eq. A11 and the spectral density."""
    from tests.physics.test_qubit_fridge import K, nb

    c = dict(FIG3, eps2=2.3, delta_x=0.05)
    ds = qtmsweep.solve("qubit_fridge", approach="global", method="pauli", **c)
    r = np.hypot(c["eps1"] - c["eps2"], 2 * c["delta_x"])
    Ep, Em = 0.5 * (c["eps1"] + c["eps2"]) + 0.5 * r, 0.5 * (c["eps1"] + c["eps2"]) - 0.5 * r
    E = {"0": 0.0, "+": Ep, "-": Em, "d": c["eps1"] + c["eps2"] + c["delta_z"]}
    th = np.arctan2(2 * c["delta_x"], c["eps1"] - c["eps2"])
    cs, sn = np.cos(th / 2) ** 2, np.sin(th / 2) ** 2
    # |<+|X1|0>|^2 = c^2, |<-|X1|0>|^2 = s^2, |<d|X1|+>|^2 = s^2, |<d|X1|->|^2 = c^2; X2 (bath C): c and s swapped
    m2 = {"L": {("0", "+"): cs, ("0", "-"): sn, ("+", "d"): sn, ("-", "d"): cs}}
    m2["R"] = m2["L"]
    m2["C"] = {("0", "+"): sn, ("0", "-"): cs, ("+", "d"): cs, ("-", "d"): sn}
    escape = {s: 0.0 for s in E}
    for lead in "LRC":
        for (lo, hi), m in m2[lead].items():
            w = E[hi] - E[lo]
            k = float(K(w, c[f"Gamma_{lead}"], c[f"Omega_{lead}"], c["eps_c"]))
            escape[lo] += m * k * nb(w, c[f"T_{lead}"])
            escape[hi] += m * k * (1 + nb(w, c[f"T_{lead}"]))
    assert float(ds.secular_ratio) == pytest.approx(r / max(escape.values()), rel=1e-10)


def test_chain_global_ratio_is_2g_over_the_rates():
    p = dict(omega=1.0, T_L=1.0, T_R=0.5, gamma_L=0.01, gamma_R=0.02)
    g = np.array([1e-4, 1e-3, 0.1, 0.8])
    for stat in ("qubit", "boson"):
        ds = qtmsweep.solve("chain", N=2, stat=stat, approach="global", g=g, **p)
        r = ds.secular_ratio.values
        assert np.all(np.diff(r) > 0) and r[0] < 1 < SECULAR_LIMIT < r[-1]
        nb = {lead: [1 / np.expm1((1 + s * g) / p[f"T_{lead}"]) for s in (1, -1)] for lead in "LR"}
        if stat == "boson":
            width = np.maximum(*(sum(0.5 * p[f"gamma_{x}"] * (1 + 2 * nb[x][k]) for x in "LR") for k in (0, 1)))
            assert np.allclose(r, 2 * g / width, rtol=1e-12)
        else:  # the generic definition on the 4 eigenstates 0, +, -, 2 with 004 Eq. 20's rates
            E = np.stack([0 * g, 1 + g, 1 - g, 2 + 0 * g], axis=-1)
            rates = np.zeros((2, g.size, 4, 4))
            for b, x in enumerate("LR"):
                for lo, hi in ((0, 1), (0, 2), (1, 3), (2, 3)):
                    occ = 1 / np.expm1((E[:, hi] - E[:, lo]) / p[f"T_{x}"])
                    rates[b, :, hi, lo], rates[b, :, lo, hi] = 0.5 * p[f"gamma_{x}"] * occ, 0.5 * p[f"gamma_{x}"] * (1 + occ)
            assert np.allclose(r, secular_ratio(E, rates, charges=(0, 1, 1, 2)), rtol=1e-12)
    lind = qtmsweep.solve("chain", N=2, stat="qubit", approach="global", method="lindblad", g=g, **p)
    assert np.allclose(lind.secular_ratio, qtmsweep.solve("chain", N=2, stat="qubit", approach="global", g=g,
                                                          **p).secular_ratio, rtol=1e-14)
    assert "secular_ratio" not in qtmsweep.solve("chain", N=2, stat="qubit", approach="local", g=g, **p)


def test_exact_degeneracies_count_only_when_one_bath_couples_both_levels():
    E = np.array([[0.0, 1.0, 1.0, 2.0], [0.0, 1.0, 1.0, 2.0]])
    rates = np.zeros((2, 2, 4, 4))
    rates[0, :, 0, 1] = rates[1, :, 0, 2] = 0.1  # bath 0 drives 1 -> 0, bath 1 drives 2 -> 0
    rates[0, 1, 0, 2] = 0.1  # in the second cell bath 0 drives 2 -> 0 as well
    r = secular_ratio(E, rates, charges=(0, 1, 1, 2))
    assert r[0] == np.inf and r[1] == 0.0
    assert mode_secular_ratio(np.array([1.1]), np.array([0.9]), [(np.array([0.02]), np.array([0.01]))])[0] == \
        pytest.approx(10.0)
