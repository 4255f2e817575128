"""Figure kind ``refined_map``: a refined sweep's labels on its finest level, boundaries and refinement depth.

:func:`refined_dataset` reads a refined store (:mod:`qtmsweep.sweep.refine`) into one dataset on
the finest level's coordinates: every ``label_<name>`` filled with the finest-available value,
and ``depth`` (the deepest level that evaluated each node, nearest-filled).  :func:`draw_refined_map`
draws one panel per label (sign ``-1``/``+1`` or flag ``0``/``1``, undetermined grey) with its
boundary as marching-squares segments, and a last panel with the depth: the narrow bands along the
boundaries are all that was computed at full resolution.

Examples
--------
>>> from qtmsweep.plot import figure_from_store
>>> figure_from_store("results/000_fig4_refined/000_fig4_refined.zarr", "refined_map",
...                   "fig4_refined.png")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..thermo.boundary import UNDETERMINED, boundary_segments, upsample_nearest
from .style import DPI, axis_label, new_figure, save, style


def is_refined_store(store_path: str | Path) -> bool:
    """True for a store written by :func:`qtmsweep.sweep.refine.run_refine`."""
    import zarr

    try:
        return "qtmsweep_refine" in zarr.open_group(str(store_path), mode="r").attrs
    except Exception:  # noqa: BLE001 - not a zarr group
        return False


def refined_dataset(store_path: str | Path) -> xr.Dataset:
    """Finest-available labels and the refinement depth of a refined store, as one in-memory dataset."""
    import zarr

    from ..sweep.refine import finest, label_names, open_level, store_levels

    root = dict(zarr.open_group(str(store_path), mode="r").attrs)
    on = list(root["refine"]["on"])
    top = store_levels(store_path)
    depth = None
    counts = []
    for k in range(top + 1):
        ev = open_level(store_path, k)["evaluated"].values
        counts.append(int(ev.sum()))
        depth = np.zeros(ev.shape, np.int8) if depth is None else upsample_nearest(depth)
        depth = np.where(ev, np.int8(k), depth)
    data = {var: finest(store_path, var) for var in label_names(on)}
    ref = next(iter(data.values()))
    data["depth"] = xr.DataArray(depth, dims=ref.dims, coords=ref.coords,
                                 attrs={"units": "1", "long_name": "deepest refinement level evaluated here"})
    attrs = {k: v for k, v in open_level(store_path, top).attrs.items() if not k.startswith("refine_")}
    attrs.update({"refine_on": on, "refine_levels": top, "nodes_per_level": counts,
                  "nodes_dense": int(np.prod(ref.shape)), "sweep": root.get("sweep", "")})
    return xr.Dataset(data, attrs=attrs)


def data_refined_map(ds: xr.Dataset, names: Sequence[str] | str | None = None) -> xr.Dataset:
    """The labels ``names`` (``refine.on`` entries; default all) and ``depth`` of :func:`refined_dataset`."""
    from ..sweep.refine import label_names

    on = list(ds.attrs["refine_on"])
    if isinstance(names, str):
        names = [names]
    names = list(names) if names is not None else on
    bad = [n for n in names if n not in on]
    if bad:
        raise ValueError(f"names={bad!r}: not refined labels of this store; allowed: {', '.join(on)}")
    out = ds[label_names(names) + ["depth"]]
    out.attrs = {**ds.attrs, "names": names}
    return out


def _label_image(lab: np.ndarray, name: str = "") -> tuple[np.ndarray, list[tuple[str, str]]]:
    """RGB codes of a label field: -1 blue, +1 / set red, 0 (flag clear) white, undetermined grey.

    The legend names the quantity: ``J_E[r] < 0`` / ``> 0`` for a sign, ``cooling (J_Q[C] > 0)``, a flag's
    ``name: no`` / ``yes``."""
    colours = {-1: "#4393c3", 0: "#f7f7f7", 1: "#d6604d", UNDETERMINED: "#9e9e9e"}
    from matplotlib.colors import to_rgb

    img = np.ones(lab.shape + (3,))
    legend = []
    for v, c in colours.items():
        m = lab == v
        if m.any():
            img[m] = to_rgb(c)
            q = "J_Q[C]" if name == "cooling" else name
            sign = name == "cooling" or "[" in name
            text = ({-1: f"{q} < 0" + (" (no cooling)" if name == "cooling" else ""),
                     1: f"{q} > 0" + (" (cooling)" if name == "cooling" else "")} if sign
                    else {0: f"{name}: no", 1: f"{name}: yes"})
            text[UNDETERMINED] = "undetermined (sign within the precision bound)"
            legend.append((c, text.get(v, f"code {v}")))
    other = ~np.isin(lab, list(colours))
    if other.any():  # regime / mode codes
        from matplotlib import colormaps

        cmap = colormaps["tab10"]
        for v in np.unique(lab[other]):
            img[lab == v] = cmap(int(v) % 10)[:3]
            legend.append((cmap(int(v) % 10), f"code {int(v)}"))
    return img, legend


def _axis_label(name: str, model: str | None) -> str:
    """The machines' own symbols and units for the fridges and chains (``Δ_z (k_B T)``), else SPEC §4's."""
    if model in ("qubit_fridge", "kerr_fridge", "chain"):
        from .machines import label

        return label(name, "chain" if model == "chain" else "fridge")
    return axis_label(name)


def draw_refined_map(data: xr.Dataset, path: str | Path, *, dpi: int = DPI, cmap: str = "viridis") -> Path:
    """One panel per label with its boundary (black segments), and the refinement depth."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Patch

    from ..sweep.refine import label_names

    names = list(data.attrs["names"])
    dims = data["depth"].dims
    X, Y = data[dims[0]].values, data[dims[1]].values
    extent = (X[0], X[-1], Y[0], Y[-1])
    n = len(names) + 1
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    with style():
        fig = new_figure(4.4 * ncols, 3.9 * nrows + 0.3)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for k, (ax, name) in enumerate(zip(axes, names)):
            lab = data[label_names([name])[0]].values
            img, legend = _label_image(lab, name)
            ax.imshow(np.transpose(img, (1, 0, 2)), origin="lower", extent=extent, aspect="auto",
                      interpolation="nearest", rasterized=True)
            values = [v for v in np.unique(lab) if v != UNDETERMINED]
            segs = []
            for v in values[1:] if len(values) == 2 else values:
                segs.append(boundary_segments(lab, X, Y, int(v)))
            segs = np.concatenate(segs) if segs else np.empty((0, 2, 2))
            ax.add_collection(LineCollection(segs, colors="k", linewidths=0.8))
            handles = [Patch(color=c, label=t) for c, t in legend]
            handles.append(Patch(facecolor="none", edgecolor="k", label=f"boundary ({len(segs)} segments)"))
            ax.legend(handles=handles, loc="best", framealpha=0.85, fontsize="small")
            ax.set_xlabel(_axis_label(dims[0], data.attrs.get("model")))
            ax.set_ylabel(_axis_label(dims[1], data.attrs.get("model")))
            ax.set_title(f"({chr(ord('a') + k)}) {name}")
        ax = axes[len(names)]
        depth = data["depth"].values
        from matplotlib import colormaps
        from matplotlib.colors import BoundaryNorm

        top = max(1, int(data.attrs["refine_levels"]))
        im = ax.imshow(depth.T, origin="lower", extent=extent, aspect="auto", interpolation="nearest",
                       cmap=colormaps[cmap].resampled(top + 1), norm=BoundaryNorm(np.arange(-0.5, top + 1), top + 1),
                       rasterized=True)
        cb = fig.colorbar(im, ax=ax, pad=0.02, ticks=np.arange(top + 1))
        cb.set_label("refinement level")
        evaluated = int(np.sum(data.attrs["nodes_per_level"]))
        dense = int(data.attrs["nodes_dense"])
        ax.set_title(f"({chr(ord('a') + len(names))}) depth: {evaluated:,} of {dense:,} nodes "
                     f"({100 * evaluated / dense:.2f}%)")
        ax.set_xlabel(_axis_label(dims[0], data.attrs.get("model")))
        ax.set_ylabel(_axis_label(dims[1], data.attrs.get("model")))
        for ax in axes[n:]:
            ax.set_visible(False)
        fig.suptitle(f"{data.attrs.get('sweep', '')}: {X.size} x {Y.size} effective nodes")
        return save(fig, path, dpi=dpi)


def plot_refined(store_path: str | Path, out_path: str | Path, *, names: Sequence[str] | None = None,
                 **draw: Any) -> Path:
    """Read a refined store and draw its ``refined_map``."""
    return draw_refined_map(data_refined_map(refined_dataset(store_path), names), out_path, **draw)
