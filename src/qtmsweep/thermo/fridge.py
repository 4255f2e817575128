"""Absorption-refrigerator quantities whose sign is claimed only where the precision bound resolves it.

For ``qubit_fridge`` and ``kerr_fridge`` (SPEC §2): bath C is cooled when ``J_Q[C] > 0``
(heat drawn out of C).  The model outputs ``cooling_power = J_Q[C]``, ``cop`` and
``cop_carnot`` in every cell; here each cell also gets

``cooling`` (int8, CF flags)
    ``+1`` (``cooling``: C cooled), ``-1`` (``heating``: C heated), ``0``
    (``undetermined``: ``|J_Q[C]|`` within its bound) — from
    :func:`~qtmsweep.thermo.classify.resolved_sign` with the ``rel_err`` of lead C (SPEC §5;
    a scalar per-cell ``rel_err`` is used as it is) and the gross heat traffic through C.
    A figure draws the ``0`` cells as undetermined, never as cooling.
``cop_over_carnot``
    ``cop / cop_carnot`` where C is cooled *and* the heat drawn from the hottest bath is
    resolved positive (the absorption fridge is running); NaN elsewhere.  ``≤ 1`` is the
    second law for three baths.

Examples
--------
>>> import qtmsweep
>>> ds = qtmsweep.solve("qubit_fridge", approach="local", eps1=2.0, eps2=2.0, delta_z=0.1, delta_x=0.0,
...                     T=1.0, dT=0.3, Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, filters="resonant", eps_c=20.0)
>>> out = fridge_variables(ds)
>>> cooling_name(out["cooling"]), bool(0 < out["cop_over_carnot"] < 1)
('cooling', True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .classify import (
    DEFAULT_CURRENT_RTOL,
    DEFAULT_ERR_FACTOR,
    current_scales,
    flag_attrs,
    rel_err_of,
    resolved_sign,
)

#: Codes of ``cooling`` (index = code + 1).
COOLING: tuple[str, ...] = ("heating", "undetermined", "cooling")
COOLED_LEAD = "C"
FRIDGE_MODELS = ("qubit_fridge", "kerr_fridge")


def cooling_name(code: Any) -> str:
    """Name of a ``cooling`` code (-1, 0, +1).

    >>> cooling_name(1), cooling_name(0), cooling_name(-1)
    ('cooling', 'undetermined', 'heating')
    """
    return COOLING[int(np.asarray(getattr(code, "values", code))) + 1]


def lead_rel_err(ds: xr.Dataset, lead: str) -> xr.DataArray | None:
    """The precision bound of ``lead``'s currents: ``rel_err(lead)`` (SPEC §5) or an older store's
    per-cell form (:func:`~qtmsweep.thermo.classify.rel_err_of`).

    >>> import xarray as xr
    >>> ds = xr.Dataset({"rel_err": (("x", "lead"), [[1e-16, 1e-3]])}, coords={"lead": ["L", "C"]})
    >>> float(lead_rel_err(ds, "C")[0])
    0.001
    """
    return rel_err_of(ds, lead)


def resolved_current_sign(ds: xr.Dataset, var: str, lead: str, *, scales: xr.Dataset | None = None,
                          current_rtol: float = DEFAULT_CURRENT_RTOL,
                          err_factor: float = DEFAULT_ERR_FACTOR) -> xr.DataArray:
    """``resolved_sign`` of ``ds[var].sel(lead=lead)`` with that lead's bound and gross traffic."""
    if scales is None:
        scales = current_scales(ds)
    J = ds[var].sel(lead=lead, drop=True)
    G = scales[f"G_{var[-1]}"].sel(lead=lead, drop=True)
    return resolved_sign(J, G, lead_rel_err(ds, lead), current_rtol=current_rtol, err_factor=err_factor)


def fridge_variables(ds: xr.Dataset, *, scales: xr.Dataset | None = None,
                     current_rtol: float = DEFAULT_CURRENT_RTOL, err_factor: float = DEFAULT_ERR_FACTOR) -> xr.Dataset:
    """``cooling`` and ``cop_over_carnot`` of a ``qubit_fridge``/``kerr_fridge`` dataset (module docstring)."""
    if scales is None:
        scales = current_scales(ds)
    kw = {"scales": scales, "current_rtol": current_rtol, "err_factor": err_factor}
    s_C = resolved_current_sign(ds, "J_Q", COOLED_LEAD, **kw)
    leads = [str(x) for x in ds["lead"].values]
    temps = xr.concat(xr.broadcast(*[_temperature(ds, lead) for lead in leads]), dim="lead", coords="minimal",
                      compat="override").assign_coords(lead=leads)
    others = [lead for lead in leads if lead != COOLED_LEAD]
    T_others = temps.sel(lead=others)
    hot = T_others.idxmax("lead")
    s_all = xr.concat(xr.broadcast(*[resolved_current_sign(ds, "J_Q", lead, **kw) for lead in others]), dim="lead",
                      coords="minimal", compat="override")
    s_all = s_all.assign_coords(lead=others)
    s_hot = s_all.where(s_all["lead"] == hot).max("lead")  # the sign of the hottest bath's heat
    running = (s_C > 0) & (s_hot > 0)
    cop = ds["cop"] if "cop" in ds else None
    carnot = ds["cop_carnot"] if "cop_carnot" in ds else None
    if cop is not None and carnot is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (cop / carnot).where(running)
    else:
        ratio = xr.full_like(s_C, np.nan, dtype=float)
    dims = tuple(d for d in ds["J_Q"].dims if d != "lead")
    cooling = s_C.broadcast_like(ds["J_Q"].isel(lead=0, drop=True)).transpose(*dims).astype(np.int8)
    attrs = flag_attrs(COOLING, "sign of J_Q[C] resolved with lead C's precision bound: cooling (C cooled, "
                       "J_Q[C] > bound), heating, or undetermined (|J_Q[C]| within the bound)")
    attrs["flag_values"] = [-1, 0, 1]
    out = xr.Dataset({
        "cooling": cooling.assign_attrs(attrs),
        "cop_over_carnot": ratio.broadcast_like(cooling).transpose(*dims).assign_attrs(
            units="1", long_name="COP / COP_Carnot of the absorption fridge where C is cooled and the hottest "
                                 "bath resolved as the heat source (both signs beyond their bounds); NaN elsewhere"),
    })
    out.attrs.update({"current_rtol": current_rtol, "err_factor": err_factor})
    return out


def _temperature(ds: xr.Dataset, lead: str) -> xr.DataArray:
    name = f"T_{lead}"
    if name in ds.variables:
        return ds[name].astype(float)
    if name in ds.attrs:
        return xr.DataArray(float(ds.attrs[name]))
    raise KeyError(f"dataset has no temperature {name}")


__all__ = ["COOLING", "FRIDGE_MODELS", "cooling_name", "lead_rel_err", "resolved_current_sign", "fridge_variables"]
