"""The conservation residual of one cell's lead currents, compiled once for every kernel.

``|Σ_λ J[λ]| / max_λ |J[λ]|``: 0 where every current vanishes, NaN where one is NaN.  The sum runs
from 0.0 in lead order, so a kernel that fuses it into its own pass and
:func:`qtmsweep.thermo.currents.conservation_residual` (which calls :func:`residual_of_row` on
stored currents) give the same bits.  :func:`residual_of_three` is the same arithmetic on three
scalars, for kernels that keep a cell's currents in registers rather than in a row.

Examples
--------
>>> import numpy as np
>>> J = np.array([[2.0, -1.0, 0.0]])
>>> residual_of_row(J, 0, 3), residual_of_three(2.0, -1.0, 0.0)
(0.5, 0.5)
"""

from __future__ import annotations

from numba import njit

__all__ = ["residual_of_row", "residual_of_three"]


@njit(cache=True, inline="always")
def residual_of_row(J, c, n_leads):  # pragma: no cover - compiled
    """``|Σ_λ J[c, λ]| / max_λ |J[c, λ]|`` over the first ``n_leads`` columns of row ``c``."""
    total = 0.0
    scale = 0.0
    for L in range(n_leads):
        total += J[c, L]
        scale = max(scale, abs(J[c, L]))
    if total != total:  # a NaN current: NaN residual
        return total
    return abs(total) / scale if scale > 0 else 0.0


@njit(cache=True, inline="always")
def residual_of_three(a, b, c):  # pragma: no cover - compiled
    """:func:`residual_of_row` of the row ``(a, b, c)``, branch-free enough for SIMD lanes."""
    total = ((0.0 + a) + b) + c
    scale = max(max(max(0.0, abs(a)), abs(b)), abs(c))
    rv = abs(total) / scale if scale > 0 else 0.0
    return total if total != total else rv
