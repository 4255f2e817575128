"""Model constraints and alias values are checked before any work or store (issue 16): over the whole
grid, without building the outer product of its axes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import qtmsweep
from qtmsweep.sweep import ConfigError, validate_config

from .conftest import cli, make_config, no_traceback, write_config

CHAIN_FIXED = {"N": 2, "stat": "qubit", "omega": 1.0, "T_L": 1.0, "T_R": 0.5, "gamma_L": 0.01, "gamma_R": 0.02}


def chain_global_sweep(g_max: float = 1.5) -> dict:
    """004's two-qubit chain, global approach, with a g axis that crosses omega = 1 when g_max > 1."""
    fixed = {k: v for k, v in CHAIN_FIXED.items() if k != "T_L"}
    return {"model": "chain", "fixed": {**fixed, "approach": "global"},
            "grid": {"g": {"linspace": [0.05, g_max, 12]}, "T_L": {"linspace": [0.6, 2.0, 5]}}}


def kerr_sweep(eps_c: float, N: int = 3) -> dict:
    m = qtmsweep.get_model("kerr_fridge")
    fixed = {**m.defaults(), "N1": N, "N2": N, "eps_c": eps_c}
    fixed.pop("T_L")
    return {"model": "kerr_fridge", "fixed": fixed, "grid": {"T_L": {"linspace": [1.05, 2.0, 6]}}}


def test_chain_global_with_a_g_grid_crossing_omega_is_refused_at_validation(tmp_path):
    with pytest.raises(ConfigError) as err:
        validate_config(make_config(s=chain_global_sweep()))
    msg = str(err.value)
    assert msg.startswith("sweeps.s: g=1.5 is not allowed with approach='global' at omega=1.0")
    assert "allowed: 0 <= g < omega" in msg and "grid corner" in msg
    validate_config(make_config(s=chain_global_sweep(0.95)))  # below omega everywhere: accepted


def test_cli_run_refuses_the_chain_grid_before_any_store(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", make_config(s=chain_global_sweep()))
    out = tmp_path / "out"
    run = cli("run", cfg, "--out", out, "--no-progress")
    no_traceback(run)
    assert run.returncode == 2 and "g=1.5 is not allowed with approach='global'" in run.stderr
    assert not out.exists()


def test_solve_refuses_chain_global_at_g_above_omega_naming_the_cell():
    with pytest.raises(ValueError, match=r"g=1.2 is not allowed with approach='global' at omega=1.0; allowed: 0 <= g"):
        qtmsweep.solve("chain", **{**CHAIN_FIXED, "approach": "global"}, g=np.array([0.5, 1.2]))


def test_kerr_fridge_with_eps_c_below_a_transition_is_refused_at_validation():
    # defaults eps1 = eps2 = 1, delta_z = 0.05, N = 3: the steps of the 5 x 3 truncation solve span 1.0 .. 1.2
    # for resonator 2 and 1.0 .. 1.1 for resonator 1; below 1.1 a row and a column are both cut
    with pytest.raises(ConfigError, match=r"sweeps.s: eps_c=1.08 cuts both ladders of the 5 x 3 solve .*"
                                          r"allowed: eps_c >= 1.1 "):
        validate_config(make_config(s=kerr_sweep(1.08)))
    with pytest.raises(ConfigError, match=r"eps_c=0.5 cuts both ladders"):
        validate_config(make_config(s=kerr_sweep(0.5)))
    validate_config(make_config(s=kerr_sweep(1.12)))  # only the top rows cut: every state still connected


@pytest.mark.parametrize("eps_c, singular", [(0.5, True), (1.08, True), (1.12, False), (10.0, False)])
def test_the_kerr_cutoff_check_refuses_exactly_the_cutoffs_without_a_steady_state(eps_c, singular):
    """What the check prevents, and what it lets through: the kernel itself (without the check) has no
    steady state (NaN, its elimination fails) exactly where the check refuses."""
    from qtmsweep.physics.models.kerr_fridge import evaluate

    m = qtmsweep.get_model("kerr_fridge")
    params = {**m.defaults(), "N1": 3, "N2": 3, "eps_c": eps_c}
    flat = {k: (np.array([v]) if not isinstance(v, (str, int)) else v) for k, v in params.items()}
    solved = evaluate(flat, "linear")
    J = np.concatenate([solved.J_E.ravel(), solved.extras["truncation_err"][1].ravel()])
    assert np.isnan(J).any() == singular
    if singular:
        with pytest.raises(ValueError, match=rf"eps_c={eps_c} cuts both ladders"):
            qtmsweep.solve("kerr_fridge", **params)
    else:
        assert np.isfinite(qtmsweep.solve("kerr_fridge", **params).J_Q).all()


def test_alias_values_are_checked_over_the_whole_grid_naming_the_corner():
    """T_R = T - dT/2 is <= 0 only where T is smallest and dT largest: found without the outer product."""
    sweep = {"model": "chain", "fixed": {k: v for k, v in CHAIN_FIXED.items() if k not in ("T_L", "T_R")} | {"g": 0.01, "approach": "local"},
             "grid": {"T": {"linspace": [0.2, 2.0, 7]}, "dT": {"linspace": [-0.3, 0.5, 5]}}}
    with pytest.raises(ConfigError, match=r"sweeps.s: T_R=-0\.0[45]\d* is not allowed; allowed: a finite "
                                          r"number > 0 \(at the grid corner T=0.2, dT=0.5\)"):
        validate_config(make_config(s=sweep))


def test_validating_a_30000_squared_T_dT_grid_allocates_no_outer_product():
    """The T/dT aliases built the full outer product during validation (6.7 GiB for 30000^2)."""
    n = 30_000
    sweep = {"model": "chain", "fixed": {k: v for k, v in CHAIN_FIXED.items() if k not in ("T_L", "T_R")} | {"g": 0.01, "approach": "local"},
             "grid": {"T": {"linspace": [1.0, 2.0, n]}, "dT": {"linspace": [-0.5, 0.5, n]}}}
    cfg = make_config(s=sweep)
    validate_config(make_config(s={**sweep, "grid": {"T": {"linspace": [1.0, 2.0, 3]},
                                                     "dT": {"linspace": [-0.5, 0.5, 3]}}}))  # imports, caches
    tracemalloc.start()
    try:
        validate_config(cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outer = n * n * 8  # one float64 alias value per cell: 6.7 GiB
    axes = 2 * n * 8
    assert peak < 64 * axes + 16 * 2**20, f"validation peaked at {peak / 2**20:.1f} MiB (outer product {outer / 2**30:.1f} GiB)"


# -- a singular cell is flagged, never fatal to its chunk ------------------------------------------

def _singular_corner_sweep(model: str, fixed: dict, a: str, b: str, on: float, method: str = "auto") -> dict:
    """A 3 x 3 grid of two couplings in one chunk; only the cell where both are 0 has no unique steady state."""
    return {"model": model, "method": method, "fixed": fixed,
            "grid": {a: {"values": [0.0, 0.5 * on, on]}, b: {"values": [0.0, 0.5 * on, on]}}}


@pytest.mark.parametrize("model, method, a, b, on", [("cqd", "linear", "gamma_a", "gamma_b", 1.0),
                                                     ("chain", "auto", "gamma_L", "gamma_R", 0.01)])
def test_a_singular_cell_is_nan_and_counted_while_the_rest_of_its_chunk_is_computed(tmp_path, model, method, a, b, on):
    from qtmsweep.sweep import run_sweep

    from .conftest import CQD_FIXED, INLINE

    if model == "cqd":  # gamma_a = gamma_b = 0: dot L has no lead, its occupation is undetermined
        fixed = {k: v for k, v in CQD_FIXED.items() if k not in (a, b)} | {"T_a": 1.0, "mu_a": 0.0}
    else:  # no bath at either end: the chain keeps any state
        fixed = {k: v for k, v in CHAIN_FIXED.items() if k not in (a, b)} | {"g": 0.01, "approach": "local"}
    cfg = validate_config(make_config(s=_singular_corner_sweep(model, fixed, a, b, on, method)))
    result = run_sweep(cfg, "s", tmp_path / "s.zarr", INLINE)
    assert result.complete
    import xarray as xr

    with xr.open_zarr(str(tmp_path / "s.zarr")) as ds:
        ds = ds.load()
    J = ds.J_E.transpose(a, b, "lead").values
    assert np.isnan(J[0, 0]).all()
    assert np.isfinite(J.reshape(9, -1)[1:]).all()  # the other 8 cells of the chunk
    assert ds.attrs["invariant_singular"] == 1 and ds.attrs["invariant_nonfinite"] == 1


# -- a per-model memory estimate refuses what cannot fit, or sub-batches so that it does -------------

def test_kerr_fridge_1000_by_1000_levels_is_refused_with_the_estimate_and_what_to_do():
    """kerr_fridge N1 = N2 = 1000 tried 7.3 TiB (one dense rate matrix of 1e6 states)."""
    with pytest.raises(ConfigError) as err:
        validate_config(make_config(s=kerr_sweep(100.0, N=1000)))
    msg = str(err.value)
    d = 1002 * 1000
    from qtmsweep.validation import format_bytes

    assert f"needs an estimated {format_bytes(32 * d * d + 4096 * d)}" in msg and "TiB" in msg
    assert "allowed: at most 256.00 MiB" in msg and "lower N1 or N2" in msg
    m = qtmsweep.get_model("kerr_fridge")
    with pytest.raises(ValueError, match=r"needs an estimated .* TiB .*this machine's memory"):
        qtmsweep.solve("kerr_fridge", **{**m.defaults(), "N1": 1000, "N2": 1000, "eps_c": 100.0})


def test_kerr_fridge_n1_1000_is_refused_and_n1_500_sub_batched_to_fit_the_chunk_budget():
    """kerr_fridge N1 = 1000 passed validation and solved 64-cell sub-batches of 200 MB matrices (12.8 GB)."""
    from qtmsweep.physics.models.kerr_fridge import largest_solve_states, memory_estimate, sub_batch_cells
    from qtmsweep.sweep import build_plan
    from qtmsweep.sweep.grid import CHUNK_BYTES

    sweep = kerr_sweep(100.0)
    sweep["fixed"].update(N1=1000, N2=3)  # 1000 x 5 = 5000 states in the N2 + 2 solve: 8 d^2 = 200 MB, four copies
    with pytest.raises(ConfigError, match=r"N1=1000, N2=3, method 'linear'\) needs an estimated 782.47 MiB .*"
                                          r"allowed: at most 256.00 MiB"):
        validate_config(make_config(s=sweep))
    sweep["fixed"].update(N1=500)
    plan = build_plan(validate_config(make_config(s=sweep)), "s", probe=False)
    m = qtmsweep.get_model("kerr_fridge")
    assert sub_batch_cells(largest_solve_states(500, 3)) == 1  # one 50 MB matrix at a time (was 64)
    one_cell, _ = memory_estimate({"N1": 500, "N2": 3}, "linear")
    chunk = int(np.prod(plan.chunks)) * m.working_bytes_per_cell({"N1": 500, "N2": 3})
    assert one_cell <= CHUNK_BYTES and chunk <= CHUNK_BYTES


def _kerr_peak(monkeypatch, n: int, N1: int, batch_bytes: int | None = None) -> int:
    import qtmsweep.physics.models.kerr_fridge as kf

    if batch_bytes is not None:
        monkeypatch.setattr(kf, "_BATCH_BYTES", batch_bytes)
    m = qtmsweep.get_model("kerr_fridge")
    params = {**m.defaults(), "N1": N1, "N2": 2, "eps_c": 100.0}
    params.pop("T_L")
    T_L = np.linspace(1.05, 2.0, n)
    qtmsweep.solve("kerr_fridge", **params, T_L=T_L[:1])  # compile, caches
    tracemalloc.start()
    try:
        qtmsweep.solve("kerr_fridge", **params, T_L=T_L)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_one_cell_estimate_bounds_a_one_cell_solve_and_sub_batches_hold_one_matrix(monkeypatch):
    from qtmsweep.physics.models.kerr_fridge import largest_solve_states, memory_estimate

    N1 = 80
    d = largest_solve_states(N1, 2)
    estimate, _ = memory_estimate({"N1": N1, "N2": 2}, "linear")
    one = _kerr_peak(monkeypatch, 1, N1)
    assert estimate / 8 < one <= estimate  # one block's matrix of the estimate's four (one per thread)
    # sub-batches of one matrix: four cells take about what one does (one batch of four would take ~4 x)
    four = _kerr_peak(monkeypatch, 4, N1, batch_bytes=8 * d * d)
    assert four < 2 * one


def test_chain_lindblad_of_20_sites_and_a_2000_site_chain_are_refused_with_the_estimate():
    """chain local N = 20 method: linear took 8 GiB before failing; N = 2000 hung."""
    base = {k: v for k, v in CHAIN_FIXED.items() if k != "T_L"} | {"g": 0.01, "approach": "local"}
    sweep = {"model": "chain", "method": "linear", "fixed": base | {"N": 20}, "grid": {"T_L": {"linspace": [0.6, 2.0, 5]}}}
    with pytest.raises(ConfigError, match=r"sweeps.s: model 'chain' \(N=20, .*method 'lindblad'\) needs an estimated "
                                          r".*use method 'correlation'"):
        validate_config(make_config(s=sweep))
    sweep = {**sweep, "method": "auto", "fixed": base | {"N": 2000}}
    with pytest.raises(ConfigError, match=r"N=2000.*method 'correlation'\) needs an estimated 976.56 MiB .*lower N"):
        validate_config(make_config(s=sweep))
    with pytest.raises(ValueError, match=r"needs an estimated .*this machine's memory"):
        qtmsweep.solve("chain", **(base | {"N": 20}), T_L=1.0, method="linear")
