"""Sweep configuration: load YAML, validate against the package's JSON schema, fill defaults.

The schema (``config.schema.yaml`` next to this module, :data:`SCHEMA_PATH`) is the single
source of truth: the CLI validates with :func:`validate_config`, the Snakefile with
``snakemake.utils.validate(config, SCHEMA_PATH)``; both fill defaults the same way.
What a JSON schema cannot express (each model parameter fixed or swept exactly once,
per-model value ranges, increasing grids, chunk sizes) is checked by :func:`check_config`,
which builds every sweep's plan (see :mod:`qtmsweep.sweep.grid`) without computing anything.

Examples
--------
>>> fixed = {"eps": 1.0, "T_r": 1.0, "mu_l": 0.0, "mu_r": 0.0, "gamma_l": 1.0, "gamma_r": 1.0}
>>> cfg = validate_config({"sweeps": {"s": {"model": "sqd", "fixed": fixed,
...                                           "grid": {"T_l": {"linspace": [1.0, 2.0, 3]}}}}})
>>> cfg["dask"]["cluster"], cfg["sweeps"]["s"]["method"]
('auto', 'auto')
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

#: Path of the JSON schema (YAML syntax) shared by the CLI and the Snakefile.
SCHEMA_PATH: Path = Path(__file__).with_name("config.schema.yaml")


class ConfigError(ValueError):
    """An invalid sweep configuration; the message names the offending key."""


@lru_cache(maxsize=1)
def _schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_schema() -> dict:
    """Return a copy of the configuration schema."""
    return copy.deepcopy(_schema())


def _validator_class():
    """Draft 2020-12 validator that fills ``default`` values of ``properties``.

    The same recipe as ``snakemake.utils.validate(..., set_default=True)`` (the
    jsonschema FAQ one), so the CLI and the workflow see the same filled config.
    """
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(prop, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})


def _key_path(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _offending_key(error) -> str:
    """Dotted path of the key an error is about (the unexpected key for additionalProperties)."""
    path = list(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            path.append(extra[0])
    elif error.validator == "required":
        # message is "'x' is a required property"
        missing = error.message.split("'")[1] if "'" in error.message else ""
        if missing:
            path.append(missing)
    elif error.validator == "propertyNames":
        path.append(repr(error.instance))
    return _key_path(path)


def validate_config(config: Mapping[str, Any], *, check: bool = True) -> dict:
    """Validate ``config`` against the schema and return a copy with defaults filled in.

    Parameters
    ----------
    config : mapping
        The parsed YAML document.
    check : bool
        Also run :func:`check_config` (model parameters, grids, chunks) on every sweep.

    Raises
    ------
    ConfigError
        Naming the offending key, e.g. ``sweeps.demo.grid.T_a: ...``.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"<top level>: the configuration must be a mapping, not {type(config).__name__}")
    _check_sweep_names(config)
    cfg = copy.deepcopy(dict(config))
    _unbool_refine_on(cfg)
    from jsonschema.exceptions import best_match

    validator = _validator_class()(_schema())
    error = best_match(validator.iter_errors(cfg))
    if error is not None:
        raise ConfigError(f"{_offending_key(error)}: {_short(_message(error))}")
    _register_declared_models(cfg)
    if check:
        check_config(cfg)
    return cfg


def _unbool_refine_on(cfg: dict) -> None:
    """YAML 1.1 reads an unquoted key ``on`` as ``True``: give ``refine: {on: [...]}`` its name back."""
    sweeps = cfg.get("sweeps")
    if isinstance(sweeps, dict):
        for sc in sweeps.values():
            refine = sc.get("refine") if isinstance(sc, dict) else None
            if isinstance(refine, dict) and True in refine and "on" not in refine:
                sc["refine"] = {("on" if k is True else k): v for k, v in refine.items()}


def _register_declared_models(cfg: Mapping[str, Any]) -> None:
    """Build and register the models of the ``models:`` section (spec errors name their key)."""
    from ..physics.declared import SpecError, register_from_config

    try:
        register_from_config(cfg, origin="config")
    except SpecError as err:
        raise ConfigError(str(err)) from None
    except ValueError as err:  # e.g. the name of a built-in model
        raise ConfigError(f"models: {err}") from None


#: Longest sweep name: it names a directory, a store and the store's lock and temporary siblings.
MAX_SWEEP_NAME = 100


def _check_sweep_names(config: Mapping[str, Any]) -> None:
    """Sweep names must be strings (YAML reads ``123:`` as a number, ``yes:`` as true) of at most
    :data:`MAX_SWEEP_NAME` characters."""
    sweeps = config.get("sweeps")
    if not isinstance(sweeps, Mapping):
        return
    for name in sweeps:
        if not isinstance(name, str):
            raise ConfigError(f"sweeps: the sweep name {name!r} was read as {type(name).__name__}, not text (YAML reads "
                              f"123 as a number and yes/no/on/off as booleans); allowed: a name starting with a letter "
                              f"or digit, of letters, digits, '_', '.', '-' (quote it: \"{name}\": ...)")
        if len(name) > MAX_SWEEP_NAME:
            raise ConfigError(f"sweeps.{name[:40]}...: the sweep name has {len(name)} characters; allowed: at most "
                              f"{MAX_SWEEP_NAME} (it names the store's directory and files)")


def _message(error) -> str:
    """The schema error as one sentence that says what was given and what is allowed."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    described = schema.get("description")
    if error.validator == "not":
        return "this key is not allowed here" + (f" (allowed: {described})" if described else "")
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra and allowed:
            return f"{extra[0]!r} is not a known key here; allowed: {', '.join(allowed)}"
    message = error.message
    if error.validator in ("minItems", "maxItems", "prefixItems", "items"):
        # e.g. "[0.2, 2.0] is too short": say what the array must hold
        parent = _parent_schema(error)
        described = described or (parent or {}).get("description")
    # validators whose own message does not say what would be accepted
    if described and error.validator in ("anyOf", "oneOf", "minItems", "maxItems", "minProperties", "type"):
        message += f" (allowed: {described})"
    return message


def _parent_schema(error) -> dict | None:
    """Schema of the array/object an item-level error sits in (its description says what is allowed)."""
    path = list(error.schema_path)
    node: Any = _schema()
    seen = []
    try:
        for part in path[:-1]:
            node = node[part]
            if isinstance(node, dict) and "$ref" in node:
                ref = node["$ref"].split("/")[1:]
                target: Any = _schema()
                for r in ref:
                    target = target[r]
                node = target
            if isinstance(node, dict) and node.get("description"):
                seen.append(node)
    except (KeyError, IndexError, TypeError):
        return None
    return seen[-1] if seen else None


def _short(message: str, limit: int = 400) -> str:
    return message if len(message) <= limit else message[:limit] + " ..."


def check_config(config: Mapping[str, Any]) -> None:
    """Semantic checks beyond the schema: build every sweep's plan (no computation, no files).

    Raises
    ------
    ConfigError
        Naming the sweep and key, e.g. ``sweeps.demo.fixed.mu_r: ...``.
    """
    from .grid import build_plan

    for name in config.get("sweeps", {}):
        build_plan(config, name, probe=False)
        if config["sweeps"][name].get("refine") is not None:
            from .refine import build_refine_plan

            build_refine_plan(config, name, probe=False)
    for name, figure in config.get("figures", {}).items():
        for i, sweep in enumerate([figure["sweep"], *figure.get("sweeps", [])]):
            key = f"figures.{name}.sweep" if i == 0 else f"figures.{name}.sweeps[{i - 1}]"
            if sweep not in config.get("sweeps", {}):
                raise ConfigError(f"{key}: {sweep!r} is not a sweep of this config; "
                                  f"allowed: {', '.join(config.get('sweeps', {})) or '(none)'}")


#: Top-level keys an ``include:``d file may hold.
INCLUDE_KEYS = ("sweeps", "figures")


def expand_includes(config: dict, base: str | Path) -> dict:
    """Merge the files named by ``config["include"]`` (paths relative to ``base``) into ``config``, in place.

    Each included file holds ``sweeps:`` and/or ``figures:`` only (e.g. the paper presets in
    ``config/sweeps/``); a name defined twice is an error.  ``include`` is removed.  Returns ``config``.
    """
    includes = config.pop("include", None) or []
    if isinstance(includes, str) or not isinstance(includes, list):
        raise ConfigError(f"include: {includes!r} is not allowed; allowed: a list of YAML files")
    for i, rel in enumerate(includes):
        path = Path(base) / str(rel)
        if not path.is_file():
            raise ConfigError(f"include[{i}]: {str(path)!r} does not exist or is not a file")
        with open(path, encoding="utf-8") as fh:
            try:
                doc = yaml.safe_load(fh) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{path}: an included file must be a mapping with sweeps: and/or figures:")
        for key in doc:
            if key not in INCLUDE_KEYS:
                raise ConfigError(f"{path}: {key!r} is not allowed in an included file; allowed: "
                                  f"{', '.join(INCLUDE_KEYS)}")
        for key in INCLUDE_KEYS:
            section = config.setdefault(key, {})
            for name, value in (doc.get(key) or {}).items():
                if name in section:
                    raise ConfigError(f"{path}: {key}.{name} is defined twice (also in the including config "
                                      "or an earlier include)")
                section[name] = value
    return config


def load_config(path: str | Path, *, check: bool = True) -> dict:
    """Read a YAML configuration file, validate it and fill defaults (see :func:`validate_config`).

    ``include:`` files (relative to the config's folder) are merged first (:func:`expand_includes`).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist or is not a file")
    from .yamlload import load_yaml_file

    raw = load_yaml_file(path)  # duplicate keys refused, 1e-3 a number, aliases bounded, encoding named
    if raw is None:
        raw = {}
    if isinstance(raw, dict) and "include" in raw:
        raw = expand_includes(raw, path.parent)
    return validate_config(raw, check=check)


def sweep_document(config: Mapping[str, Any], sweep: str) -> dict:
    """The part of a (validated) config that defines one sweep's data: ``{"sweeps": {sweep: ...}}``,
    preceded by ``{"models": {name: spec}}`` when the sweep's model is declared in the config."""
    sweeps = config.get("sweeps", {})
    if sweep not in sweeps:
        raise ConfigError(f"sweeps.{sweep}: no such sweep; allowed: {', '.join(sweeps) or '(none)'}")
    doc: dict[str, Any] = {}
    model = sweeps[sweep].get("model")
    declared = config.get("models") or {}
    if model in declared:  # a declared model's spec is part of the sweep's identity
        doc["models"] = {model: copy.deepcopy(declared[model])}
    doc["sweeps"] = {sweep: copy.deepcopy(sweeps[sweep])}
    return doc


def sweep_yaml(config: Mapping[str, Any], sweep: str) -> str:
    """Canonical YAML text of one sweep's definition (stored in the zarr attrs as ``config``).

    Key order is kept (it fixes the order of the dimensions); values are the
    validated, default-filled ones, so the same sweep gives the same text whether
    it comes from the CLI or the Snakefile.
    """
    return yaml.safe_dump(_plain(sweep_document(config, sweep)), sort_keys=False, default_flow_style=None,
                          allow_unicode=True, width=100)


#: Keys of a sweep that do not change its data: left out of its identity (``config_sha256``).
NON_DATA_KEYS = ("description", "resources")


def sweep_sha256(config: Mapping[str, Any], sweep: str) -> str:
    """SHA-256 of what defines one sweep's data (stored as ``config_sha256``; decides whether a store
    can be resumed): :func:`sweep_yaml` without :data:`NON_DATA_KEYS`, so editing a sweep's
    ``description`` or its Snakemake ``resources`` leaves its store valid.

    >>> fixed = {"eps": 1.0, "T_r": 1.0, "mu_l": 0.0, "mu_r": 0.0, "gamma_l": 1.0, "gamma_r": 1.0}
    >>> a = {"sweeps": {"s": {"model": "sqd", "fixed": fixed, "grid": {"T_l": {"values": [1.0, 2.0]}}}}}
    >>> b = copy.deepcopy(a); b["sweeps"]["s"]["description"] = "edited"
    >>> sweep_sha256(a, "s") == sweep_sha256(b, "s")
    True
    """
    doc = sweep_document(config, sweep)
    for key in NON_DATA_KEYS:
        doc["sweeps"][sweep].pop(key, None)
    text = yaml.safe_dump(_plain(doc), sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_sweep_config(config: Mapping[str, Any], sweep: str, path: str | Path) -> Path:
    """Write a stand-alone, default-filled config holding only ``sweep`` (and the run settings).

    The Snakefile materialises each sweep's config this way, so the sweep rule runs the CLI
    on exactly the (validated, overridden) config Snakemake sees.
    """
    doc = {k: v for k, v in config.items() if k not in ("sweeps", "figures")}
    doc.update(sweep_document(config, sweep))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(_plain(doc), sort_keys=False, default_flow_style=None, width=100),
                    encoding="utf-8")
    return path


def execution_yaml(config: Mapping[str, Any]) -> str:
    """YAML text of the execution settings (``dask`` section), recorded per run."""
    return yaml.safe_dump(_plain({"dask": config.get("dask", {})}), sort_keys=False, default_flow_style=None)


def _plain(obj: Any) -> Any:
    """Round-trip through JSON types so YAML dumps contain no Python-specific tags."""
    return json.loads(json.dumps(obj))
