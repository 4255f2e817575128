"""``qtmsweep.plot.negf``: the Fig. 10 and delta_z figures draw from datasets shaped like the presets'."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.physics.registry import get_model
from qtmsweep.plot.negf import delta_z_data, draw_delta_z, draw_fig10, fig10_data, main

P = get_model("kerr_negf").defaults()


def fig10_sets():
    G = xr.DataArray([0.01, 0.02], dims="Gamma_L", coords={"Gamma_L": [0.01, 0.02]})
    dT = xr.DataArray(np.linspace(0.05, 1.0, 6), dims="dT", coords={"dT": np.linspace(0.05, 1.0, 6)})
    negf = qtmsweep.solve("kerr_negf", **{**{k: v for k, v in P.items() if not k.startswith("T_")},
                                          "Gamma_L": G, "T_L": 1.0 + dT, "T_R": 1.0, "T_C": 1.0})
    negf = negf.assign_coords(dT=dT)
    TL = xr.DataArray(1.0 + dT.values, dims="T_L", coords={"T_L": 1.0 + dT.values})
    me = qtmsweep.solve("kerr_fridge", N1=3, N2=3, eps1=2.0, eps2=2.0, delta_z=0.2, T_L=TL, T_R=1.0, T_C=1.0,
                        Gamma_L=G, Gamma_R=0.02, Gamma_C=0.02, Omega_L=2.0, Omega_R=2.2, Omega_C=2.2, eps_c=7.0)
    return negf, me


def test_fig10_draws_negf_and_the_master_equation_inset(tmp_path):
    negf, me = fig10_sets()
    data = fig10_data(negf, me)
    assert {"J_C_negf", "J_C_me", "rel_err_negf"} <= set(data)
    assert float(np.abs(data.J_C_negf).max()) > 0
    out = draw_fig10(negf, me, tmp_path / "fig10.png", keldysh=negf)
    assert out.stat().st_size > 10_000


def test_delta_z_figure_and_command_line(tmp_path):
    dz = xr.DataArray([0.02, 0.1, 0.3], dims="delta_z", coords={"delta_z": [0.02, 0.1, 0.3]})
    base = {k: v for k, v in P.items() if k not in ("delta_z", "Omega_L", "Omega_R", "Omega_C")}
    negf = qtmsweep.solve("kerr_negf", **base, delta_z=dz, filters="resonant")
    me = qtmsweep.solve("kerr_fridge", N1=3, N2=3, eps1=2.0, eps2=2.0, delta_z=dz, T_L=1.3, T_R=1.0, T_C=1.0,
                        Gamma_L=0.01, Gamma_R=0.02, Gamma_C=0.02, filters="resonant", eps_c=7.0)
    assert set(delta_z_data(negf, me)) == {"J_C_negf", "rel_err_negf", "J_C_me", "rel_err_me"}
    assert draw_delta_z(negf, me, tmp_path / "dz.png").stat().st_size > 10_000
    negf.to_zarr(tmp_path / "n.zarr"), me.to_zarr(tmp_path / "m.zarr")
    assert main(["delta_z", "--negf", str(tmp_path / "n.zarr"), "--me", str(tmp_path / "m.zarr"),
                 str(tmp_path / "cli.png")]) == 0
    assert (tmp_path / "cli.png").exists()


def test_fig10_refuses_a_store_without_gamma_L():
    negf, me = fig10_sets()
    with pytest.raises(ValueError, match="must sweep Gamma_L"):
        fig10_data(negf.isel(Gamma_L=0), me)
