"""Flat parameter batches: the one-length rule every vectorised model evaluates on.

A model's ``evaluate`` receives its parameters as scalars or flat arrays of one common
length ``n`` (the grid cells of a chunk); :func:`batch_size` finds ``n`` and
:func:`flat_param` broadcasts one parameter to it.

>>> import numpy as np
>>> batch_size({"a": np.arange(3.0), "b": 2.0, "kind": "qubit"})
3
>>> flat_param({"b": 2.0}, "b", 3)
array([2., 2., 2.])
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["batch_size", "flat_param"]


def flat_param(params: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    """``params[name]`` as a float array of shape ``(n,)`` (a read-only broadcast view)."""
    return np.broadcast_to(np.asarray(params[name], dtype=float), (n,))


def batch_size(params: Mapping[str, Any]) -> int:
    """The common length of the array-valued parameters (1 if all are scalars); strings are ignored."""
    sizes = {np.size(v) for v in params.values() if not isinstance(v, str) and np.ndim(v) >= 1}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"parameter arrays must be flat and of one length; got lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 1
