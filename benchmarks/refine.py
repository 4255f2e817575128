"""Adaptive refinement against the dense grid it stands for, at up to 4096² effective resolution (issue 15).

For each preset of ``config/sweeps/refined.yaml`` (default: all three — ``000_fig4_refined``, cqd
model I; ``000_fig6_refined``, cqd model II; ``003_cooling_refined``, qubit_fridge local, the sign
of J_Q[C]), in one process, one after the other:

1. the refined run (``qtmsweep.sweep.refine.run_refine``, ``--cluster inline`` by default);
2. the dense grid at the same effective resolution, computed in this process with
   ``qtmsweep.solve`` in row blocks of ``--block`` rows (memory bounded; only the labels are kept),
   the parameters mapped from the config independently of the refinement code (forces ->
   temperatures and chemical potentials by ``physics.reduced.force_space_parameters``);
3. optionally (``--dense-sweep``) the dense sweep itself (``run_sweep`` of the config without
   ``refine:``, with its store), timed too.

It prints the nodes evaluated per level, their share of the dense grid (goal <= 5%), wall and CPU
time of each run and their ratios, and compares the boundaries cell for cell: every boundary cell
of the dense labels within one finest cell of a boundary cell of the refined labels, and back.
Exit status 1 if a boundary disagrees or a share exceeds 5%.

Run: ``python benchmarks/refine.py [--preset all|000_fig4_refined|...] [--levels 7] [--levels-003 6]
[--base 33] [--cluster inline|local] [--dense-sweep] [--tile 256]`` (stores under
``benchmarks/out/``, deleted unless ``--keep``).  ``qubit_fridge`` costs ~36 µs per cell, so its
dense 4097² grid (1.7e7 cells) takes ~10 min of one core: ``--levels-003 6`` (2049²) by default.
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
import yaml

HERE = Path(__file__).resolve().parent
PRESETS = HERE.parent / "config" / "sweeps" / "refined.yaml"
ALL = ["000_fig4_refined", "000_fig6_refined", "003_cooling_refined"]


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


def dense_labels_by_solve(sc: dict, dims: tuple[str, str], block: int = 64) -> dict[str, np.ndarray]:
    """Labels of the whole dense grid of sweep config ``sc``, by ``qtmsweep.solve`` on blocks of rows.

    ``dims``: the two swept axes in the order of the result's array dimensions.
    """
    import xarray as xr

    import qtmsweep
    from qtmsweep.physics.reduced import force_space_parameters
    from qtmsweep.sweep.refine import labels

    axes = {}
    for group in ("grid", "forces"):
        for k, spec in (sc.get(group) or {}).items():
            if isinstance(spec, dict) and "linspace" in spec:
                a, b, n = spec["linspace"]
                axes[k] = np.linspace(float(a), float(b), int(n))
    forces = dict(sc.get("forces") or {})
    on = sc["refine"]["on"]
    x0, x1 = axes[dims[0]], axes[dims[1]]
    out: dict[str, list[np.ndarray]] = {}
    for i in range(0, x0.size, block):
        g = qtmsweep.grid(**{dims[0]: x0[i:i + block], dims[1]: x1})
        params = dict(sc["fixed"])
        if forces:  # force space of reduced model I or II: the temperatures and chemical potentials it implies
            fs = {k: g.get(k, v) for k, v in forces.items() if k != "reduced_model"}
            params.update(force_space_parameters(forces["reduced_model"], **fs))
        else:
            params.update(g)
        ds = qtmsweep.solve(sc["model"], **params)
        for k, v in labels(ds, on).items():
            out.setdefault(k, []).append(v.transpose(*dims).values)
        del ds
    return {k: np.concatenate(v, axis=0) for k, v in out.items()}


def compare(fine: np.ndarray, dense: np.ndarray) -> tuple[int, int, int, int]:
    """(dense boundary cells, missed, spurious, nodes with another label): boundary cells within one finest cell."""
    from qtmsweep.thermo.boundary import boundary_cells, dilate

    b_ref, b_fine = boundary_cells(dense), boundary_cells(fine)
    miss = int((b_ref & ~dilate(b_fine, 1)).sum())
    extra = int((b_fine & ~dilate(b_ref, 1)).sum())
    return int(b_ref.sum()), miss, extra, int((fine != dense).sum())


def run_preset(preset: str, levels: int, args) -> bool:
    from qtmsweep.sweep import RunOptions, run_sweep
    from qtmsweep.sweep.refine import finest, label_names, run_refine

    cfg = config_for(preset, levels, args.base)
    sc = cfg["sweeps"][preset]
    on = sc["refine"]["on"]
    if args.tile:
        sc["refine"]["tile"] = args.tile
    out = HERE / "out" / "refine"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    opts = dict(cluster=args.cluster, n_workers=args.workers, progress=False, if_exists="overwrite")

    t0, c0 = time.perf_counter(), time.process_time()
    r = run_refine(cfg, preset, out / "refined.zarr", RunOptions(**opts))
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    n = r.nodes_dense
    side = int(round(n ** 0.5))
    print(f"\n{preset} ({sc['model']}): {side}^2 = {n:,} effective nodes, base {args.base}^2, {levels} levels, "
          f"on {on}")
    print("  nodes per level: " + ", ".join(f"{c:,}" for c in r.nodes_per_level))
    ok = r.ratio <= 0.05
    print(f"  refined: {r.nodes_evaluated:,} nodes = {100 * r.ratio:.3f}% of dense (goal <= 5%) in "
          f"{r.tasks_computed} tasks; wall {t_ref:.1f} s, CPU {c_ref:.1f} s")
    fine = {var: finest(out / "refined.zarr", var) for var in label_names(on)}
    dims = tuple(next(iter(fine.values())).dims)

    t0, c0 = time.perf_counter(), time.process_time()
    dense = dense_labels_by_solve(sc, dims, args.block)
    t_sol, c_sol = time.perf_counter() - t0, time.process_time() - c0
    print(f"  dense by solve ({args.block}-row blocks, labels only, no store): wall {t_sol:.1f} s, CPU {c_sol:.1f} s"
          f" -> refined/dense: wall {t_ref / t_sol:.3f}, CPU {c_ref / c_sol:.3f}")
    if args.dense_sweep:
        dense_cfg = copy.deepcopy(cfg)
        del dense_cfg["sweeps"][preset]["refine"]
        t0, c0 = time.perf_counter(), time.process_time()
        d = run_sweep(dense_cfg, preset, out / "dense.zarr", RunOptions(**opts))
        t_sw, c_sw = time.perf_counter() - t0, time.process_time() - c0
        print(f"  dense sweep (run_sweep, {d.chunks_computed} chunks, with its store): wall {t_sw:.1f} s, "
              f"CPU {c_sw:.1f} s -> refined/dense sweep: wall {t_ref / t_sw:.3f}, CPU {c_ref / c_sw:.3f}")
    for name, var in zip(on, label_names(on)):
        nb, miss, extra, differ = compare(fine[var].values, dense[var])
        ok &= miss == 0 and extra == 0 and nb > 0
        print(f"  boundary {name}: {nb:,} dense boundary cells; missed {miss}, spurious {extra} "
              f"(within one finest cell); nodes with another label: {differ}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="all", choices=["all", *ALL])
    ap.add_argument("--levels", type=int, default=7, help="levels of the cqd presets (7: 4097^2 at base 33)")
    ap.add_argument("--levels-003", type=int, default=6, help="levels of the qubit_fridge preset (6: 2049^2)")
    ap.add_argument("--base", type=int, default=33)
    ap.add_argument("--block", type=int, default=64, help="rows per solve call of the dense grid")
    ap.add_argument("--cluster", default="inline", choices=["local", "inline"])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--tile", type=int, default=None, help="refine.tile (nodes per zarr chunk edge)")
    ap.add_argument("--dense-sweep", action="store_true", help="also time the dense sweep with its store")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    ok = True
    for preset in ALL if args.preset == "all" else [args.preset]:
        ok &= run_preset(preset, args.levels_003 if preset.startswith("003") else args.levels, args)
    print("\nall boundaries agree, every share <= 5%" if ok else "\nFAILED: a boundary disagrees or a share > 5%")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
