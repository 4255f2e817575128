"""Shared pieces of declared-model specs: errors naming the key, parameter collection.

A declared model names its parameters where they stand: a string such as ``eps_L`` in
an orbital's ``energy`` slot becomes a parameter of kind ``energy``; a number there is a
constant.  :class:`ParameterCollector` records every name with the kind its position
implies and refuses a name used with two kinds, naming both keys.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..model import KIND_UNITS, Parameter

__all__ = ["SpecError", "ParameterCollector", "IDENTIFIER", "check_name", "as_mapping", "check_keys"]

#: Names of orbitals, leads, subsystems, baths and parameters.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_KIND_WORD = {"energy": "an energy", "temperature": "a temperature", "chemical_potential": "a chemical potential",
              "rate": "a rate", "coupling": "a coupling", "dimensionless": "a dimensionless number"}


class SpecError(ValueError):
    """An invalid model spec; the message starts with the dotted key it is about."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


def check_name(value: Any, key: str, what: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise SpecError(key, f"{value!r} is not a valid {what}; allowed: a name of letters, digits and _ "
                             "that does not start with a digit")
    return value


def as_mapping(value: Any, key: str, what: str, *, empty_ok: bool = False) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(key, f"{what} must be a mapping, not {type(value).__name__} ({value!r})")
    if not value and not empty_ok:
        raise SpecError(key, f"{what} is empty; allowed: at least one entry")
    return value


def check_keys(value: Mapping[str, Any], key: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
    for k in value:
        if k not in allowed:
            raise SpecError(f"{key}.{k}", f"{k!r} is not a known key here; allowed: {', '.join(allowed)}")
    for k in required:
        if k not in value:
            raise SpecError(f"{key}.{k}", f"missing; {key} needs {k!r} (allowed keys: {', '.join(allowed)})")


@dataclass
class ParameterCollector:
    """Collects parameter names (with the kind their position implies) and constants.

    ``value(raw, kind, key, description)`` returns the parameter name, or for a number the
    key itself, under which the constant is stored in ``constants``.
    """

    kinds: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # name -> (kind, key, description)
    constants: dict[str, float] = field(default_factory=dict)
    reserved: set[str] = field(default_factory=set)
    #: stripped from a constant's key to name it (``models.<name>.``)
    prefix: str = ""

    def value(self, raw: Any, kind: str, key: str, description: str) -> str:
        if isinstance(raw, bool) or raw is None:
            raise SpecError(key, f"{raw!r} is not allowed; allowed: a parameter name or a number ({_KIND_WORD[kind]})")
        if isinstance(raw, numbers.Real):
            x = float(raw)
            if not math.isfinite(x) or (kind == "temperature" and not x > 0) or (kind == "rate" and not x >= 0):
                allowed = {"temperature": "a finite number > 0", "rate": "a finite number >= 0"}.get(kind, "a finite number")
                raise SpecError(key, f"{raw!r} is not allowed as {_KIND_WORD[kind]}; allowed: {allowed}")
            # a constant is named by its key (e.g. "leads.a.T"): never a parameter name, and
            # self-describing where it appears (the dataset attrs)
            name = key[len(self.prefix):] if self.prefix and key.startswith(self.prefix) else key
            self.constants[name] = x
            return name
        name = check_name(raw, key, "parameter name")
        if name in self.reserved:
            raise SpecError(key, f"{name!r} is reserved (a structural option of this model kind); choose another name")
        previous = self.kinds.get(name)
        if previous is not None and previous[0] != kind:
            raise SpecError(key, f"{name!r} is used here as {_KIND_WORD[kind]} and at {previous[1]} as "
                                 f"{_KIND_WORD[previous[0]]}; a parameter has one kind (use two names)")
        if previous is None:
            self.kinds[name] = (kind, key, description)
        return name

    def parameters(self, defaults: Mapping[str, Any] | None, key: str) -> tuple[Parameter, ...]:
        from ...validation import check_value

        defaults = dict(defaults or {})
        for name in defaults:
            if name not in self.kinds:
                raise SpecError(f"{key}.{name}", f"{name!r} is not a parameter of this model; allowed: "
                                                 f"{', '.join(self.kinds) or '(none)'}")
        params = []
        for name, (kind, where, description) in self.kinds.items():
            p = Parameter(name, kind, f"{description} ({where})", defaults.get(name))
            if name in defaults:
                try:
                    check_value(p, defaults[name])
                except ValueError as err:
                    raise SpecError(f"{key}.{name}", str(err)) from None
            params.append(p)
        return tuple(params)


def units_of(kind: str) -> str:
    return KIND_UNITS[kind]
