"""What a sweep will write: cells, projected store size, and whether the disk can hold it.

The projection is the uncompressed size of every data variable (float32 for the diagnostics kept
so, see :data:`~qtmsweep.sweep.layout.FLOAT32_DIAGNOSTICS`): an upper bound, as blosc only shrinks
chunks (by about a third for these maps).

Examples
--------
>>> format_bytes(3 * 2**30)
'3.00 GiB'
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from .grid import SweepPlan
from .layout import FLOAT32_DIAGNOSTICS, StoreError


def bytes_per_cell(probe: xr.Dataset, dims: tuple[str, ...]) -> int:
    """Stored bytes of one cell: every data variable, over its non-swept dims (``lead``, ``state``)."""
    total = 0
    for name, v in probe.data_vars.items():
        itemsize = 4 if name in FLOAT32_DIAGNOSTICS and v.dtype == np.float64 else v.dtype.itemsize
        total += itemsize * int(np.prod([v.sizes[d] for d in v.dims if d not in dims], dtype=np.int64))
    return total


def projected_store_bytes(plan: SweepPlan, probe: xr.Dataset) -> int:
    """Upper bound of the store's data size (uncompressed), plus the coordinates."""
    coords = sum(len(a) * 8 for a in plan.axes)
    return int(plan.n_cells) * bytes_per_cell(plan.store.apply(probe), plan.dims) + coords


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PiB"  # pragma: no cover


def free_bytes(path: str | Path) -> int:
    """Free space for an unprivileged writer on the file system that will hold ``path``."""
    p = Path(path).absolute()
    for parent in [p, *p.parents]:
        if parent.exists():
            return int(shutil.disk_usage(parent).free)
    return int(shutil.disk_usage("/").free)  # pragma: no cover


def check_disk_space(plan: SweepPlan, probe: xr.Dataset, path: str | Path, done_fraction: float = 0.0) -> int:
    """Refuse a sweep whose (remaining) projected size exceeds the free disk; return that size.

    Raises
    ------
    StoreError
        Naming the sweep, its cells, the projected and the free size, and what to do.
    """
    need = int(projected_store_bytes(plan, probe) * max(0.0, 1.0 - done_fraction))
    free = free_bytes(path)
    if need > free:
        raise StoreError(f"sweep {plan.name!r}: {plan.n_cells} cells in {plan.n_chunks} chunks project a store of up to "
                         f"{format_bytes(need)} (uncompressed; blosc saves about a third), but {str(path)!r} has "
                         f"{format_bytes(free)} free; shrink the grid, free space or choose another --out, or pass "
                         "--no-disk-check (dask.check_disk: false) to run anyway")
    return need
