"""Strict YAML reading for configs: duplicate keys refused, YAML 1.2 floats (``1e-3``), bounded aliases.

PyYAML follows YAML 1.1, where a mapping's duplicate key silently wins over the first and
``1e-3`` (no dot) is a string; a config is read here with both fixed.  A document whose aliases
expand to more than :data:`MAX_NODES` values (an "alias bomb": each alias is shared in Python,
but validation and copies walk every reference) is refused before it is expanded.

Examples
--------
>>> load_yaml_text("a: 1e-3\\nb: [1E5, .5e1]")
{'a': 0.001, 'b': [100000.0, 5.0]}
>>> load_yaml_text("fixed: {eps: 1.0, eps: 5.0}")
Traceback (most recent call last):
...
qtmsweep.sweep.config.ConfigError: <string>: line 1: key 'eps' is given twice in the same mapping (first at line 1); allowed: each key once
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

#: Values (scalars, list items, mapping entries) a config may expand to, counting every alias use.
MAX_NODES = 1_000_000

_FLOAT_12 = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and reads YAML 1.2 floats."""


StrictLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in "-+0123456789.":
    StrictLoader.yaml_implicit_resolvers.setdefault(_first, [])
    StrictLoader.yaml_implicit_resolvers[_first] = [
        (tag, regexp) for tag, regexp in StrictLoader.yaml_implicit_resolvers[_first]
        if tag != "tag:yaml.org,2002:float"]
    StrictLoader.yaml_implicit_resolvers[_first].insert(0, ("tag:yaml.org,2002:float", _FLOAT_12))


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    from .config import ConfigError

    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # SafeLoader reports unhashable keys itself
        if key in seen:
            raise ConfigError(f"{loader.name}: line {key_node.start_mark.line + 1}: key {key!r} is given twice in the "
                              f"same mapping (first at line {seen[key] + 1}); allowed: each key once")
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expanded_size(node: yaml.Node, limit: int, memo: dict[int, int]) -> int:
    """Values ``node`` expands to (aliases counted at every use), stopping once over ``limit``."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = limit + 1  # a recursive alias is unbounded
    if isinstance(node, yaml.ScalarNode):
        size = 1
    else:
        size = 1
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        for child in children:
            size += _expanded_size(child, limit, memo)
            if size > limit:
                break
    memo[key] = size
    return size


def load_yaml_text(text: str, name: str = "<string>") -> Any:
    """Parse one YAML document strictly (see the module docs); :class:`ConfigError` naming ``name``."""
    from .config import ConfigError

    loader = StrictLoader(text)
    loader.name = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, MAX_NODES, {})
        if size > MAX_NODES:
            raise ConfigError(f"{name}: the document expands to more than {MAX_NODES} values (through its aliases); "
                              "allowed: a config of at most that size")
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise ConfigError(f"{name}: not valid YAML: {err}") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path) -> Any:
    """Read and parse a config file; a non-UTF-8 file is a :class:`ConfigError` naming it and the byte."""
    from .config import ConfigError

    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}, line {line}); "
                          "allowed: a UTF-8 YAML file") from None
    return load_yaml_text(text, str(path))
