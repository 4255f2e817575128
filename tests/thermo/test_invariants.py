"""The invariant counters find real violations and ignore rounding."""

from __future__ import annotations

import numpy as np

import qtmsweep
from qtmsweep.thermo.invariants import count_violations
from tests.conftest import random_cqd


def test_a_correct_solution_has_no_violations(cqd_cells):
    counts = count_violations(qtmsweep.solve("cqd", **cqd_cells))
    assert counts == {"second_law": 0, "energy_conservation": 0, "particle_conservation": 0,
                      "precision": 0, "nonfinite": 0, "cells": 400}


def test_a_negative_entropy_production_is_counted(cqd_cells):
    ds = qtmsweep.solve("cqd", **cqd_cells)
    ds["sigma"] = ds.sigma.where(np.arange(400) % 10 != 0, -ds.sigma)  # flip the sign of 40 cells
    flipped = int(((np.arange(400) % 10 == 0) & (ds.sigma < 0)).sum())
    assert count_violations(ds)["second_law"] == flipped > 30


def test_broken_conservation_and_nan_are_counted():
    ds = qtmsweep.solve("cqd", **random_cqd(50, 3))
    ds["residual_E"][:5] = 1e-3
    ds["J_N"][7, 0] = np.nan
    counts = count_violations(ds)
    assert counts["energy_conservation"] == 5
    assert counts["nonfinite"] == 1


def test_cells_the_kernel_cannot_vouch_for_are_counted_as_precision_loss():
    cells = {k: float(v[0]) for k, v in random_cqd(1, 9).items()}
    cells.update(T_a=1.0 + 1e-13, T_b=1.0, T_r=1.0, mu_a=0.2, mu_b=0.2, mu_r=0.2)
    exact = qtmsweep.solve("cqd", **cells)
    generic = qtmsweep.solve("cqd", method="linear", **cells)
    assert count_violations(exact)["precision"] == 0
    assert count_violations(generic)["precision"] == 1
