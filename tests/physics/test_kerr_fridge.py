"""``kerr_fridge`` (SPEC §2; 003 §IV A, App. B) against facts the kernel does not produce.

* QuTiP: the Lindblad equation of 003 Eq. B11 with number-resolved Bohr frequencies
  (Eq. B13), built from truncated ``qutip.destroy`` operators and solved by
  ``qutip.steadystate``; currents ``Tr[H D_λ(ρ)]``.
* N1 = N2 = 2 is the ZZ qubit pair (``qubit_fridge`` at delta_x = 0), 003 §IV A.
* the truncation error estimate shrinks with N (its accuracy: test_kerr_truncation.py);
* 003 Figs. 7–8 statements; energy conservation; σ = σ_micro ≥ 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from tests.physics.test_qubit_fridge import K, nb, random_cells

qutip = pytest.importorskip("qutip")

LEADS = ("L", "R", "C")


def kerr_cells(n, seed):
    p = random_cells(n, seed)
    del p["delta_x"]
    return p


def cell(p, i):
    return {k: float(np.asarray(v).reshape(-1)[i]) for k, v in p.items()}


def rate_pair(w, T, G, Om, ec):
    a = abs(w)
    k = float(K(a, G, Om, ec))
    up, down = k * nb(a, T), k * (1 + nb(a, T))
    return (up, down) if w > 0 else (down, up)


def qutip_kerr(c, N1, N2):
    a1 = qutip.tensor(qutip.destroy(N1), qutip.qeye(N2))
    a2 = qutip.tensor(qutip.qeye(N1), qutip.destroy(N2))
    n1, n2 = a1.dag() * a1, a2.dag() * a2
    H = c["eps1"] * n1 + c["eps2"] * n2 + c["delta_z"] * n1 * n2
    ops = {lead: [] for lead in LEADS}
    for lead in LEADS:
        T, G, Om, ec = c[f"T_{lead}"], c[f"Gamma_{lead}"], c[f"Omega_{lead}"], c["eps_c"]
        if lead in ("L", "R"):
            for m in range(N2):  # resonator 2 in |m>: resonator 1's ladder has frequency eps1 + delta_z m
                P = qutip.tensor(qutip.qeye(N1), qutip.fock_dm(N2, m))
                up, down = rate_pair(c["eps1"] + c["delta_z"] * m, T, G, Om, ec)
                ops[lead] += [np.sqrt(down) * a1 * P, np.sqrt(up) * a1.dag() * P]
        else:
            for m in range(N1):
                P = qutip.tensor(qutip.fock_dm(N1, m), qutip.qeye(N2))
                up, down = rate_pair(c["eps2"] + c["delta_z"] * m, T, G, Om, ec)
                ops[lead] += [np.sqrt(down) * a2 * P, np.sqrt(up) * a2.dag() * P]
    rho = qutip.steadystate(H, [o for lst in ops.values() for o in lst])
    J = [sum((H * (o * rho * o.dag() - 0.5 * (o.dag() * o * rho + rho * o.dag() * o))).tr().real for o in ops[lead])
         for lead in LEADS]
    return np.real(rho.full().diagonal()), np.array(J)


def solve(**p):
    return qtmsweep.solve("kerr_fridge", **p)


@pytest.mark.parametrize("N1,N2", [(3, 4), (2, 2)])
def test_against_qutip(N1, N2):
    p = kerr_cells(20, seed=21)
    ds = solve(N1=N1, N2=N2, **p)
    assert [str(s) for s in ds.state.values] == [f"{a},{b}" for a in range(N1) for b in range(N2)]
    for i in range(20):
        pop, J = qutip_kerr(cell(p, i), N1, N2)
        assert np.allclose(ds.p.values[i], pop, atol=1e-10)
        assert np.allclose(ds.J_Q.values[i], J, atol=1e-9 * np.abs(J).max())


def test_two_levels_each_is_the_zz_qubit_fridge():
    p = kerr_cells(300, seed=22)
    k = solve(N1=2, N2=2, **p)
    for approach in ("local", "global"):
        q = qtmsweep.solve("qubit_fridge", approach=approach, delta_x=0.0, **p)
        # equal within the two solvers' own per-lead bounds (each current, however small)
        allowed = (k.rel_err * np.abs(k.J_Q) + q.rel_err * np.abs(q.J_Q)).values
        assert np.all(np.abs(k.J_Q.values - q.J_Q.values) <= allowed)
        assert float(np.median(k.rel_err)) < 1e-12
        # kerr states (n1, n2) = 00, 01, 10, 11 are qubit_fridge's 0, 2, 1, d
        assert np.allclose(k.p.values, q.p.sel(state=["0", "2", "1", "d"]).values, atol=1e-13)
        assert np.all(np.abs(k.cooling_power.values - q.cooling_power.values) <= allowed[:, 2])


def test_top_level_populations():
    p = kerr_cells(50, seed=23)
    base = solve(N1=3, N2=3, **p)
    pop = base.p.values.reshape(50, 3, 3)
    assert np.allclose(base.p_top_1, pop[:, 2, :].sum(axis=1)) and np.allclose(base.p_top_2, pop[:, :, 2].sum(axis=1))


FIG7 = dict(eps1=1.0, eps2=1.0, delta_z=0.05, T_R=1.0, Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06,
            Omega_L=1.0, Omega_R=1.05, Omega_C=1.05, eps_c=10.0)


def test_truncation_converges_and_003_fig7_statements():
    """003 Fig. 7 (ΔT = 0.3 T): resonators cool more than twice as much as qubits; the qutrit
    correction is the largest, higher levels still add; the estimate shrinks with N."""
    J, est = {}, {}
    for N in (2, 3, 4, 6, 10):
        ds = solve(N1=N, N2=N, T_L=1.3, T_C=0.7, **FIG7)
        J[N], est[N] = float(ds.cooling_power), float(ds.truncation_err.sel(lead="C") / abs(ds.cooling_power))
    assert J[10] > 2 * J[2]
    assert J[3] - J[2] > J[4] - J[3] > 0
    assert est[2] > est[3] > est[4] > est[6] > est[10] and est[10] < 0.01
    # the N = 10 value is within the N = 6 result's truncation error
    assert abs(J[10] - J[6]) <= est[6] * abs(J[6])


def test_003_fig8_statements():
    """003 Fig. 8 (ΔT = 0.3 T): J_C peaks at intermediate Δz; N1 = 3 enhances cooling for
    Δz ≲ 0.2 and stops mattering for Δz > 0.35."""
    dz = np.array([0.02, 0.05, 0.1, 0.15, 0.2, 0.4, 0.5])
    b = {k: v for k, v in FIG7.items() if k not in ("delta_z", "Omega_R", "Omega_C", "eps_c")}
    out = {}
    for N1, N2 in ((2, 2), (3, 2), (2, 3), (3, 3)):
        ds = solve(N1=N1, N2=N2, T_L=1.3, T_C=0.7, delta_z=dz, Omega_R=1 + dz, Omega_C=1 + dz, eps_c=20.0, **b)
        out[N1, N2] = ds.cooling_power.values
    for J in out.values():
        k = int(np.argmax(J))
        assert 0 < k < len(dz) - 1  # interior maximum
    small, large = dz <= 0.2, dz > 0.35
    for N2 in (2, 3):
        assert np.all(out[3, N2][small] > out[2, N2][small])
        assert np.allclose(out[3, N2][large], out[2, N2][large], rtol=0.03)


def test_energy_conservation_and_second_law():
    p = kerr_cells(2000, seed=24)
    ds = solve(N1=3, N2=4, **p)
    assert float(ds.residual_E.max()) < 1e-9
    assert not bool(ds.second_law_violated.any())
    assert np.allclose(ds.sigma, ds.sigma_micro, rtol=1e-6, atol=1e-14)
    assert float(ds.sigma.min()) > -1e-14


def test_structural_parameters_are_checked():
    c = cell(kerr_cells(1, seed=0), 0)
    with pytest.raises(ValueError, match="N1"):
        solve(N1=1, N2=2, **c)
    with pytest.raises(ValueError, match="N2"):
        solve(N1=2, N2=2.5, **c)
