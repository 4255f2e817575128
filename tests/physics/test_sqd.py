"""Physics of the ``sqd`` model."""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from tests.physics.reference import mp_sqd_current


def fermi(x):
    return 1.0 / (1.0 + np.exp(x))


def test_particle_current_is_the_closed_form_of_spec(sqd_cells):
    c = sqd_cells
    ds = qtmsweep.solve("sqd", **c)
    fl, fr = fermi((c["eps"] - c["mu_l"]) / c["T_l"]), fermi((c["eps"] - c["mu_r"]) / c["T_r"])
    expected = c["gamma_l"] * c["gamma_r"] * (fl - fr) / (c["gamma_l"] + c["gamma_r"])
    np.testing.assert_allclose(ds.J_N.sel(lead="l"), expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(ds.J_N.sel(lead="r"), -ds.J_N.sel(lead="l"))


def test_energy_current_is_level_energy_times_particle_current(sqd_cells):
    ds = qtmsweep.solve("sqd", **sqd_cells)
    np.testing.assert_allclose(ds.J_E, sqd_cells["eps"][:, None] * ds.J_N, rtol=1e-14)


def test_entropy_production_is_force_flux_sum_and_nonnegative(sqd_cells):
    c = sqd_cells
    ds = qtmsweep.solve("sqd", **c)
    by_forces = ds.J_E.sel(lead="l") * ds.F_E_l + ds.J_N.sel(lead="l") * ds.F_N_l
    by_heat = -(ds.J_Q.sel(lead="l") / c["T_l"] + ds.J_Q.sel(lead="r") / c["T_r"])
    np.testing.assert_allclose(ds.sigma, by_forces, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(ds.sigma, by_heat, rtol=1e-8, atol=1e-13)
    np.testing.assert_allclose(ds.sigma_micro, ds.sigma, rtol=1e-8, atol=1e-14)
    assert np.all(ds.sigma.values >= 0)


def test_generic_solver_reproduces_the_closed_form(sqd_cells):
    a = qtmsweep.solve("sqd", **sqd_cells)
    b = qtmsweep.solve("sqd", method="linear", **sqd_cells)
    for var in ("p", "J_E", "J_N", "sigma", "sigma_micro"):
        np.testing.assert_allclose(a[var], b[var], rtol=1e-9, atol=1e-14, err_msg=var)


@pytest.mark.parametrize("delta", [1e-8, 1e-12])
@pytest.mark.parametrize("bias", ["T_l", "mu_l"])
def test_tiny_bias_current_has_small_relative_error(delta, bias):
    cell = dict(eps=0.7, T_l=1.3, T_r=1.3, mu_l=0.2, mu_r=0.2, gamma_l=1.0, gamma_r=0.5)
    cell[bias] += delta
    ref = float(mp_sqd_current(cell))
    ds = qtmsweep.solve("sqd", **cell)
    assert abs(float(ds.J_N.sel(lead="l")) - ref) <= 1e-9 * abs(ref)
    assert float(ds.rel_err.max()) < 1e-9


def test_equilibrium_populations_are_fermi_occupations():
    ds = qtmsweep.solve("sqd", eps=0.4, T_l=0.7, T_r=0.7, mu_l=-0.1, mu_r=-0.1, gamma_l=1.0, gamma_r=2.0)
    assert float(ds.J_N.sel(lead="l")) == 0.0
    assert float(ds.p.sel(state="1")) == pytest.approx(float(fermi(0.5 / 0.7)), rel=1e-14)


@pytest.mark.parametrize("T", [1e-3, 1e-4])
def test_extreme_parameters_are_finite(T):
    ds = qtmsweep.solve("sqd", eps=np.linspace(-2, 2, 41), T_l=T, T_r=2 * T, mu_l=0.3, mu_r=-0.3,
                        gamma_l=1.0, gamma_r=1.0)
    for v in ds.data_vars.values():
        if v.name in ("rel_err", "sigma_rel_err"):  # a bound may be inf by design (sign not guaranteed)
            assert not np.any(np.isnan(v.values)) and np.all(v.values >= 0), v.name
            continue
        assert np.all(np.isfinite(v.values)), v.name
    # eps = 0.9 (to an ulp) puts both leads at the same reduced energy: there the bound says so
    near = np.abs(ds.eps.values - 0.9) < 1e-9
    assert np.all(np.isfinite(ds.rel_err.values[~near]))
