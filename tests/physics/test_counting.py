"""Full counting statistics against facts the code did not produce: closed forms, 60-digit
Cauchy-integral cumulants of the tilted generator, Drazin-inverse identities, Gallavotti–Cohen."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import qtmsweep
from qtmsweep.physics.counting import cumulants, drazin_solver, scgf
from qtmsweep.physics.generator import generator, parse_flux
from qtmsweep.physics.registry import get_model
from tests.physics import fcs_reference as ref

RNG = np.random.default_rng(20261202)


@pytest.mark.parametrize("gl, gr", [(0.3, 1.1), (1.0, 1.0), (2.0, 0.05), (0.7, 0.2)])
def test_sqd_at_large_bias_has_the_resonant_level_fano_factors(gl, gr):
    """Unidirectional transport: F2 = (ΓL² + ΓR²)/(ΓL + ΓR)², F3 = 1 − 6ΓLΓR(ΓL² + ΓR²)/(ΓL + ΓR)⁴."""
    ds = qtmsweep.solve("sqd", cumulants=3, fluxes=["J_N[l]"], eps=0.0, T_l=0.01, T_r=0.01, mu_l=30.0,
                        mu_r=-30.0, gamma_l=gl, gamma_r=gr)
    J = float(ds.J_N.sel(lead="l"))
    F2 = float(ds.S.isel(flux=0, flux_=0)) / J
    F3 = float(ds.c3.isel(flux=0)) / J
    g = gl + gr
    assert abs(F2 - (gl**2 + gr**2) / g**2) < 1e-13
    assert abs(F3 - (1 - 6 * gl * gr * (gl**2 + gr**2) / g**4)) < 1e-13
    assert abs(float(ds.fano.isel(flux=0)) - F2) < 1e-13


def _random_generator_cells():
    p = dict(eps_L=RNG.uniform(-1, 1, 8), eps_R=RNG.uniform(-1, 1, 8), kappa=RNG.uniform(-2, 2, 8),
             T_a=RNG.uniform(0.2, 2, 8), T_b=RNG.uniform(0.2, 2, 8), T_r=RNG.uniform(0.2, 2, 8),
             mu_a=RNG.uniform(-1, 1, 8), mu_b=RNG.uniform(-1, 1, 8), mu_r=RNG.uniform(-1, 1, 8),
             gamma_a=RNG.uniform(0.1, 2, 8), gamma_b=RNG.uniform(0.1, 2, 8), gamma_r=RNG.uniform(0.1, 2, 8))
    return generator("cqd", p)


def test_drazin_inverse_satisfies_its_defining_identities():
    """L L^D L = L, L^D L L^D = L^D, L L^D = L^D L (and the steady state is L's null vector)."""
    gen = _random_generator_cells()
    dz = drazin_solver(gen)
    L = gen.matrix()
    D = L.shape[-1]
    eye = np.broadcast_to(np.eye(D), (gen.n, D, D))
    LD = np.swapaxes(dz.apply(np.swapaxes(eye, 1, 2)), 1, 2)  # columns L^D e_i

    scale = np.abs(L).max(axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(L @ LD @ L / scale, L / scale, atol=1e-13)
    np.testing.assert_allclose(LD @ L @ LD * scale, LD * scale, atol=1e-12)
    np.testing.assert_allclose((L @ LD - LD @ L), 0, atol=1e-13)
    assert np.max(np.abs(np.einsum("nab,nb->na", L, dz.rho))) < 1e-14 * scale.max()
    # and it is not the Moore–Penrose inverse
    assert np.max(np.abs(np.linalg.pinv(L) - LD)) > 1e-3


def _mp_check(tilted, radius, ours, orders, rtol, bounds=None):
    """|ours − reference| within rtol, or within the code's own bound where that is larger."""
    refc = ref.cauchy_cumulants(tilted, mp.mpf(radius), orders)
    for m in orders:
        val = float(refc[m])
        tol = max(rtol, (bounds or {}).get(m, 0.0))
        assert abs(ours[m] - val) <= tol * abs(val) + 1e-300, (m, ours[m], val, tol)


def _sqd_point(near_eq):
    T = RNG.uniform(0.3, 2)
    mu = RNG.uniform(-1, 1)
    p = dict(eps=RNG.uniform(-1, 2), T_l=T, T_r=T, mu_l=mu, mu_r=mu, gamma_l=RNG.uniform(0.1, 2),
             gamma_r=RNG.uniform(0.1, 2))
    if near_eq:
        p["T_l"] = T * (1 + near_eq)
        p["mu_l"] = mu + near_eq
    else:
        p.update(T_l=RNG.uniform(0.2, 2), mu_l=RNG.uniform(-2, 2))
    return p


@pytest.mark.parametrize("near_eq", [0.0, 1e-6, 1e-10, 0.0, 0.0])
@pytest.mark.parametrize("flux", ["J_N[l]", "J_E[r]", "J_Q[l]"])
def test_sqd_cumulants_match_60_digit_tilted_generator(near_eq, flux):
    p = _sqd_point(near_eq)
    ds = qtmsweep.solve("sqd", cumulants=3, fluxes=[flux], **p)
    var, lead = parse_flux(flux)

    def weight(l, w, n, mu):
        if l != lead:
            return 0
        return {"J_N": n, "J_E": w, "J_Q": w - mu * n}[var]
    d, jumps = ref.sqd_jumps(p, weight)
    ours = {2: float(ds.S[0, 0]), 3: float(ds.c3[0])}
    _mp_check(ref.pauli_tilted(d, jumps), 0.05, ours, (2, 3), 1e-12,
              {2: float(ds.S_rel_err[0]), 3: float(ds.c3_rel_err[0])})


@pytest.mark.parametrize("near_eq", [0.0, 0.0, 0.0, 1e-6, 1e-8, 1e-10])
def test_cqd_cumulants_match_60_digit_tilted_generator(near_eq):
    T, mu = RNG.uniform(0.3, 2), RNG.uniform(-1, 1)
    p = dict(eps_L=RNG.uniform(-1, 2), eps_R=RNG.uniform(-1, 2), kappa=RNG.uniform(-2, 2), T_a=T, T_b=T, T_r=T,
             mu_a=mu, mu_b=mu, mu_r=mu, gamma_a=RNG.uniform(0.1, 2), gamma_b=RNG.uniform(0.1, 2),
             gamma_r=RNG.uniform(0.1, 2))
    if near_eq:
        p.update(T_r=T * (1 + near_eq), mu_a=mu + near_eq, T_b=T * (1 - near_eq))
    else:
        p.update({k: RNG.uniform(0.2, 2) for k in ("T_a", "T_b", "T_r")})
        p.update({k: RNG.uniform(-1, 1) for k in ("mu_a", "mu_b", "mu_r")})
    fluxes = ["J_E[r]", "J_N[b]", "J_Q[a]"]
    ds = qtmsweep.solve("cqd", cumulants=3, fluxes=fluxes, **p)
    for f, flux in enumerate(fluxes):
        var, lead = parse_flux(flux)

        def weight(l, w, n, mu_):
            return 0 if l != lead else {"J_N": n, "J_E": w, "J_Q": w - mu_ * n}[var]
        d, jumps = ref.cqd_jumps(p, weight)
        ours = {2: float(ds.S[f, f]), 3: float(ds.c3[f])}
        _mp_check(ref.pauli_tilted(d, jumps), 0.05, ours, (2, 3), 1e-11,
                  {2: float(ds.S_rel_err[f]), 3: float(ds.c3_rel_err[f])})


def _fridge_point(near_eq, delta_x):
    T = RNG.uniform(0.5, 2)
    e1, e2 = RNG.uniform(0.5, 3, 2)
    dz = RNG.uniform(-0.3, 0.3)
    p = dict(eps1=e1, eps2=e2, delta_z=dz, delta_x=delta_x, T_L=T, T_R=T, T_C=T,
             Gamma_L=RNG.uniform(0.01, 0.3), Gamma_R=RNG.uniform(0.01, 0.3), Gamma_C=RNG.uniform(0.01, 0.3),
             Omega_L=e1, Omega_R=e1 + dz, Omega_C=e2 + dz, eps_c=10.0)
    if near_eq:
        p.update(T_L=T * (1 + near_eq), T_C=T * (1 - near_eq))
    else:
        p.update(T_L=RNG.uniform(0.3, 3), T_C=RNG.uniform(0.3, 3))
    return p


@pytest.mark.parametrize("approach", [pytest.param("local", marks=pytest.mark.slow), "global"])
@pytest.mark.parametrize("near_eq", [0.0, 0.0, 1e-6, 1e-10])
def test_qubit_fridge_cumulants_match_60_digit_tilted_generator(approach, near_eq):
    p = _fridge_point(near_eq, RNG.uniform(0.05, 0.4))
    if approach == "local" and near_eq:
        p["eps2"] = p["eps1"]  # equilibrium of the local ME needs resonant qubits when delta_x != 0
    ds = qtmsweep.solve("qubit_fridge", approach=approach, cumulants=3, **p)
    for f, lead in enumerate(("L", "R", "C")):
        def weight(l, w, n, mu):
            return w if l == lead else 0
        if approach == "local":
            tilted = ref.fridge_local(p, weight)
        else:
            tilted = ref.pauli_tilted(*ref.fridge_global_jumps(p, weight))
        ours = {2: float(ds.S[f, f]), 3: float(ds.c3[f])}
        _mp_check(tilted, 0.03, ours, (2, 3), 1e-10, {2: float(ds.S_rel_err[f]), 3: float(ds.c3_rel_err[f])})


@pytest.mark.parametrize("model", ["cqd", "kerr_fridge", "sqd"])
def test_entropy_counting_generating_function_has_gallavotti_cohen_symmetry(model):
    """λ(s) = λ(−1 − s) for the entropy delivered to the baths, on random non-equilibrium cells."""
    m = get_model(model)
    n = 6
    p = {k: v for k, v in m.defaults().items() if m.parameter(k).structural}
    for par in m.parameters:
        if par.structural:
            continue
        if par.kind == "temperature":
            p[par.name] = RNG.uniform(0.3, 2.5, n)
        elif par.kind in ("rate", "dimensionless"):
            p[par.name] = RNG.uniform(0.05, 1.0, n)
        else:
            p[par.name] = RNG.uniform(0.3, 2.0, n)
    if model == "kerr_fridge":
        p["eps_c"] = np.full(n, 10.0)
    gen = generator(model, p)
    w = gen.entropy_weights()[..., 0]
    s = np.linspace(-1.6, 0.6, 12)
    lam = scgf(gen, w, s)
    lam_mirror = scgf(gen, w, -1.0 - s)
    # rounding of an eigenvalue is relative to the matrix, i.e. to the tilted rates (not to λ,
    # which is small in a cell that happens to lie near equilibrium)
    rates = (gen.rate[None] * np.exp(s[:, None, None] * w[None])).sum(axis=2) + gen.rate.sum(axis=1)
    np.testing.assert_array_less(np.abs(lam - lam_mirror), 1e-12 * rates)
    # and the symmetry is not trivial: λ is not even about 0
    scale = np.abs(lam).max(axis=0)
    assert np.all(scale > 0)
    assert np.max(np.abs(scgf(gen, w, 0.4) - scgf(gen, w, -0.4)) / scale) > 1e-6


def _random_cells(model: str, n: int) -> dict:
    """The model's structural defaults and ``n`` random values of every other parameter
    (energies in [-1, 2], the rest in [0.3, 2]; kerr_fridge's cutoff at 10)."""
    m = get_model(model)
    p = {k: v for k, v in m.defaults().items() if m.parameter(k).structural}
    for par in m.parameters:
        if not par.structural:
            p[par.name] = RNG.uniform(0.3, 2.0, n) if par.kind != "energy" else RNG.uniform(-1.0, 2.0, n)
    if model == "kerr_fridge":
        p["eps_c"] = np.full(n, 10.0)
    return p


@pytest.mark.parametrize("model", ["cqd", "kerr_fridge", "sqd"])
def test_fused_rate_matrix_kernel_equals_the_dense_drazin_route(model):
    from qtmsweep.physics.counting import cumulants_dense
    from qtmsweep.physics.generator import default_fluxes

    n = 50
    p = _random_cells(model, n)
    if model == "kerr_fridge":
        p["eps1"], p["eps2"] = RNG.uniform(0.3, 2, n), RNG.uniform(0.3, 2, n)
    gen = generator(model, p)
    w = gen.weights([parse_flux(f) for f in default_fluxes(model)])
    fast, dense = cumulants(gen, w, order=3), cumulants_dense(gen, w, order=3)
    # the two routes factorise differently (own LU vs LAPACK inverse): they agree to the cells'
    # conditioning, ~1e-10 on the worst random kerr cells (populations spanning e^{-βε} scales)
    np.testing.assert_allclose(fast.activity, dense.activity, rtol=1e-9)
    np.testing.assert_allclose(fast.S, dense.S, rtol=1e-9, atol=1e-13 * np.abs(dense.S).max())
    # c3 is a cancelling sum (it vanishes at equilibrium): agreement within the two routes' bounds
    tol = 1e-9 + fast.c3_rel_err + dense.c3_rel_err
    assert np.all(np.abs(fast.c3 - dense.c3) <= tol * np.abs(dense.c3)), np.max(np.abs(fast.c3 - dense.c3) / tol / np.abs(dense.c3))


@pytest.mark.parametrize("model, fluxes", [("cqd", ["J_E[r]", "J_N[b]", "J_Q[a]"]), ("kerr_fridge", None),
                                           ("sqd", ["J_Q[l]", "J_N[r]"])])
def test_kernel_forming_the_weights_itself_equals_the_kernel_given_them(model, fluxes):
    """flux_cumulants (weights ω, n, −μn formed per cell in the kernel) against cumulants on
    Generator.weights: the same products, so the same numbers to rounding."""
    from qtmsweep.physics.counting import flux_cumulants
    from qtmsweep.physics.generator import default_fluxes

    p = _random_cells(model, 300)
    pairs = [parse_flux(f) for f in (fluxes or default_fluxes(model))]
    gen = generator(model, p)
    a, b = flux_cumulants(gen, pairs, order=3), cumulants(gen, gen.weights(pairs), order=3)
    for name in ("c1", "S", "c3", "activity", "S_rel_err", "rho", "c3_rel_err"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15 * np.abs(y).max(), err_msg=name)


def _oscillator_scgf(w, gL, gR, TL, TR):
    """Heat-counting SCGF of one harmonic mode between two flat thermal baths (count quanta ω from L):
    λ(s) = (Γ/2)(1 − sqrt(1 − 4γ_Lγ_R/Γ² [n_L(1+n_R)(e^{ωs}−1) + n_R(1+n_L)(e^{−ωs}−1)])), Γ = γ_L + γ_R
    (the birth–death process of the mode; c₁ = ω γ_Lγ_R(n_L − n_R)/Γ)."""
    w, gL, gR = mp.mpf(w), mp.mpf(gL), mp.mpf(gR)
    nL, nR = 1 / mp.expm1(w / mp.mpf(TL)), 1 / mp.expm1(w / mp.mpf(TR))
    G = gL + gR
    return lambda s: G / 2 * (1 - mp.sqrt(1 - 4 * gL * gR / G**2 * (nL * (1 + nR) * mp.expm1(w * s)
                                                                   + nR * (1 + nL) * mp.expm1(-w * s))))


@pytest.mark.parametrize("seed", range(3))
def test_single_oscillator_cumulants_match_the_birth_death_closed_form(seed):
    """N = 1 oscillator chain (a classical birth–death process): c1, c2, c3 of J_Q[L] against the
    derivatives of the closed-form SCGF (60 digits), at a truncation where the tail is negligible.
    (The steady state is refined on the residual of L ρ = 0: the shifted factorisation alone left
    S ~1e-12 off here; see the next test for the bound.)"""
    rng = np.random.default_rng(seed)
    w = float(rng.uniform(0.5, 2))
    p = dict(omega=w, g=0.0, T_L=w * float(rng.uniform(0.1, 0.4)), T_R=w * float(rng.uniform(0.1, 0.4)),
             gamma_L=float(rng.uniform(0.01, 1)), gamma_R=float(rng.uniform(0.01, 1)))
    # Boltzmann ratio <= e^-2.5: the tail beyond 20 quanta is ~1e-22 of the weight
    ds = qtmsweep.solve("chain", N=1, stat="boson", approach="local", n_max=20, cumulants=3, fluxes=["J_Q[L]"], **p)
    mp.mp.dps = 60
    lam = _oscillator_scgf(p["omega"], p["gamma_L"], p["gamma_R"], p["T_L"], p["T_R"])
    c1, c2, c3 = (float(mp.diff(lam, 0, k)) for k in (1, 2, 3))
    assert bool(ds.classical_dynamics)
    # the mean of record is the two-point solver's, within its own bound
    assert abs(float(ds.J_Q.sel(lead="L")) - c1) <= float(ds.rel_err.sel(lead="L")) * abs(c1) + 1e-15 * abs(c1)
    np.testing.assert_allclose(float(ds.S[0, 0]), c2, rtol=1e-12)
    np.testing.assert_allclose(float(ds.c3[0]), c3, rtol=1e-11, atol=1e-13 * abs(c2))


def _mp_noise(gen, w, order=3):
    """S (and c3) of cell 0 of ``gen`` by the Drazin formulas in 50-digit arithmetic, on the same
    (binary) generator and weights: the reference for the rounding bound."""
    mp.mp.dps = 50
    L = mp.matrix(np.real(gen.matrix()[0]).tolist())
    D = L.rows
    J, r = np.real(gen.jumps), gen.rate[0]
    Lf = mp.matrix(np.einsum("k,kab->ab", r * w, J).tolist())
    L2 = mp.matrix(np.einsum("k,kab->ab", r * w**2, J).tolist())
    L3 = mp.matrix(np.einsum("k,kab->ab", r * w**3, J).tolist())
    one = mp.matrix([[1]] * D)
    A = L - mp.matrix([[1] * D] * D)  # L - 1 1ᵀ: invertible for a unique steady state
    rho = mp.lu_solve(A, -one)
    rho = rho / sum(rho)
    drazin = lambda x: mp.lu_solve(A, x - rho * sum(x))  # noqa: E731  (L - ρ1ᵀ ... on Σ = 0 vectors)
    c1 = sum(Lf * rho)
    rho1 = -drazin(Lf * rho)
    S = sum(L2 * rho) + 2 * sum(Lf * rho1)
    rho2 = -drazin(2 * (Lf * rho1 - c1 * rho1) + L2 * rho)
    c3 = 3 * sum(Lf * rho2) + 3 * sum(L2 * rho1) + sum(L3 * rho)
    return float(S), float(c3)


@pytest.mark.parametrize("seed, route", [(0, "own LU"), (3, "own LU"), (6, "own LU"), (3, "LAPACK"), (6, "LAPACK")])
def test_oscillator_noise_is_within_its_bound_of_the_50_digit_value_of_the_same_generator(seed, route, monkeypatch):
    """The 21-level oscillator (Liouvillian route) against the same Drazin formulas in 50 digits on the
    same truncated generator: |S − S_mp| ≤ S_rel_err |S| and |c3 − c3_mp| ≤ c3_rel_err |c3|.  Seeds 3
    and 6 are where the bound once claimed 5e-13 for an error of 2e-12 (S) and 3e-11 (c3): the bound
    now carries the factorisation's a-posteriori part (adjoint residuals of ρ and L^D L_f ρ).  The
    LAPACK route (zgetrf, used from ``LAPACK_MIN_D`` sector states; the threshold lowered here) too."""
    from qtmsweep.physics import counting_kernel as ck

    if route == "LAPACK":
        if ck._scipy_openblas() is None:  # pragma: no cover - scipy without its bundled OpenBLAS
            pytest.skip("the kernel keeps its own LU without scipy's OpenBLAS")
        monkeypatch.setattr(ck, "LAPACK_MIN_D", 1)
    rng = np.random.default_rng(seed)
    w = float(rng.uniform(0.5, 2))
    p = dict(omega=w, g=0.0, T_L=w * float(rng.uniform(0.1, 0.4)), T_R=w * float(rng.uniform(0.1, 0.4)),
             gamma_L=float(rng.uniform(0.01, 1)), gamma_R=float(rng.uniform(0.01, 1)))
    params = dict(N=1, stat="boson", approach="local", n_max=20, **p)
    ds = qtmsweep.solve("chain", cumulants=3, fluxes=["J_Q[L]"], **params)
    gen = generator("chain", params)
    assert gen.kind == "lindblad"  # the dense (Liouvillian) route
    S_mp, c3_mp = _mp_noise(gen, gen.weights([("J_Q", "L")])[0, :, 0])
    S, c3 = float(ds.S[0, 0]), float(ds.c3[0])
    assert abs(S - S_mp) <= float(ds.S_rel_err[0]) * abs(S), (S, S_mp, float(ds.S_rel_err[0]))
    assert abs(c3 - c3_mp) <= float(ds.c3_rel_err[0]) * abs(c3), (c3, c3_mp, float(ds.c3_rel_err[0]))
    assert float(ds.S_rel_err[0]) < 1e-11  # and still a useful bound


def test_global_oscillator_pair_is_two_independent_normal_modes():
    """Global N = 2 oscillators: modes ω± = ω ± g, each on both baths with half the rate, independent:
    S and c3 are the sums of the two modes' closed forms (cross-correlations included: J_Q[R] = −J_Q[L]
    per mode, so S_LR = −S_LL)."""
    p = dict(omega=1.3, g=0.4, T_L=0.45, T_R=0.2, gamma_L=0.07, gamma_R=0.02)
    ds = qtmsweep.solve("chain", N=2, stat="boson", approach="global", n_max=25, cumulants=3,
                        fluxes=["J_Q[L]", "J_Q[R]"], **p)
    mp.mp.dps = 60
    modes = [_oscillator_scgf(w, p["gamma_L"] / 2, p["gamma_R"] / 2, p["T_L"], p["T_R"])
             for w in (p["omega"] + p["g"], p["omega"] - p["g"])]
    c = [sum(float(mp.diff(lam, 0, k)) for lam in modes) for k in (1, 2, 3)]
    np.testing.assert_allclose(float(ds.J_Q.sel(lead="L")), c[0], rtol=1e-12)
    np.testing.assert_allclose(ds.S.values, [[c[1], -c[1]], [-c[1], c[1]]], rtol=1e-10)
    np.testing.assert_allclose(ds.c3.values, [c[2], -c[2]], rtol=1e-8)
    assert bool(ds.classical_dynamics)
