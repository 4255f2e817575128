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


FRIDGE_FIXED = dict(approach="local", eps1=1.0, eps2=1.0, delta_z=0.0, T_L=1.45, T_R=1.0, T_C=9.7, Gamma_L=3.0,
                    Gamma_R=1e-6, Gamma_C=3.0, Omega_L=4.0, Omega_R=4.0, eps_c=10.0)


def _counts(tmp_path, sweep):
    from qtmsweep.sweep.execute import RunOptions, run_sweep
    from qtmsweep.sweep.store import COUNTERS, read_bookkeeping

    store = tmp_path / "s.zarr"
    run_sweep(validate_config(make_config(s=sweep)), "s", store, RunOptions(cluster="inline", progress=False))
    book = read_bookkeeping(store)
    return dict(zip(COUNTERS, book["counts"].reshape(-1, len(COUNTERS)).sum(axis=0))), store


def test_a_pauli_store_counts_no_tur_violation(tmp_path):
    counts, _ = _counts(tmp_path, {**grid_sweep(9, 8), "cumulants": 2})
    assert counts["tur"] == 0 and counts["tur_classical_violations"] == 0


def test_a_coherent_fridge_store_counts_tur_violations_as_physics_not_bugs(tmp_path, open_store):
    """The local-ME fridge with δx ~ the rates beats the classical TUR (Q ≈ 1.993 < 2 beyond its
    bound) in a pocket of (δx, Ω_C): the coherent counter counts it, the bug counter does not."""
    from qtmsweep.analysis import analyze

    sweep = {"model": "qubit_fridge", "fixed": FRIDGE_FIXED, "cumulants": 2,
             "grid": {"delta_x": {"geomspace": [0.05, 1.0, 12]}, "Omega_C": {"linspace": [4.0, 12.0, 5]}},
             "chunks": {"delta_x": 6}}
    counts, store = _counts(tmp_path, sweep)
    ds = open_store(store)
    Q = (ds.tur * (1 + ds.tur_rel_err)).min("flux")
    assert counts["tur"] == 0
    assert counts["tur_classical_violations"] == int((Q < 2).sum()) > 0
    assert not bool(ds.classical_dynamics.any())
    out = analyze(ds)
    assert int(out.tur_violation.sum()) == counts["tur_classical_violations"]
    # δx -> 0 (no coherent coupling's effect) stays above the bound
    assert not bool(out.tur_violation.isel(delta_x=0).any())
