"""The papers' figures: datasets at the papers' parameters and the figure kind that draws each.

000 Figs. 3–6 use γ_a = γ_b = γ_r = γ = 1, ε_L = 1, ε_R = 2.5, κ = ±1.5, μ_b = 1 and β_r = 1
(model I) or β_b = 1 (model II) (SPEC §2).  000 never states μ_r: model I's signs do not
depend on it (we use ``MU_R_MODEL_I``), model II's ICC regions do — genuine ICC in
J_N[b] needs μ_r > 2.00 and in J_E[b] μ_r > 2.41 at these parameters — so the model-II
figures use ``MU_R_MODEL_II`` and the ``mu_r_study`` figure shows the dependence.
The force windows are ours (000 does not print its axis ranges in the text).

These builders solve in memory (seconds); the sweep pipeline stores the same datasets.

Examples
--------
>>> sorted(PAPER_FIGURES)
['000_fig3', '000_fig4', '000_fig5', '000_fig6', '001_fig3', '001_fig3_model_I', '001_fig3_sqd', 'mu_r_study']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr

from ..physics.reduced import force_space_parameters
from ..solve import grid, solve

PRESET = {"eps_L": 1.0, "eps_R": 2.5, "gamma_a": 1.0, "gamma_b": 1.0, "gamma_r": 1.0}
MU_B = 1.0
BETA_REF = 1.0
KAPPAS = (1.5, -1.5)
MU_R_MODEL_I = 0.0
MU_R_MODEL_II = 3.0


def force_plane(reduced_model: str, F1: Any, F_N_b: Any, *, kappa: Any, mu_r: Any, mu_b: float = MU_B,
                beta_ref: float = BETA_REF, **fixed: float) -> xr.Dataset:
    """``cqd`` on a force-space grid of reduced model I or II (``F1`` = F_E_r or F_E_b).

    ``kappa`` and ``mu_r`` may be scalars or sequences (then they become dimensions).

    >>> ds = force_plane("II", [0.0, 1.0], [0.0, 2.0], kappa=-1.5, mu_r=3.0)
    >>> ds.attrs["reduced_model"], dict(ds.sizes)["F_E_b"]
    ('II', 2)
    """
    name = "F_E_r" if reduced_model == "I" else "F_E_b"
    axes = {name: F1, "F_N_b": F_N_b}
    extra = {k: v for k, v in (("kappa", kappa), ("mu_r", mu_r)) if np.ndim(v)}
    g = grid(**axes, **extra)
    ref = {"beta_r": beta_ref} if reduced_model == "I" else {"beta_b": beta_ref}
    params = force_space_parameters(reduced_model, **{name: g[name]}, F_N_b=g["F_N_b"], mu_b=mu_b, **ref)
    scalars = {k: float(v) for k, v in (("kappa", kappa), ("mu_r", mu_r)) if not np.ndim(v)}
    ds = solve("cqd", **params, **{k: g[k] for k in extra}, **scalars, **{**PRESET, **fixed})
    ds.attrs.update({"reduced_model": reduced_model, "forces_parallel": reduced_model == "II",
                     "force_pair": [name, "F_N_b"]})
    return ds


def sqd_force_plane(F_E_l: Any, F_N_l: Any, *, eps: float = 1.0, T_r: float = 1.0, mu_r: float = 0.0,
                    gamma_l: float = 1.0, gamma_r: float = 1.0) -> xr.Dataset:
    """``sqd`` on a force-space grid about lead r: β_l = β_r − F_E_l, μ_l = (F_N_l + β_r μ_r)/β_l.

    >>> ds = sqd_force_plane([-0.5, 0.0, 0.5], [-1.0, 0.0, 1.0])
    >>> ds.sigma.dims
    ('F_E_l', 'F_N_l')
    """
    g = grid(F_E_l=F_E_l, F_N_l=F_N_l)
    beta_r = 1.0 / T_r
    beta_l = beta_r - g["F_E_l"]
    if bool((beta_l <= 0).any()):
        raise ValueError(f"F_E_l must be < beta_r = {beta_r}")
    mu_l = (g["F_N_l"] + beta_r * mu_r) / beta_l
    return solve("sqd", T_l=1.0 / beta_l, mu_l=mu_l, eps=eps, T_r=T_r, mu_r=mu_r, gamma_l=gamma_l, gamma_r=gamma_r)


@dataclass(frozen=True)
class PaperFigure:
    """A paper figure: how to build its dataset, which kind draws it, and what the paper claims."""

    kind: str
    build: Callable[[], xr.Dataset]
    opts: dict[str, Any] = field(default_factory=dict)
    shows: str = ""


def _lin(a: float, b: float, n: int) -> np.ndarray:
    return np.linspace(a, b, n)


PAPER_FIGURES: dict[str, PaperFigure] = {
    "000_fig3": PaperFigure(
        "force_cuts", lambda: force_plane("I", _lin(0, 2, 101), _lin(0, 8, 161), kappa=list(KAPPAS), mu_r=MU_R_MODEL_I),
        {"panel_dim": "kappa"},
        "model I: J_E[r], J_N[b] against F_E_r at F_N_b = 0 (a) and against F_N_b at F_E_r = 0 (b), kappa = ±1.5"),
    "000_fig4": PaperFigure(
        "current_map", lambda: force_plane("I", _lin(0, 1, 201), _lin(0, 8, 201), kappa=list(KAPPAS), mu_r=MU_R_MODEL_I),
        {"flux_names": "J_E_r", "panel_dim": "kappa"},
        "model I: J_E[r] over (F_E_r, F_N_b) for kappa = ±1.5 with the genuine-ICC region outlined"),
    "000_fig5": PaperFigure(
        "force_cuts", lambda: force_plane("II", _lin(0, 3, 151), _lin(0, 6, 151), kappa=list(KAPPAS), mu_r=MU_R_MODEL_II),
        {"panel_dim": "kappa"},
        "model II: J_E[b], J_N[b] against F_E_b at F_N_b = 0 (a) and against F_N_b at F_E_b = 0 (b), kappa = ±1.5"),
    "000_fig6": PaperFigure(
        "current_map", lambda: force_plane("II", _lin(0, 3, 201), _lin(0, 6, 201), kappa=-1.5, mu_r=MU_R_MODEL_II),
        {"flux_names": ["J_N_b", "J_E_b"]},
        "model II, kappa = -1.5: J_N[b] (a) and J_E[b] (b) over (F_E_b, F_N_b) with the genuine-ICC regions outlined"),
    "001_fig3": PaperFigure(
        "quadrant_map", lambda: force_plane("II", _lin(-0.9, 3, 157), _lin(-6, 6, 161), kappa=-1.5, mu_r=MU_R_MODEL_II),
        {}, "regime of every cell of model II (parallel forces, 001 §X) in all four quadrants"),
    "001_fig3_model_I": PaperFigure(
        "quadrant_map", lambda: force_plane("I", _lin(-0.9, 2, 117), _lin(-6, 6, 161), kappa=-1.5, mu_r=MU_R_MODEL_I),
        {}, "the same for model I (non-parallel forces, 001 §IX.1.3)"),
    "001_fig3_sqd": PaperFigure(
        "quadrant_map", lambda: sqd_force_plane(_lin(-0.9, 0.9, 121), _lin(-3, 3, 121), eps=1.0),
        {}, "the same for the single dot (001 §VII): no ICC, no pseudo-ICC"),
    "mu_r_study": PaperFigure(
        "icc_mu_r", lambda: force_plane("II", _lin(0, 3, 121), _lin(0, 6, 121), kappa=-1.5, mu_r=_lin(1.5, 4.0, 51)),
        {"mu_r_values": [2.0, 2.1, 2.5, 3.0, 4.0]},
        "model II, kappa = -1.5: boundaries of the ICC regions for several mu_r and the ICC area against mu_r"),
}


def paper_dataset(name: str) -> xr.Dataset:
    """The dataset of a paper figure (computed now)."""
    try:
        return PAPER_FIGURES[name].build()
    except KeyError:
        raise ValueError(f"paper figure {name!r} is not known; allowed: {', '.join(sorted(PAPER_FIGURES))}") from None


def make_paper_figures(outdir: str | Path, names: list[str] | None = None, fmt: str = "png") -> dict[str, Path]:
    """Compute and draw the paper figures into ``outdir`` (``<name>.<fmt>``); returns name -> path."""
    from . import plot_figure

    out = {}
    for name in names or sorted(PAPER_FIGURES):
        spec = PAPER_FIGURES[name]
        out[name] = plot_figure(spec.kind, paper_dataset(name), Path(outdir) / f"{name}.{fmt}", **spec.opts)
    return out
