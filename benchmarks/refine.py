"""Adaptive refinement against the dense sweep it stands for, at 4096² effective resolution (issue 15).

For each preset of ``config/sweeps/refined.yaml`` (default: ``000_fig4_refined``, cqd model I,
4097 x 4097 nodes = 1.68e7 cells): the refined run (``qtmsweep.sweep.refine.run_refine``) and the
dense run of the same config without ``refine:`` (``qtmsweep.sweep.run_sweep``), one after the
other in this process, on the same kind of cluster.  Prints the nodes evaluated per level, their
ratio to the dense grid (goal <= 5%), both wall times and their ratio, and checks the refined
boundary against the dense one (boundary cells within one finest cell of each other) — the dense
labels are read slab by slab from the dense store.

Run: ``python benchmarks/refine.py [--preset 000_fig4_refined] [--levels 7] [--base 33]
[--cluster local|inline] [--no-dense]`` (stores under ``benchmarks/out/``, deleted unless ``--keep``).
The machine this runs on may be shared: wall times are ratios measured in one run, not absolutes.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

HERE = Path(__file__).resolve().parent
PRESETS = HERE.parent / "config" / "sweeps" / "refined.yaml"


def config_for(preset: str, levels: int, base: int) -> dict:
    from qtmsweep.sweep.config import validate_config

    raw = yaml.safe_load(PRESETS.read_text())
    sc = raw["sweeps"][preset]
    n = (base - 1) * 2 ** levels + 1
    for group in ("grid", "forces"):
        for spec in (sc.get(group) or {}).values():
            if isinstance(spec, dict) and "linspace" in spec:
                spec["linspace"][2] = n
    sc["refine"].update(levels=levels, base=[base, base])
    return validate_config({"sweeps": {preset: sc}})


def dense_labels(path: Path, on: list[str], slab: int = 256) -> dict[str, np.ndarray]:
    from qtmsweep.sweep.refine import labels

    ds = xr.open_zarr(str(path), consolidated=None)
    d0, d1 = [d for d in ds["sigma"].dims][:2]
    out: dict[str, list[np.ndarray]] = {}
    for i in range(0, ds.sizes[d0], slab):
        part = ds.isel({d0: slice(i, i + slab)}).load()
        for k, v in labels(part, on).items():
            out.setdefault(k, []).append(v.transpose(d0, d1).values)
    return {k: np.concatenate(v, axis=0) for k, v in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="000_fig4_refined")
    ap.add_argument("--levels", type=int, default=7)
    ap.add_argument("--base", type=int, default=33)
    ap.add_argument("--cluster", default="local", choices=["local", "inline"])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--tile", type=int, default=None, help="refine.tile (nodes per zarr chunk edge)")
    ap.add_argument("--no-dense", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)

    from qtmsweep.sweep import RunOptions, run_sweep
    from qtmsweep.sweep.refine import finest, label_names, run_refine
    from qtmsweep.thermo.boundary import boundary_cells, dilate

    cfg = config_for(args.preset, args.levels, args.base)
    on = cfg["sweeps"][args.preset]["refine"]["on"]
    if args.tile:
        cfg["sweeps"][args.preset]["refine"]["tile"] = args.tile
    out = HERE / "out" / "refine"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    opts = dict(cluster=args.cluster, n_workers=args.workers, progress=False, if_exists="overwrite")

    t0, c0 = time.perf_counter(), time.process_time()
    r = run_refine(cfg, args.preset, out / "refined.zarr", RunOptions(**opts))
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    n = r.nodes_dense
    print(f"{args.preset}: {int(round(n ** 0.5))}^2 = {n:,} effective nodes, base {args.base}^2, {args.levels} levels")
    for k, c in enumerate(r.nodes_per_level):
        print(f"  level {k}: {c:,} nodes")
    print(f"refined: {r.nodes_evaluated:,} nodes evaluated = {100 * r.ratio:.3f}% of dense "
          f"(goal <= 5%) in {r.tasks_computed} tasks, wall {t_ref:.1f} s, CPU of this process {c_ref:.1f} s")
    if args.no_dense:
        return 0
    dense_cfg = copy.deepcopy(cfg)
    del dense_cfg["sweeps"][args.preset]["refine"]
    t0, c0 = time.perf_counter(), time.process_time()
    d = run_sweep(dense_cfg, args.preset, out / "dense.zarr", RunOptions(**opts))
    t_dense, c_dense = time.perf_counter() - t0, time.process_time() - c0
    print(f"dense:   {d.cells_computed:,} cells in {d.chunks_computed} chunks, wall {t_dense:.1f} s, "
          f"CPU of this process {c_dense:.1f} s")
    print(f"ratio refined/dense: nodes {r.ratio:.4f}, wall time {t_ref / t_dense:.4f}, CPU {c_ref / c_dense:.4f} "
          "(shared machine: wall times are only indicative; CPU counts this process only, i.e. everything "
          "with --cluster inline)")
    dense = dense_labels(out / "dense.zarr", on)
    ok = True
    for name, var in zip(on, label_names(on)):
        fine = finest(out / "refined.zarr", var).values
        b_ref, b_fine = boundary_cells(dense[var]), boundary_cells(fine)
        miss = int((b_ref & ~dilate(b_fine, 1)).sum())
        extra = int((b_fine & ~dilate(b_ref, 1)).sum())
        differ = int((fine != dense[var]).sum())
        ok &= miss == 0 and extra == 0
        print(f"boundary {name}: {int(b_ref.sum()):,} dense boundary cells; missed {miss}, spurious {extra} "
              f"(within one finest cell); nodes with another label: {differ}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
