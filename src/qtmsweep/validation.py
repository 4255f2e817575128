"""Checking parameter values against a model's declaration, before any work starts."""

from __future__ import annotations

import numbers
from typing import Any, Mapping

import numpy as np


#: Smallest temperature accepted: the forces divide by T1 * T2, which underflows to 0 below ~1e-154.
MIN_TEMPERATURE = 1e-150


#: Arrays of at least this many values may have their range check deferred (``check_parameters(defer=...)``).
DEFER_MIN_SIZE = 1 << 16


def check_parameters(model, params: Mapping[str, Any], *, require_all: bool = True,
                     defer: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Raise ``ValueError`` naming the first offending parameter, its value and what is allowed.

    For the parameters named in ``defer`` that are float64 arrays of at least
    :data:`DEFER_MIN_SIZE` values, the check of the values themselves (finite, in range) is left
    to a kernel that reads them anyway; their names are returned, and the caller must complete
    the check with :func:`check_deferred` before it returns any result.
    """
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
    deferred = []
    for name, value in params.items():
        raw = getattr(value, "values", value)
        if (name in defer and isinstance(raw, np.ndarray) and raw.dtype == np.float64
                and raw.size >= DEFER_MIN_SIZE and model.parameter(name).kind not in ("choice", "integer")):
            deferred.append(name)
            continue
        check_value(model.parameter(name), value)
    return tuple(deferred)


def check_deferred(model, params: Mapping[str, Any], deferred, ranges: Mapping[str, tuple[float, bool]]) -> None:
    """Complete the checks :func:`check_parameters` deferred, from ``ranges[name] = (min, all
    finite)`` read by the kernel; a parameter they do not clear, or that the kernel did not
    report, gets the full check (and its error)."""
    for name in deferred:
        parameter = model.parameter(name)
        lo, finite = ranges.get(name, (-np.inf, False))
        if not (finite and _minimum_allowed(parameter, lo)):
            check_value(parameter, params[name])


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
    return _minimum_allowed(parameter, lo)


def _minimum_allowed(parameter, lo: float) -> bool:
    """Whether the smallest value ``lo`` of finite values is allowed."""
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


def check_constraints(model, params: Mapping[str, Any]) -> None:
    """Run the model's constraints between parameters (``model.constraints``, if it has any).

    ``params`` are what a kernel receives: flat arrays of one length and scalars (structural
    parameters included).  Raises ``ValueError`` naming the parameter, its value and what is allowed.
    """
    constraints = getattr(model, "constraints", None)
    if constraints is not None:
        constraints(params)


#: Most swept axes :func:`check_grid` checks corner by corner (2**k corners).
MAX_CORNER_AXES = 20


def grid_corners(params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The corners of a sweep's grid as flat arrays: each swept axis (a 1-D array or DataArray)
    reduced to its smallest and largest value, their ``2**k`` combinations; scalars kept.

    Returns ``(flat, swept)``: ``flat`` maps every parameter to a scalar or an array of ``2**k``
    values, ``swept`` names the swept ones.  NaN or infinite values reach the corners (``min``/``max``
    propagate NaN), so a check on the corners sees them.

    >>> flat, swept = grid_corners({"T": np.array([1.0, 2.0, 3.0]), "dT": np.array([-0.5, 0.5]), "g": 0.1})
    >>> swept, flat["T"].tolist(), flat["dT"].tolist(), flat["g"]
    (['T', 'dT'], [1.0, 1.0, 3.0, 3.0], [-0.5, 0.5, -0.5, 0.5], 0.1)
    """
    swept = [k for k, v in params.items() if not isinstance(v, str) and np.ndim(v) > 0]
    if len(swept) > MAX_CORNER_AXES:
        raise ValueError(f"{len(swept)} swept parameters ({', '.join(swept)}); allowed: at most {MAX_CORNER_AXES}")
    ends = []
    for k in swept:
        a = np.asarray(getattr(params[k], "values", params[k]), dtype=float).ravel()
        ends.append(np.array([np.min(a), np.max(a)]))
    mesh = np.meshgrid(*ends, indexing="ij") if ends else []
    flat: dict[str, Any] = {k: v for k, v in params.items() if k not in swept}
    flat.update({k: m.ravel() for k, m in zip(swept, mesh)})
    return flat, swept


def check_grid(model, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a sweep's aliases and constraints over its whole grid without forming the grid.

    ``params``: every parameter as given to a sweep (scalars, and each swept one as a 1-D array of
    its own axis; aliases such as ``T, dT`` before ``model.normalize``).  The aliases' values
    (``T_L = T + dT/2``, ...) and :func:`check_constraints` are checked on the ``2**k`` corners of
    the grid (:func:`grid_corners`): exact when each alias is affine and each constraint convex in
    every parameter, as the built-in ones are; the outer product of the axes (``6.7 GiB`` for a
    ``30000 x 30000`` ``T, dT`` grid) is never built.

    Returns the normalized parameters at the corners.  Raises ``ValueError`` naming the parameter,
    its value, what is allowed and the corner of the grid where it fails.
    """
    flat, swept = grid_corners(params)

    def run(values):
        normalized = model.normalize(dict(values)) if model.normalize is not None else dict(values)
        derived = {k: v for k, v in normalized.items() if k not in values and k in model.parameter_names}
        check_parameters(model, derived, require_all=False)
        check_constraints(model, normalized)
        return normalized

    try:
        return run(flat)
    except ValueError as err:
        if not swept:
            raise
        first = err
    n = int(np.size(flat[swept[0]]))
    for i in range(n):
        corner = {k: (float(v[i]) if k in swept else v) for k, v in flat.items()}
        try:
            run(corner)
        except ValueError as err:
            at = ", ".join(f"{k}={corner[k]!r}" for k in swept)
            raise ValueError(f"{err} (at the grid corner {at})") from None
    raise first


def format_bytes(n: float) -> str:
    """``3.00 GiB``-style size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} EiB"  # pragma: no cover


def physical_memory() -> int:
    """Bytes of RAM of this machine (a generous 2**40 where the OS does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 2**40


def check_memory(model, structural: Mapping[str, Any], method: str, limit: int, limit_name: str) -> int:
    """Refuse a model whose solve of one cell needs more than ``limit`` bytes; return the estimate.

    ``model.memory_estimate(structural, method)`` (if the model has one) gives the bytes of a solve
    of a single cell (sub-batching goes no lower) and what takes them.  Raises ``ValueError`` stating
    the estimate, the limit (``limit_name``) and what to do.
    """
    estimate = getattr(model, "memory_estimate", None)
    if estimate is None:
        return 0
    need, what = estimate(structural, method)
    if need > limit:
        given = ", ".join(f"{k}={v!r}" for k, v in structural.items())
        raise ValueError(f"model {model.name!r} ({given}, method {method!r}) needs an estimated {format_bytes(need)} "
                         f"to solve a single cell ({what}); allowed: at most {format_bytes(limit)} ({limit_name})")
    return int(need)
