"""Onsager reciprocity and positivity of linear response (not built into the code)."""

from __future__ import annotations

import numpy as np
import pytest

from qtmsweep.thermo.onsager import onsager_matrix

CQD = dict(eps_L=1.0, eps_R=2.5, gamma_a=1.0, gamma_b=0.6, gamma_r=1.4)


@pytest.mark.parametrize("reduced_model", ["I", "II"])
@pytest.mark.parametrize("kappa", [-1.5, 1.5, 0.4])
@pytest.mark.parametrize("T, mu", [(1.0, 1.0), (0.5, 0.2)])
def test_cqd_onsager_matrix_is_symmetric_and_positive(reduced_model, kappa, T, mu):
    L = onsager_matrix("cqd", reduced_model=reduced_model, T=T, mu=mu, kappa=kappa, **CQD)
    scale = np.abs(L).max()
    assert scale > 0
    assert abs(L[0, 1] - L[1, 0]) <= 1e-7 * scale, L
    eig = np.linalg.eigvalsh(0.5 * (L + L.T))
    assert eig.min() >= -1e-9 * scale, eig


def test_model_II_has_a_thermoelectric_cross_coefficient():
    """Both forces act on reservoir b: the cross term is non-zero (so reciprocity is a real check)."""
    L = onsager_matrix("cqd", reduced_model="II", T=1.0, mu=1.0, kappa=-1.5, **CQD)
    assert abs(L[0, 1]) > 1e-3 * np.abs(L).max()


def test_sqd_linear_response_matches_the_closed_form():
    """J_N = G (f_l − f_r) ⇒ L_NN = G f(1−f), L_EN = ε L_NN, L_EE = ε² L_NN with G = γ_lγ_r/(γ_l+γ_r)."""
    eps, T, mu, gl, gr = 0.7, 0.8, 0.1, 1.0, 0.5
    L = onsager_matrix("sqd", T=T, mu=mu, eps=eps, gamma_l=gl, gamma_r=gr)
    x = (eps - mu) / T
    f = 1 / (1 + np.exp(x))
    # F_N = β_l μ_l − β_r μ_r: at fixed β, dF_N = β dμ_l and ∂f/∂μ = f(1−f)/T, so ∂J_N/∂F_N = G f(1−f);
    # F_E = β_r − β_l at fixed β_l μ_l: ∂f_l/∂F_E = ε f(1−f), so ∂J_N/∂F_E = ε G f(1−f)
    LNN = gl * gr / (gl + gr) * f * (1 - f)
    np.testing.assert_allclose(L[1, 1], LNN, rtol=1e-8)
    np.testing.assert_allclose(L[0, 1], eps * LNN, rtol=1e-8)
    np.testing.assert_allclose(L[0, 0], eps**2 * LNN, rtol=1e-7)
    assert abs(np.linalg.det(L)) <= 1e-8 * L[0, 0] * L[1, 1]  # tight coupling: J_E = ε J_N
