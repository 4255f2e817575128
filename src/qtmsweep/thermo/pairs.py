"""Quantities defined on *paired* datasets: forward/reverse (temperatures swapped) evaluations.

004 §III.2–III.3, SPEC §2 (``chain``):

* rectification contrast ``C = |(J→ + J←)/(J→ − J←)|`` where ``J←`` is the same current
  (same lead, same sign convention) with the bath temperatures interchanged; ``C = 0``
  for symmetric conduction, ``C = 1`` for a perfect diode;
* linear thermal conductance ``G = lim_{ΔT→0} J/ΔT`` with ``ΔT = T_L − T_R``, estimated
  from a forward/reverse pair as ``(J→ − J←)/(ΔT→ − ΔT←)``.  For a pair placed
  symmetrically about ``T`` (``T_L, T_R = T ± δ/2``, see :func:`symmetric_temperatures`) the
  even part of ``J(ΔT)`` cancels and the error is ``O(δ²)``.

Currents follow SPEC §1 (``J_Q[L]`` = heat from bath L into the system).  004 prints
``J_SS = Q_L − Q_R = 2 J_Q[L]`` and defines its conductance κ on ``J_SS``: pass
``current="J_SS_paper"`` (a ``chain`` output) to reproduce 004's numbers, which are
twice those of ``J_Q[L]``.

The reverse dataset is brought into the forward frame by renaming the swapped
parameters (``T_L ↔ T_R`` by default) in its dimensions, coordinates, variables and
attributes; after that the two must describe the same grid, and the forward ``T_L`` must
equal the reverse ``T_R`` (checked, so an unpaired dataset is refused rather than
silently combined).

Examples
--------
>>> import numpy as np, qtmsweep
>>> from qtmsweep.analysis import solve_pair  # solving is the analysis layer's (thermo/ does not import solve)
>>> from qtmsweep.thermo.pairs import rectification_contrast, linear_conductance, symmetric_temperatures
>>> fwd, rev = solve_pair("chain", N=2, stat="qubit", approach="local", omega=1.0, g=0.01,
...                      T_L=np.array([0.6, 1.0]), T_R=0.1, gamma_L=0.01, gamma_R=0.02)
>>> C = rectification_contrast(fwd, rev)
>>> bool(((C >= 0) & (C <= 1)).all())
True
>>> T_L, T_R = symmetric_temperatures(0.5, 1e-4)
>>> f, r = solve_pair("chain", N=2, stat="qubit", approach="local", omega=1.0, g=0.01,
...                   T_L=T_L, T_R=T_R, gamma_L=0.01, gamma_R=0.02)
>>> float(linear_conductance(f, r)) > 0
True
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

__all__ = [
    "DIRECTION",
    "reverse_swap",
    "direction_pair",
    "contrast_from_directions",
    "conductance_from_dT",
    "swap_parameters",
    "symmetric_temperatures",
    "to_forward_frame",
    "rectification_contrast",
    "linear_conductance",
]

Swap = Sequence[tuple[str, str]]
DEFAULT_SWAP: tuple[tuple[str, str], ...] = (("T_L", "T_R"),)
#: The dimension a forward/reverse sweep (``reverse:`` block of a sweep config) adds: 0 forward, 1 reverse.
DIRECTION = "direction"


def swap_parameters(params: dict[str, Any], swap: Swap = DEFAULT_SWAP) -> dict[str, Any]:
    """A copy of ``params`` with the values of each pair in ``swap`` exchanged.

    DataArray values have swapped names among their dimensions renamed as well, so a
    forward sweep along ``T_L`` becomes a reverse sweep of ``T_R`` along ``T_R``.

    >>> swap_parameters({"T_L": 2.0, "T_R": 1.0, "g": 0.1})
    {'T_L': 1.0, 'T_R': 2.0, 'g': 0.1}
    """
    out = dict(params)
    for a, b in swap:
        if a not in params or b not in params:
            raise ValueError(f"cannot swap {a} and {b}: both must be given")
        out[a], out[b] = params[b], params[a]
    ren = _renames(swap)
    for k, v in out.items():  # a DataArray swept along its own parameter's dimension keeps that pairing
        if isinstance(v, xr.DataArray):
            names = [d for d in set(v.dims) | set(v.coords) if d in ren]
            if names:
                v = v.rename({d: "__swap__" + d for d in names})
                out[k] = v.rename({"__swap__" + d: ren[d] for d in names})
    return out


def symmetric_temperatures(T: Any, dT: Any) -> tuple[Any, Any]:
    """``(T + dT/2, T − dT/2)``: a forward pair about ``T`` for :func:`linear_conductance`."""
    return T + 0.5 * dT, T - 0.5 * dT


def _renames(swap: Swap) -> dict[str, str]:
    m: dict[str, str] = {}
    for a, b in swap:
        m[a], m[b] = b, a
    return m


def to_forward_frame(reverse: xr.Dataset, swap: Swap = DEFAULT_SWAP) -> xr.Dataset:
    """Rename the swapped parameters of ``reverse`` (dims, coords, variables, attrs) to their partners.

    After this a reverse dataset's ``T_L`` holds the values its bath R had, i.e. the forward
    ``T_L`` when the two are a pair, and the grids can be aligned.
    """
    ren = _renames(swap)
    names = set(reverse.dims) | set(reverse.variables)
    ds = reverse.rename({k: "__swap__" + k for k in ren if k in names})
    ds = ds.rename({"__swap__" + k: ren[k] for k in ren if k in names})
    ds.attrs = {ren.get(k, k): v for k, v in reverse.attrs.items()}
    return ds


def _param(ds: xr.Dataset, name: str) -> xr.DataArray:
    if name in ds.variables:
        return ds[name]
    if name in ds.attrs:
        return xr.DataArray(float(ds.attrs[name]))
    raise ValueError(f"dataset has no parameter {name!r} (as a coordinate, variable or attribute)")


def _current(ds: xr.Dataset, current: str, lead: str | None) -> xr.DataArray:
    if current not in ds:
        raise ValueError(f"dataset has no variable {current!r}")
    J = ds[current]
    if "lead" in J.dims:
        if lead is None:
            raise ValueError(f"{current} has a lead dimension: give lead=")
        J = J.sel(lead=lead, drop=True)
    return J


def _paired(forward: xr.Dataset, reverse: xr.Dataset, swap: Swap, rtol: float = 1e-12) -> xr.Dataset:
    """The reverse dataset in the forward frame, after checking that the two are a swapped pair."""
    rev = to_forward_frame(reverse, swap)
    for a, b in swap:
        for name in (a, b):
            try:
                f, r = xr.broadcast(*xr.align(_param(forward, name), _param(rev, name), join="exact"))
            except ValueError as err:
                raise ValueError(f"forward and reverse datasets are not on the same grid: {err}") from None
            if not np.allclose(f.values, r.values, rtol=rtol, atol=0.0):
                raise ValueError(f"forward {name} differs from reverse {_renames(swap)[name]}: "
                                 "the datasets are not a swapped pair")
    return rev


def rectification_contrast(forward: xr.Dataset, reverse: xr.Dataset, *, current: str = "J_Q",
                           lead: str | None = "L", swap: Swap = DEFAULT_SWAP) -> xr.DataArray:
    """``|(J→ + J←)/(J→ − J←)|`` (004 §III.2) on a forward/reverse pair.

    Parameters
    ----------
    forward, reverse : xarray.Dataset
        Solved at swapped temperatures (:func:`qtmsweep.analysis.solve_pair`).
    current, lead : str
        The current compared (default ``J_Q[L]``; ``current="J_SS_paper", lead=None`` gives
        the same contrast since both are odd under the swap in the same way).
    """
    rev = _paired(forward, reverse, swap)
    Jf, Jr = xr.align(_current(forward, current, lead), _current(rev, current, lead), join="exact")
    with np.errstate(divide="ignore", invalid="ignore"):
        C = abs((Jf + Jr) / (Jf - Jr))
    C.attrs = {"units": "1", "long_name": f"rectification contrast |(J+ + J-)/(J+ - J-)| of {current}"
                                          + (f"[{lead}]" if lead else "") + " (004 §III.2)"}
    return C.rename("contrast")


def linear_conductance(forward: xr.Dataset, reverse: xr.Dataset, *, current: str = "J_Q",
                       lead: str | None = "L", swap: Swap = DEFAULT_SWAP,
                       temperatures: tuple[str, str] = ("T_L", "T_R")) -> xr.DataArray:
    """``(J→ − J←)/(ΔT→ − ΔT←)`` with ``ΔT = T_L − T_R``: the linear conductance ``lim J/ΔT``.

    Exact to ``O(δ²)`` for a pair symmetric about ``T`` (:func:`symmetric_temperatures`);
    NaN where ``ΔT→ = ΔT←``.  For 004's κ (defined on ``J_SS = 2 J_Q[L]``) pass
    ``current="J_SS_paper", lead=None``.
    """
    rev = _paired(forward, reverse, swap)
    a, b = temperatures
    dT_f = _param(forward, a) - _param(forward, b)
    dT_r = _param(rev, b) - _param(rev, a)  # the reverse's own T_L - T_R, in the forward frame
    Jf, Jr = xr.align(_current(forward, current, lead), _current(rev, current, lead), join="exact")
    with np.errstate(divide="ignore", invalid="ignore"):
        G = (Jf - Jr) / (dT_f - dT_r)
    G = G.where(dT_f != dT_r)
    G.attrs = {"units": "1/time", "long_name": f"linear thermal conductance of {current}"
                                               + (f"[{lead}]" if lead else "") + " from a forward/reverse pair"}
    return G.rename("conductance")


# -- forward/reverse sweeps (a ``direction`` dimension) ------------------------------------------
def reverse_swap(ds: xr.Dataset) -> tuple[tuple[str, str], ...]:
    """The swapped pairs of a forward/reverse sweep (``attrs["reverse_swap"]``); ``()`` for other datasets."""
    pairs = ds.attrs.get("reverse_swap")
    if not pairs or DIRECTION not in ds.dims:
        return ()
    return tuple((str(a), str(b)) for a, b in pairs)


def direction_pair(ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    """``(forward, reverse)`` of a forward/reverse sweep, the reverse in its own frame (as :func:`qtmsweep.analysis.solve_pair`).

    The store labels both directions by the forward coordinates; this puts the reverse run's
    swapped parameters back, so the pair functions of this module (which check the pairing)
    apply unchanged.
    """
    swap = reverse_swap(ds)
    if not swap or ds.sizes[DIRECTION] != 2:
        raise ValueError("dataset is not a forward/reverse sweep (no 'direction' dimension of size 2 with "
                         "attrs['reverse_swap']); allowed: a store of a sweep with a reverse: block")
    fwd = ds.isel({DIRECTION: 0}, drop=True)
    rev = to_forward_frame(ds.isel({DIRECTION: 1}, drop=True), swap)
    return fwd, rev


def contrast_from_directions(ds: xr.Dataset, *, current: str = "J_Q", lead: str | None = "L") -> xr.DataArray:
    """Rectification contrast of a forward/reverse sweep (:func:`rectification_contrast`)."""
    fwd, rev = direction_pair(ds)
    return rectification_contrast(fwd, rev, current=current, lead=lead, swap=reverse_swap(ds))


def conductance_from_dT(ds: xr.Dataset, *, current: str = "J_SS_paper", lead: str | None = None,
                        rtol: float = 1e-12) -> xr.DataArray | None:
    """004's κ from a sweep with a ``dT`` axis holding one symmetric pair ``±δ`` (aliases ``T``, ``dT``).

    ``T_L, T_R = T ± dT/2``: the cells at ``+δ`` and ``−δ`` are a swapped pair about ``T``, and
    :func:`linear_conductance` of ``J_SS = 2 J_Q[L]`` is 004's κ (error ``O(δ²)``).  ``None`` when
    the dataset has no such axis.
    """
    if "dT" not in ds.dims or ds.sizes["dT"] != 2 or current not in ds:
        return None
    lo, hi = (float(v) for v in ds["dT"].values)
    if not (hi > 0 and abs(lo + hi) <= rtol * hi):
        return None
    fwd = ds.sel(dT=hi, drop=True)
    rev = ds.sel(dT=lo, drop=True)
    G = linear_conductance(fwd, rev, current=current, lead=lead)
    G.attrs["long_name"] = (f"linear thermal conductance kappa = lim J/dT of {current} (004's kappa, on J_SS = "
                            f"Q_L - Q_R = 2 J_Q[L]) from the pair dT = +-{hi:g}")
    return G
