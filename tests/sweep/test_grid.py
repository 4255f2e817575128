"""Grid -> coordinates, force-space grids, chunk bookkeeping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.physics.reduced import force_space_parameters
from qtmsweep.sweep.config import ConfigError, validate_config
from qtmsweep.sweep.grid import auto_chunks, axis_values, build_plan

from .conftest import CQD_FIXED, force_sweep, grid_sweep, make_config


@pytest.mark.parametrize("spec, expected", [
    ({"linspace": [0.2, 2.0, 10]}, np.linspace(0.2, 2.0, 10)),
    ({"logspace": [-2, 1, 4]}, np.logspace(-2, 1, 4)),
    ({"geomspace": [0.1, 10.0, 3]}, np.geomspace(0.1, 10.0, 3)),
    ({"values": [0.0, 0.5, 3]}, np.array([0.0, 0.5, 3.0])),
    ({"linspace": [1.5, 1.5, 1]}, np.array([1.5])),
])
def test_axis_specs_give_numpys_coordinates(spec, expected):
    values = axis_values(spec, "k")
    assert values.dtype == np.float64
    assert np.array_equal(values, expected)


def test_grid_axes_become_dimension_coordinates_in_config_order():
    plan = build_plan(validate_config(make_config(s=grid_sweep(13, 7))), "s")
    assert plan.dims == ("T_a", "mu_a") and plan.shape == (13, 7) and plan.n_cells == 91
    assert np.array_equal(plan.coords()["T_a"], np.linspace(0.2, 2.0, 13))
    s = grid_sweep()
    s["grid"] = {"mu_a": s["grid"]["mu_a"], "T_a": s["grid"]["T_a"]}
    assert build_plan(validate_config(make_config(s=s)), "s").dims == ("mu_a", "T_a")


def test_force_space_plan_has_force_dims_after_grid_dims():
    s = force_sweep("II", 5, 6, chunks={})
    s["fixed"].pop("kappa")
    s["grid"] = {"kappa": {"values": [-1.5, 1.5]}}
    plan = build_plan(validate_config(make_config(s=s)), "s")
    assert plan.dims == ("kappa", "F_E_b", "F_N_b") and plan.shape == (2, 5, 6)
    assert plan.extra_attrs["reduced_model"] == "II" and plan.extra_attrs["forces_parallel"] is True


@pytest.mark.parametrize("model", ["I", "II"])
def test_force_space_chunk_carries_the_implied_temperatures_and_potentials(model):
    plan = build_plan(validate_config(make_config(s=force_sweep(model, 5, 6))), "s")
    ds = plan.compute((slice(0, 5), slice(0, 6)))
    fe, beta = ("F_E_r", "beta_r") if model == "I" else ("F_E_b", "beta_b")
    F_E = xr.DataArray(np.linspace(0, 1, 5), dims=(fe,))
    F_N = xr.DataArray(np.linspace(-1, 4, 6), dims=("F_N_b",))
    implied = force_space_parameters(model, mu_b=1.0, F_N_b=F_N, **{fe: F_E, beta: 1.0})
    assert ds.sizes[fe] == 5 and ds.sizes["F_N_b"] == 6
    for name, value in implied.items():
        stored = ds[name] if name in ds else ds.attrs[name]
        np.testing.assert_array_equal(np.broadcast_to(np.asarray(stored), (5, 6)),
                                      np.broadcast_to(xr.DataArray(value).broadcast_like(ds.sigma).values
                                                      if np.ndim(value) else value, (5, 6)))
    # the solved forces are the grid's forces
    general = ds["F_E_b"] if model == "I" else ds["F_E_r"]
    assert np.isfinite(general).all()


def test_forces_are_recomputed_consistently_by_the_model():
    """The dataset's force coordinates equal the forces solve derives from the implied T's and mu's."""
    plan = build_plan(validate_config(make_config(s=force_sweep("I", 4, 5))), "s")
    params = plan.chunk_parameters((slice(0, 4), slice(0, 5)))
    rename = {"F_E_r": "x", "F_N_b": "y"}  # other dim names: F_E_r / F_N_b come out as variables
    params = {k: (xr.DataArray(v.values, dims=[rename[d] for d in v.dims]) if isinstance(v, xr.DataArray) else v)
              for k, v in params.items()}
    ds = qtmsweep.solve("cqd", **params).transpose("x", "y", ...)
    np.testing.assert_allclose(ds.F_E_r.values, np.broadcast_to(np.linspace(0, 1, 4)[:, None], (4, 5)), atol=1e-14)
    np.testing.assert_allclose(ds.F_N_b.values, np.broadcast_to(np.linspace(-1, 4, 5)[None, :], (4, 5)), atol=1e-13)


def test_chunks_tile_the_grid_exactly_once():
    plan = build_plan(validate_config(make_config(s=grid_sweep(13, 7, chunks={"T_a": 4, "mu_a": 3}))), "s")
    assert plan.chunks == (4, 3) and plan.chunk_grid == (4, 3) and plan.n_chunks == 12
    hits = np.zeros(plan.shape, dtype=int)
    for index in plan.iter_chunks():
        sl = plan.chunk_slices(index)
        hits[sl] += 1
        assert plan.chunk_cells(index) == hits[sl].size
    assert (hits == 1).all()
    assert sum(plan.chunk_cells(i) for i in plan.iter_chunks()) == plan.n_cells
    assert [plan.chunk_index(f) for f in range(plan.n_chunks)] == list(itertools.product(range(4), range(3)))


def test_chunk_parameters_hold_only_the_chunks_slices():
    plan = build_plan(validate_config(make_config(s=grid_sweep(13, 7))), "s")
    params = plan.chunk_parameters((slice(4, 8), slice(3, 6)))
    assert params["T_a"].dims == ("T_a",) and params["T_a"].size == 4
    np.testing.assert_array_equal(params["T_a"].values, np.linspace(0.2, 2.0, 13)[4:8])
    assert params["mu_a"].size == 3
    assert all(np.ndim(v) == 0 for k, v in params.items() if k not in ("T_a", "mu_a"))


def test_minus_one_and_unnamed_dims_in_chunks():
    plan = build_plan(validate_config(make_config(s=grid_sweep(13, 7, chunks={"mu_a": -1}))), "s")
    assert plan.chunks[1] == 7
    s = grid_sweep(100, 50, chunks={})
    s["chunk_cells"] = 1000
    plan = build_plan(validate_config(make_config(s=s)), "s")
    assert plan.chunks == (20, 50)  # trailing dim whole, leading split evenly


def test_auto_chunks_bound_the_chunk_size_for_any_grid():
    for shape in [(10,), (1000, 1000), (7, 300, 300), (3163, 3163), (5, 5, 5, 5000)]:
        chunks = auto_chunks(shape, {}, 131072)
        assert int(np.prod(chunks)) <= 131072
        assert all(1 <= c <= n for c, n in zip(chunks, shape))
    assert auto_chunks((10, 10), {}, 131072) == (10, 10)


@pytest.mark.parametrize("n1, n2", [(13, 7), (201, 201), (2000, 1000), (3163, 3163), (20_000, 10_000)])
def test_default_chunks_depend_on_the_grid_alone_and_keep_enough_chunks(n1, n2):
    s = grid_sweep(n1, n2, chunks={})
    plan = build_plan(validate_config(make_config(s=s)), "s", probe=False)
    cells = int(np.prod(plan.chunks))
    assert cells <= 524_288
    if plan.n_cells >= 16 * 16_384:  # big enough grids are cut into >= 16 chunks of >= 16384 cells
        assert plan.n_chunks >= 16 and cells >= 16_384 // 2
    s["chunk_cells"] = 1000  # an explicit target wins
    assert int(np.prod(build_plan(validate_config(make_config(s=s)), "s", probe=False).chunks)) <= 1000


def test_plan_is_deterministic_and_picklable():
    import pickle

    cfg = validate_config(make_config(s=force_sweep("I")))
    a, b = build_plan(cfg, "s"), build_plan(cfg, "s")
    assert a.config_sha256 == b.config_sha256 and a.chunks == b.chunks
    c = pickle.loads(pickle.dumps(a))
    sl = c.chunk_slices((1, 0))
    xr.testing.assert_identical(c.compute(sl), a.compute(sl))


def test_probe_runs_the_kernel_on_the_first_cell():
    plan = build_plan(validate_config(make_config(s=grid_sweep())), "s")
    probe = plan.probe()
    assert probe.sizes["T_a"] == 1 and probe.sizes["mu_a"] == 1
    ref = qtmsweep.solve("cqd", T_a=0.2, mu_a=-1.0, **CQD_FIXED)
    assert float(probe.sigma.squeeze()) == float(ref.sigma)


def _chain_reverse(**over):
    sweep = {"model": "chain", "fixed": {"N": 2, "stat": "qubit", "approach": "global", "omega": 1.0, "g": 0.8,
                                         "gamma_L": 0.01, "gamma_R": 0.02, "T_R": 0.004},
             "grid": {"T_L": {"values": [0.5, 1.0, 2.0]}}, "reverse": [["T_L", "T_R"]]}
    sweep.update(over)
    return validate_config({"sweeps": {"r": sweep}}, check=False)


def test_reverse_block_adds_a_direction_axis_of_exactly_two_runs():
    plan = build_plan(_chain_reverse(), "r")
    assert plan.dims == ("T_L", "direction") and plan.shape == (3, 2)
    ds = plan.compute(tuple(slice(0, n) for n in plan.shape))
    # direction 1 holds the run with T_L and T_R swapped, labelled by the forward T_L
    ref = qtmsweep.solve("chain", N=2, stat="qubit", approach="global", omega=1.0, g=0.8, gamma_L=0.01,
                         gamma_R=0.02, T_L=0.004, T_R=np.array([0.5, 1.0, 2.0]))
    np.testing.assert_array_equal(ds.J_Q.sel(direction=1.0).transpose("T_L", "lead").values, ref.J_Q.values)
    assert ds.attrs["reverse_swap"] == [["T_L", "T_R"]]


@pytest.mark.parametrize("reverse, needle", [
    ([["T_L", "T_X"]], "'T_X' is neither fixed nor swept"),
    ([["T_L", "T_L"]], "two different parameter names"),
    ([["T_L", "T_R"], ["T_R", "gamma_L"]], "T_R appears in two pairs"),
    ([["T_L", "N"]], "structural parameter"),
    # each value valid for its new parameter, but the reverse run breaks the global chain's g < omega
    # (it failed in its chunks before; issue 16)
    ([["T_L", "g"]], r"the reverse run: g=2.0 is not allowed with approach='global' at omega=1.0"),
    ([["T_R", "omega"]], r"the reverse run: g=0.8 is not allowed with approach='global' at omega=0.004"),
    ([["gamma_L", "gamma_R"]], None),  # a valid reverse run
])
def test_reverse_block_refusals_name_the_key(reverse, needle):
    cfg = _chain_reverse(reverse=reverse)
    if needle is None:
        build_plan(cfg, "r", probe=False)
        return
    with pytest.raises(ConfigError, match=needle) as err:
        build_plan(cfg, "r", probe=False)
    assert "sweeps.r.reverse" in str(err.value)


def test_reverse_run_values_are_checked_for_their_new_parameter():
    cfg = _chain_reverse(reverse=[["T_L", "omega"]])
    cfg["sweeps"]["r"]["fixed"]["omega"] = -1.0  # a valid energy, not a valid temperature
    with pytest.raises(ConfigError, match="reverse run gives T_L the values of its partner"):
        build_plan(cfg, "r", probe=False)
