"""Models declared as data (issue 14): ``kind: dots`` and ``kind: lindblad`` specs.

:func:`build_model` turns a spec into a model object that satisfies the same protocol as
the built-ins (a :class:`~qtmsweep.physics.model.RateModel` or a
:class:`~qtmsweep.physics.lindblad.LindbladModel`); :func:`define_model` also registers it,
so ``qtmsweep.solve(name, ...)`` and sweeps with ``model: name`` work as for a built-in.

A declared model is rebuilt from its spec wherever it is needed (a Dask worker, a later
analysis of a store): :func:`ensure_model` registers the spec's model unless the same
spec is already registered under that name.

Examples
--------
>>> import qtmsweep
>>> spec = {"kind": "dots", "orbitals": {"d": {"energy": "eps"}},
...         "leads": {"l": {"T": "T_l", "mu": "mu_l", "couples": {"d": "gamma_l"}},
...                   "r": {"T": "T_r", "mu": "mu_r", "couples": {"d": "gamma_r"}}},
...         "reference_lead": "r"}
>>> m = qtmsweep.define_model("doc_dot", spec)
>>> ds = qtmsweep.solve("doc_dot", eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
>>> float(ds.J_N.sel(lead="l")) > 0, bool(ds.sigma >= 0)
(True, True)
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Mapping

from .spec import SpecError

__all__ = ["SpecError", "build_model", "define_model", "ensure_model", "spec_sha256", "KINDS"]

#: The spec kinds and what builds them.
KINDS = ("dots", "lindblad")


def _plain(spec: Any) -> Any:
    try:
        return json.loads(json.dumps(spec))
    except (TypeError, ValueError) as err:
        raise SpecError("<spec>", f"a model spec must hold only mappings, lists, strings and numbers ({err})") from None


def spec_sha256(spec: Mapping[str, Any]) -> str:
    """SHA-256 of the spec's canonical JSON (key order kept: it fixes state and lead order)."""
    return hashlib.sha256(json.dumps(_plain(spec), separators=(",", ":")).encode()).hexdigest()


def build_model(name: str, spec: Mapping[str, Any], *, origin: str = "declared"):
    """Build (without registering) the model of ``spec``.

    Raises
    ------
    SpecError
        (a ``ValueError``) naming the offending key, e.g. ``models.my_cqd.leads.a.couples.X``.
    """
    from .spec import check_name

    check_name(name, f"models.{name}", "model name")
    if not isinstance(spec, Mapping):
        raise SpecError(f"models.{name}", f"a model spec must be a mapping, not {type(spec).__name__}")
    spec = _plain(spec)
    kind = spec.get("kind")
    if kind == "dots":
        from .dots import build_dots

        model = build_dots(name, spec)
    elif kind == "lindblad":
        from .lindblad_spec import build_lindblad

        model = build_lindblad(name, spec)
    else:
        raise SpecError(f"models.{name}.kind", f"{kind!r} is not allowed; allowed: {', '.join(KINDS)}")
    model.spec = copy.deepcopy(spec)
    model.spec_sha256 = spec_sha256(spec)
    model.origin = origin
    return model


def define_model(name: str, spec: Mapping[str, Any], *, replace: bool = False, origin: str = "define_model"):
    """Build the model of ``spec``, register it under ``name`` and return it.

    Defining the same spec again returns the registered model.  A different spec under a
    registered name is refused unless ``replace=True`` (never over a built-in model).
    """
    from ..registry import register

    model = build_model(name, spec, origin=origin)
    return register(model, replace=replace)


def ensure_model(name: str, spec: Mapping[str, Any], *, origin: str = "config"):
    """The registered model ``name`` if it was built from this spec; else build and register it.

    Used where a spec travels with the work (a sweep plan on a Dask worker, a store's
    config): a declared model of the same name but another spec is replaced.
    """
    from ..registry import _MODELS, register

    existing = _MODELS.get(name)
    if existing is not None and getattr(existing, "spec_sha256", None) == spec_sha256(spec):
        return existing
    return register(build_model(name, spec, origin=origin), replace=True)


def register_from_config(config: Mapping[str, Any], *, origin: str = "config") -> list[str]:
    """Register every model of a config's ``models:`` section; return their names.

    Errors are :class:`SpecError` naming ``models.<name>.<key>``.
    """
    models = config.get("models") or {}
    if not isinstance(models, Mapping):
        raise SpecError("models", f"must be a mapping of model name -> spec, not {type(models).__name__}")
    names = []
    for name, spec in models.items():
        ensure_model(name, spec, origin=origin)
        names.append(name)
    return names


def register_from_dataset(ds) -> str | None:
    """Register the declared model a dataset/store was computed with (from its ``config`` attr)."""
    import yaml

    text = ds.attrs.get("config") if hasattr(ds, "attrs") else None
    if not text:
        return None
    doc = yaml.safe_load(text) or {}
    models = doc.get("models") or {}
    name = ds.attrs.get("model")
    if name in models:
        ensure_model(name, models[name], origin="store")
        return name
    return None
