"""The ``solve`` entry point: inputs, dims, metadata and refusal of bad parameters."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import qtmsweep

SQD = dict(eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)


def test_scalars_give_a_zero_dimensional_cell_with_parameters_in_attrs():
    ds = qtmsweep.solve("sqd", **SQD)
    assert ds.sigma.dims == ()
    assert ds.J_E.dims == ("lead",) and list(ds.lead.values) == ["l", "r"]
    assert ds.p.dims == ("state",) and list(ds.state.values) == ["0", "1"]
    assert ds.attrs["model"] == "sqd" and ds.attrs["T_l"] == 2.0
    assert ds.attrs["qtmsweep_version"] == qtmsweep.__version__


def test_every_variable_has_units_and_long_name():
    ds = qtmsweep.solve("cqd", **qtmsweep.get_model("cqd").defaults())
    for name, var in ds.data_vars.items():
        assert var.attrs.get("units") and var.attrs.get("long_name"), name


def test_dataarrays_keep_their_dims_and_coords_and_align_by_name():
    T = xr.DataArray([0.5, 1.0, 2.0], dims="T_l", coords={"T_l": [0.5, 1.0, 2.0]})
    mu = xr.DataArray([-0.5, 0.5], dims="mu_l", coords={"mu_l": [-0.5, 0.5]})
    ds = qtmsweep.solve("sqd", **{**SQD, "T_l": T, "mu_l": mu})
    assert ds.J_N.dims == ("T_l", "mu_l", "lead")
    np.testing.assert_array_equal(ds.T_l, [0.5, 1.0, 2.0])
    one = qtmsweep.solve("sqd", **{**SQD, "T_l": 1.0, "mu_l": 0.5})
    assert float(ds.J_N.sel(T_l=1.0, mu_l=0.5, lead="l")) == float(one.J_N.sel(lead="l"))


def test_numpy_arrays_broadcast():
    ds = qtmsweep.solve("sqd", **{**SQD, "eps": np.linspace(0, 1, 5)[:, None], "T_l": np.array([1.0, 2.0, 3.0])})
    assert ds.sigma.dims == ("dim_0", "dim_1") and ds.sigma.shape == (5, 3)
    assert "eps" in ds and "T_l" in ds


def test_single_numpy_axis_is_named_after_its_parameter():
    ds = qtmsweep.solve("sqd", **{**SQD, "eps": np.linspace(0, 1, 5)})
    assert ds.sigma.dims == ("eps",)


def test_grid_helper_builds_outer_products():
    ds = qtmsweep.solve("sqd", **{**SQD, **qtmsweep.grid(eps=[0.0, 1.0], mu_r=[0.0, 0.1, 0.2])})
    assert dict(ds.sigma.sizes) == {"eps": 2, "mu_r": 3}


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"T_l": 0.0}, "T_l=0.0"),
        ({"T_l": -1.0}, "T_l=-1.0"),
        ({"T_r": np.array([1.0, -2.0])}, "T_r=-2.0"),
        ({"T_r": float("nan")}, "T_r=nan"),
        ({"mu_l": float("inf")}, "mu_l=inf"),
        ({"gamma_l": -0.1}, "gamma_l=-0.1"),
        ({"eps": "one"}, "eps='one'"),
        ({"bogus": 1.0}, "'bogus' is not a parameter"),
    ],
)
def test_bad_parameters_raise_value_error_naming_the_parameter(override, fragment):
    with pytest.raises(ValueError) as err:
        qtmsweep.solve("sqd", **{**SQD, **override})
    assert fragment in str(err.value)
    assert "allowed" in str(err.value)


def test_missing_parameter_is_named():
    params = dict(SQD)
    del params["gamma_r"]
    with pytest.raises(ValueError, match="gamma_r"):
        qtmsweep.solve("sqd", **params)


def test_wrong_shapes_are_refused_naming_the_parameters():
    with pytest.raises(ValueError, match="eps.*T_l|T_l.*eps"):
        qtmsweep.solve("sqd", **{**SQD, "eps": np.zeros(3), "T_l": np.ones(4)})


def test_mixing_numpy_and_dataarray_is_refused():
    with pytest.raises(ValueError, match="DataArray"):
        qtmsweep.solve("sqd", **{**SQD, "eps": np.zeros(3), "T_l": xr.DataArray([1.0, 2.0], dims="T_l")})


def test_unknown_model_lists_known_models():
    with pytest.raises(ValueError, match="cqd"):
        qtmsweep.solve("nope", eps=1.0)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        qtmsweep.solve("sqd", method="magic", **SQD)


def test_kappa_pair_refuses_negative_and_mixed_parametrisations():
    base = {k: v for k, v in qtmsweep.get_model("cqd").defaults().items() if k != "kappa"}
    with pytest.raises(ValueError, match="kappa_s=-1.0 is not allowed"):
        qtmsweep.solve("cqd", kappa_c=1.0, kappa_s=-1.0, **base)
    with pytest.raises(ValueError, match="not both"):
        qtmsweep.solve("cqd", kappa=1.0, kappa_c=1.0, kappa_s=0.0, **base)
