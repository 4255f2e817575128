"""``solve`` reads grid axes in place: the same Dataset as the kernel on broadcast copies, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.physics.models.cqd import KERNEL_PARAMETERS, closed_form
from qtmsweep.thermo.currents import conservation_residual

BASE = {"eps_L": 1.0, "eps_R": 2.5, "kappa": -1.5, "T_a": 1.0, "T_b": 1.2, "T_r": 0.8, "mu_a": 0.0, "mu_b": 0.3,
        "mu_r": 0.1, "gamma_a": 1.0, "gamma_b": 0.7, "gamma_r": 1.3}


def _expected(ds: xr.Dataset, params: dict) -> None:
    """Every variable of ``ds`` equals the kernel's output on explicitly broadcast flat arrays."""
    cells = tuple(d for d in ds.sigma.dims)
    shape = ds.sigma.shape
    flat = {}
    for k in KERNEL_PARAMETERS:
        v = params[k]
        if isinstance(v, xr.DataArray):
            v = v.broadcast_like(ds.sigma).transpose(*cells).values
        flat[k] = np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=float), shape)).reshape(-1)
    ss = closed_form(flat)
    n = int(np.prod(shape))
    want = {"p": ss.p, "J_E": ss.J_E, "J_N": ss.J_N, "J_Q": ss.J_Q, "sigma": ss.sigma, "sigma_micro": ss.sigma_micro,
            "rel_err": ss.rel_err, "sigma_rel_err": ss.sigma_rel_err, "cycle_flux": ss.extras["cycle_flux"][1],
            "residual_E": conservation_residual(ss.J_E), "residual_N": conservation_residual(ss.J_N),
            **ss.forces}
    for name, value in want.items():
        got = ds[name].transpose(*cells, ...).values.reshape(n, -1)
        assert np.array_equal(got, value.reshape(n, -1), equal_nan=True), name


def test_grid_axes_in_place_give_the_broadcast_kernel_result_bit_for_bit():
    rng = np.random.default_rng(11)
    g = qtmsweep.grid(T_a=np.sort(rng.uniform(0.3, 2, 9)), mu_b=np.sort(rng.uniform(-1, 1, 130)),
                      kappa=np.sort(rng.uniform(-2, 2, 3)))
    params = {**BASE, **g}
    ds = qtmsweep.solve("cqd", **params)
    _expected(ds, params)


def test_a_two_dim_dataarray_on_non_adjacent_grid_dims_is_still_exact():
    rng = np.random.default_rng(12)
    x, y, z = np.linspace(0.5, 1.5, 4), np.linspace(-1, 1, 5), np.linspace(-2, 2, 6)
    gamma = xr.DataArray(rng.uniform(0.1, 2, (4, 6)), dims=("x", "z"))
    params = {**BASE, "T_a": xr.DataArray(x, dims="x"), "mu_b": xr.DataArray(y, dims="y"),
              "kappa": xr.DataArray(z, dims="z"), "gamma_a": gamma}
    ds = qtmsweep.solve("cqd", **params)
    _expected(ds, params)


@pytest.mark.parametrize("shapes", [{"T_a": (5, 1), "mu_b": (1, 7)}, {"T_a": (5, 7), "mu_b": (7,)},
                                    {"T_a": (3, 1, 4), "mu_b": (2, 1), "kappa": (4,)}, {"T_a": (600,), "mu_b": (600,)}],
                         ids=["outer", "full+row", "three-d", "flat"])
def test_numpy_broadcasting_in_place_gives_the_broadcast_kernel_result_bit_for_bit(shapes):
    rng = np.random.default_rng(13)
    params = dict(BASE)
    for k, shp in shapes.items():
        params[k] = rng.uniform(0.3, 2, shp) if k == "T_a" else rng.uniform(-1, 1, shp)
    ds = qtmsweep.solve("cqd", **params)
    _expected(ds, params)


def test_array_inputs_are_shared_read_only_not_copied():
    rng = np.random.default_rng(14)
    T_a = rng.uniform(0.5, 2, 100)
    mu_b = rng.uniform(-1, 1, 100)
    ds = qtmsweep.solve("cqd", **{**BASE, "T_a": T_a, "mu_b": mu_b})
    assert np.shares_memory(ds.mu_b.values, mu_b) and not ds.mu_b.values.flags.writeable
    assert np.array_equal(ds.mu_b.values, mu_b)


@pytest.mark.parametrize("name, value, message", [
    ("T_a", np.nan, r"T_a=nan \(in 1 of 5000 values\) is not allowed"),
    ("T_a", -1.0, r"T_a=-1.0 \(in 1 of 5000 values\) is not allowed"),
    ("T_a", 1e-200, r"T_a=1e-200 is not allowed; allowed: a temperature >= 1e-150"),
    ("gamma_b", -0.5, r"gamma_b=-0.5 \(in 1 of 5000 values\) is not allowed"),
    ("mu_b", np.inf, r"mu_b=inf \(in 1 of 5000 values\) is not allowed"),
])
def test_a_bad_value_in_a_large_array_is_refused_naming_it(name, value, message):
    arr = np.full(5000, 0.7)
    arr[3210] = value
    with pytest.raises(ValueError, match=message):
        qtmsweep.solve("cqd", **{**BASE, name: arr})
