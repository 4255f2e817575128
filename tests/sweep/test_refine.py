"""Adaptive refinement (issue 15): agreement with the dense grid, linear response, resumability."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from qtmsweep.sweep import RunOptions, run_sweep
from qtmsweep.sweep.config import ConfigError, validate_config
from qtmsweep.sweep.refine import (boundary, build_refine_plan, evaluated_counts, finest, label_names, labels,
                                   open_level, run_refine)
from qtmsweep.thermo.boundary import UNDETERMINED, boundary_cells, dilate

PRESETS = Path(__file__).parents[2] / "config" / "sweeps" / "refined.yaml"
INLINE = dict(cluster="inline", progress=False)


def preset(name: str, levels: int, base: int = 17) -> dict:
    """A preset of config/sweeps/refined.yaml at (base - 1) * 2**levels + 1 nodes per axis."""
    raw = yaml.safe_load(PRESETS.read_text())
    sc = raw["sweeps"][name]
    n = (base - 1) * 2 ** levels + 1
    for group in ("grid", "forces"):
        for spec in (sc.get(group) or {}).values():
            if isinstance(spec, dict) and "linspace" in spec:
                spec["linspace"][2] = n
    sc["refine"].update(levels=levels, base=[base, base])
    return validate_config({"sweeps": {name: sc}})


def dense_labels(cfg: dict, name: str, path: Path) -> dict[str, np.ndarray]:
    """Labels of the dense sweep (the same config without refine), run through the ordinary sweep."""
    dense = copy.deepcopy(cfg)
    on = dense["sweeps"][name].pop("refine")["on"]
    run_sweep(dense, name, path, RunOptions(**INLINE))
    ds = xr.open_zarr(str(path)).load()
    return {k: v.transpose(*ds[list(ds.data_vars)[0]].dims[:2]).values for k, v in labels(ds, on).items()}


def assert_boundaries_agree(store: Path, cfg: dict, name: str, dense: dict[str, np.ndarray]) -> None:
    on = cfg["sweeps"][name]["refine"]["on"]
    for entry, var in zip(on, label_names(on)):
        fine = finest(store, var).values
        ref = dense[var]
        assert fine.shape == ref.shape
        b_ref, b_fine = boundary_cells(ref), boundary_cells(fine)
        assert b_ref.any(), f"{entry}: the dense map has no boundary to compare"
        # every boundary cell of each map within one finest cell of a boundary cell of the other
        assert not (b_fine & ~dilate(b_ref, 1)).any(), entry
        assert not (b_ref & ~dilate(b_fine, 1)).any(), entry
        # and the labels themselves agree away from the boundary
        wrong = fine != ref
        near = np.zeros_like(wrong)
        near[:-1, :-1] |= dilate(b_ref, 1)
        near[1:, 1:] |= dilate(b_ref, 1)
        assert not (wrong & ~near).any(), entry


@pytest.mark.slow
@pytest.mark.parametrize("name", ["000_fig4_refined", "000_fig6_refined", "003_cooling_refined"])
def test_refined_boundary_matches_the_dense_grid_cell_for_cell(tmp_path, name):
    cfg = preset(name, levels=4)  # 257 x 257 effective nodes
    res = run_refine(cfg, name, tmp_path / "r.zarr", RunOptions(**INLINE))
    assert res.complete and res.levels_complete == 4
    dense = dense_labels(cfg, name, tmp_path / "d.zarr")
    assert_boundaries_agree(tmp_path / "r.zarr", cfg, name, dense)
    assert res.nodes_evaluated == sum(evaluated_counts(tmp_path / "r.zarr"))
    assert res.ratio < 0.5  # already at 257^2 a fraction of the dense grid


def dense_labels_by_solve(cfg: dict, name: str, dims: tuple[str, str]) -> dict[str, np.ndarray]:
    """Labels of the dense grid computed by ``qtmsweep.solve`` on the whole grid at once, its parameters
    mapped from the config here (forces -> T, mu of 000 Eqs. for model I / II), not by the refinement code."""
    import qtmsweep

    sc = cfg["sweeps"][name]
    axes = {k: np.linspace(*map(float, v["linspace"][:2]), int(v["linspace"][2]))
            for group in ("grid", "forces") for k, v in (sc.get(group) or {}).items()
            if isinstance(v, dict) and "linspace" in v}
    g = qtmsweep.grid(**{d: axes[d] for d in dims})
    params = dict(sc["fixed"])
    f = sc.get("forces")
    if f and f["reduced_model"] == "I":  # T_a = T_b = 1/(beta_r + F_E_r), F_N_b = beta (mu_b - mu_a)
        beta = f["beta_r"] + g["F_E_r"]
        params.update(T_a=1 / beta, T_b=1 / beta, T_r=1 / f["beta_r"], mu_b=f["mu_b"], mu_a=f["mu_b"] - g["F_N_b"] / beta)
    elif f:  # model II: T_a = T_r = 1/(beta_b + F_E_b), F_N_b = beta_b mu_b - beta' mu_a
        beta = f["beta_b"] + g["F_E_b"]
        params.update(T_a=1 / beta, T_r=1 / beta, T_b=1 / f["beta_b"], mu_b=f["mu_b"],
                      mu_a=(f["beta_b"] * f["mu_b"] - g["F_N_b"]) / beta)
    else:
        params.update(g)
    ds = qtmsweep.solve(sc["model"], **params)
    return {k: v.transpose(*dims).values for k, v in labels(ds, sc["refine"]["on"]).items()}


@pytest.mark.parametrize("name", ["000_fig4_refined", "000_fig6_refined", "003_cooling_refined"])
def test_refined_boundary_matches_a_dense_grid_computed_by_solve(tmp_path, name):
    cfg = preset(name, levels=3, base=17)  # 129 x 129 effective nodes
    res = run_refine(cfg, name, tmp_path / "r.zarr", RunOptions(**INLINE))
    assert res.complete and res.ratio < 0.5
    dims = tuple(open_level(tmp_path / "r.zarr", 0)["evaluated"].dims)
    assert_boundaries_agree(tmp_path / "r.zarr", cfg, name, dense_labels_by_solve(cfg, name, dims))


def test_levels_are_nested_subsets_of_the_dense_coordinates(tmp_path):
    cfg = preset("000_fig4_refined", levels=2, base=9)
    run_refine(cfg, "000_fig4_refined", tmp_path / "r.zarr", RunOptions(**INLINE))
    dense_axis = np.linspace(0.0, 1.0, 33)
    for k in range(3):
        ds = xr.open_zarr(str(tmp_path / "r.zarr"), group=f"level_{k}")
        np.testing.assert_array_equal(ds.F_E_r.values, dense_axis[:: 2 ** (2 - k)])
        assert ds.evaluated.dtype == bool
        ev = ds.evaluated.values
        # unevaluated nodes hold fill values, evaluated ones finite currents
        assert np.isnan(ds.J_E.values[~ev]).all() and np.isfinite(ds.J_E.values[ev]).all()
    assert xr.open_zarr(str(tmp_path / "r.zarr"), group="level_0").evaluated.values.all()


def test_every_cell_touching_an_undetermined_label_is_refined(tmp_path):
    # sqd at mu_l = mu_r and T_l = T_r along the diagonal T_l = T_r: J_N[l] = 0 exactly there
    cfg = validate_config({"sweeps": {"s": {"model": "sqd",
        "fixed": {"eps": 1.0, "mu_l": 0.0, "mu_r": 0.0, "gamma_l": 1.0, "gamma_r": 1.0},
        "grid": {"T_l": {"linspace": [0.5, 1.5, 33]}, "T_r": {"linspace": [0.5, 1.5, 33]}},
        "refine": {"on": ["J_N[l]"], "levels": 2, "base": [9, 9], "halo": 0}}}})
    run_refine(cfg, "s", tmp_path / "r.zarr", RunOptions(**INLINE))
    for k in range(2):
        lab = open_level(tmp_path / "r.zarr", k)
        fine = finest(tmp_path / "r.zarr", "label_J_N_l").values if k == 0 else None
        del fine
        values = lab["label_J_N_l"].values
        ev = lab["evaluated"].values
        undet = (values == UNDETERMINED) & ev
        assert undet.any()
        nxt = open_level(tmp_path / "r.zarr", k + 1)["evaluated"].values
        i, j = np.nonzero(undet)
        for di in (-1, 0, 1):  # every fine node around an undetermined coarse node is evaluated next
            for dj in (-1, 0, 1):
                a, b = 2 * i + di, 2 * j + dj
                ok = (a >= 0) & (b >= 0) & (a < nxt.shape[0]) & (b < nxt.shape[1])
                assert nxt[a[ok], b[ok]].all()


@pytest.mark.parametrize("reduced_model", ["I", "II"])
def test_sign_boundaries_at_the_origin_are_the_linear_response_lines(tmp_path, reduced_model):
    """Near equilibrium J_i = L_i1 F_1 + L_i2 F_2: the sign boundary of J_i is the line L_i1 F_1 + L_i2 F_2 = 0.

    Model II's forces act on one reservoir and both lines are oblique; in model I L_12 = L_21 = 0
    (J_E[r] responds to F_N_b only at second order), so its lines are the axes F_E_r = 0 and F_N_b = 0.
    The refined boundary must lie within one finest cell of the exact line everywhere in [-a, a]^2.
    """
    from qtmsweep.thermo.onsager import onsager_matrix

    fixed = {"eps_L": 1.0, "eps_R": 2.5, "kappa": -1.5, "gamma_a": 1.0, "gamma_b": 1.0, "gamma_r": 1.0}
    L = onsager_matrix("cqd", reduced_model=reduced_model, T=1.0, mu=1.0, **fixed)
    F1, beta, fluxes = (("F_E_r", "beta_r", ["J_E[r]", "J_N[b]"]) if reduced_model == "I"
                        else ("F_E_b", "beta_b", ["J_E[b]", "J_N[b]"]))
    if reduced_model == "II":
        assert abs(L[0, 1]) > 1e-3 * abs(L[0, 0])  # genuinely oblique lines
    a, n = 1e-4, 129
    cfg = validate_config({"sweeps": {"lr": {"model": "cqd", "fixed": {**fixed, "mu_r": 1.0},
        "forces": {"reduced_model": reduced_model, F1: {"linspace": [-a, a, n]}, "F_N_b": {"linspace": [-a, a, n]},
                   beta: 1.0, "mu_b": 1.0},
        "refine": {"on": fluxes, "levels": 3, "base": [17, 17]}}}})
    run_refine(cfg, "lr", tmp_path / "r.zarr", RunOptions(**INLINE))
    h = 2 * a / (n - 1)
    for i, flux in enumerate(fluxes):
        pts = boundary(tmp_path / "r.zarr", flux).reshape(-1, 2)
        assert len(pts) > n  # a line across the square
        normal = L[i] / np.hypot(*L[i])
        dist = np.abs(pts @ normal)
        assert dist.max() <= np.sqrt(2) * h, (flux, dist.max() / h)
        # and it spans the square: the boundary is the whole line, not a piece of it
        along = pts @ np.array([-normal[1], normal[0]])
        assert along.max() - along.min() > 1.9 * a


def _store_bytes(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and "level_" in str(p) and p.name != "zarr.json"}


@pytest.mark.slow
@pytest.mark.parametrize("stops", [[1], [3, 4]])
def test_interrupted_and_rerun_gives_the_same_store_bitwise(tmp_path, stops):
    cfg = preset("000_fig4_refined", levels=3, base=17)
    cfg["sweeps"]["000_fig4_refined"]["chunk_cells"] = 100  # several tasks per level
    cfg["sweeps"]["000_fig4_refined"]["refine"]["tile"] = 16
    name = "000_fig4_refined"
    ref = run_refine(cfg, name, tmp_path / "ref.zarr", RunOptions(**INLINE))
    assert ref.complete
    for stop in stops:  # stop after a few tasks: between levels or mid-level
        part = run_refine(cfg, name, tmp_path / "cut.zarr", RunOptions(**INLINE, max_chunks=stop))
        assert not part.complete
    rest = run_refine(cfg, name, tmp_path / "cut.zarr", RunOptions(**INLINE))
    assert rest.complete and rest.tasks_computed == ref.tasks_computed - sum(stops)
    assert ref.tasks_computed > 2 * sum(stops) and len(ref.nodes_per_level) == 4
    a, b = _store_bytes(tmp_path / "ref.zarr"), _store_bytes(tmp_path / "cut.zarr")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    for k in range(4):
        xr.testing.assert_identical(open_level(tmp_path / "ref.zarr", k).load().drop_attrs(),
                                    open_level(tmp_path / "cut.zarr", k).load().drop_attrs())


def test_bad_refine_settings_are_refused_with_the_key(tmp_path):
    cfg = yaml.safe_load(PRESETS.read_text())
    sc = cfg["sweeps"]["000_fig4_refined"]
    bad = copy.deepcopy(cfg)
    bad["sweeps"]["000_fig4_refined"]["refine"]["base"] = [33, 17]
    with pytest.raises(ConfigError, match=r"F_N_b.*num=4097.*2049"):
        validate_config(bad)
    bad = copy.deepcopy(cfg)
    bad["sweeps"]["000_fig4_refined"]["refine"]["on"] = ["J_E[x]"]
    with pytest.raises(ConfigError, match=r"refine.on\[0\].*lead 'x'"):
        validate_config(bad)
    bad = copy.deepcopy(cfg)
    bad["sweeps"]["000_fig4_refined"]["refine"]["on"] = ["cooling"]
    with pytest.raises(ConfigError, match=r"refine.on\[0\]: 'cooling'"):
        validate_config(bad)
    bad = copy.deepcopy(cfg)
    bad["sweeps"]["000_fig4_refined"]["refine"].update(base=[5, 5], levels=10)
    with pytest.raises(ConfigError, match=r"refine.base\[0\]: 5 .*min_base=9"):
        validate_config(bad)
    assert sc["refine"]["on"] == ["J_E[r]", "icc_J_E_r"]
    # YAML 1.1 reads an unquoted `on:` key as True: it is given its name back
    text = PRESETS.read_text().replace('"on"', "on")
    assert validate_config(yaml.safe_load(text))["sweeps"]["000_fig4_refined"]["refine"]["on"] == ["J_E[r]", "icc_J_E_r"]
    assert build_refine_plan(validate_config(cfg), "000_fig4_refined", probe=False).shape(0) == (33, 33)


KILL_SCRIPT = r"""
import os, signal, sys
import qtmsweep.sweep.refine as refine
from qtmsweep.sweep import RunOptions
sys.path.insert(0, {root!r})
from tests.sweep.test_refine import killable_config
n = {{"calls": 0}}
real = refine.os.replace
def replace(a, b):
    n["calls"] += str(b).endswith(".done")
    if n["calls"] == {kill_at}:  # this task's zarr chunks are written, its completion flag is not
        os.kill(os.getpid(), signal.SIGKILL)
    return real(a, b)
refine.os.replace = replace
refine.run_refine(killable_config(), "000_fig4_refined", {store!r}, RunOptions(cluster="inline", progress=False))
"""


def killable_config() -> dict:
    cfg = preset("000_fig4_refined", levels=3, base=17)
    cfg["sweeps"]["000_fig4_refined"]["chunk_cells"] = 100
    cfg["sweeps"]["000_fig4_refined"]["refine"]["tile"] = 16
    return cfg


@pytest.mark.slow
def test_sigkill_mid_level_then_rerun_gives_the_same_store_bitwise(tmp_path):
    import subprocess
    import sys

    root = str(Path(__file__).parents[2])
    ref = run_refine(killable_config(), "000_fig4_refined", tmp_path / "ref.zarr", RunOptions(**INLINE))
    kill_at = ref.tasks_computed // 2 + 1  # past level 0, in the middle of a level
    script = KILL_SCRIPT.format(root=root, kill_at=kill_at, store=str(tmp_path / "cut.zarr"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    done = sorted((tmp_path / "cut.zarr.tasks").rglob("*.done"))
    assert len(done) == kill_at - 1
    rest = run_refine(killable_config(), "000_fig4_refined", tmp_path / "cut.zarr", RunOptions(**INLINE))
    assert rest.complete and rest.tasks_computed == ref.tasks_computed - (kill_at - 1)
    a, b = _store_bytes(tmp_path / "ref.zarr"), _store_bytes(tmp_path / "cut.zarr")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)


def test_a_refined_sweep_is_not_run_densely_by_run_sweep(tmp_path):
    with pytest.raises(ValueError, match=r"sweeps.000_fig4_refined.refine: a refined sweep"):
        run_sweep(preset("000_fig4_refined", levels=1), "000_fig4_refined", tmp_path / "x.zarr", RunOptions(**INLINE))


def test_qtmsweep_run_computes_a_refined_sweep_and_reruns_it_as_a_no_op(tmp_path, capsys):
    from qtmsweep.cli import main

    cfg = preset("000_fig4_refined", levels=1, base=9)
    cfg["dask"] = {"cluster": "inline"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "000_fig4_refined: created" in out and "complete" in out
    store = tmp_path / "000_fig4_refined" / "000_fig4_refined.zarr"
    assert xr.open_zarr(str(store), group="level_1", consolidated=False).evaluated.any()
    assert main(["run", str(path), "--out", str(tmp_path), "--no-progress"]) == 0
    again = capsys.readouterr().out
    assert "000_fig4_refined: resumed" in again and " 0 nodes in 0 tasks" in again
