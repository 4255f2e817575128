"""``qubit_fridge`` (SPEC §2; 003 §III, App. A) against facts the kernel does not produce.

References written here from the paper and SPEC alone: QuTiP steady states of the
Lindblad equations built explicitly from ``H_S`` and the jump operators (local: one
operator per bare transition; global: Davies operators from a numerical
eigendecomposition of ``H_S``), 003's adiabatic elimination of the coherence (Eqs.
A17–A21), the small-bias expansion (Eq. 11), the cooling condition (Eq. 10), energy
conservation and the second law.
"""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep

qutip = pytest.importorskip("qutip")

LEADS = ("L", "R", "C")
NAMES = ("eps1", "eps2", "delta_z", "delta_x", "T_L", "T_R", "T_C", "Gamma_L", "Gamma_R", "Gamma_C",
         "Omega_L", "Omega_R", "Omega_C", "eps_c")


def K(w, G, Om, ec):
    """003 Eq. 3 with the high-energy cutoff of SPEC §2."""
    w = np.asarray(w, dtype=float)
    return np.where((w > 0) & (w <= ec), G * w / ((w - Om) ** 2 + (G * w) ** 2), 0.0)


def nb(w, T):
    return 1.0 / (np.exp(w / T) - 1.0)


def random_cells(n, seed, dx=(-1.0, 1.0)):
    rng = np.random.default_rng(seed)
    return {
        "eps1": rng.uniform(0.5, 3, n), "eps2": rng.uniform(0.5, 3, n), "delta_z": rng.uniform(-0.3, 1, n),
        "delta_x": rng.uniform(*dx, n),
        "T_L": rng.uniform(0.3, 3, n), "T_R": rng.uniform(0.3, 3, n), "T_C": rng.uniform(0.3, 3, n),
        "Gamma_L": rng.uniform(0.01, 0.5, n), "Gamma_R": rng.uniform(0.01, 0.5, n), "Gamma_C": rng.uniform(0.01, 0.5, n),
        "Omega_L": rng.uniform(0.5, 3, n), "Omega_R": rng.uniform(0.5, 3, n), "Omega_C": rng.uniform(0.5, 3, n),
        "eps_c": np.full(n, 20.0),
    }


def cell(p, i):
    return {k: float(np.asarray(v).reshape(-1)[i] if np.ndim(v) else v) for k, v in p.items()}


def ket_bra(i, j):
    m = np.zeros((4, 4))
    m[i, j] = 1.0
    return m


def hamiltonians(c):
    H0 = np.diag([0.0, c["eps1"], c["eps2"], c["eps1"] + c["eps2"] + c["delta_z"]])
    HS = H0 + c["delta_x"] * (ket_bra(1, 2) + ket_bra(2, 1))
    return H0, HS


def bath(c, lead):
    return c[f"T_{lead}"], c[f"Gamma_{lead}"], c[f"Omega_{lead}"], c["eps_c"]


def rate_pair(w, T, G, Om, ec):
    """(rate of the transition that changes the energy by +w, rate of its reverse), any sign of w."""
    a = abs(w)
    k = float(K(a, G, Om, ec))
    up, down = k * nb(a, T), k * (1 + nb(a, T))
    return (up, down) if w > 0 else (down, up)


def dissipate(L, rho):
    Ld = L.conj().T
    return L @ rho @ Ld - 0.5 * (Ld @ L @ rho + rho @ Ld @ L)


def qutip_local(c):
    """003 App. A2: H_S with the XX term, one jump operator per bare transition at the bare energy."""
    H0, HS = hamiltonians(c)
    E = np.diag(H0)
    trans = {"L": ((0, 1), (2, 3)), "R": ((0, 1), (2, 3)), "C": ((0, 2), (1, 3))}
    ops = {}
    for lead in LEADS:
        lst = []
        for i, j in trans[lead]:
            up, down = rate_pair(E[j] - E[i], *bath(c, lead))
            lst += [np.sqrt(up) * ket_bra(j, i), np.sqrt(down) * ket_bra(i, j)]
        ops[lead] = lst
    rho = qutip.steadystate(qutip.Qobj(HS), [qutip.Qobj(o) for lst in ops.values() for o in lst]).full()
    J0 = [sum(np.trace(H0 @ dissipate(o, rho)).real for o in ops[lead]) for lead in LEADS]
    JS = [sum(np.trace(HS @ dissipate(o, rho)).real for o in ops[lead]) for lead in LEADS]
    return rho, np.array(J0), np.array(JS)


def qutip_global(c):
    """003 App. A1 / Davies: jump operators ⟨i|X|j⟩|i⟩⟨j| between eigenstates of H_S (numerical eigh)."""
    _, HS = hamiltonians(c)
    E, V = np.linalg.eigh(HS)
    X1 = ket_bra(0, 1) + ket_bra(2, 3)
    X1 = X1 + X1.T
    X2 = ket_bra(0, 2) + ket_bra(1, 3)
    X2 = X2 + X2.T
    ops = {}
    for lead, X in (("L", X1), ("R", X1), ("C", X2)):
        Xe = V.T @ X @ V
        lst = []
        for i in range(4):
            for j in range(4):
                w = E[j] - E[i]
                if w > 1e-12 and abs(Xe[i, j]) > 1e-14:
                    up, down = rate_pair(w, *bath(c, lead))
                    A = Xe[i, j] * np.outer(V[:, i], V[:, j])  # lowering |i><j| in the local basis
                    lst += [np.sqrt(down) * A, np.sqrt(up) * A.T]
        ops[lead] = lst
    rho = qutip.steadystate(qutip.Qobj(HS), [qutip.Qobj(o) for lst in ops.values() for o in lst]).full()
    J = [sum(np.trace(HS @ dissipate(o, rho)).real for o in ops[lead]) for lead in LEADS]
    return rho, np.array(J)


def solve(approach, method="auto", **p):
    return qtmsweep.solve("qubit_fridge", approach=approach, method=method, **p)


def test_local_against_qutip():
    p = random_cells(40, seed=1)
    ds = solve("local", **p)
    for i in range(40):
        rho, J0, JS = qutip_local(cell(p, i))
        scale = np.abs(J0).max()
        assert np.allclose(ds.p.values[i], np.diag(rho).real, atol=1e-10)
        assert np.allclose(ds.J_Q.values[i], J0, atol=1e-9 * scale)
        assert np.allclose(ds.J_E_full.values[i], JS, atol=1e-9 * scale)
        assert ds.coherence_re.values[i] + 1j * ds.coherence_im.values[i] == pytest.approx(rho[1, 2], abs=1e-10)


@pytest.mark.parametrize("order", ["eps1>eps2", "eps1<eps2", "random"])
def test_global_against_qutip(order):
    p = random_cells(20, seed=2)
    lo, hi = np.minimum(p["eps1"], p["eps2"]), np.maximum(p["eps1"], p["eps2"])
    if order == "eps1>eps2":
        p["eps1"], p["eps2"] = hi + 0.05, lo
    elif order == "eps1<eps2":
        p["eps1"], p["eps2"] = lo, hi + 0.05
    for method in ("lindblad", "pauli"):
        ds = solve("global", method=method, **p)
        for i in range(20):
            rho, J = qutip_global(cell(p, i))
            assert np.allclose(ds.p.values[i], np.diag(rho).real, atol=1e-10)
            assert np.allclose(ds.J_Q.values[i], J, atol=1e-9 * np.abs(J).max())


def test_local_equals_global_at_zero_delta_x():
    p = random_cells(300, seed=3, dx=(0.0, 0.0))
    a, b = solve("local", **p), solve("global", **p)
    scale = np.abs(a.J_Q.values).max(axis=1, keepdims=True)
    assert np.all(np.abs(a.J_Q.values - b.J_Q.values) <= 1e-11 * scale + 1e-15)
    assert np.allclose(a.p.values, b.p.values, atol=1e-13)


def test_global_conserves_energy_and_obeys_second_law():
    p = random_cells(3000, seed=4, dx=(-2.0, 2.0))
    ds = solve("global", **p)
    assert float(ds.residual_E.max()) < 1e-10
    assert not bool(ds.second_law_violated.any())
    beta = 1 / np.stack([p[f"T_{x}"] for x in LEADS], axis=-1)
    tol = 1e-10 * np.abs(ds.J_Q.values * beta).sum(axis=1) + 1e-15
    assert np.all(ds.sigma.values >= -tol)
    # sigma = sum of force x flux with the reference bath R (SPEC §1 with energy conservation)
    sig_f = ds.F_E_L * ds.J_Q.sel(lead="L") + ds.F_E_C * ds.J_Q.sel(lead="C")
    assert np.allclose(sig_f, ds.sigma, rtol=1e-8, atol=1e-13)


def test_local_master_equation_second_law_violation_is_reported():
    """Detuned qubits, strong XX, T_L = T_R = 2 T_C: the local ME's energy-conserving (full-H) currents
    carry heat from the cold bath C into the hot baths.  The flag must say so, and QuTiP must agree."""
    c = dict(eps1=3.0, eps2=1.0, delta_z=0.0, delta_x=1.0, T_L=2.0, T_R=2.0, T_C=1.0, Gamma_L=0.05,
             Gamma_R=0.05, Gamma_C=0.05, Omega_L=3.0, Omega_R=3.0, Omega_C=1.0, eps_c=20.0)
    ds = solve("local", **c)
    _, J0, JS = qutip_local(c)
    beta = 1 / np.array([c["T_L"], c["T_R"], c["T_C"]])
    sigma_full_ref = -(JS * beta).sum()
    assert sigma_full_ref < -0.1 * np.abs(JS * beta).sum()  # a real violation of the local ME, not round-off
    assert float(ds.sigma_full) == pytest.approx(sigma_full_ref, rel=1e-8)
    assert bool(ds.second_law_violated)
    assert float(ds.residual_E) > 1e-2  # the bare currents of 003 Eq. A21 are not conserved here
    # heat leaves the cold bath C and enters the hot baths L, R (which share one temperature)
    assert float(ds.J_E_full.sel(lead="C")) > 0 > float(ds.J_E_full.sel(lead=["L", "R"]).sum())
    # the same cell in the global approach is consistent
    g = solve("global", **c)
    assert not bool(g.second_law_violated) and float(g.sigma) > 0
    # over random cells the flag is raised exactly where sigma or sigma_full is below tolerance
    p = random_cells(2000, seed=5, dx=(-1.5, 1.5))
    ds = solve("local", **p)
    assert int(ds.second_law_violated.sum()) > 10
    scale = (np.abs(ds.J_E_full.values) / np.stack([p[f"T_{x}"] for x in LEADS], -1)).sum(axis=1)
    clear = ds.sigma_full.values < -1e-6 * scale
    assert np.all(ds.second_law_violated.values[clear])
    assert np.all(ds.sigma_full.values[ds.second_law_violated.values] < 0)


def test_local_matches_003_adiabatic_elimination():
    """003 Eqs. A17–A21: the coherence ρ_12 eliminated into a symmetric rate between 1 and 2."""
    p = random_cells(60, seed=6)
    ds = solve("local", **p)
    for i in range(60):
        c = cell(p, i)
        e1, e2, dz, dx = c["eps1"], c["eps2"], c["delta_z"], c["delta_x"]
        E = [0.0, e1, e2, e1 + e2 + dz]
        R = np.zeros((4, 4))  # R[m, n] = Γ_mn, rate m -> n (003 Eq. A15)
        for lead, pairs in (("L", ((0, 1), (2, 3))), ("R", ((0, 1), (2, 3))), ("C", ((0, 2), (1, 3)))):
            for m, k in pairs:
                up, down = rate_pair(E[k] - E[m], *bath(c, lead))
                R[m, k] += up
                R[k, m] += down
        Gt = R[1, 0] + R[1, 3] + R[2, 0] + R[2, 3]
        k12 = dx**2 * Gt / ((e1 - e2) ** 2 + Gt**2 / 4)
        W = R.T.copy()
        W[2, 1] += k12
        W[1, 2] += k12
        W -= np.diag(W.sum(axis=0))
        A = W.copy()
        A[0, :] = 1.0
        pop = np.linalg.solve(A, [1.0, 0, 0, 0])
        RC = np.zeros((4, 4))
        for m, k in ((0, 2), (1, 3)):
            up, down = rate_pair(E[k] - E[m], *bath(c, "C"))
            RC[m, k], RC[k, m] = up, down
        J_C = e2 * (RC[0, 2] * pop[0] - RC[2, 0] * pop[2]) + (e2 + dz) * (RC[1, 3] * pop[1] - RC[3, 1] * pop[3])
        rho12 = dx * (pop[1] - pop[2]) / ((e1 - e2) - 0.5j * Gt)
        assert np.allclose(ds.p.values[i], pop, atol=1e-11)
        assert float(ds.J_Q.values[i, 2]) == pytest.approx(J_C, abs=1e-10 * np.abs(ds.J_Q.values[i]).max())
        assert complex(ds.coherence_re.values[i], ds.coherence_im.values[i]) == pytest.approx(rho12, abs=1e-11)


def test_cooling_condition_003_eq10_sharp_filters():
    """Ideal filters (Ω_L = ε1, Ω_R = ε1 + Δz, Ω_C = ε2 + Δz), T_{L/C} = T ± ΔT, T_R = T:
    C is cooled iff β_C Δz < β_L ε1 (003 Eq. 10)."""
    rng = np.random.default_rng(8)
    n = 40
    T = rng.uniform(0.5, 2.0, n)
    dT = rng.uniform(0.05, 0.4, n) * T
    e1, e2 = rng.uniform(1, 3, n) * T, rng.uniform(1, 3, n) * T
    threshold = e1 * (T - dT) / (T + dT)  # Δz where β_C Δz = β_L ε1
    for factor, cooled in ((0.8, True), (1.25, False)):
        dz = factor * threshold
        ds = solve("global", eps1=e1, eps2=e2, delta_z=dz, delta_x=0.0, T_L=T + dT, T_R=T, T_C=T - dT,
                   Gamma_L=1e-3, Gamma_R=1e-3, Gamma_C=1e-3, Omega_L=e1, Omega_R=e1 + dz, Omega_C=e2 + dz, eps_c=100.0)
        assert np.all((ds.cooling_power.values > 0) == cooled)


def test_small_bias_expansion_003_eq11():
    """Equal filters on all baths and ε1 = ε2 = ε: J_C → Eq. 11 as ΔT, Δz → 0 (relative error O(Δz))."""
    T, eps, G, Om = 1.0, 2.0, 0.05, 2.0
    for dT, dz in ((1e-4, 1e-3), (3e-4, 2e-3)):
        ds = solve("global", eps1=eps, eps2=eps, delta_z=dz, delta_x=0.0, T_L=T + dT, T_R=T, T_C=T - dT,
                   Gamma_L=G, Gamma_R=G, Gamma_C=G, Omega_L=Om, Omega_R=Om, Omega_C=Om, eps_c=50.0)
        k0, k1, e = K(eps, G, Om, 50.0), K(eps + dz, G, Om, 50.0), np.exp(eps / T)
        eq11 = -e**2 * k0 * k1 / (e - 1) * dT / ((1 + e) ** 2 * (k1 + k0 * e)) * dz**2 / T**2
        assert float(ds.cooling_power) == pytest.approx(eq11, rel=3 * dz)


def test_cop_is_bounded_by_carnot():
    p = random_cells(3000, seed=9, dx=(-0.5, 0.5))
    T = np.sort(np.stack([p["T_C"], p["T_R"], p["T_L"]]), axis=0)  # fridge ordering T_C < T_R < T_L
    p["T_C"], p["T_R"], p["T_L"] = T
    rng = np.random.default_rng(10)  # 003's filter geometry, so that many cells refrigerate
    p["delta_z"] = rng.uniform(0.05, 1.0, 3000)
    for lead in LEADS:
        p[f"Gamma_{lead}"] = rng.uniform(0.005, 0.1, 3000)
    p["Omega_L"], p["Omega_R"], p["Omega_C"] = p["eps1"], p["eps1"] + p["delta_z"], p["eps2"] + p["delta_z"]
    ds = solve("global", **p)
    cooling = np.isfinite(ds.cop.values)
    assert cooling.sum() > 50
    assert np.all(np.isfinite(ds.cop_carnot.values))
    assert np.all(ds.cop.values[cooling] <= ds.cop_carnot.values[cooling] * (1 + 1e-9))
    assert np.all((ds.cooling_power.values > 0) == cooling)
    # C not the coldest bath: heat leaving it is not refrigeration, no COP
    q = {**p, "T_C": p["T_L"] + 0.1}
    assert np.all(np.isnan(solve("global", **q).cop.values))
    assert np.all(ds.cooling_power.values == ds.J_Q.sel(lead="C").values)


FIG = dict(Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, T_R=1.0)


def test_003_fig4_direction_of_heat_flow_follows_eps1():
    """003 Fig. 4 / text: C is heated for ε1 < 0 and cooled for ε1 > 0 (ΔT = 0.3 T, Δz = 0.1)."""
    e1 = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0])
    ds = solve("local", eps1=e1, eps2=2.1, delta_z=0.1, delta_x=0.0, T_L=1.3, T_C=0.7, Omega_L=e1,
               Omega_R=e1 + 0.1, Omega_C=2.2, eps_c=10.0, **FIG)
    assert np.array_equal(ds.cooling_power.values > 0, e1 > 0)


def test_003_fig5_xx_coupling_is_detrimental():
    """003 Fig. 5 (ΔT = 0.1 T): XX coupling reduces cooling in both approaches; at Δx = 0.002 the
    global ME heats C at small Δz while the local ME still cools."""
    dz = np.array([0.02, 0.05, 0.1])
    out = {}
    for ap in ("local", "global"):
        for dx in (0.0, 0.002, 0.05):
            ds = solve(ap, eps1=2.0, eps2=2.1, delta_z=dz, delta_x=dx, T_L=1.1, T_C=0.9, Omega_L=2.0,
                       Omega_R=2.0 + dz, Omega_C=2.1 + dz, eps_c=10.0, **FIG)
            out[ap, dx] = ds.cooling_power.values
    for ap in ("local", "global"):
        assert np.all(out[ap, 0.0] >= out[ap, 0.002]) and np.all(out[ap, 0.002] >= out[ap, 0.05])
    assert np.all(out["local", 0.002] > 0) and np.all(out["global", 0.002] < 0)


def test_parameter_and_method_errors():
    c = cell(random_cells(1, seed=0), 0)
    with pytest.raises(ValueError, match="approach"):
        solve("semi", **c)
    with pytest.raises(ValueError, match="pauli"):
        solve("local", method="pauli", **c)
    with pytest.raises(ValueError, match="Gamma_L"):
        solve("local", **{**c, "Gamma_L": -1.0})


PRESETS = sorted((__import__("pathlib").Path(__file__).resolve().parents[2] / "config" / "sweeps").glob("003_*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_003_presets_are_valid_sweeps(path):
    """Every 003 figure preset validates and its first cell solves (the pipeline's probe)."""
    from qtmsweep.sweep.config import load_config
    from qtmsweep.sweep.grid import build_plan

    cfg = load_config(path)
    for name in cfg["sweeps"]:
        assert name.startswith(path.stem)
        build_plan(cfg, name, probe=True)


def test_003_fig5_preset_reproduces_the_sign_statement():
    from qtmsweep.sweep.config import load_config
    from qtmsweep.sweep.grid import build_plan

    cfg = load_config(PRESETS[0].with_name("003_fig5.yaml"))
    out = {}
    for name in ("003_fig5_local", "003_fig5_global"):
        plan = build_plan(cfg, name, probe=False)
        out[name] = plan.compute(tuple(slice(None) for _ in plan.axes)).cooling_power.sel(delta_x=0.002)
    small = (out["003_fig5_local"].delta_z >= 0.02) & (out["003_fig5_local"].delta_z < 0.1)
    assert bool((out["003_fig5_local"].where(small, 1.0) > 0).all())
    assert bool((out["003_fig5_global"].where(small, -1.0) < 0).all())
