"""Checking parameter values against a model's declaration, before any work starts."""

from __future__ import annotations

import numbers
from typing import Any, Mapping

import numpy as np


def check_parameters(model, params: Mapping[str, Any], *, require_all: bool = True) -> None:
    """Raise ``ValueError`` naming the first offending parameter, its value and what is allowed."""
    known = set(model.parameter_names)
    for name in params:
        if name not in known:
            raise ValueError(
                f"{name!r} is not a parameter of model {model.name!r}; allowed: {', '.join(model.parameter_names)}"
            )
    if require_all:
        missing = [p for p in model.parameter_names if p not in params]
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
        arr = arr.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={raw!r} is not allowed; allowed: {parameter.allowed()}") from None
    if np.iscomplexobj(np.asarray(raw)):
        raise ValueError(f"{name}={raw!r} is not allowed; allowed: {parameter.allowed()} (real)")
    bad = ~np.isfinite(arr)
    if parameter.kind == "temperature":
        bad |= ~(arr > 0)
    elif parameter.kind in ("rate", "coupling") and parameter.minimum is None:
        bad |= ~(arr >= 0)
    elif parameter.minimum is not None:
        bad |= ~(arr >= parameter.minimum)
    if np.any(bad):
        example = float(arr[bad].flat[0]) if arr.ndim else float(arr)
        where = "" if arr.ndim == 0 else f" (in {int(bad.sum())} of {arr.size} values)"
        raise ValueError(f"{name}={example!r}{where} is not allowed; allowed: {parameter.allowed()}")
