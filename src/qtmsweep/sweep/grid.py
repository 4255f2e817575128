"""From a validated sweep configuration to a :class:`SweepPlan`: axes, chunks, per-chunk parameters.

A plan is small (the 1-D axes, the fixed values, the chunk sizes) and picklable; it is
shipped to the Dask workers once, and each worker builds the parameters of *its* chunk
from slices of the axes (:meth:`SweepPlan.chunk_parameters`) — the full grid is never
formed anywhere.

Examples
--------
>>> from qtmsweep.sweep.config import validate_config
>>> cfg = validate_config({"sweeps": {"s": {"model": "sqd",
...     "fixed": {"eps": 1.0, "T_r": 1.0, "mu_l": 0.0, "mu_r": 0.0, "gamma_l": 1.0, "gamma_r": 1.0},
...     "grid": {"T_l": {"linspace": [0.5, 2.0, 7]}}, "chunks": {"T_l": 3}}}})
>>> plan = build_plan(cfg, "s")
>>> plan.dims, plan.shape, plan.chunk_grid
(('T_l',), (7,), (3,))
>>> plan.chunk_slices((2,))
(slice(6, 7, None),)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping

import numpy as np
import xarray as xr

from .config import ConfigError, sweep_sha256, sweep_yaml
from .storelayout import StoreLayout, resolve_layout

#: Parameters of ``cqd`` that a force-space grid determines.
FORCE_IMPLIED = ("T_a", "T_b", "T_r", "mu_a", "mu_b")
#: Name of the last dimension of a sweep with a ``reverse:`` block (0 = forward, 1 = reverse).
DIRECTION = "direction"


@dataclass(frozen=True)
class Axis:
    """One dimension of a sweep.

    Attributes
    ----------
    name : str
        Dimension (and coordinate) name: a model parameter or a force (``F_E_r``...).
    values : numpy.ndarray
        The coordinate values (float64, strictly increasing).
    key : str
        Where it came from in the config, e.g. ``sweeps.s.grid.T_a`` (used in messages).
    """

    name: str
    values: np.ndarray
    key: str

    def __len__(self) -> int:
        return int(self.values.size)


@dataclass(frozen=True)
class ForceSpace:
    """A force-space grid of reduced model I or II (SPEC §2)."""

    reduced_model: str
    energy_force: str  # "F_E_r" (I) or "F_E_b" (II)
    beta_name: str  # "beta_r" or "beta_b"
    beta: float
    mu_b: float
    #: force name -> float (fixed) or None (an axis of the plan)
    fixed_forces: Mapping[str, float]

    @property
    def forces(self) -> tuple[str, str]:
        return (self.energy_force, "F_N_b")


@dataclass(frozen=True)
class SweepPlan:
    """Everything needed to compute any chunk of one sweep.

    Attributes
    ----------
    name, model, method : str
    axes : tuple of Axis
        In dimension order (grid axes as written, then swept forces).
    fixed : dict
        Fixed parameters as written in the config (aliases such as ``kappa_c`` allowed).
    force_space : ForceSpace or None
    chunks : tuple of int
        Cells per chunk along each dimension.
    config_yaml, config_sha256 : str
        The sweep's canonical YAML text and its SHA-256 (see :mod:`qtmsweep.sweep.config`).
    """

    name: str
    model: str
    method: str
    axes: tuple[Axis, ...]
    fixed: Mapping[str, Any]
    force_space: ForceSpace | None
    chunks: tuple[int, ...]
    config_yaml: str
    config_sha256: str
    extra_attrs: Mapping[str, Any] = field(default_factory=dict)
    #: counting statistics (issue 12): ``cumulants`` 2 or 3 (None = means only) and counted ``fluxes``
    cumulants: int | None = None
    fluxes: tuple[str, ...] | None = None
    #: Spec of a model declared in the config (travels with the plan to the workers, which
    #: rebuild the model from it); None for built-in and plug-in models.
    model_spec: Mapping[str, Any] | None = None
    #: Parameter pairs swapped in the reverse run (``reverse:`` block); empty: no ``direction`` axis.
    reverse: tuple[tuple[str, str], ...] = ()
    #: What the store holds (the sweep's ``store:`` block, :mod:`qtmsweep.sweep.storelayout`).
    store: StoreLayout = field(default_factory=StoreLayout)

    # -- shape bookkeeping -------------------------------------------------------
    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def chunk_grid(self) -> tuple[int, ...]:
        """Number of chunks along each dimension."""
        return tuple(-(-n // c) for n, c in zip(self.shape, self.chunks))

    @property
    def n_chunks(self) -> int:
        return int(np.prod(self.chunk_grid, dtype=np.int64))

    def chunk_index(self, flat: int) -> tuple[int, ...]:
        """Chunk-grid index of the ``flat``-th chunk (C order)."""
        return tuple(int(i) for i in np.unravel_index(int(flat), self.chunk_grid))

    def chunk_slices(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        """Index slices of the cells of chunk ``index`` along each dimension."""
        return tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, self.chunks, self.shape))

    def chunk_cells(self, index: tuple[int, ...]) -> int:
        return int(np.prod([s.stop - s.start for s in self.chunk_slices(index)], dtype=np.int64))

    def iter_chunks(self) -> Iterator[tuple[int, ...]]:
        """All chunk indices in C order."""
        for flat in range(self.n_chunks):
            yield self.chunk_index(flat)

    def coords(self) -> dict[str, np.ndarray]:
        return {a.name: a.values for a in self.axes}

    # -- parameters of a chunk -----------------------------------------------------
    def chunk_parameters(self, slices: tuple[slice, ...]) -> dict[str, Any]:
        """Keyword arguments of :func:`qtmsweep.solve` for the cells ``slices`` (1-D DataArrays per axis).

        The ``direction`` axis of a forward/reverse sweep is not a parameter: these are the
        forward run's arguments (:meth:`compute` swaps the ``reverse`` pairs for the reverse run).
        """
        if len(slices) != len(self.axes):
            raise ValueError(f"expected {len(self.axes)} slices, got {len(slices)}")
        swept = {}
        for axis, sl in zip(self.axes, slices):
            if self.reverse and axis.name == DIRECTION:
                continue
            v = axis.values[sl]
            swept[axis.name] = xr.DataArray(v, dims=(axis.name,), coords={axis.name: v})
        params: dict[str, Any] = dict(self.fixed)
        fs = self.force_space
        if fs is None:
            params.update(swept)
            return params
        forces = {f: swept.pop(f) if f in swept else fs.fixed_forces[f] for f in fs.forces}
        from ..physics.reduced import force_space_parameters

        implied = force_space_parameters(fs.reduced_model, mu_b=fs.mu_b, F_N_b=forces["F_N_b"],
                                         **{fs.energy_force: forces[fs.energy_force], fs.beta_name: fs.beta})
        params.update(swept)
        params.update(implied)
        return params

    def compute(self, slices: tuple[slice, ...]) -> xr.Dataset:
        """Solve the cells ``slices``; variables transposed to the plan's dimension order."""
        from ..solve import solve

        if self.model_spec is not None:
            from ..physics.declared import ensure_model

            ensure_model(self.model, self.model_spec, origin="config")
        counting = {} if self.cumulants is None else {
            "cumulants": self.cumulants, "fluxes": list(self.fluxes) if self.fluxes else None}
        params = self.chunk_parameters(slices)
        if self.reverse:
            ds = self._compute_pairs(params, slices[self.dims.index(DIRECTION)], counting)
        else:
            ds = solve(self.model, method=self.method, **counting, **params)
        order = [d for d in self.dims if d in ds.dims]
        ds = ds.transpose(*order, ...)
        ds.attrs.update(self.extra_attrs)
        return ds

    def _compute_pairs(self, params: dict[str, Any], direction: slice, counting: dict | None = None) -> xr.Dataset:
        """Forward (0) and/or reverse (1) runs, the reverse one labelled in the forward frame."""
        from ..solve import solve
        from ..thermo.pairs import swap_parameters, to_forward_frame

        parts = []
        for d in range(2)[direction]:
            if d == 0:
                ds = solve(self.model, method=self.method, **(counting or {}), **params)
            else:
                ds = to_forward_frame(solve(self.model, method=self.method, **(counting or {}),
                                            **swap_parameters(params, self.reverse)), self.reverse)
            parts.append(ds.expand_dims({DIRECTION: [float(d)]}))
        out = parts[0] if len(parts) == 1 else xr.concat(parts, dim=DIRECTION, data_vars="all", coords="minimal",
                                                           compat="override", join="exact",
                                                           combine_attrs="override")
        return out

    def probe(self) -> xr.Dataset:
        """The first cell, solved: checks the whole parameter set with a real kernel call and
        gives the variables, dtypes, extra dimensions and attrs of the store's template."""
        return self.compute(tuple(slice(0, 1) for _ in self.axes))


# -- building a plan -------------------------------------------------------------------
def axis_values(spec: Mapping[str, Any], key: str) -> np.ndarray:
    """Coordinate values of one axis spec (``linspace``/``logspace``/``geomspace``/``values``).

    Raises
    ------
    ConfigError
        If the values are not finite and strictly increasing (or the spec is malformed).
    """
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(f"{key}: an axis is one of {{linspace|logspace|geomspace: [start, stop, num]}}, "
                          f"{{values: [...]}}; got {spec!r}")
    (kind, arg), = spec.items()
    if kind == "values":
        if not isinstance(arg, (list, tuple)) or len(arg) == 0:
            raise ConfigError(f"{key}.values: needs a non-empty list of numbers; got {arg!r}")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in arg):
            raise ConfigError(f"{key}.values: needs numbers; got {arg!r}")
        values = np.asarray(arg, dtype=float)
    elif kind in ("linspace", "logspace", "geomspace"):
        if not isinstance(arg, (list, tuple)) or len(arg) != 3:
            raise ConfigError(f"{key}.{kind}: needs [start, stop, num]; got {arg!r}")
        start, stop, num = arg
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ConfigError(f"{key}.{kind}: num={num!r} must be an integer >= 1")
        if num > MAX_AXIS_POINTS:
            raise ConfigError(f"{key}.{kind}: num={num} is not allowed; allowed: at most {MAX_AXIS_POINTS} points on "
                              "one axis (its coordinate alone would take "
                              f"{num * 8 / 2**30:.1f} GiB; sweep more axes instead)")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in (start, stop)):
            raise ConfigError(f"{key}.{kind}: start and stop must be finite numbers; got {start!r}, {stop!r}")
        if num > 1 and not start < stop:
            raise ConfigError(f"{key}.{kind}: start={start!r} must be < stop={stop!r} (axes are increasing)")
        if kind == "linspace":
            values = np.linspace(float(start), float(stop), num)
        elif kind == "logspace":
            values = np.logspace(float(start), float(stop), num)
        else:
            if not start > 0 or not stop > 0:
                raise ConfigError(f"{key}.geomspace: start and stop must be > 0; got {start!r}, {stop!r}")
            values = np.geomspace(float(start), float(stop), num)
    else:
        raise ConfigError(f"{key}: unknown axis kind {kind!r}; allowed: linspace, logspace, geomspace, values")
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"{key}.{kind}: values must be finite; got {float(values[~np.isfinite(values)][0])!r}")
    if values.size > 1 and not np.all(np.diff(values) > 0):
        i = int(np.argmin(np.diff(values) > 0))
        raise ConfigError(f"{key}.{kind}: values must be strictly increasing; "
                          f"{float(values[i])!r} is followed by {float(values[i + 1])!r}")
    return values


#: Bounds of the automatic chunk size: see :func:`default_chunk_cells`.
CHUNK_CELLS_MIN, CHUNK_CELLS_MAX, CHUNKS_WANTED = 16_384, 524_288, 16
#: Points of one axis (checked before its values are made): 80 MB of coordinate.
MAX_AXIS_POINTS = 10_000_000
#: Working memory a chunk may take in a worker (bytes), by the model's ``cell_bytes``.
CHUNK_BYTES = 256 * 2**20


def default_chunk_cells(shape: tuple[int, ...], cell_bytes: int = 320) -> int:
    """Target cells per chunk when the config gives no ``chunk_cells``.

    A 16th of the grid, at least 16384 cells, at most 524288 cells and at most what fits
    in :data:`CHUNK_BYTES` of working memory at ``cell_bytes`` per cell (the model's
    declared ``cell_bytes``, e.g. 320 B for ``cqd``, 5.6 kB for a 3 x 3 ``kerr_fridge``;
    a sub-batched solver's fixed buffers come on top).

    Large chunks make the fixed cost of a chunk (a task, a kernel call, ~25 files) small
    against its cells — measured on a 1e7-cell ``cqd`` sweep, 524288-cell chunks ran 1.4x
    faster than 131072-cell ones — while a grid of a few million cells still gets enough
    chunks to keep every worker busy.  The result depends on the config alone (the grid
    and the model), not on the cluster, so a store can be resumed on any cluster.

    >>> default_chunk_cells((201, 201)), default_chunk_cells((2000, 1000)), default_chunk_cells((10_000, 10_000))
    (16384, 125000, 524288)
    >>> default_chunk_cells((10_000, 10_000), cell_bytes=5632)   # 256 MiB / 5632 B
    47662
    """
    n = int(np.prod(shape, dtype=np.int64))
    upper = max(1, min(CHUNK_CELLS_MAX, CHUNK_BYTES // max(1, int(cell_bytes))))
    return int(min(upper, max(CHUNK_CELLS_MIN, -(-n // CHUNKS_WANTED))))


def auto_chunks(shape: tuple[int, ...], explicit: Mapping[int, int], target: int) -> tuple[int, ...]:
    """Chunk sizes: ``explicit`` ones kept (-1 = whole dimension), others fill up to ``target`` cells.

    Free dimensions are filled from the last (fastest) one backwards, so chunks are
    contiguous in C order; a split dimension gets equal-sized chunks.

    >>> auto_chunks((201, 101), {}, 10000)
    (67, 101)
    >>> auto_chunks((201, 101), {1: 10}, 500)
    (41, 10)
    """
    chunks: list[int | None] = [None] * len(shape)
    for i, c in explicit.items():
        chunks[i] = shape[i] if c == -1 else int(c)
    budget = max(1.0, target / float(np.prod([c for c in chunks if c is not None], dtype=float)))
    for i in reversed(range(len(shape))):
        if chunks[i] is not None:
            continue
        c = int(max(1, min(shape[i], math.floor(budget))))
        if c < shape[i]:
            c = -(-shape[i] // -(-shape[i] // c))  # equal chunks: ceil(n / ceil(n / c))
        chunks[i] = c
        budget = max(1.0, budget / c)
    return tuple(int(c) for c in chunks)


def build_plan(config: Mapping[str, Any], name: str, *, probe: bool = True) -> SweepPlan:
    """Plan of sweep ``name`` of a validated config; every check that needs no computation.

    Parameters
    ----------
    config : mapping
        Output of :func:`qtmsweep.sweep.config.validate_config` (defaults filled).
    name : str
        The sweep.
    probe : bool
        Also solve the first cell (a real kernel call), catching anything the
        declarative checks missed, before any store is created.

    Raises
    ------
    ConfigError
        Naming the offending key.
    """
    from ..physics.registry import get_model
    from ..validation import check_grid, check_memory, check_parameters, grid_corners

    sweeps = config.get("sweeps", {})
    if name not in sweeps:
        raise ConfigError(f"sweeps.{name}: no such sweep; allowed: {', '.join(sweeps) or '(none)'}")
    sc = sweeps[name]
    base = f"sweeps.{name}"
    model_spec = (config.get("models") or {}).get(sc["model"])
    try:
        if model_spec is not None:  # declared in this config: (re)build it from the spec
            from ..physics.declared import ensure_model

            ensure_model(sc["model"], model_spec, origin="config")
        model = get_model(sc["model"])
    except ValueError as err:
        raise ConfigError(f"{base}.model: {err}" if model_spec is None else str(err)) from None

    fixed = dict(sc.get("fixed", {}))
    grid = dict(sc.get("grid", {}))
    source: dict[str, str] = {}  # parameter -> config key it comes from
    for k in fixed:
        source[k] = f"{base}.fixed.{k}"
    for k in grid:
        if k in fixed:
            raise ConfigError(f"{base}.grid.{k}: {k} is both fixed ({base}.fixed.{k}) and swept; give it once")
        source[k] = f"{base}.grid.{k}"

    axes: list[Axis] = [Axis(k, axis_values(spec, f"{base}.grid.{k}"), f"{base}.grid.{k}") for k, spec in grid.items()]

    force_space = None
    extra_attrs: dict[str, Any] = {"sweep": name}
    if sc.get("forces") is not None:
        force_space, force_axes = _force_space(sc["forces"], model, f"{base}.forces", source)
        axes.extend(force_axes)
        from ..physics.reduced import get_reduced_model

        rm = get_reduced_model(force_space.reduced_model)
        extra_attrs.update({"reduced_model": rm.name, "forces_parallel": bool(rm.forces_parallel),
                            "force_pair": list(rm.forces), force_space.beta_name: float(force_space.beta)})
    if not axes:
        raise ConfigError(f"{base}: nothing is swept (give a grid or swept forces); "
                          "for one cell use `qtmsweep point`")
    reverse = _reverse_pairs(sc.get("reverse"), fixed, grid, model, f"{base}.reverse")

    # structural parameters (integer/choice) must be fixed scalars
    for axis in axes:
        if axis.name in model.parameter_names and model.parameter(axis.name).structural:
            raise ConfigError(f"{axis.key}: {axis.name} is a structural parameter "
                              f"({model.parameter(axis.name).allowed()}) and must be fixed, not swept")

    # names: known, complete, each given once (aliases resolved by the model's normalize)
    params: dict[str, Any] = {k: v for k, v in fixed.items()}
    for axis in axes:
        if force_space is None or axis.name not in force_space.forces:
            params[axis.name] = xr.DataArray(axis.values, dims=(axis.name,))
    if force_space is not None:
        for k in FORCE_IMPLIED:
            params[k] = 1.0  # placeholder; values checked below
    if model.normalize is not None:
        try:  # on the grid's corners: the names, and no outer product of the axes (check_grid)
            normalized = model.normalize(grid_corners(params)[0])
        except ValueError as err:
            raise ConfigError(f"{base}: {err}") from None
    else:
        normalized = params
    unknown = [k for k in normalized if k not in model.parameter_names]
    if unknown:
        k = unknown[0]
        raise ConfigError(f"{source.get(k, base)}: {k!r} is not a parameter of model {model.name!r}; "
                          f"allowed: {', '.join(model.parameter_names)}")
    missing = [p.name for p in model.parameters if p.name not in normalized and not getattr(p, "optional", False)]
    if missing:
        raise ConfigError(f"{base}: parameter {', '.join(missing)} of model {model.name!r} is neither fixed nor "
                          f"swept; every parameter must be given in {base}.fixed or {base}.grid"
                          + (" (000 never states mu_r: choose it explicitly)" if "mu_r" in missing else ""))

    # values: each parameter on its own axis (no outer product is formed)
    for k, v in params.items():
        if k in FORCE_IMPLIED and force_space is not None:
            continue
        if k in model.parameter_names:
            try:
                check_parameters(model, {k: v}, require_all=False)
            except ValueError as err:
                raise ConfigError(f"{source.get(k, base)}: {err}") from None
    if force_space is not None:
        _check_force_values(force_space, axes, model, f"{base}.forces")
    if reverse:
        _check_reverse_values(reverse, params, model, source, f"{base}.reverse")
    # the aliases' values and the model's constraints over the whole grid, on its corners (a force-space
    # grid's temperatures are placeholders here, checked above), and those of the reverse run
    for run, values in [("", params)] + ([("the reverse run: ", _swapped(params, reverse))] if reverse else []):
        try:
            check_grid(model, values)
        except ValueError as err:
            raise ConfigError(f"{base}{'.reverse' if run else ''}: {run}{err}") from None

    if reverse:
        axes.append(Axis(DIRECTION, np.array([0.0, 1.0]), f"{base}.reverse"))
        extra_attrs.update({"reverse_swap": [list(p) for p in reverse],
                            "direction_meaning": "direction 0 = forward (the coordinates as labelled), 1 = reverse "
                                                 "(" + ", ".join(f"{a} <-> {b}" for a, b in reverse) + " swapped)"})

    # chunks
    dims = [a.name for a in axes]
    shape = tuple(len(a) for a in axes)
    explicit: dict[int, int] = {}
    for k, c in sc.get("chunks", {}).items():
        if k not in dims:
            raise ConfigError(f"{base}.chunks.{k}: {k!r} is not a dimension of this sweep; allowed: {', '.join(dims)}")
        if isinstance(c, bool) or not isinstance(c, int) or not (c == -1 or c >= 1):
            raise ConfigError(f"{base}.chunks.{k}: {c!r} is not allowed; allowed: an integer >= 1, or -1 (whole dimension)")
        n = shape[dims.index(k)]
        if c > n:
            raise ConfigError(f"{base}.chunks.{k}: {c} exceeds the {n} points of {k}; allowed: 1..{n}, or -1")
        explicit[dims.index(k)] = c
    structural = {k: v for k, v in normalized.items() if k in model.parameter_names and model.parameter(k).structural}
    try:
        method = model.resolve_method(sc.get("method", "auto"))
    except ValueError as err:
        raise ConfigError(f"{base}.method: {err}") from None
    try:  # one cell is the smallest sub-batch: what it needs must fit a chunk's budget
        check_memory(model, structural, method, CHUNK_BYTES,
                     f"the {CHUNK_BYTES // 2**20} MiB of working memory a chunk may use")
    except ValueError as err:
        raise ConfigError(f"{base}: {err}") from None
    target = sc.get("chunk_cells")
    if target is None:
        target = default_chunk_cells(shape, model.working_bytes_per_cell(structural))
    chunks = auto_chunks(shape, explicit, int(target))

    cumulants, fluxes = sc.get("cumulants"), sc.get("fluxes")
    if fluxes is not None and cumulants is None:
        raise ConfigError(f"{base}.fluxes: counted fluxes need {base}.cumulants (2 or 3)")
    if cumulants is not None:
        from ..thermo.noise import check_counting

        structural = {k: v for k, v in normalized.items() if k in model.parameter_names
                      and model.parameter(k).structural}
        try:
            check_counting(model, structural, fluxes)
        except ValueError as err:
            raise ConfigError(f"{base}.{'fluxes' if fluxes is not None else 'cumulants'}: {err}") from None
    plan = SweepPlan(name=name, model=model.name, method=sc.get("method", "auto"), axes=tuple(axes), fixed=fixed,
                     force_space=force_space, chunks=chunks, config_yaml=sweep_yaml(config, name),
                     config_sha256=sweep_sha256(config, name), extra_attrs=extra_attrs,
                     cumulants=None if cumulants is None else int(cumulants),
                     fluxes=None if fluxes is None else tuple(fluxes),
                     model_spec=model_spec, reverse=reverse)
    if sc.get("store"):
        if sc.get("refine") is not None:
            raise ConfigError(f"{base}.store: a refined sweep stores every variable; allowed: drop {base}.store "
                              f"or {base}.refine")
        plan = replace(plan, store=resolve_layout(sc["store"], checked_probe(plan), f"{base}.store"))
    elif probe:
        checked_probe(plan)
    return plan


def _reverse_pairs(spec: Any, fixed: Mapping[str, Any], grid: Mapping[str, Any], model,
                   key: str) -> tuple[tuple[str, str], ...]:
    """The ``reverse:`` block as pairs of parameter names, each fixed or on the grid as written."""
    if spec is None:
        return ()
    if not isinstance(spec, (list, tuple)) or not spec:
        raise ConfigError(f"{key}: {spec!r} is not allowed; allowed: a list of parameter pairs, e.g. [[T_L, T_R]]")
    pairs, seen = [], set()
    for i, pair in enumerate(spec):
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(p, str) for p in pair) or pair[0] == pair[1]):
            raise ConfigError(f"{key}[{i}]: {pair!r} is not allowed; allowed: two different parameter names, "
                              "e.g. [T_L, T_R]")
        for p in pair:
            if p not in fixed and p not in grid:
                given = sorted(set(fixed) | set(grid))
                raise ConfigError(f"{key}[{i}]: {p!r} is neither fixed nor swept in this sweep (name the "
                                  f"parameters as written in fixed/grid); allowed: {', '.join(given)}")
            if p in model.parameter_names and model.parameter(p).structural:
                raise ConfigError(f"{key}[{i}]: {p} is a structural parameter and cannot be swapped")
            if p in seen:
                raise ConfigError(f"{key}[{i}]: {p} appears in two pairs; allowed: each parameter once")
            seen.add(p)
        pairs.append((str(pair[0]), str(pair[1])))
    return tuple(pairs)


def _swapped(params: Mapping[str, Any], reverse) -> dict[str, Any]:
    """``params`` with each ``reverse`` pair's values exchanged (the reverse run's parameters)."""
    out = dict(params)
    for a, b in reverse:
        out[a], out[b] = params[b], params[a]
    return out


def _check_reverse_values(reverse, params: Mapping[str, Any], model, source, key: str) -> None:
    """The reverse run's values are valid for their new parameters (e.g. gamma_L <-> T_L would not be)."""
    from ..validation import check_parameters

    for a, b in reverse:
        for target, value in ((a, params[b]), (b, params[a])):
            if target in model.parameter_names:
                try:
                    check_parameters(model, {target: value}, require_all=False)
                except ValueError as err:
                    raise ConfigError(f"{key}: the reverse run gives {target} the values of its partner: {err}") from None


def checked_probe(plan: SweepPlan) -> xr.Dataset:
    """:meth:`SweepPlan.probe`, with a failure reported as a :class:`ConfigError` of the sweep."""
    try:
        return plan.probe()
    except ValueError as err:
        raise ConfigError(f"sweeps.{plan.name}: {err}") from None


def _force_space(fc: Mapping[str, Any], model, key: str, source: dict[str, str]) -> tuple[ForceSpace, list[Axis]]:
    if model.name != "cqd":
        raise ConfigError(f"{key}: force-space grids are defined for model 'cqd' (reduced models I, II), "
                          f"not {model.name!r}")
    rm = str(fc.get("reduced_model"))
    if rm not in ("I", "II"):
        raise ConfigError(f"{key}.reduced_model: {fc.get('reduced_model')!r} is not allowed; allowed: 'I', 'II'")
    energy_force, beta_name = ("F_E_r", "beta_r") if rm == "I" else ("F_E_b", "beta_b")
    for req in (energy_force, beta_name, "F_N_b", "mu_b"):
        if req not in fc:
            raise ConfigError(f"{key}.{req}: reduced model {rm} needs {req}")
    other = "F_E_b" if rm == "I" else "F_E_r"
    for bad in (other, "beta_b" if rm == "I" else "beta_r"):
        if bad in fc:
            raise ConfigError(f"{key}.{bad}: not used by reduced model {rm} (it uses {energy_force}, {beta_name})")
    beta = fc[beta_name]
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (math.isfinite(beta) and beta > 0):
        raise ConfigError(f"{key}.{beta_name}: {beta!r} is not allowed; allowed: a finite number > 0")
    mu_b = fc["mu_b"]
    if isinstance(mu_b, bool) or not isinstance(mu_b, (int, float)) or not math.isfinite(mu_b):
        raise ConfigError(f"{key}.mu_b: {mu_b!r} is not allowed; allowed: a finite number")
    for k in FORCE_IMPLIED:
        if k in source:
            raise ConfigError(f"{source[k]}: {k} is set by the force-space grid ({key}); do not also give it")
        source[k] = key
    axes, fixed_forces = [], {}
    for f in (energy_force, "F_N_b"):
        v = fc[f]
        if isinstance(v, Mapping):
            axes.append(Axis(f, axis_values(v, f"{key}.{f}"), f"{key}.{f}"))
            source[f] = f"{key}.{f}"
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{key}.{f}: {v!r} is not allowed; allowed: a finite number or an axis")
        else:
            fixed_forces[f] = float(v)
    fs = ForceSpace(rm, energy_force, beta_name, float(beta), float(mu_b), fixed_forces)
    return fs, axes


def _check_force_values(fs: ForceSpace, axes: list[Axis], model, key: str) -> None:
    """Check the implied T's and mu's along each force axis in turn (the other at its first value)."""
    from ..physics.reduced import force_space_parameters
    from ..validation import check_parameters

    by_name = {a.name: a for a in axes}
    first = {f: (by_name[f].values[0] if f in by_name else fs.fixed_forces[f]) for f in fs.forces}
    for f in fs.forces:
        forces = dict(first)
        if f in by_name:
            forces[f] = by_name[f].values
        try:
            implied = force_space_parameters(fs.reduced_model, mu_b=fs.mu_b, F_N_b=forces["F_N_b"],
                                             **{fs.energy_force: forces[fs.energy_force], fs.beta_name: fs.beta})
            check_parameters(model, implied, require_all=False)
        except ValueError as err:
            raise ConfigError(f"{key}.{f}: {err}") from None
