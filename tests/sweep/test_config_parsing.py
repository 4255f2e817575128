"""issue 16: config files are read strictly -- duplicate keys refused, `1e-3` a number, sweep names
checked at validation, a non-UTF-8 file and an alias bomb named before any work."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from qtmsweep.sweep import ConfigError, load_config, validate_config

from .conftest import grid_sweep, make_config

CQD = """sweeps:
  {name}:
    model: cqd
    fixed: {{eps_L: 1.0, eps_R: 2.5, kappa: -1.5, T_b: 1.0, T_r: 1.0, mu_b: 1.0, mu_r: 0.0, gamma_a: 1.0,
            gamma_b: 1.0, gamma_r: {gamma_r}}}
    grid: {{T_a: {{linspace: [0.5, 2.0, 4]}}, mu_a: {{linspace: [-1.0, 2.0, 3]}}}}
"""


def _write(tmp_path, text: str, name: str = "c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_duplicate_key_in_a_mapping_is_refused_naming_it(tmp_path):
    """`fixed: {eps: 1.0, eps: 5.0}` ran with eps = 5."""
    text = CQD.format(name="s", gamma_r="1.0").replace("eps_L: 1.0,", "eps_L: 1.0, eps_L: 5.0,")
    with pytest.raises(ConfigError, match=r"line 4: key 'eps_L' is given twice"):
        load_config(_write(tmp_path, text))


def test_a_second_sweeps_block_is_refused(tmp_path):
    """A second `sweeps:` block dropped the first."""
    text = CQD.format(name="a", gamma_r="1.0") + CQD.format(name="b", gamma_r="1.0")
    with pytest.raises(ConfigError, match=r"key 'sweeps' is given twice"):
        load_config(_write(tmp_path, text))


def test_1e_minus_3_is_a_number(tmp_path):
    """YAML 1.1 read `1e-3` as a string, refused as "not a number"."""
    cfg = load_config(_write(tmp_path, CQD.format(name="s", gamma_r="1e-3")))
    assert cfg["sweeps"]["s"]["fixed"]["gamma_r"] == 0.001


@pytest.mark.parametrize("name, why", [("123", "read as int"), ("yes", "read as bool"), ("x" * 250, "250 characters")])
def test_sweep_names_that_would_crash_at_run_time_are_refused_at_validation(tmp_path, name, why):
    with pytest.raises(ConfigError, match=why):
        load_config(_write(tmp_path, CQD.format(name=name, gamma_r="1.0")))
    proc = subprocess.run([sys.executable, "-m", "qtmsweep.cli", "validate", str(tmp_path / "c.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr


def test_a_quoted_numeric_name_is_fine(tmp_path):
    assert "123" in load_config(_write(tmp_path, CQD.format(name='"123"', gamma_r="1.0")))["sweeps"]


def test_names_in_python_configs_are_checked_too():
    with pytest.raises(ConfigError, match="read as int"):
        validate_config({"sweeps": {123: grid_sweep()}})


def test_a_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(CQD.format(name="s", gamma_r="1.0").encode() + "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text \(byte 0xe9"):
        load_config(path)


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    """An alias bomb in a typed field grew to 4 GB before failing."""
    lines = ["a0: &a0 [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "\n".join(lines) + "\n" + CQD.format(name="s", gamma_r="*a9")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(_write(tmp_path, text))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing was expanded


def test_ordinary_configs_still_load(tmp_path):
    import yaml

    cfg = make_config(s=grid_sweep())
    path = _write(tmp_path, yaml.safe_dump(cfg))
    assert load_config(path)["sweeps"]["s"]["fixed"] == cfg["sweeps"]["s"]["fixed"]
