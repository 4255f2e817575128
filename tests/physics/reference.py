"""Independent reference solvers used only by the tests.

``mp_pauli_cqd`` solves the cqd rate equations with mpmath at 60 significant
digits: rates from the Fermi function written out directly, rate matrix from
the transition list of SPEC §2, a dense high-precision linear solve, and the
currents from edge fluxes.  It shares no code with the package.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 60


def _fermi(x):
    return 1 / (1 + mp.e ** x)


def mp_pauli_cqd(p: dict[str, float]):
    """(populations, J_E, J_N) per lead (a, b, r) at 60 digits, from SPEC §2 directly."""
    v = {k: mp.mpf(p[k]) for k in p}
    E = [mp.mpf(0), v["eps_L"], v["eps_R"], v["eps_L"] + v["eps_R"] + v["kappa"]]
    edges = [(0, 1, "a"), (0, 1, "b"), (2, 3, "a"), (2, 3, "b"), (0, 2, "r"), (1, 3, "r")]
    W = mp.zeros(4, 4)
    rates = []
    for i, j, lead in edges:
        w = E[j] - E[i]
        f = _fermi((w - v["mu_" + lead]) / v["T_" + lead])
        kin, kout = v["gamma_" + lead] * f, v["gamma_" + lead] * (1 - f)
        W[j, i] += kin
        W[i, j] += kout
        W[i, i] -= kin
        W[j, j] -= kout
        rates.append((i, j, lead, w, kin, kout))
    A = W.copy()
    for c in range(4):
        A[3, c] = 1
    b = mp.matrix([0, 0, 0, 1])
    pop = mp.lu_solve(A, b)
    JE = {k: mp.mpf(0) for k in "abr"}
    JN = {k: mp.mpf(0) for k in "abr"}
    for i, j, lead, w, kin, kout in rates:
        flux = kin * pop[i] - kout * pop[j]
        JE[lead] += w * flux
        JN[lead] += flux
    return [pop[k] for k in range(4)], [JE[k] for k in "abr"], [JN[k] for k in "abr"]


def mp_sqd_current(p: dict[str, float]):
    """J_N[l] = γ_l γ_r (f_l − f_r)/(γ_l + γ_r) at 60 digits (SPEC §2 fact)."""
    v = {k: mp.mpf(p[k]) for k in p}
    fl = _fermi((v["eps"] - v["mu_l"]) / v["T_l"])
    fr = _fermi((v["eps"] - v["mu_r"]) / v["T_r"])
    return v["gamma_l"] * v["gamma_r"] * (fl - fr) / (v["gamma_l"] + v["gamma_r"])
