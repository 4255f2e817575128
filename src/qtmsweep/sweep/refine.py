"""Adaptive refinement of a 2-D sweep near the boundaries of named signs and labels (issue 15).

A sweep with a ``refine:`` key

.. code-block:: yaml

    refine: {on: ["J_E[r]", icc_J_E_r], levels: 7, base: [33, 33]}

is computed level by level on nested grids instead of densely.  Its two swept axes must be
``linspace`` axes whose ``num`` is the *effective* (finest) resolution
``(base_i - 1) * 2**levels + 1``: the same config without ``refine:`` is the dense sweep
it stands for, and every level's nodes are a subset of that dense grid's (level ``k`` takes
every ``2**(levels - k)``-th value), so refined and dense values are computed at bitwise the
same parameters.

Level 0 evaluates the ``base`` grid.  Level ``k + 1`` evaluates every node of the cells of
level ``k`` whose four corners disagree in any label named by ``on`` or touch an
undetermined label (:func:`qtmsweep.thermo.boundary.flag_cells` on the finest-available
labels), grown by ``halo`` cells in every direction.  Labels (:func:`labels`):

* ``"J_E[r]"`` (any of ``J_E``, ``J_N``, ``J_Q`` and a lead): the current's sign, resolved by
  its lead's precision bound (:func:`qtmsweep.thermo.classify.resolved_sign`); unresolved =
  undetermined;
* ``cooling`` (``qubit_fridge``, ``kerr_fridge``): the resolved sign of ``J_Q[C]``;
* a boolean analysis flag (``icc_J_E_r``, ``pseudo_icc_J_N_b``, ``cross_effect_...``),
  undetermined where its flux regime is; a label ``regime``, ``regime_<flux>`` or ``mode``,
  undetermined where it says so (:mod:`qtmsweep.analysis`).

Safeguards: a label region that has no base node and crosses no base-cell edge twice is
invisible; ``base`` must therefore resolve the smallest island, and is refused below
``min_base`` (default 9) nodes per axis.  ``halo`` (default 1) also refines the neighbours of
every flagged cell, so a boundary that bulges out of a cell between two levels is followed.

Store (one zarr directory): group ``level_<k>`` holds level ``k`` on its full coordinates,
every model output plus ``label_<name>`` (int8, :data:`~qtmsweep.thermo.boundary.UNDETERMINED`
= undetermined) and ``evaluated`` (bool); values of unevaluated nodes are fill values, never to
be read without the mask.  ``xr.open_zarr(path, group="level_3")`` reads a level.  Each level
is one batch of Dask tasks: the level's zarr chunks (``tile`` x ``tile`` nodes) holding nodes to
evaluate are grouped, in C order, into tasks of about ``chunk_cells`` nodes; a task writes whole
zarr chunks and then its completion flag, so a killed run reruns only the unfinished tasks and
gives bitwise the same store.  :func:`finest` and :func:`boundary` read a finished store.

Examples
--------
>>> from qtmsweep.sweep.refine import refine_levels
>>> refine_levels(base=(33, 17), levels=3)
[(33, 17), (65, 33), (129, 65), (257, 129)]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, TextIO

import numpy as np
import xarray as xr

from ..thermo.boundary import UNDETERMINED, boundary_segments, dilate, fill_levels, flag_cells, refine_nodes
from .config import ConfigError
from .grid import SweepPlan, build_plan

#: Refined stores carry this attr (``qtmsweep_refine``) at the root; its value is the format.
REFINE_FORMAT = 1
DEFAULT_MIN_BASE = 9
_CURRENT = re.compile(r"^(J_E|J_N|J_Q)\[([A-Za-z0-9_]+)\]$")
_FLAG = re.compile(r"^(icc|pseudo_icc|cross_effect)_(J_[ENQ]_[A-Za-z0-9]+)$")


@contextmanager
def _quiet():
    """Silence zarr's warnings about consolidated metadata and the v3 spec of fixed-width strings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr hierarchy.*")
        yield


def refine_levels(base: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """Nodes per axis of each level: ``(base_i - 1) * 2**k + 1``."""
    return [tuple((int(b) - 1) * 2 ** k + 1 for b in base) for k in range(int(levels) + 1)]


@dataclass(frozen=True)
class RefinePlan:
    """A refined sweep: the plan of its dense (finest) grid and the refinement settings."""

    plan: SweepPlan
    on: tuple[str, ...]
    levels: int
    base: tuple[int, int]
    halo: int
    tile: int
    #: nodes per task; ``None``: :func:`~qtmsweep.sweep.grid.default_chunk_cells` of each level's nodes
    chunk_cells: int | None

    @property
    def dims(self) -> tuple[str, str]:
        return self.plan.dims  # type: ignore[return-value]

    def stride(self, level: int) -> int:
        return 2 ** (self.levels - level)

    def shape(self, level: int) -> tuple[int, int]:
        return refine_levels(self.base, self.levels)[level]

    def coords(self, level: int) -> dict[str, np.ndarray]:
        s = self.stride(level)
        return {a.name: a.values[::s] for a in self.plan.axes}

    def identity(self) -> dict[str, Any]:
        return {"on": list(self.on), "levels": self.levels, "base": list(self.base), "halo": self.halo,
                "tile": self.tile, "chunk_cells": self.chunk_cells, "config_sha256": self.plan.config_sha256}


def label_names(on) -> list[str]:
    """Variable names of the labels: ``J_E[r]`` -> ``label_J_E_r``, ``icc_J_E_r`` -> ``label_icc_J_E_r``."""
    return ["label_" + re.sub(r"[^A-Za-z0-9_]", "_", n).strip("_").replace("__", "_") for n in on]


def check_on(on, model: str, key: str) -> None:
    """Refuse ``refine.on`` entries that are not a current sign, a flag or a label of ``model``."""
    from ..physics.registry import get_model

    m = get_model(model)
    leads = tuple(getattr(m, "leads", ()) or ())
    for i, name in enumerate(on):
        where = f"{key}.on[{i}]"
        cur = _CURRENT.match(name)
        if cur:
            if leads and cur.group(2) not in leads:
                raise ConfigError(f"{where}: {name!r}: lead {cur.group(2)!r} is not a lead of {model!r}; "
                                  f"allowed: {', '.join(leads)}")
            continue
        if name == "cooling":
            if model not in ("qubit_fridge", "kerr_fridge"):
                raise ConfigError(f"{where}: 'cooling' (sign of J_Q[C]) is defined for qubit_fridge and kerr_fridge, "
                                  f"not {model!r}; allowed here: a current's sign like 'J_Q[lead]', or 'mode'")
            continue
        if name == "mode" or name == "regime" or name.startswith("regime_J_") or _FLAG.match(name):
            if name != "mode" and model not in ("cqd", "sqd"):
                raise ConfigError(f"{where}: {name!r} is a classification label of cqd/sqd, not of {model!r}; "
                                  "allowed: a current's sign like 'J_Q[lead]', 'mode'")
            continue
        raise ConfigError(f"{where}: {name!r} is not allowed; allowed: a current's sign 'J_E[lead]', 'J_N[lead]', "
                          "'J_Q[lead]', 'cooling', 'mode', 'regime', 'regime_<flux>' or a flag "
                          "'icc_<flux>', 'pseudo_icc_<flux>', 'cross_effect_<flux>' (e.g. icc_J_E_r)")


def build_refine_plan(config: Mapping[str, Any], name: str, *, probe: bool = True) -> RefinePlan:
    """The :class:`RefinePlan` of sweep ``name``; every check that needs no computation.

    Raises
    ------
    ConfigError
        Naming the key, e.g. ``sweeps.s.refine.base``.
    """
    sc = config["sweeps"][name]
    key = f"sweeps.{name}.refine"
    spec = sc.get("refine")
    if spec is None:
        raise ConfigError(f"{key}: sweep {name!r} has no refine key")
    plan = build_plan(config, name, probe=probe)
    if len(plan.axes) != 2:
        raise ConfigError(f"{key}: refinement needs exactly 2 swept axes; sweep {name!r} has {len(plan.axes)} "
                          f"({', '.join(plan.dims)}); fix the others in `fixed`")
    levels = int(spec["levels"])
    base = tuple(int(b) for b in spec["base"])
    min_base = int(spec.get("min_base", DEFAULT_MIN_BASE))
    for i, (axis, b) in enumerate(zip(plan.axes, base)):
        if b < min_base:
            raise ConfigError(f"{key}.base[{i}]: {b} base nodes along {axis.name} is below min_base={min_base}; "
                              "allowed: >= min_base (the base grid must resolve the smallest island; lower "
                              "refine.min_base only if you know the islands are larger)")
        src = _axis_spec(sc, axis.name)
        if not (isinstance(src, Mapping) and "linspace" in src):
            raise ConfigError(f"{axis.key}: a refined axis must be a linspace axis; got {src!r}")
        want = (b - 1) * 2 ** levels + 1
        if len(axis) != want:
            raise ConfigError(f"{axis.key}.linspace: num={len(axis)} but refine (base[{i}]={b}, levels={levels}) "
                              f"needs num = (base - 1) * 2**levels + 1 = {want} (the effective resolution)")
    check_on(spec["on"], plan.model, key)
    if len(set(spec["on"])) != len(spec["on"]):
        raise ConfigError(f"{key}.on: {spec['on']!r} names a label twice")
    target = sc.get("chunk_cells")  # None: chosen per level from the nodes it evaluates
    return RefinePlan(plan=plan, on=tuple(spec["on"]), levels=levels, base=base, halo=int(spec.get("halo", 1)),
                      tile=int(spec.get("tile", 256)), chunk_cells=int(target) if target else None)


def _axis_spec(sc: Mapping[str, Any], name: str):
    if name in sc.get("grid", {}):
        return sc["grid"][name]
    return (sc.get("forces") or {}).get(name)


# -- labels ------------------------------------------------------------------------------------------
def labels(ds: xr.Dataset, on) -> dict[str, xr.DataArray]:
    """int8 label of each ``on`` entry for every cell of ``ds`` (:data:`UNDETERMINED` where unresolved).

    Signs are ``-1``/``+1``; flags ``0``/``1``; ``regime``/``mode`` their int8 codes (whose
    code 0, ``undetermined``, becomes :data:`UNDETERMINED`).

    >>> import qtmsweep
    >>> ds = qtmsweep.solve("sqd", eps=1.0, T_l=[1.0, 2.0], T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
    >>> labels(ds, ["J_N[l]"])["label_J_N_l"].values.tolist()   # equilibrium (J = 0): undetermined;
    [127, 1]
    >>> # hot lead l above eps - mu: electrons leave it into the dot (J_N[l] > 0, SPEC §1)
    """
    from ..thermo.classify import current_scales, rel_err_of, resolved_sign

    out: dict[str, xr.DataArray] = {}
    analysed = None
    scales = None
    for name, var in zip(on, label_names(on)):
        cur = _CURRENT.match(name) or (_CURRENT.match("J_Q[C]") if name == "cooling" else None)
        if cur:
            q, lead = cur.group(1), cur.group(2)
            if scales is None:
                scales = current_scales(ds)
            J = ds[q].sel(lead=lead, drop=True)
            s = resolved_sign(J, scales[f"G_{q[-1]}"].sel(lead=lead, drop=True), rel_err_of(ds, lead))
            lab = xr.where(s == 0, UNDETERMINED, s)
        else:
            if analysed is None:
                if scales is None:
                    scales = current_scales(ds)
                if name == "mode":  # the operating mode needs the performance analysis too
                    from ..analysis import analysis_variables

                    analysed = analysis_variables(ds)
                else:  # flags and regimes: the classification alone
                    from ..thermo.classify import classify

                    analysed = classify(ds, scales=scales)
            if name not in analysed:
                from ..analysis import analysis_variables

                analysed = analysed.merge(analysis_variables(ds), compat="override")
            flag = _FLAG.match(name)
            if flag:
                regime = analysed[f"regime_{flag.group(2)}"]
                lab = xr.where(regime == 0, UNDETERMINED, analysed[name].astype(np.int8))
            else:
                code = analysed[name]
                lab = xr.where(code == 0, UNDETERMINED, code)
        out[var] = lab.astype(np.int8).assign_attrs(
            units="1", long_name=f"refinement label of {name} ({UNDETERMINED} = undetermined)", source=name)
    return out


# -- one task -----------------------------------------------------------------------------------------
def _point_parameters(plan: SweepPlan, values: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Keyword arguments of :func:`qtmsweep.solve` for scattered nodes (one ``cell`` dimension)."""
    swept = {k: xr.DataArray(np.asarray(v, dtype=float), dims=("cell",)) for k, v in values.items()}
    params: dict[str, Any] = dict(plan.fixed)
    fs = plan.force_space
    if fs is None:
        params.update(swept)
        return params
    forces = {f: swept.pop(f) if f in swept else fs.fixed_forces[f] for f in fs.forces}
    from ..physics.reduced import force_space_parameters

    params.update(swept)
    params.update(force_space_parameters(fs.reduced_model, mu_b=fs.mu_b, F_N_b=forces["F_N_b"],
                                         **{fs.energy_force: forces[fs.energy_force], fs.beta_name: fs.beta}))
    return params


def compute_points(rplan: RefinePlan, level: int, ii: np.ndarray, jj: np.ndarray) -> xr.Dataset:
    """Solve the level-``level`` nodes ``(ii, jj)`` and add their labels; dims ``cell`` (+ lead, state)."""
    from ..solve import solve

    plan = rplan.plan
    s = rplan.stride(level)
    values = {a.name: a.values[idx * s] for a, idx in zip(plan.axes, (ii, jj))}
    ds = solve(plan.model, method=plan.method, **_point_parameters(plan, values))
    ds.attrs.update(plan.extra_attrs)
    for k, v in values.items():
        ds[k] = xr.DataArray(v, dims=("cell",))
    return ds.assign(labels(ds, rplan.on))


def _task_dir(store: str, level: int) -> Path:
    """Completion flags of level ``level``'s tasks: ``<store>.tasks/level_<k>/<task>.done`` (outside the
    zarr hierarchy, beside the ``<store>.lock`` file)."""
    return Path(str(store).rstrip("/") + ".tasks") / f"level_{level}"


def run_task(rplan: RefinePlan, store: str, level: int, task: int, tiles: list[tuple[int, int, np.ndarray]],
             numba_threads: int | None = None) -> tuple[int, int]:
    """One Dask task: evaluate the nodes of ``tiles`` (tile row, tile column, flat node indices in the
    tile), write those whole zarr chunks, then the task's completion flag.  Returns ``(task, nodes)``."""
    import zarr

    flag = _task_dir(store, level) / f"{task}.done"
    n_nodes = int(sum(len(t[2]) for t in tiles))
    if flag.exists():
        return task, n_nodes
    if numba_threads:
        from .execute import _set_numba_threads

        _set_numba_threads(numba_threads)
    T = rplan.tile
    n1, n2 = rplan.shape(level)
    ii, jj, owner = [], [], []
    for t, (ti, tj, flat) in enumerate(tiles):
        w = min(T, n2 - tj * T)
        ii.append(ti * T + flat // w)
        jj.append(tj * T + flat % w)
        owner.append(np.full(len(flat), t))
    ii, jj, owner = np.concatenate(ii), np.concatenate(jj), np.concatenate(owner)
    ds = compute_points(rplan, level, ii, jj)
    group = zarr.open_group(store, mode="r+", path=f"level_{level}", zarr_format=3)
    names = [n for n in ds.data_vars if n in group and n not in rplan.dims]
    arrays = {n: group[n] for n in names + ["evaluated"]}
    writes = []  # (array, selection, block): all of the task's zarr chunks, written in one batch
    for t, (ti, tj, flat) in enumerate(tiles):
        sl = (slice(ti * T, min((ti + 1) * T, n1)), slice(tj * T, min((tj + 1) * T, n2)))
        shape = (sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
        sel = owner == t
        li, lj = ii[sel] - sl[0].start, jj[sel] - sl[1].start
        for name in names:
            arr = arrays[name]
            v = ds[name].isel(cell=np.nonzero(sel)[0]).transpose("cell", ...).values
            block = np.full(shape + v.shape[1:], arr.fill_value, dtype=arr.dtype)
            block[li, lj] = v
            writes.append((arr, sl, block))
        ev = np.zeros(shape, dtype=bool)
        ev[li, lj] = True
        writes.append((arrays["evaluated"], sl, ev))
    _write_all(writes)
    flag.parent.mkdir(parents=True, exist_ok=True)
    tmp = flag.with_suffix(f".partial-{os.getpid()}")
    tmp.write_text(json.dumps({"nodes": n_nodes, "tiles": len(tiles)}))
    os.replace(tmp, flag)
    return task, n_nodes


def _write_all(writes) -> None:
    """``arr[sel] = block`` for every write, issued concurrently on zarr's event loop (one round trip
    instead of one per array: zarr-python 3's synchronous ``__setitem__`` costs ~5 ms each)."""
    import asyncio

    try:
        from zarr.core.sync import sync

        async def go():
            await asyncio.gather(*(arr._async_array.setitem(sel, block) for arr, sel, block in writes))

        sync(go())
    except AttributeError:  # another zarr version: one write after another
        for arr, sel, block in writes:
            arr[sel] = block


# -- planning -------------------------------------------------------------------------------------------
def _cell_bytes(plan: SweepPlan) -> int:
    """The model's declared working memory per cell (bounds a task's size as it bounds a chunk's)."""
    from ..physics.registry import get_model

    model = get_model(plan.model)
    structural = {k: v for k, v in plan.fixed.items() if k in model.parameter_names and model.parameter(k).structural}
    return int(model.working_bytes_per_cell(structural))


def plan_tasks(rplan: RefinePlan, nodes: np.ndarray) -> list[list[tuple[int, int, np.ndarray]]]:
    """Group the nodes to evaluate into tasks of whole tiles, C order, about ``chunk_cells`` nodes each.

    Without ``chunk_cells`` in the config a level's batch is sized like a sweep of that many cells
    (:func:`~qtmsweep.sweep.grid.default_chunk_cells`: a 16th of it, 16384..524288 nodes).
    """
    from .grid import default_chunk_cells

    target = rplan.chunk_cells or default_chunk_cells((int(nodes.sum()),), _cell_bytes(rplan.plan))
    T = rplan.tile
    n1, n2 = nodes.shape
    tasks, current, count = [], [], 0
    for ti in range(-(-n1 // T)):
        for tj in range(-(-n2 // T)):
            block = nodes[ti * T:(ti + 1) * T, tj * T:(tj + 1) * T]
            flat = np.flatnonzero(block).astype(np.int32)
            if flat.size == 0:
                continue
            current.append((ti, tj, flat))
            count += flat.size
            if count >= target:
                tasks.append(current)
                current, count = [], 0
    if current:
        tasks.append(current)
    return tasks


def next_nodes(rplan: RefinePlan, filled_labels: np.ndarray) -> np.ndarray:
    """Nodes of the next level to evaluate, from the finest-available labels of this level."""
    cells = dilate(flag_cells(filled_labels), rplan.halo)
    return refine_nodes(cells)


def _digest(mask: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(mask).tobytes() + str(mask.shape).encode()).hexdigest()


# -- the store ----------------------------------------------------------------------------------------------
def _create_level(store: str, rplan: RefinePlan, level: int, probe: xr.Dataset, digest: str,
                  lab: Mapping[str, xr.DataArray]) -> None:
    import dask.array as da

    shape = rplan.shape(level)
    T = rplan.tile
    coords = rplan.coords(level)
    data: dict[str, xr.DataArray] = {}
    encoding: dict[str, dict] = {}
    for name, var in list(probe.data_vars.items()) + list(lab.items()):
        if name in rplan.dims:
            continue
        extra = var.dims[2:] if var.dims[:2] == rplan.dims else tuple(d for d in var.dims if d not in rplan.dims)
        var = var.transpose(*rplan.dims, *extra)
        dtype = var.dtype
        fill = np.nan if np.issubdtype(dtype, np.floating) else 0
        sizes = tuple(probe.sizes[d] for d in extra)
        arr = da.full(shape + sizes, fill, dtype=dtype, chunks=-1)  # metadata only: never computed
        data[name] = xr.DataArray(arr, dims=rplan.dims + extra, attrs=dict(var.attrs))
        encoding[name] = {"chunks": (T, T) + sizes, "fill_value": fill}
    data["evaluated"] = xr.DataArray(da.zeros(shape, dtype=bool, chunks=-1), dims=rplan.dims,
                                     attrs={"units": "1", "long_name": "node evaluated at this level (values of "
                                            "other nodes are fill values: read them through this mask)"})
    encoding["evaluated"] = {"chunks": (T, T), "fill_value": False}
    extra_coords = {d: probe.coords[d].values for d in probe.dims if d not in rplan.dims and d in probe.coords}
    ds = xr.Dataset(data, coords={**coords, **extra_coords}, attrs=dict(probe.attrs))
    ds.attrs.update({"refine_level": level, "refine_stride": rplan.stride(level), "refine_nodes_digest": digest,
                     "refine_complete": False})
    import shutil

    shutil.rmtree(Path(store) / f"level_{level}", ignore_errors=True)
    shutil.rmtree(_task_dir(store, level), ignore_errors=True)
    with _quiet():
        ds.to_zarr(store, group=f"level_{level}", mode="w", compute=False, zarr_format=3, consolidated=False,
                   encoding=encoding)


def _set_level_attrs(store: str, level: int, **attrs: Any) -> None:
    import zarr

    g = zarr.open_group(store, mode="r+", path=f"level_{level}", zarr_format=3)
    g.attrs.update(attrs)


def _root(store: str, rplan: RefinePlan, if_exists: str):
    import shutil

    import zarr

    path = Path(store)
    ident = rplan.identity()
    if path.exists():
        try:
            g = zarr.open_group(store, mode="r", zarr_format=3)
            old = dict(g.attrs).get("refine")
        except Exception:  # noqa: BLE001 - not a zarr store at all
            old = None
        if if_exists in ("overwrite", "fresh"):
            shutil.rmtree(path)
            shutil.rmtree(str(path) + ".tasks", ignore_errors=True)
        elif old is None:
            raise ConfigError(f"{store}: exists and is not a refined qtmsweep store; rerun with --overwrite "
                              "to replace it")
        elif old != ident:
            raise ConfigError(f"{store}: holds a refined sweep with other settings or config "
                              f"({old.get('config_sha256', '?')[:12]} vs {ident['config_sha256'][:12]}); rerun "
                              "with --overwrite to replace it")
        else:
            return "resumed"
    shutil.rmtree(str(path) + ".tasks", ignore_errors=True)  # flags of an earlier store at this path
    g = zarr.open_group(store, mode="w", zarr_format=3)
    g.attrs.update({"qtmsweep_refine": REFINE_FORMAT, "refine": ident, "config": rplan.plan.config_yaml,
                    "config_sha256": rplan.plan.config_sha256, "model": rplan.plan.model, "sweep": rplan.plan.name,
                    "levels_complete": -1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return "created"


def _read_level_labels(store: str, rplan: RefinePlan, level: int) -> tuple[np.ndarray, np.ndarray]:
    import zarr

    g = zarr.open_group(store, mode="r", path=f"level_{level}", zarr_format=3)
    lab = np.stack([g[n][...] for n in label_names(rplan.on)])
    return lab, g["evaluated"][...]


@dataclass
class RefineResult:
    """What one run of a refined sweep did."""

    sweep: str
    store: str
    status: str
    levels_complete: int
    levels: int
    complete: bool
    nodes_per_level: list[int]
    nodes_computed: int
    nodes_dense: int
    tasks_computed: int
    seconds: float

    @property
    def nodes_evaluated(self) -> int:
        return int(sum(self.nodes_per_level))

    @property
    def ratio(self) -> float:
        return self.nodes_evaluated / self.nodes_dense


def run_refine(config: Mapping[str, Any], sweep: str, store: str | Path, options=None, *, cpus: int | None = None,
               stream: TextIO | None = None, client=None) -> RefineResult:
    """Run (or resume) the refined sweep ``sweep`` of a validated config into ``store``.

    ``options`` is a :class:`qtmsweep.sweep.execute.RunOptions`; its ``max_chunks`` stops the
    run after that many tasks (a partial, resumable run).  ``client``: a running Dask client to
    use instead of starting the cluster ``options`` describe.
    """
    from .execute import RunOptions, dask_client
    from .store import StoreLock

    options = options or RunOptions.from_config(config)
    options.validate()
    t0 = time.perf_counter()
    rplan = build_refine_plan(config, sweep, probe=False)
    from .grid import checked_probe

    probe = checked_probe(rplan.plan)
    store = str(Path(store).absolute())
    Path(store).parent.mkdir(parents=True, exist_ok=True)
    lock = StoreLock(Path(store)).acquire()
    try:
        status = _root(store, rplan, options.if_exists)
        if client is not None:
            return _levels(rplan, store, probe, client, {"numba_threads": options.numba_threads,
                                                         "max_in_flight": options.max_in_flight or 4},
                           options, status, t0, stream)
        with dask_client(options, cpus=cpus) as (cl, setup):
            return _levels(rplan, store, probe, cl, setup, options, status, t0, stream)
    finally:
        lock.release(remove=True)


def _levels(rplan, store, probe, client, setup, options, status, t0, stream) -> RefineResult:
    import zarr

    budget = options.max_chunks
    tasks_done = nodes_computed = 0
    per_level: list[int] = []
    filled = None
    template = None  # the labels of the probe cell (dtypes and attrs of the label variables)
    complete = True
    for level in range(rplan.levels + 1):
        shape = rplan.shape(level)
        if level == 0:
            nodes = np.ones(shape, dtype=bool)
        else:
            nodes = next_nodes(rplan, filled)
        digest = _digest(nodes)
        try:
            attrs = dict(zarr.open_group(store, mode="r", path=f"level_{level}", zarr_format=3).attrs)
        except Exception:  # noqa: BLE001 - the group does not exist yet
            attrs = None
        if attrs is None or attrs.get("refine_nodes_digest") != digest:
            if attrs is not None and attrs.get("refine_complete"):
                raise RuntimeError(f"{store}: level {level} was computed for other nodes than its coarser levels "
                                   "now select; rerun with --overwrite")
            if template is None:
                template = labels(probe, rplan.on)
            _create_level(store, rplan, level, probe, digest, template)
            attrs = {"refine_complete": False}
        if not attrs.get("refine_complete"):
            tasks = plan_tasks(rplan, nodes)
            todo = [t for t in range(len(tasks)) if not (_task_dir(store, level) / f"{t}.done").exists()]
            if budget is not None:
                todo = todo[: max(0, budget - tasks_done)]
            for _, n in _execute(rplan, store, level, tasks, todo, client, setup):
                tasks_done += 1
                nodes_computed += n
            if all((_task_dir(store, level) / f"{t}.done").exists() for t in range(len(tasks))):
                _set_level_attrs(store, level, refine_complete=True, refine_nodes=int(nodes.sum()),
                                 refine_tasks=len(tasks))
                zarr.open_group(store, mode="r+", zarr_format=3).attrs["levels_complete"] = level
            else:
                complete = False
                per_level.append(int(nodes.sum()))
                break
        per_level.append(int(nodes.sum()))
        if stream is not None and options.progress:
            stream.write(f"{rplan.plan.name}: level {level} {shape[0]}x{shape[1]}: {int(nodes.sum())} nodes\n")
        lab, ev = _read_level_labels(store, rplan, level)
        if level == 0:
            filled = lab
        else:
            from ..thermo.boundary import upsample_nearest

            up = np.stack([upsample_nearest(f) for f in filled])
            filled = np.where(ev[None], lab, up)
    n_dense = int(np.prod(rplan.shape(rplan.levels)))
    return RefineResult(sweep=rplan.plan.name, store=store, status=status,
                        levels_complete=len(per_level) - 1 if complete else len(per_level) - 2,
                        levels=rplan.levels, complete=complete, nodes_per_level=per_level,
                        nodes_computed=nodes_computed, nodes_dense=n_dense, tasks_computed=tasks_done,
                        seconds=time.perf_counter() - t0)


def _execute(rplan, store, level, tasks, todo, client, setup):
    nt = setup.get("numba_threads")
    if client is None:
        for t in todo:
            yield run_task(rplan, store, level, t, tasks[t], nt)
        return
    from distributed import as_completed

    window = max(1, int(setup.get("max_in_flight") or 2))
    [rp] = client.scatter([rplan], broadcast=True, hash=False)
    token = uuid.uuid4().hex[:8]
    pending = iter(todo)
    ac = as_completed()
    for t in pending:
        ac.add(client.submit(run_task, rp, store, level, t, tasks[t], nt, pure=False,
                             key=f"qtmsweep-refine-{rplan.plan.name}-{level}-{token}-{t}"))
        if ac.count() >= window:
            break
    for fut in ac:
        result = fut.result()
        fut.release()
        yield result
        nxt = next(pending, None)
        if nxt is not None:
            ac.add(client.submit(run_task, rp, store, level, nxt, tasks[nxt], nt, pure=False,
                                 key=f"qtmsweep-refine-{rplan.plan.name}-{level}-{token}-{nxt}"))


# -- reading a refined store -----------------------------------------------------------------------------------
def open_level(store: str | Path, level: int) -> xr.Dataset:
    """Level ``level`` of a refined store (``xr.open_zarr(store, group=f"level_{level}")``)."""
    with _quiet():
        return xr.open_zarr(str(store), group=f"level_{level}", consolidated=False)


def store_levels(store: str | Path) -> int:
    """Number of complete levels of a refined store minus one (its finest complete level)."""
    import zarr

    g = zarr.open_group(str(store), mode="r", zarr_format=3)
    if "qtmsweep_refine" not in g.attrs:
        raise ValueError(f"{store}: not a refined qtmsweep store (no qtmsweep_refine attr)")
    return int(g.attrs["levels_complete"])


def finest(store: str | Path, var: str, *, isel: Mapping[str, int] | None = None,
           linear: bool | None = None) -> xr.DataArray:
    """The finest-available value of ``var`` at every node of the finest complete level.

    Nodes not evaluated at the finest level take the value of their coarser level: bilinear
    interpolation for floating-point variables (``linear=None``), the nearest corner for labels
    and integers (exact: cells left unrefined have equal corners).  ``isel`` picks a lead/state.

    Returns a DataArray on the finest level's coordinates with ``level`` (the level each node's
    value comes from when it was evaluated, else -1) as a coordinate-free companion attribute.
    """
    top = store_levels(store)
    values, masks = [], []
    for k in range(top + 1):
        ds = open_level(store, k)
        da = ds[var].isel(isel or {})
        values.append(da.values)
        masks.append(ds["evaluated"].values)
    if linear is None:
        linear = np.issubdtype(values[0].dtype, np.floating)
    filled = fill_levels(values, masks, linear=linear)
    ds = open_level(store, top)
    dims = tuple(ds["evaluated"].dims)
    return xr.DataArray(filled, dims=dims, coords={d: ds[d].values for d in dims}, name=var,
                        attrs={**ds[var].attrs, "refine_filled": "linear" if linear else "nearest"})


def value_at(store: str | Path, var: str, **point: float) -> float:
    """Finest-available value of ``var`` at an arbitrary point (bilinear in the finest field)."""
    f = finest(store, var)
    return float(f.interp(point, method="linear"))


def boundary(store: str | Path, name: str, value: int | None = None) -> np.ndarray:
    """Boundary of label ``name`` (an ``on`` entry) as line segments on the finest level.

    Marching squares (:func:`qtmsweep.thermo.boundary.boundary_segments`) on the finest-available
    labels, of the region ``label == value`` (default: label > 0 and determined, e.g. a positive
    sign or a set flag).  Returns ``(n, 2, 2)``: ``[segment, end, (dim0, dim1)]``.
    """
    var = label_names([name])[0]
    f = finest(store, var)
    lab = f.values
    if value is None:
        lab = np.where(lab == UNDETERMINED, 0, lab)
    return boundary_segments(lab, f[f.dims[0]].values, f[f.dims[1]].values, value)


def evaluated_counts(store: str | Path) -> list[int]:
    """Nodes evaluated at each complete level."""
    return [int(open_level(store, k)["evaluated"].sum()) for k in range(store_levels(store) + 1)]
