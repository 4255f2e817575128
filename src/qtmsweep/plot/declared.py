"""Figures of declared machines: the cooling window of the LPS three-qubit refrigerator.

``data_lps_cooling_window(ds, T_H=...)`` returns exactly the arrays drawn (cooling power
over ``(T_H, T_C)``, the sign resolved against the precision bound, the analytic edge of
the cooling window, and along ``T_C`` at one ``T_H`` the COP and its Carnot bound);
``draw_lps_cooling_window(data, path)`` draws them.

The window (local master equation, Linden, Popescu, Skrzypczyk, PRL 105, 130401): bath C
is cooled iff ``E_c/T_C < E_r/T_R − E_h/T_H``, i.e. ``T_C > T_C* = E_c/(E_r/T_R − E_h/T_H)``;
the COP of heat drawn from C per heat drawn from H is ``J_Q[C]/J_Q[H]``, bounded by
``T_C (T_H − T_R)/(T_H (T_R − T_C))`` (Carnot, for ``T_C < T_R < T_H``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .style import DPI, new_figure, save, style

__all__ = ["data_lps_cooling_window", "draw_lps_cooling_window", "lps_window_edge"]


def _param(ds: xr.Dataset, name: str) -> xr.DataArray:
    if name in ds.variables:
        return ds[name]
    return xr.DataArray(float(ds.attrs[name]))


def lps_window_edge(T_H, *, E_c: float, E_r: float, E_h: float, T_R: float) -> np.ndarray:
    """``T_C*`` of the cooling window at each ``T_H`` (NaN where no ``T_C > 0`` is cooled).

    >>> float(lps_window_edge(np.inf, E_c=1.0, E_r=3.0, E_h=2.0, T_R=1.0))  # ideal hot bath: E_c T_R/E_r
    0.3333333333333333
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = E_r / T_R - E_h / np.asarray(T_H, dtype=float)
        return np.where(inv > 0, E_c / inv, np.nan)


def data_lps_cooling_window(ds: xr.Dataset, *, T_H: float | None = None) -> xr.Dataset:
    """Arrays of the LPS cooling-window figure from a dataset on dims ``T_H``, ``T_C``.

    ``T_H`` picks the cut for the COP panel (nearest grid value; default: the middle one).
    """
    JC = ds["J_Q"].sel(lead="C")
    JH = ds["J_Q"].sel(lead="H")
    rel = ds["rel_err"]
    rel_C = rel.sel(lead="C") if "lead" in rel.dims else rel
    rel_H = rel.sel(lead="H") if "lead" in rel.dims else rel
    sign = xr.where(np.abs(JC) > rel_C * np.abs(JC) * 4 + 0.0, np.sign(JC), 0.0)
    sign = xr.where(JC == 0, 0.0, sign)
    E_c, E_r, E_h, T_R = (float(_param(ds, k)) for k in ("E_c", "E_r", "E_h", "T_R"))
    TH, TC = ds["T_H"], ds["T_C"]
    edge = xr.DataArray(lps_window_edge(TH.values, E_c=E_c, E_r=E_r, E_h=E_h, T_R=T_R), dims=("T_H",),
                        coords={"T_H": TH.values})
    cut = float(TH.values[len(TH) // 2] if T_H is None else TH.sel(T_H=T_H, method="nearest"))
    jc, jh = JC.sel(T_H=cut), JH.sel(T_H=cut)
    cooled = (sign.sel(T_H=cut) > 0) & (jh > rel_H.sel(T_H=cut) * np.abs(jh) * 4)
    cop = xr.where(cooled, jc / jh, np.nan)
    tc = TC.values
    with np.errstate(divide="ignore", invalid="ignore"):
        carnot = np.where((tc < T_R) & (T_R < cut), tc * (cut - T_R) / (cut * (T_R - tc)), np.nan)
    return xr.Dataset({
        "cooling_power": JC.transpose("T_H", "T_C"),
        "cooling_sign": sign.transpose("T_H", "T_C"),
        "window_edge": edge,
        "cop": cop.rename({"T_C": "T_C"}).drop_vars("T_H", errors="ignore"),
        "cop_carnot": xr.DataArray(carnot, dims=("T_C",), coords={"T_C": tc}),
        "cop_local": xr.DataArray(E_c / E_h),
    }, attrs={"T_H_cut": cut, "E_c": E_c, "E_r": E_r, "E_h": E_h, "T_R": T_R})


def draw_lps_cooling_window(data: xr.Dataset, path: str | Path, *, dpi: int = DPI) -> Path:
    """Two panels: cooling power J_Q[C] over (T_H, T_C) with the analytic window edge; COP vs Carnot."""
    with style():
        fig = new_figure(9.0, 3.8)
        ax, bx = fig.subplots(1, 2)
        TH, TC = data["T_H"].values, data["T_C"].values
        P = data["cooling_power"].values.T
        vmax = float(np.nanmax(np.abs(P))) or 1.0
        mesh = ax.pcolormesh(TH, TC, P, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="nearest")
        fig.colorbar(mesh, ax=ax, label=r"cooling power $J_Q[C]$")
        ax.contour(TH, TC, data["cooling_sign"].values.T, levels=[0.0], colors="k", linewidths=1.0)
        ax.plot(TH, data["window_edge"].values, "--", color="tab:orange", lw=1.8,
                label=r"edge $E_c/T_C = E_r/T_R - E_h/T_H$")
        ax.axvline(data.attrs["T_H_cut"], color="0.4", lw=0.8, ls=":")
        ax.set_xscale("log")
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(TC.min(), TC.max())
        ax.set_xlabel(r"$T_H$")
        ax.set_ylabel(r"$T_C$")
        ax.set_title(f"LPS fridge: cooling window ($T_R$ = {data.attrs['T_R']:g})")
        ax.legend(loc="lower right", fontsize=7)
        bx.plot(TC, data["cop"].values, "o", ms=3, label=r"COP $= J_Q[C]/J_Q[H]$")
        bx.plot(TC, data["cop_carnot"].values, "-", color="k", label="Carnot bound")
        bx.axhline(float(data["cop_local"]), color="tab:orange", ls="--", lw=1, label=r"$E_c/E_h$")
        edge = float(np.interp(data.attrs["T_H_cut"], TH, data["window_edge"].values))
        bx.axvline(edge, color="tab:orange", ls=":", lw=1)
        finite = np.isfinite(data["cop_carnot"].values)
        top = 2.5 * float(data["cop_local"])
        bx.set_ylim(0, top if finite.any() else None)
        bx.set_xlabel(r"$T_C$")
        bx.set_ylabel("COP")
        bx.set_title(f"COP against Carnot at $T_H$ = {data.attrs['T_H_cut']:.3g}")
        bx.legend(fontsize=7)
        return save(fig, path, dpi=dpi)
