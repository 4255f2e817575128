"""Physics of the ``cqd`` model against facts the kernel did not produce."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qtmsweep
from tests.conftest import random_cqd
from tests.physics.reference import mp_pauli_cqd


def fermi(x):
    return 1.0 / (1.0 + np.exp(x))


def test_energy_and_particle_currents_are_conserved(cqd_cells):
    ds = qtmsweep.solve("cqd", **cqd_cells)
    scale = np.abs(ds.J_E).max("lead")
    assert float((np.abs(ds.J_E.sum("lead")) / scale).max()) < 1e-13
    assert float(np.abs(ds.J_N.sum("lead")).max()) < 1e-15
    assert float(ds.residual_E.max()) < 1e-13


def test_particle_current_into_lead_r_vanishes_and_a_b_balance(cqd_cells):
    ds = qtmsweep.solve("cqd", **cqd_cells)
    np.testing.assert_array_equal(ds.J_N.sel(lead="r"), 0.0)
    np.testing.assert_array_equal(ds.J_N.sel(lead="a"), -ds.J_N.sel(lead="b"))


def test_energy_current_from_r_is_kappa_times_cycle_flux_computed_from_rates(cqd_cells):
    """000 Eq. 22: J_E[r] = κ Γ_cyc, with Γ_cyc = k_BD p_B − k_DB p_D built here from SPEC's rates."""
    ds = qtmsweep.solve("cqd", **cqd_cells)
    c = cqd_cells
    f = fermi((c["eps_R"] + c["kappa"] - c["mu_r"]) / c["T_r"])
    pB, pD = ds.p.sel(state="B").values, ds.p.sel(state="D").values
    gamma_cyc = c["gamma_r"] * (f * pB - (1 - f) * pD)
    np.testing.assert_allclose(ds.J_E.sel(lead="r"), c["kappa"] * gamma_cyc, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(ds.cycle_flux, gamma_cyc, rtol=1e-9, atol=1e-15)


def test_second_law_and_three_forms_of_entropy_production_agree(cqd_cells):
    """σ = −Σ β J_Q (000 Eq. 30) = Σ J·F (Eq. 32) = Schnakenberg σ_micro (Eq. 36) ≥ 0."""
    ds = qtmsweep.solve("cqd", **cqd_cells)
    T = np.stack([cqd_cells["T_a"], cqd_cells["T_b"], cqd_cells["T_r"]], axis=-1)
    sigma_heat = -(ds.J_Q.values / T).sum(axis=-1)
    scale = np.abs(ds.J_Q.values / T).sum(axis=-1)
    assert np.all(ds.sigma.values >= 0)
    assert np.all(ds.sigma_micro.values >= 0)
    np.testing.assert_allclose(ds.sigma, sigma_heat, rtol=0, atol=1e-12 * scale.max())
    np.testing.assert_allclose(ds.sigma_micro, ds.sigma, rtol=1e-9, atol=1e-14)


def test_generic_linear_solver_reproduces_the_closed_form(cqd_cells):
    exact = qtmsweep.solve("cqd", **cqd_cells)
    generic = qtmsweep.solve("cqd", method="linear", **cqd_cells)
    assert exact.attrs["method"] == "closed_form" and generic.attrs["method"] == "linear"
    for var in ("p", "J_E", "J_N", "J_Q", "sigma", "sigma_micro"):
        np.testing.assert_allclose(exact[var], generic[var], rtol=1e-9, atol=1e-13, err_msg=var)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_generic_and_closed_form_agree_on_any_random_cell(seed):
    cells = random_cqd(1, seed)
    a = qtmsweep.solve("cqd", **{k: float(v[0]) for k, v in cells.items()})
    b = qtmsweep.solve("cqd", method="linear", **{k: float(v[0]) for k, v in cells.items()})
    for var in ("p", "J_E", "J_N", "sigma"):
        np.testing.assert_allclose(a[var], b[var], rtol=1e-8, atol=1e-13, err_msg=var)
    assert float(a.sigma) >= 0


def test_equilibrium_gives_zero_currents_and_gibbs_populations():
    rng = np.random.default_rng(5)
    n = 50
    T, mu = rng.uniform(0.2, 3, n), rng.uniform(-1, 1, n)
    prm = dict(eps_L=rng.uniform(-2, 2, n), eps_R=rng.uniform(-2, 2, n), kappa=rng.uniform(-2, 2, n),
               T_a=T, T_b=T, T_r=T, mu_a=mu, mu_b=mu, mu_r=mu,
               gamma_a=rng.uniform(0.1, 2, n), gamma_b=rng.uniform(0.1, 2, n), gamma_r=rng.uniform(0.1, 2, n))
    ds = qtmsweep.solve("cqd", **prm)
    np.testing.assert_array_equal(ds.J_E, 0.0)
    np.testing.assert_array_equal(ds.J_N, 0.0)
    np.testing.assert_array_equal(ds.sigma, 0.0)
    E = np.stack([0 * T, prm["eps_L"], prm["eps_R"], prm["eps_L"] + prm["eps_R"] + prm["kappa"]], axis=-1)
    N = np.array([0, 1, 1, 2])
    w = np.exp(-(E - mu[:, None] * N) / T[:, None])
    np.testing.assert_allclose(ds.p, w / w.sum(axis=1, keepdims=True), rtol=1e-12)


def test_cycle_flux_matches_000_eq_C3_for_equal_gammas():
    """000 App. C, Eq. C3 (γ_a = γ_b = γ_r = γ), as printed, with f^{1,2} at ε and ε+κ."""
    rng = np.random.default_rng(11)
    n = 200
    g = rng.uniform(0.2, 2, n)
    c = random_cqd(n, 12)
    c.update(gamma_a=g, gamma_b=g, gamma_r=g)
    ds = qtmsweep.solve("cqd", **c)
    fa1 = fermi((c["eps_L"] - c["mu_a"]) / c["T_a"])
    fa2 = fermi((c["eps_L"] + c["kappa"] - c["mu_a"]) / c["T_a"])
    fb1 = fermi((c["eps_L"] - c["mu_b"]) / c["T_b"])
    fb2 = fermi((c["eps_L"] + c["kappa"] - c["mu_b"]) / c["T_b"])
    fr1 = fermi((c["eps_R"] - c["mu_r"]) / c["T_r"])
    fr2 = fermi((c["eps_R"] + c["kappa"] - c["mu_r"]) / c["T_r"])
    f1, f2 = fa1 + fb1, fa2 + fb2
    num = f1 * (f2 * (fr2 - fr1) + 2 * fr2 * (fr1 - 1)) - 2 * fr1 * f2 * (fr2 - 1)
    den = 3 * f1 * (fr1 - fr2) - 6 + 3 * f2 * (fr2 - fr1)
    np.testing.assert_allclose(ds.cycle_flux, g * num / den, rtol=1e-9, atol=1e-14)


def test_reduced_model_I_has_no_particle_current_without_particle_force():
    """Model I (T_a = T_b) with F_N_b = 0 means a and b are one reservoir: J_N[b] = 0 for any γ."""
    c = random_cqd(300, 21)
    c["T_b"] = c["T_a"]
    c["mu_b"] = c["mu_a"]
    ds = qtmsweep.solve("cqd", **c)
    np.testing.assert_array_equal(ds.F_N_b, 0.0)
    scale = np.abs(ds.J_N.sel(lead="a")).max() + np.abs(ds.J_E).max()
    assert float(np.abs(ds.J_N.sel(lead="b")).max()) <= 1e-15 * float(scale)


@pytest.mark.parametrize("index", range(6))
def test_currents_match_60_digit_reference(index):
    c = random_cqd(6, 31)
    cell = {k: float(v[index]) for k, v in c.items()}
    pop, JE, JN = mp_pauli_cqd(cell)
    ds = qtmsweep.solve("cqd", **cell)
    np.testing.assert_allclose(ds.p, [float(x) for x in pop], rtol=1e-13)
    np.testing.assert_allclose(ds.J_E, [float(x) for x in JE], rtol=1e-11, atol=1e-16)
    np.testing.assert_allclose(ds.J_N.sel(lead=["a", "b"]), [float(x) for x in JN[:2]], rtol=1e-11, atol=1e-16)


@pytest.mark.parametrize("delta", [1e-6, 1e-10, 1e-13])
@pytest.mark.parametrize("bias", ["T_a", "mu_a", "T_r"])
def test_near_equilibrium_currents_keep_small_relative_error(delta, bias):
    """Forces ~δ: currents first order in δ keep a relative error ≪ 1e-6 (60-digit reference),
    and the reported bound ``rel_err`` covers the actual error of every reduced-model flux."""
    cell = dict(eps_L=1.0, eps_R=2.5, kappa=-1.5, T_a=1.0, T_b=1.0, T_r=1.0, mu_a=0.3, mu_b=0.3, mu_r=0.3,
                gamma_a=1.0, gamma_b=0.7, gamma_r=1.3)
    cell[bias] = cell[bias] + delta
    _, JE, JN = mp_pauli_cqd(cell)
    ds = qtmsweep.solve("cqd", **cell)
    ours = {"J_N_b": float(ds.J_N.sel(lead="b")), "J_E_b": float(ds.J_E.sel(lead="b")),
            "J_E_r": float(ds.J_E.sel(lead="r"))}
    ref = {"J_N_b": JN[1], "J_E_b": JE[1], "J_E_r": JE[2]}
    scale = max(abs(v) for v in ref.values())
    zero = [k for k in ours if abs(ref[k]) < 1e-45 * scale]  # exactly 0 (J_N[b] for T_r bias): 60-digit noise
    assert all(ours[k] == 0.0 and float(ds.rel_err.sel(lead=k[-1])) < 1e-9 for k in zero), (zero, ours)
    errors = {k: float(abs((ours[k] - ref[k]) / ref[k])) for k in ours if k not in zero}
    first_order = {k: e for k, e in errors.items() if abs(float(ref[k])) > 1e-3 * delta}
    assert first_order, errors
    assert max(first_order.values()) < 1e-9, errors
    for k, e in errors.items():  # each current within its own lead's bound
        bound = float(ds.rel_err.sel(lead=k[-1]))
        assert e <= bound, (k, e, bound)
    assert float(ds.sigma) > 0 and float(ds.sigma_micro) > 0


def test_generic_solver_flags_its_precision_loss_near_equilibrium():
    """The generic solver cannot resolve forces of 1e-13; it must say so in rel_err rather than hide it."""
    cell = dict(eps_L=1.0, eps_R=2.5, kappa=-1.5, T_a=1.0 + 1e-13, T_b=1.0, T_r=1.0, mu_a=0.3, mu_b=0.3,
                mu_r=0.3, gamma_a=1.0, gamma_b=0.7, gamma_r=1.3)
    _, JE, _ = mp_pauli_cqd(cell)
    ds = qtmsweep.solve("cqd", method="linear", **cell)
    actual_err = abs(float(ds.J_E.sel(lead="r")) - float(JE[2])) / abs(float(JE[2]))
    assert float(ds.rel_err.sel(lead="r")) > 1e-6
    assert float(ds.rel_err.sel(lead="r")) >= actual_err


@pytest.mark.parametrize("x_scale", [1e2, 1e3, 3e3])
def test_extreme_parameters_give_finite_results(x_scale):
    """|β(ω−μ)| up to ~1e3 and beyond: no overflow, no NaN, probabilities normalised."""
    c = random_cqd(200, 41)
    for lead in "abr":
        c[f"T_{lead}"] = c[f"T_{lead}"] / x_scale
    ds = qtmsweep.solve("cqd", **c)
    for var in ("p", "J_E", "J_N", "J_Q", "sigma", "sigma_micro", "F_E_r", "F_N_b"):
        assert np.all(np.isfinite(ds[var].values)), var
    np.testing.assert_allclose(ds.p.sum("state"), 1.0, rtol=1e-12)
    assert np.all(ds.sigma.values >= 0)


def test_kappa_c_kappa_s_pair_is_the_same_as_kappa():
    c = {k: float(v[0]) for k, v in random_cqd(1, 3).items()}
    kappa = c.pop("kappa")
    a = qtmsweep.solve("cqd", kappa=kappa, **c)
    b = qtmsweep.solve("cqd", kappa_c=max(kappa, 0) + 0.5, kappa_s=max(-kappa, 0) + 0.5, **c)
    np.testing.assert_allclose(a.J_E, b.J_E, rtol=1e-12)
    assert b.attrs["kappa"] == pytest.approx(kappa)


def test_log_domain_fallback_matches_60_digit_reference_where_tree_weights_underflow():
    """Cells with |β(ω−μ)| ~ 1e3–1e4 whose spanning-tree weights underflow double precision."""
    from qtmsweep.physics.models.cqd import _Z_SAFE

    c = random_cqd(400, 41)
    for lead in "abr":
        c[f"T_{lead}"] = c[f"T_{lead}"] / 3e3
    # matrix-tree theorem: Z = sum of the principal 3x3 minors of -W; find the cells where it underflows
    from scipy.special import expit

    E = np.stack([0 * c["eps_L"], c["eps_L"], c["eps_R"], c["eps_L"] + c["eps_R"] + c["kappa"]], axis=-1)
    W = np.zeros((400, 4, 4))
    for i, j, lead in [(0, 1, "a"), (0, 1, "b"), (2, 3, "a"), (2, 3, "b"), (0, 2, "r"), (1, 3, "r")]:
        x = (E[:, j] - E[:, i] - c[f"mu_{lead}"]) / c[f"T_{lead}"]
        W[:, j, i] += c[f"gamma_{lead}"] * expit(-x)
        W[:, i, j] += c[f"gamma_{lead}"] * expit(x)
    W[:, range(4), range(4)] -= W.sum(axis=1)
    with np.errstate(all="ignore"):
        Z = sum(np.linalg.det(np.delete(np.delete(-W, k, axis=1), k, axis=2)) for k in range(4))
    underflowing = np.flatnonzero(Z < _Z_SAFE)
    checked = 0
    for i in underflowing[:5]:
        cell = {k: float(v[i]) for k, v in c.items()}
        with mpmath.workdps(8000):  # rates span e^{-1e4}: the reference needs thousands of digits
            pop, JE, JN = mp_pauli_cqd(cell)
        ds = qtmsweep.solve("cqd", **cell)
        np.testing.assert_allclose(ds.p, [float(x) for x in pop], rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(ds.J_E, [float(x) for x in JE], rtol=1e-6, atol=1e-300)
        checked += 1
    assert checked >= 1, "no cell exercised the underflow fallback"
    assert _Z_SAFE > 0
