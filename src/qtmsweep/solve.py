"""``solve(model, **params) -> xarray.Dataset``: one entry point over every model and method."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import xarray as xr

from . import __version__
from .physics.batch import GridParam
from .physics.precision import EPS as _EPS, lead_bound, relative_bound, sigma_error
from .physics.model import label_coordinates
from .physics.registry import get_model
from .thermo import conservation_residual, entropy_production_from_forces, heat_current
from .validation import check_deferred, check_array_inputs, check_constraints, check_memory, check_parameters, physical_memory

CURRENT_META = {
    "J_E": ("energy/time", "energy current from reservoir into system"),
    "J_N": ("1/time", "particle current from reservoir into system"),
    "J_Q": ("energy/time", "heat current from reservoir into system (J_E - mu J_N)"),
}
FORCE_META = {
    "F_E": ("1/energy", "thermodynamic force conjugate to energy current (difference of inverse temperatures)"),
    "F_N": ("1", "thermodynamic force conjugate to particle current (difference of beta*mu)"),
}


def solve(model, *, method: str = "auto", cumulants: int | None = None, fluxes: list[str] | None = None,
          **params: Any) -> xr.Dataset:
    """Steady state and thermodynamics of ``model`` on a grid of parameters.

    Parameters
    ----------
    model : str or model object
        Registered model name, e.g. ``"sqd"`` or ``"cqd"`` (see
        :func:`qtmsweep.available_models`).
    method : {"auto", "closed_form", "linear"}
        Solver: the model's exact fused kernel, or the generic batched
        rate-matrix solve.  ``"auto"`` picks the closed form when there is one.
    **params
        Every parameter of the model.  Scalars are fixed (stored in attrs);
        numpy arrays broadcast against each other (dims ``dim_0, ...``, or the
        parameter's name for a single 1-D array); ``xarray.DataArray`` values
        are aligned by dimension and their dims and coords are kept.  Mixing
        non-scalar numpy arrays with DataArrays is refused.  Arrays are not copied: the
        Dataset's parameter variables are read-only views of the inputs (copy an input
        before changing it in place, or take ``ds.copy(deep=True)``).
    cumulants : {None, 2, 3}
        Also compute counting statistics (:mod:`qtmsweep.thermo.noise`): ``S(flux, flux_)``,
        ``fano``, ``tur``, ``kur`` (and ``c3`` with 3) of the counted ``fluxes``.
    fluxes : list of str, optional
        Counted fluxes, labels like ``"J_N[b]"``, ``"J_Q[C]"`` (default:
        :func:`qtmsweep.physics.generator.default_fluxes`).

    Returns
    -------
    xarray.Dataset
        SPEC §4: ``p(state)``, ``J_E/J_N/J_Q(lead)``, ``sigma``, ``sigma_micro``,
        forces ``F_*``, conservation residuals, the precision bounds ``rel_err(lead)``
        and ``sigma_rel_err`` (:mod:`qtmsweep.physics.precision`).

    Raises
    ------
    ValueError
        For an unknown model or parameter, a missing parameter, or a value
        outside its allowed range (the message names parameter, value and range).

    Examples
    --------
    >>> import qtmsweep
    >>> ds = qtmsweep.solve("sqd", eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
    >>> float(ds.J_N.sel(lead="l")) > 0   # hot lead pushes electrons through the level
    True
    >>> bool(ds.sigma >= 0)
    True
    """
    m = get_model(model)
    if cumulants not in (None, 2, 3):
        raise ValueError(f"cumulants={cumulants!r} is not allowed; allowed: None, 2 or 3")
    if fluxes is not None and cumulants is None:
        raise ValueError("fluxes=... needs cumulants=2 or 3 (the fluxes are what the cumulants count)")
    if m.normalize is not None:
        params = m.normalize(dict(params))
    # the cqd kernel reads every input anyway: large flat arrays have their value range checked in
    # that pass (same errors, raised before a result is returned); everything else is checked here
    fused_check = (m.name == "cqd" and cumulants is None and getattr(m, "grid_params", False)
                   and m.resolve_method(method) == "closed_form")
    deferred = check_parameters(m, params, defer=frozenset(params) if fused_check else frozenset())
    check_array_inputs(params)
    structural = {k: _scalar(v) for k, v in params.items() if m.parameter(k).structural}
    numeric = {k: v for k, v in params.items() if not m.parameter(k).structural}
    arrays, dims, coords, shape, places = _broadcast(numeric)
    n = int(np.prod(shape)) if shape else 1
    # cqd's counting kernel reads the grid parameters in place too (thermo.noise._cqd_fused)
    in_place = (getattr(m, "grid_params", False) and (cumulants is None or m.name == "cqd")
                and m.resolve_method(method) == "closed_form")
    flat = _Flat({k: places[k] if in_place and k in places else v for k, v in arrays.items()}, n)
    flat.update(structural)
    check_constraints(m, flat)  # constraints between parameters (e.g. chain global: g < omega), before any work
    check_memory(m, structural, m.resolve_method(method), physical_memory(), "this machine's memory")
    if cumulants is not None:  # refuse unknown fluxes / unsupported models before any work
        from .thermo.noise import check_counting

        check_counting(m, structural, fluxes)
    ranges: dict = {}  # what the kernel read of the deferred inputs (none: they get the full check)
    if in_place:  # the kernel reads the grid's axes in place: no broadcast copy
        state = m.closed_form({k: flat.raw(k) for k in flat}, cells=n, input_ranges=ranges)
    else:
        state = m.steady_state({k: flat[k] for k in flat}, method=method)
    check_deferred(m, params, deferred, ranges)
    ds = _to_dataset(m, state, flat, arrays, dims, coords, shape, structural, m.resolve_method(method))
    if cumulants is not None:
        from .thermo.noise import add_counting_statistics

        ds = add_counting_statistics(ds, m, flat, order=cumulants, fluxes=fluxes)
    return ds


def _scalar(v):
    return v.item() if hasattr(v, "item") else v


class _Flat(dict):
    """The solver's flat parameters: ``flat[k]`` is a scalar or the ``n`` cell values,
    materialised on first use from a :class:`~qtmsweep.physics.batch.GridParam` (models that read
    grid parameters in place never ask); :meth:`raw` gives what was stored."""

    def __init__(self, values: Mapping[str, Any], n: int):
        super().__init__(values)
        self.n = n

    def raw(self, key: str) -> Any:
        return dict.__getitem__(self, key)

    def __getitem__(self, key: str) -> Any:
        v = dict.__getitem__(self, key)
        if isinstance(v, GridParam):
            v = v.flat(self.n)
            dict.__setitem__(self, key, v)
        elif np.ndim(v):
            v = np.asarray(v, dtype=float).reshape(-1)
            dict.__setitem__(self, key, v)
        return v

    def get(self, key, default=None):
        return self[key] if key in self else default

    def items(self):
        return ((k, self[k]) for k in self)

    def values(self):
        return (self[k] for k in self)


def _place(values: np.ndarray, own_dims: tuple[str, ...], dims: tuple[str, ...], shape: tuple[int, ...],
           full=None) -> GridParam:
    """How an array on ``own_dims`` (C order) sits on the grid ``dims``/``shape``, without copying it
    when its dims are consecutive grid dims in grid order (else the broadcast values, copied)."""
    n = int(np.prod(shape)) if shape else 1
    pos = [dims.index(d) for d in own_dims]
    if pos and pos == list(range(pos[0], pos[0] + len(pos))) and values.flags.c_contiguous:
        div = int(np.prod(shape[pos[-1] + 1:]))
        return GridParam(values.reshape(-1), div, values.size)
    if not pos or values.size == 1:
        return GridParam(values.reshape(-1)[:1], 1, 1)
    return GridParam(np.ascontiguousarray(full).reshape(-1), 1, n)


def _broadcast(params: Mapping[str, Any]):
    """Split scalars from arrays and broadcast the arrays (as views: no array is copied).

    Returns ``(arrays, dims, coords, shape, places)``: ``arrays[k]`` a scalar or a read-only
    broadcast view of shape ``shape``; ``places[k]`` the array as a
    :class:`~qtmsweep.physics.batch.GridParam` (its own values in place where they are laid out
    along consecutive grid dims).
    """
    das = {k: v for k, v in params.items() if isinstance(v, xr.DataArray) and v.ndim > 0}
    nps = {k: np.asarray(v, dtype=float) for k, v in params.items()
           if not isinstance(v, xr.DataArray) and np.ndim(v) > 0}
    scalars = {k: float(np.asarray(getattr(v, "values", v))) for k, v in params.items() if k not in das and k not in nps}
    if das and nps:
        raise ValueError(
            f"{next(iter(nps))} is a numpy array while {next(iter(das))} is an xarray.DataArray; "
            "allowed: give all non-scalar parameters as DataArrays, or all as numpy arrays"
        )
    arrays: dict[str, Any] = dict(scalars)
    coords: dict[str, Any] = {}
    places: dict[str, GridParam] = {}
    if das:
        try:
            aligned = xr.align(*das.values(), join="exact")
            bcast = xr.broadcast(*aligned)
        except ValueError as err:
            raise ValueError(f"parameters {', '.join(das)} have coordinates that do not align: {err}") from None
        dims = bcast[0].dims
        shape = bcast[0].shape
        for k, da, full in zip(das, aligned, bcast):
            arrays[k] = full.transpose(*dims).values
            own = tuple(d for d in dims if d in da.dims)
            places[k] = _place(np.asarray(da.transpose(*own).values, dtype=float), own, dims, shape, arrays[k])
        for da in bcast:
            for name, c in da.coords.items():
                coords.setdefault(name, c)
    elif nps:
        try:
            shape = np.broadcast_shapes(*(a.shape for a in nps.values()))
        except ValueError:
            raise ValueError(
                "parameter arrays " + ", ".join(f"{k} (shape {a.shape})" for k, a in nps.items())
                + " do not broadcast; allowed: numpy-broadcastable shapes"
            ) from None
        if len(nps) == 1 and len(shape) == 1:
            (name,) = nps
            dims = (name,)
            coords[name] = (name, nps[name].astype(float))
        else:
            dims = tuple(f"dim_{i}" for i in range(len(shape)))
        for k, a in nps.items():
            arrays[k] = np.broadcast_to(a, shape)
            lead = len(shape) - a.ndim
            own = tuple(d for i, d in enumerate(dims) if i >= lead and a.shape[i - lead] != 1)
            squeezed = a.reshape([s for s in a.shape if s != 1]) if own else a
            ok = all(a.shape[i - lead] == shape[i] for i, d in enumerate(dims) if d in own)
            places[k] = _place(squeezed, own, dims, shape, arrays[k]) if ok else GridParam(
                np.ascontiguousarray(arrays[k]).reshape(-1), 1, int(np.prod(shape)))
    else:
        dims, shape = (), ()
    return arrays, tuple(dims), coords, tuple(shape), places


def _to_dataset(m, state, flat, arrays, dims, coords, shape, structural, method) -> xr.Dataset:
    def grid(a, extra=()):
        return a.reshape(shape + a.shape[1:]) if shape else a.reshape(a.shape[1:])

    lead_dims = dims + ("lead",)
    data: dict[str, Any] = {}
    if state.p is not None:
        data["p"] = (dims + ("state",), grid(state.p), {"units": "1", "long_name": "steady-state occupation probability"})
    J_E = state.J_E
    J_N = state.J_N
    if state.J_Q is not None:
        J_Q = state.J_Q
    else:
        mu = None
        if J_N is not None:
            mu = np.stack([np.broadcast_to(flat[m.lead_reservoir[lead][1]], (J_E.shape[0],)) for lead in m.leads], axis=-1)
        J_Q = heat_current(J_E, J_N, mu)
    data["J_E"] = (lead_dims, grid(J_E), _meta(*CURRENT_META["J_E"]))
    if J_N is not None:
        data["J_N"] = (lead_dims, grid(J_N), _meta(*CURRENT_META["J_N"]))
    data["J_Q"] = (lead_dims, grid(J_Q), _meta(*CURRENT_META["J_Q"]))

    forces = state.forces if state.forces is not None else {
        k: np.broadcast_to(v, (J_E.shape[0],)) for k, v in m.forces(flat).items()}
    if state.sigma is not None:
        sigma = state.sigma
    else:
        lead_index = {lead: i for i, lead in enumerate(m.leads)}
        current = {"J_E": J_E, "J_N": J_N, "J_Q": J_Q}
        fluxes = {f: current[var][:, lead_index[lead]] for f, (var, lead) in m.force_flux.items()}
        sigma = entropy_production_from_forces(fluxes, forces)
    data["sigma"] = (dims, grid(np.asarray(sigma)), _meta("1/time", "entropy production rate, sum of J*F (000 Eq. 32)"))
    if state.sigma_micro is not None:
        data["sigma_micro"] = (dims, grid(state.sigma_micro),
                               _meta("1/time", "Schnakenberg entropy production rate from populations and rates (000 Eq. 36)"))
    for name, value in forces.items():
        kind = "F_E" if name.startswith("F_E") else "F_N"
        var, lead = m.force_flux[name]
        data[name] = (dims, grid(np.asarray(value)), _meta(FORCE_META[kind][0], f"{FORCE_META[kind][1]}; conjugate to {var}[{lead}]"))
    res_E = state.residual_E if state.residual_E is not None else conservation_residual(J_E)
    data["residual_E"] = (dims, grid(res_E), _meta("1", "energy conservation residual |sum J_E|/max|J_E|"))
    if J_N is not None:
        res_N = state.residual_N if state.residual_N is not None else conservation_residual(J_N)
        data["residual_N"] = (dims, grid(res_N), _meta("1", "particle conservation residual |sum J_N|/max|J_N|"))
    rel_err, sigma_rel_err = _precision_bounds(m, state, J_E, J_N, J_Q, flat, forces, np.asarray(sigma))
    if rel_err is not None:
        data["rel_err"] = (lead_dims, grid(rel_err), _meta("1", REL_ERR_LONG_NAME))
    if sigma_rel_err is not None:
        data["sigma_rel_err"] = (dims, grid(sigma_rel_err), _meta("1", SIGMA_REL_ERR_LONG_NAME))
    for name, (extra_dims, value) in state.extras.items():
        meta = m.extra_outputs.get(name)
        attrs = _meta(meta.units, meta.long_name) if meta else {}
        data[name] = (dims + tuple(extra_dims), grid(value), attrs)

    # parameters that vary but are not a dimension coordinate of their own name
    for k, v in arrays.items():
        if np.ndim(v) and k not in coords:
            p = m.parameter(k)
            data.setdefault(k, (dims, np.asarray(v), _meta(p.units, p.description)))

    # outputs named like a dimension (force-space grids) are that dimension's coordinate
    for name in list(data):
        if name in coords or name in dims:
            del data[name]
    # every coordinate in the one constructor call (each assign_coords re-aligns the whole Dataset)
    all_coords = dict(coords)
    all_coords["lead"] = ("lead", list(m.leads))
    if state.p is not None:
        all_coords["state"] = ("state", list(state.states if state.states is not None else m.states))
    used = {d for var in data.values() for d in var[0]} | set(dims) | set(all_coords)
    all_coords.update(label_coordinates(m, structural, used))  # site, eigenstate
    ds = xr.Dataset(data, coords=all_coords)
    attrs: dict[str, Any] = {"model": m.name, "method": method, "qtmsweep_version": __version__}
    for k, v in arrays.items():
        if not np.ndim(v):
            attrs[k] = float(v)
    attrs.update(structural)
    attrs.update(getattr(m, "constants", None) or {})  # a declared model's constants, named by their spec key
    ds.attrs.update(attrs)
    return ds


REL_ERR_LONG_NAME = ("upper bound on the relative error of this lead's J_E, J_N and J_Q (0: exact; "
                     "inf: not even the sign is guaranteed)")
SIGMA_REL_ERR_LONG_NAME = "upper bound on the relative error of sigma (0: exact; inf: sign not guaranteed)"


def _precision_bounds(m, state, J_E, J_N, J_Q, flat, forces, sigma):
    """``(rel_err (n, n_leads), sigma_rel_err (n,))`` from the kernel's bounds or its absolute errors."""
    rel, srel = state.rel_err, state.sigma_rel_err
    n, n_leads = J_E.shape
    err = state.abs_err
    if err is not None:
        e_E, e_N = err["J_E"], err.get("J_N")
        e_Q = err.get("J_Q")
        if e_Q is None:  # J_Q = J_E - mu J_N formed here
            e_Q = e_E
            if J_N is not None:
                mu = np.stack([np.broadcast_to(flat[m.lead_reservoir[lead][1]], (n,)) for lead in m.leads], axis=-1)
                e_Q = e_E + np.abs(mu) * e_N + 2 * _EPS * (np.abs(J_E) + np.abs(mu * J_N))
        if rel is None:
            pairs = [(e_E, J_E), (e_Q, J_Q)] + ([(e_N, J_N)] if J_N is not None and e_N is not None else [])
            rel = lead_bound(*pairs)
        if srel is None:
            current = {"J_E": (J_E, e_E), "J_N": (J_N, e_N), "J_Q": (J_Q, e_Q)}
            index = {lead: i for i, lead in enumerate(m.leads)}
            terms = [(current[var][0][:, index[lead]], current[var][1][:, index[lead]], np.asarray(forces[f]))
                     for f, (var, lead) in m.force_flux.items()]
            srel = relative_bound(sigma_error(terms), sigma)
    if rel is not None and np.ndim(rel) == 1:  # a single bound for every lead
        rel = np.repeat(np.asarray(rel)[:, None], n_leads, axis=1)
    return rel, srel


def _meta(units: str, long_name: str) -> dict[str, str]:
    return {"units": units, "long_name": long_name}


def grid(**axes) -> dict[str, xr.DataArray]:
    """Outer-product grid: one 1-D DataArray per parameter, each on its own dimension.

    Examples
    --------
    >>> import numpy as np, qtmsweep
    >>> g = qtmsweep.grid(T_a=np.linspace(0.5, 2.0, 4), mu_a=[0.0, 0.5])
    >>> sorted(g)
    ['T_a', 'mu_a']
    >>> ds = qtmsweep.solve("cqd", **g, eps_L=1.0, eps_R=2.5, kappa=-1.5, T_b=1.0, T_r=1.0,
    ...                     mu_b=1.0, mu_r=0.0, gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)
    >>> dict(ds.sizes)
    {'T_a': 4, 'mu_a': 2, 'state': 4, 'lead': 3}
    """
    return {k: xr.DataArray(np.asarray(v, dtype=float), dims=(k,), coords={k: np.asarray(v, dtype=float)})
            for k, v in axes.items()}
