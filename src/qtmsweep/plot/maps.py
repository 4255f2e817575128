"""Maps over the force plane: currents with the ICC region outlined, the regime (quadrant) map,
and the ICC region of model II as a function of μ_r.

Each figure kind is a pair ``data_<kind>(ds, **opts) -> xarray.Dataset`` (exactly the
arrays drawn, so tests and users can check them) and ``draw_<kind>(data, path)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..thermo.classify import CELL_REGIMES, FLUX_REGIMES
from .common import along_own_force, caption, ensure_analysed, flux, model_title, pair_of, plane, select
from .style import DPI, axis_label, new_figure, save, style, symbol

#: Colour of every cell regime in the quadrant map (fixed, so maps compare across figures).
REGIME_COLOURS = {
    "undetermined": "#d9d9d9",
    "equilibrium": "#000000",
    "normal": "#f4a582",
    "cross_effect": "#b2182b",
    "pseudo_icc": "#762a83",
    "icc": "#2166ac",
    "engine": "#1b7837",
    "refrigerator": "#92c5de",
    "second_law_violation": "#ffff33",
    "not_reduced": "#ffffff",
}
ICC_STYLE = {"colors": "k", "linestyles": "--", "linewidths": 1.6}
#: Legend text of the regimes whose SPEC names could be misread as operating modes.
REGIME_LEGEND = {
    "engine": "engine ($J_\\mathrm{N}$ against its force,\nforces of opposite sign)",
    "refrigerator": "refrigerator ($J_\\mathrm{E}$ against its\nforce, forces of opposite sign)",
    "icc": "genuine ICC",
    "pseudo_icc": "pseudo-ICC",
    "cross_effect": "cross effect",
    "second_law_violation": "second-law violation",
}


# -- current map ------------------------------------------------------------------
def data_current_map(ds: xr.Dataset, *, flux_names: str | Sequence[str] | None = None, panel_dim: str | None = None,
                     sel: Mapping[str, Any] | None = None, reduced_model: str | None = None) -> xr.Dataset:
    """Fluxes over the force plane and their genuine-ICC / pseudo-ICC masks.

    Returns a dataset with, for each flux ``J``: ``J`` (the current), ``icc_J`` and
    ``pseudo_icc_J``; dims are the two forces (x = energy force, y = particle force)
    plus ``panel_dim`` if given.  attrs: ``x``, ``y``, ``fluxes``, ``panel_dim``, ``title``,
    ``caption``.
    """
    ds = ensure_analysed(select(ds, sel), reduced_model)
    pair = pair_of(ds, reduced_model)
    names = [flux_names] if isinstance(flux_names, str) else list(flux_names or [f"{v}_{lead}" for v, lead in pair.fluxes[:1]])
    x, y = pair.forces
    out = {}
    own = {f"{v}_{lead}": (F, G) for (v, lead), F, G in zip(pair.fluxes, pair.forces, pair.forces[::-1])}
    for name in names:
        out[name] = flux(ds, name)
        if name in own:
            F, G = own[name]
            out[f"along_{name}"] = along_own_force(out[name], ds[F], ds[G]).assign_attrs(
                long_name=f"{name} * sign({F}) where both forces are non-zero with one sign (< 0: genuine ICC)")
        for label in ("icc", "pseudo_icc"):
            key = f"{label}_{name}"
            out[key] = ds[key] if key in ds else xr.zeros_like(out[name], dtype=bool)
    data = xr.Dataset(out)
    keep = [d for d in (panel_dim, x, y) if d]
    data = data.squeeze([d for d in data.dims if d not in keep and data.sizes[d] == 1], drop=True)
    data.attrs.update({"x": x, "y": y, "fluxes": names, "panel_dim": panel_dim or "",
                       "title": model_title(ds, pair), "caption": caption(ds, skip=(panel_dim or "",)),
                       "forces_parallel": int(pair.forces_parallel)})
    return data


def draw_current_map(data: xr.Dataset, path: str | Path, *, dpi: int = DPI, cmap: str = "RdBu_r") -> Path:
    """Diverging colour map of each flux (zero = white) with the ICC region hatched and outlined."""
    x, y, names, pdim = data.attrs["x"], data.attrs["y"], list(data.attrs["fluxes"]), data.attrs["panel_dim"]
    panels = [(name, v) for v in (data[pdim].values if pdim else [None]) for name in names]
    ncols = min(len(panels), 2 if len(panels) == 4 else 3)
    nrows = -(-len(panels) // ncols)
    with style():
        fig = new_figure(4.6 * ncols, 3.9 * nrows + 0.4)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        X, Y = data[x].values, data[y].values
        for k, (ax, (name, v)) in enumerate(zip(axes, panels)):
            sub = data.sel({pdim: v}) if pdim else data
            Z = plane(sub[name], x, y)
            vmax = float(np.nanmax(np.abs(Z))) if np.isfinite(Z).any() else 1.0
            mesh = ax.pcolormesh(X, Y, Z, shading="nearest", cmap=cmap, norm=Normalize(-vmax or -1, vmax or 1),
                                 rasterized=True)
            cb = fig.colorbar(mesh, ax=ax, pad=0.02)
            cb.set_label(axis_label(name))
            handles = []
            if np.any(np.isfinite(Z)) and np.nanmin(Z) < 0 < np.nanmax(Z):
                ax.contour(X, Y, Z, levels=[0.0], colors="0.35", linewidths=0.8)
                handles.append(Line2D([], [], color="0.35", lw=0.8, label=f"{symbol(name)} = 0"))
            n_icc = int(plane(sub[f"icc_{name}"], x, y).sum())
            if n_icc and f"along_{name}" in sub:
                _icc_region(ax, X, Y, plane(sub[f"along_{name}"], x, y), hatch="////", **ICC_STYLE)
            handles.append(Line2D([], [], color="k", ls="--", lw=1.6,
                                  label=f"genuine ICC in {symbol(name)} ({n_icc} cells)" if n_icc else
                                  f"no genuine ICC in {symbol(name)}"))
            pseudo = plane(sub[f"pseudo_icc_{name}"], x, y)
            if pseudo.any():
                yy, xx = np.nonzero(pseudo)
                ax.plot(X[xx], Y[yy], ls="none", marker="s", ms=3.5, mfc="#762a83", mec="none", clip_on=False)
                handles.append(Line2D([], [], ls="none", marker="s", ms=4, mfc="#762a83", mec="none",
                                      label="pseudo-ICC (one force zero)"))
            # below the panel, not over the map (the ICC region often fills the upper right)
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=1, frameon=False,
                      fontsize=8)
            ax.set_xlabel(axis_label(x))
            ax.set_ylabel(axis_label(y))
            tag = f"({chr(ord('a') + k)}) " if len(panels) > 1 else ""
            ax.set_title(f"{tag}{symbol(name)}" + (f", {symbol(pdim)} = {float(v):g}" if pdim else ""))
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        fig.suptitle(f"{data.attrs['title']}: currents over the force plane\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


def _icc_region(ax, X, Y, along: np.ndarray, *, hatch: str | None = None, fill: Any = None, **line) -> None:
    """Shade ``along < 0`` (genuine ICC) and draw its edge, the zero contour of ``along``."""
    if not np.any(along < 0):
        return
    low = float(np.nanmin(along))
    if hatch:
        ax.contourf(X, Y, along, levels=[low - 1.0, 0.0], colors="none", hatches=[hatch])
    if fill is not None:
        ax.contourf(X, Y, along, levels=[low - 1.0, 0.0], colors=[fill], alpha=0.12)
    if np.any(along > 0):
        ax.contour(X, Y, along, levels=[0.0], **line)


# -- quadrant (regime) map --------------------------------------------------------
def data_quadrant_map(ds: xr.Dataset, *, sel: Mapping[str, Any] | None = None,
                      reduced_model: str | None = None) -> xr.Dataset:
    """The cell regime (001 Fig. 3 computed from data) and both flux regimes over the force plane."""
    ds = ensure_analysed(select(ds, sel), reduced_model)
    pair = pair_of(ds, reduced_model)
    x, y = pair.forces
    names = [f"{v}_{lead}" for v, lead in pair.fluxes]
    data = xr.Dataset({"regime": ds["regime"], **{f"regime_{n}": ds[f"regime_{n}"] for n in names},
                       "quadrant": ds["quadrant"]})
    data = data.squeeze([d for d in data.dims if d not in (x, y) and data.sizes[d] == 1], drop=True)
    counts = {name: int((data["regime"] == code).sum()) for code, name in enumerate(CELL_REGIMES)}
    data.attrs.update({"x": x, "y": y, "fluxes": names, "title": model_title(ds, pair), "caption": caption(ds),
                       "forces_parallel": int(pair.forces_parallel),
                       "counts": [f"{k}={v}" for k, v in counts.items() if v]})
    return data


def draw_quadrant_map(data: xr.Dataset, path: str | Path, *, dpi: int = DPI) -> Path:
    """Categorical map of the regime; cells on a force axis drawn as larger markers."""
    x, y = data.attrs["x"], data.attrs["y"]
    X, Y = data[x].values, data[y].values
    colours = ListedColormap([REGIME_COLOURS[n] for n in CELL_REGIMES])
    norm = BoundaryNorm(np.arange(len(CELL_REGIMES) + 1) - 0.5, len(CELL_REGIMES))
    R = plane(data["regime"], x, y)
    with style():
        fig = new_figure(6.4, 5.0)
        ax = fig.subplots()
        ax.pcolormesh(X, Y, R, shading="nearest", cmap=colours, norm=norm, rasterized=True)
        on_axis = plane(data["quadrant"], x, y) == 0
        yy, xx = np.nonzero(on_axis)
        ax.scatter(X[xx], Y[yy], c=R[yy, xx], cmap=colours, norm=norm, s=14, marker="s", linewidths=0,
                   zorder=3, clip_on=False)
        ax.axhline(0.0, color="k", lw=0.6, zorder=2)
        ax.axvline(0.0, color="k", lw=0.6, zorder=2)
        for label, (fx, fy) in (("I", (0.97, 0.97)), ("II", (0.03, 0.97)), ("III", (0.03, 0.03)), ("IV", (0.97, 0.03))):
            qx = X.max() if fx > 0.5 else X.min()
            qy = Y.max() if fy > 0.5 else Y.min()
            if (qx > 0 if fx > 0.5 else qx < 0) and (qy > 0 if fy > 0.5 else qy < 0):
                ax.text(fx, fy, label, transform=ax.transAxes, ha="right" if fx > 0.5 else "left",
                        va="top" if fy > 0.5 else "bottom", fontsize=12, fontweight="bold")
        present = [n for code, n in enumerate(CELL_REGIMES) if np.any(R == code)]
        handles = [Patch(facecolor=REGIME_COLOURS[n], edgecolor="0.5", label=REGIME_LEGEND.get(n, n.replace("_", " ")))
                   for n in present]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="regime", frameon=False)
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        parallel = "parallel" if data.attrs.get("forces_parallel") else "non-parallel (different reservoirs)"
        ax.set_title(f"{data.attrs['title']}: regime of ({symbol(x)}, {symbol(y)}), forces {parallel}\n"
                     f"{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


# -- model II: ICC region against mu_r -------------------------------------------------
def data_icc_mu_r(ds: xr.Dataset, *, mu_r_values: Sequence[float] | None = None, sel: Mapping[str, Any] | None = None,
                  reduced_model: str | None = None) -> xr.Dataset:
    """ICC masks of both fluxes over (force plane × μ_r) and the ICC area fraction against μ_r.

    ``fraction_icc_<flux>(mu_r)`` is the fraction of the cells with both forces > 0 whose
    flux is in genuine ICC; ``threshold_<flux>`` (attr) the smallest μ_r of the grid with
    an ICC cell.  ``mu_r_values`` (default: up to 6 values spread over the grid) are the
    outlines drawn.
    """
    ds = ensure_analysed(select(ds, sel), reduced_model)
    if "mu_r" not in ds.dims:
        raise ValueError("the dataset must sweep mu_r (a dimension named mu_r)")
    pair = pair_of(ds, reduced_model)
    x, y = pair.forces
    names = [f"{v}_{lead}" for v, lead in pair.fluxes]
    data = xr.Dataset({f"icc_{n}": ds[f"icc_{n}"] for n in names})
    for n, F, G in zip(names, pair.forces, pair.forces[::-1]):
        data[f"along_{n}"] = along_own_force(flux(ds, n), ds[F], ds[G])
    data = data.squeeze([d for d in data.dims if d not in (x, y, "mu_r") and data.sizes[d] == 1], drop=True)
    inner = (data[x] > 0) & (data[y] > 0)
    attrs: dict[str, Any] = {}
    for n in names:
        frac = data[f"icc_{n}"].where(inner).sum((x, y)) / inner.sum()
        data[f"fraction_icc_{n}"] = frac.assign_attrs(units="1", long_name=f"fraction of the (+,+) quadrant with "
                                                                          f"genuine ICC in {n}")
        has = data["mu_r"].where(frac > 0)
        attrs[f"threshold_{n}"] = float(has.min()) if bool((frac > 0).any()) else float("nan")
    mu = np.asarray(data["mu_r"].values, dtype=float)
    if mu_r_values is None:
        idx = np.unique(np.linspace(0, mu.size - 1, min(6, mu.size)).round().astype(int))
        mu_r_values = mu[idx].tolist()
    data.attrs.update({"x": x, "y": y, "fluxes": names, "mu_r_values": [float(v) for v in mu_r_values],
                       "title": model_title(ds, pair), "caption": caption(ds, skip=("mu_r",)), **attrs})
    return data


def draw_icc_mu_r(data: xr.Dataset, path: str | Path, *, dpi: int = DPI, cmap: str = "viridis") -> Path:
    """(a) ICC outlines for several μ_r (solid: first flux... per legend); (b) ICC area fraction vs μ_r."""
    from matplotlib import colormaps

    x, y, names = data.attrs["x"], data.attrs["y"], list(data.attrs["fluxes"])
    values = list(data.attrs["mu_r_values"])
    colours = colormaps[cmap](np.linspace(0.0, 0.9, max(len(values), 2)))
    styles = ["-", "--", ":"]
    X, Y = data[x].values, data[y].values
    with style():
        fig = new_figure(10.0, 4.4)
        ax, bx = fig.subplots(1, 2, width_ratios=[1.15, 1.0])
        for c, v in zip(colours, values):
            sub = data.sel(mu_r=v, method="nearest")
            for ls, n in zip(styles, names):
                if sub[f"icc_{n}"].any():
                    _icc_region(ax, X, Y, plane(sub[f"along_{n}"], x, y), fill=c, colors=[c], linestyles=ls,
                                linewidths=1.6)
        handles = [Line2D([], [], color=c, lw=2, label=f"{symbol('mu_r')} = {v:g}"
                          + ("" if bool(data[f"icc_{names[0]}"].sel(mu_r=v, method="nearest").any()
                                        or data[f"icc_{names[1]}"].sel(mu_r=v, method="nearest").any())
                             else " (no ICC)"))
                   for c, v in zip(colours, values)]
        handles += [Line2D([], [], color="k", ls=ls, lw=1.5, label=f"edge of ICC in {symbol(n)}")
                    for ls, n in zip(styles, names)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncols=3, frameon=False)
        ax.set_xlim(X.min(), X.max())
        ax.set_ylim(Y.min(), Y.max())
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        ax.set_title("(a) genuine-ICC regions (shaded; overlapping shades\n"
                     f"= ICC at several {symbol('mu_r')}) and their edges", fontsize=9)
        mu = data["mu_r"].values
        for ls, n in zip(styles, names):
            bx.plot(mu, data[f"fraction_icc_{n}"].values, ls=ls, color="k", marker=".", ms=3, label=f"ICC in {symbol(n)}")
            t = data.attrs.get(f"threshold_{n}")
            if t is not None and np.isfinite(t):
                bx.axvline(t, color="0.5", ls=ls, lw=0.8)
        bx.set_xlabel(axis_label("mu_r"))
        bx.set_ylabel("fraction of the plotted (+,+) quadrant")
        bx.set_title(f"(b) ICC area against {symbol('mu_r')} (grey: first grid {symbol('mu_r')} with ICC)", fontsize=9)
        bx.legend(loc="upper left")
        fig.suptitle(f"{data.attrs['title']}: ICC regions against {symbol('mu_r')} (000 never states "
                     f"{symbol('mu_r')})\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


__all__ = ["data_current_map", "draw_current_map", "data_quadrant_map", "draw_quadrant_map", "data_icc_mu_r",
           "draw_icc_mu_r", "REGIME_COLOURS", "FLUX_REGIMES"]
