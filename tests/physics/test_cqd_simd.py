"""The SIMD ``cqd`` kernel against the reference kernel (its exp/expm1: ``test_vecmath.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from qtmsweep.physics.batch import GridParam
from qtmsweep.physics.models.cqd import KERNEL_PARAMETERS, closed_form
from qtmsweep.thermo.currents import conservation_residual

EPS = np.finfo(float).eps


def _random(n, rng):
    return {
        "eps_L": rng.uniform(-2, 2, n), "eps_R": rng.uniform(-2, 3, n), "kappa": rng.uniform(-2, 2, n),
        "T_a": rng.uniform(0.2, 3, n), "T_b": rng.uniform(0.2, 3, n), "T_r": rng.uniform(0.2, 3, n),
        "mu_a": rng.uniform(-1, 1, n), "mu_b": rng.uniform(-1, 1, n), "mu_r": rng.uniform(-1, 1, n),
        "gamma_a": rng.uniform(0.1, 2, n), "gamma_b": rng.uniform(0.1, 2, n), "gamma_r": rng.uniform(0.1, 2, n),
    }


def _near_equilibrium(n, rng):
    p = _random(n, rng)
    force = 10.0 ** rng.uniform(-12, -2, n)
    p["T_b"] = p["T_a"] * (1 + force * rng.choice([-1, 1], n))
    p["T_r"] = p["T_a"] * (1 + force * rng.uniform(-1, 1, n))
    p["mu_b"] = p["mu_a"] + force * rng.uniform(-1, 1, n)
    p["mu_r"] = p["mu_a"].copy()
    p["mu_r"][: n // 4] = p["mu_a"][: n // 4]
    p["T_b"][: n // 8] = p["T_a"][: n // 8]  # leads a and b one reservoir (J_N[a] = 0 exactly)
    p["mu_b"][: n // 8] = p["mu_a"][: n // 8]
    return p


def _extreme(n, rng):
    """beta*eps up to 200 (the fast path), and beyond 700 (cells redone by the reference kernel)."""
    p = _random(n, rng)
    scale = np.where(np.arange(n) % 3 == 0, 800.0, 200.0)
    p["T_a"] = p["T_a"] / scale * 2
    p["T_r"] = p["T_r"] / scale * 2
    p["eps_L"] = np.sign(p["eps_L"]) * (np.abs(p["eps_L"]) + 1.0)
    p["gamma_b"][::5] = 0.0  # a vanishing rate: the reference's log-domain cells
    p["gamma_a"][1::7] = 1e300
    return p


@pytest.mark.parametrize("cells", [_random, _near_equilibrium, _extreme], ids=["random", "near_eq", "extreme"])
def test_simd_kernel_agrees_with_the_reference_within_both_bounds(cells):
    prm = cells(3000, np.random.default_rng(7))
    fast = closed_form(prm, kernel="simd")
    ref = closed_form(prm, kernel="reference")
    np.testing.assert_allclose(fast.p, ref.p, rtol=64 * EPS, atol=0)
    for name in ("J_E", "J_N", "J_Q"):
        a, b = getattr(fast, name), getattr(ref, name)
        with np.errstate(invalid="ignore"):  # inf * 0: no bound for that component
            bound = (fast.rel_err + ref.rel_err) * np.abs(b) * (1 + 1e-12)
        sure = np.isfinite(bound)
        assert sure.mean() > 0.5
        assert np.all(np.abs(a - b)[sure] <= bound[sure]), name
        assert np.array_equal(a == 0, b == 0), name  # exact zeros (J_N[r], J_N[a] for one reservoir) stay exact
    with np.errstate(invalid="ignore"):
        sb = (fast.sigma_rel_err + ref.sigma_rel_err) * np.abs(ref.sigma) * (1 + 1e-12)
    sure = np.isfinite(sb)
    assert np.all(np.abs(fast.sigma - ref.sigma)[sure] <= sb[sure])
    # sigma_micro: every term >= 0, so a relative difference of a few hundred ulp at most
    np.testing.assert_allclose(fast.sigma_micro, ref.sigma_micro, rtol=1e-12, atol=0)
    # the signs the bounds resolve agree
    for name in ("J_E", "J_Q"):
        a, b = getattr(fast, name), getattr(ref, name)
        resolved = (fast.rel_err < 1) & (ref.rel_err < 1)
        assert np.array_equal(np.sign(a[resolved]), np.sign(b[resolved]))


def test_cells_beyond_the_fast_path_are_the_reference_bit_for_bit():
    prm = _extreme(600, np.random.default_rng(3))
    fast = closed_form(prm, kernel="simd")
    ref = closed_form(prm, kernel="reference")
    x = np.abs((prm["eps_L"] - prm["mu_a"]) / prm["T_a"])
    beyond = (x > 700) | (prm["gamma_b"] == 0)
    assert beyond.sum() > 50
    for name in ("p", "J_E", "J_N", "J_Q", "rel_err", "sigma", "sigma_micro", "sigma_rel_err"):
        assert np.array_equal(getattr(fast, name)[beyond], getattr(ref, name)[beyond], equal_nan=True), name


def test_fused_residuals_equal_the_thermo_layer_residuals():
    prm = _random(2000, np.random.default_rng(4))
    prm["gamma_b"][::9] = 0.0
    fast = closed_form(prm, kernel="simd")
    assert np.array_equal(fast.residual_E, conservation_residual(fast.J_E), equal_nan=True)
    assert np.array_equal(fast.residual_N, conservation_residual(fast.J_N), equal_nan=True)


def test_grid_parameters_read_in_place_give_the_broadcast_result_bit_for_bit():
    rng = np.random.default_rng(5)
    shape = (7, 300, 5)  # not a multiple of the block: runs cross block edges
    T_a = rng.uniform(0.3, 2, shape[0])
    mu_b = rng.uniform(-1, 1, shape[1])
    kappa = rng.uniform(-2, 2, shape[2])
    n = int(np.prod(shape))
    base = {k: 1.0 + 0.1 * i for i, k in enumerate(KERNEL_PARAMETERS)}
    grid = dict(base, T_a=GridParam(T_a, shape[1] * shape[2], shape[0]), mu_b=GridParam(mu_b, shape[2], shape[1]),
                kappa=GridParam(kappa, 1, shape[2]))
    flat = dict(base, T_a=np.broadcast_to(T_a[:, None, None], shape).ravel(),
                mu_b=np.broadcast_to(mu_b[None, :, None], shape).ravel(),
                kappa=np.broadcast_to(kappa[None, None, :], shape).ravel())
    a = closed_form(grid, kernel="simd", cells=n)
    b = closed_form(flat, kernel="simd")
    for name in ("p", "J_E", "J_N", "J_Q", "rel_err", "sigma", "sigma_micro", "sigma_rel_err", "residual_E"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_unknown_kernel_is_refused_naming_the_choices(monkeypatch):
    prm = {k: 1.0 for k in KERNEL_PARAMETERS}
    with pytest.raises(ValueError, match=r"kernel='fast' is not allowed; allowed: 'simd', 'reference'"):
        closed_form(prm, kernel="fast")
    monkeypatch.setenv("QTMSWEEP_CQD_KERNEL", "scalar")
    with pytest.raises(ValueError, match=r"QTMSWEEP_CQD_KERNEL='scalar' is not allowed"):
        closed_form(prm)
    monkeypatch.setenv("QTMSWEEP_CQD_KERNEL", "reference")
    assert closed_form(prm).residual_E is None  # the reference kernel ran
