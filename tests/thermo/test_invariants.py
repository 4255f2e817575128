"""The invariant counters find real violations and ignore rounding."""

from __future__ import annotations

import numpy as np

import qtmsweep
from qtmsweep.thermo.invariants import count_violations
from tests.conftest import random_cqd


def test_a_correct_solution_has_no_violations(cqd_cells):
    counts = count_violations(qtmsweep.solve("cqd", **cqd_cells))
    assert counts == {"second_law": 0, "energy_conservation": 0, "particle_conservation": 0,
                      "precision": 0, "nonfinite": 0, "truncation": 0, "secular": 0, "population_range": 0,
                      "singular": 0, "tur": 0, "tur_classical_violations": 0, "cells": 400}


def test_a_negative_entropy_production_is_counted(cqd_cells):
    ds = qtmsweep.solve("cqd", **cqd_cells)
    ds["sigma"] = ds.sigma.where(np.arange(400) % 10 != 0, -ds.sigma)  # flip the sign of 40 cells
    flipped = int(((np.arange(400) % 10 == 0) & (ds.sigma < 0)).sum())
    assert count_violations(ds)["second_law"] == flipped > 30


def test_broken_conservation_and_nan_are_counted():
    ds = qtmsweep.solve("cqd", **random_cqd(50, 3))
    ds["residual_E"][:5] = 1e-3
    ds["J_N"][7, 0] = np.nan
    counts = count_violations(ds)
    assert counts["energy_conservation"] == 5
    assert counts["nonfinite"] == 1


def test_cells_the_kernel_cannot_vouch_for_are_counted_as_precision_loss():
    cells = {k: float(v[0]) for k, v in random_cqd(1, 9).items()}
    cells.update(T_a=1.0 + 1e-13, T_b=1.0, T_r=1.0, mu_a=0.2, mu_b=0.2, mu_r=0.2)
    exact = qtmsweep.solve("cqd", **cells)
    generic = qtmsweep.solve("cqd", method="linear", **cells)
    assert count_violations(exact)["precision"] == 0
    assert count_violations(generic)["precision"] == 1


FIG7 = dict(eps1=1.0, eps2=1.0, delta_z=0.05, T_R=1.0, Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06,
            Omega_L=1.0, Omega_R=1.05, Omega_C=1.05, eps_c=10.0)


def test_truncation_errors_above_the_tolerance_are_counted():
    """003 Fig. 7 at dT = 0.3: N = 3 is far from converged (truncation errors ~20-35 %), N = 20 is not."""
    from qtmsweep.thermo.invariants import TRUNCATION_LIMIT

    dT = np.array([0.1, 0.3, 0.6])
    coarse = qtmsweep.solve("kerr_fridge", N1=3, N2=3, T_L=1 + dT, T_C=1 - dT, **FIG7)
    fine = qtmsweep.solve("kerr_fridge", N1=20, N2=12, T_L=1 + dT, T_C=1 - dT, **FIG7)
    over = (fine.truncation_err > TRUNCATION_LIMIT * abs(fine.J_Q)).any("lead")
    assert count_violations(coarse)["truncation"] == 3
    assert count_violations(fine)["truncation"] == int(over.sum()) < 3
    assert count_violations(qtmsweep.solve("cqd", **random_cqd(5, 1)))["truncation"] == 0  # no truncation


def test_cells_outside_the_secular_regime_are_counted():
    p = dict(eps1=2.0, eps2=2.0, delta_z=0.1, T_L=1.3, T_R=1.0, T_C=0.7, Gamma_L=0.02, Gamma_R=0.08,
             Gamma_C=0.06, Omega_L=2.0, Omega_R=2.1, Omega_C=2.1, eps_c=20.0)
    ds = qtmsweep.solve("qubit_fridge", approach="global", delta_x=np.array([0.0, 0.0, 1e-3, 1e-2]), **p)
    assert count_violations(ds)["secular"] == 2  # delta_x = 1e-3, 1e-2 (next to the eps1 = eps2 degeneracy)
    local = qtmsweep.solve("qubit_fridge", approach="local", delta_x=np.array([0.0, 1e-3]), **p)
    assert count_violations(local)["secular"] == 0  # the local approach makes no secular approximation


def test_a_population_outside_the_unit_interval_is_counted_and_rounding_is_not():
    """issue 16: qubit_fridge returned p = -0.012 and no invariant counted it."""
    ds = qtmsweep.solve("cqd", **random_cqd(50, 4))
    assert count_violations(ds)["population_range"] == 0
    ds["p"] = ds.p.copy()
    ds["p"][3, 0] = -0.01233
    ds["p"][5, 1] = 1.0 + 1e-3
    ds["p"][8, 2] = -1e-15  # rounding
    assert count_violations(ds)["population_range"] == 2


def test_the_issue_16_qubit_fridge_cell_with_negative_populations_is_counted():
    """The exact cell of issue 16: global qubit_fridge returned p = [-0.01233, -0.00388, 0.7662, 0.25]."""
    cell = dict(eps1=2.3884283671135695, eps2=45.54471112444692, delta_z=-0.07702124060536009,
                delta_x=0.0010678602615415375, T_L=2.0653410286146445, T_R=0.31073581151979607,
                T_C=0.08832932722809732, Gamma_L=0.008142630696950072, Gamma_R=0.001246617742473057,
                Gamma_C=2.6455826430357363e-07, Omega_L=3.6160557379312137, Omega_R=16.70334052748299,
                Omega_C=0.525863823413438, eps_c=23.825708827328256, approach="global")
    ds = qtmsweep.solve("qubit_fridge", **cell)
    p = ds.p.values
    counts = count_violations(ds)
    if np.isnan(p).any():  # the per-lead-bound solver (main since) refuses the cell: NaN, counted as non-finite
        assert counts["nonfinite"] == 1 and counts["population_range"] == 0
    elif (p >= -1e-9).all():  # a kernel fixed: nothing to count
        assert counts["population_range"] == 0
    else:  # the kernel of issue 16
        assert p.min() < -0.01 and counts["population_range"] == 1


def test_local_me_energy_conservation_is_checked_on_the_full_hamiltonian_currents():
    """003 Fig. 5's local ME with delta_x > 0 and eps1 != eps2: the bare currents of Eq. A21 are not
    conserved (physics of the local approach), the full-Hamiltonian ones are; only a broken J_E_full counts."""
    p = dict(eps1=2.0, eps2=2.1, delta_z=np.linspace(0.01, 1.0, 12), delta_x=0.02, T_L=1.1, T_R=1.0, T_C=0.9,
             Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, filters="resonant", eps_c=10.0)
    ds = qtmsweep.solve("qubit_fridge", approach="local", **p)
    assert float(ds.residual_E.min()) > 1e-8  # the bare currents do not sum to zero
    assert count_violations(ds)["energy_conservation"] == 0
    broken = ds.copy(deep=True)
    broken["J_E_full"][3, 0] = broken["J_E_full"][3, 0] * (1 + 1e-4)
    assert count_violations(broken)["energy_conservation"] == 1


def test_fused_row_checks_equal_the_numpy_formulas():
    # the one-pass per-row kernels of violation_arrays against the numpy reductions they replace
    import numpy as np

    from qtmsweep.thermo.invariants import POPULATION_LIMIT, PRECISION_LIMIT, _bound_rows, _population_rows

    rng = np.random.default_rng(7)
    n = 2000
    rel = 10.0 ** rng.uniform(-17, -3, (n, 3))
    rel[rng.random((n, 3)) < 0.05] = np.inf
    rel[rng.random((n, 3)) < 0.05] = np.nan
    tol, flag = np.zeros(n), np.zeros(n, dtype=bool)
    _bound_rows(rel, PRECISION_LIMIT, tol, flag)
    assert np.array_equal(tol, np.where(np.isfinite(rel), rel, 0.0).max(axis=1))
    assert np.array_equal(flag, (rel > PRECISION_LIMIT).any(axis=1))
    p = rng.uniform(-1e-8, 1 + 1e-8, (n, 4))
    p[rng.random(n) < 0.05] = np.nan
    p[:7, 2] = np.nan
    p[10:20, 0], p[20:30, 1] = -0.01, 1.01
    out, sing = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    _population_rows(p, tol, POPULATION_LIMIT, out, sing)
    t = (POPULATION_LIMIT + tol)[:, None]
    with np.errstate(invalid="ignore"):
        assert np.array_equal(out, ((p < -t) | (p > 1.0 + t)).any(axis=1))
    assert np.array_equal(sing, np.isnan(p).all(axis=1)) and sing.any() and out.any() and not out.all()
