"""Maps of counting statistics: TUR ratio and Fano factor over a 2-D grid, with the region that
matters outlined — the genuine-ICC region (000) for ``cqd``/``sqd``, the cooling region
(``J_Q[C] > 0`` resolved by its bound, 003) for the fridges — and the cells that beat the
classical TUR (``Q (1 + tur_rel_err) < 2``; physics for coherent dynamics, a bug otherwise).

Same pattern as :mod:`qtmsweep.plot.maps`: ``data_noise_map(ds, ...) -> xarray.Dataset`` returns
exactly the arrays drawn; ``draw_noise_map(data, path)`` draws them.

Examples
--------
>>> import numpy as np, qtmsweep
>>> g = qtmsweep.grid(T_L=np.linspace(1.0, 2.0, 5), T_C=np.linspace(0.5, 1.0, 4))
>>> ds = qtmsweep.solve("qubit_fridge", cumulants=2, **g, eps1=2.0, eps2=2.0, delta_z=0.1, delta_x=0.0,
...                     T_R=1.0, Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, Omega_L=2.0, Omega_R=2.1,
...                     Omega_C=2.1, eps_c=20.0, approach="local")
>>> d = data_noise_map(ds, quantity="tur", flux="J_Q[C]")
>>> d.attrs["outline"], sorted(d.data_vars)
('cooling region J_Q[C] > 0 (heat drawn from C)', ['beats_classical_tur', 'outline', 'undetermined', 'value'])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..thermo.classify import CELL, resolved_sign
from .common import plane, select
from .style import DPI, new_figure, save, style

QUANTITIES = ("tur", "fano", "kur")
LABELS = {"tur": "TUR ratio $Q = S\\sigma/J^2$", "fano": "Fano factor $S/|J|$", "kur": "KUR ratio $SA/J^2$"}


def _outline(ds: xr.Dataset, reduced_model: str | None) -> tuple[xr.DataArray | None, str]:
    model = ds.attrs.get("model")
    if model in ("cqd", "sqd"):
        from ..thermo.classify import classify

        c = classify(ds, reduced_model)
        return c["regime"] == CELL["icc"], "genuine ICC region (000)"
    if "lead" in ds.coords and "C" in [str(x) for x in ds["lead"].values]:
        J = ds["J_Q"].sel(lead="C", drop=True)
        rel = ds.get("rel_err")
        if rel is not None and "lead" in rel.dims:
            rel = rel.sel(lead="C", drop=True)
        scale = np.abs(ds["J_Q"]).max("lead")
        return resolved_sign(J, scale, rel) > 0, "cooling region J_Q[C] > 0 (heat drawn from C)"
    return None, ""


def data_noise_map(ds: xr.Dataset, *, quantity: str = "tur", flux: str | None = None, x: str | None = None,
                   y: str | None = None, sel: Mapping[str, Any] | None = None,
                   reduced_model: str | None = None) -> xr.Dataset:
    """The ``quantity`` (``tur``, ``fano`` or ``kur``) of one counted ``flux`` over the plane ``(x, y)``.

    Returns ``value``, ``undetermined`` (the ratio's flux is not resolved), ``outline`` (ICC or
    cooling region; all False when the model has none) and ``beats_classical_tur``; attrs ``x``,
    ``y``, ``quantity``, ``flux``, ``outline``, ``title``.
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is not allowed; allowed: {', '.join(QUANTITIES)}")
    if quantity not in ds:
        raise ValueError("the dataset has no counting statistics; solve or sweep with cumulants=2 (or 3)")
    ds = select(ds, sel)
    labels = [str(f) for f in ds["flux"].values]
    flux = labels[0] if flux is None else flux
    if flux not in labels:
        raise ValueError(f"flux={flux!r} is not counted in this dataset; allowed: {', '.join(labels)}")
    value = ds[quantity].sel(flux=flux, drop=True)
    dims = [d for d in value.dims if value.sizes[d] > 1]
    if x is None or y is None:
        if len(dims) != 2:
            raise ValueError(f"the map needs two varying dimensions; {quantity} varies along {dims} "
                             "(select the others with sel={...} or name x and y)")
        x, y = (x or dims[0]), (y or dims[1] if dims[1] != x else dims[0])
    outline, what = _outline(ds, reduced_model)
    if outline is None:
        outline = xr.zeros_like(value, dtype=bool)
    tur = ds["tur"].sel(flux=flux, drop=True)
    err = ds["tur_rel_err"].sel(flux=flux, drop=True)
    beats = (tur * (1 + err) < 2) & np.isfinite(err)
    out = xr.Dataset({"value": value, "undetermined": ds["ratio_undetermined"].sel(flux=flux, drop=True),
                      "outline": outline.broadcast_like(value), "beats_classical_tur": beats})
    units = {}
    try:
        from ..physics.registry import get_model

        m = get_model(ds.attrs.get("model"))
        units = {d: m.parameter(d).units for d in (x, y) if d in m.parameter_names}
    except (ValueError, KeyError):
        pass
    for d in (x, y):  # coordinates carry their own units (force and alias axes are no model parameters)
        if d in ds.coords and ds[d].attrs.get("units"):
            units[d] = str(ds[d].attrs["units"])
    out.attrs.update(x=x, y=y, quantity=quantity, flux=flux, outline=what, x_units=units.get(x, ""),
                     y_units=units.get(y, ""), title=f"{ds.attrs.get('model', '')}: {quantity} of {flux}")
    return out


def draw_noise_map(data: xr.Dataset, path: str | Path, *, dpi: int = DPI, cmap: str = "viridis") -> Path:
    """Log colour map of the ratio, undetermined cells grey, the outline dashed, Q < 2 cells marked."""
    x, y, q = data.attrs["x"], data.attrs["y"], data.attrs["quantity"]
    X, Y = data[x].values, data[y].values
    Z = plane(data["value"], x, y)
    with style():
        fig = new_figure(5.4, 4.4)
        ax = fig.subplots()
        finite = Z[np.isfinite(Z) & (Z > 0)]
        und = plane(data["undetermined"], x, y)
        if und.any():
            ax.pcolormesh(X, Y, np.where(und, 1.0, np.nan), shading="nearest", cmap="Greys", vmin=0, vmax=3,
                          rasterized=True)
        handles = []
        if finite.size:
            lo, hi = finite.min(), max(finite.max(), finite.min() * 1.01)
            norm = LogNorm(lo, hi) if hi / lo > 10 else Normalize(lo, hi)
            mesh = ax.pcolormesh(X, Y, Z, shading="nearest", cmap=cmap, norm=norm, rasterized=True)
            fig.colorbar(mesh, ax=ax, pad=0.02).set_label(LABELS[q] + f" of {data.attrs['flux']}")
        if und.any():
            handles.append(Patch(color="#bfbfbf", label=f"undetermined ({int(und.sum())} cell{'s' if und.sum() != 1 else ''}: J unresolved)"))
        region = plane(data["outline"], x, y)
        if region.any() and not region.all():
            ax.contour(X, Y, region.astype(float), levels=[0.5], colors="k", linestyles="--", linewidths=1.4)
            ax.contourf(X, Y, region.astype(float), levels=[0.5, 1.5], colors="none", hatches=["//"])
            handles.append(Patch(facecolor="none", edgecolor="k", hatch="//", ls="--", label=data.attrs["outline"]))
        beats = plane(data["beats_classical_tur"], x, y)
        if beats.any():
            yy, xx = np.nonzero(beats)
            ax.plot(X[xx], Y[yy], ls="none", marker=".", ms=3, color="#d7301f")
            handles.append(Line2D([], [], ls="none", marker=".", color="#d7301f",
                                  label=f"beats classical TUR, Q < 2 ({int(beats.sum())} cell{'s' if beats.sum() != 1 else ''})"))
        if handles:
            ax.legend(handles=handles, loc="upper right", framealpha=0.85, fontsize=7)
        for axis, name, vals, setter in (("x", x, X, ax.set_xscale), ("y", y, Y, ax.set_yscale)):
            if _geometric(vals):
                setter("log")
        unit = {x: data.attrs.get("x_units", ""), y: data.attrs.get("y_units", "")}
        ax.set_xlabel(x + (f" [{unit[x]}]" if unit[x] and unit[x] != "1" else ""))
        ax.set_ylabel(y + (f" [{unit[y]}]" if unit[y] and unit[y] != "1" else ""))
        ax.set_title(data.attrs["title"], fontsize=9)
        return save(fig, path, dpi=dpi)


def _geometric(v: np.ndarray) -> bool:
    """An axis whose points are (close to) geometrically spaced over more than a decade."""
    v = np.asarray(v, dtype=float)
    if v.size < 3 or np.any(v <= 0) or v.max() / v.min() < 10:
        return False
    r = v[1:] / v[:-1]
    return bool(np.allclose(r, r[0], rtol=1e-6))


def data_tur_beaten(ds, *, x: str | None = None, y: str | None = None,
                    sel: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Where coherent machines beat the classical TUR: per dataset (one panel each) ``tur_min`` (the
    smallest resolved TUR ratio over the counted fluxes) over the plane ``(x, y)`` and
    ``tur_violation`` (coherent dynamics with ``Q (1 + tur_rel_err) < 2``), from the analysis or
    computed here (:func:`qtmsweep.thermo.noise.tur_variables`).  Panels are stacked on a ``panel``
    dimension; attrs ``x``, ``y``, ``titles`` (model, approach, statistics of each panel)."""
    from ..thermo.noise import tur_variables

    datasets = [ds] if isinstance(ds, xr.Dataset) else list(ds)
    parts, titles, xs, ys = [], [], [], []
    for d in datasets:
        if "tur" not in d:
            raise ValueError("the dataset has no counting statistics; solve or sweep with cumulants=2 (or 3)")
        d = select(d, sel)
        v = tur_variables(d) if "tur_violation" not in d or "tur_min" not in d else d[["tur_violation", "tur_min"]]
        dims = [k for k in v["tur_min"].dims if v["tur_min"].sizes[k] > 1]
        if (x is None or y is None) and len(dims) != 2:
            raise ValueError(f"the map needs two varying dimensions; tur varies along {dims} (name x and y)")
        px, py = x or dims[0], y or dims[1]
        xs.append(px)
        ys.append(py)
        undetermined = ~np.isfinite(v["tur_min"])
        parts.append(xr.Dataset({"tur_min": v["tur_min"].transpose(py, px).reset_coords(drop=True),
                                 "tur_violation": v["tur_violation"].transpose(py, px).reset_coords(drop=True),
                                 "undetermined": undetermined.transpose(py, px).reset_coords(drop=True)}))
        a = d.attrs
        what = ", ".join(str(a[k]) for k in ("approach", "stat") if k in a)
        titles.append(f"{a.get('model', '')} ({what})" if what else str(a.get("model", "")))
    # each panel keeps its own axes (machines swept over different parameters)
    parts = [p.rename({x_: f"{x_}_{i}" for x_ in p.dims}) for i, p in enumerate(parts)]
    out = xr.Dataset({f"{k}_{i}": p[k] for i, p in enumerate(parts) for k in p.data_vars})
    out.attrs.update(panels=len(parts), axes=[[a, b] for a, b in zip(xs, ys)], titles=titles)
    return out


def draw_tur_beaten(data: xr.Dataset, path: str | Path, *, dpi: int = DPI, cmap: str = "magma") -> Path:
    """One panel per machine: ``tur_min`` (log colour), undetermined grey, the cells beating the
    classical TUR (Q < 2 beyond the bound) filled red with a solid outline."""
    from ..physics.registry import get_model

    k = int(data.attrs["panels"])
    with style():
        fig = new_figure(4.2 * k, 3.8)
        axes = np.atleast_1d(fig.subplots(1, k))
        for i, ax in enumerate(axes):
            x, y = data.attrs["axes"][i]
            Q = data[f"tur_min_{i}"]
            X, Y, Z = Q[f"{x}_{i}"].values, Q[f"{y}_{i}"].values, Q.values
            und = data[f"undetermined_{i}"].values
            beat = data[f"tur_violation_{i}"].values
            finite = Z[np.isfinite(Z) & (Z > 0)]
            if und.any():
                ax.pcolormesh(X, Y, np.where(und, 1.0, np.nan), shading="nearest", cmap="Greys", vmin=0, vmax=3,
                              rasterized=True)
            if finite.size:
                lo, hi = finite.min(), max(finite.max(), finite.min() * 1.01)
                norm = LogNorm(lo, hi) if hi / lo > 10 else Normalize(lo, hi)
                mesh = ax.pcolormesh(X, Y, Z, shading="nearest", cmap=cmap, norm=norm, rasterized=True)
                fig.colorbar(mesh, ax=ax, pad=0.02).set_label("smallest TUR ratio $Q = S\\sigma/J^2$")
            handles = [Patch(color="#bfbfbf", label="undetermined (J or $\\sigma$ unresolved)")] if und.any() else []
            if beat.any():
                ax.pcolormesh(X, Y, np.where(beat, 1.0, np.nan), shading="nearest", cmap="Reds", vmin=0, vmax=1.2,
                              alpha=0.45, rasterized=True)
                if not beat.all() and beat.shape[0] > 1 and beat.shape[1] > 1:
                    ax.contour(X, Y, beat.astype(float), levels=[0.5], colors="#67000d", linewidths=1.2)
            handles.append(Patch(color="#cb181d", label=f"beats classical TUR, Q < 2 ({int(beat.sum())} cells)"))
            ax.legend(handles=handles, loc="upper right", framealpha=0.85, fontsize=7)
            model = data.attrs["titles"][i].split(" ")[0]
            for name, vals, setter, label in ((x, X, ax.set_xscale, ax.set_xlabel), (y, Y, ax.set_yscale, ax.set_ylabel)):
                if _geometric(vals):
                    setter("log")
                try:
                    unit = get_model(model).parameter(name).units
                except (ValueError, KeyError):
                    unit = ""
                label(name + (f" [{unit}]" if unit and unit != "1" else ""))
            ax.set_title(data.attrs["titles"][i], fontsize=9)
        return save(fig, path, dpi=dpi)
