"""Shared fixtures and independent reference implementations for the tests."""

from __future__ import annotations

import numpy as np
import pytest

CQD_NAMES = ("eps_L", "eps_R", "kappa", "T_a", "T_b", "T_r", "mu_a", "mu_b", "mu_r", "gamma_a", "gamma_b", "gamma_r")
SQD_NAMES = ("eps", "T_l", "T_r", "mu_l", "mu_r", "gamma_l", "gamma_r")


def random_cqd(n: int, seed: int) -> dict[str, np.ndarray]:
    """Random but physically ordinary cqd cells (|x| up to ~20)."""
    rng = np.random.default_rng(seed)
    return {
        "eps_L": rng.uniform(-2, 2, n), "eps_R": rng.uniform(-2, 3, n), "kappa": rng.uniform(-2, 2, n),
        "T_a": rng.uniform(0.2, 3, n), "T_b": rng.uniform(0.2, 3, n), "T_r": rng.uniform(0.2, 3, n),
        "mu_a": rng.uniform(-1, 1, n), "mu_b": rng.uniform(-1, 1, n), "mu_r": rng.uniform(-1, 1, n),
        "gamma_a": rng.uniform(0.1, 2, n), "gamma_b": rng.uniform(0.1, 2, n), "gamma_r": rng.uniform(0.1, 2, n),
    }


def random_sqd(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "eps": rng.uniform(-2, 2, n), "T_l": rng.uniform(0.2, 3, n), "T_r": rng.uniform(0.2, 3, n),
        "mu_l": rng.uniform(-1, 1, n), "mu_r": rng.uniform(-1, 1, n),
        "gamma_l": rng.uniform(0.1, 2, n), "gamma_r": rng.uniform(0.1, 2, n),
    }


@pytest.fixture
def cqd_cells():
    return random_cqd(400, seed=1)


@pytest.fixture
def sqd_cells():
    return random_sqd(400, seed=2)
