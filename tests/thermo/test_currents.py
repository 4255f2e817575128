"""Heat currents and conservation residuals against direct numpy formulas."""

from __future__ import annotations

import numpy as np

from qtmsweep.thermo.currents import conservation_residual, heat_current


def test_conservation_residual_is_the_relative_sum_per_cell():
    rng = np.random.default_rng(3)
    J = rng.normal(size=(50, 7, 3))
    J[0, 0] = 0.0  # all currents vanish: residual 0
    J[1, 1] = [1.0, -1.0, 0.0]  # conserved exactly
    J[2, 2, 1] = np.nan
    r = conservation_residual(J)
    assert r.shape == (50, 7)
    with np.errstate(invalid="ignore"):
        expected = np.abs(J.sum(axis=-1)) / np.abs(J).max(axis=-1)
    expected[0, 0] = 0.0
    mask = np.isfinite(expected)
    np.testing.assert_allclose(r[mask], expected[mask], rtol=1e-15, atol=0)
    assert r[0, 0] == 0.0 and r[1, 1] == 0.0 and np.isnan(r[2, 2])


def test_heat_current_subtracts_mu_times_particle_current():
    J_E, J_N, mu = np.array([[3.0, -1.0]]), np.array([[2.0, -2.0]]), np.array([[0.5, 1.5]])
    np.testing.assert_array_equal(heat_current(J_E, J_N, mu), [[2.0, 2.0]])
    np.testing.assert_array_equal(heat_current(J_E, None, None), J_E)
