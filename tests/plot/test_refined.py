"""refined_map: a refined store drawn with its boundaries and depth."""

from __future__ import annotations

import numpy as np

from qtmsweep.plot import figure_from_store, open_store
from qtmsweep.sweep import RunOptions
from qtmsweep.sweep.refine import boundary, run_refine
from tests.sweep.test_refine import preset


def test_refined_map_draws_labels_boundaries_and_depth_from_the_store(tmp_path):
    cfg = preset("000_fig4_refined", levels=2, base=17)
    run_refine(cfg, "000_fig4_refined", tmp_path / "r.zarr", RunOptions(cluster="inline", progress=False))
    data = open_store(tmp_path / "r.zarr")
    assert set(data.data_vars) == {"label_J_E_r", "label_icc_J_E_r", "depth"}
    assert data["depth"].shape == (65, 65) and int(data["depth"].max()) == 2 and int(data["depth"].min()) == 0
    # the deepest level is reached on the boundary of J_E[r]: every boundary point sits in a depth-2 cell
    seg = boundary(tmp_path / "r.zarr", "J_E[r]").reshape(-1, 2)
    i = np.rint(seg[:, 0] / (1.0 / 64) - 0.5).astype(int).clip(0, 63)
    j = np.rint(seg[:, 1] / (8.0 / 64) - 0.5).astype(int).clip(0, 63)
    d = data["depth"].values
    assert (np.maximum.reduce([d[i, j], d[i + 1, j], d[i, j + 1], d[i + 1, j + 1]]) == 2).all()
    a = figure_from_store(tmp_path / "r.zarr", "refined_map", tmp_path / "a.png")
    b = figure_from_store(tmp_path / "r.zarr", "refined_map", tmp_path / "b.png")
    assert a.stat().st_size > 20_000 and a.read_bytes() == b.read_bytes()
