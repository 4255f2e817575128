"""What a sweep's store holds: the ``store: {variables: [...], float32: [...]}`` block of a sweep.

Storing costs more than computing (issue 17: 2.2x per cell on a 2-core VM), so a sweep may
keep fewer variables, or keep physics in float32:

.. code-block:: yaml

    sweeps:
      map:
        ...
        store:
          variables: [J_E, J_N, rel_err]   # names or groups; default: SPEC §4's full set
          float32: [currents]              # stored as float32 (default: only the diagnostics)

Groups (:data:`GROUPS`): ``all``, ``currents`` (J_E, J_N, J_Q), ``forces`` (every ``F_*``),
``diagnostics`` (residuals and precision bounds), ``parameters`` (the model parameters that vary
over the grid and are not a dimension, e.g. a force-space grid's ``T_a``).

Precision: a float64 value rounded to float32 (to nearest) carries a further relative error of
at most 2**-24 (:data:`FLOAT32_EPS`) where it is a normal float32 number. When a current of a
lead is stored as float32, that lead's ``rel_err`` becomes ``rel_err + 2**-24 (1 + rel_err)``, and
``inf`` where the current's magnitude leaves float32's normal range (below 2**-126 but not zero,
or beyond its largest value); the same for ``sigma`` and ``sigma_rel_err``. Every variable stored
as float32 says so in its ``comment`` attr, and the store's attrs record the layout
(``store_variables``, ``store_float32``). The invariant checks run on the float64 values of the
whole chunk, before any variable is dropped or rounded.

The block is part of the sweep's identity (``config_sha256``): a store written with another
layout is not resumed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import xarray as xr

#: Relative rounding error of a float64 value stored as float32 (round to nearest, normal range).
FLOAT32_EPS = 2.0 ** -24
_F32_TINY = float(np.finfo(np.float32).tiny)
_F32_MAX = float(np.finfo(np.float32).max)

CURRENTS = ("J_E", "J_N", "J_Q")
DIAGNOSTICS = ("residual_E", "residual_N", "rel_err", "sigma_rel_err")
#: Group names allowed in ``store.variables`` / ``store.float32`` (each expands to the variables of
#: the sweep it names).
GROUPS = ("all", "currents", "forces", "diagnostics", "parameters")


def _group(name: str, ds: xr.Dataset) -> list[str]:
    names = list(ds.data_vars)
    if name == "all":
        return names
    if name == "currents":
        return [n for n in names if n in CURRENTS]
    if name == "forces":
        return [n for n in names if n.startswith("F_")]
    if name == "diagnostics":
        return [n for n in names if n in DIAGNOSTICS]
    if name == "parameters":
        from ..physics.registry import get_model

        try:
            params = set(get_model(str(ds.attrs.get("model"))).parameter_names)
        except ValueError:
            params = set()
        return [n for n in names if n in params]
    raise KeyError(name)


@dataclass(frozen=True)
class StoreLayout:
    """The resolved ``store:`` block: which data variables are written, which of them as float32."""

    #: Variables written, in the dataset's order; ``None``: all of them.
    variables: tuple[str, ...] | None = None
    #: Variables written as float32 besides the diagnostics (:data:`~qtmsweep.sweep.layout.FLOAT32_DIAGNOSTICS`).
    float32: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        return self.variables is None and not self.float32

    def attrs(self) -> dict[str, Any]:
        """Dataset attrs recording the layout (none for the default one: old stores stay identical)."""
        if self.is_default:
            return {}
        return {"store_variables": list(self.variables) if self.variables is not None else "all",
                "store_float32": list(self.float32)}

    def apply(self, ds: xr.Dataset, reuse: bool = False) -> xr.Dataset:
        """``ds`` as the store holds it: precision bounds widened for float32 storage, then the
        float32 variables rounded and the others dropped.

        ``reuse``: the float32 arrays go into buffers kept per thread and reused by the next call
        of the same shape (fresh memory costs this VM 1-2 ns per byte touched); the result is valid
        only until that call — for a chunk written before the next one is computed."""
        if self.is_default:
            return ds
        out = ds
        f32 = [n for n in self.float32 if n in ds and ds[n].dtype == np.float64]
        updates: dict[str, xr.DataArray] = {}
        cur32 = [n for n in f32 if n in CURRENTS]
        if cur32 and "rel_err" in ds:
            updates["rel_err"] = _widened(ds["rel_err"], [ds[n] for n in cur32],
                                          "includes the float32 storage rounding of " + ", ".join(cur32))
        if "sigma" in f32 and "sigma_rel_err" in ds:
            updates["sigma_rel_err"] = _widened(ds["sigma_rel_err"], [ds["sigma"]],
                                                "includes the float32 storage rounding of sigma")
        for name in f32:
            v = ds[name]
            with np.errstate(over="ignore", invalid="ignore"):
                data = _buffer(name, v.shape, np.float32) if reuse else np.empty(v.shape, np.float32)
                np.copyto(data, v.values, casting="same_kind")
            note = ("stored as float32 (rounded to nearest from the float64 result: a further relative error of at "
                    "most 2**-24 in float32's normal range)")
            if name in CURRENTS and "rel_err" in ds:
                note += "; rel_err includes it"
            if name == "sigma" and "sigma_rel_err" in ds:
                note += "; sigma_rel_err includes it"
            updates[name] = v.copy(data=data).assign_attrs(comment=note)
        if updates:
            out = out.assign(updates)
        if self.variables is not None:
            out = out.drop_vars([n for n in out.data_vars if n not in self.variables])
        return out


_BUFFERS = threading.local()


def _buffer(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """This thread's reusable output buffer of ``name`` (a new one when the shape changes)."""
    cache = getattr(_BUFFERS, "arrays", None)
    if cache is None:
        cache = _BUFFERS.arrays = {}
    buf = cache.get(name)
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
        buf = cache[name] = np.empty(shape, dtype)
    return buf


def _widened(bound: xr.DataArray, values: list[xr.DataArray], note: str) -> xr.DataArray:
    """``bound + eps (1 + bound)``, ``inf`` where a value leaves float32's normal range."""
    new = np.asarray(bound.values, dtype=np.float64) * (1.0 + FLOAT32_EPS) + FLOAT32_EPS
    for v in values:
        a = np.abs(np.broadcast_to(v.transpose(*[d for d in bound.dims if d in v.dims]).values,
                                   new.shape) if v.dims != bound.dims else v.values)
        with np.errstate(invalid="ignore"):
            bad = (a > _F32_MAX) | ((a < _F32_TINY) & (a != 0))
        new[bad] = np.inf
    attrs = dict(bound.attrs)
    attrs["comment"] = note + " (+ 2**-24 (1 + bound); inf where the value leaves float32's normal range)"
    return bound.copy(data=new).assign_attrs(attrs)


def resolve_layout(spec: Mapping[str, Any] | None, probe: xr.Dataset, key: str) -> StoreLayout:
    """The :class:`StoreLayout` of a sweep's ``store:`` block (``key``: its dotted config key),
    resolved against the variables its probe (one solved cell) outputs.

    Raises
    ------
    ConfigError
        Naming the key, the value and the allowed names.
    """
    from .config import ConfigError

    if not spec:
        return StoreLayout()
    names = list(probe.data_vars)
    allowed = f"allowed: {', '.join(names)}, or a group: {', '.join(GROUPS)}"

    def expand(entries, sub: str) -> list[str]:
        out: list[str] = []
        for i, entry in enumerate(entries):
            if entry in GROUPS:
                got = _group(entry, probe)
            elif entry in names:
                got = [entry]
            else:
                raise ConfigError(f"{key}.{sub}[{i}]: {entry!r} is not a variable of this sweep; {allowed}")
            out.extend(n for n in got if n not in out)
        return out

    variables = None
    if spec.get("variables") is not None:
        kept = expand(spec["variables"], "variables")
        if not kept:
            raise ConfigError(f"{key}.variables: {list(spec['variables'])!r} selects no variable of this sweep; "
                              f"{allowed}")
        variables = tuple(n for n in names if n in kept)
    float32 = []
    for i, entry in enumerate(spec.get("float32") or []):
        for n in expand([entry], "float32"):
            if variables is not None and n not in variables:
                if entry in GROUPS:
                    continue  # a group keeps what is stored
                raise ConfigError(f"{key}.float32[{i}]: {n!r} is not stored ({key}.variables leaves it out); "
                                  f"allowed: {', '.join(variables)}")
            if probe[n].dtype.kind != "f":
                if entry in GROUPS:
                    continue
                raise ConfigError(f"{key}.float32[{i}]: {n!r} is {probe[n].dtype} data, not floating point; "
                                  "allowed: a floating-point variable")
            if n in DIAGNOSTICS:
                continue  # already float32, rounded upward (a bound is never made smaller)
            if n not in float32:
                float32.append(n)
    return StoreLayout(variables=variables, float32=tuple(n for n in names if n in float32))
