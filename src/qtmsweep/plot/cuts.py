"""Currents along the force axes (000 Figs. 3 and 5): (a) against F_1 at F_2 = 0, (b) against F_2 at F_1 = 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr
from matplotlib.lines import Line2D

from ..thermo.classify import FLUX_REGIMES
from .common import caption, ensure_analysed, flux, model_title, pair_of, select, zero_index
from .style import DPI, UNIT_TEXT, axis_label, new_figure, save, style, symbol, units_of

FLUX_COLOURS = ("tab:blue", "tab:red")
LINE_STYLES = (":", "--", "-", "-.")


def data_force_cuts(ds: xr.Dataset, *, panel_dim: str | None = None, sel: Mapping[str, Any] | None = None,
                    reduced_model: str | None = None) -> xr.Dataset:
    """Both fluxes of the pair and their regimes along the two force axes.

    Variables ``<flux>_cut1`` (against F_1 at F_2 = 0), ``<flux>_cut2`` (against F_2 at
    F_1 = 0) and ``regime_<flux>_cut1/2``; one line per value of ``panel_dim`` (e.g. κ).
    Both force grids must contain an exact zero.
    """
    ds = ensure_analysed(select(ds, sel), reduced_model)
    pair = pair_of(ds, reduced_model)
    x, y = pair.forces
    names = [f"{v}_{lead}" for v, lead in pair.fluxes]
    i0, j0 = zero_index(ds[x]), zero_index(ds[y])
    out = {}
    for n in names:
        J = flux(ds, n)
        out[f"{n}_cut1"] = J.isel({y: j0}, drop=True)
        out[f"{n}_cut2"] = J.isel({x: i0}, drop=True)
        out[f"regime_{n}_cut1"] = ds[f"regime_{n}"].isel({y: j0}, drop=True)
        out[f"regime_{n}_cut2"] = ds[f"regime_{n}"].isel({x: i0}, drop=True)
    data = xr.Dataset(out)
    keep = [d for d in (panel_dim, x, y) if d]
    data = data.squeeze([d for d in data.dims if d not in keep and data.sizes[d] == 1], drop=True)
    data.attrs.update({"x": x, "y": y, "fluxes": names, "panel_dim": panel_dim or "", "title": model_title(ds, pair),
                       "caption": caption(ds, skip=(panel_dim or "",))})
    return data


def draw_force_cuts(data: xr.Dataset, path: str | Path, *, dpi: int = DPI) -> Path:
    """Two panels; colour = flux (blue energy, red particle), line style = value of the panel dimension."""
    x, y, names, pdim = data.attrs["x"], data.attrs["y"], list(data.attrs["fluxes"]), data.attrs["panel_dim"]
    values = list(data[pdim].values) if pdim else [None]
    units = " , ".join(f"{symbol(n)} in {UNIT_TEXT[units_of(n)]}" for n in names)
    with style():
        fig = new_figure(9.6, 4.0)
        axes = fig.subplots(1, 2)
        for ax, cut, force, other in ((axes[0], "cut1", x, y), (axes[1], "cut2", y, x)):
            for ls, v in zip(LINE_STYLES, values):
                sub = data.sel({pdim: v}) if pdim else data
                for colour, n in zip(FLUX_COLOURS, names):
                    line = sub[f"{n}_{cut}"]
                    ax.plot(line[force].values, np.asarray(line.values), color=colour, ls=ls, lw=1.6)
            ax.axhline(0.0, color="0.6", lw=0.6)
            ax.set_xlabel(axis_label(force))
            ax.set_ylabel(f"current ({units})")
            ax.set_title(f"({'a' if cut == 'cut1' else 'b'}) {symbol(other)} = 0")
            handles = [Line2D([], [], color=c, lw=1.6, label=symbol(n)) for c, n in zip(FLUX_COLOURS, names)]
            if pdim:
                handles += [Line2D([], [], color="k", ls=ls, lw=1.4, label=f"{symbol(pdim)} = {float(v):g}")
                            for ls, v in zip(LINE_STYLES, values)]
            ax.legend(handles=handles, loc="best")
        fig.suptitle(f"{data.attrs['title']}: currents along the force axes\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


def cut_regimes(data: xr.Dataset, name: str, cut: str) -> list[str]:
    """Distinct regime names of ``name`` along a cut (for checks and captions)."""
    codes = np.unique(np.asarray(data[f"regime_{name}_{cut}"].values))
    return [FLUX_REGIMES[int(c)] for c in codes]
