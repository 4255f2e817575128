"""Refrigerator and rectifier figures: the data behind each is checked against facts of the seed
papers that the code did not produce (003 Eqs. 10, 11; 004 Eqs. 12–14, 21–22, 25; SPEC §2)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.analysis import analyze
from qtmsweep.plot import FIGURE_KINDS, figure_data, plot_figure
from qtmsweep.sweep.config import validate_config
from qtmsweep.sweep.grid import build_plan
from qtmsweep.thermo.fridge import cooling_name, fridge_variables

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FRIDGE = dict(eps1=2.0, eps2=2.0, delta_x=0.0, T=1.0, Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06,
              filters="resonant", eps_c=20.0)
CHAIN = dict(stat="qubit", omega=1.0, gamma_R=0.02)


def n_bose(w, T):
    return 1.0 / np.expm1(w / T)


def coth(x):
    return 1.0 / np.tanh(x)


def sweep_dataset(sweep: dict, name: str = "s") -> xr.Dataset:
    """What a sweep store holds, computed in memory from a config (a reverse: block included)."""
    plan = build_plan(validate_config({"sweeps": {name: sweep}}), name, probe=False)
    ds = plan.compute(tuple(slice(0, n) for n in plan.shape))
    ds.attrs.update({"sweep": name, **{k: v for k, v in sweep["fixed"].items()}})
    return ds


@pytest.fixture(scope="module")
def fig3():
    g = qtmsweep.grid(dT=np.linspace(0.01, 0.9, 46), delta_z=[0.05, 0.1, 0.3])
    return qtmsweep.solve("qubit_fridge", approach="local", **g, **FRIDGE)


@pytest.fixture(scope="module")
def fig5():
    p = dict(FRIDGE, eps2=2.1, dT=0.1, eps_c=10.0)
    p.pop("delta_x")
    g = qtmsweep.grid(delta_z=np.linspace(0.01, 1.0, 34), delta_x=[0.0, 0.002, 0.02])
    return [qtmsweep.solve("qubit_fridge", approach=a, **g, **p) for a in ("local", "global")]


@pytest.fixture(scope="module")
def kerr():
    g = qtmsweep.grid(dT=np.linspace(0.01, 0.9, 19))
    return [qtmsweep.solve("kerr_fridge", N1=N, N2=N, eps1=1.0, eps2=1.0, delta_z=0.05, T=1.0, Gamma_L=0.02,
                           Gamma_R=0.08, Gamma_C=0.06, filters="resonant", eps_c=10.0, **g) for N in (3, 2, 4)]


@pytest.fixture(scope="module")
def rectifier():
    base = {"fixed": {"N": 2, "approach": "global", "g": 0.8, "T_R": 0.004, **CHAIN},
            "grid": {"gamma_L": {"values": [0.001, 0.01]}, "T_L": {"geomspace": [0.05, 50.0, 25]}},
            "reverse": [["T_L", "T_R"]], "model": "chain"}
    one = {**base, "fixed": {**base["fixed"], "N": 1, "approach": "local"}}
    return sweep_dataset(base, "two"), sweep_dataset(one, "one")


# -- 003 ------------------------------------------------------------------------------------------
def test_cooling_flips_where_eq10_says_in_the_ideal_filter_limit():
    """003 Eq. 10: with narrow L/R filters C is cooled iff beta_C delta_z < beta_L eps1."""
    T_L, T_C, eps1 = 1.3, 0.7, 2.0
    edge = eps1 * T_C / T_L
    g = qtmsweep.grid(delta_z=edge * np.array([0.5, 0.9, 1.1, 1.5]))
    ds = qtmsweep.solve("qubit_fridge", approach="local", **{**FRIDGE, "Gamma_L": 1e-4, "Gamma_R": 1e-4}, dT=0.3, **g)
    data = figure_data("fridge_cuts", ds, x="delta_z")
    assert data.cooling.isel(set=0).values.tolist() == [1, 1, -1, -1]


def test_fridge_cuts_currents_are_linear_in_dT_as_eq11(fig3):
    """003 Eq. 11: J_C is proportional to dT at small bias (ratio 2 on doubling dT)."""
    g = qtmsweep.grid(dT=[0.0025, 0.005], delta_z=[0.1, 0.3])
    ds = qtmsweep.solve("qubit_fridge", approach="local", **g, **FRIDGE)
    J = figure_data("fridge_cuts", ds, x="dT", line_dim="delta_z").J_C.isel(set=0)
    np.testing.assert_allclose((J.isel(dT=1) / J.isel(dT=0)).values, 2.0, rtol=0.02)


def test_fridge_cuts_data_is_the_cooling_power_with_its_resolved_sign(fig3):
    data = figure_data("fridge_cuts", fig3, x="dT", line_dim="delta_z")
    J = fig3.J_Q.sel(lead="C", drop=True).transpose("delta_z", "dT")
    np.testing.assert_array_equal(data.J_C.isel(set=0).transpose("delta_z", "dT").values, J.values)
    code = data.cooling.isel(set=0).transpose("delta_z", "dT").values
    assert ((code == 1) <= (J.values > 0)).all() and ((code == -1) <= (J.values < 0)).all()
    ratio = data.cop_over_carnot.values
    assert np.nanmax(ratio) < 1.0 and np.nanmin(ratio) > 0.0  # second law for three baths
    # 003 Fig. 3: cooling over most of the range, largest near dT = 0.2-0.3 T
    for dz in (0.05, 0.1, 0.3):
        line = data.J_C.isel(set=0).sel(delta_z=dz)
        assert 0.15 <= float(line.idxmax("dT")) <= 0.35


@pytest.mark.parametrize("form", ["scalar", "per_lead"])
def test_a_current_within_its_bound_is_undetermined_never_cooling(fig3, form):
    ds = fig3.copy()
    rel = xr.full_like(ds.sigma, 1e-17)
    if form == "per_lead":
        rel = rel.expand_dims(lead=ds.lead.values).copy()
        rel.loc[{"lead": "C"}] = 0.9  # lead C's bound: 2 x 0.9 >= 1, no sign
    else:
        rel = rel + 0.9
    ds["rel_err"] = rel
    out = fridge_variables(ds)
    assert (out.cooling == 0).all() and out.cop_over_carnot.isnull().all()
    data = figure_data("fridge_cuts", ds, x="dT", line_dim="delta_z")
    assert (data.cooling == 0).all()
    assert cooling_name(0) == "undetermined"


def test_local_equals_global_at_zero_xx_coupling_on_one_figure(fig5):
    data = figure_data("fridge_cuts", fig5, x="delta_z", line_dim="delta_x")
    assert data.attrs["labels"] == ["local ME", "global ME"]
    local, glob = data.J_C.isel(set=0), data.J_C.isel(set=1)
    # equal within the two solves' own precision bounds, per component (a near-zero cell differs at 1e-9)
    bound = sum((d.rel_err.sel(lead="C", drop=True) * abs(d.J_Q.sel(lead="C", drop=True))).sel(delta_x=0.0,
                                                                                              drop=True)
                for d in fig5)
    diff = abs(local.sel(delta_x=0.0, drop=True) - glob.sel(delta_x=0.0, drop=True))
    assert bool((diff <= bound).all()) and float(bound.max()) < 1e-8 * float(abs(local).max())
    # 003 §III B: at delta_x = 0.002 the global ME heats C at small delta_z where the local ME cools
    small = data.delta_z < 0.1
    assert bool((glob.sel(delta_x=0.002).where(small) < 0).any())
    assert bool((local.sel(delta_x=0.002).where(small) > 0).any())


def test_fridge_map_has_mode_and_cooling_region(fig3):
    g = qtmsweep.grid(dT=np.linspace(0.01, 0.9, 13), delta_z=np.linspace(0.05, 2.0, 11))
    ds = qtmsweep.solve("qubit_fridge", approach="local", **g, **FRIDGE)
    data = figure_data("fridge_map", ds, x="dT", y="delta_z")
    out = analyze(ds)
    cooled = data.cooling.isel(set=0) == 1
    # resolved cooling is exactly where the mode is absorption refrigeration (C the cooled source)
    mode = data["mode"].isel(set=0)
    assert bool((mode.where(cooled) == 7).where(cooled, True).all())  # 7 = absorption_refrigerator
    np.testing.assert_array_equal(mode.values, out["mode"].transpose("delta_z", "dT").values)
    # Eq. 10 edge (ideal filters): no resolved cooling well above delta_z = eps1 T_C / T_L
    T_L, T_C = 1.0 + data.dT, 1.0 - data.dT
    far = data.delta_z > 1.3 * 2.0 * T_C / T_L
    assert not bool(cooled.where(far, False).any())


def test_kerr_truncation_two_levels_is_the_qubit_pair(kerr):
    """SPEC §2: kerr_fridge with N1 = N2 = 2 equals qubit_fridge at delta_x = 0."""
    data = figure_data("truncation", kerr, x="dT", at=[0.1, 0.3])
    assert data.N.values.tolist() == [2, 3, 4]
    q = qtmsweep.solve("qubit_fridge", approach="local", **{**FRIDGE, "eps1": 1.0, "eps2": 1.0, "eps_c": 10.0},
                       delta_z=0.05, dT=qtmsweep.grid(dT=np.linspace(0.01, 0.9, 19))["dT"])
    J_q = q.J_Q.sel(lead="C").values
    np.testing.assert_allclose(data.J_C_curve.sel(N=2).values, J_q, rtol=1e-9, atol=1e-9 * np.abs(J_q).max())
    # 003 Fig. 7: at dT = 0.3 the resonators cool more than the qubits
    assert float(data.J_C.sel(N=4).isel(at=1)) > float(data.J_C.sel(N=2).isel(at=1))
    # panel (b): the conservative estimate covers the change the next stores show, and shrinks with N
    rel = data.truncation_rel_err
    change = abs(data.J_C_curve.sel(N=3) - data.J_C_curve.sel(N=2)) / abs(data.J_C_curve.sel(N=2))
    assert bool((rel.sel(N=2) >= 0.5 * change).all())
    assert float(rel.sel(N=4).median()) < float(rel.sel(N=2).median())


# -- 004 ------------------------------------------------------------------------------------------
def test_rectification_contrast_matches_eqs_12_and_21_22(rectifier):
    two, one = rectifier
    data = figure_data("rectification", [two, one], x="T_L", line_dim="gamma_L")
    T_L = data.T_L.values
    T_R = 0.004
    for gL in (0.001, 0.01):
        gR = 0.02

        def J_global(TL, TR):  # 004 Eqs. 21-22 (the heat current of one bias direction)
            return sum(gL * gR * w * (n_bose(w, TL) - n_bose(w, TR)) / (gL * coth(w / (2 * TL)) + gR * coth(w / (2 * TR)))
                       for w in (1.0 - 0.8, 1.0 + 0.8))

        fwd, rev = J_global(T_L, T_R), J_global(T_R, T_L)
        C_eq = np.abs((fwd + rev) / (fwd - rev))
        # C is a difference of the two directions' currents: compared to 1e-12 absolute as well
        np.testing.assert_allclose(data.contrast.isel(set=0).sel(gamma_L=gL).values, C_eq, rtol=1e-8, atol=1e-12)
        C1 = abs((gL - gR) / (gL + gR)) * np.abs((coth(1 / (2 * T_R)) - coth(1 / (2 * T_L)))
                                                  / (coth(1 / (2 * T_R)) + coth(1 / (2 * T_L))))  # Eq. 12
        np.testing.assert_allclose(data.contrast.isel(set=1).sel(gamma_L=gL).values, C1, rtol=1e-8, atol=1e-12)
    assert bool((data.J_forward > 0).all()) and bool((data.J_reverse > 0).all())


def test_reverse_block_computes_exactly_the_two_directions(rectifier):
    two, _ = rectifier
    assert two.sizes["direction"] == 2 and two.J_Q.sizes["T_L"] == 25
    ref = qtmsweep.solve("chain", N=2, approach="global", g=0.8, gamma_L=0.01, T_L=0.004, T_R=2.0, **CHAIN)
    cell = two.sel(gamma_L=0.01, direction=1.0).sel(T_L=2.0, method="nearest")
    assert abs(float(cell.T_L) - 2.0) < 0.2
    np.testing.assert_allclose(float(cell.J_Q.sel(lead="L")),
                               float(qtmsweep.solve("chain", N=2, approach="global", g=0.8, gamma_L=0.01,
                                                    T_L=0.004, T_R=float(cell.T_L), **CHAIN).J_Q.sel(lead="L")),
                               rtol=1e-12)
    assert float(ref.J_Q.sel(lead="L")) < 0  # the reverse run: bath L is the cold one
    # the analysis sees each direction in its own frame: both run as heat conduction
    out = analyze(two)
    assert (out["mode"] == 6).all()  # 6 = conduction
    assert "contrast" in out and "direction" not in out.contrast.dims


def test_conductance_matches_eqs_13_14_and_25():
    T = np.linspace(0.15, 3.0, 20)
    d = 1e-5
    two = qtmsweep.solve("chain", N=2, approach="local", g=0.01, gamma_L=0.01, **CHAIN,
                         **qtmsweep.grid(T=T, dT=[-d, d]))
    one = qtmsweep.solve("chain", N=1, approach="local", g=0.0, gamma_L=0.01, **CHAIN,
                         **qtmsweep.grid(T=T, dT=[-d, d]))
    glob = qtmsweep.solve("chain", N=2, approach="global", gamma_L=0.01, **CHAIN,
                          **qtmsweep.grid(g=[0.7, 0.9], T=T, dT=[-d, d]))
    data = figure_data("conductance", [two, one], x="T")
    gL, gR, w = 0.01, 0.02, 1.0
    dn = (w / T**2) * np.exp(w / T) / np.expm1(w / T) ** 2
    kappa1 = 2 * w * gL * gR * dn / ((gL + gR) * coth(w / (2 * T)))  # from Eq. 7 with eps_a = -1, eps_L = eps_R = 1
    kappa2 = kappa1 / (1 + gL * gR / (4 * 0.01**2) * coth(w / (2 * T)) ** 2)  # Eq. 14
    np.testing.assert_allclose(data.kappa.isel(set=1).values, kappa1, rtol=1e-6)
    np.testing.assert_allclose(data.kappa.isel(set=0).values, kappa2, rtol=1e-6)
    data5 = figure_data("conductance", [glob, one], x="T", line_dim="g")
    for g in (0.7, 0.9):  # Eq. 25: sum over the normal modes w -+ g of w^2 csch(w/T)/(2 T^2)
        k25 = gL * gR / (gL + gR) * sum(x**2 / (2 * T**2 * np.sinh(x / T)) for x in (w - g, w + g))
        np.testing.assert_allclose(data5.kappa.isel(set=0).sel(g=g).values, k25, rtol=1e-6)


# -- files, refusals --------------------------------------------------------------------------------
def test_every_machine_kind_writes_a_reproducible_png(tmp_path, fig3, fig5, kerr, rectifier):
    two, one = rectifier
    cond = qtmsweep.solve("chain", N=1, approach="local", g=0.0, gamma_L=0.01, **CHAIN,
                          **qtmsweep.grid(T=np.linspace(0.1, 2, 9), dT=[-1e-5, 1e-5]))
    cases = {
        "fridge_cuts": (fig5, {"x": "delta_z", "line_dim": "delta_x"}),
        "fridge_map": (fig5, {"x": "delta_z", "y": "delta_x"}),
        "truncation": (kerr, {"x": "dT"}),
        "rectification": ([two, one], {"x": "T_L", "line_dim": "gamma_L"}),
        "contrast_map": (two, {"x": "T_L", "y": "gamma_L"}),
        "conductance": (cond, {"x": "T"}),
    }
    assert set(cases) <= set(FIGURE_KINDS)
    for kind, (ds, opts) in cases.items():
        a = plot_figure(kind, ds, tmp_path / f"{kind}.png", **opts).read_bytes()
        b = plot_figure(kind, ds, tmp_path / f"{kind}_again.png", **opts).read_bytes()
        assert a.startswith(PNG_MAGIC) and a == b, kind


def test_machine_kinds_refuse_what_does_not_fit(fig3, rectifier):
    two, _ = rectifier
    with pytest.raises(ValueError, match="does not fit model 'qubit_fridge'"):
        figure_data("force_cuts", fig3)
    with pytest.raises(ValueError, match="does not fit model 'chain'.*allowed models: qubit_fridge"):
        figure_data("fridge_cuts", two, x="T_L")
    with pytest.raises(ValueError, match="figure option 'colour' is not known.*allowed: x, line_dim"):
        figure_data("fridge_cuts", fig3, x="dT", colour="red")
    with pytest.raises(ValueError, match="x='T_L' is not a dimension.*allowed: delta_z, dT"):
        figure_data("fridge_cuts", fig3, x="T_L", line_dim="delta_z")
    with pytest.raises(ValueError, match="needs the option x="):
        figure_data("fridge_cuts", fig3)
    plain = qtmsweep.solve("chain", N=2, approach="global", g=0.8, gamma_L=0.01, T_R=0.004, **CHAIN,
                           **qtmsweep.grid(T_L=[0.5, 1.0]))
    with pytest.raises(ValueError, match="needs a forward/reverse sweep"):
        figure_data("rectification", plain, x="T_L")
    with pytest.raises(ValueError, match="draws one dataset"):
        figure_data("contrast_map", [two, two], x="T_L", y="gamma_L")


# -- the secular approximation on the global maps and cuts ------------------------------------------
@pytest.fixture(scope="module")
def global_store(tmp_path_factory):
    """A small global-ME store written by the sweep runner (003 Fig. 5's parameters: at delta_x = 0 no
    bath couples both qubits, secular_ratio = inf; any delta_x > 0 splits the levels by less than the
    rates)."""
    from qtmsweep.plot import open_store
    from qtmsweep.sweep import RunOptions, run_sweep

    sweep = {"model": "qubit_fridge",
             "fixed": {"approach": "global", "eps1": 2.0, "eps2": 2.1, "T": 1.0, "dT": 0.1, "Gamma_L": 0.02,
                       "Gamma_R": 0.08, "Gamma_C": 0.06, "filters": "resonant", "eps_c": 10.0},
             "grid": {"delta_z": {"linspace": [0.05, 1.0, 5]}, "delta_x": {"values": [0.0, 1e-3, 0.3]}}}
    store = tmp_path_factory.mktemp("secular") / "g.zarr"
    run_sweep(validate_config({"sweeps": {"g": sweep}}), "g", store, RunOptions(cluster="inline", progress=False))
    return analyze(open_store(store))  # the store and what the analyze rule adds beside it


@pytest.mark.parametrize("kind, opts", [("fridge_map", {"x": "delta_z", "y": "delta_x"}),
                                        ("fridge_cuts", {"x": "delta_z", "line_dim": "delta_x"})])
def test_global_cells_outside_the_secular_regime_are_masked_and_never_cooling(global_store, kind, opts):
    ratio = global_store.secular_ratio.transpose("delta_x", "delta_z")
    expected = (ratio < 10.0).values
    assert expected.any() and not expected.all()  # the store has both kinds of cells
    assert not expected[0].any()  # delta_x = 0: nothing to approximate (ratio inf)
    data = figure_data(kind, global_store, **opts).isel(set=0).transpose("delta_x", "delta_z")
    np.testing.assert_array_equal(data.secular_invalid.values, expected)
    # drawn as cooling: resolved cooling of the store, only where the approximation holds
    cooling = global_store.cooling.transpose("delta_x", "delta_z").values
    np.testing.assert_array_equal(data.cooled.values, (cooling == 1) & ~expected)
    assert (cooling[expected] == 1).any()  # the mask hides cooling the invalid global ME claims
    assert np.isnan(data.cop_over_carnot.values[expected]).all()
    # the threshold is the figure's option: a lower limit flags fewer cells, exactly ratio < limit
    limit = float(np.nanmedian(ratio.values[expected]))
    lower = figure_data(kind, global_store, secular_limit=limit, **opts).isel(set=0)
    np.testing.assert_array_equal(lower.secular_invalid.transpose("delta_x", "delta_z").values,
                                  (ratio < limit).values)
    with pytest.raises(ValueError, match=r"secular_limit=-1 is not allowed; allowed: a finite number > 0"):
        figure_data(kind, global_store, secular_limit=-1, **opts)


def test_local_stores_have_no_secular_mask(fig3):
    data = figure_data("fridge_cuts", fig3, x="dT", line_dim="delta_z")
    assert "secular_ratio" not in fig3 and not data.secular_invalid.any()
    np.testing.assert_array_equal(data.cooled.values, (data.cooling == 1).values)


def test_chain_kinds_mask_global_cells_outside_the_secular_regime():
    """004's global chain with a normal-mode splitting 2g below ten times the rates: those cells (in
    either direction of the pair, either solve of the dT pair) are masked, the others are not."""
    pair = sweep_dataset({"fixed": {"N": 2, "approach": "global", "T_R": 0.004, **CHAIN},
                          "grid": {"g": {"values": [0.0005, 0.8]}, "gamma_L": {"values": [0.001, 0.01]},
                                   "T_L": {"geomspace": [0.05, 50.0, 7]}},
                          "reverse": [["T_L", "T_R"]], "model": "chain"}, "pair")
    expected = (pair.secular_ratio < 10).any("direction")
    assert expected.sel(g=0.0005).all() and 0 < int(expected.sel(g=0.8).sum()) < expected.sel(g=0.8).size
    cuts = figure_data("rectification", pair, x="T_L", line_dim="gamma_L", sel={"g": 0.0005}).isel(set=0)
    np.testing.assert_array_equal(cuts.secular_invalid.transpose("gamma_L", "T_L").values,
                                  expected.sel(g=0.0005).transpose("gamma_L", "T_L").values)
    cmap = figure_data("contrast_map", pair, x="T_L", y="gamma_L", sel={"g": 0.8})  # hot baths: rates > splitting
    np.testing.assert_array_equal(cmap.secular_invalid.values, expected.sel(g=0.8).transpose("gamma_L", "T_L").values)
    cmap = figure_data("contrast_map", pair, x="T_L", y="gamma_L", sel={"g": 0.0005})
    assert cmap.secular_invalid.all()
    T = np.linspace(0.15, 3.0, 6)
    glob = qtmsweep.solve("chain", N=2, approach="global", gamma_L=0.01, **CHAIN,
                          **qtmsweep.grid(g=[0.0005, 0.9], T=T, dT=[-1e-5, 1e-5]))
    cond = figure_data("conductance", glob, x="T", line_dim="g").isel(set=0)
    np.testing.assert_array_equal(cond.secular_invalid.transpose("g", "T").values,
                                  (glob.secular_ratio < 10).any("dT").transpose("g", "T").values)
    assert cond.secular_invalid.sel(g=0.0005).all() and not cond.secular_invalid.sel(g=0.9).all()
