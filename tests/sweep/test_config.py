"""Config schema: defaults, good configs, bad configs refused with the offending key named."""

from __future__ import annotations

import copy
import hashlib
import math
from pathlib import Path

import pytest
import yaml

from qtmsweep.sweep.config import (SCHEMA_PATH, ConfigError, load_config, sweep_sha256, sweep_yaml, validate_config,
                                   write_sweep_config)

from .conftest import force_sweep, grid_sweep, make_config, write_config

REPO = Path(__file__).resolve().parents[2]


def test_default_config_file_is_valid_and_has_small_sweeps():
    cfg = load_config(REPO / "config" / "config.yaml")
    from qtmsweep.sweep import build_plan

    assert cfg["sweeps"], "the default config defines sweeps"
    for name in cfg["sweeps"]:
        plan = build_plan(cfg, name)
        assert plan.n_cells <= 100_000  # runs in seconds on 2 cores


def test_defaults_are_filled_at_every_level():
    cfg = validate_config({"sweeps": {"s": grid_sweep()}})
    assert cfg["results_dir"] == "results"
    assert cfg["dask"]["cluster"] == "auto" and cfg["dask"]["threads_per_worker"] == 1
    assert cfg["dask"]["slurm"]["jobs"] == 1 and cfg["dask"]["slurm"]["memory"] == "1GB"
    assert cfg["sweeps"]["s"]["method"] == "auto" and "chunk_cells" not in cfg["sweeps"]["s"]


def test_cli_and_snakemake_fill_the_same_defaults():
    from snakemake.utils import validate

    raw = {"sweeps": {"s": grid_sweep(), "f": force_sweep("II")}}
    ours = validate_config(raw)
    theirs = copy.deepcopy(raw)
    validate(theirs, str(SCHEMA_PATH))
    assert ours == theirs


def test_validation_does_not_modify_its_input():
    raw = {"sweeps": {"s": grid_sweep()}}
    before = copy.deepcopy(raw)
    validate_config(raw)
    assert raw == before


def test_force_space_config_of_both_reduced_models_is_valid():
    cfg = validate_config(make_config(a=force_sweep("I"), b=force_sweep("II")))
    assert set(cfg["sweeps"]) == {"a", "b"}


def _bad(mutate, *, base=None) -> str:
    cfg = copy.deepcopy(base or make_config(s=grid_sweep()))
    mutate(cfg)
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    return str(info.value)


#: Every way of getting a config wrong that we know of: (mutation of a valid config on sweep ``s``,
#: the key the message must name, a fragment of the offending value the message must show).
BAD_CONFIGS = [
    (lambda c: c.update(extra=1), "extra", "'extra'"),
    (lambda c: c["sweeps"]["s"].update(gird={}), "sweeps.s.gird", "'gird'"),
    (lambda c: c["sweeps"]["s"].pop("model"), "sweeps.s.model", "required"),
    (lambda c: c["sweeps"]["s"].update(model="nope"), "sweeps.s.model", "'nope'"),
    (lambda c: c["sweeps"]["s"].update(model=3), "sweeps.s.model", ": 3 is not"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"linspace": [0.2, 2.0]}), "sweeps.s.grid.T_a", "[0.2, 2.0]"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"linspace": [0.2, 2.0, 0]}), "sweeps.s.grid.T_a", ": 0 is less"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"linspace": [0.2, 2.0, 2.5]}), "sweeps.s.grid.T_a", ": 2.5 is not"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"linspace": [2.0, 0.2, 5]}), "sweeps.s.grid.T_a", "stop=0.2"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"linspace": [0.2, float("inf"), 5]}), "sweeps.s.grid.T_a", "inf"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"values": []}), "sweeps.s.grid.T_a", "[]"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"values": [1.0, 0.5]}), "sweeps.s.grid.T_a", "1.0 is followed by 0.5"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"values": [1.0, 1.0]}), "sweeps.s.grid.T_a", "1.0 is followed by 1.0"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"values": ["hot"]}), "sweeps.s.grid.T_a", "'hot'"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"values": [float("nan")]}), "sweeps.s.grid.T_a", "nan"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"values": [0.5, float("inf")]}), "sweeps.s.grid.T_a", "inf"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"linspace": [-1.0, 2.0, 5]}), "sweeps.s.grid.T_a", "T_a=-1.0"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"values": [0.0, 1.0]}), "sweeps.s.grid.T_a", "T_a=0.0"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"geomspace": [0.0, 2.0, 5]}), "sweeps.s.grid.T_a", "0.0"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a={"spline": [1, 2, 3]}), "sweeps.s.grid.T_a", "'spline'"),
    (lambda c: c["sweeps"]["s"]["grid"].update(T_a=[0.5, 1.0]), "sweeps.s.grid.T_a", "[0.5, 1.0]"),
    (lambda c: c["sweeps"]["s"]["fixed"].update(T_b=0.0), "sweeps.s.fixed.T_b", "T_b=0.0"),
    (lambda c: c["sweeps"]["s"]["fixed"].update(T_b=-2.0), "sweeps.s.fixed.T_b", "T_b=-2.0"),
    (lambda c: c["sweeps"]["s"]["fixed"].update(T_b=float("nan")), "sweeps.s.fixed.T_b", "T_b=nan"),
    (lambda c: c["sweeps"]["s"]["fixed"].update(T_b=float("inf")), "sweeps.s.fixed.T_b", "T_b=inf"),
    (lambda c: c["sweeps"]["s"]["fixed"].update(T_b="warm"), "sweeps.s.fixed.T_b", "'warm'"),
    (lambda c: c["sweeps"]["s"]["fixed"].update(mu_b=True), "sweeps.s.fixed.mu_b", "True"),
    (lambda c: c["sweeps"]["s"]["fixed"].update(gamma_a=-1.0), "sweeps.s.fixed.gamma_a", "gamma_a=-1.0"),
    (lambda c: c["sweeps"]["s"]["fixed"].update(T_a=1.0), "sweeps.s.grid.T_a", "both fixed"),  # fixed and swept
    (lambda c: c["sweeps"]["s"]["fixed"].update(temperature=1.0), "sweeps.s.fixed.temperature", "'temperature'"),
    (lambda c: c["sweeps"]["s"]["grid"].update(Temp={"values": [1.0]}), "sweeps.s.grid.Temp", "'Temp'"),
    (lambda c: c["sweeps"]["s"]["fixed"].pop("mu_r"), "mu_r", "neither fixed nor swept"),
    (lambda c: c["sweeps"]["s"]["chunks"].update(T_a=0), "sweeps.s.chunks.T_a", ": 0 is not valid"),
    (lambda c: c["sweeps"]["s"]["chunks"].update(T_a=-3), "sweeps.s.chunks.T_a", ": -3 is not valid"),
    (lambda c: c["sweeps"]["s"]["chunks"].update(T_a=1000), "sweeps.s.chunks.T_a", ": 1000 exceeds"),
    (lambda c: c["sweeps"]["s"]["chunks"].update(T_a=2.5), "sweeps.s.chunks.T_a", ": 2.5 is not"),
    (lambda c: c["sweeps"]["s"]["chunks"].update(kappa=2), "sweeps.s.chunks.kappa", "'kappa'"),
    (lambda c: c["sweeps"]["s"].update(chunk_cells=0), "sweeps.s.chunk_cells", ": 0 is less"),
    (lambda c: c["sweeps"]["s"].update(grid={}), "sweeps.s", "nothing is swept"),
    (lambda c: c["sweeps"].update({"bad name": grid_sweep()}), "sweeps", "'bad name'"),
    (lambda c: c["dask"].update(cluster="cloud"), "dask.cluster", "'cloud'"),
    (lambda c: c["dask"].update(n_workers=0), "dask.n_workers", ": 0 is less"),
    (lambda c: c["dask"].update(slurm={"queue": "debug", "cpus": 4}), "dask.slurm.cpus", "'cpus'"),
    (lambda c: c.update(sweeps={}), "sweeps", "{}"),
]


@pytest.mark.parametrize("mutate, key, value", BAD_CONFIGS)
def test_bad_config_is_refused_naming_the_key_and_the_value(mutate, key, value):
    message = _bad(mutate)
    assert key in message and value in message, message


@pytest.mark.parametrize("mutate, key", [
    (lambda f: f.update(reduced_model="III"), "sweeps.s.forces.reduced_model"),
    (lambda f: f.pop("beta_r"), "beta_r"),
    (lambda f: f.update(F_E_b={"linspace": [0, 1, 3]}), "F_E_b"),  # a model II force in model I
    (lambda f: f.update(beta_r=0.0), "sweeps.s.forces.beta_r"),
    (lambda f: f.update(F_E_r={"linspace": [-2.0, 1.0, 5]}), "sweeps.s.forces.F_E_r"),  # beta_r + F_E_r <= 0
    (lambda f: f.update(F_N_b={"values": [1.0, 0.0]}), "sweeps.s.forces.F_N_b"),
])
def test_bad_force_space_config_is_refused_naming_the_key(mutate, key):
    message = _bad(lambda c: mutate(c["sweeps"]["s"]["forces"]), base=make_config(s=force_sweep("I")))
    assert key in message, message


def test_force_implied_parameter_given_also_as_fixed_is_refused():
    message = _bad(lambda c: c["sweeps"]["s"]["fixed"].update(T_a=1.0), base=make_config(s=force_sweep("I")))
    assert "sweeps.s.fixed.T_a" in message and "force" in message


def test_model_II_preset_needs_mu_r_explicitly():
    message = _bad(lambda c: c["sweeps"]["s"]["fixed"].pop("mu_r"), base=make_config(s=force_sweep("II")))
    assert "mu_r" in message and "neither fixed nor swept" in message


def test_kappa_may_be_given_as_kappa_c_and_kappa_s():
    s = grid_sweep()
    del s["fixed"]["kappa"]
    s["fixed"].update(kappa_c=0.5, kappa_s=2.0)
    validate_config(make_config(s=s))
    s["fixed"]["kappa_s"] = -1.0
    with pytest.raises(ConfigError, match="kappa_s"):
        validate_config(make_config(s=s))


def test_yaml_load_errors_name_the_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("sweeps: [unclosed\n")
    with pytest.raises(ConfigError, match="c.yaml"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_sweep_hash_covers_what_defines_the_data_only():
    a = validate_config(make_config(s=grid_sweep(), t=force_sweep()))
    b = copy.deepcopy(a)
    b["dask"]["cluster"] = "local"
    b["dask"]["n_workers"] = 7
    b["sweeps"]["s"]["description"] = "an edited description"
    b["sweeps"]["s"]["resources"] = {"threads": 1, "mem_mb": 100, "runtime": 5}
    assert sweep_sha256(a, "s") == sweep_sha256(b, "s")
    data_only = copy.deepcopy(a["sweeps"]["s"])
    for key in ("description", "resources"):
        data_only.pop(key, None)
    text = yaml.safe_dump({"sweeps": {"s": data_only}}, sort_keys=False, default_flow_style=None,
                          allow_unicode=True, width=100)
    assert sweep_sha256(a, "s") == hashlib.sha256(text.encode()).hexdigest()
    c = copy.deepcopy(a)
    c["sweeps"]["s"]["fixed"]["kappa"] = 1.5
    assert sweep_sha256(c, "s") != sweep_sha256(a, "s")
    assert sweep_sha256(c, "t") == sweep_sha256(a, "t")  # other sweeps unaffected


def test_written_sweep_config_reloads_to_the_same_hash(tmp_path):
    cfg = validate_config(make_config(s=grid_sweep(), t=force_sweep()))
    path = write_sweep_config(cfg, "t", tmp_path / "t.yaml")
    again = load_config(path)
    assert list(again["sweeps"]) == ["t"]
    assert sweep_sha256(again, "t") == sweep_sha256(cfg, "t")


def test_yaml_round_trip_of_a_config_file(tmp_path):
    cfg = make_config(s=grid_sweep())
    cfg["sweeps"]["s"]["grid"]["mu_a"] = {"logspace": [-1, 0, 3]}
    loaded = load_config(write_config(tmp_path / "c.yaml", cfg))
    assert math.isclose(loaded["sweeps"]["s"]["grid"]["mu_a"]["logspace"][1], 0)
    assert yaml.safe_load(sweep_yaml(loaded, "s"))["sweeps"]["s"]["model"] == "cqd"
