"""The model registry: the only way the rest of the package learns about models.

Models come from three places (:func:`model_origin` says which): the built-in modules
(``built-in``), declared specs (:func:`qtmsweep.define_model`, a config's ``models:``
section; see :mod:`qtmsweep.physics.declared`) and plug-ins: installed packages that
advertise an entry point in the group ``qtmsweep.models`` (``plugin <dist>:<entry point>``).
An entry point loads to a model object, a spec mapping ``{name: spec}``, or a callable
returning either (or a list of model objects).
"""

from __future__ import annotations

from typing import Any

_MODELS: dict[str, Any] = {}
_ORIGINS: dict[str, str] = {}
#: Entry-point group of plug-in models.
ENTRY_POINT_GROUP = "qtmsweep.models"
_PLUGINS_LOADED = False
#: Plug-in entry points that failed to load: "dist:name" -> error message.
PLUGIN_ERRORS: dict[str, str] = {}


def register(model: Any, *, replace: bool = False, origin: str | None = None) -> Any:
    """Register a model object under ``model.name`` (idempotent for the same object).

    ``replace=True`` lets a declared model replace another model that is not built in.
    """
    existing = _MODELS.get(model.name)
    if existing is not None and existing is not model:
        same_spec = (getattr(existing, "spec_sha256", None) is not None
                     and getattr(existing, "spec_sha256", None) == getattr(model, "spec_sha256", ""))
        if same_spec:
            return existing
        if not replace or _ORIGINS.get(model.name) == "built-in":
            raise ValueError(f"model {model.name!r} is already registered (from {_ORIGINS.get(model.name, '?')}); "
                             "choose another name" + ("" if _ORIGINS.get(model.name) == "built-in"
                                                      else " or pass replace=True"))
    _MODELS[model.name] = model
    _ORIGINS[model.name] = origin or getattr(model, "origin", None) or "built-in"
    return model


def get_model(name: str) -> Any:
    """Return the registered model called ``name``.

    Raises
    ------
    ValueError
        naming the unknown model and the known ones.
    """
    _load_builtin_models()
    if isinstance(name, str) and name not in _MODELS:
        _load_plugins()
    if isinstance(name, str) and name in _MODELS:
        return _MODELS[name]
    if not isinstance(name, str) and getattr(name, "name", None) in _MODELS:
        return name
    raise ValueError(f"model={name!r} is not a known model; allowed: {', '.join(sorted(_MODELS))}")


def available_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_builtin_models()
    _load_plugins()
    return sorted(_MODELS)


def model_origin(name: str) -> str:
    """Where model ``name`` came from: ``built-in``, ``define_model``, ``config``, ``store`` or ``plugin ...``."""
    get_model(name)
    return _ORIGINS.get(name, "built-in")


def _load_builtin_models() -> None:
    from . import models  # noqa: F401  (importing registers the built-in models)


def _load_plugins(*, force: bool = False) -> None:
    """Register the models of every ``qtmsweep.models`` entry point (once per process)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED and not force:
        return
    _PLUGINS_LOADED = True
    _load_builtin_models()
    for ep in _entry_points():
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        origin = f"plugin {dist}:{ep.name} ({ep.value})"
        try:
            _register_plugin(ep.load(), origin)
        except Exception as err:  # a broken plug-in must not break the package; it is reported
            PLUGIN_ERRORS[f"{dist}:{ep.name}"] = f"{type(err).__name__}: {err}"


def _entry_points():
    """The installed ``qtmsweep.models`` entry points (one seam, so tests can stand in a distribution)."""
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _register_plugin(obj: Any, origin: str) -> None:
    from collections.abc import Mapping

    if callable(obj) and not hasattr(obj, "parameters"):
        obj = obj()
    if isinstance(obj, Mapping):
        from .declared import build_model

        for name, spec in obj.items():
            register(build_model(name, spec, origin=origin), origin=origin)
        return
    for model in (obj if isinstance(obj, (list, tuple)) else [obj]):
        if not hasattr(model, "name") or not hasattr(model, "parameters"):
            raise TypeError(f"entry point gave {model!r}; allowed: a model object, a {{name: spec}} mapping, "
                            "or a callable returning one")
        register(model, origin=origin)
