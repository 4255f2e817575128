"""Heat currents and conservation residuals (SPEC §1)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..physics.conservation import residual_of_row


def heat_current(J_E: np.ndarray, J_N: np.ndarray | None, mu: np.ndarray | None) -> np.ndarray:
    """``J_Q = J_E − μ J_N`` per lead (``J_Q = J_E`` for baths without particle exchange).

    Examples
    --------
    >>> import numpy as np
    >>> heat_current(np.array([[2.0, -2.0]]), np.array([[1.0, -1.0]]), np.array([[0.5, 0.0]]))
    array([[ 1.5, -2. ]])
    """
    if J_N is None or mu is None:
        return np.array(J_E, copy=True)
    return J_E - mu * J_N


def conservation_residual(J: np.ndarray) -> np.ndarray:
    """``|Σ_λ J[λ]| / max_λ |J[λ]|`` per cell (0 where all currents vanish, NaN where one is NaN).

    ``J`` has the leads on its last axis; the result has the other axes.

    Examples
    --------
    >>> import numpy as np
    >>> conservation_residual(np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [2.0, -1.0, 0.0]]))
    array([0. , 0. , 0.5])
    """
    J = np.asarray(J, dtype=float)
    out = np.empty(J.shape[:-1])
    _residual_rows(J.reshape(-1, J.shape[-1]), out.reshape(-1))
    return out


@njit(cache=True, parallel=True)
def _residual_rows(J, out):  # pragma: no cover - compiled
    n_leads = J.shape[1]
    for i in prange(J.shape[0]):
        out[i] = residual_of_row(J, i, n_leads)
