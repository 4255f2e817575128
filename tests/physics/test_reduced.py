"""Reduced models I/II of ``cqd`` and their force-space coordinates (SPEC §2)."""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from qtmsweep.physics.reduced import REDUCED_MODELS, force_space_parameters

FIXED = dict(eps_L=1.0, eps_R=2.5, kappa=1.5, mu_r=0.0, gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)


@pytest.mark.parametrize("model, F1", [("I", "F_E_r"), ("II", "F_E_b")])
def test_force_space_coordinates_reproduce_the_requested_forces(model, F1):
    f1 = qtmsweep.grid(**{F1: np.linspace(-0.5, 2.0, 6)})[F1]
    fn = qtmsweep.grid(F_N_b=np.linspace(-1.0, 3.0, 5))["F_N_b"]
    ref = {"beta_r": 1.0} if model == "I" else {"beta_b": 1.0}
    params = force_space_parameters(model, **{F1: f1}, F_N_b=fn, mu_b=1.0, **ref)
    ds = qtmsweep.solve("cqd", **FIXED, **params)
    computed = qtmsweep.get_model("cqd").forces({k: ds[k] if k in ds else ds.attrs[k]
                                                 for k in ("T_a", "T_b", "T_r", "mu_a", "mu_b")})
    assert ds.sigma.dims == (F1, "F_N_b") and F1 not in ds.data_vars  # the forces are the coordinates
    np.testing.assert_allclose(computed[F1].broadcast_like(ds.sigma), f1.broadcast_like(ds.sigma), rtol=1e-12)
    np.testing.assert_allclose(computed["F_N_b"].broadcast_like(ds.sigma), fn.broadcast_like(ds.sigma),
                               rtol=1e-12, atol=1e-15)
    other = "F_E_b" if model == "I" else "F_E_r"
    np.testing.assert_array_equal(ds[other], 0.0)  # the reduced model's third force vanishes exactly
    assert REDUCED_MODELS[model].forces == (F1, "F_N_b")


def test_model_I_and_II_record_whether_their_forces_are_parallel():
    assert REDUCED_MODELS["I"].forces_parallel is False
    assert REDUCED_MODELS["II"].forces_parallel is True


def test_force_that_needs_negative_temperature_is_refused_naming_it():
    with pytest.raises(ValueError, match="F_E_r=-2.0"):
        force_space_parameters("I", F_E_r=np.array([0.0, -2.0]), F_N_b=0.0, beta_r=1.0, mu_b=1.0)


def test_unknown_reduced_model_is_refused():
    with pytest.raises(ValueError, match="reduced_model='III'"):
        force_space_parameters("III", F_N_b=0.0, mu_b=1.0)
