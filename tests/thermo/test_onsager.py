"""Onsager reciprocity and positivity of the exact linear response (not built into the code),
and agreement with a 60-digit complex-step derivative of independent mpmath steady states."""

from __future__ import annotations

import numpy as np
import pytest

from qtmsweep.thermo.onsager import onsager_matrix

CQD = dict(eps_L=1.0, eps_R=2.5, gamma_a=1.0, gamma_b=0.6, gamma_r=1.4)


@pytest.mark.parametrize("reduced_model", ["I", "II"])
@pytest.mark.parametrize("kappa", [-1.5, 1.5, 0.4])
@pytest.mark.parametrize("T, mu", [(1.0, 1.0), (0.5, 0.2)])
def test_cqd_onsager_matrix_is_symmetric_and_positive(reduced_model, kappa, T, mu):
    L = onsager_matrix("cqd", reduced_model=reduced_model, T=T, mu=mu, kappa=kappa, **CQD)
    scale = np.abs(L).max()
    assert scale > 0
    assert abs(L[0, 1] - L[1, 0]) <= 1e-13 * np.sqrt(abs(L[0, 0] * L[1, 1])) + 1e-16 * scale, L
    eig = np.linalg.eigvalsh(0.5 * (L + L.T))
    assert eig.min() >= -1e-9 * scale, eig


def test_model_II_has_a_thermoelectric_cross_coefficient():
    """Both forces act on reservoir b: the cross term is non-zero (so reciprocity is a real check)."""
    L = onsager_matrix("cqd", reduced_model="II", T=1.0, mu=1.0, kappa=-1.5, **CQD)
    assert abs(L[0, 1]) > 1e-3 * np.abs(L).max()


def test_sqd_linear_response_matches_the_closed_form():
    """J_N = G (f_l − f_r) ⇒ L_NN = G f(1−f), L_EN = ε L_NN, L_EE = ε² L_NN with G = γ_lγ_r/(γ_l+γ_r)."""
    eps, T, mu, gl, gr = 0.7, 0.8, 0.1, 1.0, 0.5
    L = onsager_matrix("sqd", T=T, mu=mu, eps=eps, gamma_l=gl, gamma_r=gr)
    x = (eps - mu) / T
    f = 1 / (1 + np.exp(x))
    # F_N = β_l μ_l − β_r μ_r: at fixed β, dF_N = β dμ_l and ∂f/∂μ = f(1−f)/T, so ∂J_N/∂F_N = G f(1−f);
    # F_E = β_r − β_l at fixed β_l μ_l: ∂f_l/∂F_E = ε f(1−f), so ∂J_N/∂F_E = ε G f(1−f)
    LNN = gl * gr / (gl + gr) * f * (1 - f)
    np.testing.assert_allclose(L[1, 1], LNN, rtol=1e-14)
    np.testing.assert_allclose(L[0, 1], eps * LNN, rtol=1e-14)
    np.testing.assert_allclose(L[1, 0], eps * LNN, rtol=1e-14)
    np.testing.assert_allclose(L[0, 0], eps**2 * LNN, rtol=1e-14)
    assert abs(np.linalg.det(L)) <= 1e-13 * L[0, 0] * L[1, 1]  # tight coupling: J_E = ε J_N


def _mp_cqd_flux(p, var, lead):
    """60-digit cqd steady-state flux from SPEC §2 (rates, rate matrix, lu_solve), complex-safe."""
    import mpmath as mp

    mp.mp.dps = 60
    v = dict(p)
    E = [0, v["eps_L"], v["eps_R"], v["eps_L"] + v["eps_R"] + v["kappa"]]
    W = mp.zeros(4, 4)
    edges = []
    for i, j, ld in [(0, 1, "a"), (0, 1, "b"), (2, 3, "a"), (2, 3, "b"), (0, 2, "r"), (1, 3, "r")]:
        w = E[j] - E[i]
        x = v["beta_" + ld] * w - v["alpha_" + ld]
        f = 1 / (1 + mp.e ** x)
        kin, kout = v["gamma_" + ld] * f, v["gamma_" + ld] * (1 - f)
        W[j, i] += kin
        W[i, j] += kout
        W[i, i] -= kin
        W[j, j] -= kout
        edges.append((i, j, ld, w, kin, kout))
    for c in range(4):
        W[3, c] = 1
    pop = mp.lu_solve(W, mp.matrix([0, 0, 0, 1]))
    return sum((w if var == "J_E" else 1) * (kin * pop[i] - kout * pop[j])
               for i, j, ld, w, kin, kout in edges if ld == lead)


@pytest.mark.parametrize("kappa, T, mu", [(-1.5, 1.0, 1.0), (0.8, 0.4, -0.3), (2.0, 2.0, 0.5)])
def test_cqd_onsager_matrix_matches_60_digit_complex_step_derivative(kappa, T, mu):
    """Full 3x3 response (F_E_r, F_E_b, F_N_b) with reference bath a: F_E_λ moves β_λ = β − F,
    F_N_b moves α_b = βμ + F; derivative by complex step (h = 1e-30) at 60 digits."""
    import mpmath as mp

    from qtmsweep.thermo.onsager import linear_response

    mp.mp.dps = 60
    p = dict(eps_L=0.4, eps_R=1.3, kappa=kappa, gamma_a=0.7, gamma_b=1.3, gamma_r=0.4)
    par = {**p, **{f"T_{l}": T for l in "abr"}, **{f"mu_{l}": mu for l in "abr"}}
    forces, L = linear_response("cqd", par)
    base = {**{k: mp.mpf(v) for k, v in p.items()}, **{f"beta_{l}": 1 / mp.mpf(T) for l in "abr"},
            **{f"alpha_{l}": mp.mpf(mu) / mp.mpf(T) for l in "abr"}}
    h = mp.mpf("1e-30")
    moves = {"F_E_r": ("beta_r", -1), "F_E_b": ("beta_b", -1), "F_N_b": ("alpha_b", 1)}
    fluxes = {"F_E_r": ("J_E", "r"), "F_E_b": ("J_E", "b"), "F_N_b": ("J_N", "b")}
    for j, fj in enumerate(forces):
        q = dict(base)
        name, sign = moves[fj]
        q[name] = q[name] + sign * 1j * h
        for i, fi in enumerate(forces):
            ref = float(mp.im(_mp_cqd_flux(q, *fluxes[fi])) / h)
            scale = np.sqrt(abs(L[0, i, i] * L[0, j, j]))
            assert abs(L[0, i, j] - ref) <= 1e-13 * scale, (fi, fj, L[0, i, j], ref)


@pytest.mark.parametrize("model, fixed", [
    ("qubit_fridge", dict(approach="global", eps1=1.2, eps2=2.5, delta_z=0.1, delta_x=0.4, Gamma_L=0.02,
                          Gamma_R=0.08, Gamma_C=0.06, Omega_L=1.2, Omega_R=1.3, Omega_C=2.6, eps_c=10.0)),
    ("kerr_fridge", dict(N1=3, N2=3, eps1=1.0, eps2=1.0, delta_z=0.05, Gamma_L=0.02, Gamma_R=0.08,
                         Gamma_C=0.06, Omega_L=1.0, Omega_R=1.05, Omega_C=1.05, eps_c=10.0)),
])
def test_fridge_onsager_matrix_is_symmetric_to_round_off(model, fixed):
    for T in (0.3, 1.0, 3.0):
        L = onsager_matrix(model, T=T, **fixed)
        # the two baths' scales differ by 1e4 here: round-off is relative to the largest coefficient
        assert abs(L[0, 1] - L[1, 0]) <= 1e-13 * np.abs(L).max(), L
        assert abs(L[0, 1] - L[1, 0]) <= 1e-12 * np.sqrt(L[0, 0] * L[1, 1]), L
        assert np.linalg.eigvalsh(L).min() > 0


def test_onsager_analysis_of_a_grid_of_equilibrium_points():
    import qtmsweep
    from qtmsweep.thermo.onsager import onsager_dataset

    T = np.array([0.3, 1.0, 2.0])
    ds = qtmsweep.solve("cqd", T_a=qtmsweep.grid(T=T)["T"].rename(T="T_a"), **{
        "T_b": qtmsweep.grid(T=T)["T"].rename(T="T_a"), "T_r": qtmsweep.grid(T=T)["T"].rename(T="T_a")},
        eps_L=1.0, eps_R=2.5, kappa=-1.5, mu_a=0.2, mu_b=0.2, mu_r=0.2, gamma_a=1.0, gamma_b=0.6, gamma_r=1.4)
    out = onsager_dataset(ds)
    assert out.L.dims == ("T_a", "force", "force_") and bool(out.equilibrium.all())
    assert float(out.asymmetry.max()) < 1e-13
    for k, t in enumerate(T):
        single = onsager_matrix("cqd", reduced_model="II", T=t, mu=0.2, eps_L=1.0, eps_R=2.5, kappa=-1.5,
                                gamma_a=1.0, gamma_b=0.6, gamma_r=1.4)
        np.testing.assert_allclose(out.L.isel(T_a=k).sel(force=["F_E_b", "F_N_b"], force_=["F_E_b", "F_N_b"]),
                                   single, rtol=1e-14)


@pytest.mark.parametrize("delta_x", [0.0, 0.35])
def test_qubit_fridge_global_onsager_matches_60_digit_complex_step(delta_x):
    """(F_E_L, F_E_C) with reference bath R: F_E_λ moves β_λ = β − F; the 60-digit secular rate
    process of tests/physics/fcs_reference (eigenbasis from mpmath, filtered Bose rates) is solved
    at β_λ − i h and the derivative read off the imaginary part (h = 1e-30)."""
    import mpmath as mp

    from tests.physics import fcs_reference as ref

    mp.mp.dps = 60
    T = 0.9
    fixed = dict(approach="global", eps1=1.2, eps2=2.5, delta_z=0.1, delta_x=delta_x, Gamma_L=0.05,
                 Gamma_R=0.08, Gamma_C=0.06, Omega_L=1.2, Omega_R=1.3, Omega_C=2.6, eps_c=10.0)
    L = onsager_matrix("qubit_fridge", T=T, **fixed)
    h = mp.mpf("1e-30")
    numeric = {k: v for k, v in fixed.items() if k != "approach"}

    def flux(lead_T, lead_J):
        p = {**numeric, "T_L": T, "T_R": T, "T_C": T}
        beta = 1 / mp.mpf(T)
        p[f"T_{lead_T}"] = 1 / (beta + 1j * h)
        d, jumps = ref.fridge_global_jumps(p, lambda l, w, n, mu: w if l == lead_J else 0)
        W = mp.zeros(d, d)
        for i, j, r, _ in jumps:
            W[j, i] += r
            W[i, i] -= r
        for c in range(d):
            W[d - 1, c] = 1
        pop = mp.lu_solve(W, mp.matrix([0] * (d - 1) + [1]))
        return sum(r * w * pop[i] for i, j, r, w in jumps)

    for a, la in enumerate("LC"):
        for b, lb in enumerate("LC"):
            # β_λ = β + i h corresponds to F_E_λ = −i h: dJ/dF = −Im J / h
            refv = -float(mp.im(flux(lb, la)) / h)
            # delta_x = 0: L_CC is ~1/4400 of the direct and correction terms of dJ = t'dL rho + t'L drho
            # (C's push around the one cycle is of order delta_z); the network form of the response
            # (counting._equilibrium_response) has no such cancellation: was 1.4e-12, now ~1e-15
            assert abs(L[a, b] - refv) <= 1e-13 * np.sqrt(L[a, a] * L[b, b]), (la, lb, L[a, b], refv)
            assert abs(L[a, b] - refv) <= 1e-13 * abs(refv), (la, lb, L[a, b], refv)
    assert abs(L[0, 1] - L[1, 0]) <= 1e-14 * np.sqrt(L[0, 0] * L[1, 1])


def test_kerr_onsager_matrix_matches_60_digit_central_differences():
    """kerr_fridge N1 = N2 = 3 at equilibrium (network form of the response, counting._equilibrium_response)
    against central differences of the 60-digit reference solve (tests/physics/reference.mp_kerr; step
    1e-20 in beta_lambda = beta - F, truncation error ~1e-40)."""
    import mpmath as mp

    from tests.physics.reference import mp_kerr

    fixed = dict(eps1=1.0, eps2=1.2, delta_z=0.15, Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06, Omega_L=1.0,
                 Omega_R=1.05, Omega_C=1.3, eps_c=10.0)
    T = 0.4
    L = onsager_matrix("kerr_fridge", T=T, N1=3, N2=3, **fixed)
    with mp.workdps(60):
        h = mp.mpf("1e-20")

        def J(lead_T, F):
            p = {**fixed, "T_L": mp.mpf(T), "T_R": mp.mpf(T), "T_C": mp.mpf(T)}
            p[f"T_{lead_T}"] = 1 / (1 / mp.mpf(T) - F)
            return mp_kerr(p, 3, 3)[1]

        for b, lb in enumerate("LC"):
            up, down = J(lb, h), J(lb, -h)
            for a, la in enumerate("LC"):
                k = "LRC".index(la)
                refv = float((up[k] - down[k]) / (2 * h))
                assert abs(L[a, b] - refv) <= 1e-13 * abs(refv), (la, lb, L[a, b], refv)
    assert abs(L[0, 1] - L[1, 0]) <= 1e-14 * np.sqrt(L[0, 0] * L[1, 1])


def test_network_response_only_at_equilibrium_cells_of_a_mixed_grid():
    """A grid with equilibrium and driven cells: the equilibrium ones take the network form, the others
    the generic derivative; each equals its own single-cell result."""
    from qtmsweep.thermo.onsager import linear_response

    base = dict(eps_L=1.0, eps_R=2.5, kappa=-1.5, mu_a=0.2, mu_b=0.2, mu_r=0.2, gamma_a=1.0, gamma_b=0.6,
                gamma_r=1.4, T_a=1.0, T_r=1.0)
    T_b = np.array([1.0, 1.3, 1.0, 0.7])
    _, grid = linear_response("cqd", dict(base, T_b=T_b))
    for k, t in enumerate(T_b):
        _, one = linear_response("cqd", dict(base, T_b=float(t)))
        np.testing.assert_allclose(grid[k], one[0], rtol=1e-15, atol=0)
    assert not np.allclose(grid[1], grid[0])  # off equilibrium the differential response differs


def test_onsager_analysis_of_a_sweep_store_of_equilibrium_points(tmp_path):
    """A sweep over (eps_L, kappa) with every bath at one T and mu: open the store, get L per cell."""
    import qtmsweep
    from qtmsweep.sweep import RunOptions, run_sweep, validate_config
    from qtmsweep.thermo.onsager import onsager_dataset

    fixed = dict(eps_R=2.5, T_a=0.7, T_b=0.7, T_r=0.7, mu_a=0.1, mu_b=0.1, mu_r=0.1,
                 gamma_a=1.0, gamma_b=0.6, gamma_r=1.4)
    cfg = validate_config({"sweeps": {"eq": {
        "model": "cqd", "fixed": fixed,
        "grid": {"eps_L": {"linspace": [-1.0, 2.0, 4]}, "kappa": {"values": [-1.5, 0.0, 0.8]}},
        "chunks": {"eps_L": 2}}}, "dask": {"cluster": "inline"}})
    run_sweep(cfg, "eq", tmp_path / "eq.zarr", RunOptions(cluster="inline", progress=False))
    ds = qtmsweep.open_store(tmp_path / "eq.zarr", load=True)
    out = onsager_dataset(ds)
    assert out.L.dims == ("eps_L", "kappa", "force", "force_") and bool(out.equilibrium.all())
    assert float(out.asymmetry.max()) < 1e-13
    e, k = 2, 0
    single = onsager_matrix("cqd", reduced_model="II", T=0.7, mu=0.1, eps_L=float(ds.eps_L[e]), eps_R=2.5,
                            kappa=float(ds.kappa[k]), gamma_a=1.0, gamma_b=0.6, gamma_r=1.4)
    np.testing.assert_allclose(out.L.isel(eps_L=e, kappa=k).sel(force=["F_E_b", "F_N_b"],
                                                                  force_=["F_E_b", "F_N_b"]), single, rtol=1e-14)
    # fluctuation-dissipation against the store's own data is the counting tests' job; here: L is
    # positive semidefinite in every cell (second law near equilibrium; at kappa = 0 the dots decouple
    # and one combination of forces drives nothing: an eigenvalue 0 to round-off)
    ev = np.linalg.eigvalsh(out.L.values.reshape(-1, *out.L.shape[-2:]))
    assert (ev.min(axis=1) >= -1e-14 * ev.max(axis=1)).all()
    assert (ev.min(axis=1).reshape(4, 3)[:, [0, 2]] > 1e-6).all()  # coupled dots: definite
