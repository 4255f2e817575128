"""Declared Lindblad machines (``kind: lindblad``): the built-ins reproduced, QuTiP, LPS physics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import qtmsweep
from qtmsweep.physics.declared import SpecError, build_model
from qtmsweep.physics.registry import register

from .lindblad_specs import chain_spec, qubit_fridge_spec


def _register(name, spec):
    return register(build_model(name, spec), replace=True)


def _fridge_params(n, seed):
    rng = np.random.default_rng(seed)
    return dict(eps1=rng.uniform(1.5, 2.5, n), eps2=rng.uniform(1.5, 2.5, n), delta_z=rng.uniform(0.05, 0.5, n),
                delta_x=rng.uniform(0, 0.3, n), T_L=rng.uniform(0.8, 2, n), T_R=rng.uniform(0.5, 1.5, n),
                T_C=rng.uniform(0.3, 1, n), Gamma_L=rng.uniform(0.01, 0.1, n), Gamma_R=rng.uniform(0.01, 0.1, n),
                Gamma_C=rng.uniform(0.01, 0.1, n), Omega_L=rng.uniform(1.5, 2.5, n),
                Omega_R=rng.uniform(1.5, 2.5, n), Omega_C=rng.uniform(1.5, 2.5, n), eps_c=20.0)


@pytest.mark.parametrize("approach", ["local", "global"])
def test_declared_qubit_fridge_reproduces_the_builtin_to_1e10(approach):
    m = _register(f"qf_{approach}", qubit_fridge_spec(approach))
    p = _fridge_params(40, seed=2)
    got, ref = qtmsweep.solve(m.name, **p), qtmsweep.solve("qubit_fridge", approach=approach, **p)
    scale = np.abs(ref["J_Q"]).max("lead")
    assert float((np.abs(got["J_Q"] - ref["J_Q"]) / scale).max()) < 1e-10
    np.testing.assert_allclose(got["sigma"], ref["sigma"], rtol=1e-10, atol=1e-10 * float(scale.max()) / 0.3)
    # populations: product basis |q1 q2> = 00, 01, 10, 11 vs the built-in's 0, 1 (q1), 2 (q2), d
    np.testing.assert_allclose(got["p"].values[:, [0, 2, 1, 3]], ref["p"].values, rtol=1e-10, atol=1e-13)
    for f in ("F_E_L", "F_E_C"):
        np.testing.assert_allclose(got[f], ref[f], rtol=1e-15)


@pytest.mark.parametrize("N,approach", [(1, "local"), (2, "local"), (3, "local"),
                                        pytest.param(5, "local", marks=pytest.mark.slow), (2, "global")])
def test_declared_qubit_chain_reproduces_the_builtin_to_1e10(N, approach):
    m = _register(f"chain_{N}_{approach}", chain_spec(N, approach))
    rng = np.random.default_rng(N)
    k = 3 if N == 5 else 12
    p = dict(omega=rng.uniform(0.8, 1.2, k), g=rng.uniform(0.01, 0.3, k), T_L=rng.uniform(0.5, 2, k),
             T_R=rng.uniform(0.3, 1, k), gamma_L=rng.uniform(0.01, 0.1, k), gamma_R=rng.uniform(0.01, 0.1, k))
    if N == 1:
        del p["g"]
    got = qtmsweep.solve(m.name, **p)
    ref = qtmsweep.solve("chain", N=N, stat="qubit", approach=approach, **({"g": 0.0} if N == 1 else {}), **p)
    scale = np.abs(ref["J_Q"]).max("lead")
    assert float((np.abs(got["J_Q"] - ref["J_Q"]) / scale).max()) < 1e-10


# -- QuTiP on random declared systems ----------------------------------------------------------
qutip = pytest.importorskip("qutip")


def _random_system(seed):
    rng = np.random.default_rng(seed)
    n_q = 2  # d <= 12: the QuTiP side builds one dissipator per Bohr frequency
    subs = {f"q{k}": "qubit" for k in range(n_q)}
    boson = bool(rng.integers(0, 2))
    if boson:
        subs["a"] = {"boson": 3}
    names = list(subs)
    ham = [[f"w_{s}", f"{s}.n"] for s in names]
    inter = [[f"g_{a}{b}", f"{a}.{'sp' if a != 'a' else 'ad'} {b}.{'sm' if b != 'a' else 'a'} + h.c."]
             for a, b in zip(names, names[1:])]
    inter.append(["h_x", f"{names[0]}.sx"])  # breaks excitation number: a generic Hamiltonian
    spectra = [{"flat": "gam0"}, {"ohmic": {"alpha": "alpha1", "cutoff": "wc1"}},
               {"filtered": {"Gamma": "G2", "Omega": "Om2", "eps_c": "ec2"}}]
    baths = {f"B{k}": {"T": f"T_{k}", "couples": f"{names[k % len(names)]}.{'x' if names[k % len(names)] == 'a' else 'sx'}",
                       "spectrum": spectra[k]} for k in range(3)}
    spec = {"kind": "lindblad", "subsystems": subs, "hamiltonian": ham, "interaction": inter, "baths": baths,
            "approach": "global"}
    values = {}
    for s in names:
        values[f"w_{s}"] = rng.uniform(0.7, 2.0)
    for a, b in zip(names, names[1:]):
        values[f"g_{a}{b}"] = rng.uniform(0.05, 0.3)
    values.update(h_x=rng.uniform(0.05, 0.2), gam0=rng.uniform(0.01, 0.1), alpha1=rng.uniform(0.01, 0.1),
                  wc1=rng.uniform(2, 6), G2=rng.uniform(0.05, 0.2), Om2=rng.uniform(0.8, 2.0), ec2=20.0)
    for k in range(3):
        values[f"T_{k}"] = rng.uniform(0.3, 2.0)
    return spec, values, names


def _qutip_reference(spec, values, names):
    """Davies master equation built independently with QuTiP operators and solved by qutip.steadystate."""
    from qtmsweep.physics.baths import bose

    dims = [3 if spec["subsystems"][s] != "qubit" else 2 for s in names]

    def local(s, op):
        k = names.index(s)
        d = dims[k]
        a = qutip.destroy(d)
        table = {"n": a.dag() * a, "sm": a, "sp": a.dag(), "a": a, "ad": a.dag(), "sx": a + a.dag(), "x": a + a.dag()}
        return qutip.tensor([table[op] if j == k else qutip.qeye(dims[j]) for j in range(len(names))])

    def op(text):
        hc = text.endswith("+ h.c.")
        body = text.replace("+ h.c.", "").split()
        out = 1
        for f in body:
            s, o = f.split(".")
            out = local(s, o) * out if isinstance(out, int) else out * local(s, o)
        return out + out.dag() if hc else out

    H = sum(values[c] * op(o) for c, o in spec["hamiltonian"] + spec["interaction"])
    E, V = np.linalg.eigh(H.full())

    def K(kind, w, bath):
        if "flat" in kind:
            return values[kind["flat"]]
        if "ohmic" in kind:
            return values[kind["ohmic"]["alpha"]] * w * np.exp(-w / values[kind["ohmic"]["cutoff"]])
        f = kind["filtered"]
        G = values[f["Gamma"]] * w
        return G / ((w - values[f["Omega"]]) ** 2 + G**2) if w <= values[f["eps_c"]] else 0.0

    c_ops, by_bath = [], {}
    for k, (bath, b) in enumerate(spec["baths"].items()):
        X = V.conj().T @ op(b["couples"]).full() @ V
        T = values[b["T"]]
        groups = {}
        for i, j in itertools.permutations(range(len(E)), 2):
            dlt = E[i] - E[j]
            if abs(dlt) < 1e-9 or abs(X[i, j]) < 1e-14:
                continue
            w = abs(dlt)
            rate = K(b["spectrum"], w, bath) * (bose(w, T) if dlt > 0 else 1 + bose(w, T))
            key = round(dlt, 7)
            L = groups.setdefault(key, np.zeros_like(X))
            L[i, j] += np.sqrt(rate) * X[i, j]
        by_bath[bath] = [qutip.Qobj(L) for L in groups.values()]
        c_ops += by_bath[bath]
    Hd = qutip.Qobj(np.diag(E))
    rho = qutip.steadystate(Hd, c_ops)
    J = {}
    for bath, ops in by_bath.items():
        D = sum(qutip.lindblad_dissipator(L) * qutip.operator_to_vector(rho) for L in ops)
        J[bath] = float(np.real((Hd * qutip.vector_to_operator(D)).tr()))
    return J


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_random_declared_systems_against_qutip(seed):
    spec, values, names = _random_system(seed)
    m = _register(f"rnd_{seed}", spec)
    ds = qtmsweep.solve(m.name, **values)
    ref = _qutip_reference(spec, values, names)
    scale = max(abs(v) for v in ref.values())
    for bath, J in ref.items():
        assert abs(float(ds["J_Q"].sel(lead=bath)) - J) <= 1e-8 * scale, bath
    assert abs(float(ds["J_Q"].sum("lead"))) <= 1e-10 * scale  # global approach: energy conserved
    assert float(ds["sigma"]) >= -1e-12 * scale


# -- the LPS three-qubit refrigerator ----------------------------------------------------------
@pytest.fixture(scope="module")
def lps():
    from qtmsweep.sweep import load_config

    cfg = load_config("config/sweeps/lps_fridge.yaml")
    return qtmsweep.get_model("lps_fridge"), cfg


def test_lps_cools_exactly_inside_the_virtual_qubit_window_with_cop_ec_over_eh(lps):
    m, _ = lps
    p = {**m.defaults(), "T_H": np.geomspace(1.2, 20, 9)[:, None], "T_C": np.linspace(0.3, 0.98, 13)[None, :]}
    ds = qtmsweep.solve("lps_fridge", **p)
    JC, JH = ds["J_Q"].sel(lead="C").values, ds["J_Q"].sel(lead="H").values
    E_c, E_r, E_h, T_R = 1.0, 3.0, 2.0, 1.0
    TH, TC = np.broadcast_arrays(p["T_H"], p["T_C"])
    margin = E_c / TC - (E_r / T_R - E_h / TH)  # < 0: inside the cooling window
    away = np.abs(margin) > 1e-3
    assert np.all((JC > 0)[away] == (margin < 0)[away])
    cooled = JC > 0
    # each swap quantum takes E_c from C and E_h from H: COP = E_c/E_h exactly (local ME), below Carnot
    np.testing.assert_allclose((JC / JH)[cooled], E_c / E_h, rtol=1e-9)
    carnot = TC * (TH - T_R) / (TH * (T_R - TC))
    assert np.all(E_c / E_h <= carnot[cooled] * (1 + 1e-12))
    assert np.all(ds["sigma"].values >= 0)


def test_lps_figure_data_edge_matches_the_sign_change(lps, tmp_path):
    from qtmsweep.plot.declared import data_lps_cooling_window, draw_lps_cooling_window

    m, _ = lps
    TH, TC = np.geomspace(1.5, 10, 6), np.linspace(0.3, 0.95, 27)
    ds = qtmsweep.solve("lps_fridge", **qtmsweep.grid(T_H=TH, T_C=TC),
                        **{k: v for k, v in m.defaults().items() if k not in ("T_H", "T_C")})
    data = data_lps_cooling_window(ds, T_H=4.0)
    for th in TH:
        sign = data["cooling_sign"].sel(T_H=th).values
        edge = float(data["window_edge"].sel(T_H=th))
        assert np.all(sign[TC > edge + 0.03] == 1) and np.all(sign[TC < edge - 0.03] == -1)
    assert draw_lps_cooling_window(data, tmp_path / "lps.png").stat().st_size > 10_000


@pytest.mark.parametrize("change,key,text", [
    ({"baths": {"C": {"T": "T_C", "couples": "c.sm", "spectrum": {"flat": "gamma"}}}},
     "models.bad.baths.C.couples", "not Hermitian"),
    ({"baths": {"C": {"T": "T_C", "couples": "z.sx", "spectrum": {"flat": "gamma"}}}},
     "models.bad.baths.C.couples", "'z' is not a subsystem"),
    ({"baths": {"C": {"T": "T_C", "couples": "c.sx", "spectrum": {"lorentz": 1}}}},
     "models.bad.baths.C.spectrum.lorentz", "allowed: flat, ohmic, filtered"),
    ({"approach": "semi"}, "models.bad.approach", "allowed: local, global"),
    ({"hamiltonian": [["E_c", "c.q"]]}, "models.bad.hamiltonian[0]", "'q' is not an operator of c"),
    ({"hamiltonian": [["E_c", "c.sp"]]}, "models.bad.hamiltonian[0]", "not Hermitian"),
    ({"subsystems": {"c": {"boson": 1}}}, "models.bad.subsystems.c.boson", "integer >= 2"),
    ({"baths": {"C": {"T": "E_c", "couples": "c.sx", "spectrum": {"flat": "gamma"}}}},
     "models.bad.baths.C.T", "as a temperature"),
])
def test_lindblad_spec_errors_name_the_key(lps, change, key, text):
    import copy

    import yaml

    spec = copy.deepcopy(yaml.safe_load(open("config/sweeps/lps_fridge.yaml"))["models"]["lps_fridge"])
    spec.update(change)
    with pytest.raises(SpecError) as err:
        build_model("bad", spec)
    assert str(err.value).startswith(key + ":") and text in str(err.value), str(err.value)
