"""``cqd``: three-terminal Coulomb-coupled quantum dots (SPEC §2; seed 000, 001 §IX–X).

Dot L (spin down) is tunnel-coupled to leads ``a`` and ``b``, dot R (spin up)
to lead ``r``.  States ``A=|00>, B=|↓0>, C=|0↑>, D=|↓↑>`` with energies
``0, eps_L, eps_R, eps_L + eps_R + kappa``.

Closed form
-----------
The state graph A–B–D–C–A is a single cycle, but each L-edge is served by two
leads, so the lead-resolved multigraph has six cycles: the four "big" cycles
``c(λ, μ)`` (A→B via λ, B→D via r, D→C via μ, C→A via r) and the two
"loops" ``ℓ1`` (A→B via a, B→A via b) and ``ℓ2`` (C→D via a, D→C via b).
By Hill's diagram method (the matrix-tree theorem) each cycle flux is

    J_c = (Π⁺_c − Π⁻_c) · W_c / Z,

with Π^± the products of the rates around the cycle, W_c the weight of the
trees attaching the remaining states to the cycle and Z the sum of all rooted
spanning-tree weights (the populations are ``p_i = T_i / Z``).  We evaluate
``Π⁺ − Π⁻ = Π⁻ expm1(A_c)`` (or ``−Π⁺ expm1(−A_c)``, whichever cannot
overflow), with the cycle affinity ``A_c = ln Π⁺/Π⁻`` written in terms of
*differences of the inputs* (``T_r − T_μ``, ``μ_λ − μ_μ``), so currents stay
accurate to a small relative error even at forces of 1e-10.  Every current is
a fixed integer/energy combination of the six cycle fluxes, e.g.
``J_N[a] = ℓ1 + ℓ2 + c(a,b) − c(b,a)`` and ``J_E[r] = κ Σ c`` (000 Eq. 22),
so ``J_N[r] = 0`` and the conservation laws hold exactly by construction.

``sigma_micro`` is Schnakenberg's cycle form ``Σ_c J_c A_c`` of the edge sum of
000 Eq. 36 (equal at steady state; every term is ≥ 0 and keeps its relative
precision near equilibrium).  The generic solver evaluates the edge sum itself
from the populations, and the tests check the two against each other.
"""

from __future__ import annotations

import math
import os

import numpy as np
from numba import get_num_threads, njit, prange

from ..batch import GridParam
from ..distributions import fermi_pair as _occupations
from ..distributions import inverse_temperature_difference_np, scaled_mu_difference_np
from ..model import OutputVariable, Parameter, RateModel, SteadyState, Transition, fermionic_lead_rates, fermionic_rate_deviation
from ..registry import register
from . import cqd_simd as _simd

STATES = ("A", "B", "C", "D")
LEADS = ("a", "b", "r")
#: Order of the numeric parameters passed to the fused kernel.
KERNEL_PARAMETERS = ("eps_L", "eps_R", "kappa", "T_a", "T_b", "T_r", "mu_a", "mu_b", "mu_r",
                     "gamma_a", "gamma_b", "gamma_r")

PARAMETERS = (
    Parameter("eps_L", "energy", "energy of dot L (spin down)", 1.0),
    Parameter("eps_R", "energy", "energy of dot R (spin up)", 2.5),
    Parameter("kappa", "energy", "inter-dot Coulomb coupling kappa_c - kappa_s (either sign)", -1.5),
    Parameter("T_a", "temperature", "temperature of lead a", 1.0),
    Parameter("T_b", "temperature", "temperature of lead b", 1.0),
    Parameter("T_r", "temperature", "temperature of lead r", 1.0),
    Parameter("mu_a", "chemical_potential", "chemical potential of lead a", 0.0),
    Parameter("mu_b", "chemical_potential", "chemical potential of lead b", 1.0),
    Parameter("mu_r", "chemical_potential", "chemical potential of lead r", 0.0),
    Parameter("gamma_a", "rate", "tunnel rate of lead a", 1.0),
    Parameter("gamma_b", "rate", "tunnel rate of lead b", 1.0),
    Parameter("gamma_r", "rate", "tunnel rate of lead r", 1.0),
)


def state_energies(params):
    eps_L, eps_R, kappa = (np.asarray(params[k], dtype=float) for k in ("eps_L", "eps_R", "kappa"))
    zero = np.zeros(np.broadcast_shapes(eps_L.shape, eps_R.shape, kappa.shape))
    return np.stack([zero, eps_L + zero, eps_R + zero, eps_L + eps_R + kappa + zero], axis=-1)


TRANSITIONS = (
    Transition("A", "B", "a"),
    Transition("A", "B", "b"),
    Transition("C", "D", "a"),
    Transition("C", "D", "b"),
    Transition("A", "C", "r"),
    Transition("B", "D", "r"),
)

_LEAD_RATES = {lead: fermionic_lead_rates(f"T_{lead}", f"mu_{lead}", f"gamma_{lead}") for lead in LEADS}
_DEVIATION = {lead: fermionic_rate_deviation(f"T_{lead}", f"mu_{lead}", f"gamma_{lead}") for lead in LEADS}


def lead_rates(lead, omega, params):
    return _LEAD_RATES[lead](omega, params)


def forces(params):
    """General forces of 000 Eq. 33, each computed from input differences (no cancellation)."""
    T_a, T_b, T_r = params["T_a"], params["T_b"], params["T_r"]
    return {
        "F_E_r": inverse_temperature_difference_np(T_a, T_r),
        "F_E_b": inverse_temperature_difference_np(T_a, T_b),
        "F_N_b": scaled_mu_difference_np(T_b, params["mu_b"], T_a, params["mu_a"]),
    }


FORCE_FLUX = {"F_E_r": ("J_E", "r"), "F_E_b": ("J_E", "b"), "F_N_b": ("J_N", "b")}


def normalize(params: dict) -> dict:
    """Accept ``kappa`` or the pair ``kappa_c, kappa_s`` (both >= 0); return ``kappa``."""
    has_pair = "kappa_c" in params or "kappa_s" in params
    if has_pair:
        if "kappa" in params:
            raise ValueError("give either kappa or the pair kappa_c, kappa_s, not both")
        missing = [k for k in ("kappa_c", "kappa_s") if k not in params]
        if missing:
            raise ValueError(f"{missing[0]} is missing: kappa_c and kappa_s must be given together")
        params = dict(params)
        kc, ks = params.pop("kappa_c"), params.pop("kappa_s")
        for name, value in (("kappa_c", kc), ("kappa_s", ks)):
            arr = np.asarray(getattr(value, "values", value), dtype=float)
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                bad = float(arr[~(np.isfinite(arr) & (arr >= 0))].flat[0])
                raise ValueError(f"{name}={bad!r} is not allowed; allowed: a finite number >= 0")
        params["kappa"] = kc - ks
    return params


@njit(cache=True, inline="always", error_model="numpy")
def _cycle_difference(pi_plus, pi_minus, affinity):
    """Π⁺ − Π⁻ given A = ln Π⁺/Π⁻.

    For |A| < 1/2 the plain difference would cancel, so it is formed as
    Π⁻ expm1(A) (or −Π⁺ expm1(−A), whichever cannot overflow); beyond that the
    plain difference loses at most a factor coth(1/4) ≈ 4 of machine precision.
    """
    if affinity >= 0.5 or affinity <= -0.5:
        return pi_plus - pi_minus
    if affinity >= 0.0:
        return -pi_plus * math.expm1(-affinity)
    return pi_minus * math.expm1(affinity)


_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).tiny
#: Below this partition sum the tree weights may have lost digits to underflow.
_Z_SAFE = 1e-250
#: Below this a cycle's rate product may have lost digits to underflow: such cells are redone in
#: log space (as are cells with a rate that vanishes, gamma = 0: exact there too, only slower).
_P_SAFE = 1e-280


@njit(cache=True, inline="always", error_model="numpy")
def _log_fermi(x):
    """ln f(x) = -ln(1 + e^x), finite for any finite x."""
    if x > 0.0:
        return -x - math.log1p(math.exp(-x))
    return -math.log1p(math.exp(x))


@njit(cache=True, inline="always", error_model="numpy")
def _lse2(a, b):
    m = max(a, b)
    if m == -math.inf:
        return m
    return m + math.log(math.exp(a - m) + math.exp(b - m))


@njit(cache=True, inline="always", error_model="numpy")
def _lse3(a, b, c):
    m = max(a, max(b, c))
    if m == -math.inf:
        return m
    return m + math.log(math.exp(a - m) + math.exp(b - m) + math.exp(c - m))


@njit(cache=True, inline="always", error_model="numpy")
def _lse4(a, b, c, d):
    m = max(max(a, b), max(c, d))
    if m == -math.inf:
        return m
    return m + math.log(math.exp(a - m) + math.exp(b - m) + math.exp(c - m) + math.exp(d - m))


@njit(cache=True, inline="always", error_model="numpy")
def _log_cycle_flux(log_pi_plus, log_pi_minus, affinity, log_weight, log_z):
    """(Π⁺ − Π⁻) W / Z from logarithms (for cells whose tree weights underflow)."""
    if affinity == 0.0:
        return 0.0
    if affinity > 0.0:
        return math.exp(log_pi_plus + math.log(-math.expm1(-affinity)) + log_weight - log_z)
    return -math.exp(log_pi_minus + math.log(-math.expm1(affinity)) + log_weight - log_z)


@njit(cache=True, error_model="numpy")
def _cqd_log_domain(ga, gb, gr, xa1, xa2, xb1, xb2, xr1, xr2, A_aa, A_ab, A_ba, A_bb, d1_ba, d2_ba):
    """Populations and the six cycle fluxes with every rate product kept as a logarithm.

    Used when the partition sum underflows (|x| beyond ~700, where the fast
    rates do not form a spanning tree): the same Hill formulas as the main
    kernel, evaluated in log space.
    """
    lga = math.log(ga) if ga > 0.0 else -math.inf
    lgb = math.log(gb) if gb > 0.0 else -math.inf
    lgr = math.log(gr) if gr > 0.0 else -math.inf
    lAB_a = lga + _log_fermi(xa1)
    lBA_a = lga + _log_fermi(-xa1)
    lAB_b = lgb + _log_fermi(xb1)
    lBA_b = lgb + _log_fermi(-xb1)
    lCD_a = lga + _log_fermi(xa2)
    lDC_a = lga + _log_fermi(-xa2)
    lCD_b = lgb + _log_fermi(xb2)
    lDC_b = lgb + _log_fermi(-xb2)
    lAC = lgr + _log_fermi(xr1)
    lCA = lgr + _log_fermi(-xr1)
    lBD = lgr + _log_fermi(xr2)
    lDB = lgr + _log_fermi(-xr2)
    lAB = _lse2(lAB_a, lAB_b)
    lBA = _lse2(lBA_a, lBA_b)
    lCD = _lse2(lCD_a, lCD_b)
    lDC = _lse2(lDC_a, lDC_b)
    tA = _lse4(lBD + lDC + lCA, lBA + lDC + lCA, lBA + lDB + lCA, lCD + lDB + lBA)
    tB = _lse4(lAC + lCD + lDB, lAB + lCA + lDC, lAB + lDB + lCA, lAB + lDB + lCD)
    tC = _lse4(lAC + lBD + lDC, lBA + lAC + lDC, lDB + lBA + lAC, lAB + lBD + lDC)
    tD = _lse4(lAC + lCD + lBD, lBA + lAC + lCD, lCA + lAB + lBD, lAB + lBD + lCD)
    lZ = _lse4(tA, tB, tC, tD)
    c_aa = _log_cycle_flux(lAB_a + lBD + lDC_a + lCA, lBA_a + lDB + lCD_a + lAC, A_aa, 0.0, lZ)
    c_ab = _log_cycle_flux(lAB_a + lBD + lDC_b + lCA, lBA_a + lDB + lCD_b + lAC, A_ab, 0.0, lZ)
    c_ba = _log_cycle_flux(lAB_b + lBD + lDC_a + lCA, lBA_b + lDB + lCD_a + lAC, A_ba, 0.0, lZ)
    c_bb = _log_cycle_flux(lAB_b + lBD + lDC_b + lCA, lBA_b + lDB + lCD_b + lAC, A_bb, 0.0, lZ)
    lW_AB = _lse3(lCA + lDB, lCA + lDC, lDB + lCD)
    lW_CD = _lse3(lAC + lBD, lAC + lBA, lBD + lAB)
    l1 = _log_cycle_flux(lAB_a + lBA_b, lBA_a + lAB_b, d1_ba, lW_AB, lZ)
    l2 = _log_cycle_flux(lCD_a + lDC_b, lDC_a + lCD_b, d2_ba, lW_CD, lZ)
    return (math.exp(tA - lZ), math.exp(tB - lZ), math.exp(tC - lZ), math.exp(tD - lZ),
            c_aa, c_ab, c_ba, c_bb, l1, l2)


@njit(cache=True, parallel=True, error_model="numpy")
def _cqd_kernel(prm, stride, p, J_E, J_N, J_Q, F, sigma, sigma_micro, rel_err, sigma_rel_err, cycle_flux):
    n = p.shape[0]
    eps = _EPS
    for i in prange(n):
        eL = prm[0][i * stride[0]]
        eR = prm[1][i * stride[1]]
        kap = prm[2][i * stride[2]]
        Ta = prm[3][i * stride[3]]
        Tb = prm[4][i * stride[4]]
        Tr = prm[5][i * stride[5]]
        ma = prm[6][i * stride[6]]
        mb = prm[7][i * stride[7]]
        mr = prm[8][i * stride[8]]
        ga = prm[9][i * stride[9]]
        gb = prm[10][i * stride[10]]
        gr = prm[11][i * stride[11]]

        w1 = eL
        w2 = eL + kap
        v1 = eR
        v2 = eR + kap
        ba = 1.0 / Ta
        bb = 1.0 / Tb
        br = 1.0 / Tr
        xa1 = (w1 - ma) * ba
        xa2 = (w2 - ma) * ba
        xb1 = (w1 - mb) * bb
        xb2 = (w2 - mb) * bb
        xr1 = (v1 - mr) * br
        xr2 = (v2 - mr) * br
        fa1, ha1 = _occupations(xa1)
        fa2, ha2 = _occupations(xa2)
        fb1, hb1 = _occupations(xb1)
        fb2, hb2 = _occupations(xb2)
        fr1, hr1 = _occupations(xr1)
        fr2, hr2 = _occupations(xr2)

        # lead-resolved rates (electron in = along A->B, C->D, A->C, B->D)
        kAB_a = ga * fa1
        kBA_a = ga * ha1
        kAB_b = gb * fb1
        kBA_b = gb * hb1
        kCD_a = ga * fa2
        kDC_a = ga * ha2
        kCD_b = gb * fb2
        kDC_b = gb * hb2
        kAC = gr * fr1
        kCA = gr * hr1
        kBD = gr * fr2
        kDB = gr * hr2
        kAB = kAB_a + kAB_b
        kBA = kBA_a + kBA_b
        kCD = kCD_a + kCD_b
        kDC = kDC_a + kDC_b

        # rooted spanning trees (matrix-tree theorem)
        tA = kBD * kDC * kCA + kBA * kDC * kCA + kBA * kDB * kCA + kCD * kDB * kBA
        tB = kAC * kCD * kDB + kAB * kCA * kDC + kAB * kDB * kCA + kAB * kDB * kCD
        tC = kAC * kBD * kDC + kBA * kAC * kDC + kDB * kBA * kAC + kAB * kBD * kDC
        tD = kAC * kCD * kBD + kBA * kAC * kCD + kCA * kAB * kBD + kAB * kBD * kCD
        Z = tA + tB + tC + tD
        iZ = 1.0 / Z

        # cycle affinities from input differences
        dTr_a = kap * (Tr - Ta) * (ba * br)  # kappa (1/T_a - 1/T_r), from the difference T_r - T_a
        dTr_b = kap * (Tr - Tb) * (bb * br)
        dTab = Ta - Tb
        dmab = ma - mb
        bab = ba * bb
        d1_ba = (dTab * (w1 - mb) + Tb * dmab) * bab  # x_b1 - x_a1 (see reduced_energy_difference)
        d2_ba = (dTab * (w2 - mb) + Tb * dmab) * bab  # x_b2 - x_a2
        A_aa = dTr_a
        A_bb = dTr_b
        A_ab = dTr_b + d1_ba  # AB via a, DC via b: (x_b1 - x_a1) + kappa(1/T_b - 1/T_r)
        A_ba = dTr_a - d1_ba
        pm_aa = kBA_a * kDB * kCD_a * kAC
        pp_aa = kAB_a * kBD * kDC_a * kCA
        pm_ab = kBA_a * kDB * kCD_b * kAC
        pp_ab = kAB_a * kBD * kDC_b * kCA
        pm_ba = kBA_b * kDB * kCD_a * kAC
        pp_ba = kAB_b * kBD * kDC_a * kCA
        pm_bb = kBA_b * kDB * kCD_b * kAC
        pp_bb = kAB_b * kBD * kDC_b * kCA
        c_aa = _cycle_difference(pp_aa, pm_aa, A_aa) * iZ
        c_ab = _cycle_difference(pp_ab, pm_ab, A_ab) * iZ
        c_ba = _cycle_difference(pp_ba, pm_ba, A_ba) * iZ
        c_bb = _cycle_difference(pp_bb, pm_bb, A_bb) * iZ
        W_AB = kCA * kDB + kCA * kDC + kDB * kCD
        W_CD = kAC * kBD + kAC * kBA + kBD * kAB
        pp1 = kAB_a * kBA_b
        pm1 = kBA_a * kAB_b
        pp2 = kCD_a * kDC_b
        pm2 = kDC_a * kCD_b
        l1 = _cycle_difference(pp1, pm1, d1_ba) * W_AB * iZ
        l2 = _cycle_difference(pp2, pm2, d2_ba) * W_CD * iZ
        pA = tA * iZ
        pB = tB * iZ
        pC = tC * iZ
        pD = tD * iZ
        if not Z > _Z_SAFE or min(min(min(pm_aa, pp_aa), min(pm_ab, pp_ab)), min(min(pm_ba, pp_ba), min(pm_bb, pp_bb))) < _P_SAFE:
            # underflowing tree weights or cycle products (|x| ≳ 150 on four rates): redo in log space
            pA, pB, pC, pD, c_aa, c_ab, c_ba, c_bb, l1, l2 = _cqd_log_domain(
                ga, gb, gr, xa1, xa2, xb1, xb2, xr1, xr2, A_aa, A_ab, A_ba, A_bb, d1_ba, d2_ba)
            iZ = 0.0  # the affinity part of the error bound below is then not available

        same_ab = dTab == 0.0 and dmab == 0.0
        if same_ab:  # leads a and b are one reservoir: c(a,b) = c(b,a) exactly, J_N[a] = 0 by symmetry
            c_ba = c_ab

        gam = c_aa + c_ab + c_ba + c_bb
        jn_a = l1 + l2 + c_ab - c_ba
        je_a = w1 * l1 + w2 * l2 - kap * c_aa + w1 * c_ab - w2 * c_ba
        je_b = -w1 * l1 - w2 * l2 - kap * c_bb + w1 * c_ba - w2 * c_ab
        je_r = kap * gam
        # heat currents from the cycle fluxes with (omega - mu) weights: no J_E - mu J_N cancellation
        qa1 = w1 - ma
        qa2, qa2_err = _sum3(eL, kap, -ma)
        qb1 = w1 - mb
        qb2, qb2_err = _sum3(eL, kap, -mb)
        jq_a = qa1 * l1 + qa2 * l2 - kap * c_aa + qa1 * c_ab - qa2 * c_ba
        jq_b = -qb1 * l1 - qb2 * l2 - kap * c_bb + qb1 * c_ba - qb2 * c_ab

        p[i, 0] = pA
        p[i, 1] = pB
        p[i, 2] = pC
        p[i, 3] = pD
        J_N[i, 0] = jn_a
        J_N[i, 1] = -jn_a
        J_N[i, 2] = 0.0
        J_E[i, 0] = je_a
        J_E[i, 1] = je_b
        J_E[i, 2] = je_r
        J_Q[i, 0] = jq_a
        J_Q[i, 1] = jq_b
        J_Q[i, 2] = je_r
        fer = (Tr - Ta) * (ba * br)
        feb = -dTab * bab
        fnb = (mb * dTab - Tb * dmab) * bab
        F[i, 0] = fer
        F[i, 1] = feb
        F[i, 2] = fnb
        sigma[i] = je_r * fer + je_b * feb - jn_a * fnb
        cycle_flux[i] = gam

        # Schnakenberg's cycle form of 000 Eq. 36 at steady state: sum_c J_c A_c, every term >= 0
        sigma_micro[i] = (c_aa * A_aa + c_ab * A_ab + c_ba * A_ba + c_bb * A_bb
                          + l1 * d1_ba + l2 * d2_ba)

        # -- a-posteriori error bounds (absolute), per cycle flux then per current --------------
        # rho: relative error of any rate of the cell (x = (w - mu)/T is formed with an absolute
        # error <= eps (|w| + |mu|) beta, which f(x) turns into a relative error of that size)
        rho = eps * (8.0 + 3.0 * max(
            max((abs(eL) + abs(kap) + abs(ma)) * ba, (abs(eL) + abs(kap) + abs(mb)) * bb),
            (abs(eR) + abs(kap) + abs(mr)) * br))
        if iZ == 0.0:  # log domain: every rate product is a sum of logs of size up to |x|
            rho = rho * 4.0 + eps * (16.0 + 4.0 * abs(math.log(Z) if Z > 0.0 else 1500.0))
        rc = 40.0 * rho + 40.0 * eps  # cycle-flux relative error from the rates and the trees
        ez = 2.0 * iZ if iZ > 0.0 else 0.0
        dA_aa = 6.0 * eps * abs(dTr_a)
        dA_bb = 6.0 * eps * abs(dTr_b)
        dA_ab = 6.0 * eps * (abs(dTr_b) + abs(d1_ba)) + 8.0 * eps * (abs(dTab * (w1 - mb)) + abs(Tb * dmab)) * bab
        dA_ba = 6.0 * eps * (abs(dTr_a) + abs(d1_ba)) + 8.0 * eps * (abs(dTab * (w1 - mb)) + abs(Tb * dmab)) * bab
        dA_1 = 8.0 * eps * (abs(dTab * (w1 - mb)) + abs(Tb * dmab)) * bab
        dA_2 = 8.0 * eps * (abs(dTab * (w2 - mb)) + abs(Tb * dmab)) * bab + 4.0 * eps * (abs(w2) + abs(mb)) * abs(dTab) * bab
        e_aa = rc * abs(c_aa) + _aff_err(dA_aa, A_aa, pp_aa, pm_aa, 1.0, ez, c_aa)
        e_bb = rc * abs(c_bb) + _aff_err(dA_bb, A_bb, pp_bb, pm_bb, 1.0, ez, c_bb)
        e_ab = rc * abs(c_ab) + _aff_err(dA_ab, A_ab, pp_ab, pm_ab, 1.0, ez, c_ab)
        e_ba = rc * abs(c_ba) + _aff_err(dA_ba, A_ba, pp_ba, pm_ba, 1.0, ez, c_ba)
        e_l1 = rc * abs(l1) + _aff_err(dA_1, d1_ba, pp1, pm1, W_AB, ez, l1)
        e_l2 = rc * abs(l2) + _aff_err(dA_2, d2_ba, pp2, pm2, W_CD, ez, l2)
        aw1 = abs(w1)
        aw2 = abs(w2)
        akap = abs(kap)
        s4 = 4.0 * eps  # rounding of the sums of up to five terms
        # c(a,b) - c(b,a) is exact (0) when a and b are one reservoir
        e_anti = 0.0 if same_ab else e_ab + e_ba + s4 * (abs(c_ab) + abs(c_ba))
        err_n = e_l1 + e_l2 + e_anti + s4 * (abs(l1) + abs(l2))
        err_ea = (aw1 * (e_l1 + e_ab) + aw2 * (e_l2 + e_ba) + akap * e_aa + 2.0 * eps * aw2 * (abs(l2) + abs(c_ba))
                  + s4 * (aw1 * (abs(l1) + abs(c_ab)) + aw2 * (abs(l2) + abs(c_ba)) + akap * abs(c_aa)))
        err_eb = (aw1 * (e_l1 + e_ba) + aw2 * (e_l2 + e_ab) + akap * e_bb + 2.0 * eps * aw2 * (abs(l2) + abs(c_ab))
                  + s4 * (aw1 * (abs(l1) + abs(c_ba)) + aw2 * (abs(l2) + abs(c_ab)) + akap * abs(c_bb)))
        err_er = akap * (e_aa + e_ab + e_ba + e_bb) + s4 * akap * (abs(c_aa) + abs(c_ab) + abs(c_ba) + abs(c_bb))
        aq1 = abs(qa1)
        aq2 = abs(qa2)
        err_qa = (aq1 * (e_l1 + e_ab) + aq2 * (e_l2 + e_ba) + akap * e_aa
                  + (eps * aq1 + s4 * aq1) * (abs(l1) + abs(c_ab)) + (qa2_err + s4 * aq2) * (abs(l2) + abs(c_ba))
                  + s4 * akap * abs(c_aa))
        bq1 = abs(qb1)
        bq2 = abs(qb2)
        err_qb = (bq1 * (e_l1 + e_ba) + bq2 * (e_l2 + e_ab) + akap * e_bb
                  + (eps * bq1 + s4 * bq1) * (abs(l1) + abs(c_ba)) + (qb2_err + s4 * bq2) * (abs(l2) + abs(c_ab))
                  + s4 * akap * abs(c_bb))
        rn = _ratio(err_n, jn_a)
        rel_err[i, 0] = max(max(_ratio(err_ea, je_a), rn), _ratio(err_qa, jq_a))
        rel_err[i, 1] = max(max(_ratio(err_eb, je_b), rn), _ratio(err_qb, jq_b))
        rel_err[i, 2] = _ratio(err_er, je_r)
        # sigma = J_E[r] F_E_r + J_E[b] F_E_b - J_N[a] F_N_b; each force to 6 ulp
        err_s = (abs(fer) * (err_er + 8.0 * eps * abs(je_r)) + abs(feb) * (err_eb + 8.0 * eps * abs(je_b))
                 + abs(fnb) * (err_n + 8.0 * eps * abs(jn_a)))
        sigma_rel_err[i] = _ratio(err_s, sigma[i])


@njit(cache=True, inline="always", error_model="numpy")
def _sum3(a, b, c):
    """``a + b + c`` and a bound on its absolute rounding error (Knuth's two-sum on ``a + b``)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)  # a + b = s + e exactly
    t = s + c
    r = t + e
    return r, 2.0 * _EPS * abs(r) + 4.0 * _EPS * _EPS * (abs(a) + abs(b) + abs(c))


@njit(cache=True, inline="always", error_model="numpy")
def _aff_err(dA, A, pp, pm, weight, ez, c):
    """Error of a cycle flux from the error ``dA`` of its affinity (used by the expm1 branch)."""
    if dA == 0.0:
        return 0.0
    if ez == 0.0:  # log domain: relative form
        return abs(c) * dA * (1.0 + 1.0 / max(abs(A), 1e-300)) if A != 0.0 else math.inf
    return dA * max(pp, pm) * weight * ez


@njit(cache=True, inline="always", error_model="numpy")
def _ratio(err, value):
    """Relative error bound ``e/(|v| − e)`` (0 for an exact value; inf when the sign is not sure)."""
    if err == 0.0:
        return 0.0
    mag = abs(value)
    if not err < mag:
        return math.inf
    return err / (mag - err)


#: Environment variable choosing the kernel: ``simd`` (default) or ``reference``.
KERNEL_ENV = "QTMSWEEP_CQD_KERNEL"
KERNELS = ("simd", "reference")


def _kernel_choice(kernel: str | None) -> str:
    if kernel is None:
        kernel = os.environ.get(KERNEL_ENV, "simd") or "simd"
        where = f"{KERNEL_ENV}={kernel!r}"
    else:
        where = f"kernel={kernel!r}"
    if kernel not in KERNELS:
        raise ValueError(f"{where} is not allowed; allowed: {', '.join(map(repr, KERNELS))}")
    return kernel


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view (no copy): the kernels take one tuple type whatever the inputs' flags."""
    v = a.view()
    v.flags.writeable = False
    return v


def _grid_params(params, cells: int | None = None) -> tuple[tuple[GridParam, ...], int]:
    """The kernel parameters as :class:`GridParam` (flat arrays and scalars wrapped, no copy)."""
    out = []
    for k in KERNEL_PARAMETERS:
        v = params[k]
        if not isinstance(v, GridParam):
            a = np.asarray(v, dtype=np.float64)
            if a.ndim > 1:
                a = a.ravel()
            v = GridParam(a, 1, 1) if a.size == 1 else GridParam(a, 1, a.size)
        out.append(v)
    if cells is not None:
        return tuple(out), int(cells)
    flat_sizes = {g.mod for g in out if g.div == 1 and g.mod > 1}
    if len(flat_sizes) > 1:
        raise ValueError(f"parameter arrays must be flat and of one length; got lengths {sorted(flat_sizes)}")
    n = flat_sizes.pop() if flat_sizes else 1
    if any(g.div > 1 for g in out):
        n = max(n, max(g.div * g.mod for g in out))
    return tuple(out), n


def closed_form(params, *, kernel: str | None = None, cells: int | None = None,
                input_ranges: dict | None = None) -> SteadyState:
    """Exact steady state of ``cqd`` on flat parameter arrays (see module docstring).

    ``params`` values are scalars, flat arrays of one length or
    :class:`~qtmsweep.physics.batch.GridParam` (read in place; then ``cells`` gives the grid's size).
    ``kernel``: ``"simd"`` (:mod:`.cqd_simd`, the default) or ``"reference"`` (the scalar kernel
    with libm's transcendentals); default from the environment variable ``QTMSWEEP_CQD_KERNEL``.
    Both return the same outputs, within the same per-component bounds; the simd one also fills
    the conservation residuals.  ``input_ranges``: a dict that receives, per parameter, ``(min,
    all finite)`` over the cells, from the kernel's own read of the inputs (the simd kernel; the
    reference one leaves it empty).
    """
    kernel = _kernel_choice(kernel)
    grid, n = _grid_params(params, cells)
    p = np.empty((n, 4))
    J_E = np.empty((n, 3))
    J_N = np.empty((n, 3))
    J_Q = np.empty((n, 3))
    F = np.empty((n, 3))
    sigma = np.empty(n)
    sigma_micro = np.empty(n)
    rel_err = np.empty((n, 3))
    sigma_rel_err = np.empty(n)
    cycle_flux = np.empty(n)
    outputs = (p, J_E, J_N, J_Q, F, sigma, sigma_micro, rel_err, sigma_rel_err, cycle_flux)
    res_E = res_N = None
    if kernel == "reference":
        arrays = tuple(_read_only(g.values if g.mod == 1 else g.flat(n)) for g in grid)
        stride = np.array([0 if g.mod == 1 else 1 for g in grid], dtype=np.int64)
        _cqd_kernel(arrays, stride, *outputs)
    else:
        res_E = np.empty(n)
        res_N = np.empty(n)
        flag = np.empty(n, dtype=np.uint8)
        nblocks = (n + _simd.BLOCK - 1) // _simd.BLOCK
        block_flags = np.zeros(nblocks, dtype=np.int64)
        input_key = np.empty((max(min(nblocks, get_num_threads()), 1), 12), dtype=np.int64)  # per thread
        div = np.array([g.div for g in grid], dtype=np.int64)
        mod = np.array([g.mod for g in grid], dtype=np.int64)
        _simd.cqd_simd_kernel(tuple(_read_only(g.values) for g in grid), div, mod, n,
                              *(o.reshape(-1) for o in outputs), res_E, res_N, flag, block_flags, input_key)
        if input_ranges is not None:  # NaN: some value was not finite
            lo = _simd.min_key_to_float(input_key.min(axis=0))
            input_ranges.update({name: (float(lo[k]), bool(np.isfinite(lo[k]))) for k, name in enumerate(KERNEL_PARAMETERS)})
        if block_flags.any():  # cells beyond the fast path: the reference kernel, bit for bit
            idx = _simd.flagged_cells(flag, block_flags)
            sub = tuple(np.empty((idx.size,) + o.shape[1:]) for o in outputs)
            arrays = tuple(_read_only(np.ascontiguousarray(g.at(idx))) for g in grid)
            _cqd_kernel(arrays, np.ones(12, dtype=np.int64), *sub)
            for o, so in zip(outputs, sub):
                o[idx] = so
            _simd.residuals_at(J_E, J_N, idx, res_E, res_N)
    return SteadyState(
        p=p, J_E=J_E, J_N=J_N, sigma_micro=sigma_micro, rel_err=rel_err, sigma_rel_err=sigma_rel_err,
        J_Q=J_Q, forces={"F_E_r": F[:, 0], "F_E_b": F[:, 1], "F_N_b": F[:, 2]}, sigma=sigma,
        extras={"cycle_flux": ((), cycle_flux)}, residual_E=res_E, residual_N=res_N,
    )


CQD = register(RateModel(
    name="cqd",
    description="three-terminal Coulomb-coupled quantum dots, spin polarised (000; 001 §IX–X)",
    states=STATES,
    leads=LEADS,
    parameters=PARAMETERS,
    state_energies=state_energies,
    transitions=TRANSITIONS,
    lead_rates=lead_rates,
    rate_deviation=lambda lead, omega, params, T0, mu0: _DEVIATION[lead](omega, params, T0, mu0),
    lead_reservoir={lead: (f"T_{lead}", f"mu_{lead}") for lead in LEADS},
    forces=forces,
    force_flux=FORCE_FLUX,
    state_particles=(0, 1, 1, 2),
    closed_form=closed_form,
    normalize=normalize,
    reference="000 (Ghosh, Gupt, Ghosh), 001 §IX–X",
    extra_outputs={"cycle_flux": OutputVariable("1/time", "cycle flux Gamma_cyc (A->B->D->C->A), 000 Eq. 21")},
    grid_params=True,
    cell_bytes=320,  # measured peak ~200 B/cell: the fused kernel and its outputs
))
