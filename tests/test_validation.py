"""issue 16: bad values and array inputs of `qtmsweep.solve` / `qtmsweep point` are refused with a
message naming the parameter -- never a ZeroDivisionError, a reshape error or a silent mislabel."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import qtmsweep

SQD = dict(eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
CLI = [sys.executable, "-m", "qtmsweep.cli"]


def test_sqd_at_1e_minus_200_is_refused_naming_the_temperature():
    """`qtmsweep point sqd ... T_l=1e-200 T_r=1e-200` ended in a ZeroDivisionError."""
    with pytest.raises(ValueError, match=r"T_l=1e-200 is not allowed; allowed: a temperature >= 1e-150"):
        qtmsweep.solve("sqd", **{**SQD, "T_l": 1e-200, "T_r": 1e-200})
    proc = subprocess.run([*CLI, "point", "sqd", "eps=1", "T_l=1e-200", "T_r=1e-200", "mu_l=0", "mu_r=0",
                           "gamma_l=1", "gamma_r=1"], capture_output=True, text=True)
    assert proc.returncode == 2 and "T_l=1e-200" in proc.stderr and "Traceback" not in proc.stderr


def test_the_smallest_temperature_allowed_gives_finite_results_for_every_model():
    from qtmsweep.thermo.invariants import FINITE_OUTPUTS
    from qtmsweep.validation import MIN_TEMPERATURE

    from qtmsweep.physics.registry import model_origin

    # the built-in models (models declared by other tests of the session carry no defaults)
    for name in [m for m in qtmsweep.available_models() if model_origin(m) == "built-in"]:
        model = qtmsweep.get_model(name)
        temps = [p.name for p in model.parameters if p.kind == "temperature"]
        ds = qtmsweep.solve(name, **{**model.defaults(), **{t: MIN_TEMPERATURE * (1 + i) for i, t in enumerate(temps)}})
        for out in FINITE_OUTPUTS:
            if out in ds:
                assert np.isfinite(ds[out].values).all(), (name, out)


def test_point_with_non_finite_results_warns_and_fails(monkeypatch, capsys):
    """Tiny valid temperatures printed NaN/inf with exit 0 and no warning."""
    from qtmsweep.cli import EXIT_FAILED, main

    solve_module = sys.modules["qtmsweep.solve"]  # the module (the package's `solve` is the function)
    real = solve_module.solve

    def lossy(*args, **kwargs):
        ds = real(*args, **kwargs)
        return ds.assign(sigma=ds.sigma * np.nan)

    monkeypatch.setattr(solve_module, "solve", lossy)
    code = main(["point", "sqd"] + [f"{k}={v}" for k, v in SQD.items()])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED and "sigma not finite" in err


def test_a_dataarray_labelled_other_than_its_values_is_refused():
    """`T_a` valued 1, 2 but labelled 5, 6 was computed at the values and labelled with the coordinate."""
    bad = xr.DataArray([1.0, 2.0], dims="T_l", coords={"T_l": [5.0, 6.0]})
    with pytest.raises(ValueError, match=r"T_l: the DataArray's values \[1.0, 2.0\] differ from its coordinate"):
        qtmsweep.solve("sqd", **{**SQD, "T_l": bad})
    good = xr.DataArray([1.0, 2.0], dims="x", coords={"x": [5.0, 6.0]})  # another dim: its labels are the user's
    assert qtmsweep.solve("sqd", **{**SQD, "T_l": good}).sizes["x"] == 2
    assert qtmsweep.solve("sqd", **{**SQD, **qtmsweep.grid(T_l=[1.0, 2.0])}).sizes["T_l"] == 2


@pytest.mark.parametrize("empty", [np.array([]), xr.DataArray(np.array([]), dims="x")], ids=["numpy", "xarray"])
def test_an_empty_array_is_refused_naming_the_parameter(empty):
    with pytest.raises(ValueError, match=r"T_r: an empty array \(shape \(0,\)\) is not allowed"):
        qtmsweep.solve("sqd", **{**SQD, "T_r": empty})


@pytest.mark.parametrize("dim", ["lead", "state"])
def test_a_dataarray_on_an_output_dim_is_refused(dim):
    with pytest.raises(ValueError, match=rf"eps: a DataArray on dim '{dim}' is not allowed"):
        qtmsweep.solve("sqd", **{**SQD, "eps": xr.DataArray([1.0, 2.0], dims=dim)})


# -- large cqd arrays: the value check runs in the kernel's read of the inputs ------------------------
_BAD_VALUES = [("T_a", np.nan), ("T_b", -1.0), ("T_r", 0.0), ("T_a", 1e-151), ("gamma_b", -1e-300),
               ("mu_b", np.inf), ("eps_L", -np.inf), ("kappa", np.nan), ("mu_r", -np.inf)]


def _large_cqd(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"eps_L": rng.uniform(-2, 2, n), "eps_R": rng.uniform(-2, 2, n), "kappa": rng.uniform(-2, 2, n),
            "T_a": rng.uniform(0.2, 3, n), "T_b": rng.uniform(0.2, 3, n), "T_r": rng.uniform(0.2, 3, n),
            "mu_a": rng.uniform(-1, 1, n), "mu_b": rng.uniform(-1, 1, n), "mu_r": rng.uniform(-1, 1, n),
            "gamma_a": rng.uniform(0.1, 2, n), "gamma_b": rng.uniform(0.1, 2, n), "gamma_r": rng.uniform(0.1, 2, n)}


@pytest.mark.parametrize("kernel", ["simd", "reference"])
@pytest.mark.parametrize("name, value", _BAD_VALUES)
def test_a_bad_value_in_a_large_cqd_array_gets_the_up_front_error_wherever_it_sits(monkeypatch, kernel, name, value):
    """Arrays of >= DEFER_MIN_SIZE values have their range checked in the kernel's pass over the
    inputs: the error is the one the up-front check gives (parameter, value, count, what is
    allowed), whichever block holds the value, and no result comes back."""
    from qtmsweep.physics.registry import get_model
    from qtmsweep.validation import DEFER_MIN_SIZE, check_value

    monkeypatch.setenv("QTMSWEEP_CQD_KERNEL", kernel)
    n = DEFER_MIN_SIZE + 77
    for at in (0, n // 2, n - 1):
        p = _large_cqd(n)
        p[name][at] = value
        with pytest.raises(ValueError) as want:
            check_value(get_model("cqd").parameter(name), p[name])
        with pytest.raises(ValueError) as got:
            qtmsweep.solve("cqd", **p)
        assert str(got.value) == str(want.value), at
        assert name in str(got.value)


def test_a_large_cqd_array_of_allowed_values_solves_and_signed_zero_rates_are_allowed():
    from qtmsweep.validation import DEFER_MIN_SIZE

    p = _large_cqd(DEFER_MIN_SIZE + 5, seed=3)
    p["gamma_a"][:10] = -0.0
    p["T_b"][7] = 1e-150  # the smallest temperature allowed
    ds = qtmsweep.solve("cqd", **p)
    assert ds.sizes["dim_0"] == DEFER_MIN_SIZE + 5
    assert np.isfinite(ds.J_E.values[11:]).all()


def test_the_kernels_input_minimum_keys_order_like_the_floats():
    from qtmsweep.physics.models.cqd_simd import min_key_to_float

    rng = np.random.default_rng(1)
    x = np.sort(np.concatenate([rng.normal(0, 1e3, 500), 10.0 ** rng.uniform(-300, 300, 200),
                                -(10.0 ** rng.uniform(-300, 300, 200)), [0.0, -0.0, 5e-324, -5e-324, np.inf, -np.inf]]))
    bits = x.view(np.int64)
    keys = bits ^ ((bits >> 63) & np.int64((1 << 63) - 1))
    assert np.all(np.diff(keys) >= 0)
    assert np.array_equal(min_key_to_float(keys), x)
    assert np.isnan(min_key_to_float(np.array([np.iinfo(np.int64).min]))).all()
