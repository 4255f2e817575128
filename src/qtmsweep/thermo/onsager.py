"""Exact linear response: the Onsager matrix from the derivative of the steady state.

Every model's forces are differences with respect to a reference bath (SPEC §2): ``F_E_λ =
β_ref − β_λ`` (conjugate to ``J_E[λ]``, or ``J_Q[λ]`` for bosonic baths) and ``F_N_λ = β_λμ_λ −
β_refμ_ref`` (conjugate to ``J_N[λ]``).  Moving one force moves one bath's ``β`` or ``α = βμ``,
hence the rates of that bath's jumps, analytically (:func:`qtmsweep.physics.counting.dlnr_dx`):
``∂L/∂F = Σ_k ∂r_k D_k`` and

    ∂ρ/∂F = −L^D (∂L/∂F) ρ,     ∂J_i/∂F_j = tᵀ(∂L_i/∂F_j)ρ + tᵀL_i ∂ρ/∂F_j,

with the Drazin inverse ``L^D`` of :mod:`qtmsweep.physics.counting` (one inverse per cell).
At an equilibrium point of a rate process (Pauli models, the global fridge) the same derivative
is formed on the network of edges instead (:func:`qtmsweep.physics.counting.response`): flux
weights and affinities with their gradient parts removed per edge, then one sum of terms of the
size of the result, where the formula above subtracts a correction from a direct term that can
be thousands of times larger (``L_CC`` of the global ``qubit_fridge`` at ``δx = 0``: 4400×; now
within 1e-14 of a 60-digit reference).
No finite differences: the result is exact up to rounding, and Onsager reciprocity
``L_ij = L_ji`` (to ~1e-13 of ``max |L|``; tested) and the fluctuation–dissipation relation
``S_ij = 2 L_ij`` are properties of the physics that the tests check, not built in.

At an equilibrium point (all baths at one ``T`` and ``μ``) this is the Onsager matrix.  The
same derivative off equilibrium is the differential response ``∂J/∂F`` (no symmetry expected).
The local master equation with a coherent coupling between non-resonant sites has no
equilibrium state (currents flow at equal temperatures); its "Onsager matrix" is then only
the local response.

Examples
--------
>>> import numpy as np
>>> L = onsager_matrix("sqd", eps=0.5, T=1.0, mu=0.0, gamma_l=1.0, gamma_r=1.0)
>>> bool(abs(L[0, 1] - L[1, 0]) < 1e-15)
True
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from ..physics.counting import response
from ..physics.generator import generator
from ..physics.reduced import SQD_PAIR, get_reduced_model
from ..physics.registry import get_model
from ..validation import check_parameters

__all__ = ["onsager_matrix", "linear_response", "onsager_dataset", "force_directions"]


def force_directions(model, forces: Sequence[str], n: int) -> np.ndarray:
    """``(n, n_leads, 2, F)``: ``∂β_λ/∂F_j`` and ``∂α_λ/∂F_j`` of each named force (module docstring)."""
    m = get_model(model)
    leads = list(m.leads)
    out = np.zeros((n, len(leads), 2, len(forces)))
    for j, name in enumerate(forces):
        if name not in m.force_flux:
            raise ValueError(f"force {name!r} is not a force of {m.name}; allowed: {', '.join(m.force_flux)}")
        _, lead = m.force_flux[name]
        li = leads.index(lead)
        if name.startswith("F_E"):
            out[:, li, 0, j] = -1.0
        else:
            out[:, li, 1, j] = 1.0
    return out


def linear_response(model, params: Mapping[str, Any], forces: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Exact ``∂J_i/∂F_j`` ``(n, F, F)`` on flat parameters, fluxes conjugate to ``forces``
    (default: all the model's forces).  Returns ``(forces, matrix)``."""
    m = get_model(model)
    forces = list(m.force_flux) if forces is None else list(forces)
    gen = generator(m, params)
    fluxes = [m.force_flux[f] if f in m.force_flux else (None, None) for f in forces]
    dirs = force_directions(m, forces, gen.n)
    return forces, response(gen, fluxes, dirs)


def onsager_matrix(model: str, *, reduced_model: str | None = None, T: float, mu: float = 0.0,
                   delta: float | None = None, **fixed: Any) -> np.ndarray:
    """Onsager matrix of the model's force pair at the equilibrium ``(T, mu)``.

    Parameters
    ----------
    model : {"sqd", "cqd", "qubit_fridge", "kerr_fridge", "chain"}
    reduced_model : {"I", "II"}, required for ``cqd``
        Which force pair (SPEC §2): I = ``(F_E_r, F_N_b)``, II = ``(F_E_b, F_N_b)``.  For the
        fridges the pair is ``(F_E_L, F_E_C)``, for the chain ``(F_E_L,)``.
    T, mu : float
        Common temperature and chemical potential (``mu`` is ignored for bosonic baths).
    delta : ignored
        Kept for callers of the former finite-difference version.
    **fixed
        The remaining (non-reservoir) parameters of the model.

    Returns
    -------
    numpy.ndarray
        ``L[i, j] = ∂J_i/∂F_j`` with fluxes/forces ordered as the pair's.
    """
    m = get_model(model)
    if m.name == "cqd":
        if reduced_model is None:
            raise ValueError("reduced_model is required for cqd; allowed: 'I', 'II'")
        forces = list(get_reduced_model(reduced_model).forces)
    elif m.name == "sqd":
        forces = list(SQD_PAIR.forces)
    else:
        forces = list(m.force_flux)
    params = dict(fixed)
    for lead in m.leads:
        T_name, mu_name = m.lead_reservoir[lead]
        params[T_name] = float(T)
        if mu_name is not None:
            params[mu_name] = float(mu)
    if m.normalize is not None:
        params = m.normalize(params)
    params = {**{k: v for k, v in m.defaults().items() if m.parameter(k).structural}, **params}
    check_parameters(m, params)
    _, L = linear_response(m, params, forces)
    return L[0]


def onsager_dataset(ds: xr.Dataset, forces: Sequence[str] | None = None) -> xr.Dataset:
    """The ``onsager`` analysis of a solved grid: ``L(force, force_)`` per cell.

    ``ds`` is a dataset of :func:`qtmsweep.solve` or a sweep (parameters from its attrs, coordinates
    and variables).  Cells are meant to be equilibrium points; ``equilibrium`` marks those where
    every bath has the same ``T`` and ``μ`` (elsewhere ``L`` is the differential response).
    ``asymmetry`` is ``max |L_ij − L_ji| / √(L_ii L_jj)``.
    """
    m = get_model(ds.attrs["model"])
    dims = tuple(ds["sigma"].dims)
    shape = tuple(ds.sizes[d] for d in dims)
    params: dict[str, Any] = {}
    for p in m.parameters:
        if p.name in ds.attrs:
            params[p.name] = ds.attrs[p.name]
        elif p.name in ds.variables:
            v = ds[p.name].broadcast_like(ds["sigma"]).transpose(*dims)
            params[p.name] = np.asarray(v.values, dtype=float).reshape(-1)
        elif p.default is not None and p.structural:
            params[p.name] = p.default
        else:
            raise ValueError(f"dataset lacks parameter {p.name!r} of model {m.name!r}")
    params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    forces, L = linear_response(m, params, forces)
    n = L.shape[0]
    Ts = np.stack([np.broadcast_to(np.asarray(params[m.lead_reservoir[l][0]], dtype=float), (n,)) for l in m.leads])
    eq = np.all(Ts == Ts[:1], axis=0)
    mus = [m.lead_reservoir[l][1] for l in m.leads]
    if all(x is not None for x in mus):
        M = np.stack([np.broadcast_to(np.asarray(params[x], dtype=float), (n,)) for x in mus])
        eq &= np.all(M == M[:1], axis=0)
    d = np.sqrt(np.abs(np.einsum("nii->ni", L)))
    with np.errstate(divide="ignore", invalid="ignore"):
        asym = np.nanmax(np.abs(L - np.swapaxes(L, 1, 2)) / (d[:, :, None] * d[:, None, :]), axis=(1, 2))
    coords = {k: ds.coords[k] for k in dims if k in ds.coords}
    out = xr.Dataset(
        {"L": (dims + ("force", "force_"), L.reshape(shape + L.shape[1:]),
               {"units": "[flux]/[force]", "long_name": "linear response dJ_i/dF_j (Onsager matrix at equilibrium), "
                "exact derivative of the steady state"}),
         "equilibrium": (dims, eq.reshape(shape), {"units": "1", "long_name": "all baths at one T and mu"}),
         "asymmetry": (dims, asym.reshape(shape), {"units": "1", "long_name": "max |L_ij - L_ji|/sqrt(L_ii L_jj)"})},
        coords={**coords, "force": ("force", forces), "force_": ("force_", forces),
                "flux": ("force", [f"{m.force_flux[f][0]}[{m.force_flux[f][1]}]" for f in forces])})
    out.attrs.update(model=m.name, analysis="onsager")
    return out
