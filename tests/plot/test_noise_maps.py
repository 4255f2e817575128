"""TUR / Fano maps: the arrays drawn are the dataset's, the outline is the classification's."""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from qtmsweep.plot.noise import data_noise_map, draw_noise_map
from qtmsweep.thermo.classify import CELL, classify


def test_cqd_tur_map_outlines_the_genuine_icc_region(tmp_path):
    g = qtmsweep.grid(T_a=np.linspace(0.4, 2.0, 25), mu_a=np.linspace(-1.0, 2.5, 21))
    ds = qtmsweep.solve("cqd", cumulants=2, **g, eps_L=1.0, eps_R=2.5, kappa=-1.5, T_b=0.4, T_r=1.0,
                        mu_b=1.0, mu_r=0.0, gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)
    d = data_noise_map(ds, quantity="tur", flux="J_N[b]", reduced_model="II")
    np.testing.assert_array_equal(d.value.values, ds.tur.sel(flux="J_N[b]").values)
    icc = (classify(ds, "II")["regime"] == CELL["icc"]).values
    np.testing.assert_array_equal(d.outline.values, icc)
    assert not d.beats_classical_tur.any()  # classical dynamics
    path = draw_noise_map(d, tmp_path / "tur.png")
    assert path.stat().st_size > 10_000


def test_fridge_fano_map_outlines_the_cooling_region(tmp_path):
    g = qtmsweep.grid(T_L=np.linspace(0.8, 2.0, 16), T_C=np.linspace(0.5, 1.2, 15))
    ds = qtmsweep.solve("qubit_fridge", cumulants=2, **g, eps1=2.0, eps2=2.0, delta_z=0.1, delta_x=0.05, T_R=1.0,
                        Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, Omega_L=2.0, Omega_R=2.1, Omega_C=2.1,
                        eps_c=20.0, approach="local")
    d = data_noise_map(ds, quantity="fano", flux="J_Q[C]")
    cooling = (ds.J_Q.sel(lead="C") > 0) & ~ds.ratio_undetermined.sel(flux="J_Q[C]")
    assert bool((d.outline == cooling).mean() > 0.95)
    assert d.outline.any() and not d.outline.all()
    draw_noise_map(d, tmp_path / "fano.png")


def test_noise_map_refuses_a_dataset_without_cumulants():
    ds = qtmsweep.solve("sqd", eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
    with pytest.raises(ValueError, match="cumulants"):
        data_noise_map(ds)


def test_noise_map_is_a_figure_kind_of_plot_figure(tmp_path):
    """`figures: {kind: noise_map}` in a config reaches the same arrays as the module's functions."""
    from qtmsweep.plot import figure_data, plot_figure

    g = qtmsweep.grid(T_a=np.linspace(0.4, 2.0, 7), mu_a=np.linspace(-1.0, 2.5, 6))
    ds = qtmsweep.solve("cqd", cumulants=2, **g, eps_L=1.0, eps_R=2.5, kappa=-1.5, T_b=0.4, T_r=1.0,
                        mu_b=1.0, mu_r=0.0, gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)
    opts = dict(quantity="fano", flux="J_N[b]", reduced_model="II")
    np.testing.assert_array_equal(figure_data("noise_map", ds, **opts).value.values,
                                  data_noise_map(ds, **opts).value.values)
    assert plot_figure("noise_map", ds, tmp_path / "fano.png", **opts).stat().st_size > 10_000
    with pytest.raises(ValueError, match="quantity"):
        figure_data("noise_map", ds, quantityy="fano")


def test_tur_beaten_draws_one_panel_per_machine_with_the_coherent_violations(tmp_path):
    """The local fridge (δx ~ rates) and the qubit chain beat the classical TUR in a pocket; the
    panel data are exactly tur_variables' (tur_min, tur_violation), one panel per dataset."""
    from qtmsweep.plot import figure_data, plot_figure
    from qtmsweep.thermo.noise import tur_variables

    fridge = qtmsweep.solve("qubit_fridge", approach="local", cumulants=2, eps1=1.0, eps2=1.0, delta_z=0.0, T_L=1.45,
                            T_R=1.0, T_C=9.7, Gamma_L=3.0, Gamma_R=1e-6, Gamma_C=3.0, Omega_L=4.0, Omega_R=4.0,
                            eps_c=10.0, **qtmsweep.grid(delta_x=np.geomspace(0.05, 1.0, 8), Omega_C=[4.0, 12.0]))
    chain = qtmsweep.solve("chain", N=2, stat="qubit", approach="local", cumulants=2, fluxes=["J_Q[L]"], omega=1.0,
                           T_L=1.45, gamma_L=0.086, gamma_R=0.0085,
                           **qtmsweep.grid(g=np.geomspace(0.01, 1.0, 7), T_R=[2.0, 10.0]))
    data = figure_data("tur_beaten", [fridge, chain])
    assert data.attrs["panels"] == 2 and data.attrs["titles"] == ["qubit_fridge (local)", "chain (local, qubit)"]
    for i, ds in enumerate((fridge, chain)):
        ref = tur_variables(ds)
        assert int(data[f"tur_violation_{i}"].sum()) == int(ref.tur_violation.sum()) > 0
    out = plot_figure("tur_beaten", [fridge, chain], tmp_path / "beaten.png")
    assert out.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="cumulants=2"):
        figure_data("tur_beaten", qtmsweep.solve("chain", N=2, stat="qubit", approach="local", omega=1.0, g=0.1, T_L=1.0, T_R=2.0, gamma_L=0.01,
                                                 gamma_R=0.02))
