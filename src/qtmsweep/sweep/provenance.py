"""Provenance recorded in a store's attrs when it is created (SPEC §4)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .grid import SweepPlan
from .layout import STORE_FORMAT, _now


def _package_root() -> Path:
    """The directory holding the ``qtmsweep`` package (``src/`` in a checkout, ``site-packages`` installed)."""
    return Path(__file__).resolve().parents[2]


def _is_qtmsweep_checkout(toplevel: Path) -> bool:
    """Whether the git work tree at ``toplevel`` is qtmsweep's own source (its ``pyproject.toml`` names it)."""
    try:
        text = (toplevel / "pyproject.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.replace(" ", "") in ('name="qtmsweep"', "name='qtmsweep'") for line in text.splitlines())


def _git(here: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10)


def git_revision() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the qtmsweep source tree the package is imported from.

    Only a git checkout *of qtmsweep* counts: the package's own files must be tracked in it and
    its top level must be qtmsweep's project (an installed qtmsweep inside a user's repository
    would otherwise record the user's HEAD).  Otherwise the commit comes from the installed
    distribution's ``direct_url.json`` (``pip install git+...``), with ``dirty`` unknown.
    ``None`` for what cannot be told.
    """
    here = Path(__file__).resolve().parent
    try:
        top = _git(here, "rev-parse", "--show-toplevel")
        if top.returncode == 0 and _is_qtmsweep_checkout(Path(top.stdout.strip())):
            tracked = _git(here, "ls-files", "--error-unmatch", Path(__file__).name)
            rev = _git(here, "rev-parse", "HEAD")
            if tracked.returncode == 0 and rev.returncode == 0:
                dirty = _git(Path(top.stdout.strip()), "status", "--porcelain", "--untracked-files=no")
                return rev.stdout.strip(), bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return _installed_commit(), None


def _installed_commit() -> str | None:
    """The VCS commit pip recorded for an install from a repository (PEP 610), if any."""
    import json
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("qtmsweep").read_text("direct_url.json")
        info = json.loads(text) if text else {}
    except (PackageNotFoundError, ValueError, OSError):
        return None
    commit = (info.get("vcs_info") or {}).get("commit_id")
    return str(commit) if commit else None


def version_string(version: str, rev: str | None, dirty: bool | None) -> str:
    """``version`` with the commit as a PEP 440 local label: ``0.1.0+g1a2b3c4d5e6f`` (``.dirty``
    when the tree had uncommitted changes, ``.unknown-dirty`` when that cannot be told).

    >>> version_string("0.1.0", "1a2b3c4d5e6f7a8b", False)
    '0.1.0+g1a2b3c4d5e6f'
    >>> version_string("0.1.0", None, None)
    '0.1.0'
    """
    if not rev:
        return version
    label = f"g{rev[:12]}" + {True: ".dirty", False: "", None: ".unknown-dirty"}[dirty]
    return f"{version}{'.' if '+' in version else '+'}{label}"


def provenance(plan: SweepPlan) -> dict[str, Any]:
    """Attrs recorded when a store is created (SPEC §4 and issue 3)."""
    from .. import __version__

    rev, dirty = git_revision()
    return {
        "qtmsweep_version": version_string(__version__, rev, dirty),
        "git_revision": rev if rev is not None else "unknown",
        # a string where it cannot be told: ``False`` would claim a clean tree
        "git_dirty": bool(dirty) if dirty is not None else "unknown",
        "config": plan.config_yaml,
        "created": _now(),
        "chunk_dims": list(plan.dims),
        "chunk_sizes": [int(c) for c in plan.chunks],
        "qtmsweep_store_format": STORE_FORMAT,
    }
