"""``chain`` (SPEC §2; 004) against facts the kernel does not produce.

* 004's closed forms: Eqs. 5–7 (local, N = 2, qubits and oscillators), Eq. 19 (local qubit
  chain, independent of N ≥ 2), Eqs. 21–22 (global, N = 2 qubits), the coherence relation
  ``𝒞 = i J_SS/(4 g ω)``;
* QuTiP steady states of the Lindblad equations built from explicit operators
  (``sigmam`` tensors for qubits — no Jordan–Wigner —, truncated ``destroy`` for
  oscillators; the global jump operators written as 004 Eq. 20 states them);
* both kernels (two-point ``correlation`` and density-matrix ``lindblad``) agree;
* energy conservation and σ ≥ 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep

qutip = pytest.importorskip("qutip")


def bose(w, T):
    return 1.0 / np.expm1(w / T)


def random_chain(n, seed, g=(0.0, 0.3)):
    rng = np.random.default_rng(seed)
    return {"omega": rng.uniform(0.5, 2, n), "g": rng.uniform(*g, n), "T_L": rng.uniform(0.2, 3, n),
            "T_R": rng.uniform(0.2, 3, n), "gamma_L": rng.uniform(0.005, 0.3, n), "gamma_R": rng.uniform(0.005, 0.3, n)}


def cell(p, i):
    return {k: float(np.asarray(v).reshape(-1)[i]) for k, v in p.items()}


def solve(N, stat, approach, method="auto", **p):
    return qtmsweep.solve("chain", N=N, stat=stat, approach=approach, method=method, **p)


def eq5to7(p, eps_a):
    """004 Eqs. 5–7 with bosonic baths (ε_L = ε_R = 1): J_SS^(2) = α J_SS^(1)."""
    w, g, gL, gR = p["omega"], p["g"], p["gamma_L"], p["gamma_R"]
    nL, nR = bose(w, p["T_L"]), bose(w, p["T_R"])
    J1 = 2 * w * gL * gR * ((nL - nR) + 0 * nL * nR) / (gL + gR + gL * (1 - eps_a) * nL + gR * (1 - eps_a) * nR)
    alpha = 1 / (1 + gL * gR / (4 * g**2) * (1 + (1 - eps_a) * nL) * (1 + (1 - eps_a) * nR))
    return alpha * J1, J1


def eq19(p):
    """004 Eq. 19: the local qubit chain's current, any N >= 2."""
    w, g, g1, gN = p["omega"], p["g"], p["gamma_L"], p["gamma_R"]
    nL, nR = bose(w, p["T_L"]), bose(w, p["T_R"])
    cL, cR = 1 / np.tanh(w / (2 * p["T_L"])), 1 / np.tanh(w / (2 * p["T_R"]))
    return 4 * g**2 / (4 * g**2 + g1 * gN * cL * cR) * 2 * w * g1 * gN * (nL - nR) / (g1 * (1 + 2 * nL) + gN * (1 + 2 * nR))


def eq21(p):
    """004 Eqs. 21–22: J_global = J(ω+) + J(ω−), ω± = ω ± g."""
    total = 0.0
    for w in (p["omega"] + p["g"], p["omega"] - p["g"]):
        nL, nR = bose(w, p["T_L"]), bose(w, p["T_R"])
        cL, cR = 1 / np.tanh(w / (2 * p["T_L"])), 1 / np.tanh(w / (2 * p["T_R"]))
        total = total + p["gamma_L"] * p["gamma_R"] * w * (nL - nR) / (p["gamma_L"] * cL + p["gamma_R"] * cR)
    return total


@pytest.mark.parametrize("stat,eps_a", [("qubit", -1), ("boson", 1)])
def test_004_eqs_5_to_7_local_two_sites(stat, eps_a):
    p = random_chain(200, seed=31, g=(0.001, 0.3))
    ds = solve(2, stat, "local", **p)
    J2, _ = eq5to7(p, eps_a)
    assert np.allclose(ds.J_SS_paper.values, J2, rtol=1e-10, atol=1e-16)
    assert np.allclose(ds.J_SS_paper, 2 * ds.J_Q.sel(lead="L"), rtol=1e-8, atol=1e-15)  # J_SS = Q_L - Q_R = 2 Q_L


@pytest.mark.parametrize("stat,eps_a", [("qubit", -1), ("boson", 1)])
def test_single_site_is_004_eq7(stat, eps_a):
    p = random_chain(100, seed=32)
    ds = solve(1, stat, "local", **p)
    _, J1 = eq5to7(p, eps_a)
    assert np.allclose(ds.J_SS_paper.values, J1, rtol=1e-10, atol=1e-16)
    assert np.all(np.isnan(ds.coherence_re.values))


@pytest.mark.parametrize("method", ["correlation", "lindblad"])
def test_004_eq19_qubit_chain_current_is_independent_of_N(method):
    p = random_chain(40, seed=33, g=(0.001, 0.3))
    ref = eq19(p)
    for N in (2, 3, 4):
        ds = solve(N, "qubit", "local", method=method, **p)
        assert np.allclose(ds.J_SS_paper.values, ref, rtol=1e-9, atol=1e-16)
        assert ds.occupation.shape == (40, N)


def test_oscillator_chain_current_is_independent_of_N():
    p = random_chain(100, seed=34, g=(0.001, 0.3))
    ref = solve(2, "boson", "local", **p).J_SS_paper.values
    for N in (3, 4, 7):
        assert np.allclose(solve(N, "boson", "local", **p).J_SS_paper.values, ref, rtol=1e-9, atol=1e-16)


@pytest.mark.parametrize("method", ["correlation", "lindblad"])
def test_004_eqs_21_22_global_two_qubits(method):
    p = random_chain(200, seed=35, g=(0.0, 0.45))
    ds = solve(2, "qubit", "global", method=method, **p)
    assert np.allclose(ds.J_SS_paper.values, eq21(p), rtol=1e-10, atol=1e-16)
    assert np.allclose(ds.coherence_im.values, 0.0, atol=1e-15)  # secular: no imaginary coherence


def test_004_coherence_relation_local():
    """𝒞 = ⟨s1 s2† − s1† s2⟩/2 = i J_SS/(4 g ω): Im⟨s1 s2†⟩ = J_SS/(4 g ω), Re⟨s1 s2†⟩ = 0."""
    p = random_chain(200, seed=36, g=(0.01, 0.3))
    for stat in ("qubit", "boson"):
        ds = solve(2, stat, "local", **p)
        assert np.allclose(ds.coherence_im.values, ds.J_SS_paper.values / (4 * p["g"] * p["omega"]), rtol=1e-9, atol=1e-16)
        assert np.allclose(ds.coherence_re.values, 0.0, atol=1e-14)


def test_kernels_agree_for_qubits():
    p = random_chain(30, seed=37)
    for N in (1, 2, 3, 5):
        a, b = solve(N, "qubit", "local", "correlation", **p), solve(N, "qubit", "local", "lindblad", **p)
        for var in ("J_Q", "J_E_full", "occupation", "coherence_im"):
            assert np.allclose(a[var].values, b[var].values, atol=1e-12, equal_nan=True)
    a, b = solve(2, "qubit", "global", "correlation", **p), solve(2, "qubit", "global", "lindblad", **p)
    for var in ("J_Q", "occupation", "coherence_re"):
        assert np.allclose(a[var].values, b[var].values, atol=1e-13)


def dissipate(c, rho):
    return c * rho * c.dag() - 0.5 * (c.dag() * c * rho + rho * c.dag() * c)


def qutip_local(c, N, stat, cutoff=8):
    if stat == "qubit":
        s = [qutip.tensor([qutip.destroy(2) if k == j else qutip.qeye(2) for k in range(N)]) for j in range(N)]
    else:
        s = [qutip.tensor([qutip.destroy(cutoff) if k == j else qutip.qeye(cutoff) for k in range(N)]) for j in range(N)]
    H0 = c["omega"] * sum(x.dag() * x for x in s)
    H = H0 + c["g"] * sum(s[j].dag() * s[j + 1] + s[j + 1].dag() * s[j] for j in range(N - 1))
    ops = {}
    for lead, site in (("L", 0), ("R", N - 1)):
        n = bose(c["omega"], c[f"T_{lead}"])
        gam = c[f"gamma_{lead}"]
        ops[lead] = [np.sqrt(gam * (1 + n)) * s[site], np.sqrt(gam * n) * s[site].dag()]
    rho = qutip.steadystate(H, ops["L"] + ops["R"])
    J = [sum((H0 * dissipate(o, rho)).tr().real for o in ops[lead]) for lead in ("L", "R")]
    occ = [qutip.expect(x.dag() * x, rho) for x in s]
    coh = qutip.expect(s[0] * s[1].dag(), rho) if N > 1 else np.nan
    return np.array(J), np.array(occ), coh


@pytest.mark.parametrize("N", [2, 3])
def test_local_qubits_against_qutip(N):
    p = random_chain(20, seed=38)
    ds = solve(N, "qubit", "local", **p)
    for i in range(20):
        J, occ, coh = qutip_local(cell(p, i), N, "qubit")
        assert np.allclose(ds.J_Q.values[i], J, atol=1e-10 * max(np.abs(J).max(), 1e-12))
        assert np.allclose(ds.occupation.values[i], occ, atol=1e-10)
        assert complex(ds.coherence_re.values[i], ds.coherence_im.values[i]) == pytest.approx(coh, abs=1e-10)


def test_local_oscillators_against_truncated_fock_qutip():
    """Low occupations (T ≤ 0.35 ω) so that a Fock cutoff of 8 per mode is exact to ~1e-8."""
    rng = np.random.default_rng(39)
    n = 20
    p = {"omega": np.ones(n), "g": rng.uniform(0.01, 0.3, n), "T_L": rng.uniform(0.15, 0.35, n),
         "T_R": rng.uniform(0.15, 0.35, n), "gamma_L": rng.uniform(0.01, 0.2, n), "gamma_R": rng.uniform(0.01, 0.2, n)}
    ds = solve(2, "boson", "local", **p)
    for i in range(n):
        J, occ, coh = qutip_local(cell(p, i), 2, "boson", cutoff=8)
        assert np.allclose(ds.J_Q.values[i], J, rtol=1e-5, atol=1e-9 * np.abs(J).max())
        assert np.allclose(ds.occupation.values[i], occ, rtol=1e-5)
        assert complex(ds.coherence_re.values[i], ds.coherence_im.values[i]) == pytest.approx(coh, rel=1e-5, abs=1e-12)


def qutip_global(c, stat, cutoff=8):
    """004 Eq. 20 with its eigenoperators (qubits) or the normal modes b± = (a1 ± a2)/√2 (oscillators)."""
    w, g = c["omega"], c["g"]
    d = 2 if stat == "qubit" else cutoff
    s1 = qutip.tensor(qutip.destroy(d), qutip.qeye(d))
    s2 = qutip.tensor(qutip.qeye(d), qutip.destroy(d))
    H = w * (s1.dag() * s1 + s2.dag() * s2) + g * (s1.dag() * s2 + s2.dag() * s1)
    ops = {"L": [], "R": []}
    if stat == "qubit":
        ket = {"0": qutip.tensor(qutip.basis(2, 0), qutip.basis(2, 0)), "2": qutip.tensor(qutip.basis(2, 1), qutip.basis(2, 1))}
        k01, k10 = qutip.tensor(qutip.basis(2, 0), qutip.basis(2, 1)), qutip.tensor(qutip.basis(2, 1), qutip.basis(2, 0))
        ket["+"], ket["-"] = (k01 + k10).unit(), (k01 - k10).unit()
        for lead, sj in (("L", s1), ("R", s2)):
            for sign, other in (("+", "-"), ("-", "+")):
                wk = w + g if sign == "+" else w - g
                P = lambda k: ket[k] * ket[k].dag()  # noqa: E731
                Lop = P("0") * sj * P(sign) + P(other) * sj * P("2")  # 004: |0><0|σ⁻|ω±><ω±| + |ω∓><ω∓|σ⁻|2><2|
                n = bose(wk, c[f"T_{lead}"])
                gam = c[f"gamma_{lead}"]
                ops[lead] += [np.sqrt(gam * (1 + n)) * Lop, np.sqrt(gam * n) * Lop.dag()]
    else:
        bp, bm = (s1 + s2) / np.sqrt(2), (s1 - s2) / np.sqrt(2)
        for lead in ("L", "R"):
            for b, wk in ((bp, w + g), (bm, w - g)):
                n = bose(wk, c[f"T_{lead}"])
                gam = c[f"gamma_{lead}"] / 2  # s_j = (b+ ± b-)/√2
                ops[lead] += [np.sqrt(gam * (1 + n)) * b, np.sqrt(gam * n) * b.dag()]
    rho = qutip.steadystate(H, ops["L"] + ops["R"])
    J = [sum((H * dissipate(o, rho)).tr().real for o in ops[lead]) for lead in ("L", "R")]
    return np.array(J), qutip.expect(s1 * s2.dag(), rho), qutip.expect(s1.dag() * s1, rho)


@pytest.mark.parametrize("stat", ["qubit", "boson"])
def test_global_against_qutip(stat):
    rng = np.random.default_rng(40)
    n = 20
    p = {"omega": np.ones(n), "g": rng.uniform(0.05, 0.6, n), "T_L": rng.uniform(0.15, 0.35, n),
         "T_R": rng.uniform(0.15, 0.35, n), "gamma_L": rng.uniform(0.005, 0.1, n), "gamma_R": rng.uniform(0.005, 0.1, n)}
    if stat == "qubit":  # finite space: any temperature
        p["T_L"], p["T_R"] = rng.uniform(0.2, 3, n), rng.uniform(0.2, 3, n)
    ds = solve(2, stat, "global", **p)
    tol = 1e-10 if stat == "qubit" else 1e-5
    for i in range(n):
        J, coh, occ = qutip_global(cell(p, i), stat)
        assert np.allclose(ds.J_Q.values[i], J, rtol=tol, atol=tol * np.abs(J).max())
        assert complex(ds.coherence_re.values[i], ds.coherence_im.values[i]) == pytest.approx(coh, rel=tol, abs=1e-12)
        assert float(ds.occupation.values[i, 0]) == pytest.approx(occ, rel=tol)


@pytest.mark.parametrize("stat", ["qubit", "boson"])
@pytest.mark.parametrize("approach,N", [("local", 2), ("local", 5), ("global", 2)])
def test_energy_conservation_and_second_law(stat, approach, N):
    p = random_chain(2000, seed=41, g=(0.0, 0.45))
    ds = solve(N, stat, approach, **p)
    # conserved to round-off: within the kernel's own bound on the currents' rounding error
    assert np.all(ds.residual_E.values <= 1e-12 + 2 * ds.rel_err.max("lead").values)
    assert float(ds.residual_E.median()) < 1e-12
    assert not bool(ds.second_law_violated.any())
    assert float(ds.sigma.min()) >= 0.0 or float(ds.sigma.min()) > -1e-15
    # heat flows from hot to cold
    hot_L = p["T_L"] > p["T_R"]
    J_L = ds.J_Q.sel(lead="L").values
    assert np.all(J_L[hot_L] >= -1e-15) and np.all(J_L[~hot_L] <= 1e-15)
    assert np.allclose(ds.sigma, ds.F_E_L * ds.J_Q.sel(lead="L"), rtol=1e-7, atol=1e-15)


def test_errors_name_what_is_allowed():
    c = cell(random_chain(1, seed=0), 0)
    with pytest.raises(ValueError, match="correlation"):
        solve(2, "boson", "local", method="lindblad", **c)
    with pytest.raises(ValueError, match="N = 2"):
        solve(3, "qubit", "global", **c)
    with pytest.raises(ValueError, match="g < omega"):
        solve(2, "qubit", "global", **{**c, "g": 2.0, "omega": 1.0})
    with pytest.raises(ValueError, match="omega"):
        solve(2, "qubit", "local", **{**c, "omega": 0.0})
    with pytest.raises(ValueError, match="stat"):
        solve(2, "fermion", "local", **c)
    ds = solve(3, "qubit", "local", **c)
    assert "p" not in ds and "state" not in ds.dims and ds.occupation.dims == ("site",)


def test_currents_keep_relative_precision_near_equilibrium():
    """T_R = T_L (1 + 1e-10): the two-point kernel forms the currents from the deviation to
    bath L's occupation, so they keep ~1e-15 relative precision (Eqs. 5–7 at 50 digits)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    p = random_chain(30, seed=42, g=(0.001, 0.3))
    p["T_R"] = p["T_L"] * (1 + 1e-10)
    for stat, eps_a in (("qubit", -1), ("boson", 1)):
        ds = solve(3, stat, "local", **p)
        for i in range(30):
            w, g, gL, gR, TL, TR = (mp.mpf(float(p[k][i])) for k in ("omega", "g", "gamma_L", "gamma_R", "T_L", "T_R"))
            nL, nR = 1 / mp.expm1(w / TL), 1 / mp.expm1(w / TR)
            J1 = 2 * w * gL * gR * (nL - nR) / (gL + gR + gL * (1 - eps_a) * nL + gR * (1 - eps_a) * nR)
            alpha = 1 / (1 + gL * gR / (4 * g**2) * (1 + (1 - eps_a) * nL) * (1 + (1 - eps_a) * nR))
            ref = float(alpha * J1 / 2)
            err = abs(ds.J_Q.values[i, 0] - ref) / abs(ref)
            assert err < 1e-13 and err <= ds.rel_err.values[i, 0]
