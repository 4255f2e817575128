"""Validity of the secular (global, Davies) approximation, per grid cell.

The global master equation keeps each bath's jump operators at the Bohr frequencies
``ω = E_j − E_i`` separately and drops the cross terms between different ones.  A cross term
between two jumps of the *same* bath λ out of the same state ``i``, ``i → j`` and ``i → j'``,
rotates at ``|ω_ij − ω_ij'| = |E_j − E_j'|`` and would feed the coherence ``ρ_jj'`` between two
levels of the same charge (excitation number), which in turn feeds the populations; cross
terms of other pairs only reach coherences between charge sectors, which decouple from the
populations.  Dropping them is justified when that splitting is fast against the rates, so the
measure reported by the global approaches is

``secular_ratio = min |E_j − E_j'|  /  max_i Γ_i``

* the minimum runs over pairs of distinct eigenstates ``j, j'`` of equal charge that one bath
  couples to a common state ``i`` (nonzero rate of ``i ↔ j`` and of ``i ↔ j'`` from that
  bath): the Bohr-frequency splittings the secular approximation actually resolves.  An exact
  degeneracy of such a pair gives 0 (the rate equation is then not the secular master
  equation); a pair that no single bath couples (e.g. the bare qubit levels at
  ``delta_x = 0``: bath L drives only qubit 1, bath C only qubit 2) needs no approximation;
* ``Γ_i = Σ_{j, λ} k_λ(i → j)`` is the total escape rate of eigenstate ``i`` (its linewidth);
  the denominator is the largest one.

``secular_ratio = inf`` where no pair qualifies.  The sweep counts cells with
``secular_ratio < SECULAR_LIMIT`` (:mod:`qtmsweep.thermo.invariants`): there the global
approach's currents are not trustworthy (use the local approach, or a Bloch–Redfield
treatment).  Note that the overall scale of the rates (the system–bath coupling) is part of
the model's parameters: the ratio is only as meaningful as that scale.

>>> import numpy as np
>>> E = np.array([[0.0, 1.0, 1.5, 2.5]])  # levels 1, 2 (one excitation each) split by 0.5
>>> rates = np.zeros((1, 1, 4, 4)); rates[0, 0, 0, 1] = rates[0, 0, 0, 2] = 0.1  # one bath: 1 -> 0, 2 -> 0
>>> float(secular_ratio(E, rates, charges=(0, 1, 1, 2))[0])
5.0
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["SECULAR_LIMIT", "secular_ratio", "mode_secular_ratio"]

#: Below this ratio the sweep warns (issue 11 item 6).
SECULAR_LIMIT = 10.0
#: A transition counts as driven by a bath when its rate exceeds this fraction of the cell's largest
#: rate (a mixing at the level of rounding, e.g. |cos(θ/2)|² ~ 1e-33, couples nothing).
DRIVEN_FLOOR = 1e-12


def secular_ratio(E: np.ndarray, rates: np.ndarray, charges: Sequence[int]) -> np.ndarray:
    """The module's ratio from eigenvalues ``E`` ``(n, d)`` and rates ``rates[λ, n, j, i]`` (``i → j``).

    ``charges`` labels the conserved excitation number of each eigenstate.
    """
    E = np.asarray(E, dtype=float)
    rates = np.asarray(rates, dtype=float)
    n, d = E.shape
    total = rates[0] if rates.shape[0] == 1 else rates.sum(axis=0)  # (n, j, i)
    flat = total.reshape(n, d * d)
    floor = DRIVEN_FLOOR * np.max(flat, axis=1)[None, :, None]
    split = np.full(n, np.inf)
    for j in range(d):
        for k in range(j + 1, d):
            if charges[j] != charges[k]:
                continue
            # bath λ couples j (and k) with i: a rate of i -> j or j -> i above the floor, [λ, n, i]
            lj = (rates[:, :, j, :] > floor) | (rates[:, :, :, j] > floor)
            lk = (rates[:, :, k, :] > floor) | (rates[:, :, :, k] > floor)
            shared = (lj & lk).any(axis=2).any(axis=0)  # one bath, one common state i
            split = np.where(shared, np.minimum(split, np.abs(E[:, j] - E[:, k])), split)
    width = np.max(total.sum(axis=1), axis=1)  # max_i Σ_{λ, j} k_λ(i -> j)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isinf(split), np.inf, np.where(width > 0, split / width, np.inf))


def mode_secular_ratio(w_plus: np.ndarray, w_minus: np.ndarray, damping: Sequence[np.ndarray]) -> np.ndarray:
    """Two normal modes (oscillators): ``|w_plus − w_minus| / max_± Σ_λ damping_λ(ω_±)``.

    ``damping`` holds per bath a pair ``(κ_λ(ω+), κ_λ(ω−))`` of the modes' damping rates.
    """
    split = np.abs(np.asarray(w_plus, dtype=float) - np.asarray(w_minus, dtype=float))
    width = np.maximum(sum(k[0] for k in damping), sum(k[1] for k in damping))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(split > 0, np.where(width > 0, split / width, np.inf), np.inf)
