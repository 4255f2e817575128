"""The ``cumulants:`` and ``fluxes:`` keys of a sweep: validated at plan time, computed on the worker."""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from qtmsweep.sweep.config import ConfigError, validate_config
from qtmsweep.sweep.grid import build_plan
from tests.sweep.conftest import force_sweep, grid_sweep, make_config


def test_a_chunk_of_a_counting_sweep_equals_solve_with_cumulants():
    sweep = {**grid_sweep(5, 4), "cumulants": 3, "fluxes": ["J_E[r]", "J_N[b]"]}
    plan = build_plan(validate_config(make_config(s=sweep)), "s")
    ds = plan.compute((slice(0, 5), slice(0, 4)))
    assert list(ds.flux.values) == ["J_E[r]", "J_N[b]"] and "c3" in ds
    ref = qtmsweep.solve("cqd", cumulants=3, fluxes=["J_E[r]", "J_N[b]"],
                         **plan.chunk_parameters((slice(0, 5), slice(0, 4))))
    np.testing.assert_array_equal(ds.S.values, ref.S.transpose(*ds.S.dims).values)


def test_force_space_sweep_counts_the_pairs_default_fluxes():
    plan = build_plan(validate_config(make_config(s={**force_sweep("II", 4, 4), "cumulants": 2})), "s")
    ds = plan.compute((slice(0, 4), slice(0, 4)))
    assert list(ds.flux.values) == ["J_E[r]", "J_E[b]", "J_N[b]"]
    assert ds.tur.dims == ("F_E_b", "F_N_b", "flux")


@pytest.mark.parametrize("extra, match", [
    ({"cumulants": 2, "fluxes": ["J_N[z]"]}, r"sweeps\.s\.fluxes: .*lead 'z'"),
    ({"fluxes": ["J_N[b]"]}, r"sweeps\.s\.fluxes: .*need sweeps\.s\.cumulants"),
    ({"cumulants": 5}, r"cumulants"),
    ({"cumulants": 2, "fluxes": ["heat"]}, r"fluxes"),
])
def test_bad_counting_keys_are_refused_naming_the_key(extra, match):
    with pytest.raises(ConfigError, match=match):
        build_plan(validate_config(make_config(s={**grid_sweep(5, 4), **extra})), "s", probe=False)
