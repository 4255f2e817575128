"""Figures from sweep datasets: one entry point, ``plot_figure(kind, ds, out_path, **opts)``.

Kinds (each is ``data_<kind>`` → the arrays drawn, and ``draw_<kind>`` → the file):

``current_map``   fluxes over the force plane, diverging colours (zero = white), genuine
                  ICC hatched and outlined, pseudo-ICC cells marked (000 Figs. 4, 6);
                  opts ``flux_names``, ``panel_dim`` (e.g. ``"kappa"``), ``sel``.
``force_cuts``    both fluxes along the force axes (000 Figs. 3, 5); opts ``panel_dim``, ``sel``.
``quadrant_map``  the regime of every cell over a force plane through all four
                  quadrants (001 Fig. 3 computed from data); opt ``sel``.
``icc_mu_r``      model II: ICC outlines for several μ_r and the ICC area against μ_r;
                  opts ``mu_r_values``, ``sel``.
``refined_map``   a refined store's labels on its finest level with their boundaries
                  (marching squares) and the refinement depth (:mod:`.refined`); opt ``names``.

Datasets without the analysis variables are analysed on the fly
(:func:`qtmsweep.analysis.analyze`).  Files are byte-for-byte reproducible.

Examples
--------
>>> import numpy as np, qtmsweep, tempfile, pathlib
>>> from qtmsweep.physics.reduced import force_space_parameters
>>> g = qtmsweep.grid(F_E_r=np.linspace(0, 1, 11), F_N_b=np.linspace(0, 4, 11))
>>> p = force_space_parameters("I", F_E_r=g["F_E_r"], F_N_b=g["F_N_b"], beta_r=1.0, mu_b=1.0)
>>> ds = qtmsweep.solve("cqd", **p, eps_L=1.0, eps_R=2.5, kappa=-1.5, mu_r=0.0,
...                     gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)
>>> out = plot_figure("current_map", ds, pathlib.Path(tempfile.mkdtemp()) / "fig4b.png", flux_names="J_E_r")
>>> out.stat().st_size > 10_000
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import xarray as xr

from .cuts import data_force_cuts, draw_force_cuts
from .maps import (
    data_current_map,
    data_icc_mu_r,
    data_quadrant_map,
    draw_current_map,
    draw_icc_mu_r,
    draw_quadrant_map,
)
from .refined import data_refined_map, draw_refined_map, is_refined_store, refined_dataset
from .style import save

#: kind -> (data function, draw function)
FIGURE_KINDS: dict[str, tuple[Callable[..., xr.Dataset], Callable[..., Path]]] = {
    "current_map": (data_current_map, draw_current_map),
    "force_cuts": (data_force_cuts, draw_force_cuts),
    "quadrant_map": (data_quadrant_map, draw_quadrant_map),
    "icc_mu_r": (data_icc_mu_r, draw_icc_mu_r),
    "refined_map": (data_refined_map, draw_refined_map),
}
_DRAW_OPTIONS = {"dpi", "cmap"}


def _kind(kind: str):
    try:
        return FIGURE_KINDS[kind]
    except KeyError:
        raise ValueError(f"figure kind {kind!r} is not known; allowed: {', '.join(sorted(FIGURE_KINDS))}") from None


def figure_data(kind: str, ds: xr.Dataset, **opts: Any) -> xr.Dataset:
    """Exactly the arrays a figure of ``kind`` draws from ``ds`` (drawing options are ignored)."""
    data_fn, _ = _kind(kind)
    return data_fn(ds, **{k: v for k, v in opts.items() if k not in _DRAW_OPTIONS})


def plot_figure(kind: str, ds: xr.Dataset, out_path: str | Path, **opts: Any) -> Path:
    """Draw a figure of ``kind`` from ``ds`` into ``out_path`` (PNG/PDF/SVG by suffix); returns the path.

    ``opts`` are the data options of the kind (see the module docstring) plus the drawing
    options ``dpi`` and ``cmap``.
    """
    data_fn, draw_fn = _kind(kind)
    draw = {k: v for k, v in opts.items() if k in _DRAW_OPTIONS}
    data = data_fn(ds, **{k: v for k, v in opts.items() if k not in _DRAW_OPTIONS})
    return draw_fn(data, out_path, **draw)


def open_store(store_path: str | Path, analysis_path: str | Path | None = None) -> xr.Dataset:
    """A sweep store (plus a separate analysis store, if given) as one in-memory dataset.

    A refined store (:mod:`qtmsweep.sweep.refine`) is read by :func:`~qtmsweep.plot.refined.refined_dataset`.
    """
    if is_refined_store(store_path):
        return refined_dataset(store_path)
    ds = xr.open_zarr(str(store_path), consolidated=None)
    if analysis_path is not None:
        extra = xr.open_zarr(str(analysis_path), consolidated=None)
        ds = ds.assign({k: v for k, v in extra.data_vars.items() if k not in ds})
        ds.attrs.update({k: v for k, v in extra.attrs.items() if k not in ds.attrs})
    return ds.load()


def figure_from_store(store_path: str | Path, kind: str, out_path: str | Path, *,
                      analysis_path: str | Path | None = None, **opts: Any) -> Path:
    """One-line workflow rule: read the store (analysed or not) and write the figure.

    >>> # snakemake: run: qtmsweep.plot.figure_from_store(input.store, "current_map", output[0], panel_dim="kappa")
    """
    return plot_figure(kind, open_store(store_path, analysis_path), out_path, **opts)


__all__ = ["FIGURE_KINDS", "figure_data", "plot_figure", "figure_from_store", "open_store", "save"]
