"""Operating mode, power, efficiency and COP of every cell, each beside its Carnot bound (SPEC §1, §3).

Definitions (sign convention of SPEC §1: a current is positive *from* the reservoir
*into* the system)
-----------------------------------------------------------------------------------
``P``
    Power output ``P = −Σ_λ μ_λ J_N[λ]``: chemical work done on the reservoirs per
    unit time (SPEC §1).  By energy conservation ``Σ_λ J_Q[λ] = P``.  Zero for baths
    that exchange no particles.
Heat groups
    Reservoirs at the same temperature (relative difference ≤ ``temperature_rtol``)
    form one group, whose heat ``Q_g = Σ_{λ∈g} J_Q[λ]`` is what enters the second law
    ``σ = −Σ_g Q_g/T_g ≥ 0`` (e.g. leads ``a``, ``b`` of model I).  ``Q_g > 0``: the group
    is a heat *source*; ``< 0``: a *sink*.  ``heat_in = Σ_{sources} Q_g``.
``mode`` (int8, CF flags)
    ``engine``: ``P > 0``.  With work consumed (``P < 0``): ``refrigerator`` if every
    source is colder than every sink (heat moved uphill), ``accelerator`` if every
    source is hotter than every sink, ``heater`` if there is no source, ``mixed``
    otherwise.  Without a work channel (``P ≡ 0``): ``conduction`` (every source hotter
    than every sink), ``absorption_refrigerator`` (a source colder than every sink,
    driven by hotter sources), ``heat_transformer`` (a sink hotter than every source),
    else ``mixed``.  ``equilibrium`` when every force is zero; ``undetermined`` when the
    sign of ``P`` or of a group heat is within tolerance (same rule as
    :mod:`~qtmsweep.thermo.classify`: ``max(err_factor·rel_err·A + L ε A, current_rtol·G)`` with
    ``A`` the sum of the magnitudes of the terms, ``L`` their number and ``G`` the gross traffic;
    ``current_rtol`` is 0 by default, at least 1e-9 without per-lead bounds).
``efficiency`` / ``efficiency_carnot`` (engine)
    ``η = P / heat_in`` and ``η_C = 1 − T_c/T_h`` with ``T_h`` the hottest source and
    ``T_c`` the coldest sink — the bound ``σ ≥ 0`` implies for these heat flows.
``cop`` / ``cop_carnot``
    refrigerator: ``COP = heat_in/|P|`` ≤ ``T_c/(T_h − T_c)`` (``T_c`` warmest source,
    ``T_h`` coldest sink).  Absorption refrigerator: ``COP = Q_cold/Q_driving`` (sources
    colder / hotter than the coldest sink) ≤ ``(1/T_m − 1/T_h)/(1/T_c − 1/T_m)`` with
    ``T_c`` the warmest cooled source, ``T_h`` the coldest driving source and ``T_m`` the
    coldest sink (three-temperature Carnot).  ``cooling_power`` is the heat drawn from
    the cooled sources.  (``qubit_fridge``/``kerr_fridge``: SPEC §2's ``cooling_power =
    J_Q[C]`` in every cell and ``cop = J_Q[C]/J_Q[hottest bath]`` where both are > 0.)
``eta_2`` (second-law efficiency, SPEC §3)
    ``η₂ = −Σ_{J_k F_k < 0} J_k F_k / Σ_{J_k F_k > 0} J_k F_k`` over the model's
    force–flux pairs (for a reduced pair: ``−J_out F_out/(J_in F_in)``), defined where
    some flux runs against its force; ``0 ≤ η₂ ≤ 1`` is ``σ ≥ 0``.
``zeta_000``, ``eta_000`` (``cqd``; 000 Eqs. 59 and 67)
    ``ζ = |J_Q[r]/(Δμ J_N[b])|`` where the pair's energy flux is in genuine ICC and
    ``η = |Δμ J_N[b]/J_Q[h]|`` where ``J_N[b]`` is, with ``|Δμ J_N[b]| = |P|`` and ``h``
    the reservoir of the pair not at ``T_a`` (``r`` in model I, ``b`` in model II).  Beside
    them ``zeta_000_carnot = T_h/(T_h − T_c)`` (heat-pump bound) and ``eta_000_carnot =
    1 − T_c/T_h`` over the pair's two temperatures.  ``ζ`` as written is the heat
    delivered to lead r per unit work (a heat-pump COP).  000 prints Eq. 67 with
    ``J_Q[r]`` (and SPEC §3 copies it); in model II lead r sits at the cold ``T' = T_a``
    and the engine's heat input is ``J_Q[b]`` — the printed form exceeds Carnot by up
    to ~900x, so we follow the physics and keep the printed form as
    ``eta_000_as_printed`` (``docs/reproduce.md``).

Undefined quantities are NaN.

Examples
--------
>>> import qtmsweep
>>> ds = qtmsweep.solve("sqd", eps=2.0, T_l=2.0, T_r=1.0, mu_l=0.0, mu_r=0.5, gamma_l=1.0, gamma_r=1.0)
>>> perf = performance(ds)
>>> mode_name(perf["mode"]), bool(perf["efficiency"] <= perf["efficiency_carnot"])
('engine', True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..physics.registry import get_model
from .classify import (
    DEFAULT_CURRENT_RTOL,
    DEFAULT_ERR_FACTOR,
    DEFAULT_FORCE_RTOL,
    LEGACY_CURRENT_RTOL,
    cell_dims,
    classify,
    current_scales,
    flag_attrs,
    flux_name,
    force_sign,
    lead_reservoir,
    parameter,
    rel_err_of,
    resolve_pair,
    resolved_sign,
)

EPS = float(np.finfo(float).eps)

MODES: tuple[str, ...] = (
    "undetermined", "equilibrium", "engine", "refrigerator", "accelerator", "heater", "conduction",
    "absorption_refrigerator", "heat_transformer", "mixed",
)
MODE = {name: i for i, name in enumerate(MODES)}
DEFAULT_TEMPERATURE_RTOL = 1e-12
FRIDGE_MODELS = ("qubit_fridge", "kerr_fridge")


def mode_name(code: Any) -> str:
    """Name of an integer operating-mode code.

    >>> mode_name(2)
    'engine'
    """
    return MODES[int(np.asarray(getattr(code, "values", code)))]


def carnot_efficiency(T_hot, T_cold):
    """``1 − T_cold/T_hot``.

    >>> carnot_efficiency(2.0, 1.0)
    0.5
    """
    eta = 1.0 - np.asarray(T_cold, dtype=float) / np.asarray(T_hot, dtype=float)
    return eta if eta.ndim else float(eta)


def performance(ds: xr.Dataset, reduced_model: str | None = None, *, classification: xr.Dataset | None = None,
                scales: xr.Dataset | None = None, force_rtol: float = DEFAULT_FORCE_RTOL,
                current_rtol: float = DEFAULT_CURRENT_RTOL, err_factor: float = DEFAULT_ERR_FACTOR,
                temperature_rtol: float = DEFAULT_TEMPERATURE_RTOL) -> xr.Dataset:
    """Operating mode and performance variables of every cell (module docstring).

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`qtmsweep.solve` or a sweep store (any model with ``J_Q(lead)``
        and reservoir temperatures ``T_<lead>``).
    reduced_model : {"I", "II", None}
        For ``cqd``: the force pair whose ICC cells define ``zeta_000``/``eta_000``; ``None``
        reads ``attrs["reduced_model"]`` or detects it; the paper quantities are skipped
        when there is no reduced model.
    classification : xarray.Dataset, optional
        The result of :func:`~qtmsweep.thermo.classify.classify` (computed when needed).
    scales : xarray.Dataset, optional
        Precomputed :func:`~qtmsweep.thermo.classify.current_scales`.
    force_rtol, current_rtol, err_factor : float
        Tolerances as in :mod:`~qtmsweep.thermo.classify`.
    temperature_rtol : float
        Relative difference below which two reservoirs are one heat group.

    Returns
    -------
    xarray.Dataset
        ``P``, ``heat_in``, ``mode``, ``efficiency``, ``efficiency_carnot``, ``cop``, ``cop_carnot``,
        ``cooling_power``, ``eta_2`` and, for ``cqd`` with a reduced model, ``zeta_000``,
        ``zeta_000_carnot``, ``eta_000``, ``eta_000_carnot``.

    Examples
    --------
    >>> import qtmsweep
    >>> ds = qtmsweep.solve("cqd", eps_L=1.0, eps_R=2.5, kappa=-1.5, T_a=1.0, T_b=1.0, T_r=2.0,
    ...                     mu_a=0.0, mu_b=0.0, mu_r=0.0, gamma_a=1.0, gamma_b=1.0, gamma_r=1.0)
    >>> mode_name(performance(ds)["mode"])   # no bias but a hot lead r: heat just flows to a and b
    'conduction'
    """
    model = str(ds.attrs.get("model"))
    dims = cell_dims(ds)
    leads = [str(x) for x in ds["lead"].values]
    ref = ds["sigma"] if "sigma" in ds else ds["J_E"].isel(lead=0, drop=True)
    shape = tuple(ref.sizes[d] for d in dims)
    n = int(np.prod(shape, dtype=np.int64))
    L = len(leads)
    if scales is None:
        scales = current_scales(ds)

    def flat(da: xr.DataArray) -> np.ndarray:
        return np.array(da.broadcast_like(ref).transpose(*dims).values, dtype=float).reshape(n)

    def flat_leads(da: xr.DataArray) -> np.ndarray:
        return np.array(da.transpose(*dims, "lead").values, dtype=float).reshape(n, L)

    reservoirs = [lead_reservoir(model, lead) for lead in leads]
    T = np.stack([flat(parameter(ds, t)) for t, _ in reservoirs], axis=1)
    J_Q = flat_leads(ds["J_Q"])
    J_E = flat_leads(ds["J_E"])
    has_N = "J_N" in ds
    J_N = flat_leads(ds["J_N"]) if has_N else np.zeros((n, L))
    mu = np.zeros((n, L))
    if has_N:
        for k, (_, m) in enumerate(reservoirs):
            if m is not None and (m in ds.variables or m in ds.attrs):
                mu[:, k] = flat(parameter(ds, m))
    rel = lead_rel_err(ds, dims, n, L)
    if "rel_err" not in ds or "lead" not in ds["rel_err"].dims:  # no per-lead bound: the former floor
        current_rtol = max(current_rtol, LEGACY_CURRENT_RTOL)
    G_Q = flat_leads(scales["G_Q"])
    G_N = flat_leads(scales["G_N"]) if "G_N" in scales else np.zeros((n, L))
    bad_lead = err_factor * rel >= 1.0  # that lead's currents carry no guaranteed sign
    rel = np.where(bad_lead, 0.0, rel)

    # power and its sign
    P = -(mu * J_N).sum(axis=1)
    # bounds of the terms, and the rounding of their sum (L terms: L ulp of their magnitudes)
    tol_P = np.maximum(err_factor * (rel * np.abs(mu * J_N)).sum(axis=1) + L * EPS * np.abs(mu * J_N).sum(axis=1),
                       current_rtol * (np.abs(mu) * G_N).sum(axis=1))
    no_work = P == 0.0
    bad_P = (bad_lead & (mu * J_N != 0)).any(axis=1)
    sP = np.where((np.abs(P) > tol_P) & ~bad_P, np.sign(P), 0)

    # heat groups
    same = np.abs(T[:, :, None] - T[:, None, :]) <= temperature_rtol * np.maximum(T[:, :, None], T[:, None, :])
    Q_grp = np.einsum("nij,nj->ni", same, J_Q)
    tol_lead = np.maximum(err_factor * rel * (np.abs(J_E) + np.abs(mu * J_N)) + L * EPS * np.abs(J_Q), current_rtol * G_Q)
    tol_grp = np.einsum("nij,nj->ni", same, tol_lead)
    bad_grp = np.einsum("nij,nj->ni", same, (bad_lead & (J_Q != 0)).astype(float)) > 0
    leader = np.ones((n, L), dtype=bool)
    for i in range(L):
        for j in range(i):
            leader[:, i] &= ~same[:, i, j]
    resolved = (np.abs(Q_grp) > tol_grp) & ~bad_grp
    source = leader & resolved & (Q_grp > 0)
    sink = leader & resolved & (Q_grp < 0)
    unresolved_heat = (leader & ~resolved & (Q_grp != 0)).any(axis=1)
    heat_in = np.where(source, Q_grp, 0.0).sum(axis=1)

    inf = np.inf
    T_src_max = np.where(source, T, -inf).max(axis=1)
    T_src_min = np.where(source, T, inf).min(axis=1)
    T_sink_max = np.where(sink, T, -inf).max(axis=1)
    T_sink_min = np.where(sink, T, inf).min(axis=1)
    any_src, any_sink = source.any(axis=1), sink.any(axis=1)

    forces = [f for f in getattr(_model_or_none(model), "force_flux", {}) if f in ds.variables]
    if forces:
        equilibrium = np.ones(n, dtype=bool)
        for f in forces:
            equilibrium &= flat(force_sign(ds, f, force_rtol=force_rtol)) == 0
    else:
        equilibrium = np.zeros(n, dtype=bool)
    nan_cell = ~np.isfinite(J_Q).all(axis=1) | ~np.isfinite(P)

    work_in = sP < 0
    heatonly = no_work
    conds = [
        nan_cell,
        equilibrium,
        unresolved_heat | (~no_work & (sP == 0)),
        sP > 0,
        work_in & ~any_src,
        work_in & (T_src_max < T_sink_min),
        work_in & (T_src_min > T_sink_max),
        work_in,
        heatonly & ~any_src & ~any_sink,
        heatonly & (T_src_min > T_sink_max),
        heatonly & (T_src_min < T_sink_min),
        heatonly & (T_sink_max > T_src_max),
        heatonly,
    ]
    codes = ["undetermined", "equilibrium", "undetermined", "engine", "heater", "refrigerator", "accelerator",
             "mixed", "undetermined", "conduction", "absorption_refrigerator", "heat_transformer", "mixed"]
    mode = np.select(conds, [MODE[c] for c in codes], MODE["undetermined"]).astype(np.int8)

    nan = np.full(n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        engine = mode == MODE["engine"]
        efficiency = np.where(engine, P / heat_in, nan)
        efficiency_carnot = np.where(engine, 1.0 - T_sink_min / T_src_max, nan)
        fridge = mode == MODE["refrigerator"]
        cop = np.where(fridge, heat_in / np.abs(P), nan)
        cop_carnot = np.where(fridge, T_src_max / (T_sink_min - T_src_max), nan)
        cooling_power = np.where(fridge, heat_in, nan)
        absorb = mode == MODE["absorption_refrigerator"]
        cooled = source & (T < T_sink_min[:, None])
        driving = source & (T > T_sink_min[:, None])
        Q_cold = np.where(cooled, Q_grp, 0.0).sum(axis=1)
        Q_drive = np.where(driving, Q_grp, 0.0).sum(axis=1)
        T_c = np.where(cooled, T, -inf).max(axis=1)
        T_h = np.where(driving, T, inf).min(axis=1)
        cop = np.where(absorb, Q_cold / Q_drive, cop)
        cop_carnot = np.where(absorb, (1.0 / T_sink_min - 1.0 / T_h) / (1.0 / T_c - 1.0 / T_sink_min), cop_carnot)
        cooling_power = np.where(absorb, Q_cold, cooling_power)

    def da(values: np.ndarray, units: str, long_name: str, **attrs: Any) -> xr.DataArray:
        return xr.DataArray(values.reshape(shape), dims=dims, coords={d: ref.coords[d] for d in dims if d in ref.coords},
                            attrs={"units": units, "long_name": long_name, **attrs})

    out: dict[str, xr.DataArray] = {
        "P": da(P, "energy/time", "power output P = -sum_lambda mu_lambda J_N[lambda] (SPEC §1)"),
        "heat_in": da(heat_in, "energy/time", "heat drawn from the reservoirs, summed over heat sources "
                      "(reservoirs at one temperature form one group)"),
        "mode": xr.DataArray(mode.reshape(shape), dims=dims, coords={d: ref.coords[d] for d in dims if d in ref.coords},
                             attrs=flag_attrs(MODES, "operating mode from the sign of P and which temperature groups "
                                              "give or receive heat (qtmsweep.thermo.performance)")),
        "efficiency": da(efficiency, "1", "engine efficiency eta = P/Q_hot, Q_hot = heat drawn from the sources "
                         "(SPEC §3); NaN unless mode == engine"),
        "efficiency_carnot": da(efficiency_carnot, "1", "Carnot bound 1 - T_c/T_h of eta (T_h hottest source, "
                                "T_c coldest sink); NaN unless mode == engine"),
        "cop": da(cop, "1", "coefficient of performance: Q_cold/|P| (refrigerator) or Q_cold/Q_driving "
                  "(absorption refrigerator) (SPEC §3); NaN otherwise"),
        "cop_carnot": da(cop_carnot, "1", "Carnot bound of cop: T_c/(T_h - T_c) (refrigerator) or "
                         "(1/T_m - 1/T_h)/(1/T_c - 1/T_m) (absorption refrigerator); NaN otherwise"),
        "cooling_power": da(cooling_power, "energy/time", "heat drawn from the cooled reservoirs "
                            "(refrigerator modes); NaN otherwise"),
        "eta_2": _second_law_efficiency(ds, model, dims, ref, scales, force_rtol, current_rtol, err_factor),
    }
    if model in FRIDGE_MODELS:
        out.update(_fridge(ds, dims, ref, leads, J_Q, T, shape))
    if model == "cqd":
        out.update(_paper_quantities(ds, reduced_model, classification, scales, P, J_Q, T, leads, shape, dims, ref,
                                     force_rtol, current_rtol, err_factor))
    result = xr.Dataset(out)
    result.attrs.update({"force_rtol": force_rtol, "current_rtol": current_rtol, "err_factor": err_factor,
                         "temperature_rtol": temperature_rtol})
    return result


def lead_rel_err(ds: xr.Dataset, dims, n: int, n_leads: int) -> np.ndarray:
    """``rel_err`` as ``(n, n_leads)``; an old per-cell ``rel_err`` (inf where some flux was 0) per lead."""
    if "rel_err" not in ds:
        return np.zeros((n, n_leads))
    r = ds["rel_err"]
    if "lead" in r.dims:
        ref = ds["J_E"]
        return np.array(r.broadcast_like(ref).transpose(*dims, "lead").values, dtype=float).reshape(n, n_leads)
    ref = ds["J_E"].isel(lead=0, drop=True)
    a = np.array(r.broadcast_like(ref).transpose(*dims).values, dtype=float).reshape(n)
    a = np.where(np.isfinite(a), a, 0.0)
    return np.repeat(a[:, None], n_leads, axis=1)


def _model_or_none(name: str):
    try:
        return get_model(name)
    except ValueError:
        return None


def _second_law_efficiency(ds, model, dims, ref, scales, force_rtol, current_rtol, err_factor) -> xr.DataArray:
    m = _model_or_none(model)
    pairs = [(f, var, lead) for f, (var, lead) in getattr(m, "force_flux", {}).items()
             if f in ds.variables and var in ds]
    attrs = {"units": "1", "valid_range": [0.0, 1.0],
             "long_name": "second-law efficiency eta_2 = -sum_{J_k F_k<0} J_k F_k / sum_{J_k F_k>0} J_k F_k over the "
                          "force-flux pairs (SPEC §3: -J_out F_out/(J_in F_in)); NaN where no flux opposes its force"}
    if not pairs:
        return xr.full_like(ref, np.nan, dtype=float).assign_attrs(attrs)
    pos = xr.zeros_like(ref, dtype=float)
    neg = xr.zeros_like(ref, dtype=float)
    unresolved = xr.zeros_like(ref, dtype=bool)
    for f, var, lead in pairs:
        J = ds[var].sel(lead=lead, drop=True)
        G = scales[f"G_{var[-1]}"].sel(lead=lead, drop=True)
        sj = resolved_sign(J, G, rel_err_of(ds, lead), current_rtol=current_rtol, err_factor=err_factor)
        sf = force_sign(ds, f, force_rtol=force_rtol)
        s = sj * sf
        prod = J * ds[f]
        pos = pos + xr.where(s > 0, prod, 0.0)
        neg = neg + xr.where(s < 0, prod, 0.0)
        unresolved = unresolved | ((sf != 0) & (sj == 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        eta2 = xr.where((neg < 0) & (pos > 0) & ~unresolved, -neg / pos, np.nan)
    return eta2.broadcast_like(ref).transpose(*dims).assign_attrs(attrs)


def _fridge(ds, dims, ref, leads, J_Q, T, shape) -> dict[str, xr.DataArray]:
    """SPEC §2 absorption-refrigerator quantities: cooling power J_Q[C] and COP = J_Q[C]/J_Q[hottest bath]."""
    c = leads.index("C")
    others = [k for k in range(len(leads)) if k != c]
    hot = np.asarray(others)[np.argmax(T[:, others], axis=1)]
    idx = np.arange(T.shape[0])
    Q_hot = J_Q[idx, hot]
    T_h = T[idx, hot]
    T_m = np.where(hot == others[0], T[:, others[-1]], T[:, others[0]]) if len(others) > 1 else T_h
    T_c = T[:, c]
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (J_Q[:, c] > 0) & (Q_hot > 0)
        cop = np.where(ok, J_Q[:, c] / Q_hot, np.nan)
        bound_ok = ok & (T_c < T_m) & (T_m < T_h)
        cop_carnot = np.where(bound_ok, (1.0 / T_m - 1.0 / T_h) / (1.0 / T_c - 1.0 / T_m), np.nan)
    coords = {d: ref.coords[d] for d in dims if d in ref.coords}
    return {
        "cooling_power": xr.DataArray(J_Q[:, c].reshape(shape), dims=dims, coords=coords, attrs={
            "units": "energy/time", "long_name": "cooling power J_Q[C] (heat drawn out of bath C; SPEC §2)"}),
        "cop": xr.DataArray(cop.reshape(shape), dims=dims, coords=coords, attrs={
            "units": "1", "long_name": "COP of the absorption refrigerator J_Q[C]/J_Q[hottest bath] (SPEC §2); "
                                       "NaN unless both are > 0"}),
        "cop_carnot": xr.DataArray(cop_carnot.reshape(shape), dims=dims, coords=coords, attrs={
            "units": "1", "long_name": "three-temperature Carnot COP (1/T_m - 1/T_h)/(1/T_C - 1/T_m)"}),
    }


def _paper_quantities(ds, reduced_model, classification, scales, P, J_Q, T, leads, shape, dims, ref,
                      force_rtol, current_rtol, err_factor) -> dict[str, xr.DataArray]:
    try:
        pair = resolve_pair(ds, reduced_model)
    except ValueError:
        return {}
    if classification is None or classification.attrs.get("reduced_model") != pair.name:
        classification = classify(ds, pair.name, force_rtol=force_rtol, current_rtol=current_rtol,
                                  err_factor=err_factor, scales=scales)
    n = P.shape[0]
    energy_flux = flux_name(*pair.fluxes[0])

    def mask(name: str) -> np.ndarray:
        return np.asarray(classification[f"icc_{name}"].broadcast_like(ref).transpose(*dims).values).reshape(n)

    r = leads.index("r")
    other = leads.index("r" if pair.name == "I" else "b")
    T_pair = np.stack([T[:, leads.index("a")], T[:, other]], axis=1)
    T_h, T_c = T_pair.max(axis=1), T_pair.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        zeta = np.where(mask(energy_flux), np.abs(J_Q[:, r] / P), np.nan)
        eta = np.where(mask("J_N_b"), np.abs(P / J_Q[:, other]), np.nan)
        eta_printed = np.where(mask("J_N_b"), np.abs(P / J_Q[:, r]), np.nan)
        zeta_c = np.where(mask(energy_flux), T_h / (T_h - T_c), np.nan)
        eta_c = np.where(mask("J_N_b"), 1.0 - T_c / T_h, np.nan)
    coords = {d: ref.coords[d] for d in dims if d in ref.coords}

    def da(v, long_name):
        return xr.DataArray(v.reshape(shape), dims=dims, coords=coords, attrs={"units": "1", "long_name": long_name,
                                                                             "reduced_model": pair.name})

    return {
        "zeta_000": da(zeta, f"000 Eq. 59: zeta = |J_Q[r]/(Delta mu J_N[b])| (SPEC §3 reading), where {energy_flux} "
                             "is in genuine ICC; NaN elsewhere"),
        "zeta_000_carnot": da(zeta_c, "heat-pump Carnot bound T_h/(T_h - T_c) over the pair's two temperatures, "
                                      "beside zeta_000"),
        "eta_000": da(eta, "000 Eq. 67 with the engine's heat input: eta = |Delta mu J_N[b]/J_Q[h]|, h = the "
                           "reservoir not at T_a (r in model I, b in model II), where J_N_b is in genuine ICC; "
                           "NaN elsewhere"),
        "eta_000_as_printed": da(eta_printed, "000 Eq. 67 as printed (and as SPEC §3 copies it): "
                                              "|Delta mu J_N[b]/J_Q[r]|; in model II J_Q[r] is not the engine's heat "
                                              "input and this exceeds Carnot"),
        "eta_000_carnot": da(eta_c, "Carnot bound 1 - T_c/T_h over the pair's two temperatures, beside eta_000"),
    }
