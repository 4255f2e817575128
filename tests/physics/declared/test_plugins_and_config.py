"""Plug-in models (entry point group ``qtmsweep.models``), config ``models:`` sections, the CLI."""

from __future__ import annotations

import pickle
import subprocess
import sys
import numpy as np
import pytest
import yaml

import qtmsweep
from qtmsweep.physics import registry
from qtmsweep.physics.declared import build_model

from .specs import SQD_SPEC


class _Dist:
    name = "tiny-qtm-plugin"


class _EntryPoint:
    """A stand-in for an installed distribution's entry point (no package is installed)."""

    def __init__(self, name, value, obj):
        self.name, self.value, self.dist, self._obj = name, value, _Dist(), obj

    def load(self):
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


@pytest.fixture
def plugins(monkeypatch):
    def install(*eps):
        monkeypatch.setattr(registry, "_entry_points", lambda: list(eps))
        monkeypatch.setattr(registry, "_PLUGINS_LOADED", False)
        monkeypatch.setattr(registry, "PLUGIN_ERRORS", {})
        for name in ("plug_dot", "plug_obj"):
            registry._MODELS.pop(name, None)
            registry._ORIGINS.pop(name, None)

    yield install
    for name in ("plug_dot", "plug_obj"):
        registry._MODELS.pop(name, None)
        registry._ORIGINS.pop(name, None)


def test_entry_point_models_are_registered_with_their_origin(plugins):
    obj = build_model("plug_obj", SQD_SPEC)
    plugins(_EntryPoint("specs", "tiny_plugin:SPECS", lambda: {"plug_dot": SQD_SPEC}),
            _EntryPoint("model", "tiny_plugin:MODEL", obj),
            _EntryPoint("broken", "tiny_plugin:nothing", ImportError("no module named tiny_plugin")))
    names = qtmsweep.available_models()
    assert {"plug_dot", "plug_obj", "cqd"} <= set(names)
    assert registry.model_origin("plug_dot") == "plugin tiny-qtm-plugin:specs (tiny_plugin:SPECS)"
    assert registry.model_origin("cqd") == "built-in"
    assert "tiny-qtm-plugin:broken" in registry.PLUGIN_ERRORS  # reported, does not break the package
    p = dict(eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
    a, b = qtmsweep.solve("plug_dot", **p), qtmsweep.solve("sqd", **p)
    assert float(np.abs(a["J_N"] - b["J_N"]).max()) < 1e-15


def test_models_cli_lists_origins(plugins, capsys):
    from qtmsweep.cli import main

    plugins(_EntryPoint("specs", "tiny_plugin:SPECS", {"plug_dot": SQD_SPEC}))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "plug_dot: " in out and "[plugin tiny-qtm-plugin:specs" in out and "cqd: " in out and "[built-in]" in out


def _config(tmp_path, spec=SQD_SPEC, name="cfg_dot"):
    cfg = {"models": {name: spec},
           "sweeps": {"s": {"model": name, "fixed": {"eps": 1.0, "T_r": 1.0, "mu_l": 0.0, "mu_r": 0.0,
                                                       "gamma_l": 1.0, "gamma_r": 0.5},
                            "grid": {"T_l": {"linspace": [0.5, 2.0, 8]}}, "chunks": {"T_l": 4}}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg, path


def test_sweep_of_a_config_declared_model_is_self_describing_and_resumable(tmp_path):
    import xarray as xr

    from qtmsweep.physics.declared import register_from_dataset
    from qtmsweep.sweep import RunOptions, load_config, run_sweep

    cfg, path = _config(tmp_path)
    config = load_config(path)
    store = tmp_path / "s.zarr"
    r1 = run_sweep(config, "s", store, RunOptions(cluster="inline", progress=False))
    assert r1.complete
    ds = xr.open_zarr(store)
    doc = yaml.safe_load(ds.attrs["config"])
    assert doc["models"]["cfg_dot"] == SQD_SPEC  # the spec is in the store's provenance
    ref = qtmsweep.solve("sqd", **qtmsweep.grid(T_l=np.linspace(0.5, 2.0, 8)), eps=1.0, T_r=1.0, mu_l=0.0,
                         mu_r=0.0, gamma_l=1.0, gamma_r=0.5)
    np.testing.assert_allclose(ds["J_N"].values, ref["J_N"].values, rtol=1e-12)
    r2 = run_sweep(load_config(path), "s", store, RunOptions(cluster="inline", progress=False))
    assert r2.chunks_computed == 0  # same spec: resumed, nothing to do
    changed = dict(SQD_SPEC, reference_lead="l")
    cfg2, path2 = _config(tmp_path, changed)
    from qtmsweep.sweep import StoreError

    with pytest.raises(StoreError, match="different config"):
        run_sweep(load_config(path2), "s", store, RunOptions(cluster="inline", progress=False))
    assert qtmsweep.get_model("cfg_dot").spec == changed  # the last config loaded replaced it
    registry._MODELS.pop("cfg_dot")
    assert register_from_dataset(ds) == "cfg_dot"
    assert qtmsweep.get_model("cfg_dot").spec == SQD_SPEC  # rebuilt from the store alone


def test_a_plan_rebuilds_its_declared_model_where_the_registry_lacks_it(tmp_path):
    """What a Dask worker does: unpickle the plan (the spec travels with it) and compute a chunk."""
    from qtmsweep.sweep import build_plan, load_config

    _, path = _config(tmp_path, name="worker_dot")
    plan = build_plan(load_config(path), "s", probe=False)
    blob = pickle.dumps(plan)
    code = ("import pickle, sys; from qtmsweep.physics import registry; "
            "assert 'worker_dot' not in registry._MODELS; plan = pickle.loads(sys.stdin.buffer.read()); "
            "ds = plan.compute(plan.chunk_slices((0,))); print(float(ds.J_N.sel(lead='l')[0]))")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    ref = qtmsweep.solve("sqd", eps=1.0, T_l=0.5, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=0.5)
    assert abs(float(out.stdout) - float(ref.J_N.sel(lead="l"))) < 1e-15


def test_bad_spec_in_a_config_is_a_clear_cli_error_naming_the_key(tmp_path):
    spec = dict(SQD_SPEC, leads={"l": {"T": "T_l", "mu": "mu_l", "couples": {"X": "gamma_l"}},
                                 "r": {"T": "T_r", "mu": "mu_r", "couples": {"d": "gamma_r"}}})
    _, path = _config(tmp_path, spec, name="bad_dot")
    out = subprocess.run([sys.executable, "-m", "qtmsweep.cli", "validate", str(path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "models.bad_dot.leads.l.couples.X: 'X' is not an orbital" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_config_cannot_redefine_a_builtin_model(tmp_path):
    from qtmsweep.sweep import ConfigError, load_config

    _, path = _config(tmp_path, name="sqd")
    with pytest.raises(ConfigError, match="already registered"):
        load_config(path)


def test_a_fresh_process_analyses_a_declared_store_without_redeclaring_the_model(tmp_path):
    """open_store, current_scales and `qtmsweep analyze` in a new Python process register the model
    from the spec recorded in the store (no models: section, no define_model there)."""
    import os
    import subprocess
    import sys

    from qtmsweep.sweep import RunOptions, load_config, run_sweep

    _, path = _config(tmp_path, name="fresh_dot")
    store = tmp_path / "s.zarr"
    assert run_sweep(load_config(path), "s", store, RunOptions(cluster="inline", progress=False)).complete
    script = f"""
import numpy as np
from qtmsweep.physics.registry import _MODELS
assert "fresh_dot" not in _MODELS
from qtmsweep.sweep.opening import open_store
ds = open_store({str(store)!r}, load=True)
from qtmsweep.thermo.classify import current_scales
G = current_scales(ds)
# the one-way traffic of a lead bounds its net particle current, and is not the max-|J| fallback
assert np.all(G["G_N"].values >= np.abs(ds["J_N"].values)), "traffic below the net current"
assert not np.allclose(G["G_N"].values, np.abs(ds["J_N"]).max("lead").values[..., None]), "fallback used"
print("ok")
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(p) for p in sys.path if p]))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    cli = subprocess.run([sys.executable, "-c", "import sys; from qtmsweep.cli import main; sys.exit(main())",
                          "analyze", str(store)], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "Traceback" not in cli.stderr
