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

Refrigerators and rectifier (:mod:`qtmsweep.plot.machines`; these take one dataset or a list):

``fridge_cuts``   J_Q[C] and COP/COP_Carnot against ``x`` (opts ``x``, ``line_dim``, ``sel``, ``labels``).
``fridge_map``    J_Q[C] over (``x``, ``y``), cooling region outlined, mode, COP/COP_Carnot.
                  Both fridge kinds and the three chain kinds below mark global-ME cells with
                  ``secular_ratio < secular_limit`` (opt, default 10 = ``physics.secular.SECULAR_LIMIT``):
                  hatched grey / faint, not a result (never cooling).
``truncation``    ``kerr_fridge``: J_Q[C] against N (opts ``x``, ``at``) and the N → N+1 change.
``rectification`` ``chain`` forward/reverse currents and contrast (opts ``x``, ``line_dim``, ``x_over``).
``contrast_map``  ``chain`` contrast over (``x``, ``y``).
``conductance``   ``chain`` 004's κ against ``x`` (opts ``x``, ``line_dim``).

Counting statistics and declared machines:

``noise_map``     TUR ratio, Fano factor or KUR of one counted flux over a plane, ICC / cooling
                  region outlined, Q < 2 cells marked (:mod:`.noise`; a store swept with ``cumulants:``).
``tur_beaten``    where coherent machines (local-ME fridge, chains; one panel per store) beat the
                  classical TUR: the smallest TUR ratio and the Q < 2 cells beyond the bound.
``lps_cooling_window`` the three-qubit fridge of ``config/sweeps/lps_fridge.yaml``: J_Q[C] over
                  (T_H, T_C) with the analytic window edge, COP against Carnot (:mod:`.declared`).

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
from .machines import (
    data_conductance,
    data_contrast_map,
    data_fridge_cuts,
    data_fridge_map,
    data_rectification,
    data_truncation,
    draw_conductance,
    draw_contrast_map,
    draw_fridge_cuts,
    draw_fridge_map,
    draw_rectification,
    draw_truncation,
)
from .noise import data_noise_map, data_tur_beaten, draw_noise_map, draw_tur_beaten
from .declared import data_lps_cooling_window, draw_lps_cooling_window
from .style import save

#: kind -> (data function, draw function)
FIGURE_KINDS: dict[str, tuple[Callable[..., xr.Dataset], Callable[..., Path]]] = {
    "current_map": (data_current_map, draw_current_map),
    "force_cuts": (data_force_cuts, draw_force_cuts),
    "quadrant_map": (data_quadrant_map, draw_quadrant_map),
    "icc_mu_r": (data_icc_mu_r, draw_icc_mu_r),
    "refined_map": (data_refined_map, draw_refined_map),
    "fridge_cuts": (data_fridge_cuts, draw_fridge_cuts),
    "fridge_map": (data_fridge_map, draw_fridge_map),
    "truncation": (data_truncation, draw_truncation),
    "rectification": (data_rectification, draw_rectification),
    "contrast_map": (data_contrast_map, draw_contrast_map),
    "conductance": (data_conductance, draw_conductance),
    "noise_map": (data_noise_map, draw_noise_map),
    "tur_beaten": (data_tur_beaten, draw_tur_beaten),
    "lps_cooling_window": (data_lps_cooling_window, draw_lps_cooling_window),
}
#: Kinds that draw several datasets on one figure (``ds`` may be a list).
MULTI_KINDS = ("fridge_cuts", "fridge_map", "truncation", "rectification", "conductance", "tur_beaten")
_DRAW_OPTIONS = {"dpi", "cmap"}


def _kind(kind: str):
    try:
        return FIGURE_KINDS[kind]
    except KeyError:
        raise ValueError(f"figure kind {kind!r} is not known; allowed: {', '.join(sorted(FIGURE_KINDS))}") from None


def _options(kind: str, data_fn, opts: dict[str, Any]) -> dict[str, Any]:
    """The data options, after checking each is one ``kind`` knows (a clear error lists the allowed ones)."""
    import inspect

    allowed = [p.name for p in list(inspect.signature(data_fn).parameters.values())[1:]
               if p.kind is inspect.Parameter.KEYWORD_ONLY]
    for k in opts:
        if k not in allowed and k not in _DRAW_OPTIONS:
            raise ValueError(f"figure option {k!r} is not known for kind {kind!r}; allowed: "
                             f"{', '.join(allowed + sorted(_DRAW_OPTIONS))}")
    return {k: v for k, v in opts.items() if k not in _DRAW_OPTIONS}


#: Models each force-plane kind fits (the machine kinds check their own).
KIND_MODELS = {"current_map": ("cqd", "sqd"), "force_cuts": ("cqd", "sqd"), "quadrant_map": ("cqd", "sqd"),
               "icc_mu_r": ("cqd",)}


def _one_or_many(kind: str, ds):
    for d in ([ds] if isinstance(ds, xr.Dataset) else list(ds)):
        model = d.attrs.get("model")
        if kind in KIND_MODELS and model not in KIND_MODELS[kind]:
            fitting = sorted(k for k, v in FIGURE_KINDS.items() if k not in KIND_MODELS or model in KIND_MODELS[k])
            raise ValueError(f"figure kind {kind!r} does not fit model {model!r} (it draws a force pair of "
                             f"{', '.join(KIND_MODELS[kind])}); kinds for other models: {', '.join(fitting)}")
    if isinstance(ds, xr.Dataset):
        return ds
    ds = list(ds)
    if len(ds) == 1:
        return ds[0]
    if kind not in MULTI_KINDS:
        raise ValueError(f"figure kind {kind!r} draws one dataset, got {len(ds)}; kinds that draw several: "
                         f"{', '.join(MULTI_KINDS)}")
    return ds


def figure_data(kind: str, ds: xr.Dataset | list[xr.Dataset], **opts: Any) -> xr.Dataset:
    """Exactly the arrays a figure of ``kind`` draws from ``ds`` (drawing options are ignored)."""
    data_fn, _ = _kind(kind)
    return data_fn(_one_or_many(kind, ds), **_options(kind, data_fn, opts))


def plot_figure(kind: str, ds: xr.Dataset, out_path: str | Path, **opts: Any) -> Path:
    """Draw a figure of ``kind`` from ``ds`` into ``out_path`` (PNG/PDF/SVG by suffix); returns the path.

    ``opts`` are the data options of the kind (see the module docstring) plus the drawing
    options ``dpi`` and ``cmap``.
    """
    data_fn, draw_fn = _kind(kind)
    draw = {k: v for k, v in opts.items() if k in _DRAW_OPTIONS}
    data = data_fn(_one_or_many(kind, ds), **_options(kind, data_fn, opts))
    return draw_fn(data, out_path, **draw)


def open_store(store_path: str | Path, analysis_path: str | Path | None = None) -> xr.Dataset:
    """A sweep store (plus a separate analysis store, if given) as one in-memory dataset.

    A refined store (:mod:`qtmsweep.sweep.refine`) is read by :func:`~qtmsweep.plot.refined.refined_dataset`.
    """
    if is_refined_store(store_path):
        return refined_dataset(store_path)
    ds = xr.open_zarr(str(store_path), consolidated=None)
    from ..physics.declared import register_from_dataset

    register_from_dataset(ds)  # a declared model's spec travels in the store's config attr
    if analysis_path is not None:
        extra = xr.open_zarr(str(analysis_path), consolidated=None)
        ds = ds.assign({k: v for k, v in extra.data_vars.items() if k not in ds})
        ds.attrs.update({k: v for k, v in extra.attrs.items() if k not in ds.attrs})
    return ds.load()


def figure_from_store(store_path: str | Path | list, kind: str, out_path: str | Path, *,
                      analysis_path: str | Path | list | None = None, **opts: Any) -> Path:
    """One-line workflow rule: read the store(s) (analysed or not) and write the figure.

    ``store_path`` and ``analysis_path`` may be lists (kinds that draw several sweeps); an
    analysis store may be ``None`` (then the store is analysed in memory).

    >>> # snakemake: run: qtmsweep.plot.figure_from_store(input.store, "current_map", output[0], panel_dim="kappa")
    """
    stores = list(store_path) if isinstance(store_path, (list, tuple)) else [store_path]
    if analysis_path is None:
        analyses: list = [None] * len(stores)
    else:
        analyses = list(analysis_path) if isinstance(analysis_path, (list, tuple)) else [analysis_path]
    if len(analyses) != len(stores):
        raise ValueError(f"{len(analyses)} analysis stores for {len(stores)} stores; allowed: one per store (or none)")
    datasets = [open_store(s, a) for s, a in zip(stores, analyses)]
    return plot_figure(kind, datasets if len(datasets) > 1 else datasets[0], out_path, **opts)


__all__ = ["FIGURE_KINDS", "MULTI_KINDS", "figure_data", "plot_figure", "figure_from_store", "open_store", "save"]
