"""Figures of the Green's-function check of seed 003 §IV B (model ``kerr_negf``).

``fig10``: 003 Fig. 10 — ``J_Q[C]`` (heat leaving C) against ΔT for each ``Gamma_L`` from
``kerr_negf``, with the master-equation inset from ``kerr_fridge`` (its truncation ``N1 × N2`` is
read from the store and printed in the inset).  An optional second ``kerr_negf`` store (the other
``width`` reading) is drawn in a second panel.  ``delta_z``: ``J_Q[C]`` against ``delta_z`` from
``kerr_negf`` and ``kerr_fridge`` (003's "no cooling when Δz ≪ πΓε"), each normalised to its own
maximum |J| so both fit one axis (the scale factors are in the legend).

Points whose sign the error bound does not resolve (``|J| ≤ rel_err·|J|``, i.e. ``rel_err ≥ 1``)
are drawn as open circles.  Every figure is drawn from the stores alone.

Command line (the rule in ``workflow/rules/negf.smk`` calls this)::

    python -m qtmsweep.plot.negf fig10 --negf STORE --me STORE [--keldysh STORE] OUT.png
    python -m qtmsweep.plot.negf delta_z --negf STORE --me STORE [--keldysh STORE] OUT.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from .style import new_figure, save, style

__all__ = ["fig10_data", "draw_fig10", "delta_z_data", "draw_delta_z", "main"]

_COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple")


def _JC(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    J = ds["J_Q"].sel(lead="C")
    if "rel_err_lead" in ds:
        rel = ds["rel_err_lead"].sel(lead="C")
    elif "rel_err" in ds and "lead" in ds["rel_err"].dims:
        rel = ds["rel_err"].sel(lead="C")
    elif "rel_err" in ds:
        rel = ds["rel_err"]
    else:
        rel = xr.zeros_like(J)
    return J, rel


def _dT(ds: xr.Dataset) -> xr.DataArray:
    if "dT" in ds.coords:
        return ds["dT"]
    if "T_L" in ds.coords:
        return (ds["T_L"] - float(ds.attrs.get("T_R", 1.0))).rename("dT")
    raise ValueError("the store has neither a dT nor a T_L coordinate; allowed: a sweep over dT or T_L")


def fig10_data(negf: xr.Dataset, me: xr.Dataset, keldysh: xr.Dataset | None = None) -> xr.Dataset:
    """The arrays :func:`draw_fig10` draws: ``J_C`` and its ``rel_err`` against ΔT per ``Gamma_L``."""
    out = {}
    for tag, ds in (("negf", negf), ("me", me), ("keldysh", keldysh)):
        if ds is None:
            continue
        if "Gamma_L" not in ds.dims:
            raise ValueError(f"the {tag} store must sweep Gamma_L (003 Fig. 10: 0.01, 0.02); dims: {dict(ds.sizes)}")
        J, rel = _JC(ds)
        x = _dT(ds)
        out[f"J_C_{tag}"] = J.reset_coords(drop=True).assign_coords(dT=x.reset_coords(drop=True))
        out[f"rel_err_{tag}"] = rel.reset_coords(drop=True)
    return xr.Dataset(out)


def _curve(ax, x, J, rel, colour, label, scale=1.0):
    x, J, rel = np.asarray(x), np.asarray(J) * scale, np.asarray(rel)
    ax.plot(x, J, color=colour, lw=1.5, label=label)
    unresolved = ~(rel < 1.0)
    if unresolved.any():
        ax.plot(x[unresolved], J[unresolved], "o", mfc="none", mec=colour, ms=3.5, mew=0.8)


def _truncation(me: xr.Dataset) -> str:
    return f"N1 = {me.attrs.get('N1', '?')}, N2 = {me.attrs.get('N2', '?')}"


def _fig10_panel(ax, ds, title):
    J, rel = _JC(ds)
    x = _dT(ds)
    for i, g in enumerate(ds["Gamma_L"].values):
        _curve(ax, x.sel(Gamma_L=g) if "Gamma_L" in x.dims else x, J.sel(Gamma_L=g), rel.sel(Gamma_L=g),
               _COLOURS[i % 4], rf"$\Gamma_L$ = {g:g}")
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.set_xlabel(r"$\Delta T / T$")
    ax.set_ylabel(r"$J_C$ (heat out of C) [$k_BT \cdot k_BT/\hbar$]")
    ax.set_title(title, fontsize="medium")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))


def draw_fig10(negf: xr.Dataset, me: xr.Dataset, out: str | Path, keldysh: xr.Dataset | None = None,
               dpi: int = 150) -> Path:
    """003 Fig. 10 with its master-equation inset (and the other width reading, if given)."""
    fig10_data(negf, me, keldysh)  # validates the stores
    with style():
        ncol = 2 if keldysh is not None else 1
        fig = new_figure(5.2 * ncol, 4.0)
        axes = fig.subplots(1, ncol, squeeze=False)[0]
        _fig10_panel(axes[0], negf, f"kerr_negf, width = {negf.attrs.get('width', '?')}")
        ins = axes[0].inset_axes([0.11, 0.12, 0.38, 0.36])
        Jm, relm = _JC(me)
        xm = _dT(me)
        for i, g in enumerate(me["Gamma_L"].values):
            _curve(ins, xm.sel(Gamma_L=g) if "Gamma_L" in xm.dims else xm, Jm.sel(Gamma_L=g), relm.sel(Gamma_L=g),
                   _COLOURS[i % 4], None)
        ins.set_title(f"master eq. ({_truncation(me)})", fontsize="x-small")
        ins.tick_params(labelsize="x-small")
        ins.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        ins.yaxis.get_offset_text().set_fontsize("x-small")
        axes[0].legend(loc="center right", bbox_to_anchor=(1.0, 0.62), fontsize="small")
        if keldysh is not None:
            _fig10_panel(axes[1], keldysh, f"kerr_negf, width = {keldysh.attrs.get('width', '?')}")
            axes[1].legend(loc="upper left", fontsize="small")
        attrs = negf.attrs
        fig.suptitle(
            f"003 Fig. 10: $\\epsilon_1$ = {attrs.get('eps1', '?'):g}, $\\epsilon_2$ = {attrs.get('eps2', '?'):g}, "
            f"$\\Delta_z$ = {attrs.get('delta_z', '?'):g}, $\\epsilon_c$ = {attrs.get('eps_c', '?'):g}, "
            f"$\\Gamma_R$ = $\\Gamma_C$ = {attrs.get('Gamma_R', '?'):g}, $T_R$ = $T_C$ = T\n"
            "open circles: sign not resolved by the error bound", fontsize="small")
        return save(fig, out, dpi=dpi)


def delta_z_data(negf: xr.Dataset, me: xr.Dataset, keldysh: xr.Dataset | None = None) -> xr.Dataset:
    """``J_C`` against ``delta_z`` of each store (the arrays :func:`draw_delta_z` draws)."""
    out = {}
    for tag, ds in (("negf", negf), ("me", me), ("keldysh", keldysh)):
        if ds is None:
            continue
        if "delta_z" not in ds.dims:
            raise ValueError(f"the {tag} store must sweep delta_z; dims: {dict(ds.sizes)}")
        J, rel = _JC(ds)
        out[f"J_C_{tag}"] = J.reset_coords(drop=True)
        out[f"rel_err_{tag}"] = rel.reset_coords(drop=True)
    return xr.Dataset(out)


def draw_delta_z(negf: xr.Dataset, me: xr.Dataset, out: str | Path, keldysh: xr.Dataset | None = None,
                 dpi: int = 150) -> Path:
    """J_C / max|J_C| against delta_z: NEGF (one or both widths) and the master equation."""
    data = delta_z_data(negf, me, keldysh)
    with style():
        fig = new_figure(10.5, 4.2)
        ax, zoom = fig.subplots(1, 2)
        items = [("negf", f"kerr_negf, width = {negf.attrs.get('width', '?')}", "tab:blue"),
                 ("keldysh", f"kerr_negf, width = {keldysh.attrs.get('width', '?') if keldysh is not None else ''}",
                  "tab:green"),
                 ("me", f"kerr_fridge ({_truncation(me)})", "tab:red")]
        for tag, label, colour in items:
            if f"J_C_{tag}" not in data:
                continue
            J, rel = data[f"J_C_{tag}"], data[f"rel_err_{tag}"]
            s = float(np.nanmax(np.abs(J.values)))
            _curve(ax, J["delta_z"].values, J.values, rel.values, colour, f"{label} (max |J| = {s:.2g})", 1.0 / s)
        attrs = negf.attrs
        pge = np.pi * np.array([attrs.get("Gamma_L", np.nan), attrs.get("Gamma_C", np.nan)]) * attrs.get("eps1", np.nan)
        for v, ls in zip(pge, ("--", ":")):
            ax.axvline(v, color="0.4", lw=0.8, ls=ls)
        ax.axhline(0.0, color="0.5", lw=0.6)
        ax.set_xlabel(r"$\Delta_z / k_BT$")
        ax.set_ylabel(r"$J_C$ / max $|J_C|$")
        ax.legend(fontsize="small", loc="center left")
        # zoom: the NEGF curves in absolute units where Δz is of the order of πΓε (sign change)
        lim = 2.5 * float(np.nanmax(pge))
        for tag, label, colour in items[:2]:
            if f"J_C_{tag}" not in data:
                continue
            J, rel = data[f"J_C_{tag}"], data[f"rel_err_{tag}"]
            keep = J["delta_z"].values <= lim
            _curve(zoom, J["delta_z"].values[keep], J.values[keep], rel.values[keep], colour, label)
        for v, ls in zip(pge, ("--", ":")):
            zoom.axvline(v, color="0.4", lw=0.8, ls=ls)
        zoom.axhline(0.0, color="0.5", lw=0.6)
        zoom.set_yscale("symlog", linthresh=1e-10)
        zoom.set_xlabel(r"$\Delta_z / k_BT$")
        zoom.set_ylabel(r"$J_C$ [$k_BT \cdot k_BT/\hbar$] (symlog, linear below 1e-10)")
        zoom.set_title("kerr_negf: J_C < 0 (C heated) for small $\\Delta_z$", fontsize="small")
        zoom.legend(fontsize="small", loc="upper left")
        ax.set_title(rf"003 §IV B: $\Delta T$ = 0.3 T, $T_C$ = T; dashed/dotted: $\pi\Gamma_L\epsilon_1$ = {pge[0]:.3f},"
                     rf" $\pi\Gamma_C\epsilon_2$ = {pge[1]:.3f}", fontsize="small")
        return save(fig, out, dpi=dpi)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qtmsweep.plot.negf {fig10,delta_z} --negf S --me S [--keldysh S] OUT``."""
    p = argparse.ArgumentParser(prog="python -m qtmsweep.plot.negf", description=__doc__.splitlines()[0])
    p.add_argument("figure", choices=("fig10", "delta_z"))
    p.add_argument("--negf", required=True, help="kerr_negf store")
    p.add_argument("--me", required=True, help="kerr_fridge store (master equation)")
    p.add_argument("--keldysh", default=None, help="a second kerr_negf store (the other width reading)")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("out")
    a = p.parse_args(argv)
    negf, me = xr.open_zarr(a.negf).load(), xr.open_zarr(a.me).load()
    keldysh = xr.open_zarr(a.keldysh).load() if a.keldysh else None
    draw = draw_fig10 if a.figure == "fig10" else draw_delta_z
    print(draw(negf, me, a.out, keldysh=keldysh, dpi=a.dpi))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
