"""Zero-frequency noise of every Lindblad model and approach against QuTiP 5 ``countstat_current_noise``.

QuTiP gets the Liouvillian from ``qutip.liouvillian(H, c_ops)`` (full Liouville space, no sector
reduction) and the current superoperators ``I = Σ ν_k sprepost(c_k, c_k†)``,
``J = Σ ν_k² sprepost(c_k, c_k†)``; the operators and rates are written out here from SPEC §2.
"""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from qtmsweep.physics.baths import bose, filtered_rates

qutip = pytest.importorskip("qutip")
RNG = np.random.default_rng(7)


def qutip_noise(H, jumps, weights_per_flux):
    """jumps: list of (rate, op, lead); weights_per_flux: list of functions (k, lead) -> ν."""
    c_ops = [qutip.Qobj(np.sqrt(r) * op) for r, op, _ in jumps]
    L = qutip.liouvillian(qutip.Qobj(H), c_ops)
    I_ops, J_ops = [], []
    for w in weights_per_flux:
        nu = [w(k, lead) for k, (_, _, lead) in enumerate(jumps)]
        I_ops.append(sum(v * qutip.sprepost(c, c.dag()) for v, c in zip(nu, c_ops) if v != 0))
        J_ops.append(sum(v * v * qutip.sprepost(c, c.dag()) for v, c in zip(nu, c_ops) if v != 0))
    current, noise = qutip.countstat_current_noise(L, [], J_ops=J_ops, I_ops=I_ops, sparse=False)[:2]
    return np.asarray(current), np.asarray(noise)


def _fridge_problem(p, approach):
    e1, e2, dz, dx = p["eps1"], p["eps2"], p["delta_z"], p["delta_x"]
    E = [0.0, e1, e2, e1 + e2 + dz]
    H = np.diag(E).astype(complex)
    H[1, 2] = H[2, 1] = dx
    jumps, energy = [], []

    def proj(j, i):
        m = np.zeros((4, 4), dtype=complex)
        m[j, i] = 1
        return m
    if approach == "local":
        for lead, pairs in (("L", ((0, 1), (2, 3))), ("R", ((0, 1), (2, 3))), ("C", ((0, 2), (1, 3)))):
            for i, j in pairs:
                w = E[j] - E[i]
                up, down, _ = filtered_rates(w, p[f"T_{lead}"], p[f"Gamma_{lead}"], p[f"Omega_{lead}"], p["eps_c"])
                jumps += [(float(up), proj(j, i), lead), (float(down), proj(i, j), lead)]
                energy += [w, -w]
        return H, jumps, energy
    ev, V = np.linalg.eigh(H)
    X1 = np.zeros((4, 4)); X1[0, 1] = X1[2, 3] = 1; X1 = X1 + X1.T
    X2 = np.zeros((4, 4)); X2[0, 2] = X2[1, 3] = 1; X2 = X2 + X2.T
    for lead, X in (("L", X1), ("R", X1), ("C", X2)):
        Xt = V.conj().T @ X @ V
        for i in range(4):
            for j in range(4):
                w = ev[j] - ev[i]
                if w > 1e-9 and abs(Xt[j, i]) > 1e-12:
                    up, down, _ = filtered_rates(w, p[f"T_{lead}"], p[f"Gamma_{lead}"], p[f"Omega_{lead}"], p["eps_c"])
                    m2 = abs(Xt[j, i]) ** 2
                    Pji = np.outer(V[:, j], V[:, i].conj())
                    jumps += [(float(up) * m2, Pji, lead), (float(down) * m2, Pji.conj().T, lead)]
                    energy += [w, -w]
    return H, jumps, energy


def _chain_problem(p, approach, N):
    sm = np.array([[0.0, 1.0], [0.0, 0.0]])

    def site(j):
        m = np.ones((1, 1))
        for k in range(N):
            m = np.kron(m, sm if k == j else np.eye(2))
        return m.astype(complex)
    s = [site(j) for j in range(N)]
    w0, g = p["omega"], p["g"]
    H = w0 * sum(o.conj().T @ o for o in s) + g * sum(s[j].conj().T @ s[j + 1] + s[j + 1].conj().T @ s[j]
                                                       for j in range(N - 1))
    jumps, energy = [], []
    if approach == "local":
        for lead, o in (("L", s[0]), ("R", s[-1])):
            nb = bose(w0, p[f"T_{lead}"])
            gam = p[f"gamma_{lead}"]
            jumps += [(gam * nb, o.conj().T, lead), (gam * (1 + nb), o, lead)]
            energy += [w0, -w0]
        return H, jumps, energy
    ev, V = np.linalg.eigh(H)
    for lead, o in (("L", s[0]), ("R", s[-1])):
        X = o + o.conj().T
        Xt = V.conj().T @ X @ V
        gam = p[f"gamma_{lead}"]
        for i in range(4):
            for j in range(4):
                w = ev[j] - ev[i]
                if w > 1e-9 and abs(Xt[j, i]) > 1e-12:
                    nb = bose(w, p[f"T_{lead}"])
                    m2 = abs(Xt[j, i]) ** 2
                    Pji = np.outer(V[:, j], V[:, i].conj())
                    jumps += [(gam * nb * m2, Pji, lead), (gam * (1 + nb) * m2, Pji.conj().T, lead)]
                    energy += [w, -w]
    return H, jumps, energy


def _compare(ds, H, jumps, energy, leads, rtol):
    ws = [(lambda lead_: (lambda k, l: energy[k] if l == lead_ else 0.0))(lead) for lead in leads]
    current, noise = qutip_noise(np.asarray(H), jumps, ws)
    S = ds.S.values
    np.testing.assert_allclose(current, [float(ds.J_Q.sel(lead=l)) for l in leads], rtol=1e-7,
                               atol=1e-12 * np.abs(current).max())
    scale = np.abs(np.diag(S)).max()
    # QuTiP's zero-frequency noise[i, i] is our S_ii (no factor 2); its cross terms omit the contact
    # term, which vanishes for fluxes of different baths (disjoint jumps)
    np.testing.assert_allclose(noise[..., 0], S, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("approach", ["local", "global"])
@pytest.mark.parametrize("seed", range(3))
def test_qubit_fridge_noise_matches_qutip(approach, seed):
    rng = np.random.default_rng(seed)
    e1, e2 = rng.uniform(0.5, 3, 2)
    dz = rng.uniform(-0.3, 0.3)
    p = dict(eps1=e1, eps2=e2, delta_z=dz, delta_x=rng.uniform(0.05, 0.5), T_L=rng.uniform(0.3, 3),
             T_R=rng.uniform(0.3, 3), T_C=rng.uniform(0.3, 3), Gamma_L=rng.uniform(0.01, 0.3),
             Gamma_R=rng.uniform(0.01, 0.3), Gamma_C=rng.uniform(0.01, 0.3), Omega_L=e1, Omega_R=e1 + dz,
             Omega_C=e2 + dz, eps_c=10.0)
    ds = qtmsweep.solve("qubit_fridge", approach=approach, cumulants=2, **p)
    _compare(ds, *_fridge_problem(p, approach), ("L", "R", "C"), 1e-8)


@pytest.mark.parametrize("approach, N", [("local", 2), ("local", 3), ("local", 4), ("global", 2)])
def test_qubit_chain_noise_matches_qutip(approach, N):
    p = dict(omega=1.0, g=float(RNG.uniform(0.01, 0.4)), T_L=float(RNG.uniform(0.3, 2)), T_R=float(RNG.uniform(0.3, 2)),
             gamma_L=float(RNG.uniform(0.005, 0.1)), gamma_R=float(RNG.uniform(0.005, 0.1)))
    ds = qtmsweep.solve("chain", N=N, stat="qubit", approach=approach, cumulants=2, **p)
    _compare(ds, *_chain_problem(p, approach, N), ("L", "R"), 1e-8)


def test_kerr_fridge_truncation_noise_matches_qutip():
    """kerr_fridge's truncated Pauli equation as a Lindblad model with number-state jumps."""
    N1, N2 = 3, 2
    p = dict(eps1=1.0, eps2=1.3, delta_z=0.05, T_L=1.5, T_R=1.0, T_C=0.6, Gamma_L=0.05, Gamma_R=0.08,
             Gamma_C=0.06, Omega_L=1.0, Omega_R=1.05, Omega_C=1.35, eps_c=10.0)
    ds = qtmsweep.solve("kerr_fridge", N1=N1, N2=N2, cumulants=2, **p)
    d = N1 * N2
    idx = lambda a, b: a * N2 + b  # noqa: E731
    E = [p["eps1"] * a + p["eps2"] * b + p["delta_z"] * a * b for a in range(N1) for b in range(N2)]
    jumps, energy = [], []
    for a in range(N1):
        for b in range(N2):
            for lead, (a2, b2), m in (("L", (a + 1, b), a + 1), ("R", (a + 1, b), a + 1), ("C", (a, b + 1), b + 1)):
                if a2 < N1 and b2 < N2:
                    i, j = idx(a, b), idx(a2, b2)
                    w = E[j] - E[i]
                    up, down, _ = filtered_rates(w, p[f"T_{lead}"], p[f"Gamma_{lead}"], p[f"Omega_{lead}"], p["eps_c"])
                    P = np.zeros((d, d), dtype=complex)
                    P[j, i] = 1
                    jumps += [(m * float(up), P, lead), (m * float(down), P.T.copy(), lead)]
                    energy += [w, -w]
    _compare(ds, np.diag(E), jumps, energy, ("L", "R", "C"), 1e-8)


def _boson_chain_problem(p, N, n_max):
    """Oscillators from QuTiP's ``destroy`` on the full product space, projected on the states with
    at most ``n_max`` quanta in total (the chain's truncation)."""
    M = n_max + 1
    full = [qutip.tensor(*[qutip.destroy(M) if k == j else qutip.qeye(M) for k in range(N)]).full()
            for j in range(N)]
    numbers = np.array(np.meshgrid(*[np.arange(M)] * N, indexing="ij")).reshape(N, -1).sum(axis=0)
    keep = np.flatnonzero(numbers <= n_max)
    a = [op[np.ix_(keep, keep)] for op in full]
    w0, g = p["omega"], p["g"]
    H = w0 * sum(o.conj().T @ o for o in a) + g * sum(a[j].conj().T @ a[j + 1] + a[j + 1].conj().T @ a[j]
                                                       for j in range(N - 1))
    jumps, energy = [], []
    for lead, o in (("L", a[0]), ("R", a[-1])):
        nb = bose(w0, p[f"T_{lead}"])
        gam = p[f"gamma_{lead}"]
        jumps += [(gam * nb, o.conj().T, lead), (gam * (1 + nb), o, lead)]
        energy += [w0, -w0]
    return H, jumps, energy


@pytest.mark.parametrize("N, n_max", [(2, 4), (2, 6), (3, 3)])
def test_oscillator_chain_noise_matches_qutip_at_the_truncation(N, n_max):
    """Local oscillator chain on the truncated Fock space: our sector Liouvillian against QuTiP's
    full one, random point; at n_max = 6 the truncation change is small and S agrees with it."""
    rng = np.random.default_rng(N * 10 + n_max)
    p = dict(omega=1.0, g=float(rng.uniform(0.01, 0.3)), T_L=float(rng.uniform(0.2, 0.6)),
             T_R=float(rng.uniform(0.2, 0.6)), gamma_L=float(rng.uniform(0.005, 0.1)),
             gamma_R=float(rng.uniform(0.005, 0.1)))
    ds = qtmsweep.solve("chain", N=N, stat="boson", approach="local", n_max=n_max, cumulants=2, **p)
    H, jumps, energy = _boson_chain_problem(p, N, n_max)
    ws = [(lambda lead_: (lambda k, l: energy[k] if l == lead_ else 0.0))(lead) for lead in ("L", "R")]
    current, noise = qutip_noise(H, jumps, ws)
    S = ds.S.values
    np.testing.assert_allclose(noise[..., 0], S, rtol=1e-8, atol=1e-8 * np.abs(np.diag(S)).max())
    # the mean of record is the exact (untruncated) two-point solution; the truncated one is close
    exact = np.array([float(ds.J_Q.sel(lead=l)) for l in ("L", "R")])
    change = float(ds.S_truncation_rel_change.max())
    assert change < 0.05
    np.testing.assert_allclose(current, exact, rtol=20 * change + 1e-9)
