"""``sqd`` and ``cqd`` against a full Lindblad steady state computed with QuTiP.

H and the jump operators are built explicitly from SPEC §2 (Jordan–Wigner
fermions from ``qutip.fdestroy``); the steady state comes from
``qutip.steadystate`` and the currents from ``Tr[H D_λ(ρ)]`` and
``Tr[N D_λ(ρ)]``.  Nothing here uses the package's kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from tests.conftest import random_cqd, random_sqd

qutip = pytest.importorskip("qutip")


def fermi(x):
    return 1.0 / (1.0 + np.exp(x))


def dissipate(c: np.ndarray, rho: np.ndarray) -> np.ndarray:
    cd = c.conj().T
    return c @ rho @ cd - 0.5 * (cd @ c @ rho + rho @ cd @ c)


def lindblad_currents(H, ops_by_lead, observables):
    """Steady state by QuTiP; per lead Tr[O D_λ(ρ)] for each observable O."""
    c_ops = [qutip.Qobj(c) for ops in ops_by_lead.values() for c in ops]
    rho = qutip.steadystate(qutip.Qobj(H), c_ops).full()
    out = {}
    for lead, ops in ops_by_lead.items():
        D = sum(dissipate(c, rho) for c in ops)
        out[lead] = [float(np.real(np.trace(O @ D))) for O in observables]
    return rho, out


def cqd_lindblad(p):
    dL = qutip.fdestroy(2, 0).full()
    dR = qutip.fdestroy(2, 1).full()
    nL, nR = dL.conj().T @ dL, dR.conj().T @ dR
    one = np.eye(4)
    H = p["eps_L"] * nL + p["eps_R"] * nR + p["kappa"] * nL @ nR
    N = nL + nR
    ops = {}
    for lead, d, n_other, eps in (("a", dL, nR, p["eps_L"]), ("b", dL, nR, p["eps_L"]), ("r", dR, nL, p["eps_R"])):
        g, T, mu = p[f"gamma_{lead}"], p[f"T_{lead}"], p[f"mu_{lead}"]
        lst = []
        for proj, w in (((one - n_other), eps), (n_other, eps + p["kappa"])):
            f = fermi((w - mu) / T)
            lst.append(np.sqrt(g * f) * d.conj().T @ proj)
            lst.append(np.sqrt(g * (1 - f)) * d @ proj)
        ops[lead] = lst
    rho, cur = lindblad_currents(H, ops, [H, N])
    pops = [np.real(np.trace(rho @ P)) for P in ((one - nL) @ (one - nR), nL @ (one - nR), (one - nL) @ nR, nL @ nR)]
    return pops, cur


def test_cqd_matches_qutip_lindblad_on_100_random_points():
    cells = random_cqd(100, seed=101)
    ds = qtmsweep.solve("cqd", **cells)
    for i in range(100):
        p = {k: float(v[i]) for k, v in cells.items()}
        pops, cur = cqd_lindblad(p)
        np.testing.assert_allclose(ds.p.values[i], pops, rtol=1e-6, atol=1e-9)
        for k, lead in enumerate("abr"):
            np.testing.assert_allclose(ds.J_E.values[i, k], cur[lead][0], rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(ds.J_N.values[i, k], cur[lead][1], rtol=1e-6, atol=1e-9)


def test_sqd_matches_qutip_lindblad_on_100_random_points():
    cells = random_sqd(100, seed=102)
    ds = qtmsweep.solve("sqd", **cells)
    d = qutip.destroy(2).full()
    n = d.conj().T @ d
    for i in range(100):
        p = {k: float(v[i]) for k, v in cells.items()}
        H = p["eps"] * n
        ops = {}
        for lead in ("l", "r"):
            f = fermi((p["eps"] - p[f"mu_{lead}"]) / p[f"T_{lead}"])
            ops[lead] = [np.sqrt(p[f"gamma_{lead}"] * f) * d.conj().T, np.sqrt(p[f"gamma_{lead}"] * (1 - f)) * d]
        rho, cur = lindblad_currents(H, ops, [H, n])
        np.testing.assert_allclose(ds.p.values[i, 1], np.real(rho[1, 1]), rtol=1e-6, atol=1e-9)
        for k, lead in enumerate(("l", "r")):
            np.testing.assert_allclose(ds.J_E.values[i, k], cur[lead][0], rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(ds.J_N.values[i, k], cur[lead][1], rtol=1e-6, atol=1e-9)
