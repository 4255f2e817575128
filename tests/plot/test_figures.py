"""Figure functions: they write files, the data behind each figure is right, and files are reproducible."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import xarray as xr

from qtmsweep.analysis import analyze, analyze_store
from qtmsweep.plot import FIGURE_KINDS, KIND_MODELS, figure_data, figure_from_store, plot_figure
from qtmsweep.plot.cli import main as cli_main
from qtmsweep.plot.paper import PAPER_FIGURES, force_plane, make_paper_figures, sqd_force_plane
from qtmsweep.thermo.classify import CELL, FLUX, classify

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model_I():
    return force_plane("I", np.linspace(0, 1, 21), np.linspace(0, 8, 21), kappa=[1.5, -1.5], mu_r=0.0)


@pytest.fixture(scope="module")
def model_II():
    return force_plane("II", np.linspace(0, 3, 31), np.linspace(0, 6, 31), kappa=[1.5, -1.5], mu_r=[2.0, 2.5, 3.0])


@pytest.fixture(scope="module")
def full_plane_II():
    return force_plane("II", np.linspace(-0.9, 3, 27), np.linspace(-6, 6, 25), kappa=-1.5, mu_r=3.0)


@pytest.fixture(scope="module")
def sqd_plane():
    return sqd_force_plane(np.linspace(-0.9, 0.9, 19), np.linspace(-3, 3, 25), eps=1.0)


def cases(model_I, model_II, full_plane_II, sqd_plane):
    return {
        "current_map": (model_I, {"flux_names": "J_E_r", "panel_dim": "kappa"}),
        "force_cuts": (model_II, {"panel_dim": "kappa", "sel": {"mu_r": 3.0}}),
        "quadrant_map": (full_plane_II, {}),
        "icc_mu_r": (model_II, {"sel": {"kappa": -1.5}}),
    }


@pytest.mark.parametrize("kind", sorted(KIND_MODELS))  # the machine kinds: tests/plot/test_machines.py
def test_every_force_plane_kind_writes_a_png(tmp_path, kind, model_I, model_II, full_plane_II, sqd_plane):
    ds, opts = cases(model_I, model_II, full_plane_II, sqd_plane)[kind]
    out = plot_figure(kind, ds, tmp_path / f"{kind}.png", **opts)
    data = out.read_bytes()
    assert out == tmp_path / f"{kind}.png" and data.startswith(PNG_MAGIC) and len(data) > 20_000


def test_current_map_data_is_the_flux_with_its_icc_mask(model_I):
    data = figure_data("current_map", model_I, flux_names="J_E_r", panel_dim="kappa")
    xr.testing.assert_equal(data["J_E_r"], model_I.J_E.sel(lead="r", drop=True).rename("J_E_r"))
    c = classify(model_I, "I")
    np.testing.assert_array_equal(data["icc_J_E_r"].values, c.icc_J_E_r.transpose(*data["icc_J_E_r"].dims).values)
    # the drawn edge (zero of J along its own force) encloses exactly the ICC cells
    along = data["along_J_E_r"]
    np.testing.assert_array_equal((along < 0).values, data["icc_J_E_r"].values)
    # 000 Fig. 4: for both kappa the ICC region lies left of its edge (small F_E_r, large F_N_b)
    for kappa in (1.5, -1.5):
        icc = data["icc_J_E_r"].sel(kappa=kappa).transpose("F_N_b", "F_E_r").values[:, 1:]  # F_E_r = 0: never ICC
        assert icc.sum() > 0 and all(np.all(np.diff(row.astype(int)) <= 0) for row in icc)


def test_force_cuts_data_show_000_fig3_claims(model_I):
    """Model I: F_N_b = 0 gives J_N[b] = 0 and J_E[r] > 0; F_E_r = 0 gives J_N[b] > 0 and J_E[r] < 0 (pseudo-ICC)."""
    data = figure_data("force_cuts", model_I, panel_dim="kappa")
    on = data.F_E_r > 0
    assert bool((data.J_N_b_cut1 == 0).all())
    assert bool((data.J_E_r_cut1 > 0).where(on, True).all())
    on = data.F_N_b > 0
    assert bool((data.J_N_b_cut2 > 0).where(on, True).all())
    assert bool((data.J_E_r_cut2 < 0).where(on, True).all())
    assert bool((data.regime_J_E_r_cut2 == FLUX["pseudo_icc"]).where(on, True).all())


def test_force_cuts_data_show_000_fig5_claims_at_mu_r_3(model_II):
    """Model II: kappa > 0 cross effects only; kappa < 0 pseudo-ICC in J_N[b] (a) and in J_E[b] (b)."""
    data = figure_data("force_cuts", model_II, panel_dim="kappa", sel={"mu_r": 3.0})
    pos, neg = data.sel(kappa=1.5), data.sel(kappa=-1.5)
    F1, F2 = data.F_E_b > 0, data.F_N_b > 0
    assert bool((pos.J_E_b_cut1 > 0).where(F1, True).all()) and bool((neg.J_E_b_cut1 > 0).where(F1, True).all())
    assert bool((pos.J_N_b_cut1 > 0).where(F1, True).all())
    assert bool((neg.J_N_b_cut1 < 0).where(F1, False).any())
    assert bool((pos.J_N_b_cut2 > 0).where(F2, True).all()) and bool((neg.J_N_b_cut2 > 0).where(F2, True).all())
    assert bool((pos.J_E_b_cut2 > 0).where(F2, True).all())
    assert bool((neg.J_E_b_cut2 < 0).where(F2, False).any())


def test_quadrant_map_data_is_the_cell_regime(full_plane_II, sqd_plane):
    data = figure_data("quadrant_map", full_plane_II)
    ref = classify(full_plane_II, "II")
    np.testing.assert_array_equal(data.regime.values, ref.regime.transpose(*data.regime.dims).values)
    first = data.quadrant == 1
    assert bool((data.regime == CELL["icc"]).where(first, False).any())
    sqd = figure_data("quadrant_map", sqd_plane)
    present = set(np.unique(sqd.regime.values))
    assert {CELL["normal"], CELL["cross_effect"], CELL["engine"], CELL["refrigerator"]} <= present
    assert not present & {CELL["icc"], CELL["pseudo_icc"], CELL["second_law_violation"]}


def test_icc_mu_r_data_has_no_icc_below_mu_r_2(model_II):
    data = figure_data("icc_mu_r", model_II, sel={"kappa": -1.5})
    assert float(data.fraction_icc_J_N_b.sel(mu_r=2.0)) == 0.0 and float(data.fraction_icc_J_E_b.sel(mu_r=2.0)) == 0.0
    assert float(data.fraction_icc_J_N_b.sel(mu_r=2.5)) > 0 and float(data.fraction_icc_J_E_b.sel(mu_r=2.5)) > 0
    assert data.attrs["threshold_J_N_b"] == 2.5 and data.attrs["threshold_J_E_b"] == 2.5
    assert data.attrs["mu_r_values"] == [2.0, 2.5, 3.0]


@pytest.mark.parametrize("suffix", ["png", "pdf", "svg"])
def test_figure_file_is_byte_for_byte_reproducible(tmp_path, model_I, suffix):
    opts = {"flux_names": "J_E_r", "panel_dim": "kappa"}
    a = plot_figure("current_map", model_I, tmp_path / f"a.{suffix}", **opts).read_bytes()
    with matplotlib.rc_context({"font.size": 20, "lines.linewidth": 5, "image.cmap": "jet"}):
        b = plot_figure("current_map", model_I, tmp_path / f"b.{suffix}", **opts).read_bytes()
    assert a == b
    if suffix == "png":
        assert b"matplotlib" not in a.lower()  # no version string in the metadata


def test_figure_from_a_store_with_and_without_a_separate_analysis(tmp_path, model_II):
    store = tmp_path / "sweep.zarr"
    model_II.to_zarr(store)
    direct = figure_from_store(store, "icc_mu_r", tmp_path / "direct.png", sel={"kappa": -1.5})
    analysis = analyze_store(store, tmp_path / "analysis.zarr")
    merged = figure_from_store(store, "icc_mu_r", tmp_path / "merged.png", analysis_path=analysis, sel={"kappa": -1.5})
    assert direct.read_bytes() == merged.read_bytes()
    stored = xr.open_zarr(analysis)
    np.testing.assert_array_equal(stored.regime.values, analyze(model_II).regime.transpose(*stored.regime.dims).values)


def test_analyze_store_in_place_keeps_the_store_and_adds_the_variables(tmp_path, model_I):
    store = tmp_path / "sweep.zarr"
    model_I.chunk({"kappa": 1}).to_zarr(store)
    analyze_store(store, slab_cells=300)
    back = xr.open_zarr(store)
    assert back.attrs["model"] == "cqd" and back.attrs["reduced_model"] == "I"
    xr.testing.assert_equal(back.J_E.load(), model_I.J_E)
    ref = analyze(model_I)
    for v in ("regime", "mode", "icc_J_E_r", "zeta_000"):
        np.testing.assert_array_equal(back[v].values, ref[v].transpose(*back[v].dims).values)
    assert back.regime.attrs["flag_meanings"].split()[5] == "icc"


def test_cli_figure_and_analyze(tmp_path, model_I, capsys):
    store = tmp_path / "s.zarr"
    model_I.to_zarr(store)
    assert cli_main(["analyze", str(store)]) == 0
    out = tmp_path / "f.png"
    assert cli_main(["figure", str(store), "current_map", str(out), "--opt", "panel_dim=kappa",
                     "--opt", 'flux_names=["J_E_r", "J_N_b"]']) == 0
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_unknown_kind_and_missing_zero_are_refused(model_I):
    with pytest.raises(ValueError, match="allowed"):
        plot_figure("phase_portrait", model_I, "x.png")
    shifted = force_plane("I", np.linspace(0.1, 1, 5), np.linspace(0.1, 8, 5), kappa=1.5, mu_r=0.0)
    with pytest.raises(ValueError, match="no exact 0"):
        figure_data("force_cuts", shifted)


def test_paper_figure_presets(tmp_path):
    assert {spec.kind for spec in PAPER_FIGURES.values()} <= set(FIGURE_KINDS)
    out = make_paper_figures(tmp_path, ["001_fig3_sqd"])
    assert out["001_fig3_sqd"].read_bytes().startswith(PNG_MAGIC)


def test_a_power_of_ten_offset_moves_into_the_axis_label_not_above_the_title(tmp_path):
    from qtmsweep.plot.style import new_figure, save, style

    with style():
        fig = new_figure(3, 2)
        ax, bx = fig.subplots(1, 2)
        ax.plot([0, 1], [0, 1.2e-3])
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))  # as the fridge cuts do
        ax.set_ylabel("J")
        ax.set_title("(a)")
        bx.plot([0, 1], [1000.0, 1000.001])  # an additive offset: not a factor, left as matplotlib writes it
        bx.set_ylabel("K")
        save(fig, tmp_path / "f.png")
    assert ax.get_ylabel() == "J [$\\times\\mathdefault{10^{\u22123}}\\mathdefault{}$]"  # U+2212: minus
    assert not ax.yaxis.offsetText.get_visible()
    assert bx.get_ylabel() == "K" and bx.yaxis.offsetText.get_visible()
