"""The batched Lindblad kernel (``qtmsweep.physics.lindblad``) against facts it does not produce.

* superoperators against the matrix products they stand for,
* steady states of random generators against ``qutip.steadystate`` (built from the same
  H and jump operators as ``Qobj``, solved by QuTiP's own solver),
* thermalisation: a Davies generator with one bath relaxes to the Gibbs state,
* energy conservation ``Σ_λ Tr[H D_λ(ρ)] = 0`` for any steady state,
* the symmetry-sector reduction equals the unreduced solve, and is refused when the
  charges are not conserved,
* the Lyapunov (two-point) solver against SciPy's Bartels–Stewart solver.
"""

from __future__ import annotations

import numpy as np
import pytest

from qtmsweep.physics.lindblad import (
    MAX_DENSE,
    heat_entropy_production,
    lindblad_currents,
    lindblad_steady_state,
    lyapunov_steady_state,
    secular_rates,
    sector_indices,
    solve_pauli,
    superoperator_dissipator,
    superoperator_hamiltonian,
)

qutip = pytest.importorskip("qutip")


def vec(rho):
    return rho.reshape(rho.shape[:-2] + (-1,), order="F") if rho.ndim == 2 else np.stack([r.reshape(-1, order="F") for r in rho])


def random_hermitian(rng, d):
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    return (a + a.conj().T) / 2


def random_density(rng, d):
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    r = a @ a.conj().T
    return r / np.trace(r)


def dissipate(L, rho):
    Ld = L.conj().T
    return L @ rho @ Ld - 0.5 * (Ld @ L @ rho + rho @ Ld @ L)


def test_superoperators_match_matrix_products():
    rng = np.random.default_rng(1)
    d = 3
    H, rho = random_hermitian(rng, d), random_density(rng, d)
    L = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    assert np.allclose(superoperator_hamiltonian(H) @ vec(rho), vec(-1j * (H @ rho - rho @ H)))
    assert np.allclose(superoperator_dissipator(L) @ vec(rho), vec(dissipate(L, rho)))
    # batched forms equal the fixed ones cell by cell
    Hs = np.stack([random_hermitian(rng, d) for _ in range(4)])
    Ls = np.stack([rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)) for _ in range(4)])
    for k in range(4):
        assert np.allclose(superoperator_hamiltonian(Hs)[k], superoperator_hamiltonian(Hs[k]))
        assert np.allclose(superoperator_dissipator(Ls)[k], superoperator_dissipator(Ls[k]))


def test_random_generators_against_qutip():
    """20 random generators on d = 4 (two jump operators per bath, two baths) vs qutip.steadystate."""
    rng = np.random.default_rng(7)
    d, n = 4, 20
    Hs = np.stack([random_hermitian(rng, d) for _ in range(n)])
    ops = [np.stack([rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)) for _ in range(n)]) for _ in range(4)]
    rates = [rng.uniform(0.1, 2.0, n) for _ in range(4)]
    jumps = [(rates[k], ops[k], k // 2) for k in range(4)]
    rho = lindblad_steady_state([(1.0, Hs)], jumps, d=d)
    J, _ = lindblad_currents(rho, jumps, [(1.0, Hs)], n_baths=2)
    for i in range(n):
        c_ops = [qutip.Qobj(np.sqrt(rates[k][i]) * ops[k][i]) for k in range(4)]
        ref = qutip.steadystate(qutip.Qobj(Hs[i]), c_ops).full()
        assert np.allclose(rho[i], ref, atol=1e-10)
        J_ref = [sum(np.trace(Hs[i] @ dissipate(np.sqrt(rates[k][i]) * ops[k][i], ref)).real for k in (2 * b, 2 * b + 1))
                 for b in range(2)]
        assert np.allclose(J[i], J_ref, atol=1e-10)
    # energy conservation: sum over baths of Tr[H D(rho)] vanishes for the steady state
    assert np.max(np.abs(J.sum(axis=1))) < 1e-12 * max(1.0, np.abs(J).max())


def two_qubit_ops():
    sm = np.array([[0, 1], [0, 0]], dtype=complex)
    one = np.eye(2)
    return np.kron(sm, one), np.kron(one, sm)


def test_sector_reduction_equals_full_solve_and_qutip():
    """Excitation-conserving H (XX + detuning) and ±1 jumps: sector solve = full solve = QuTiP."""
    rng = np.random.default_rng(3)
    s1, s2 = two_qubit_ops()
    n = 25
    w1, w2, g = rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, n), rng.uniform(-1, 1, n)
    terms = [(w1, s1.conj().T @ s1), (w2, s2.conj().T @ s2), (g, s1.conj().T @ s2 + s2.conj().T @ s1)]
    r = [rng.uniform(0.05, 1, n) for _ in range(4)]
    jumps = [(r[0], s1, 0), (r[1], s1.conj().T, 0), (r[2], s2, 1), (r[3], s2.conj().T, 1)]
    charges = (0, 1, 1, 2)
    assert sector_indices(charges, 4).size == 6
    reduced = lindblad_steady_state(terms, jumps, d=4, charges=charges)
    full = lindblad_steady_state(terms, jumps, d=4)
    assert np.allclose(reduced, full, atol=1e-12)
    for i in range(0, n, 5):
        H = sum(c[i] * m for c, m in terms)
        c_ops = [qutip.Qobj(np.sqrt(rr[i]) * op) for rr, op, _ in jumps]
        ref = qutip.steadystate(qutip.Qobj(H), c_ops).full()
        assert np.allclose(reduced[i], ref, atol=1e-10)


def test_sector_reduction_refuses_non_conserving_terms():
    s1, s2 = two_qubit_ops()
    x = s1 + s1.conj().T  # sigma_x changes the excitation number
    with pytest.raises(ValueError, match="does not conserve"):
        lindblad_steady_state([(1.0, x)], [(1.0, s1, 0)], d=4, charges=(0, 1, 1, 2))


def test_davies_single_bath_thermalises_to_gibbs():
    """Secular rates from one bath obeying detailed balance give ρ ∝ e^{-βH} (random H, d = 5)."""
    rng = np.random.default_rng(11)
    n, d = 10, 5
    H = np.stack([random_hermitian(rng, d).real for _ in range(n)])
    E, V = np.linalg.eigh(H)
    X = rng.normal(size=(d, d))
    X = X + X.T
    T = rng.uniform(0.3, 3.0, n)

    def spectrum(w):
        k = 0.7 * w / (1 + w**2)  # any positive spectral density
        nb = 1 / np.expm1(w / T[:, None, None])
        return k * nb, k * (1 + nb)

    rates, omega = secular_rates(E, V, [X], [spectrum])
    p = solve_pauli(rates[0])
    gibbs = np.exp(-(E - E[:, :1]) / T[:, None])
    gibbs /= gibbs.sum(axis=1, keepdims=True)
    assert np.allclose(p, gibbs, rtol=1e-10, atol=1e-14)
    # the same generator as a Liouvillian in the eigenbasis
    proj = lambda j, i: np.outer(np.eye(d)[j], np.eye(d)[i]).astype(complex)  # noqa: E731
    jumps = [(rates[0][:, j, i], proj(j, i), 0) for i in range(d) for j in range(d) if i != j]
    rho = lindblad_steady_state([(E[:, k], proj(k, k)) for k in range(d)], jumps, d=d)
    assert np.allclose(rho[:, range(d), range(d)].real, gibbs, atol=1e-12)
    J, _ = lindblad_currents(rho, jumps, [(E[:, k], proj(k, k)) for k in range(d)], n_baths=1)
    assert np.max(np.abs(J)) < 1e-12  # no current at equilibrium


def test_non_unique_steady_state_is_nan_not_a_guess():
    s1, _ = two_qubit_ops()
    # only qubit 1 is damped: qubit 2's state is undetermined
    rho = lindblad_steady_state([(1.0, s1.conj().T @ s1)], [(np.array([1.0, 1.0]), s1, 0)], d=4)
    assert np.all(np.isnan(rho))
    W = np.zeros((1, 3, 3))
    W[0, 1, 0] = W[0, 0, 1] = 1.0  # state 2 is disconnected
    assert np.all(np.isnan(solve_pauli(W)))


def test_dense_size_limit_is_stated():
    d = int(np.sqrt(MAX_DENSE)) + 1
    with pytest.raises(ValueError, match="too large"):
        lindblad_steady_state([(1.0, np.eye(d))], [(1.0, np.eye(d), 0)], d=d)


@pytest.mark.parametrize("N", [3, 17])  # batched Kronecker path and per-cell SciPy path
def test_lyapunov_against_scipy(N):
    from scipy.linalg import solve_continuous_lyapunov

    rng = np.random.default_rng(N)
    n = 4
    h = np.stack([random_hermitian(rng, N) for _ in range(n)])
    loss, gain = rng.uniform(0.5, 2, (n, N)), rng.uniform(0, 0.4, (n, N))
    for fermionic in (False, True):
        C = lyapunov_steady_state(h, loss, gain, fermionic)
        for k in range(n):
            Gam = loss[k] + gain[k] if fermionic else loss[k] - gain[k]
            A = 1j * h[k] - 0.5 * np.diag(Gam)
            ref = solve_continuous_lyapunov(A, -np.diag(gain[k]))
            assert np.allclose(C[k], ref, atol=1e-12)


def test_heat_entropy_production_flags_only_real_violations():
    T = np.array([[2.0, 1.0]])
    sigma, bad, _ = heat_entropy_production(np.array([[1.0, -1.0]]), T)
    assert sigma[0] == pytest.approx(0.5) and not bad[0]
    sigma, bad, _ = heat_entropy_production(np.array([[-1.0, 1.0]]), T)  # heat from cold to hot
    assert bad[0]
    # equal temperatures, currents at round-off: not flagged when the gross scale is given
    sigma, bad, _ = heat_entropy_production(np.array([[1e-17, -3e-17]]), np.array([[1.0, 1.0]]), np.array([[1.0, 1.0]]))
    assert not bad[0]
