"""Checking parameter values against a model's declaration, before any work starts."""

from __future__ import annotations

import numbers
from typing import Any, Mapping

import numpy as np


#: Smallest temperature accepted: the forces divide by T1 * T2, which underflows to 0 below ~1e-154.
MIN_TEMPERATURE = 1e-150


def check_parameters(model, params: Mapping[str, Any], *, require_all: bool = True) -> None:
    """Raise ``ValueError`` naming the first offending parameter, its value and what is allowed."""
    known = set(model.parameter_names)
    for name in params:
        if name not in known:
            raise ValueError(
                f"{name!r} is not a parameter of model {model.name!r}; allowed: {', '.join(model.parameter_names)}"
            )
    if require_all:
        missing = [p.name for p in model.parameters if p.name not in params and not p.optional]
        if missing:
            raise ValueError(
                f"model {model.name!r} needs a value for {', '.join(missing)} "
                f"(every parameter must be given; defaults: {model.defaults()})"
            )
    for name, value in params.items():
        check_value(model.parameter(name), value)


def check_value(parameter, value) -> None:
    name = parameter.name
    raw = getattr(value, "values", value)  # DataArray -> ndarray
    if parameter.kind == "choice":
        if not isinstance(raw, str) or raw not in parameter.choices:
            raise ValueError(f"{name}={raw!r} is not allowed; allowed: {parameter.allowed()}")
        return
    if parameter.kind == "integer":
        ok = isinstance(raw, numbers.Integral) and not isinstance(raw, bool) or (
            isinstance(raw, np.ndarray) and raw.ndim == 0 and np.issubdtype(raw.dtype, np.integer))
        if not ok or int(raw) < (parameter.minimum if parameter.minimum is not None else 0):
            raise ValueError(f"{name}={raw!r} is not allowed; allowed: {parameter.allowed()} (a scalar)")
        return
    try:
        if isinstance(raw, (str, bytes)) or isinstance(raw, bool):
            raise TypeError
        arr = np.asarray(raw)
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
            raise TypeError
        if np.iscomplexobj(arr):
            raise ValueError(f"{name}={raw!r} is not allowed; allowed: {parameter.allowed()} (real)")
        if arr.dtype != np.float64:
            arr = arr.astype(float)
    except (TypeError, ValueError) as err:
        if "(real)" in str(err):
            raise
        raise ValueError(f"{name}={raw!r} is not allowed; allowed: {parameter.allowed()}") from None
    if arr.size > 64 and _all_allowed(parameter, arr):  # two reductions, no copy and no masks
        return
    bad = ~np.isfinite(arr)
    if parameter.kind == "temperature":
        bad |= ~(arr > 0)
        tiny = np.isfinite(arr) & (arr > 0) & (arr < MIN_TEMPERATURE)
        if np.any(tiny):
            example = float(arr[tiny].flat[0]) if arr.ndim else float(arr)
            raise ValueError(f"{name}={example!r} is not allowed; allowed: a temperature >= {MIN_TEMPERATURE:g} "
                             "(below it the products of inverse temperatures overflow a float64)")
    elif parameter.kind in ("rate", "coupling") and parameter.minimum is None:
        bad |= ~(arr >= 0)
    elif parameter.minimum is not None:
        bad |= ~(arr >= parameter.minimum)
    if np.any(bad):
        example = float(arr[bad].flat[0]) if arr.ndim else float(arr)
        where = "" if arr.ndim == 0 else f" (in {int(bad.sum())} of {arr.size} values)"
        raise ValueError(f"{name}={example!r}{where} is not allowed; allowed: {parameter.allowed()}")


def _all_allowed(parameter, arr: np.ndarray) -> bool:
    """True when every value of ``arr`` is allowed (``min``/``max`` propagate NaN); False: look closer."""
    lo, hi = float(arr.min()), float(arr.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return False
    if parameter.kind == "temperature":
        return lo >= MIN_TEMPERATURE
    if parameter.kind in ("rate", "coupling") and parameter.minimum is None:
        return lo >= 0
    if parameter.minimum is not None:
        return lo >= parameter.minimum
    return True


#: Dims the solver's outputs use for themselves: an input on one of them would be confused with them.
RESERVED_DIMS = ("lead", "state", "site", "eigenstate")


def check_array_inputs(params: Mapping[str, Any]) -> None:
    """Refuse array inputs :func:`qtmsweep.solve` would misread, naming the parameter.

    * an empty array (no cell to solve);
    * a DataArray on a dim the outputs use (``lead``, ``state``, ...);
    * a DataArray on a dim named after itself whose coordinate differs from its values (the
      result would be labelled with the coordinate but computed at the values).

    >>> import numpy as np, xarray as xr
    >>> check_array_inputs({"T_a": xr.DataArray([1.0, 2.0], dims="T_a", coords={"T_a": [5.0, 6.0]})})
    Traceback (most recent call last):
    ...
    ValueError: T_a: the DataArray's values [1.0, 2.0] differ from its coordinate T_a [5.0, 6.0] (the result would be labelled 5.0, ... but computed at 1.0, ...); allowed: a coordinate equal to the values, or the parameter on a dim of another name
    """
    import xarray as xr

    for name, value in params.items():
        if isinstance(value, str) or np.ndim(value) == 0:
            continue
        size = int(np.size(value))
        if size == 0:
            raise ValueError(f"{name}: an empty array (shape {np.shape(value)}) is not allowed; allowed: a scalar or "
                             "an array with at least one value")
        if not isinstance(value, xr.DataArray):
            continue
        reserved = [d for d in value.dims if d in RESERVED_DIMS]
        if reserved:
            raise ValueError(f"{name}: a DataArray on dim {reserved[0]!r} is not allowed (the outputs use "
                             f"{', '.join(RESERVED_DIMS)} for themselves); allowed: any other dim name")
        if name in value.dims and name in value.coords:
            coord = np.asarray(value.coords[name].values)
            vals = np.asarray(value.transpose(name, ...).values)
            along = vals.reshape(vals.shape[0], -1)
            try:
                same = all(np.array_equal(coord.astype(float), along[:, j].astype(float), equal_nan=True)
                           for j in range(along.shape[1]))
            except (TypeError, ValueError):
                same = False
            if not same:
                show = lambda a: "[" + ", ".join(repr(float(x)) for x in np.asarray(a).ravel()[:4]) + (
                    ", ...]" if np.size(a) > 4 else "]")  # noqa: E731
                raise ValueError(f"{name}: the DataArray's values {show(along[:, 0])} differ from its coordinate "
                                 f"{name} {show(coord)} (the result would be labelled {float(coord.ravel()[0])!r}, "
                                 f"... but computed at {float(along[0, 0])!r}, ...); allowed: a coordinate equal to "
                                 "the values, or the parameter on a dim of another name")
