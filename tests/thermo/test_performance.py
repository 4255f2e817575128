"""Operating modes and performance (SPEC §1, §3): bounds, hand-checked cells, 000's Eqs. 59 and 67."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import qtmsweep
from qtmsweep.thermo.performance import MODE, MODES, mode_name, performance

from ..conftest import random_cqd, random_sqd
from .test_classify import plane

RTOL = 1e-9


@pytest.fixture(scope="module")
def random_sets():
    return {
        "cqd": qtmsweep.solve("cqd", **random_cqd(20000, seed=21)),
        "sqd": qtmsweep.solve("sqd", **random_sqd(20000, seed=22)),
        "cqd II": plane("II", np.linspace(-0.9, 3, 40), np.linspace(-6, 6, 41), kappa=[1.5, -1.5],
                        mu_r=[0.0, 2.5, 3.0, 4.0]),
        "cqd I": plane("I", np.linspace(-0.9, 2, 30), np.linspace(-6, 6, 41), kappa=[1.5, -1.5]),
    }


@pytest.mark.parametrize("name", ["cqd", "sqd", "cqd II", "cqd I"])
def test_no_cell_exceeds_its_carnot_bound(random_sets, name):
    ds = random_sets[name]
    perf = performance(ds)
    eff, eff_c = perf.efficiency, perf.efficiency_carnot
    assert bool(((eff > 0) & (eff <= eff_c * (1 + RTOL)) & (eff_c < 1)).where(np.isfinite(eff), True).all())
    cop, cop_c = perf.cop, perf.cop_carnot
    assert bool(((cop >= 0) & (cop <= cop_c * (1 + RTOL))).where(np.isfinite(cop), True).all())
    e2 = perf.eta_2
    assert bool(((e2 >= 0) & (e2 <= 1 + 1e-12)).where(np.isfinite(e2), True).all())
    # every defined efficiency sits beside a defined bound, and vice versa
    xr.testing.assert_equal(np.isfinite(eff), np.isfinite(eff_c))
    xr.testing.assert_equal(np.isfinite(cop), np.isfinite(cop_c))


def test_random_cells_visit_the_modes_whose_bounds_are_tested(random_sets):
    modes = set()
    for ds in random_sets.values():
        modes |= {mode_name(m) for m in np.unique(performance(ds)["mode"].values)}
    assert {"engine", "refrigerator", "accelerator", "heater"} <= modes


def test_eta_2_is_the_efficiency_over_its_carnot_value_when_energy_is_measured_from_the_hot_mu():
    """sqd engine, hot lead l with μ_l = 0: η₂ = −F_N/(ε F_E) = μ_r/(ε η_C) = η/η_C (SPEC §3's definitions agree).

    With μ_l ≠ 0 they differ: the (J_E, J_N) force–flux split depends on the energy reference, (P, Q) does not.
    """
    rng = np.random.default_rng(23)
    n = 20000
    T_r = rng.uniform(0.2, 2, n)
    ds = qtmsweep.solve("sqd", eps=rng.uniform(0.05, 3, n), T_l=T_r + rng.uniform(0.05, 3, n), T_r=T_r, mu_l=0.0,
                        mu_r=rng.uniform(-1, 2, n), gamma_l=1.0, gamma_r=0.7)
    perf = performance(ds)
    engine = perf["mode"] == MODE["engine"]
    assert int(engine.sum()) > 1000
    np.testing.assert_allclose(perf.eta_2.where(engine).values, (perf.efficiency / perf.efficiency_carnot)
                               .where(engine).values, rtol=1e-9, equal_nan=True)


def test_power_is_chemical_work_and_the_first_law_holds(random_sets):
    ds = random_sets["cqd"]
    perf = performance(ds)
    P = (ds.mu_a - ds.mu_b) * ds.J_N.sel(lead="b")  # J_N[a] = -J_N[b], J_N[r] = 0
    scale = (abs(ds.mu_a) + abs(ds.mu_b)) * abs(ds.J_N.sel(lead="b")) + abs(ds.J_Q).sum("lead")
    assert float((abs(perf.P - P) / scale).max()) < 1e-12
    assert float((abs(ds.J_Q.sum("lead") - perf.P) / scale).max()) < 1e-12


def sqd_cell(eps, T_l, mu_l, mu_r, T_r=1.0):
    return qtmsweep.solve("sqd", eps=eps, T_l=T_l, T_r=T_r, mu_l=mu_l, mu_r=mu_r, gamma_l=1.0, gamma_r=0.5)


def test_hand_checked_engine_cell():
    """Tight coupling (J_E = ε J_N): η = (μ_r − μ_l)/(ε − μ_l) = 0.25, η_C = 1 − T_r/T_l = 0.5."""
    perf = performance(sqd_cell(2.0, 2.0, 0.0, 0.5))
    assert mode_name(perf["mode"]) == "engine"
    assert float(perf.efficiency) == pytest.approx(0.25, rel=1e-12)
    assert float(perf.efficiency_carnot) == pytest.approx(0.5, rel=1e-12)
    assert float(perf.eta_2) == pytest.approx(0.5, rel=1e-12)
    assert np.isnan(float(perf.cop))


def test_hand_checked_refrigerator_cell():
    """Electrons leave the cold lead r at ε − μ_r = 0.5 above μ_r: COP = (ε − μ_r)/(μ_r − μ_l) = 1, COP_C = 2."""
    ds = sqd_cell(1.0, 1.5, 0.0, 0.5)
    assert float(ds.J_N.sel(lead="r")) > 0
    perf = performance(ds)
    assert mode_name(perf["mode"]) == "refrigerator"
    assert float(perf.cop) == pytest.approx(1.0, rel=1e-12)
    assert float(perf.cop_carnot) == pytest.approx(2.0, rel=1e-12)
    assert float(perf.cooling_power) == pytest.approx(float(ds.J_Q.sel(lead="r")), rel=1e-12)
    assert np.isnan(float(perf.efficiency))


@pytest.mark.parametrize("eps, T_l, mu_l, mu_r, mode", [
    (0.5, 1.0, 1.0, 0.0, "heater"),        # pure bias, level between the mu's: Joule heat into both leads
    (2.0, 2.0, 1.0, 0.0, "accelerator"),   # both forces drive: work speeds heat from hot l to cold r
    (1.0, 2.0, 0.0, 0.0, "conduction"),    # no work channel (mu_l = mu_r = 0)
    (1.0, 1.0, 0.3, 0.3, "equilibrium"),
])
def test_hand_checked_modes(eps, T_l, mu_l, mu_r, mode):
    assert mode_name(performance(sqd_cell(eps, T_l, mu_l, mu_r))["mode"]) == mode


def test_absorption_refrigerator_quantities_follow_spec_for_the_fridge_models():
    """Synthetic three-bath cell (L hot, R middle, C cold) with SPEC §2's names: cooling_power = J_Q[C]."""
    J_Q = xr.DataArray([[1.0, -1.2, 0.2]], dims=("cell", "lead"), coords={"lead": ["L", "R", "C"]})
    ds = xr.Dataset({"J_Q": J_Q, "J_E": J_Q.copy(), "sigma": xr.DataArray([0.267], dims="cell")},
                    attrs={"model": "qubit_fridge", "T_L": 3.0, "T_R": 1.5, "T_C": 1.0})
    perf = performance(ds)
    assert mode_name(perf["mode"].item()) == "absorption_refrigerator"
    assert float(perf.cooling_power.item()) == 0.2
    assert float(perf.cop.item()) == pytest.approx(0.2)
    assert float(perf.cop_carnot.item()) == pytest.approx((1 / 1.5 - 1 / 3) / (1 - 1 / 1.5))
    assert float(perf.P.item()) == 0.0


def test_model_I_icc_in_J_E_r_heats_every_reservoir():
    """000 calls the J_E[r] ICC region an autonomous refrigerator; the heat flows say heater (docs/reproduce.md)."""
    ds = plane("I", np.linspace(0.01, 1, 30), np.linspace(0.1, 8, 30), kappa=[1.5, -1.5], mu_r=[0.0, 2.5])
    perf = performance(ds, "I")
    icc = np.isfinite(perf.zeta_000)
    assert int(icc.sum()) > 100
    assert bool((perf["mode"] == MODE["heater"]).where(icc, True).all())
    assert float(perf.zeta_000.max()) < 1.0  # heat into r per unit work: < 1, so a + b are heated too
    assert bool((perf.zeta_000 <= perf.zeta_000_carnot).where(icc, True).all())


def test_model_II_icc_in_J_N_b_is_an_engine_within_carnot():
    ds = plane("II", np.linspace(0.01, 3, 30), np.linspace(0.01, 6, 30), kappa=-1.5, mu_r=[2.5, 3.0, 4.0])
    perf = performance(ds, "II")
    icc = np.isfinite(perf.eta_000)
    assert int(icc.sum()) > 50
    assert bool((perf["mode"] == MODE["engine"]).where(icc, True).all())
    assert bool((perf.efficiency <= perf.efficiency_carnot).where(icc, True).all())
    # Eq. 67 with the engine's heat input J_Q[b] is bounded; as printed (J_Q[r]) it is not:
    assert bool((perf.eta_000 <= perf.eta_000_carnot).where(icc, True).all())
    assert float((perf.eta_000_as_printed / perf.eta_000_carnot).max()) > 1.0
    P = perf.P.where(icc)
    np.testing.assert_allclose(P / ds.J_Q.sel(lead="b").where(icc), perf.efficiency.where(icc), rtol=1e-12)


def test_paper_quantities_are_nan_outside_their_icc_regions():
    ds = plane("II", np.linspace(0, 3, 16), np.linspace(0, 6, 16), kappa=-1.5, mu_r=3.0)
    perf = performance(ds, "II")
    c = qtmsweep.thermo.classify(ds, "II")
    xr.testing.assert_equal(np.isfinite(perf.zeta_000), c.icc_J_E_b.rename("zeta_000").drop_attrs())
    xr.testing.assert_equal(np.isfinite(perf.eta_000), c.icc_J_N_b.rename("eta_000").drop_attrs())


def test_modes_are_cf_flags():
    perf = performance(sqd_cell(2.0, 2.0, 0.0, 0.5))
    assert perf["mode"].attrs["flag_meanings"].split() == list(MODES)
    assert perf["mode"].dtype == np.int8


def test_analysis_keeps_what_the_model_itself_outputs():
    """A model's own cooling_power/cop (SPEC §2 outputs of qubit_fridge) are not overwritten by the analysis."""
    from qtmsweep.analysis import analyze

    J_Q = xr.DataArray([[1.0, -1.2, 0.2]], dims=("cell", "lead"), coords={"lead": ["L", "R", "C"]})
    ds = xr.Dataset({"J_Q": J_Q, "J_E": J_Q.copy(), "sigma": xr.DataArray([0.267], dims="cell"),
                     "cop": xr.DataArray([0.123], dims="cell")},
                    attrs={"model": "qubit_fridge", "T_L": 3.0, "T_R": 1.5, "T_C": 1.0})
    out = analyze(ds)
    assert float(out.cop.item()) == 0.123 and "source" not in out.cop.attrs
    assert out["mode"].attrs["source"] == "qtmsweep.analysis"
    again = analyze(out)
    assert float(again.cop.item()) == 0.123 and float(again.cooling_power.item()) == 0.2


def test_mode_is_undetermined_where_a_needed_leads_bound_is_unresolved():
    """The mode needs the signs of P and of the heat groups: an unresolved bound on one lead of a cell
    makes that cell undetermined, the others keep their mode (SPEC §5)."""
    ds = plane("II", [0.3, 0.6], [1.0, 2.0], kappa=-1.5, mu_r=3.0)
    base = performance(ds)
    assert not bool((base["mode"] == MODE["undetermined"]).any())
    loose = ds.copy(deep=True)
    loose["rel_err"].loc[dict(F_E_b=0.6, F_N_b=2.0, lead="r")] = np.inf
    mode = performance(loose)["mode"]
    assert int(mode.sel(F_E_b=0.6, F_N_b=2.0)) == MODE["undetermined"]
    assert int((mode == MODE["undetermined"]).sum()) == 1
