"""Rectification contrast and linear conductance over forward/reverse pairs (``qtmsweep.thermo.pairs``)
against 004's closed forms: Eq. 12 (contrast, local), Eq. 14 (conductance, local, two qubits),
Eq. 23–24 (contrast, global, T_R → 0), Eq. 25 (conductance, global); the N-independence of
κ (qubit and oscillator chains, 004 §III.4); Figs. 2 and 5 statements; pairing checks."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.analysis import solve_pair
from qtmsweep.thermo.pairs import (
    contrast_from_directions,
    direction_pair,
    linear_conductance,
    rectification_contrast,
    swap_parameters,
    symmetric_temperatures,
    to_forward_frame,
)


def coth(x):
    return 1 / np.tanh(x)


def bose(w, T):
    return 1 / np.expm1(w / T)


def chain_pair(N=2, stat="qubit", approach="local", **p):
    return solve_pair("chain", N=N, stat=stat, approach=approach, **p)


def kappa_004_eq14(T, w, g, gL, gR):
    k1 = w**2 * gL * gR / np.sinh(w / T) / ((gL + gR) * T**2)
    return k1 / (1 + gL * gR / (4 * g**2) * coth(w / (2 * T)) ** 2)


def kappa_004_eq25(T, w, g, gL, gR):
    return gL * gR / (gL + gR) * sum(wk**2 / np.sinh(wk / T) / (2 * T**2) for wk in (w - g, w + g))


def test_004_eq14_local_conductance_and_N_independence():
    """004 Fig. 2 parameters (γ_L = 0.01ω, γ_R = 0.02ω, g = 0.01ω): κ^(2) of Eq. 14 on J_SS = 2 J_Q[L]."""
    T = np.linspace(0.1, 3.0, 30)
    T_L, T_R = symmetric_temperatures(T, 1e-4 * T)
    ref = kappa_004_eq14(T, 1.0, 0.01, 0.01, 0.02)
    for N in (2, 3, 4):
        f, r = chain_pair(N=N, omega=1.0, g=0.01, T_L=T_L, T_R=T_R, gamma_L=0.01, gamma_R=0.02)
        kappa = linear_conductance(f, r, current="J_SS_paper", lead=None)
        assert np.allclose(kappa.values, ref, rtol=1e-6)
        # on SPEC's J_Q[L] the conductance is half of 004's κ
        assert np.allclose(linear_conductance(f, r).values, ref / 2, rtol=1e-6)
    # Fig. 2: Schottky-type single peak near T ≈ ω/2 (κ^(1), one qubit, and κ^(2))
    T = np.linspace(0.2, 1.2, 201)
    peak = {}
    for N in (1, 2):
        f, r = chain_pair(N=N, omega=1.0, g=0.01, T_L=T + 5e-5, T_R=T - 5e-5, gamma_L=0.01, gamma_R=0.02)
        peak[N] = T[np.argmax(linear_conductance(f, r).values)]
    assert 0.5 < peak[1] < 0.55  # x² csch x is largest at x = ω/T ≈ 1.915
    assert 0.35 < peak[2] < peak[1]  # the coth² of Eq. 14 pulls κ^(2)'s peak a little lower


def test_oscillator_chain_conductance_is_independent_of_N():
    """004 §III.4: κ^(N) = κ^(2) also for a chain of harmonic oscillators."""
    T = np.linspace(0.2, 3.0, 10)
    T_L, T_R = symmetric_temperatures(T, 1e-4)
    ks = [linear_conductance(*chain_pair(N=N, stat="boson", omega=1.0, g=0.05, T_L=T_L, T_R=T_R,
                                         gamma_L=0.01, gamma_R=0.03)).values for N in (2, 3, 6)]
    assert np.allclose(ks[0], ks[1], rtol=1e-8) and np.allclose(ks[0], ks[2], rtol=1e-8)


@pytest.mark.parametrize("g", [0.7, 0.8, 0.9])
def test_004_eq25_global_conductance(g):
    """004 Fig. 5 parameters (γ_L = 0.01ω, γ_R = 0.02ω)."""
    T = np.linspace(0.05, 3.0, 40)
    T_L, T_R = symmetric_temperatures(T, 1e-5 * T)
    f, r = chain_pair(approach="global", omega=1.0, g=g, T_L=T_L, T_R=T_R, gamma_L=0.01, gamma_R=0.02)
    kappa = linear_conductance(f, r, current="J_SS_paper", lead=None)
    assert np.allclose(kappa.values, kappa_004_eq25(T, 1.0, g, 0.01, 0.02), rtol=1e-6)


def test_004_fig5_rabi_type_splitting():
    """Two conductance peaks in the global approach whose separation grows with g."""
    T = np.linspace(0.01, 3.0, 900)
    seps = []
    for g in (0.7, 0.8, 0.9):
        f, r = chain_pair(approach="global", omega=1.0, g=g, T_L=T + 5e-6, T_R=T - 5e-6, gamma_L=0.01, gamma_R=0.02)
        k = linear_conductance(f, r).values
        peaks = np.flatnonzero((k[1:-1] > k[:-2]) & (k[1:-1] > k[2:])) + 1
        assert len(peaks) == 2
        seps.append(T[peaks[1]] - T[peaks[0]])
    assert seps[0] < seps[1] < seps[2]


def test_004_eq12_local_contrast_equals_single_qubit_contrast():
    rng = np.random.default_rng(51)
    n = 50
    T_L, T_R = rng.uniform(0.1, 5, n), rng.uniform(0.1, 5, n)
    gL, gR = rng.uniform(0.001, 0.05, n), rng.uniform(0.001, 0.05, n)
    ref = np.abs((gL - gR) / (gL + gR)) * np.abs((coth(1 / (2 * T_R)) - coth(1 / (2 * T_L)))
                                                  / (coth(1 / (2 * T_R)) + coth(1 / (2 * T_L))))
    for N in (1, 2, 3):
        f, r = chain_pair(N=N, omega=1.0, g=0.02, T_L=T_L, T_R=T_R, gamma_L=gL, gamma_R=gR)
        C = rectification_contrast(f, r)
        assert np.allclose(C.values, ref, rtol=1e-8, atol=1e-9)
        assert np.allclose(rectification_contrast(f, r, current="J_SS_paper", lead=None), C, rtol=1e-10)


def test_004_eq23_global_contrast_cold_right_bath():
    """004 Eq. 23 with T_R → 0 (Fig. 4: g = 0.8ω, γ_R = 0.02, γ_L = 0.01 and 0.001).

    004 Eq. 24 prints the second factor of A± as γ_L/γ_R + coth(ω±/2T_R), which → 1 as T_R → 0;
    the contrast of the model (and of Eq. 22 inserted into the definition by hand) needs the
    coth at the *hot* temperature T_L in both factors — the reverse run has the hot bath on R.
    The test checks the corrected form, and that the printed one is off (so the discrepancy is real).
    """
    w, g, gR = 1.0, 0.8, 0.02
    T_L = np.array([0.1, 0.2, 0.5, 1.0, 5.0, 50.0])
    for gL in (0.01, 0.001):
        f, r = chain_pair(approach="global", omega=w, g=g, T_L=T_L, T_R=0.004, gamma_L=gL, gamma_R=gR)
        C = rectification_contrast(f, r).values
        # Eq. 22 inserted into the contrast definition with n_R = 0 (independent of Eq. 24)
        Jf = sum(gL * gR * wk * bose(wk, T_L) / (gL * coth(wk / (2 * T_L)) + gR) for wk in (w + g, w - g))
        Jr = sum(-gL * gR * wk * bose(wk, T_L) / (gL + gR * coth(wk / (2 * T_L))) for wk in (w + g, w - g))
        assert np.allclose(C, np.abs((Jf + Jr) / (Jf - Jr)), rtol=1e-7)

        def eq23(second_T):
            A = {wk: wk * bose(wk, T_L) / ((gR / gL + coth(wk / (2 * T_L))) * (gL / gR + coth(wk / (2 * second_T))))
                 for wk in (w + g, w - g)}
            num = sum(A.values())
            den = sum(A[wk] * bose(wk, T_L) for wk in A)
            return abs((gL - gR) / (gL + gR)) / (1 + num / den)

        assert np.allclose(C, eq23(T_L), rtol=1e-7)  # corrected: coth at T_L in both factors
        assert not np.allclose(C, eq23(np.full_like(T_L, 1e-9)), rtol=1e-2)  # as printed, T_R → 0
        # high-temperature limit |γL − γR|/(γL + γR) (004 text)
        assert C[-1] == pytest.approx(abs(gL - gR) / (gL + gR), rel=0.05)


def test_pairs_on_swept_grids_align_and_refuse_non_pairs():
    TL = xr.DataArray(np.array([1.0, 2.0, 3.0]), dims="T_L", coords={"T_L": [1.0, 2.0, 3.0]})
    common = dict(N=2, stat="qubit", approach="local", omega=1.0, g=0.05, gamma_L=0.01, gamma_R=0.03)
    f = qtmsweep.solve("chain", T_L=TL, T_R=0.5, **common)
    TR = TL.rename({"T_L": "T_R"})
    r = qtmsweep.solve("chain", T_L=0.5, T_R=TR, **common)  # the reverse sweeps T_R on its own dim
    C = rectification_contrast(f, r)
    assert C.dims == ("T_L",) and np.all((C >= 0) & (C <= 1))
    ff, rr = solve_pair("chain", T_L=TL, T_R=0.5, **common)
    assert np.allclose(rectification_contrast(ff, rr), C)
    assert "T_L" in to_forward_frame(r).dims
    with pytest.raises(ValueError, match="not a swapped pair"):
        rectification_contrast(f, f)
    g = qtmsweep.solve("chain", T_L=0.6, T_R=TR, **common)  # the cold bath at a different temperature
    with pytest.raises(ValueError, match="not a swapped pair"):
        linear_conductance(f, g)
    TR2 = xr.DataArray(np.array([1.0, 2.0, 4.0]), dims="T_R", coords={"T_R": [1.0, 2.0, 4.0]})
    with pytest.raises(ValueError, match="same grid"):
        rectification_contrast(f, qtmsweep.solve("chain", T_L=0.5, T_R=TR2, **common))
    with pytest.raises(ValueError, match="both must be given"):
        swap_parameters({"T_L": 1.0})


def test_conductance_error_is_second_order_in_the_bias():
    T = 0.7
    ks = []
    for d in (1e-2, 5e-3):
        f, r = chain_pair(omega=1.0, g=0.05, T_L=T + d / 2, T_R=T - d / 2, gamma_L=0.01, gamma_R=0.03)
        ks.append(float(linear_conductance(f, r, current="J_SS_paper", lead=None)))
    ref = kappa_004_eq14(T, 1.0, 0.05, 0.01, 0.03)
    e1, e2 = abs(ks[0] - ref), abs(ks[1] - ref)
    assert e2 < e1 / 3  # halving the bias cuts the error by ~4


def _preset(name):
    from pathlib import Path

    from qtmsweep.sweep.config import load_config
    from qtmsweep.sweep.grid import build_plan

    path = Path(__file__).resolve().parents[2] / "config" / "sweeps" / f"{name.split('_')[0]}_{name.split('_')[1]}.yaml"
    plan = build_plan(load_config(path), name, probe=False)
    return plan.compute(tuple(slice(None) for _ in plan.axes))


def test_004_fig2_preset_gives_eq14():
    ds = _preset("004_fig2_two_qubits")
    kappa = linear_conductance(ds.sel(dT=1e-4), ds.sel(dT=-1e-4), current="J_SS_paper", lead=None)
    assert np.allclose(kappa.values, kappa_004_eq14(ds.T.values, 1.0, 0.01, 0.01, 0.02), rtol=1e-6)


def test_004_fig4_preset_computes_exactly_the_two_directions():
    ds = _preset("004_fig4_lower")
    assert ds.sizes["direction"] == 2 and "T_R" not in ds.dims  # the reverse: block, not a (T_L, T_R) grid
    C = contrast_from_directions(ds)
    assert C.dims == ("gamma_L", "T_L")
    # the same contrast as two separate solves with T_L and T_R swapped
    fwd, rev = direction_pair(ds)
    xr.testing.assert_allclose(C, rectification_contrast(fwd, rev))
    assert bool(((C >= 0) & (C <= 1)).all())
    # high-temperature limit |γL − γR|/(γL + γR) (004 text)
    for gL in (0.001, 0.01):
        assert float(C.sel(gamma_L=gL).isel(T_L=-1)) == pytest.approx(abs(gL - 0.02) / (gL + 0.02), rel=0.05)


def test_004_fig5_preset_gives_eq25():
    ds = _preset("004_fig5_two_qubits")
    kappa = linear_conductance(ds.sel(dT=1e-5), ds.sel(dT=-1e-5), current="J_SS_paper", lead=None)
    for g in (0.7, 0.8, 0.9):
        assert np.allclose(kappa.sel(g=g).values, kappa_004_eq25(ds.T.values, 1.0, g, 0.01, 0.02), rtol=1e-5)


def test_thermo_pairs_does_not_import_solve():
    """thermo/ sits below qtmsweep.solve (layering): pairs.py names no import of the solve module."""
    import ast
    import inspect

    import qtmsweep.thermo.pairs as pairs

    tree = ast.parse(inspect.getsource(pairs))
    names = [(n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in names if m in ("solve", "..solve", "qtmsweep.solve") or m.endswith(".solve")]
