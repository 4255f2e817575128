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

__all__ = ["batch_size", "flat_param", "GridParam"]


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


class GridParam:
    """One parameter on ``n`` grid cells without the broadcast copy: cell ``i`` has the value
    ``values[(i // div) % mod]``.

    A 1-D axis coordinate of a C-ordered grid of shape ``S`` along dim ``d`` is
    ``GridParam(coord, div=prod(S[d+1:]), mod=S[d])``; a flat array is ``div=1, mod=n``;
    a scalar ``div=1, mod=1``.  Kernels that accept these (``RateModel.grid_params``) read the
    values in place; :meth:`flat` materialises the ``n`` values for those that do not.

    >>> GridParam(np.array([1.0, 2.0]), div=3, mod=2).flat(6).tolist()
    [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    """

    __slots__ = ("values", "div", "mod")

    def __init__(self, values: np.ndarray, div: int, mod: int):
        values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        if values.size != mod or div < 1 or mod < 1:
            raise ValueError(f"GridParam: need values of size mod={mod} >= 1 and div={div} >= 1; "
                             f"got {values.size} values")
        self.values, self.div, self.mod = values, int(div), int(mod)

    def flat(self, n: int) -> np.ndarray:
        """The ``n`` cell values (a copy unless the values are already flat)."""
        if self.div == 1 and self.mod == n:
            return self.values
        return self.values[(np.arange(n) // self.div) % self.mod]

    def at(self, idx: np.ndarray) -> np.ndarray:
        """The values of the cells ``idx``."""
        return self.values[(np.asarray(idx) // self.div) % self.mod]

    def __repr__(self) -> str:
        return f"GridParam(<{self.mod} values>, div={self.div}, mod={self.mod})"
