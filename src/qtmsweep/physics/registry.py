"""The model registry: the only way the rest of the package learns about models."""

from __future__ import annotations

from typing import Any

_MODELS: dict[str, Any] = {}


def register(model: Any) -> Any:
    """Register a model object under ``model.name`` (idempotent for the same object)."""
    existing = _MODELS.get(model.name)
    if existing is not None and existing is not model:
        raise ValueError(f"model {model.name!r} is already registered")
    _MODELS[model.name] = model
    return model


def get_model(name: str) -> Any:
    """Return the registered model called ``name``.

    Raises
    ------
    ValueError
        naming the unknown model and the known ones.
    """
    _load_builtin_models()
    if isinstance(name, str) and name in _MODELS:
        return _MODELS[name]
    if not isinstance(name, str) and getattr(name, "name", None) in _MODELS:
        return name
    raise ValueError(f"model={name!r} is not a known model; allowed: {', '.join(sorted(_MODELS))}")


def available_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_builtin_models()
    return sorted(_MODELS)


def _load_builtin_models() -> None:
    from . import models  # noqa: F401  (importing registers the built-in models)
