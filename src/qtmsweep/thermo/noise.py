"""Counting statistics on a solved grid: covariance, Fano factors, TUR and KUR ratios (issue 12).

:func:`add_counting_statistics` takes a dataset of :func:`qtmsweep.solve` (the mean currents,
``sigma`` and their precision bounds) and the model's counting generator
(:mod:`qtmsweep.physics.generator`), and adds, on a coordinate ``flux`` labelled like
``J_N[b]``, ``J_E[r]``, ``J_Q[C]``:

``S(flux, flux_)``
    covariance matrix of the counted fluxes, ``S = lim_{t→∞} Cov(N_a, N_b)/t`` (no factor 2;
    a noise *spectral density* in the symmetrised convention is ``2S``);
``S_rel_err(flux)``
    rounding bound of the diagonal (module :mod:`~qtmsweep.physics.counting`: the final assembly,
    and for Liouvillians an a-posteriori bound of the factorisation from adjoint residuals);
``c3(flux)``
    third scaled cumulant ``lim ⟨⟨N³⟩⟩/t`` (with ``cumulants=3``);
``fano(flux)``
    ``S_ii/|J_i|``;
``tur(flux)``
    TUR ratio ``Q = S_ii σ/J_i²`` (≥ 2 for classical Markov jump dynamics; coherent dynamics may
    go below);
``kur(flux)``
    KUR ratio ``S_ii A/J_i²`` with the dynamical activity ``A`` (total jump rate; ≥ 1 for
    classical dynamics);
``activity``
    ``A``;
``ratio_undetermined(flux)``
    True where ``J_i`` is not resolved by its bound (``J_i = 0``, or its relative bound
    ``≥`` :data:`RESOLVED_REL_ERR`): there ``fano``, ``tur``, ``kur`` are NaN *for that reason*;
``tur_rel_err(flux)``
    bound on the relative error of ``tur``: ``2 δJ + δS + δσ`` (for truncated Hilbert spaces plus
    ``2 S_truncation_rel_change``, an estimate: so a poorly truncated cell is undetermined);
``tur_undetermined(flux)``
    True where ``tur`` is NaN: ``ratio_undetermined``, or ``tur_rel_err ≥`` :data:`RESOLVED_REL_ERR`
    (near equilibrium the generic solvers may not resolve ``σ`` although they resolve ``J``);
``S_truncation_rel_change(flux)`` (``kerr_fridge``, oscillator ``chain``)
    relative change of ``S_ii`` from ``(N1+1, N2)`` and ``(N1, N2+1)`` (from ``n_max + 1`` quanta for
    the chain): like ``truncation_change`` of the means a warning sign, not a bound (it
    underestimates the error ~2× at 003 Fig. 7's point);
``classical_dynamics``
    True where the dynamics is a classical Markov jump process (rate models, the secular
    global MEs, local MEs without coherent coupling), where the TUR must hold.

The mean currents of record are the solve's (accurate near equilibrium, with a per-lead bound);
the cumulant ``c1`` of the generator is used only as a consistency check.  ``σ``'s bound is
``sigma_rel_err`` when the dataset has it, else ``rel_err · Σ|F J| / |σ|``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from ..physics.counting import flux_cumulants as _flux_cumulants
from ..physics.generator import default_fluxes, generator, has_generator, parse_flux
from ..physics.registry import available_models, get_model

#: A ratio is reported only where its flux is known to better than this relative bound.
RESOLVED_REL_ERR = 0.1
CONVENTION = "S = lim_{t->inf} Cov(N_a, N_b)/t (no factor 2); cumulants scaled by time"
_UNITS = {"J_E": "energy/time", "J_N": "1/time", "J_Q": "energy/time"}
_COUNTED = {"J_E": "energy", "J_N": "1", "J_Q": "energy"}

__all__ = ["add_counting_statistics", "counting_statistics", "tur_variables", "RESOLVED_REL_ERR", "CONVENTION"]


def _cells(ds: xr.Dataset, name: str, dims, extra=()):
    v = ds[name]
    v = v.broadcast_like(ds["sigma"]) if set(dims) - set(v.dims) else v
    return np.asarray(v.transpose(*dims, *extra).values).reshape((-1,) + tuple(ds.sizes[e] for e in extra))


def check_counting(model, structural: Mapping[str, Any], fluxes: Sequence[str] | None) -> list[str]:
    """Validate the counted fluxes and that the model/approach has counting statistics (no work done)."""
    m = get_model(model)
    if not has_generator(m):
        raise ValueError(f"cumulants are not available for model {m.name!r} (it has no Markov generator with "
                         "counted jumps); allowed models: "
                         + ", ".join(n for n in available_models() if has_generator(n)))
    labels = list(default_fluxes(m) if fluxes is None else fluxes)
    if isinstance(fluxes, str) or not labels:
        raise ValueError(f"fluxes={fluxes!r} is not allowed; allowed: a non-empty list of labels like 'J_Q[C]'")
    for f in labels:
        var, lead = parse_flux(f)
        if lead not in m.leads:
            raise ValueError(f"flux {f!r} names lead {lead!r}; allowed leads of {m.name}: {', '.join(m.leads)}")
        if var == "J_N" and not m.particle_exchange:
            raise ValueError(f"flux {f!r} is not allowed for {m.name} (its baths exchange no particles); "
                             "allowed: J_E, J_Q")
    if len(set(labels)) != len(labels):
        raise ValueError(f"fluxes={labels!r} repeats a label; allowed: distinct labels")
    if m.name == "chain":
        from ..physics.models.chain import MAX_COUNTING_SITES, check_boson_counting

        if structural.get("stat", "qubit") == "boson":
            check_boson_counting(int(structural.get("N", 2)), int(structural.get("n_max", 6)),
                                 structural.get("approach", "local"))
        elif structural.get("approach", "local") == "local" and int(structural.get("N", 2)) > MAX_COUNTING_SITES:
            raise ValueError(f"N={structural.get('N')} is too large for counting statistics of the local chain; "
                             f"allowed: N <= {MAX_COUNTING_SITES}")
    return labels


def counting_statistics(model, params: Mapping[str, Any], fluxes: Sequence[str] | None = None, order: int = 2):
    """``(labels, Cumulants, Generator)`` of ``model`` on flat validated parameters."""
    m = get_model(model)
    labels = check_counting(m, {k: v for k, v in params.items() if isinstance(v, (str, int))}, fluxes)
    pairs = [parse_flux(f) for f in labels]
    gen = generator(m, params)
    return labels, _flux_cumulants(gen, pairs, order=order), gen


def add_counting_statistics(ds: xr.Dataset, model, params: Mapping[str, Any], *, order: int = 2,
                            fluxes: Sequence[str] | None = None) -> xr.Dataset:
    """Add the variables of the module docstring to a solved dataset (cells in C order of ``sigma``'s dims).

    ``params`` may be :func:`qtmsweep.solve`'s flat parameters (values read on demand; for ``cqd``
    its grid parameters are read in place by the fused kernel, :func:`_cqd_fused`).
    """
    if order not in (2, 3):
        raise ValueError(f"cumulants={order!r} is not allowed; allowed: 2 or 3")
    dims = tuple(ds["sigma"].dims)
    shape = tuple(ds.sizes[d] for d in dims)
    n = int(np.prod(shape, dtype=np.int64))
    name = get_model(model).name
    if name == "cqd":
        labels = check_counting(model, {}, fluxes)
        pairs = [parse_flux(f) for f in labels]
        v = _cqd_fused(ds, dims, n, params, pairs, order)
        approach = "pauli"
    else:
        labels, v, approach = _generic(ds, dims, n, model, name, params, fluxes, order)
        pairs = [parse_flux(f) for f in labels]
    return _assemble(ds, dims, shape, n, name, labels, pairs, order, v, approach)


def _cqd_fused(ds, dims, n, params, pairs, order) -> dict:
    """``cqd``'s counting statistics and ratios from one pass of the fused kernel
    (:func:`qtmsweep.physics.counting_kernel.cqd_counting_kernel`): the rates are formed in the
    kernel from the parameters (GridParams read in place), no generator arrays are built, and
    the ratios and their bounds are written in the same pass.  Same numbers as the generic route
    (same formulas; the rates to an ulp)."""
    from ..physics.counting_kernel import cqd_counting_kernel
    from ..physics.models.cqd import KERNEL_PARAMETERS, LEADS, _grid_params, _read_only

    raw = getattr(params, "raw", params.__getitem__)
    grid_params, _ = _grid_params({k: raw(k) for k in KERNEL_PARAMETERS}, n)
    F = len(pairs)
    fvar = np.array([("J_E", "J_N", "J_Q").index(var) for var, _ in pairs], dtype=np.int64)
    flead = np.array([LEADS.index(lead) for _, lead in pairs], dtype=np.int64)

    def flat(name, extra=()):
        return np.ascontiguousarray(_cells(ds, name, dims, extra), dtype=float)
    J_E, J_N, J_Q = (flat(var, ("lead",)) for var in ("J_E", "J_N", "J_Q"))
    rel = flat("rel_err", ("lead",)) if "rel_err" in ds else np.zeros((n, 3))
    if rel.ndim == 1:
        rel = np.repeat(rel[:, None], 3, axis=1)
    sigma = flat("sigma")
    srel = flat("sigma_rel_err") if "sigma_rel_err" in ds else np.zeros(n)
    S = np.empty((n, F, F))
    c3, c3_rel = (np.full((n, F), np.nan), np.full((n, F), np.nan)) if order >= 3 else (np.empty((1, F)),) * 2
    out = {k: np.empty((n, F)) for k in ("S_rel_err", "fano", "tur", "kur", "tur_rel_err")}
    undet, tur_undet = np.empty((n, F), dtype=bool), np.empty((n, F), dtype=bool)
    act = np.empty(n)
    div = np.array([g.div for g in grid_params], dtype=np.int64)
    mod = np.array([g.mod for g in grid_params], dtype=np.int64)
    cqd_counting_kernel(tuple(_read_only(g.values) for g in grid_params), div, mod, n, fvar, flead, order,
                        RESOLVED_REL_ERR, J_E, J_N, J_Q, rel, sigma, srel, S, out["S_rel_err"], c3, c3_rel, act,
                        out["fano"], out["tur"], out["kur"], out["tur_rel_err"], undet, tur_undet)
    return dict(S=S, c3=c3 if order >= 3 else None, c3_rel_err=c3_rel if order >= 3 else None, activity=act,
                ratio_undetermined=undet, tur_undetermined=tur_undet, classical=np.ones(n, dtype=bool),
                rel_change=None, **out)


def _generic(ds, dims, n, model, name, params, fluxes, order):
    """``(labels, variables, approach)`` from the model's counting generator (any model)."""
    params = {k: params[k] for k in params}
    labels, c, gen = counting_statistics(model, params, fluxes, order)
    pairs = [parse_flux(f) for f in labels]
    leads = list(ds["lead"].values)
    J = np.stack([_cells(ds, var, dims, ("lead",))[:, leads.index(lead)] for var, lead in pairs], axis=1)
    rel_J = _flux_rel_err(ds, dims, pairs, leads, J)
    sigma = _cells(ds, "sigma", dims)
    rel_sigma = _sigma_rel_err(ds, dims, model, leads, sigma)
    S = c.S
    Sd = np.einsum("nff->nf", S)
    bigger = []  # truncated Hilbert spaces: the same statistics one level up (SPEC §2's N -> N+1)
    if name == "kerr_fridge":
        for dN in ((1, 0), (0, 1)):
            up = dict(params)
            up["N1"], up["N2"] = int(params.get("N1", 3)) + dN[0], int(params.get("N2", 3)) + dN[1]
            bigger.append(up)
    elif name == "chain" and params.get("stat", "qubit") == "boson":
        bigger.append({**params, "n_max": int(params.get("n_max", 6)) + 1})
    rel_change = None
    if bigger:
        change = np.zeros_like(Sd)
        for up in bigger:  # checked at n_max, not again at n_max + 1 (the estimate may be ~2x larger)
            cu = _flux_cumulants(generator(get_model(model), up), pairs, order=2)
            change = np.maximum(change, np.abs(np.einsum("nff->nf", cu.S) - Sd))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_change = np.where(Sd != 0, change / np.abs(Sd), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        undetermined = (J == 0) | ~np.isfinite(rel_J) | (rel_J >= RESOLVED_REL_ERR) | ~np.isfinite(J)
        absJ = np.where(undetermined, np.nan, np.abs(J))
        fano = Sd / absJ
        kur = Sd * c.activity[:, None] / absJ**2
        tur_rel = np.where(undetermined, np.inf, 2 * rel_J + c.S_rel_err + rel_sigma[:, None])
        if rel_change is not None:  # truncated Hilbert space: the S estimate (it underestimates ~2x) counts too
            tur_rel = tur_rel + 2 * rel_change
        tur_undetermined = undetermined | ~(tur_rel < RESOLVED_REL_ERR)
        tur = np.where(tur_undetermined, np.nan, Sd * sigma[:, None] / absJ**2)
    v = dict(S=S, S_rel_err=c.S_rel_err, c3=c.c3, c3_rel_err=c.c3_rel_err, activity=c.activity, fano=fano, tur=tur,
             kur=kur, tur_rel_err=tur_rel, ratio_undetermined=undetermined, tur_undetermined=tur_undetermined,
             classical=np.asarray(gen.notes.get("classical", np.zeros(n, bool))), rel_change=rel_change)
    return labels, v, str(gen.notes.get("approach", gen.kind))


def _assemble(ds, dims, shape, n, name, labels, pairs, order, v, approach) -> xr.Dataset:
    S, fano, tur, kur, tur_rel = v["S"], v["fano"], v["tur"], v["kur"], v["tur_rel_err"]
    undetermined, tur_undetermined, rel_change = v["ratio_undetermined"], v["tur_undetermined"], v["rel_change"]

    def grid(a):
        return a.reshape(shape + a.shape[1:])

    fd, fd_ = dims + ("flux",), dims + ("flux", "flux_")
    units = [_UNITS[v] for v, _ in pairs]
    attrs = {"convention": CONVENTION}
    out = {
        "S": (fd_, grid(S), {"units": "[flux]*[flux_]*time (see flux_units)",
                             "long_name": "covariance of the counted fluxes, lim Cov(N_a, N_b)/t", **attrs}),
        "S_rel_err": (fd, grid(v["S_rel_err"]), {"units": "1", "long_name": "rounding bound on the relative error of "
                                              "S(flux, flux) (assembly of the Drazin formula)"}),
        "fano": (fd, grid(fano), {"units": "[counted quantity] (1 for J_N, energy for J_E/J_Q)",
                                  "long_name": "Fano factor S_ii/|J_i| (NaN where ratio_undetermined)", **attrs}),
        "tur": (fd, grid(tur), {"units": "1", "long_name": "TUR ratio S_ii sigma/J_i^2 (>= 2 for classical "
                                "dynamics; NaN where ratio_undetermined)", **attrs}),
        "kur": (fd, grid(kur), {"units": "1", "long_name": "KUR ratio S_ii A/J_i^2 with the dynamical activity A "
                                "(>= 1 for classical dynamics; NaN where ratio_undetermined)", **attrs}),
        "tur_rel_err": (fd, grid(tur_rel), {"units": "1", "long_name": "bound on the relative error of tur "
                                            "(2 rel_err(J) + S_rel_err + sigma bound)"}),
        "ratio_undetermined": (fd, grid(undetermined), {"units": "1", "long_name": "True where J_i is zero or not "
                               f"resolved by its bound (relative bound >= {RESOLVED_REL_ERR:g}): ratios are NaN"}),
        "tur_undetermined": (fd, grid(tur_undetermined), {"units": "1", "long_name": "True where tur is NaN: J_i "
                             f"unresolved, or the bound tur_rel_err >= {RESOLVED_REL_ERR:g} (e.g. sigma unresolved)"}),
        "activity": (dims, grid(v["activity"]), {"units": "1/time", "long_name": "dynamical activity: total rate of "
                                              "jumps in the steady state"}),
        "classical_dynamics": (dims, grid(v["classical"]),
                               {"units": "1", "long_name": "True where the dynamics is a classical Markov jump "
                                "process (TUR and KUR must hold)"}),
    }
    if rel_change is not None:
        what = "(N1+1, N2) and (N1, N2+1)" if name == "kerr_fridge" else "n_max + 1 quanta"
        out["S_truncation_rel_change"] = (fd, grid(rel_change), {"units": "1", "long_name": "relative change of "
                                          f"S(flux, flux) from {what}: truncation estimate"})
    if v["c3"] is not None:
        out["c3"] = (fd, grid(v["c3"]), {"units": "[flux]*[counted quantity]^2", "long_name": "third scaled cumulant "
                                      "lim <<N^3>>/t of the counted flux", **attrs})
        out["c3_rel_err"] = (fd, grid(v["c3_rel_err"]), {"units": "1", "long_name": "rounding bound on the relative "
                             "error of c3 (it vanishes at equilibrium: a cancelling sum there)"})
    ds = ds.assign(out)
    ds = ds.assign_coords(flux=("flux", labels), flux_=("flux_", labels),
                          flux_units=("flux", units))
    ds.attrs["cumulants"] = int(order)
    ds.attrs["counting_convention"] = CONVENTION
    ds.attrs["counting_generator"] = approach
    return ds


def _flux_rel_err(ds, dims, pairs, leads, J) -> np.ndarray:
    """Per-flux relative bound: the per-lead ``rel_err(lead)`` when the dataset has it; with the
    old scalar form (a bound relative to the largest current) ``rel_err · max|J_var|/|J_i|``."""
    n = J.shape[0]
    if "rel_err" not in ds:
        return np.zeros_like(J)
    if "lead" in ds["rel_err"].dims:
        r = _cells(ds, "rel_err", dims, ("lead",)).astype(float)
        return np.stack([r[:, leads.index(lead)] for _, lead in pairs], axis=1)
    r = _cells(ds, "rel_err", dims).astype(float)
    out = np.empty_like(J)
    for f, (var, _) in enumerate(pairs):
        big = np.abs(_cells(ds, var, dims, ("lead",))).max(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, f] = np.where(J[:, f] != 0, r * big / np.abs(J[:, f]), np.inf)
    return out.reshape(n, -1)


def _sigma_rel_err(ds, dims, model, leads, sigma) -> np.ndarray:
    if "sigma_rel_err" in ds:
        return _cells(ds, "sigma_rel_err", dims).astype(float)
    if "rel_err" not in ds:
        return np.zeros_like(sigma)
    r = _cells(ds, "rel_err", dims) if "lead" not in ds["rel_err"].dims else \
        _cells(ds, "rel_err", dims, ("lead",)).max(axis=1)
    m = get_model(model)
    scale = np.zeros_like(sigma)
    for force, (var, lead) in m.force_flux.items():
        if force in ds and var in ds:
            scale += np.abs(_cells(ds, force, dims) * _cells(ds, var, dims, ("lead",))[:, leads.index(lead)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sigma != 0, r * scale / np.abs(sigma), np.inf)


def tur_variables(ds: xr.Dataset) -> xr.Dataset:
    """Per-cell TUR analysis variables of a dataset with counting statistics.

    ``tur_violation``: True where the dynamics is coherent (``classical_dynamics`` False) and some
    counted flux has ``tur (1 + tur_rel_err) < 2`` — the classical TUR is beaten beyond the bound
    (physics; the same in a classical cell is the invariant counter ``tur``, a bug).
    ``tur_min``: the smallest resolved TUR ratio over the counted fluxes (NaN where none is).

    >>> import qtmsweep
    >>> ds = qtmsweep.solve("chain", N=2, stat="qubit", approach="local", cumulants=2, omega=1.0,
    ...                     g=0.1441517268918418, T_L=1.4546703261493046, T_R=9.67653256486908,
    ...                     gamma_L=0.08644157774589083, gamma_R=0.008502199751735169)
    >>> v = tur_variables(ds)
    >>> bool(v.tur_violation), float(v.tur_min) < 2
    (True, True)
    """
    from .invariants import tur_violation_arrays

    dims = tuple(ds["sigma"].dims)
    shape = tuple(ds.sizes[d] for d in dims)
    masks = tur_violation_arrays(ds, dims, shape)
    coords = {d: ds.coords[d] for d in dims if d in ds.coords}
    with np.errstate(invalid="ignore"):
        tmin = ds["tur"].min("flux", skipna=True)
    return xr.Dataset({
        "tur_violation": xr.DataArray(masks["tur_classical_violations"].reshape(shape), dims=dims, coords=coords,
                                      attrs={"units": "1", "long_name": "coherent dynamics beats the classical TUR "
                                             "beyond the bound: tur (1 + tur_rel_err) < 2 for some counted flux"}),
        "tur_min": tmin.assign_attrs(units="1", long_name="smallest resolved TUR ratio S_ii sigma/J_i^2 over the "
                                     "counted fluxes (2 is the classical bound)"),
    })
