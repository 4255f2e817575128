"""Figures of the refrigerators (``qubit_fridge``, ``kerr_fridge``) and the rectifier (``chain``).

Every kind takes one dataset or a list of them (several sweeps on one figure: local and global
master equation, several truncations N, one and two qubits); each dataset is analysed on the
fly if it does not carry the analysis variables.  As for every kind, ``data_<kind>`` returns
exactly the arrays drawn, ``draw_<kind>`` writes the file.

``fridge_cuts``    cooling power ``J_Q[C]`` and COP/COP_Carnot against ``x``, one line per
                   value of ``line_dim``, line style per dataset; cells whose sign the precision
                   bound does not resolve are drawn as open grey circles (never as cooling);
                   with one line the cooled / heated ranges are shaded (003 Figs. 3–5, 7, 8).
``fridge_map``     ``J_Q[C]`` over ``(x, y)`` with the resolved cooling region outlined and
                   undetermined cells hatched, the operating mode and COP/COP_Carnot; one row
                   per dataset (local vs global).
``truncation``     ``kerr_fridge``: ``J_Q[C]`` against the truncation N at a few ``x`` values,
                   and the stores' own truncation-error estimate of J_C (``truncation_err``, from N, N+1, N+2) relative to J_C, against ``x``.
``rectification``  ``chain`` forward/reverse sweep: ``|J_Q[L]|`` forward and reverse against
                   ``x`` and the contrast C (004 Fig. 4).
``contrast_map``   the contrast over ``(x, y)`` of a forward/reverse sweep.
``conductance``    004's κ against ``x`` (a sweep with ``dT = ±δ``), one line per
                   ``line_dim`` value, line style per dataset (004 Figs. 2, 5; local vs global).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..analysis import analyze
from ..physics.secular import SECULAR_LIMIT
from ..thermo.fridge import FRIDGE_MODELS
from ..thermo.pairs import DIRECTION, conductance_from_dT, contrast_from_directions, direction_pair, reverse_swap
from ..thermo.performance import MODES
from .style import DPI, new_figure, save, style

LINE_STYLES = ("-", "--", ":", "-.")
MODE_COLOURS = {
    "undetermined": "#d9d9d9", "equilibrium": "#000000", "engine": "#1b7837", "refrigerator": "#92c5de",
    "accelerator": "#fdb863", "heater": "#b2182b", "conduction": "#f4a582",
    "absorption_refrigerator": "#2166ac", "heat_transformer": "#762a83", "mixed": "#ffff99",
}

# -- symbols and units of the machines' quantities (ħ = k_B = 1) --------------------------------
_SYM = {
    "dT": r"$\Delta T$", "T": r"$T$", "T_L": r"$T_L$", "T_R": r"$T_R$", "T_C": r"$T_C$",
    "delta_z": r"$\Delta_z$", "delta_x": r"$\Delta_x$", "eps1": r"$\epsilon_1$", "eps2": r"$\epsilon_2$",
    "eps_c": r"$\epsilon_c$", "g": r"$g$", "omega": r"$\omega$", "gamma_L": r"$\gamma_L$",
    "gamma_R": r"$\gamma_R$", "Gamma_L": r"$\Gamma_L$", "Gamma_R": r"$\Gamma_R$", "Gamma_C": r"$\Gamma_C$",
    "N": r"$N$", "N1": r"$N_1$", "N2": r"$N_2$",
}
#: Unit of an energy, of an energy current and of a rate, per model family.
_UNITS = {
    "fridge": {"energy": r"$k_BT$", "energy/time": r"$(k_BT)^2/\hbar$", "1/time": r"$k_BT/\hbar$",
               "1": ""},
    "chain": {"energy": r"$\hbar\omega$", "energy/time": r"$\hbar\omega^2$", "1/time": r"$k_B\omega$",
              "1": ""},
}
_ENERGY_PARAMS = {"dT", "T", "T_L", "T_R", "T_C", "delta_z", "delta_x", "eps1", "eps2", "eps_c", "g", "omega"}


def _family(ds: xr.Dataset) -> str:
    return "chain" if ds.attrs.get("model") == "chain" else "fridge"


def sym(name: str) -> str:
    """Math-text symbol of a machine parameter.

    >>> sym("delta_z")
    '$\\\\Delta_z$'
    """
    return _SYM.get(name, name.replace("_", r"\_"))


def label(name: str, family: str) -> str:
    """Axis label ``symbol (unit)`` of a parameter."""
    unit = (_UNITS[family]["energy"] if name in _ENERGY_PARAMS
            else _UNITS[family]["1/time"].replace("k_B", "") if name in ("gamma_L", "gamma_R") else "")
    return f"{sym(name)} ({unit})" if unit else sym(name)


def _as_list(ds: xr.Dataset | Sequence[xr.Dataset]) -> list[xr.Dataset]:
    return [ds] if isinstance(ds, xr.Dataset) else list(ds)


def _analysed(ds: xr.Dataset) -> xr.Dataset:
    needed = {"cooling"} if ds.attrs.get("model") in FRIDGE_MODELS else {"mode"}
    return ds if needed <= set(ds.data_vars) else analyze(ds)


def _select(ds: xr.Dataset, sel: Mapping[str, Any] | None) -> xr.Dataset:
    if not sel:
        return ds
    sel = {k: v for k, v in sel.items() if k in ds.dims}
    return ds.sel(sel, method="nearest") if sel else ds


def _check_model(ds: xr.Dataset, allowed: Sequence[str], kind: str) -> None:
    model = ds.attrs.get("model")
    if model not in allowed:
        raise ValueError(f"figure kind {kind!r} does not fit model {model!r}; allowed models: {', '.join(allowed)}")


def _check_dim(ds: xr.Dataset, name: str | None, opt: str, kind: str, required: bool = True) -> None:
    if name is None:
        if required:
            raise ValueError(f"figure kind {kind!r} needs the option {opt}=<dimension>; allowed: "
                             f"{', '.join(d for d in ds.dims if d not in ('lead', 'state', 'site'))}")
        return
    if name not in ds.dims:
        raise ValueError(f"{opt}={name!r} is not a dimension of the dataset; allowed: "
                         f"{', '.join(d for d in ds.dims if d not in ('lead', 'state', 'site', DIRECTION))}")


#: How cells outside the secular approximation's regime are drawn (maps: hatched over grey; cuts: faint).
SECULAR_HATCH, SECULAR_FACE = "////", "0.55"


def _check_limit(limit: Any) -> float:
    try:
        value = float(limit)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"secular_limit={limit!r} is not allowed; allowed: a finite number > 0 (default "
                         f"{SECULAR_LIMIT:g}, qtmsweep.physics.secular.SECULAR_LIMIT)")
    return value


def secular_invalid(ds: xr.Dataset, like: xr.DataArray, limit: float = SECULAR_LIMIT) -> xr.DataArray:
    """True where the global master equation is outside its regime: ``secular_ratio < limit``.

    ``secular_ratio`` (:mod:`qtmsweep.physics.secular`) is stored by the global approaches only;
    elsewhere (local approach, ``kerr_fridge``) the mask is False.  Dimensions of ``secular_ratio``
    that ``like`` does not have (the ``direction`` of a forward/reverse pair, the ``dT`` pair of a
    conductance) are reduced with *any*: a cell is invalid if one of the solves behind it is.
    NaN ratios (non-finite cells) are not flagged here (the ``nonfinite`` counter names them).

    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"secular_ratio": ("x", [np.inf, 12.0, 9.9, 0.1])})
    >>> secular_invalid(ds, ds.secular_ratio).values.tolist()
    [False, False, True, True]
    """
    if "secular_ratio" not in ds:
        return xr.zeros_like(like, dtype=bool)
    bad = ds["secular_ratio"] < _check_limit(limit)
    extra = [k for k in bad.dims if k not in like.dims]
    if extra:
        bad = bad.any(extra)
    bad = bad.drop_vars([c for c in bad.coords if c not in like.dims])
    return bad.broadcast_like(like).transpose(*like.dims)


def set_labels(datasets: list[xr.Dataset], labels: Sequence[str] | None = None) -> list[str]:
    """One legend label per dataset: what differs between them (approach, truncation, N, ...)."""
    if labels is not None:
        if len(labels) != len(datasets):
            raise ValueError(f"labels: {len(labels)} given for {len(datasets)} datasets; allowed: one per dataset")
        return [str(x) for x in labels]
    if len(datasets) == 1:
        return [str(datasets[0].attrs.get("sweep", datasets[0].attrs.get("model", "")))]
    out = []
    for ds in datasets:
        a = ds.attrs
        parts = []
        for key in ("approach", "N", "N1"):
            values = {str(d.attrs.get(key)) for d in datasets}
            if len(values) > 1:
                if key == "N1":
                    parts.append(f"$N_1 \\times N_2$ = {a.get('N1')}×{a.get('N2')}")
                elif key == "N":
                    parts.append(f"N = {a.get('N')}" + (" (one qubit)" if int(a.get("N", 0)) == 1 else ""))
                else:
                    parts.append(f"{a.get(key)} ME")
        if not parts and {str(d.attrs.get("N2")) for d in datasets} != {str(a.get("N2"))}:
            parts.append(f"$N_1 \\times N_2$ = {a.get('N1')}×{a.get('N2')}")
        out.append(", ".join(parts) or str(a.get("sweep", "")))
    return out


def _fixed_caption(ds: xr.Dataset, skip: Sequence[str]) -> str:
    keys = ("eps1", "eps2", "delta_z", "delta_x", "T", "dT", "T_L", "T_R", "T_C", "Gamma_L", "Gamma_R", "Gamma_C",
            "eps_c", "omega", "g", "gamma_L", "gamma_R", "N", "stat")
    parts = []
    for k in keys:
        if k in skip or k not in ds.attrs or k in ds.dims:
            continue
        v = ds.attrs[k]
        parts.append(f"{sym(k)} = {v:g}" if isinstance(v, (int, float)) else f"{sym(k)} = {v}")
    return ", ".join(parts)


# == fridge_cuts ================================================================================
def data_fridge_cuts(ds, *, x: str | None = None, line_dim: str | None = None, sel: Mapping[str, Any] | None = None,
                     labels: Sequence[str] | None = None, secular_limit: float = SECULAR_LIMIT) -> xr.Dataset:
    """``J_C = J_Q[C]``, ``cooling`` (−1/0/+1) and ``cop_over_carnot`` per dataset (dim ``set``) along ``x``.

    ``secular_invalid``: cells of a global approach with ``secular_ratio < secular_limit`` (drawn
    faint, never as cooling: their ``cooled`` is False and their ``cop_over_carnot`` NaN);
    ``cooled``: the cells drawn as cooled (resolved cooling, secular approximation valid or not made).
    """
    datasets = _as_list(ds)
    secular_limit = _check_limit(secular_limit)
    parts = []
    for d in datasets:
        _check_model(d, FRIDGE_MODELS, "fridge_cuts")
        d = _select(_analysed(d), sel)
        _check_dim(d, x, "x", "fridge_cuts")
        _check_dim(d, line_dim, "line_dim", "fridge_cuts", required=False)
        keep = [k for k in (line_dim, x) if k]
        extra = [k for k in d["cooling"].dims if k not in keep]
        if any(d.sizes[k] > 1 for k in extra):
            raise ValueError(f"fridge_cuts: the dataset also varies along {extra}; select a value with "
                             "sel={...} or give line_dim")
        bad = secular_invalid(d, d["cooling"], secular_limit)
        one = xr.Dataset({
            "J_C": d["J_Q"].sel(lead="C", drop=True),
            "cooling": d["cooling"],
            "cooled": (d["cooling"] == 1) & ~bad,
            "secular_invalid": bad,
            "cop_over_carnot": d["cop_over_carnot"].where(~bad),
        }).squeeze(extra, drop=True)
        one = one.drop_vars([c for c in one.coords if c not in keep])
        parts.append(one.transpose(*keep))
    names = set_labels(datasets, labels)
    data = xr.concat(parts, dim="set", join="outer", combine_attrs="drop")
    data = data.assign_coords(set=np.arange(len(parts)))
    for k in ("cooled", "secular_invalid"):  # outer join: a value missing in one set is not flagged
        data[k] = data[k].fillna(False).astype(bool)
    data["J_C"].attrs = {"units": "energy/time", "long_name": "heat current out of bath C, J_C = J_Q[C]"}
    data.attrs.update({"x": x, "line_dim": line_dim or "", "labels": names, "family": "fridge",
                       "secular_limit": secular_limit,
                       "title": f"{datasets[0].attrs.get('model')}: heat current out of bath C",
                       "caption": _fixed_caption(datasets[0], [k for k in (x, line_dim) if k])})
    return data


def _line_values(data: xr.Dataset) -> list:
    ld = data.attrs["line_dim"]
    return list(data[ld].values) if ld else [None]


def _colours(n: int):
    from matplotlib import colormaps

    return colormaps["viridis"](np.linspace(0.0, 0.85, max(n, 2)))[:n] if n > 1 else ["k"]


def _valid_segments(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values`` with NaN where not ``valid`` (a line drawn through it breaks there)."""
    return np.where(valid, values, np.nan)


def draw_fridge_cuts(data: xr.Dataset, path: str | Path, *, dpi: int = DPI) -> Path:
    """(a) J_C against x; (b) COP/COP_Carnot where C is cooled.  Open grey circles: sign undetermined."""
    x, ld, names = data.attrs["x"], data.attrs["line_dim"], list(data.attrs["labels"])
    units = _UNITS[data.attrs["family"]]
    values = _line_values(data)
    colours = _colours(len(values))
    X = data[x].values
    single = len(values) == 1 and data.sizes["set"] == 1
    with style():
        fig = new_figure(10.0, 4.3)
        ax, bx = fig.subplots(1, 2)
        ax.axhline(0.0, color="0.6", lw=0.7)
        n_undet = n_secular = 0
        for s in range(data.sizes["set"]):
            for c, v in zip(colours, values):
                sub = data.isel(set=s)
                if ld:
                    sub = sub.sel({ld: v})
                J = sub["J_C"].values
                code = sub["cooling"].values
                bad = sub["secular_invalid"].values
                ls = LINE_STYLES[s % len(LINE_STYLES)]
                if bad.any():  # the whole curve faint, the valid part on top of it
                    n_secular += int(bad.sum())
                    ax.plot(X, J, color=c, ls=ls, lw=0.9, alpha=0.3)
                ax.plot(X, _valid_segments(J, ~bad), color=c, ls=ls, lw=1.5)
                und = (code == 0) & ~bad
                n_undet += int(und.sum())
                if und.any():
                    ax.plot(X[und], J[und], ls="none", marker="o", mfc="none", mec="0.45", ms=4)
                bx.plot(X, sub["cop_over_carnot"].values, color=c, ls=ls, lw=1.5)
                if single:
                    for where, colour in ((sub["cooled"].values, "#2166ac"), ((code == -1) & ~bad, "#b2182b"),
                                          (bad, SECULAR_FACE)):
                        ax.fill_between(X, 0, 1, where=where, color=colour, alpha=0.12, lw=0,
                                        transform=ax.get_xaxis_transform(), step="mid")
        handles = []
        if ld:
            handles += [Line2D([], [], color=c, lw=2, label=f"{sym(ld)} = {float(v):g}") for c, v in zip(colours, values)]
        if data.sizes["set"] > 1:
            handles += [Line2D([], [], color="k", ls=LINE_STYLES[s % 4], lw=1.5, label=n) for s, n in enumerate(names)]
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", mec="0.45", ms=4,
                              label=f"sign of $J_C$ undetermined ({n_undet} cells)"))
        if n_secular:
            valid = data["J_C"].where(~data["secular_invalid"]).values
            clipped = False
            if np.isfinite(valid).any():  # the scale of the results, not of the invalid curves
                lo, hi = float(np.nanmin(valid)), float(np.nanmax(valid))
                lo, hi = min(lo, 0.0), max(hi, 0.0)
                pad = 0.08 * (hi - lo or abs(hi) or 1.0)
                everything = data["J_C"].values
                clipped = bool((everything < lo - pad).any() or (everything > hi + pad).any())
                ax.set_ylim(lo - pad, hi + pad)
            handles.append(Line2D([], [], color="k", lw=0.9, alpha=0.3,
                                  label=f"faint: secular approximation invalid, secular_ratio < "
                                        f"{data.attrs['secular_limit']:g} ({n_secular} cells"
                                        + ("; axis clipped to the valid curves" if clipped else "") + ")"))
        if single:
            handles += [Patch(color="#2166ac", alpha=0.25, label="C cooled (sign resolved)"),
                        Patch(color="#b2182b", alpha=0.25, label="C heated")]
        ax.set_xlabel(label(x, "fridge"))
        ax.set_ylabel(f"$J_C = J_Q^C$ ({units['energy/time']})")
        ax.set_title("(a) heat current out of bath C ($J_C > 0$: C is cooled)")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        bx.set_xlim(ax.get_xlim())  # the same x range in both panels (COP exists only where C is cooled)
        bx.set_xlabel(label(x, "fridge"))
        bx.set_ylabel(r"COP / COP$_\mathrm{Carnot}$")
        top = np.nanmax(data["cop_over_carnot"].values) if np.isfinite(data["cop_over_carnot"].values).any() else 1.0
        bx.set_ylim(0.0, min(1.0, 1.15 * top))
        bx.set_title("(b) COP / Carnot COP (where C is cooled" + (", secular ME valid)" if n_secular else ")"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)
        fig.suptitle(f"{data.attrs['title']}\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


def _hatch_cells(ax, X: np.ndarray, Y: np.ndarray, mask: np.ndarray) -> None:
    """Grey the cells of ``mask`` (over ``(Y, X)``, cell-centred like ``pcolormesh(shading="nearest")``)
    and hatch them, so that what lies under them stays visible but reads as no result."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    m = np.ma.masked_where(~mask, np.ones(mask.shape))
    ax.pcolormesh(X, Y, m, shading="nearest", cmap=ListedColormap([SECULAR_FACE]), alpha=0.6, rasterized=True)
    ex, ey = _edges(X), _edges(Y)
    rows, cols = np.nonzero(mask)  # one hatched rectangle per masked cell, none elsewhere
    boxes = [Rectangle((ex[j], ey[i]), ex[j + 1] - ex[j], ey[i + 1] - ey[i]) for i, j in zip(rows, cols)]
    ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="0.15", hatch=SECULAR_HATCH, lw=0))


def _edges(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


# == fridge_map ================================================================================
def data_fridge_map(ds, *, x: str | None = None, y: str | None = None, sel: Mapping[str, Any] | None = None,
                    labels: Sequence[str] | None = None, secular_limit: float = SECULAR_LIMIT) -> xr.Dataset:
    """``J_C``, ``cooling``, ``mode`` and ``cop_over_carnot`` over ``(y, x)``, one ``set`` per dataset.

    ``secular_invalid``: cells of a global approach with ``secular_ratio < secular_limit``, drawn
    hatched over grey in every panel and never as cooling; ``cooled`` is the region outlined as
    cooling (resolved cooling where the secular approximation holds or is not made) and
    ``cop_over_carnot`` is NaN (blank) in invalid cells.
    """
    datasets = _as_list(ds)
    secular_limit = _check_limit(secular_limit)
    parts = []
    for d in datasets:
        _check_model(d, FRIDGE_MODELS, "fridge_map")
        d = _select(_analysed(d), sel)
        _check_dim(d, x, "x", "fridge_map")
        _check_dim(d, y, "y", "fridge_map")
        extra = [k for k in d["cooling"].dims if k not in (x, y)]
        if any(d.sizes[k] > 1 for k in extra):
            raise ValueError(f"fridge_map: the dataset also varies along {extra}; select a value with sel={{...}}")
        bad = secular_invalid(d, d["cooling"], secular_limit)
        one = xr.Dataset({"J_C": d["J_Q"].sel(lead="C", drop=True), "cooling": d["cooling"], "mode": d["mode"],
                          "cooled": (d["cooling"] == 1) & ~bad, "secular_invalid": bad,
                          "cop_over_carnot": d["cop_over_carnot"].where(~bad)}).squeeze(extra, drop=True)
        one = one.drop_vars([c for c in one.coords if c not in (x, y)])
        parts.append(one.transpose(y, x))
    data = xr.concat(parts, dim="set", join="exact", combine_attrs="drop").assign_coords(set=np.arange(len(parts)))
    data.attrs.update({"x": x, "y": y, "labels": set_labels(datasets, labels), "family": "fridge",
                       "secular_limit": secular_limit,
                       "title": f"{datasets[0].attrs.get('model')}: cooling of bath C",
                       "caption": _fixed_caption(datasets[0], (x, y))})
    return data


def draw_fridge_map(data: xr.Dataset, path: str | Path, *, dpi: int = DPI, cmap: str = "RdBu_r") -> Path:
    """Per dataset: J_C (cooling region outlined, undetermined hatched), mode, COP/COP_Carnot."""
    x, y, names = data.attrs["x"], data.attrs["y"], list(data.attrs["labels"])
    units = _UNITS["fridge"]
    X, Y = data[x].values, data[y].values
    n = data.sizes["set"]
    modes_present = sorted({int(v) for v in np.unique(data["mode"].values[~data["secular_invalid"].values])})
    n_secular = 0
    with style():
        fig = new_figure(14.0, 3.9 * n + 0.9)
        axes = fig.subplots(n, 3, squeeze=False)
        for s in range(n):
            sub = data.isel(set=s)
            ax, mx, cx = axes[s]
            Z = sub["J_C"].values
            vmax = float(np.nanmax(np.abs(Z))) if np.isfinite(Z).any() else 1.0
            mesh = ax.pcolormesh(X, Y, Z, shading="nearest", cmap=cmap, norm=Normalize(-(vmax or 1), vmax or 1),
                                 rasterized=True)
            cb = fig.colorbar(mesh, ax=ax, pad=0.02)
            cb.set_label(f"$J_C$ ({units['energy/time']}), own scale per row")
            cb.formatter.set_powerlimits((-2, 3))
            bad = sub["secular_invalid"].values
            cool = sub["cooled"].values.astype(float)
            if 0 < cool.sum() < cool.size:
                ax.contour(X, Y, cool, levels=[0.5], colors="k", linewidths=1.6, linestyles="--")
            und = ((sub["cooling"].values == 0) & ~bad).astype(float)
            if und.any():
                ax.contourf(X, Y, und, levels=[0.5, 1.5], colors="none", hatches=["xxxx"])
            notes = [f"xx: sign undetermined, {int(und.sum())} cells"] if und.any() else []
            if bad.any():
                notes.append(f"//: secular ME invalid, {int(bad.sum())} of {bad.size} cells")
                n_secular += int(bad.sum())
            edge = ("dashed = edge of the resolved cooling region" if 0 < cool.sum() < cool.size
                    else "no cell drawn as cooling" if not cool.any() else "every cell cooling")
            ax.set_title(f"({chr(97 + 3 * s)}) $J_C$, {names[s]}: {edge}"
                         + (f"\n({'; '.join(notes)})" if notes else ""), fontsize=8)
            codes = np.arange(len(MODES))
            mcmap = ListedColormap([MODE_COLOURS[m] for m in MODES])
            mx.pcolormesh(X, Y, sub["mode"].values, shading="nearest", cmap=mcmap,
                          norm=BoundaryNorm(np.append(codes, len(MODES)) - 0.5, len(MODES)), rasterized=True)
            mx.set_title(f"({chr(98 + 3 * s)}) operating mode", fontsize=8)
            ratio = sub["cop_over_carnot"].values
            top = float(np.nanmax(ratio)) if np.isfinite(ratio).any() else 1.0
            m2 = cx.pcolormesh(X, Y, ratio, shading="nearest", cmap="viridis", norm=Normalize(0.0, top or 1.0),
                               rasterized=True)
            if np.isfinite(ratio).any():
                fig.colorbar(m2, ax=cx, pad=0.02).set_label(r"COP / COP$_\mathrm{Carnot}$")
                cx.set_title(f"({chr(99 + 3 * s)}) COP / Carnot COP (blank: not refrigerating)", fontsize=8)
            else:  # no scale for no data
                fig.colorbar(m2, ax=cx, pad=0.02).remove()  # keep the panel's width as in the other rows
                cx.set_title(f"({chr(99 + 3 * s)}) COP / Carnot COP: no refrigerating cell", fontsize=8)
            for a in (ax, mx, cx):
                a.set_xlabel(label(x, "fridge"))
                a.set_ylabel(label(y, "fridge"))
                if bad.any():
                    _hatch_cells(a, X, Y, bad)
        handles = [Patch(color=MODE_COLOURS[MODES[c]], label=MODES[c].replace("_", " ")) for c in modes_present]
        if n_secular:
            handles.append(Patch(facecolor=SECULAR_FACE, alpha=0.6, hatch=SECULAR_HATCH, edgecolor="k", lw=0,
                                 label=f"secular approximation invalid (secular_ratio < "
                                       f"{data.attrs['secular_limit']:g}): not a result, never cooling"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), frameon=False,
                   title="operating mode (signs resolved with the precision bound)"
                   + ("; hatched grey: outside the global ME's regime" if n_secular else ""))
        fig.suptitle(f"{data.attrs['title']}\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


# == truncation =================================================================================
def data_truncation(ds, *, x: str | None = None, at: Sequence[float] | None = None,
                    sel: Mapping[str, Any] | None = None) -> xr.Dataset:
    """``kerr_fridge`` stores of several truncations: ``J_C(N, at)`` and ``truncation_rel_err(N, x)``
    (the store's conservative ``truncation_err`` of J_Q[C] over |J_Q[C]|)."""
    datasets = _as_list(ds)
    rows, rel = [], []
    Ns = []
    for d in datasets:
        _check_model(d, ("kerr_fridge",), "truncation")
        d = _select(d, sel)
        _check_dim(d, x, "x", "truncation")
        extra = [k for k in d["sigma"].dims if k != x]
        if any(d.sizes[k] > 1 for k in extra):
            raise ValueError(f"truncation: the dataset also varies along {extra}; select a value with sel={{...}}")
        d = d.squeeze(extra, drop=True)
        N1, N2 = int(d.attrs["N1"]), int(d.attrs["N2"])
        if N1 != N2:
            raise ValueError(f"truncation: a store has N1 = {N1}, N2 = {N2}; allowed: N1 = N2 (one N per store)")
        Ns.append(N1)
        J = d["J_Q"].sel(lead="C", drop=True)
        rows.append(J)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel.append(d["truncation_err"].sel(lead="C", drop=True) / abs(J))
    order = np.argsort(Ns)
    Ns = [Ns[i] for i in order]
    if len(set(Ns)) != len(Ns):
        raise ValueError(f"truncation: two stores have the same N ({Ns}); allowed: one store per N")
    J = xr.concat([rows[i] for i in order], dim="N").assign_coords(N=Ns)
    R = xr.concat([rel[i] for i in order], dim="N").assign_coords(N=Ns)
    xs = np.asarray(J[x].values)
    at = list(at) if at is not None else [float(xs[len(xs) // 3]), float(xs[2 * len(xs) // 3]), float(xs[-1])]
    J_at = J.sel({x: at}, method="nearest").rename({x: "at"})
    data = xr.Dataset({"J_C": J_at, "truncation_rel_err": R, "J_C_curve": J})
    data["J_C"].attrs = {"units": "energy/time", "long_name": "J_Q[C] at the selected x values against N"}
    data.attrs.update({"x": x, "family": "fridge", "title": "kerr_fridge: convergence in the truncation N1 = N2 = N",
                       "caption": _fixed_caption(datasets[0], (x, "N1", "N2"))})
    return data


def draw_truncation(data: xr.Dataset, path: str | Path, *, dpi: int = DPI) -> Path:
    """(a) J_C against N at fixed x; (b) the stores' estimated relative truncation error of J_C against x."""
    x = data.attrs["x"]
    units = _UNITS["fridge"]
    Ns = data["N"].values
    with style():
        fig = new_figure(10.0, 4.2)
        ax, bx = fig.subplots(1, 2)
        cols = _colours(data.sizes["at"])
        for c, (i, v) in zip(cols, enumerate(data["at"].values)):
            ax.plot(Ns, data["J_C"].isel(at=i).values, marker="o", color=c, label=f"{sym(x)} = {float(v):.3g}")
        ax.set_xticks(Ns)
        ax.set_xlabel(r"levels per resonator $N = N_1 = N_2$ ($N = 2$: qubits)")
        ax.set_ylabel(f"$J_C$ ({units['energy/time']})")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.set_title("(a) heat current out of C against the truncation")
        ax.legend(loc="best")
        for c, (i, N) in zip(_colours(len(Ns)), enumerate(Ns)):
            bx.semilogy(data[x].values, data["truncation_rel_err"].isel(N=i).values, color=c,
                        label=f"N = {int(N)}")
        bx.set_xlabel(label(x, "fridge"))
        bx.set_ylabel(r"truncation error of $J_C$ / $|J_C|$")
        bx.set_title("(b) estimated truncation error (from N, N+1, N+2)")
        bx.legend(loc="best")
        fig.suptitle(f"{data.attrs['title']}\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


# == chain: rectification, contrast map, conductance ============================================
def _is_geometric(v: np.ndarray) -> bool:
    v = np.asarray(v, dtype=float)
    return bool(v.size > 2 and (v > 0).all() and v.max() / v.min() > 50)


def data_rectification(ds, *, x: str | None = None, line_dim: str | None = None,
                       sel: Mapping[str, Any] | None = None, labels: Sequence[str] | None = None,
                       x_over: str | None = None, secular_limit: float = SECULAR_LIMIT) -> xr.Dataset:
    """Forward/reverse sweeps: ``J_forward = J_Q[L]→``, ``J_reverse = −J_Q[L]←`` (the heat leaving the hot
    bath in each direction, both > 0) and ``contrast`` along ``x`` (dim ``set`` per dataset).

    ``x_over`` divides the x axis by a fixed parameter (e.g. ``gamma_R`` for 004's γ_L/γ_R).
    ``secular_invalid``: cells of a global approach with ``secular_ratio < secular_limit`` in either
    direction (drawn faint: not a result).
    """
    datasets = _as_list(ds)
    secular_limit = _check_limit(secular_limit)
    parts = []
    for d in datasets:
        _check_model(d, ("chain",), "rectification")
        if not reverse_swap(d):
            raise ValueError("figure kind 'rectification' needs a forward/reverse sweep (a reverse: block, "
                             "dimension 'direction'); this dataset has none")
        d = _select(d, sel)
        _check_dim(d, x, "x", "rectification")
        _check_dim(d, line_dim, "line_dim", "rectification", required=False)
        fwd, rev = direction_pair(d)
        C = d["contrast"] if "contrast" in d else contrast_from_directions(d)
        keep = [k for k in (line_dim, x) if k]
        one = xr.Dataset({"J_forward": fwd["J_Q"].sel(lead="L", drop=True),
                          "J_reverse": -d["J_Q"].isel({DIRECTION: 1}, drop=True).sel(lead="L", drop=True),
                          "contrast": C, "secular_invalid": secular_invalid(d, C, secular_limit)})
        extra = [k for k in one.dims if k not in keep]
        if any(one.sizes[k] > 1 for k in extra):
            raise ValueError(f"rectification: the dataset also varies along {extra}; select with sel={{...}} "
                             "or give line_dim")
        one = one.squeeze(extra, drop=True)
        one = one.drop_vars([c for c in one.coords if c not in keep]).transpose(*keep)
        if x_over:
            one = one.assign_coords({x: one[x].values / float(d.attrs[x_over])})
        parts.append(one)
    data = xr.concat(parts, dim="set", join="outer", combine_attrs="drop").assign_coords(set=np.arange(len(parts)))
    data["secular_invalid"] = data["secular_invalid"].fillna(False).astype(bool)
    data.attrs.update({"x": x, "line_dim": line_dim or "", "labels": set_labels(datasets, labels),
                       "x_over": x_over or "", "family": "chain", "secular_limit": secular_limit,
                       "swap": ", ".join(f"{sym(a)} ↔ {sym(b)}" for a, b in reverse_swap(datasets[0])),
                       "title": "chain: thermal rectification (forward and reverse bias)",
                       "caption": _fixed_caption(datasets[0], [k for k in (x, line_dim, "T_L", "T_R") if k])
                       + f", cold bath {sym('T_R')} = {datasets[0].attrs.get('T_R', '?')} (forward)"})
    return data


def draw_rectification(data: xr.Dataset, path: str | Path, *, dpi: int = DPI) -> Path:
    """(a) |J| forward (solid) and reverse (dashed); (b) contrast C."""
    x, ld, names = data.attrs["x"], data.attrs["line_dim"], list(data.attrs["labels"])
    units = _UNITS["chain"]
    values = _line_values(data)
    colours = _colours(len(values) * data.sizes["set"]) if data.sizes["set"] > 1 and len(values) > 1 else _colours(
        max(len(values), data.sizes["set"]))
    X = data[x].values
    xlabel = (f"{sym(x)}/{sym(data.attrs['x_over'])}" if data.attrs["x_over"] else label(x, "chain"))
    with style():
        fig = new_figure(10.0, 4.4)
        ax, bx = fig.subplots(1, 2)
        handles = []
        k = n_secular = 0
        for s in range(data.sizes["set"]):
            for v in values:
                c = colours[k % len(colours)]
                k += 1
                sub = data.isel(set=s)
                if ld:
                    sub = sub.sel({ld: v})
                text = ", ".join(t for t in ((names[s] if data.sizes["set"] > 1 else ""),
                                             (f"{sym(ld)} = {float(v):g}" if ld else "")) if t)
                bad = sub["secular_invalid"].values
                n_secular += int(bad.sum())
                for a, name, ls in ((ax, "J_forward", "-"), (ax, "J_reverse", "--"), (bx, "contrast", "-")):
                    if bad.any():  # the whole curve faint, the valid part on top of it
                        a.plot(X, sub[name].values, color=c, ls=ls, lw=0.9, alpha=0.3)
                    a.plot(X, _valid_segments(sub[name].values, ~bad), color=c, ls=ls)
                handles.append(Line2D([], [], color=c, lw=2, label=text or "contrast"))
        handles += [Line2D([], [], color="k", ls="-", label=r"forward $J_Q^L$ (as configured)"),
                    Line2D([], [], color="k", ls="--", label=f"reverse $-J_Q^L$ ({data.attrs['swap']})")]
        if n_secular:
            handles.append(Line2D([], [], color="k", lw=0.9, alpha=0.3,
                                  label=f"faint: secular approximation invalid, secular_ratio < "
                                        f"{data.attrs['secular_limit']:g} ({n_secular} cells)"))
        if _is_geometric(X):
            ax.set_xscale("log")
            bx.set_xscale("log")
        ax.set_yscale("log")
        top = np.nanmax([np.nanmax(data["J_forward"].values), np.nanmax(data["J_reverse"].values)])
        if np.isfinite(top) and top > 0:
            ax.set_ylim(top * 1e-8, top * 2.0)  # 8 decades: the currents that matter for the contrast
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"heat current out of the hot bath ({units['energy/time']})")
        ax.set_title("(a) forward and reverse heat current")
        bx.set_xlabel(xlabel)
        bx.set_ylabel(r"contrast $C = |(J^\rightarrow + J^\leftarrow)/(J^\rightarrow - J^\leftarrow)|$")
        bx.set_ylim(0.0, 1.0)
        bx.set_title("(b) rectification contrast")
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)
        fig.suptitle(f"{data.attrs['title']}\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


def data_contrast_map(ds, *, x: str | None = None, y: str | None = None,
                      sel: Mapping[str, Any] | None = None, secular_limit: float = SECULAR_LIMIT) -> xr.Dataset:
    """The contrast of a forward/reverse sweep over ``(y, x)`` (and the forward current).

    ``secular_invalid``: cells of a global approach with ``secular_ratio < secular_limit`` in either
    direction (hatched over grey: not a result).
    """
    secular_limit = _check_limit(secular_limit)
    (d,) = _as_list(ds)
    _check_model(d, ("chain",), "contrast_map")
    if not reverse_swap(d):
        raise ValueError("figure kind 'contrast_map' needs a forward/reverse sweep (a reverse: block)")
    d = _select(d, sel)
    _check_dim(d, x, "x", "contrast_map")
    _check_dim(d, y, "y", "contrast_map")
    fwd, _ = direction_pair(d)
    C = d["contrast"] if "contrast" in d else contrast_from_directions(d)
    data = xr.Dataset({"contrast": C, "J_forward": fwd["J_Q"].sel(lead="L", drop=True),
                       "secular_invalid": secular_invalid(d, C, secular_limit)})
    extra = [k for k in data.dims if k not in (x, y)]
    if any(data.sizes[k] > 1 for k in extra):
        raise ValueError(f"contrast_map: the dataset also varies along {extra}; select a value with sel={{...}}")
    data = data.squeeze(extra, drop=True)
    data = data.drop_vars([c for c in data.coords if c not in (x, y)]).transpose(y, x)
    data.attrs.update({"x": x, "y": y, "title": "chain: rectification contrast", "secular_limit": secular_limit,
                       "swap": ", ".join(f"{sym(a)} ↔ {sym(b)}" for a, b in reverse_swap(d)),
                       "caption": _fixed_caption(d, (x, y))})
    return data


def draw_contrast_map(data: xr.Dataset, path: str | Path, *, dpi: int = DPI, cmap: str = "magma") -> Path:
    x, y = data.attrs["x"], data.attrs["y"]
    X, Y = data[x].values, data[y].values
    with style():
        fig = new_figure(6.4, 5.0)
        ax = fig.subplots()
        # the scales first: clabel places and turns its labels in the screen space of the scales set
        # when it runs (set afterwards, log axes left labels upside down)
        if _is_geometric(X):
            ax.set_xscale("log")
        if _is_geometric(Y):
            ax.set_yscale("log")
        Z = data["contrast"].values
        mesh = ax.pcolormesh(X, Y, Z, shading="nearest", cmap=cmap, norm=Normalize(0.0, 1.0), rasterized=True)
        fig.colorbar(mesh, ax=ax, pad=0.02).set_label("contrast $C$")
        if np.isfinite(Z).sum() > 4:
            cs = ax.contour(X, Y, Z, levels=[0.1, 0.3, 0.5, 0.7, 0.9], colors="w", linewidths=0.8)
            ax.clabel(cs, fmt="%.1f", fontsize=7)
        bad = data["secular_invalid"].values
        if bad.any():
            _hatch_cells(ax, X, Y, bad)
            fig.legend(handles=[Patch(facecolor=SECULAR_FACE, alpha=0.6, hatch=SECULAR_HATCH, edgecolor="k", lw=0,
                                      label=f"secular approximation invalid (secular_ratio < "
                                            f"{data.attrs['secular_limit']:g}): {int(bad.sum())} of {bad.size} "
                                            "cells, not a result")],
                       loc="outside lower center", frameon=False, fontsize=8)
        ax.set_xlabel(label(x, "chain"))
        ax.set_ylabel(label(y, "chain"))
        ax.set_title(f"contrast of the pair ({data.attrs['swap']})", fontsize=9)
        fig.suptitle(f"{data.attrs['title']}\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


def data_conductance(ds, *, x: str | None = "T", line_dim: str | None = None, sel: Mapping[str, Any] | None = None,
                     labels: Sequence[str] | None = None, secular_limit: float = SECULAR_LIMIT) -> xr.Dataset:
    """004's κ (on ``J_SS = 2 J_Q[L]``) along ``x`` per dataset (dim ``set``) and ``line_dim`` value.

    ``secular_invalid``: where a global approach has ``secular_ratio < secular_limit`` in either
    solve of the ΔT pair (drawn faint: not a result).
    """
    secular_limit = _check_limit(secular_limit)
    datasets = _as_list(ds)
    parts, masks, lds = [], [], []
    for d in datasets:
        _check_model(d, ("chain",), "conductance")
        d = _select(d, sel)
        G = d["conductance"] if "conductance" in d else conductance_from_dT(d)
        if G is None:
            raise ValueError("figure kind 'conductance' needs a sweep with a dT axis holding one symmetric pair "
                             "(dT values [-d, d], aliases T, dT); this dataset has none")
        _check_dim(G.to_dataset(name="G"), x, "x", "conductance")
        this_ld = line_dim if (line_dim and line_dim in G.dims) else None
        keep = [k for k in (this_ld, x) if k]
        extra = [k for k in G.dims if k not in keep]
        if any(G.sizes[k] > 1 for k in extra):
            raise ValueError(f"conductance: the dataset also varies along {extra}; select with sel={{...}} "
                             "or give line_dim")
        bad = secular_invalid(d, G, secular_limit)
        pair = []
        for a in (G, bad):
            a = a.squeeze(extra, drop=True)
            a = a.drop_vars([c for c in a.coords if c not in keep])
            if line_dim and this_ld is None:  # e.g. one qubit (no g axis) beside two qubits per g
                a = a.expand_dims({line_dim: [np.nan]})
            pair.append(a.transpose(*([line_dim] if line_dim else []), x))
        parts.append(pair[0])
        masks.append(pair[1])
        lds.append(this_ld is not None)
    data = xr.Dataset({"kappa": xr.concat(parts, dim="set", join="outer").assign_coords(set=np.arange(len(parts))),
                       "secular_invalid": xr.concat(masks, dim="set", join="outer").assign_coords(
                           set=np.arange(len(parts))).fillna(False).astype(bool)})
    data["kappa"].attrs = {"units": "1/time", "long_name": "004's linear thermal conductance kappa (on J_SS)"}
    data.attrs.update({"x": x, "line_dim": line_dim or "", "labels": set_labels(datasets, labels),
                       "has_line_dim": [int(v) for v in lds], "family": "chain", "secular_limit": secular_limit,
                       "title": "chain: linear thermal conductance $\\kappa = \\lim_{\\Delta T\\to 0} J_{SS}/\\Delta T$",
                       "caption": _fixed_caption(datasets[0], [k for k in (x, line_dim, "g", "N") if k])})
    return data


def draw_conductance(data: xr.Dataset, path: str | Path, *, dpi: int = DPI) -> Path:
    x, ld, names = data.attrs["x"], data.attrs["line_dim"], list(data.attrs["labels"])
    units = _UNITS["chain"]
    values = [v for v in (data[ld].values if ld else [None]) if v is None or np.isfinite(v)]
    colours = _colours(len(values))
    X = data[x].values
    with style():
        fig = new_figure(7.0, 4.8)
        ax = fig.subplots()
        handles = []
        n_secular = 0
        plain = ("tab:blue", "tab:orange", "tab:green", "tab:red")
        for s in range(data.sizes["set"]):
            sub = data["kappa"].isel(set=s)
            if ld and data.attrs["has_line_dim"][s]:
                ls = LINE_STYLES[s % len(LINE_STYLES)]
                for c, v in zip(colours, values):
                    kv, bad = sub.sel({ld: v}).values, data["secular_invalid"].isel(set=s).sel({ld: v}).values
                    n_secular += int(bad.sum())
                    if bad.any():  # the whole curve faint, the valid part on top of it
                        ax.plot(X, kv, color=c, ls=ls, lw=0.9, alpha=0.3)
                    ax.plot(X, _valid_segments(kv, ~bad), color=c, ls=ls, lw=1.6)
                handles.append(Line2D([], [], color="k", ls=ls, lw=1.6, label=f"{names[s]} (colour: {sym(ld)})"))
            else:
                # a set without the line dim sits at its NaN label after the outer join (not at index 0)
                line = sub.isel({ld: int(np.flatnonzero(np.isnan(sub[ld].values.astype(float)))[0])}) if ld else sub
                c = plain[s % len(plain)] if not ld else "tab:orange"
                # wide and under the others: a curve that coincides with another one stays visible
                ax.plot(X, line.values, color=c, ls="-", lw=3.2, alpha=0.6, zorder=1)
                handles.append(Line2D([], [], color=c, ls="-", lw=3.2, alpha=0.6, label=names[s]))
        if ld:
            handles += [Line2D([], [], color=c, lw=2, label=f"{sym(ld)} = {float(v):g}") for c, v in zip(colours, values)]
        if n_secular:
            handles.append(Line2D([], [], color="k", lw=0.9, alpha=0.3,
                                  label=f"faint: secular approximation invalid,\nsecular_ratio < "
                                        f"{data.attrs['secular_limit']:g} ({n_secular} points)"))
        ax.set_xlabel(label(x, "chain"))
        ax.set_ylabel(rf"$\kappa$ ({units['1/time']})")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.legend(handles=handles, loc="upper right", frameon=False)
        fig.suptitle(f"{data.attrs['title']}\n{data.attrs['caption']}", fontsize=9)
        return save(fig, path, dpi=dpi)


__all__ = ["data_fridge_cuts", "draw_fridge_cuts", "data_fridge_map", "draw_fridge_map", "data_truncation",
           "draw_truncation", "data_rectification", "draw_rectification", "data_contrast_map", "draw_contrast_map",
           "data_conductance", "draw_conductance", "set_labels"]
