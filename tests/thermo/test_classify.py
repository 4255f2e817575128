"""ICC classification (SPEC §3): second law, impossible labels, 000's claims, hand-checked cells."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.physics.reduced import force_space_parameters
from qtmsweep.thermo.classify import CELL, CELL_REGIMES, FLUX, FLUX_REGIMES, classify, regime_name, resolve_pair

from ..conftest import random_sqd

PAPER = dict(eps_L=1.0, eps_R=2.5, gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)


def plane(rm, F1, F2, *, kappa, mu_r=0.0, **over):
    """cqd on a force-space grid of reduced model ``rm`` at 000's parameters (kappa, mu_r may be lists)."""
    name = "F_E_r" if rm == "I" else "F_E_b"
    extra = {k: v for k, v in (("kappa", kappa), ("mu_r", mu_r)) if np.ndim(v)}
    g = qtmsweep.grid(**{name: F1}, F_N_b=F2, **extra)
    ref = {"beta_r": 1.0} if rm == "I" else {"beta_b": 1.0}
    p = force_space_parameters(rm, **{name: g[name]}, F_N_b=g["F_N_b"], mu_b=1.0, **ref)
    scalars = {k: v for k, v in (("kappa", kappa), ("mu_r", mu_r)) if not np.ndim(v)}
    return qtmsweep.solve("cqd", **p, **{k: g[k] for k in extra}, **scalars, **{**PAPER, **over})


def random_reduced(rm, n, seed):
    """Random cqd cells of reduced model I (T_a = T_b) or II (T_a = T_r)."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(0.2, 3, n)
    p = {"eps_L": rng.uniform(-2, 2, n), "eps_R": rng.uniform(-2, 3, n), "kappa": rng.uniform(-2, 2, n),
         "mu_a": rng.uniform(-1, 1, n), "mu_b": rng.uniform(-1, 1, n), "mu_r": rng.uniform(-1, 3, n),
         "gamma_a": rng.uniform(0.1, 2, n), "gamma_b": rng.uniform(0.1, 2, n), "gamma_r": rng.uniform(0.1, 2, n),
         "T_a": T, "T_b": T if rm == "I" else rng.uniform(0.2, 3, n), "T_r": T if rm == "II" else rng.uniform(0.2, 3, n)}
    return qtmsweep.solve("cqd", **p)


def near_equilibrium(rm, scale):
    """Forces of size ~scale in all four quadrants: where round-off could flip signs."""
    f = scale * np.array([-3.0, -1.0, 0.0, 1.0, 2.0])
    return plane(rm, f, f, kappa=[1.5, -1.5], mu_r=[0.0, 3.0])


def datasets():
    yield "I paper plane", plane("I", np.linspace(-0.5, 2, 26), np.linspace(-6, 6, 25), kappa=[1.5, -1.5]), "I"
    yield "II paper plane", plane("II", np.linspace(-0.5, 3, 29), np.linspace(-6, 6, 25), kappa=[1.5, -1.5],
                                  mu_r=[0.0, 2.5, 3.0, 4.0]), "II"
    for rm in ("I", "II"):
        yield f"{rm} random", random_reduced(rm, 4000, seed=7 if rm == "I" else 8), rm
        for s in (1e-13, 1e-9, 1e-4):
            yield f"{rm} near equilibrium {s:g}", near_equilibrium(rm, s), rm
    yield "sqd random", qtmsweep.solve("sqd", **random_sqd(4000, seed=9)), None


DATASETS = list(datasets())
IDS = [d[0] for d in DATASETS]


@pytest.mark.parametrize("name, ds, rm", DATASETS, ids=IDS)
def test_second_law_holds_in_every_classified_cell(name, ds, rm):
    c = classify(ds, rm)
    classified = ~c.undetermined & (c.regime != CELL["not_reduced"])
    pair = resolve_pair(ds, rm)
    scale = sum(abs(ds[v].sel(lead=lead) * ds[f]) for (v, lead), f in zip(pair.fluxes, pair.forces))
    assert int(classified.sum()) > 0
    assert bool((ds.sigma >= -1e-12 * scale).where(classified, True).all()), name
    if "sigma_micro" in ds:
        assert bool((ds.sigma_micro >= 0).where(classified, True).all())


@pytest.mark.parametrize("name, ds, rm", DATASETS, ids=IDS)
def test_both_fluxes_against_both_forces_is_never_reported(name, ds, rm):
    c = classify(ds, rm)
    f1, f2 = c.attrs["flux_pair"]
    assert int((c.regime == CELL["second_law_violation"]).sum()) == 0
    assert not bool((c[f"icc_{f1}"] & c[f"icc_{f2}"]).any())
    driven = FLUX["driven"]
    assert not bool(((c[f"regime_{f1}"] == driven) & (c[f"regime_{f2}"] == driven)).any())
    for f in (f1, f2):
        assert int((c[f"regime_{f}"] == FLUX["second_law_violation"]).sum()) == 0


def test_a_second_law_violating_cell_would_be_reported_not_hidden():
    """The label exists: fluxes flipped by hand against both forces are reported, so the tests above can fail."""
    ds = qtmsweep.solve("sqd", eps=1.0, T_l=2.0, T_r=1.0, mu_l=1.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
    assert regime_name(classify(ds).regime) == "normal"
    bad = ds.copy()
    bad["J_E"] = -ds.J_E
    bad["J_N"] = -ds.J_N
    c = classify(bad)
    assert regime_name(c.regime) == "second_law_violation"


@pytest.mark.parametrize("kappa", [1.5, -1.5])
@pytest.mark.parametrize("mu_r", [0.0, 1.0, 3.0])
def test_model_I_J_N_b_is_never_icc_at_the_000_parameters(kappa, mu_r):
    ds = plane("I", np.linspace(0, 2, 41), np.linspace(0, 8, 41), kappa=kappa, mu_r=mu_r)
    c = classify(ds, "I")
    assert int(c.icc_J_N_b.sum()) == 0
    assert int(c.pseudo_icc_J_N_b.sum()) == 0
    assert int(c.icc_J_E_r.sum()) > 0  # the pair is not trivially empty


@pytest.mark.parametrize("kappa", [1.5, -1.5])
def test_model_I_has_icc_in_J_E_r_at_small_F_E_r_and_large_F_N_b(kappa):
    """000 Fig. 4: genuine ICC in J_E[r] for small F_E_r and large F_N_b, for both signs of kappa."""
    ds = plane("I", [0.02, 0.05, 1.0, 2.0], [0.5, 6.0, 8.0], kappa=kappa)
    c = classify(ds, "I")
    for F_E_r in (0.02, 0.05):
        for F_N_b in (6.0, 8.0):
            assert regime_name(c.regime.sel(F_E_r=F_E_r, F_N_b=F_N_b)) == "icc"
            assert bool(c.icc_J_E_r.sel(F_E_r=F_E_r, F_N_b=F_N_b))
    for F_E_r in (1.0, 2.0):
        assert regime_name(c.regime.sel(F_E_r=F_E_r, F_N_b=0.5)) == "normal"
    # "left of the line": in every row the ICC cells come before the non-ICC ones
    icc = c.icc_J_E_r.transpose("F_N_b", "F_E_r").values
    assert all(np.all(np.diff(row.astype(int)) <= 0) for row in icc)


def test_model_I_on_the_axes_matches_000_fig3():
    """F_N_b = 0: J_N[b] = 0 exactly (undetermined, not a cross effect); F_E_r = 0: pseudo-ICC in J_E[r]."""
    ds = plane("I", [0.0, 0.5, 1.0], [0.0, 1.0, 3.0], kappa=[1.5, -1.5])
    c = classify(ds, "I")
    axis = ds.sel(F_N_b=0.0).isel(F_E_r=slice(1, None))
    assert bool((axis.J_N.sel(lead="b") == 0).all())
    assert bool((c.regime_J_N_b.sel(F_N_b=0.0).isel(F_E_r=slice(1, None)) == FLUX["undetermined"]).all())
    assert bool((c.regime_J_E_r.sel(F_N_b=0.0).isel(F_E_r=slice(1, None)) == FLUX["normal"]).all())
    assert bool((c.pseudo_icc_J_E_r.sel(F_E_r=0.0).isel(F_N_b=slice(1, None))).all())
    assert regime_name(c.regime.sel(F_E_r=0.0, F_N_b=0.0, kappa=1.5)) == "equilibrium"


def test_model_II_has_genuine_icc_in_J_N_b_for_negative_kappa_only():
    """000 Fig. 6a (kappa = -1.5; needs mu_r > 2, docs/reproduce.md); none for kappa = +1.5."""
    F1, F2 = np.linspace(0, 3, 31), np.linspace(0, 6, 31)
    neg = classify(plane("II", F1, F2, kappa=-1.5, mu_r=3.0), "II")
    pos = classify(plane("II", F1, F2, kappa=1.5, mu_r=3.0), "II")
    assert int(neg.icc_J_N_b.sum()) > 0 and int(neg.icc_J_E_b.sum()) > 0
    assert int(pos.icc_J_N_b.sum()) == 0 and int(pos.icc_J_E_b.sum()) == 0
    assert regime_name(neg.regime.sel(F_E_b=2.0, F_N_b=0.2)) == "icc" and bool(neg.icc_J_N_b.sel(F_E_b=2.0, F_N_b=0.2))
    # Fig. 6: the two ICC regions do not overlap; J_N's lies below J_E's in every column
    for col in range(1, F1.size):
        n = np.flatnonzero(neg.icc_J_N_b.isel(F_E_b=col).values)
        e = np.flatnonzero(neg.icc_J_E_b.isel(F_E_b=col).values)
        if n.size and e.size:
            assert n.max() < e.min()


def test_model_II_has_no_icc_when_mu_r_is_low():
    c = classify(plane("II", np.linspace(0, 3, 31), np.linspace(0, 6, 31), kappa=-1.5, mu_r=[0.0, 1.0, 2.0]), "II")
    assert int(c.icc_J_N_b.sum()) == 0 and int(c.icc_J_E_b.sum()) == 0


def sqd_cell(eps, T_l, mu_l, T_r=1.0, mu_r=0.0):
    return qtmsweep.solve("sqd", eps=eps, T_l=T_l, T_r=T_r, mu_l=mu_l, mu_r=mu_r, gamma_l=1.0, gamma_r=0.5)


# Hand checks from the closed form: J_N[l] = G (f_l − f_r), so sign(J_N[l]) = sign(x_r − x_l) with
# x = (ε − μ)/T, and x_r − x_l = ε F_E_l + F_N_l (F_E_l = β_r − β_l, F_N_l = β_l μ_l − β_r μ_r); J_E = ε J_N.
HAND = [
    # eps, T_l, mu_l, mu_r, F_E, F_N, eps F_E + F_N, cell regime, J_E regime, J_N regime
    (1.0, 2.0, 0.0, 0.0, 0.5, 0.0, 0.5, "cross_effect", "normal", "cross_effect"),      # Seebeck (eps > mu)
    (-1.0, 2.0, 0.0, 0.0, 0.5, 0.0, -0.5, "pseudo_icc", "normal", "pseudo_icc"),        # unconventional Seebeck
    (1.0, 1.0, 0.5, 0.0, 0.0, 0.5, 0.5, "cross_effect", "cross_effect", "normal"),      # Peltier
    (-1.0, 1.0, 0.5, 0.0, 0.0, 0.5, 0.5, "pseudo_icc", "pseudo_icc", "normal"),         # unconventional Peltier
    (1.0, 2.0, 2.0, 0.0, 0.5, 1.0, 1.5, "normal", "normal", "normal"),
    (-1.0, 2.0, 2.0, 0.0, 0.5, 1.0, 0.5, "icc", "icc", "normal"),                       # J_E against both
    (-1.0, 2.0, 0.4, 0.0, 0.5, 0.2, -0.3, "icc", "normal", "icc"),                      # J_N against both
    (2.0, 2.0, 0.0, 0.5, 0.5, -0.5, 0.5, "engine", "driving", "driven"),                # J_N pushed up its force
    (1.0, 2.0, 0.0, 1.0, 0.5, -1.0, -0.5, "refrigerator", "driven", "driving"),         # J_E pushed up its force
    (1.0, 1.0, 0.3, 0.3, 0.0, 0.0, 0.0, "equilibrium", "equilibrium", "equilibrium"),
]


@pytest.mark.parametrize("eps, T_l, mu_l, mu_r, F_E, F_N, drive, cell, reg_E, reg_N", HAND)
def test_regime_of_hand_checked_sqd_cells(eps, T_l, mu_l, mu_r, F_E, F_N, drive, cell, reg_E, reg_N):
    ds = sqd_cell(eps, T_l, mu_l, mu_r=mu_r)
    assert float(ds.F_E_l) == pytest.approx(F_E, abs=1e-15) and float(ds.F_N_l) == pytest.approx(F_N, abs=1e-15)
    assert np.sign(float(ds.J_N.sel(lead="l"))) == np.sign(drive)  # the closed-form sign rule
    c = classify(ds)
    assert regime_name(c.regime) == cell
    assert regime_name(c.regime_J_E_l, flux=True) == reg_E
    assert regime_name(c.regime_J_N_l, flux=True) == reg_N


def test_sqd_with_eps_above_mu_shows_no_icc_anywhere():
    """001 §VII: J_E = ε J_N with ε > 0 aligns the currents: no ICC, no pseudo-ICC."""
    rng = np.random.default_rng(3)
    n = 3000
    ds = qtmsweep.solve("sqd", eps=rng.uniform(0.05, 2, n), T_l=rng.uniform(0.2, 3, n), T_r=rng.uniform(0.2, 3, n),
                        mu_l=rng.uniform(-1, 1, n), mu_r=rng.uniform(-1, 1, n), gamma_l=1.0, gamma_r=1.0)
    c = classify(ds)
    assert not bool(c.regime.isin([CELL["icc"], CELL["pseudo_icc"]]).any())


def test_labels_are_sign_normalised():
    """Swapping leads l and r flips both forces and both fluxes: every label must stay the same."""
    p = random_sqd(2000, seed=11)
    ds = qtmsweep.solve("sqd", **p)
    swapped = qtmsweep.solve("sqd", eps=p["eps"], T_l=p["T_r"], T_r=p["T_l"], mu_l=p["mu_r"], mu_r=p["mu_l"],
                             gamma_l=p["gamma_r"], gamma_r=p["gamma_l"])
    np.testing.assert_allclose(swapped.F_E_l, -ds.F_E_l, rtol=1e-12, atol=1e-15)
    a, b = classify(ds), classify(swapped)
    np.testing.assert_array_equal(a.regime, b.regime)
    np.testing.assert_array_equal(a.regime_J_N_l, b.regime_J_N_l)
    np.testing.assert_array_equal(a.quadrant.where(a.quadrant > 0, 0) % 2, b.quadrant.where(b.quadrant > 0, 0) % 2)


def _mp_signs(ds, var_leads):
    """Signs of the currents ``[(var, lead), ...]`` of every cell of a cqd dataset, from the 60-digit
    reference (tests/physics/reference.py: SPEC §2 rates, mpmath solve; no package code)."""
    import mpmath as mp

    from tests.physics.reference import mp_pauli_cqd

    names = ("eps_L", "eps_R", "kappa", "T_a", "T_b", "T_r", "mu_a", "mu_b", "mu_r", "gamma_a", "gamma_b", "gamma_r")
    ref = ds["sigma"]
    vals = {k: (ds[k].broadcast_like(ref).values.ravel() if k in ds.variables else
                np.full(ref.size, float(ds.attrs[k]))) for k in names}
    out = np.zeros((ref.size, len(var_leads)), dtype=int)
    for i in range(ref.size):
        _, JE, JN = mp_pauli_cqd({k: float(v[i]) for k, v in vals.items()})
        for f, (var, lead) in enumerate(var_leads):
            x = (JE if var == "J_E" else JN)["abr".index(lead)]
            out[i, f] = int(mp.sign(x))
    return out.reshape(ref.shape + (len(var_leads),))


def test_signs_at_forces_of_1e_10_are_resolved_by_the_bounds_and_right():
    """Forces of 1e-10 (issue 11): the currents are ~1e-11 of the gross traffic, below the former
    current_rtol = 1e-9 (everything was undetermined), but cqd's per-lead bounds are <= 2.4e-11: every
    cell is classified, every flux sign is the 60-digit reference's, and the regimes are those of the
    reference currents."""
    from qtmsweep.thermo.classify import current_scales, rel_err_of, resolved_sign

    F = [-2e-10, -1e-10, 1e-10, 3e-10]
    ds = plane("II", F, F, kappa=-1.5, mu_r=3.0)
    assert float(ds.rel_err.max()) < 1e-10  # the sign is guaranteed many times over
    c = classify(ds, "II")
    assert not bool(c.undetermined.any())
    fluxes = [("J_E", "b"), ("J_N", "b")]
    exact = _mp_signs(ds, fluxes)
    G = current_scales(ds)
    for f, (var, lead) in enumerate(fluxes):
        s = resolved_sign(ds[var].sel(lead=lead, drop=True), G[f"G_{var[-1]}"].sel(lead=lead, drop=True),
                          rel_err_of(ds, lead))
        np.testing.assert_array_equal(s.transpose(*ds.sigma.dims).values, exact[..., f])
    ref = ds.copy()
    for f, (var, lead) in enumerate(fluxes):  # the reference's signs with the computed magnitudes
        ref[var].loc[{"lead": lead}] = np.abs(ds[var].sel(lead=lead)) * exact[..., f]
    np.testing.assert_array_equal(classify(ref, "II").regime, c.regime)
    old = classify(ds, "II", current_rtol=1e-9)  # the former default: nothing resolved
    assert bool(old.undetermined.all())


def test_sqd_signs_at_forces_of_1e_10_follow_linear_response():
    """sqd at 1e-10 from an equilibrium point: J = L F to O(F^2) with the exact Onsager matrix
    (thermo.onsager), so the resolved signs are those of L F; every one is resolved."""
    from qtmsweep.thermo.onsager import onsager_matrix

    rng = np.random.default_rng(21)
    T, mu, eps = 1.3, 0.2, 0.7
    dF = rng.uniform(-1, 1, (12, 2)) * 1e-10
    beta = 1 / T
    # F_E_l = beta_r - beta_l, F_N_l = beta_l mu_l - beta_r mu_r (reference lead r fixed)
    beta_l = beta - dF[:, 0]
    mu_l = (beta * mu + dF[:, 1]) / beta_l
    ds = qtmsweep.solve("sqd", eps=eps, T_l=1 / beta_l, mu_l=mu_l, T_r=T, mu_r=mu, gamma_l=1.0, gamma_r=0.5)
    L = onsager_matrix("sqd", eps=eps, T=T, mu=mu, gamma_l=1.0, gamma_r=0.5)
    Fs = np.stack([ds.F_E_l.values, ds.F_N_l.values], axis=1)
    lin = Fs @ L.T  # (cells, [J_E_l, J_N_l])
    c = classify(ds)
    assert not bool(c.undetermined.any())
    np.testing.assert_array_equal(np.sign(ds.J_E.sel(lead="l").values), np.sign(lin[:, 0]))
    np.testing.assert_array_equal(np.sign(ds.J_N.sel(lead="l").values), np.sign(lin[:, 1]))
    np.testing.assert_allclose(ds.J_N.sel(lead="l").values, lin[:, 1], rtol=1e-6)


def test_signs_the_bound_does_not_resolve_stay_undetermined():
    """A bound of 0.6 (x err_factor 2 >= 1), an exact zero, or a kernel's inf (cqd R4's J_Q[a], whose
    exact value is -7.5e-36 next to currents of 0.1) leave the sign undetermined, not guessed."""
    from qtmsweep.thermo.performance import mode_name, performance

    F = [-2e-10, 1e-10]
    ds = plane("II", F, F, kappa=-1.5, mu_r=3.0)
    loose = ds.copy()
    loose["rel_err"] = xr.where(loose["lead"] == "b", 0.6, loose["rel_err"])
    assert bool(classify(loose, "II").undetermined.all())
    zero = ds.copy()
    zero["J_N"] = xr.where(zero["lead"] == "b", 0.0, zero["J_N"])
    assert bool(classify(zero, "II").undetermined.all())
    r4 = dict(eps_L=-0.9420556337728545, eps_R=-1.1769637529878922, kappa=1.6729819847662064,
              T_a=0.019594275778311118, T_b=0.004408481027100662, T_r=0.04261639029878174,
              mu_a=0.7309263509933519, mu_b=2.398466146124994, mu_r=2.0524465997473245, gamma_a=0.3812523939295796,
              gamma_b=1.641118536131804, gamma_r=0.22842198416457782)
    cell = qtmsweep.solve("cqd", **r4)
    assert float(cell.rel_err.sel(lead="a")) == np.inf and float(cell.J_Q.sel(lead="a")) != 0
    assert mode_name(performance(cell)["mode"]) == "undetermined"


def test_a_force_within_force_rtol_of_its_scale_is_zero():
    """|F| <= 1e-12 max(beta terms) counts as zero (grids built by arithmetic); 1e-10 does not."""
    c = classify(plane("II", [1e-14, 1e-10], [0.0], kappa=-1.5, mu_r=3.0), "II").squeeze("F_N_b")
    assert regime_name(c.regime.sel(F_E_b=1e-14)) == "equilibrium"
    assert regime_name(c.regime.sel(F_E_b=1e-10), flux=False) in ("undetermined", "cross_effect", "pseudo_icc")
    assert regime_name(classify(plane("II", [1e-14], [0.0], kappa=-1.5, mu_r=3.0), "II", force_rtol=0.0)
                       .regime.squeeze()) != "equilibrium"


def test_nan_cells_are_undetermined():
    ds = sqd_cell(1.0, 2.0, 0.0)
    ds["J_N"] = ds.J_N * np.nan
    assert regime_name(classify(ds).regime) == "undetermined"


def test_labels_carry_cf_flags_and_booleans_agree():
    c = classify(plane("II", np.linspace(0, 3, 11), np.linspace(0, 6, 11), kappa=-1.5, mu_r=3.0), "II")
    assert c.regime.dtype == np.int8
    assert c.regime.attrs["flag_meanings"].split() == list(CELL_REGIMES)
    assert c.regime.attrs["flag_values"] == list(range(len(CELL_REGIMES)))
    assert c.regime_J_N_b.attrs["flag_meanings"].split() == list(FLUX_REGIMES)
    for f in ("J_E_b", "J_N_b"):
        xr.testing.assert_equal(c[f"icc_{f}"], (c[f"regime_{f}"] == FLUX["icc"]).assign_attrs(c[f"icc_{f}"].attrs))
    assert c.attrs["forces_parallel"] is True and c.attrs["reduced_model"] == "II"
    assert classify(plane("I", [0.0, 1.0], [0.0, 1.0], kappa=1.5), "I").attrs["forces_parallel"] is False


def test_general_three_terminal_cells_are_not_reduced_and_the_pair_is_not_guessed():
    ds = qtmsweep.solve("cqd", eps_L=1.0, eps_R=2.5, kappa=-1.5, T_a=1.0, T_b=1.5, T_r=2.0, mu_a=0.0, mu_b=1.0,
                        mu_r=0.0, gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)
    assert regime_name(classify(ds, "I").regime) == "not_reduced"
    with pytest.raises(ValueError, match="reduced_model"):
        classify(ds)


def test_each_flux_sign_uses_its_own_leads_bound():
    """SPEC §5: an unresolved bound on lead b (rel_err[b] >= 1/2) makes J_N[b] undetermined in that cell
    only; a bound on lead a (not in model II's pair) changes nothing; an old per-cell rel_err still reads."""
    ds = plane("II", [0.3, 0.6], [1.0, 2.0], kappa=-1.5, mu_r=3.0)
    base = classify(ds, "II")
    assert not bool(base.undetermined.any())
    loose = ds.copy(deep=True)
    loose["rel_err"].loc[dict(F_E_b=0.3, F_N_b=1.0, lead="b")] = np.inf
    loose["rel_err"].loc[dict(lead="a")] = np.inf
    c = classify(loose, "II")
    assert bool(c.undetermined.sel(F_E_b=0.3, F_N_b=1.0))
    assert int(c.undetermined.sum()) == 1
    legacy = ds.copy(deep=True)
    legacy["rel_err"] = ds.rel_err.max("lead")
    np.testing.assert_array_equal(classify(legacy, "II").regime, base.regime)
