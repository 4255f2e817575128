"""Provenance: the commit recorded is qtmsweep's own, never the HEAD of a repository it is installed in,
and what cannot be told is recorded as unknown (not as a clean tree)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import qtmsweep
from qtmsweep.sweep.provenance import git_revision, version_string

SRC = Path(qtmsweep.__file__).resolve().parent
PROBE = ("import json, qtmsweep.sweep.provenance as p; rev, dirty = p.git_revision(); "
         "print(json.dumps([rev, dirty, p.version_string('0.1.0', rev, dirty)]))")


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "u", "GIT_AUTHOR_EMAIL": "u@x", "GIT_COMMITTER_NAME": "u",
           "GIT_COMMITTER_EMAIL": "u@x"}
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def _probe(pythonpath: Path) -> list:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True,
                         cwd=str(pythonpath))
    return json.loads(out.stdout)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_checkout_records_its_own_head_and_the_version_carries_it():
    try:
        head = _git(SRC, "rev-parse", "HEAD")
    except subprocess.CalledProcessError:
        pytest.skip("not running from a git checkout of qtmsweep")
    rev, dirty = git_revision()
    assert rev == head and dirty in (True, False)
    assert version_string("0.1.0", rev, dirty).startswith(f"0.1.0+g{head[:12]}")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_package_inside_a_users_repository_does_not_record_the_users_head(tmp_path):
    """issue 16: an installed qtmsweep under a user's repository recorded the user's HEAD."""
    user = tmp_path / "user_repo"
    user.mkdir()
    _git(user, "init", "-q")
    (user / "analysis.txt").write_text("mine\n")
    shutil.copytree(SRC, user / "lib" / "qtmsweep", ignore=shutil.ignore_patterns("__pycache__"))
    _git(user, "add", "-A")
    _git(user, "commit", "-qm", "user commit")
    user_head = _git(user, "rev-parse", "HEAD")
    rev, dirty, version = _probe(user / "lib")
    assert rev != user_head and dirty is None
    assert user_head[:12] not in version


def test_without_any_repository_dirty_is_unknown_not_false(tmp_path):
    shutil.copytree(SRC, tmp_path / "qtmsweep", ignore=shutil.ignore_patterns("__pycache__"))
    rev, dirty, version = _probe(tmp_path)
    assert dirty is None
    if rev is None:
        assert version == "0.1.0"


def test_provenance_attrs_say_unknown_where_the_tree_cannot_be_told(monkeypatch):
    import qtmsweep.sweep.provenance as prov
    from qtmsweep.sweep import build_plan, validate_config

    from .conftest import grid_sweep, make_config

    plan = build_plan(validate_config(make_config(s=grid_sweep())), "s")
    monkeypatch.setattr(prov, "git_revision", lambda: (None, None))
    attrs = prov.provenance(plan)
    assert attrs["git_dirty"] == "unknown" and attrs["git_revision"] == "unknown"
    monkeypatch.setattr(prov, "git_revision", lambda: ("ab" * 20, True))
    attrs = prov.provenance(plan)
    assert attrs["git_dirty"] is True and attrs["qtmsweep_version"].endswith("+g" + "ab" * 6 + ".dirty")
