"""Provenance recorded in a store's attrs when it is created (SPEC §4)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .grid import SweepPlan
from .layout import STORE_FORMAT, _now


def git_revision() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the source tree the package is imported from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return None, None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip(), bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None



def provenance(plan: SweepPlan) -> dict[str, Any]:
    """Attrs recorded when a store is created (SPEC §4 and issue 3)."""
    from .. import __version__

    rev, dirty = git_revision()
    return {
        "qtmsweep_version": __version__,
        "git_revision": rev if rev is not None else "none",
        "git_dirty": bool(dirty) if dirty is not None else False,
        "config": plan.config_yaml,
        "created": _now(),
        "chunk_dims": list(plan.dims),
        "chunk_sizes": [int(c) for c in plan.chunks],
        "qtmsweep_store_format": STORE_FORMAT,
    }
