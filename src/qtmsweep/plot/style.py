"""Shared figure style: symbols and units of every plotted quantity, deterministic saving.

Units are those of the papers' figures (ħ = k_B = 1): energies in ħγ and rates in γ,
where γ is the rate unit of the dataset (000 takes γ_a = γ_b = γ_r = γ).  Files are
written without a pyplot state machine (``Figure`` + Agg canvas) under matplotlib's
default style plus :data:`STYLE`, and without metadata that changes between runs, so
the same dataset gives the same bytes.

Examples
--------
>>> symbol("F_E_r"), symbol("J_N_b")
('$\\\\mathcal{F}_\\\\mathrm{E}^{r}$', '$J_\\\\mathrm{N}^{b}$')
>>> axis_label("F_N_b")
'$\\\\mathcal{F}_\\\\mathrm{N}^{b}$ (dimensionless)'
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.style  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: rcParams on top of matplotlib's defaults (fixed, so figures do not depend on a user's matplotlibrc).
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "svg.hashsalt": "qtmsweep",
    "path.simplify": False,
}
DPI = 150

#: Unit of each SPEC §4 ``units`` string, in the papers' units.
UNIT_TEXT = {
    "1/energy": r"$1/\hbar\gamma$",
    "energy": r"$\hbar\gamma$",
    "energy/time": r"$\hbar\gamma^2$",
    "1/time": r"$\gamma$",
    "1": "dimensionless",
}
_SYMBOLS = {
    "F_E": r"\mathcal{F}_\mathrm{E}",
    "F_N": r"\mathcal{F}_\mathrm{N}",
    "J_E": r"J_\mathrm{E}",
    "J_N": r"J_\mathrm{N}",
    "J_Q": r"J_\mathrm{Q}",
}
_PLAIN = {
    "mu_r": (r"$\mu_r$", "energy"), "mu_b": (r"$\mu_b$", "energy"), "kappa": (r"$\kappa$", "energy"),
    "eps_L": (r"$\varepsilon_\mathrm{L}$", "energy"), "eps_R": (r"$\varepsilon_\mathrm{R}$", "energy"),
    "eps": (r"$\varepsilon$", "energy"), "P": (r"$P$", "energy/time"), "sigma": (r"$\dot\Sigma$", "1/time"),
    "efficiency": (r"$\eta$", "1"), "cop": ("COP", "1"), "eta_2": (r"$\eta_2$", "1"),
    "zeta_000": (r"$\zeta$ (000 Eq. 59)", "1"), "eta_000": (r"$\eta$ (000 Eq. 67)", "1"),
}
_UNITS_OF_KIND = {"F_E": "1/energy", "F_N": "1", "J_E": "energy/time", "J_N": "1/time", "J_Q": "energy/time"}


def symbol(name: str) -> str:
    """Math-text symbol of a force (``F_E_r``), a flux (``J_N_b``) or a parameter (``mu_r``)."""
    if name in _PLAIN:
        return _PLAIN[name][0]
    kind, _, lead = name.rpartition("_")
    if kind in _SYMBOLS:
        return f"${_SYMBOLS[kind]}^{{{lead}}}$"
    return name.replace("_", r"\_")


def units_of(name: str) -> str:
    """SPEC §4 units string of a force, flux or known parameter."""
    if name in _PLAIN:
        return _PLAIN[name][1]
    kind = name.rpartition("_")[0]
    return _UNITS_OF_KIND.get(kind, "1")


def axis_label(name: str, units: str | None = None) -> str:
    """``symbol (unit)``, e.g. ``$\\mathcal{F}_\\mathrm{E}^{r}$ ($1/\\hbar\\gamma$)``."""
    unit = UNIT_TEXT.get(units or units_of(name), units or units_of(name))
    return f"{symbol(name)} ({unit})"


def value_text(name: str, value: float) -> str:
    """``$\\kappa$ = -1.5`` (a compact parameter annotation)."""
    return f"{symbol(name)} = {float(value):g}"


@contextlib.contextmanager
def style() -> Iterator[None]:
    """matplotlib defaults + :data:`STYLE`, whatever the user's rc settings."""
    with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with an Agg canvas (call inside :func:`style`)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` reproducibly (no timestamps or version strings in the file).

    PNG, PDF and SVG are supported; the format follows the suffix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lower().lstrip(".") or "png"
    metadata = {
        "png": {"Software": None},
        "pdf": {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None},
        "svg": {"Creator": None, "Date": None},
    }.get(fmt)
    if metadata is None:
        raise ValueError(f"figure format {fmt!r} is not supported; allowed: png, pdf, svg")
    offsets_into_labels(fig)
    fig.savefig(path, dpi=dpi, format=fmt, metadata=metadata)
    return path


def offsets_into_labels(fig: Figure) -> None:
    """Move each axis' power-of-ten offset (matplotlib's ``1e-3`` above the ticks) into its label.

    Above a y axis the offset text collides with a panel title; as ``[×10⁻³]`` at the end of the
    label it reads as "multiply the ticks by". Axes without a label keep their offset text.
    """
    from matplotlib.ticker import ScalarFormatter

    fig.canvas.draw()  # the formatters know their offsets only once the ticks are laid out
    for ax in fig.axes:
        for axis, get, put in ((ax.yaxis, ax.get_ylabel, ax.set_ylabel), (ax.xaxis, ax.get_xlabel, ax.set_xlabel)):
            fmt = axis.get_major_formatter()
            if not isinstance(fmt, ScalarFormatter) or not get() or not axis.offsetText.get_visible():
                continue
            if fmt.offset or not fmt.orderOfMagnitude:
                continue  # no factor, or an additive offset that a factor cannot express
            fmt.set_useMathText(True)
            offset = fmt.get_offset()
            axis.offsetText.set_visible(False)
            put(f"{get()} [{offset}]")
