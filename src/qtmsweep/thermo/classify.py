"""Thermodynamic regime of a force pair, cell by cell (SPEC §3; 000 §VI; 001 §VII.4, §X).

A reduced model has two forces ``(F_1, F_2)`` with conjugate fluxes ``(J_1, J_2)``
and ``sigma = J_1 F_1 + J_2 F_2 >= 0``; ``F_1``/``J_1`` is the energy pair and
``F_2``/``J_2`` the particle pair:

=====================  =====================  ==========================
pair                   forces                 fluxes
=====================  =====================  ==========================
``cqd`` model I        ``F_E_r, F_N_b``       ``J_E[r], J_N[b]``
``cqd`` model II       ``F_E_b, F_N_b``       ``J_E[b], J_N[b]``
``sqd``                ``F_E_l, F_N_l``       ``J_E[l], J_N[l]``
=====================  =====================  ==========================

Resolving signs
---------------
Every label depends only on the products ``sign(J_k) sign(F_j)``, so reversing
the sign convention of a force together with its flux changes nothing: the third
quadrant reads as the first, the second as the fourth (001 §VII.4, "the overall
sign is merely a matter of convention").  Signs are resolved with tolerances, and
a sign that cannot be resolved is never guessed:

* **Force zero.**  ``|F| <= force_rtol * s_F``, with the force's own scale
  ``s_F = max(β_i, β_j)`` for ``F_E = β_i − β_j`` and ``s_F = max(|β_i μ_i|, |β_j μ_j|)``
  for ``F_N = β_i μ_i − β_j μ_j`` (the size of the terms it is the difference of).
  The kernels form forces from input differences, so equal inputs give an exact 0
  and unequal ones a force with a few ulp of relative error; ``force_rtol = 1e-12``
  only absorbs grids built by floating-point arithmetic (``linspace`` zeros).
* **Flux sign.**  ``J`` has a resolved sign when ``|J| > current_rtol · G_J`` and
  ``err_factor · rel_err[lead] < 1``: ``rel_err[lead]`` is the kernel's bound on the
  relative error of that lead's currents (SPEC §5; below 1 it guarantees the sign, ``inf``
  means it does not), and ``G_J`` is the
  cell's gross (one-way) traffic through the lead — ``Σ (k_in p_i + k_out p_j)``
  over the lead's transitions, weighted by 1 (particles), ``|ω|`` (energy) or
  ``|ω − μ|`` (heat) — the scale on which a net current is a small difference.
  Defaults ``err_factor = 2`` and ``current_rtol = 0``: the per-lead bound alone decides
  (issue 11: every derived sign uses the per-component bounds), so a current of 1e-15 of its
  traffic at a force of 1e-10 is classified wherever the kernel guarantees its sign, and an
  exact zero stays undetermined.  ``current_rtol > 0`` adds a floor of its own.  Data without a
  per-lead bound (no ``rel_err``, or an older store's per-cell one, which bounds errors relative
  to the cell's largest current only) keep the former floor ``current_rtol = 1e-9``
  (:data:`LEGACY_CURRENT_RTOL`).  Models without rates fall back to ``G_J = max_λ |J[λ]|``.

Regimes of one flux ``J_k`` (own force ``F_k``, other force ``F_o``)
---------------------------------------------------------------------
``equilibrium``  both forces zero.
``normal``       ``F_k ≠ 0``, ``F_o`` zero or of the same sign, ``J_k`` along ``F_k``.
``cross_effect`` ``F_k = 0 ≠ F_o`` and ``J_k`` along ``F_o`` (Seebeck/Peltier).
``pseudo_icc``   ``F_k = 0 ≠ F_o`` and ``J_k`` against ``F_o`` (unconventional
                 Seebeck/Peltier, 000 "pseudo-ICC").
``icc``          both forces non-zero with the same sign and ``J_k`` against both.
``driven``       forces of opposite sign, ``J_k`` against ``F_k`` (along ``F_o``): the
                 output flux of a conventional engine/refrigerator.
``driving``      forces of opposite sign, ``J_k`` along ``F_k`` (against ``F_o``).
``second_law_violation``  ``F_o = 0`` and ``J_k`` against ``F_k`` (σ = J_k F_k < 0).
``undetermined`` the sign needed is within tolerance (or the cell holds NaN).
``not_reduced``  ``cqd`` only: the third force of Eq. 33 is not zero in this cell.

Regime of a cell (precedence in this order)
-------------------------------------------
``not_reduced``; ``second_law_violation`` (a flux violation, or both fluxes
``icc`` — *both fluxes against both forces* — or both ``driven``); ``equilibrium``;
``icc`` (a flux ``icc``); ``engine`` (the particle flux ``driven``: the energy
flux drives particles against their force, 001 §VII.4); ``refrigerator`` (the
energy flux ``driven``); ``pseudo_icc``; ``cross_effect``; ``normal`` (every flux
``normal``/``driving``); otherwise ``undetermined``.

Labels are int8 variables with CF ``flag_values``/``flag_meanings`` attributes;
booleans ``icc_<flux>``, ``pseudo_icc_<flux>``, ``cross_effect_<flux>`` and
``undetermined`` (cell) are added beside them, with ``<flux>`` e.g. ``J_E_r``.

``forces_parallel`` (attrs) records whether the forces act on the same
reservoir (SPEC §2): model II and ``sqd`` yes, model I no.  The labels follow
SPEC §3's sign definitions for both; 001 §IX.1.3 would not call an inverse
current between non-parallel forces (model I) "ICC", 000 §VI.A does.

Examples
--------
>>> import qtmsweep
>>> ds = qtmsweep.solve("sqd", eps=1.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.0, gamma_l=1.0, gamma_r=1.0)
>>> c = classify(ds)
>>> regime_name(c.regime), regime_name(c.regime_J_N_l, flux=True)   # Seebeck: J_N along F_E
('cross_effect', 'cross_effect')
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..physics.reduced import SQD_PAIR, ReducedModel, get_reduced_model
from ..physics.registry import get_model

CELL_REGIMES: tuple[str, ...] = (
    "undetermined", "equilibrium", "normal", "cross_effect", "pseudo_icc", "icc", "engine", "refrigerator",
    "second_law_violation", "not_reduced",
)
FLUX_REGIMES: tuple[str, ...] = (
    "undetermined", "equilibrium", "normal", "cross_effect", "pseudo_icc", "icc", "driven", "driving",
    "second_law_violation", "not_reduced",
)
CELL = {name: i for i, name in enumerate(CELL_REGIMES)}
FLUX = {name: i for i, name in enumerate(FLUX_REGIMES)}

DEFAULT_FORCE_RTOL = 1e-12
DEFAULT_CURRENT_RTOL = 0.0
#: Floor on ``|J|/G_J`` where no per-lead bound exists (no ``rel_err`` or a per-cell one): the old default.
LEGACY_CURRENT_RTOL = 1e-9
DEFAULT_ERR_FACTOR = 2.0

#: How each force is made of reservoir quantities: (kind, i, j) means β_i − β_j ("E")
#: or β_i μ_i − β_j μ_j ("N") (SPEC §2).
FORCE_TERMS: dict[str, dict[str, tuple[str, str, str]]] = {
    "cqd": {"F_E_r": ("E", "a", "r"), "F_E_b": ("E", "a", "b"), "F_N_b": ("N", "b", "a")},
    "sqd": {"F_E_l": ("E", "r", "l"), "F_N_l": ("N", "l", "r")},
}

_DEFINITIONS = (
    "SPEC §3 regimes of a force pair (F_1, F_2) = (energy, particle) with fluxes (J_1, J_2); labels depend on "
    "sign(J_k)sign(F_j) only (sign-normalised). Flux: normal = along own force (other zero or same sign); "
    "cross_effect / pseudo_icc = own force zero, flux along / against the other; icc = forces non-zero, same "
    "sign, flux against both; driven / driving = forces of opposite sign, flux against / along its own. "
    "Cell: icc if a flux is icc; engine if the particle flux is driven; refrigerator if the energy flux is "
    "driven; else pseudo_icc, cross_effect, normal; second_law_violation if both fluxes oppose both forces."
)


def regime_name(code: Any, *, flux: bool = False) -> str:
    """Name of an integer regime code (a scalar, 0-d array or 0-d DataArray).

    >>> regime_name(5), regime_name(6, flux=True)
    ('icc', 'driven')
    """
    return (FLUX_REGIMES if flux else CELL_REGIMES)[int(np.asarray(getattr(code, "values", code)))]


def flag_attrs(names: tuple[str, ...], long_name: str) -> dict[str, Any]:
    """CF flag attributes for an int8 label variable."""
    return {"flag_values": list(range(len(names))), "flag_meanings": " ".join(names), "units": "1",
            "long_name": long_name}


def flux_name(var: str, lead: str) -> str:
    """``("J_E", "r") -> "J_E_r"``."""
    return f"{var}_{lead}"


# -- dataset helpers (shared with performance) ---------------------------------
def cell_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """Dimensions of the grid cells (those of ``sigma``; ``lead``/``state`` excluded)."""
    if "sigma" in ds:
        return tuple(ds["sigma"].dims)
    return tuple(d for d in ds["J_E"].dims if d != "lead")


def parameter(ds: xr.Dataset, name: str) -> xr.DataArray:
    """A model parameter as a DataArray: a data variable, a coordinate, or a scalar attr."""
    if name in ds.variables:
        return ds[name].astype(float) if ds[name].dtype.kind in "iuf" else ds[name]
    if name in ds.attrs:
        return xr.DataArray(float(ds.attrs[name]))
    raise KeyError(f"parameter {name!r} is neither a variable, a coordinate nor an attr of the dataset")


def lead_reservoir(model_name: str, lead: str) -> tuple[str, str | None]:
    """(temperature parameter, chemical-potential parameter or None) of ``lead``."""
    try:
        m = get_model(model_name)
        res = getattr(m, "lead_reservoir", None)
        if res is not None and lead in res:
            return res[lead]
    except ValueError:
        pass
    return f"T_{lead}", f"mu_{lead}"


def current_scales(ds: xr.Dataset) -> xr.Dataset:
    """Gross (one-way) traffic ``G_N, G_E, G_Q`` per cell and lead (see module docstring).

    For rate models: ``Σ_t (k_in p_i + k_out p_j) · w`` over the lead's transitions
    ``i → j`` with weight ``w = |particles|``, ``|ω|`` or ``|ω − particles·μ_λ|``.  Other
    models: the largest ``|J|`` of the same kind over the leads.
    """
    dims = cell_dims(ds)
    template = ds["J_E"].transpose(*dims, "lead")
    leads = [str(x) for x in ds["lead"].values]
    model = None
    try:
        model = get_model(ds.attrs.get("model", ""))
    except ValueError:
        pass
    if model is not None and getattr(model, "transitions", None) and "p" in ds:
        try:
            return _rate_model_scales(ds, getattr(model, "channel_model", None) or model, dims, template, leads,
                                      constants=getattr(model, "constants", None))
        except KeyError:
            pass  # a parameter is missing: fall back below
    out = {}
    for kind in ("E", "N", "Q"):
        var = f"J_{kind}"
        if var in ds:
            m = np.abs(ds[var]).max("lead")
            out[f"G_{kind}"] = m.broadcast_like(template).transpose(*dims, "lead")
    return xr.Dataset(out)


def _rate_model_scales(ds, model, dims, template, leads, constants=None) -> xr.Dataset:
    """``model`` may be a declared dots model's channel view (pseudo-leads ``lead:orbital``, summed
    into ``lead``); ``constants`` its constant values (spec keys)."""
    shape = template.shape[:-1]
    n = int(np.prod(shape, dtype=np.int64))
    ref = ds["sigma"] if "sigma" in ds else template.isel(lead=0, drop=True)

    def flat(da: xr.DataArray) -> np.ndarray:
        return np.ascontiguousarray(da.broadcast_like(ref).transpose(*dims).values, dtype=float).reshape(n)

    params: dict[str, Any] = {}
    for p in model.parameters:
        if p.structural:
            params[p.name] = ds.attrs.get(p.name, p.default)
        else:
            params[p.name] = flat(parameter(ds, p.name))
    if constants:
        params = {**constants, **params}
    p_states = np.ascontiguousarray(ds["p"].transpose(*dims, "state").values, dtype=float).reshape(n, -1)
    states = list(model.states)
    energies = np.broadcast_to(model.state_energies(params), (n, len(states)))
    G = {k: np.zeros((n, len(leads))) for k in ("N", "E", "Q")}
    for t in model.transitions:
        i, j, L = states.index(t.source), states.index(t.target), leads.index(t.lead.split(":")[0])
        omega = energies[:, j] - energies[:, i]
        k_in, k_out, _ = model.lead_rates(t.lead, omega, params)
        traffic = np.broadcast_to(k_in, (n,)) * p_states[:, i] + np.broadcast_to(k_out, (n,)) * p_states[:, j]
        mu_name = model.lead_reservoir[t.lead][1]
        mu = params[mu_name] if (mu_name and t.particles) else 0.0
        G["N"][:, L] += abs(t.particles) * traffic
        G["E"][:, L] += np.abs(omega) * traffic
        G["Q"][:, L] += np.abs(omega - t.particles * mu) * traffic
    coords = {k: v for k, v in template.coords.items()}
    return xr.Dataset({f"G_{k}": xr.DataArray(v.reshape(shape + (len(leads),)), dims=dims + ("lead",),
                                              coords=coords) for k, v in G.items()})


def resolved_sign(value: xr.DataArray, scale: xr.DataArray, rel_err: xr.DataArray | None, *,
                  current_rtol: float = DEFAULT_CURRENT_RTOL, err_factor: float = DEFAULT_ERR_FACTOR) -> xr.DataArray:
    """``+1``/``-1`` where ``|value| > current_rtol·scale`` and ``err_factor·rel_err < 1``, else 0.

    ``rel_err`` is the bound of the lead ``value`` belongs to (:func:`rel_err_of`): below 1 it
    guarantees the sign, ``err_factor`` (default 2) keeps a margin; ``inf`` or NaN leave the sign
    undetermined, and so does an exact 0 (``|value| > 0`` is required whatever ``current_rtol``).
    Without a per-lead bound (``rel_err`` None or per-cell) the floor is at least
    :data:`LEGACY_CURRENT_RTOL`.  An old per-cell ``rel_err`` (no ``lead`` dimension; ``inf`` meant "some flux of
    the cell is exactly 0" and bounded nothing) is read as before.

    >>> import xarray as xr
    >>> v = xr.DataArray([1e-3, -1e-12, -2.0, 1.0, 1.0, 0.0])
    >>> r = xr.DataArray([0.0, 0.0, 0.0, 0.6, float("inf"), 0.0])
    >>> resolved_sign(v, xr.DataArray([1.0] * 6), r.expand_dims(lead=["x"]).isel(lead=0)).values.tolist()
    [1, -1, -1, 0, 0, 0]
    >>> resolved_sign(v, xr.DataArray([1.0] * 6), None).values.tolist()  # no bound: the 1e-9 floor
    [1, 0, -1, 1, 1, 0]
    """
    mag = np.abs(value)
    if rel_err is None or rel_err.attrs.get("per_cell_legacy"):
        current_rtol = max(current_rtol, LEGACY_CURRENT_RTOL)  # no bound of this lead's own
    ok = mag > current_rtol * scale
    if rel_err is not None:
        if rel_err.attrs.get("per_cell_legacy"):  # inf: a flux of the cell is exactly 0, says nothing about others
            ok = ok & ~(np.isfinite(rel_err) & (err_factor * rel_err >= 1.0))
        else:
            ok = ok & (err_factor * rel_err < 1.0)
    ok = ok & np.isfinite(value)
    return xr.where(ok, np.sign(value), 0).astype(np.int8)


def rel_err_of(ds: xr.Dataset, lead: str) -> xr.DataArray | None:
    """The precision bound of ``lead``'s currents: ``rel_err.sel(lead=lead)`` (SPEC §5).

    Datasets from before the per-lead bound carry one ``rel_err`` per cell; it is returned
    marked ``per_cell_legacy`` so that :func:`resolved_sign` reads its ``inf`` as before.
    """
    if "rel_err" not in ds:
        return None
    r = ds["rel_err"]
    if "lead" in r.dims:
        return r.sel(lead=lead, drop=True)
    return r.assign_attrs(per_cell_legacy=True)


def force_sign(ds: xr.Dataset, name: str, *, force_rtol: float = DEFAULT_FORCE_RTOL) -> xr.DataArray:
    """Sign of force ``name`` with 0 for "zero within ``force_rtol`` of its scale" (module docstring)."""
    F = ds[name].astype(float)
    scale = _force_scale(ds, name)
    if scale is None:
        scale = np.abs(F).max()
    zero = np.abs(F) <= force_rtol * scale
    return xr.where(zero | ~np.isfinite(F), 0, np.sign(F)).astype(np.int8)


def _force_scale(ds: xr.Dataset, name: str) -> xr.DataArray | None:
    terms = FORCE_TERMS.get(str(ds.attrs.get("model")), {}).get(name)
    if terms is None:
        return None
    kind, i, j = terms
    try:
        beta_i = 1.0 / parameter(ds, lead_reservoir(ds.attrs["model"], i)[0])
        beta_j = 1.0 / parameter(ds, lead_reservoir(ds.attrs["model"], j)[0])
        if kind == "E":
            return np.maximum(beta_i, beta_j)
        mu_i = parameter(ds, lead_reservoir(ds.attrs["model"], i)[1])
        mu_j = parameter(ds, lead_reservoir(ds.attrs["model"], j)[1])
        return np.maximum(np.abs(beta_i * mu_i), np.abs(beta_j * mu_j))
    except KeyError:
        return None


# -- the classification --------------------------------------------------------
def resolve_pair(ds: xr.Dataset, reduced_model: str | None = None) -> ReducedModel:
    """The force pair to classify: ``SQD_PAIR`` for ``sqd``, model I/II for ``cqd``.

    For ``cqd`` without ``reduced_model`` the dataset's ``attrs["reduced_model"]`` is used,
    else the model whose third force vanishes in every cell (I if ``F_E_b ≡ 0``, II if
    ``F_E_r ≡ 0``).  Raises ``ValueError`` when that is ambiguous or impossible.
    """
    model = str(ds.attrs.get("model"))
    if model == "sqd":
        if reduced_model not in (None, "sqd"):
            raise ValueError(f"reduced_model={reduced_model!r} is not allowed for sqd; allowed: None, 'sqd'")
        return SQD_PAIR
    if model != "cqd":
        raise ValueError(f"model={model!r} has no force pair to classify; allowed: 'cqd', 'sqd'")
    if reduced_model is None:
        reduced_model = ds.attrs.get("reduced_model")
    if reduced_model is None:
        zero = {f: bool((force_sign(ds, f) == 0).all()) for f in ("F_E_r", "F_E_b") if f in ds.variables}
        candidates = [rm for rm, f in (("I", "F_E_b"), ("II", "F_E_r")) if zero.get(f)]
        if len(candidates) != 1:
            raise ValueError("cannot tell the reduced model of this cqd dataset ("
                             + ("both F_E_r and F_E_b vanish" if candidates else "neither F_E_r nor F_E_b vanishes")
                             + "); allowed: pass reduced_model='I' or 'II'")
        reduced_model = candidates[0]
    return get_reduced_model(reduced_model)


def classify(ds: xr.Dataset, reduced_model: str | None = None, *, force_rtol: float = DEFAULT_FORCE_RTOL,
             current_rtol: float = DEFAULT_CURRENT_RTOL, err_factor: float = DEFAULT_ERR_FACTOR,
             scales: xr.Dataset | None = None) -> xr.Dataset:
    """Regime labels of the force pair of ``ds`` in every cell (module docstring has the definitions).

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`qtmsweep.solve` (or a sweep store) for ``cqd`` or ``sqd``.
    reduced_model : {"I", "II", "sqd", None}
        Which pair; ``None`` reads ``ds.attrs["reduced_model"]`` or detects it (see
        :func:`resolve_pair`).  Ignored (may be ``"sqd"``) for ``sqd``.
    force_rtol, current_rtol, err_factor : float
        Tolerances of the zero-force and flux-sign tests (module docstring).
    scales : xarray.Dataset, optional
        Precomputed :func:`current_scales` (to share them with :func:`~qtmsweep.thermo.performance`).

    Returns
    -------
    xarray.Dataset
        ``regime`` (cell, int8), ``regime_<flux>`` (int8) and booleans ``icc_<flux>``,
        ``pseudo_icc_<flux>``, ``cross_effect_<flux>``, ``undetermined``, plus ``quadrant``
        (1–4 by the signs of ``(F_1, F_2)``, 0 on an axis); attrs ``reduced_model``,
        ``forces_parallel``, ``force_pair``, ``flux_pair`` and the tolerances.

    Examples
    --------
    >>> import numpy as np, qtmsweep
    >>> from qtmsweep.physics.reduced import force_space_parameters
    >>> g = qtmsweep.grid(F_E_r=[0.0, 0.05, 1.5], F_N_b=[0.0, 4.0])
    >>> p = force_space_parameters("I", F_E_r=g["F_E_r"], F_N_b=g["F_N_b"], beta_r=1.0, mu_b=1.0)
    >>> ds = qtmsweep.solve("cqd", **p, eps_L=1.0, eps_R=2.5, kappa=-1.5, mu_r=0.0,
    ...                     gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)
    >>> c = classify(ds, "I")
    >>> [regime_name(c.regime.sel(F_E_r=f, F_N_b=4.0)) for f in (0.0, 0.05, 1.5)]
    ['pseudo_icc', 'icc', 'normal']
    >>> bool(c.icc_J_E_r.sel(F_E_r=0.05, F_N_b=4.0)), bool(c.icc_J_N_b.any())
    (True, False)
    """
    pair = resolve_pair(ds, reduced_model)
    model = str(ds.attrs.get("model"))
    if scales is None:
        scales = current_scales(ds)
    names = [flux_name(var, lead) for var, lead in pair.fluxes]
    fsign = [force_sign(ds, f, force_rtol=force_rtol) for f in pair.forces]
    jsign = []
    for var, lead in pair.fluxes:
        J = ds[var].sel(lead=lead, drop=True)
        G = scales[f"G_{var[-1]}"].sel(lead=lead, drop=True)
        jsign.append(resolved_sign(J, G, rel_err_of(ds, lead), current_rtol=current_rtol, err_factor=err_factor))

    not_reduced = xr.zeros_like(fsign[0], dtype=bool)
    if model == "cqd":
        for f in FORCE_TERMS["cqd"]:
            if f not in pair.forces and f in ds.variables:
                not_reduced = not_reduced | (force_sign(ds, f, force_rtol=force_rtol) != 0)

    flux_codes = []
    for k in (0, 1):
        o = 1 - k
        flux_codes.append(_flux_regime(fsign[k], fsign[o], jsign[k], not_reduced))
    cell = _cell_regime(flux_codes, fsign, [var for var, _ in pair.fluxes], not_reduced)

    s1, s2 = fsign
    quadrant = xr.where((s1 > 0) & (s2 > 0), 1, xr.where((s1 < 0) & (s2 > 0), 2,
                        xr.where((s1 < 0) & (s2 < 0), 3, xr.where((s1 > 0) & (s2 < 0), 4, 0))))
    quadrant = quadrant.astype(np.int8).broadcast_like(cell).transpose(*cell.dims)
    tolerance = {"force_rtol": force_rtol, "current_rtol": current_rtol, "err_factor": err_factor}
    common = {"reduced_model": pair.name, "forces_parallel": int(pair.forces_parallel)}
    out = {
        "regime": cell.assign_attrs(flag_attrs(CELL_REGIMES, "thermodynamic regime of the force pair "
                                               f"({', '.join(pair.forces)}) (SPEC §3)"), definitions=_DEFINITIONS,
                                    **common, **tolerance),
        "undetermined": (cell == CELL["undetermined"]).assign_attrs(
            units="1", long_name="a sign needed for the regime is within tolerance (or NaN)"),
        "quadrant": quadrant.assign_attrs(units="1", long_name=f"quadrant of ({pair.forces[0]}, {pair.forces[1]}): "
                                          "1 (+,+), 2 (-,+), 3 (-,-), 4 (+,-); 0 = a force is zero"),
    }
    for name, force, code in zip(names, pair.forces, flux_codes):
        out[f"regime_{name}"] = code.assign_attrs(flag_attrs(FLUX_REGIMES, f"regime of {name} (conjugate to "
                                                             f"{force}) (SPEC §3)"), **common, **tolerance)
        for label, what in (("icc", "genuine ICC: against both non-zero forces of the same sign"),
                            ("pseudo_icc", "pseudo-ICC: own force zero, against the other force"),
                            ("cross_effect", "cross effect: own force zero, along the other force")):
            out[f"{label}_{name}"] = (code == FLUX[label]).assign_attrs(units="1", long_name=f"{name}: {what}")
    result = xr.Dataset(out)
    result.attrs.update({"reduced_model": pair.name, "forces_parallel": bool(pair.forces_parallel),
                         "force_pair": list(pair.forces), "flux_pair": names, **tolerance})
    return result


def _flux_regime(sk: xr.DataArray, so: xr.DataArray, j: xr.DataArray, not_reduced: xr.DataArray) -> xr.DataArray:
    own = j * sk  # +1 along own force, -1 against, 0 unresolved/own force zero
    other = j * so
    conds = [
        not_reduced,
        (sk == 0) & (so == 0),
        j == 0,
        (sk != 0) & (so == 0) & (own > 0),
        (sk != 0) & (so == 0) & (own < 0),
        (sk == 0) & (other > 0),
        (sk == 0) & (other < 0),
        (sk == so) & (own > 0),
        (sk == so) & (own < 0),
        (sk == -so) & (own < 0),
        (sk == -so) & (own > 0),
    ]
    codes = ["not_reduced", "equilibrium", "undetermined", "normal", "second_law_violation", "cross_effect",
             "pseudo_icc", "normal", "icc", "driven", "driving"]
    return _select(conds, [FLUX[c] for c in codes], FLUX["undetermined"], like=j)


def _cell_regime(flux_codes, fsign, variables, not_reduced) -> xr.DataArray:
    a, b = flux_codes
    energy_driven = [c == FLUX["driven"] for c, v in zip(flux_codes, variables) if v == "J_E"]
    particle_driven = [c == FLUX["driven"] for c, v in zip(flux_codes, variables) if v == "J_N"]
    either = (lambda name: (a == FLUX[name]) | (b == FLUX[name]))
    conds = [
        not_reduced,
        either("second_law_violation") | ((a == FLUX["icc"]) & (b == FLUX["icc"]))
        | ((a == FLUX["driven"]) & (b == FLUX["driven"])),
        (fsign[0] == 0) & (fsign[1] == 0),
        either("icc"),
        particle_driven[0] if particle_driven else xr.zeros_like(a, dtype=bool),
        energy_driven[0] if energy_driven else xr.zeros_like(a, dtype=bool),
        either("pseudo_icc"),
        either("cross_effect"),
        a.isin([FLUX["normal"], FLUX["driving"]]) & b.isin([FLUX["normal"], FLUX["driving"]]),
    ]
    codes = ["not_reduced", "second_law_violation", "equilibrium", "icc", "engine", "refrigerator", "pseudo_icc",
             "cross_effect", "normal"]
    return _select(conds, [CELL[c] for c in codes], CELL["undetermined"], like=a)


def _select(conds, values, default, like: xr.DataArray) -> xr.DataArray:
    """``np.select`` on aligned DataArrays (first true condition wins)."""
    conds = xr.broadcast(like, *conds)[1:]
    data = np.select([np.asarray(c.transpose(*conds[0].dims).values, dtype=bool) for c in conds], values, default)
    return xr.DataArray(data.astype(np.int8), dims=conds[0].dims, coords=conds[0].coords)
