"""Generic batched solver of Pauli rate equations.

Builds the rates of every grid cell from a :class:`RateModel`'s transitions and
solves ``W p = 0``, ``Σ p = 1`` by the Grassmann–Taksar–Heyman (GTH) elimination:
Gaussian elimination in which every pivot is formed as a sum of (positive) rates,
never by a subtraction, so every population — also one of 1e-200 — comes with a
small *relative* error.

Near equilibrium the net edge fluxes ``k_in p_i − k_out p_j`` are small differences
of large one-way fluxes.  When the model supplies :attr:`RateModel.rate_deviation`
the solver also works on the deviation from the equilibrium state ``p⁰`` of a
reference reservoir (the first lead's ``T, μ``): with the drive of edge ``e``

    ``g_e = Δk_in p⁰_i − Δk_out p⁰_j``   (``Δk`` = rate minus reference rate, from input differences)

it solves ``W x = −g`` (``x`` zero on the most populated reference state, GTH elimination
again) and forms ``flux_e = (k_in x_i − k_out x_j + g_e)/(1 + Σ x)``: every term vanishes
at equilibrium, so a force of 1e-10 keeps a flux to ~1e-15 relative.  Per edge the
formulation with the smaller error bound is used.

Error bounds (absolute, per current): the rates carry a relative error ``ρ`` (rounding
of ``x = (ω − μ)/T`` and of the distribution functions), the GTH elimination a relative
error ``γ = (2 d² + 16) ε`` on every population and on every component of
``y = A⁻¹|g|`` (``A = −W`` without the reference row: an M-matrix, so
``|x| ≤ y`` and ``|Δx| ≤ (γ + d ρ) y``).  The returned ``abs_err`` bounds the error of
``J_E``, ``J_N`` and ``J_Q`` of each lead and of ``sigma_micro``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import math

import numpy as np
from numba import njit, prange

from .model import SteadyState

if TYPE_CHECKING:  # pragma: no cover
    from .model import RateModel

_TINY = np.finfo(float).tiny
_EPS = np.finfo(float).eps


@njit(cache=True, error_model="numpy")
def gth_cell(A, rhs, k, p, x, y, iwork, fwork):  # pragma: no cover - compiled
    """GTH elimination of one cell (see :func:`gth_solve`): ``A`` (d, d) rates a -> b and ``rhs`` the
    drive ``g``, both consumed (work copies); writes ``p`` (normalised), ``x`` and ``y`` (d,).
    ``iwork`` (int64, >= 2d) and ``fwork`` (float, >= 2d): scratch (no allocation per cell)."""
    d = A.shape[0]
    order = iwork[:d - 1]
    into = iwork[d:2 * d]  # states j with a rate j -> m (sparse models: a few)
    s = fwork[:d]
    rabs = fwork[d:2 * d]
    t = 0
    for m in range(d):
        if m != k:
            order[t] = m
            t += 1
    for m in range(d):
        s[m] = 0.0
        rabs[m] = abs(rhs[m])
    ok = True
    for a in range(d - 1):
        m = order[a]
        sm = A[m, k]
        for b in range(a + 1, d - 1):
            sm += A[m, order[b]]
        s[m] = sm
        if not sm > 0.0:
            ok = False
            break
        n_into = 0
        for e in range(a + 1, d):
            j = order[e] if e < d - 1 else k
            if A[j, m] != 0.0:
                into[n_into] = j
                n_into += 1
        for b in range(a + 1, d):
            i = order[b] if b < d - 1 else k
            a_mi = A[m, i]
            if a_mi == 0.0:  # (sparse rate matrices: most entries; no division for them)
                continue
            q = a_mi / sm  # probability that the walk leaves m towards i
            if q == 0.0:
                continue
            if i != k:
                rhs[i] += rhs[m] * q
                rabs[i] += rabs[m] * q
            for t2 in range(n_into):  # only nonzero A[j, m] contribute (adding 0 changes nothing)
                j = into[t2]
                if j != i:
                    A[j, i] += A[j, m] * q
    if not ok:
        for i in range(d):
            p[i] = np.nan
            x[i] = np.nan
            y[i] = np.nan
        return
    p[k] = 1.0
    x[k] = 0.0
    y[k] = 0.0
    for a in range(d - 2, -1, -1):
        m = order[a]
        sp = A[k, m]  # p_k = 1, x_k = y_k = 0
        sx = rhs[m]
        sy = rabs[m]
        for b in range(a + 1, d - 1):
            j = order[b]
            sp += A[j, m] * p[j]
            sx += A[j, m] * x[j]
            sy += A[j, m] * y[j]
        p[m] = sp / s[m]
        x[m] = sx / s[m]
        y[m] = sy / s[m]
    tot = 0.0
    for i in range(d):
        tot += p[i]
    for i in range(d):
        p[i] /= tot


@njit(cache=True, parallel=True, error_model="numpy")
def gth_solve(R, g, kref, p, x, y):  # pragma: no cover - compiled
    """GTH elimination of the rate matrices ``R[c, a, b]`` (rate a -> b, diagonal ignored).

    Writes the normalised stationary ``p``, and ``x`` with ``W x = -g`` and ``x[kref] = 0``
    (``A x = g`` for ``A = -W``) and ``y = A^{-1} |g|`` (a componentwise bound on ``|x|``).
    """
    n, d, _ = R.shape
    for c in prange(n):
        gth_cell(R[c].copy(), g[c].copy(), kref[c], p[c], x[c], y[c], np.empty(2 * d, dtype=np.int64), np.empty(2 * d))


@njit(cache=True, error_model="numpy")
def edge_cell(I, Jx, LEAD, PART, omega, k_in, k_out, log_ratio, mu, ge, p, x, y, e_rel, rho, floor, deviation,
              cur, err, nkeys, micro):  # pragma: no cover - compiled
    """:func:`_edge_currents` of one cell: edge arrays ``(edges,)``, ``p, x, y`` ``(d,)``, ``cur`` and
    ``err`` ``(nkeys, leads)`` (accumulated); returns ``(sigma_micro, its bound)``."""
    n_edges = I.shape[0]
    d = p.shape[0]
    eps = _EPS
    sig = 0.0
    esig = 0.0
    norm = 1.0
    ysum = 0.0
    for a in range(d):
        norm += x[a]
        ysum += y[a]
    fl = floor
    for e in range(n_edges):
        if (0.0 < k_in[e] < 1e-280) or (0.0 < k_out[e] < 1e-280):
            fl = 1e-270
    for e in range(n_edges):
        i = I[e]
        j = Jx[e]
        kin = k_in[e]
        kout = k_out[e]
        fw = kin * p[i]
        bw = kout * p[j]
        flux = fw - bw
        ef = (e_rel + 2.0 * rho) * (fw + bw) + eps * abs(flux)
        if deviation:
            g = ge[e]
            a1 = kin * x[i]
            b1 = kout * x[j]
            fd = (a1 - b1 + g) / norm
            ed = ((e_rel + 2.0 * rho) * (kin * y[i] + kout * y[j]) + 4.0 * rho * abs(g)
                  + 3.0 * eps * (abs(a1) + abs(b1) + abs(g))) / abs(norm)
            ed += abs(fd) * (e_rel * ysum + 2.0 * eps) / abs(norm)
            if ed < ef:
                flux = fd
                ef = ed
        ef += fl
        lead = LEAD[e]
        w = omega[e]
        q = w - PART[e] * mu[e]
        af = abs(flux)
        for key in range(nkeys):
            wt = w if key == 0 else (PART[e] if key == 1 else q)
            cur[key, lead] += wt * flux
            err[key, lead] += abs(wt) * (ef + 2.0 * eps * af) + 2.0 * eps * abs(cur[key, lead])
        if micro and flux != 0.0:
            ratio = flux / bw if bw > 0.0 else math.inf
            if abs(ratio) < 0.5:
                aff = math.log1p(ratio)
                eaff = 2.0 * (ef + (e_rel + rho) * af) / bw
            else:
                lpi = math.log(max(p[i], _TINY))
                lpj = math.log(max(p[j], _TINY))
                aff = log_ratio[e] + lpi - lpj
                eaff = (e_rel + rho) * 4.0 + eps * (abs(log_ratio[e]) + abs(lpi) + abs(lpj))
            term = flux * aff
            sig += term
            esig += abs(aff) * ef + af * eaff + 2.0 * eps * abs(term)
    return sig, esig


@njit(cache=True, parallel=True, error_model="numpy")
def _edge_currents(I, Jx, LEAD, PART, omega, k_in, k_out, log_ratio, mu, ge, p, x, y, e_rel, rho, floor, deviation,
                   cur, err, sigma_micro, err_micro, nkeys, micro):  # pragma: no cover - compiled
    """Edge fluxes (plain or deviation form, whichever bound is smaller), currents and bounds per cell.

    ``nkeys``: 3 forms ``J_E``, ``J_N``, ``J_Q``; 1 only ``J_E``.  ``micro``: also ``sigma_micro``.
    """
    n = p.shape[0]
    for c in prange(n):
        sg, es = edge_cell(I, Jx, LEAD, PART, omega[:, c], k_in[:, c], k_out[:, c], log_ratio[:, c], mu[:, c],
                           ge[:, c], p[c], x[c], y[c], e_rel[c], rho[c], floor[c], deviation, cur[:, c, :],
                           err[:, c, :], nkeys, micro)
        sigma_micro[c] += sg
        err_micro[c] += es


def solve_rate_equations(model: "RateModel", params: Mapping[str, np.ndarray]) -> SteadyState:
    """Steady state of ``model`` on flat parameter arrays (all of one length ``n`` or scalars)."""
    n = _batch_size(params)
    params = {k: (np.broadcast_to(v, (n,)) if np.ndim(v) <= 1 and not isinstance(v, str) else v) for k, v in params.items()}
    energies = np.broadcast_to(model.state_energies(params), (n, len(model.states)))
    index = {s: i for i, s in enumerate(model.states)}
    lead_index = {lead: i for i, lead in enumerate(model.leads)}
    d = len(model.states)
    N_state = np.asarray(model.state_particles if model.state_particles is not None else (0,) * d, dtype=float)
    deviation = model.rate_deviation is not None
    ref_T_name, ref_mu_name = model.lead_reservoir[model.leads[0]]
    T0 = np.broadcast_to(np.asarray(params[ref_T_name], dtype=float), (n,))
    mu0 = np.broadcast_to(np.asarray(params[ref_mu_name], dtype=float), (n,)) if ref_mu_name else np.zeros(n)

    # reference equilibrium state p0 (Gibbs at T0, mu0)
    logw = -(energies - mu0[:, None] * N_state[None, :]) / T0[:, None]
    logw = logw - logw.max(axis=1, keepdims=True)
    p0 = np.exp(logw)
    p0 /= p0.sum(axis=1, keepdims=True)
    kref = np.argmax(p0, axis=1).astype(np.int64)

    R = np.zeros((n, d, d))
    g = np.zeros((n, d))
    # relative error of the rates: x = (omega - mu)/T is rounded, |omega| <= 2 max|E|
    e_max = np.abs(energies).max(axis=1)
    x_scale = np.zeros(n)
    seen: set[str] = set()
    edges = []
    for t in model.transitions:
        i, j = index[t.source], index[t.target]
        omega = energies[:, j] - energies[:, i]
        k_in, k_out, log_ratio = model.lead_rates(t.lead, omega, params)
        w = t.weight
        k_in = np.broadcast_to(w * k_in, (n,))
        k_out = np.broadcast_to(w * k_out, (n,))
        R[:, i, j] += k_in
        R[:, j, i] += k_out
        T_name, mu_name = model.lead_reservoir[t.lead]
        mu = np.broadcast_to(np.asarray(params[mu_name], dtype=float), (n,)) if mu_name else np.zeros(n)
        T = np.broadcast_to(np.asarray(params[T_name], dtype=float), (n,))
        if t.lead not in seen:
            seen.add(t.lead)
            x_scale = np.maximum(x_scale, (np.abs(mu) + 2 * e_max) / T)
        ge = np.zeros(n)
        if deviation:
            dk_in, dk_out, dk_diff = (np.broadcast_to(w * np.asarray(v, dtype=float), (n,))
                                      for v in model.rate_deviation(t.lead, omega, params, T0, mu0))
            lr0 = -(omega - mu0 * t.particles) / T0  # ln(k_in/k_out) at the reference: p0_j = e^lr0 p0_i
            with np.errstate(over="ignore", invalid="ignore"):
                ge = np.where(lr0 <= 0,
                              p0[:, i] * (-dk_in * np.expm1(np.minimum(lr0, 0)) + np.exp(np.minimum(lr0, 0)) * dk_diff),
                              p0[:, j] * (dk_in * np.expm1(-np.maximum(lr0, 0)) + dk_diff))
            ge = np.where((dk_in == 0) & (dk_out == 0), 0.0, ge)
            g[:, j] += ge
            g[:, i] -= ge
        edges.append((i, j, lead_index[t.lead], t.particles, omega, k_in, k_out, np.broadcast_to(log_ratio, (n,)),
                      mu, ge))
    if deviation:  # rho also covers the reference rates and p0 (exp of -E/T0)
        x_scale = np.maximum(x_scale, (2 * e_max + np.abs(mu0) * max(1.0, N_state.max())) / T0)
    rho = _EPS * (8 + 3 * x_scale)

    return solve_edges(n, d, edges, R, g, kref, rho, deviation, len(model.leads), model.particle_exchange)


def solve_edges(n, d, edges, R, g, kref, rho, deviation, n_leads, particle_exchange=False) -> SteadyState:
    """Solve and form the currents from an edge list (see :func:`solve_rate_equations`).

    ``edges``: ``(i, j, lead index, particles, omega, k_in, k_out, log_ratio, mu, g_e)`` per edge,
    ``R`` the rates ``R[:, a, b]`` (a -> b), ``g`` the deviation drive (``W p0``), ``kref`` the
    reference state, ``rho`` the rates' relative error.
    """
    n_edges = len(edges)
    I = np.array([e[0] for e in edges], dtype=np.int64)
    Jx = np.array([e[1] for e in edges], dtype=np.int64)
    LEAD = np.array([e[2] for e in edges], dtype=np.int64)
    PART = np.array([float(e[3]) for e in edges])
    stack = [np.empty((n_edges, n)) for _ in range(6)]
    for k, e in enumerate(edges):
        for a, v in zip(stack, e[4:10]):
            a[k] = v
    return solve_stacked(n, d, I, Jx, LEAD, PART, *stack, R, g, kref, rho, deviation, n_leads, particle_exchange)


def solve_stacked(n, d, I, Jx, LEAD, PART, omega_e, kin_e, kout_e, lr_e, mu_e, ge_e, R, g, kref, rho, deviation,
                  n_leads, particle_exchange=False, energy_only=False, micro=True) -> SteadyState:
    """:func:`solve_edges` on edge data already stacked: index arrays ``I, Jx, LEAD, PART`` ``(edges,)``
    and ``omega, k_in, k_out, log_ratio, mu, g_e`` ``(edges, n)``.

    ``energy_only``: form ``J_E`` and its bound only (``J_Q`` is then ``J_E``: heat-only models, all
    ``particles`` 0); ``micro=False`` skips ``sigma_micro`` (returned as NaN with bound ``inf``).
    These are for auxiliary solves (e.g. a truncation estimate) that need the energy currents only.
    """
    if energy_only and np.any(PART != 0):
        raise ValueError("solve_stacked(energy_only=True) needs every edge's particles = 0 (J_Q = J_E)")
    p = np.empty((n, d))
    x = np.empty((n, d))
    y = np.empty((n, d))
    gth_solve(R, g, kref, p, x, y)
    gamma = (2 * d * d + 16) * _EPS
    # underflow: a rate or population below ~1e-280 may have lost digits (or become 0); the currents
    # of such cells get an absolute error floor (a current that small is then reported unresolved)
    floor = np.where(np.any((p < 1e-280) | ~np.isfinite(p), axis=1), 1e-270, 0.0)  # rates: in _edge_currents
    e_rel = gamma + d * rho  # relative error of p, and of x relative to y
    nkeys = 1 if energy_only else 3
    cur = np.zeros((nkeys, n, n_leads))
    err = np.zeros((nkeys, n, n_leads))
    sigma_micro = np.zeros(n)
    err_micro = np.zeros(n)
    _edge_currents(I, Jx, LEAD, PART, omega_e, kin_e, kout_e, lr_e, mu_e, ge_e, p, x, y,
                   np.ascontiguousarray(np.broadcast_to(e_rel, (n,))), np.ascontiguousarray(np.broadcast_to(rho, (n,))),
                   floor, deviation, cur, err, sigma_micro, err_micro, nkeys, micro)
    if not micro:
        sigma_micro, err_micro = np.full(n, np.nan), np.full(n, np.inf)
    if energy_only:
        J = {"E": cur[0], "N": None, "Q": cur[0]}
        err = {"E": err[0], "N": None, "Q": err[0]}
    else:
        J = {"E": cur[0], "N": cur[1], "Q": cur[2]}
        err = {"E": err[0], "N": err[1], "Q": err[2]}

    abs_err = {"J_E": err["E"], "J_Q": err["Q"], "sigma_micro": err_micro}
    if particle_exchange and not energy_only:
        abs_err["J_N"] = err["N"]
    return SteadyState(
        p=p,
        J_E=J["E"],
        J_N=J["N"] if particle_exchange and not energy_only else None,
        J_Q=J["Q"],
        sigma_micro=sigma_micro,
        abs_err=abs_err,
    )


def secular_pauli(E, rates, m2, delta_rates, T, T_ref_index, rate_err):
    """Secular (global) Pauli equation of a heat-only model on its eigenbasis, by :func:`solve_edges`.

    ``E`` (n, d) eigenvalues, ``rates[b, :, j, i]`` the rate i -> j from bath b, ``m2[b]`` the squared
    matrix elements, ``delta_rates(b, omega)`` the change ``K(|ω|)(n_b − n_ref)`` of both rates of a
    unit matrix element from the reference bath's temperature to bath b's (``omega`` (n, pairs): the
    Bohr frequencies of all of bath b's pairs at once); ``T`` (n, n_baths).
    Edges join states whose energies differ (``rates`` zero elsewhere).  Returns a
    :class:`SteadyState` with populations, ``J_E`` per bath and ``abs_err``.
    """
    nb, n, d, _ = rates.shape
    T0 = T[:, T_ref_index]
    logw = -E / T0[:, None]
    logw = logw - logw.max(axis=1, keepdims=True)
    p0 = np.exp(logw)
    p0 /= p0.sum(axis=1, keepdims=True)
    kref = np.argmax(p0, axis=1).astype(np.int64)
    R = np.zeros((n, d, d))
    g = np.zeros((n, d))
    edges = []
    zero = np.zeros(n)
    with np.errstate(over="ignore", invalid="ignore"):
        for b in range(nb):
            pairs = [(i, j) for i in range(d) for j in range(i + 1, d)
                     if np.any(rates[b, :, j, i]) or np.any(rates[b, :, i, j])]
            if not pairs:
                continue
            # one call per bath: the rate changes of all its pairs (omega (n, pairs))
            delta = delta_rates(b, np.stack([E[:, j] - E[:, i] for i, j in pairs], axis=1))
            for q, (i, j) in enumerate(pairs):
                k_in, k_out = rates[b, :, j, i], rates[b, :, i, j]
                omega = E[:, j] - E[:, i]
                R[:, i, j] += k_in
                R[:, j, i] += k_out
                dk = m2[b, :, j, i] * delta[:, q]
                lr0 = -omega / T0
                ge = np.where(lr0 <= 0, -p0[:, i] * dk * np.expm1(np.minimum(lr0, 0)),
                              p0[:, j] * dk * np.expm1(-np.maximum(lr0, 0)))
                ge = np.where(dk == 0, 0.0, ge)
                g[:, j] += ge
                g[:, i] -= ge
                edges.append((i, j, b, 0, omega, k_in, k_out, -omega / T[:, b], zero, ge))
    rho = np.maximum(rate_err, _EPS * (8 + 3 * np.abs(E).max(axis=1) / T.min(axis=1)))
    return solve_edges(n, d, edges, R, g, kref, rho, True, nb)


def _batch_size(params: Mapping[str, np.ndarray]) -> int:
    sizes = {np.size(v) for v in params.values() if not isinstance(v, str) and np.ndim(v) >= 1}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"parameter arrays must be flat and of one length; got lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 1
