"""Linear response: the Onsager matrix of a force pair at equilibrium.

``L_ij = ∂J_i/∂F_j`` at ``F = 0`` by central differences in force space.  The
kernels keep near-equilibrium currents to a small *relative* error (see the
``cqd`` module docstring), so a step of ``1e-6`` gives the coefficients to
~1e-10 relative.  Onsager reciprocity ``L_12 = L_21`` and positive
semi-definiteness (the second law at second order) are not built in: they are
properties of the physics the tests check.

Examples
--------
>>> import numpy as np
>>> L = onsager_matrix("sqd", eps=0.5, T=1.0, mu=0.0, gamma_l=1.0, gamma_r=1.0)
>>> bool(np.isclose(L[0, 1], L[1, 0], rtol=1e-8))
True
"""

from __future__ import annotations

import numpy as np

from ..physics.reduced import SQD_PAIR, force_space_parameters, get_reduced_model
from ..solve import solve


def onsager_matrix(model: str, *, reduced_model: str | None = None, T: float, mu: float, delta: float = 1e-6,
                   **fixed: float) -> np.ndarray:
    """2x2 Onsager matrix of the model's force pair around equilibrium at ``(T, mu)``.

    Parameters
    ----------
    model : {"sqd", "cqd"}
    reduced_model : {"I", "II"}, required for ``cqd``
        Which force pair (SPEC §2): I = ``(F_E_r, F_N_b)``, II = ``(F_E_b, F_N_b)``.
    T, mu : float
        Common temperature and chemical potential of the equilibrium point.
    delta : float
        Finite-difference step in force space.
    **fixed
        The remaining (non-reservoir) parameters of the model.

    Returns
    -------
    numpy.ndarray
        ``L[i, j] = ∂J_i/∂F_j`` with fluxes/forces ordered as the pair's.
    """
    beta = 1.0 / T
    steps = np.array([[delta, 0.0], [-delta, 0.0], [0.0, delta], [0.0, -delta]])
    if model == "sqd":
        pair = SQD_PAIR
        F_E, F_N = steps[:, 0], steps[:, 1]
        beta_l = beta - F_E  # F_E_l = β_r − β_l
        params = {"T_l": 1.0 / beta_l, "T_r": T, "mu_l": (F_N + beta * mu) / beta_l, "mu_r": mu}
    elif model == "cqd":
        if reduced_model is None:
            raise ValueError("reduced_model is required for cqd; allowed: 'I', 'II'")
        pair = get_reduced_model(reduced_model)
        ref = {"beta_r": beta} if pair.name == "I" else {"beta_b": beta}
        params = force_space_parameters(pair.name, **{pair.forces[0]: steps[:, 0]}, F_N_b=steps[:, 1], mu_b=mu,
                                        mu_r=mu, **ref)
        params = {k: np.broadcast_to(v, (4,)) for k, v in params.items()}
    else:
        raise ValueError(f"model={model!r} has no Onsager pair; allowed: 'sqd', 'cqd'")
    ds = solve(model, **{k: np.broadcast_to(np.asarray(v, dtype=float), (4,)) for k, v in params.items()}, **fixed)
    fluxes = np.stack([ds[var].sel(lead=lead).values for var, lead in pair.fluxes])  # (2 fluxes, 4 points)
    L = np.empty((2, 2))
    L[:, 0] = (fluxes[:, 0] - fluxes[:, 1]) / (2 * delta)
    L[:, 1] = (fluxes[:, 2] - fluxes[:, 3]) / (2 * delta)
    return L
