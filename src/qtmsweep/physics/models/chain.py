"""``chain``: boundary-driven chain of qubits or oscillators, a thermal rectifier (SPEC §2; 004).

``N`` identical sites of frequency ``omega`` with nearest-neighbour exchange
``H = Σ_j omega s_j† s_j + g Σ_j (s_j† s_{j+1} + h.c.)``; site 1 is coupled to bosonic bath
``L`` (``T_L``, ``gamma_L``), site N to bosonic bath ``R``.  ``stat = qubit`` (``s = σ⁻``) or
``boson`` (``s = a``).  Flat (Markovian) baths as in 004 Eq. 2: emission ``γ(1 + n)``,
absorption ``γ n``, ``n = 1/(e^{ω/T} − 1)``.

Approaches
----------
``local`` (004 Eq. 2, any N): dissipators ``γ_λ(1+n_λ) D[s_j] + γ_λ n_λ D[s_j†]`` on the
boundary sites at the bare frequency.  Heat currents are 004 Eq. 4's
``Q_λ = Tr[H_0 D_λ ρ]`` with the bare ``H_0 = omega Σ s_j† s_j`` (conserved here since all
sites are resonant); ``J_E_full`` is ``Tr[H D_λ ρ]`` with the exchange term.
``global`` (004 Eq. 20, N = 2, 0 ≤ g < omega): secular dissipators between the eigenstates of
``H`` (normal modes ``ω± = omega ± g``, each coupled to both baths with half the rate);
currents ``Tr[H D_λ ρ]``.

Methods
-------
``correlation`` (default): the two-point matrix ``C_ij = ⟨s_i† s_j⟩`` solves a Lyapunov
equation (:func:`~qtmsweep.physics.lindblad.lyapunov_steady_state`).  This is exact for
oscillators (quadratic model) and, for the qubit XX chain damped at its ends, exact too:
after Jordan–Wigner ``σ₁⁻ = c₁`` and ``σ_N⁻ = P c_N`` with ``P`` the parity of sites < N, and
``D†[P c_N]`` acts on every quadratic operator as ``D†[c_N]`` does, so the two-point
equations are those of free fermions.  Any N (batched for N ≤ 16, per cell beyond).
In the global approach the two modes are independent and the result is explicit.
``lindblad`` (qubits only): the density matrix from the batched Liouvillian on the
excitation-number sector (``C(2N, N)`` entries: N ≤ 6); the independent cross-check.

Outputs beyond SPEC §4: ``occupation(site)`` ``⟨s_j† s_j⟩`` (the chain has no finite state
list for oscillators, so it carries no ``p(state)``), ``coherence_re/_im`` of
``⟨s_1 s_2†⟩`` (NaN for N = 1), ``J_SS_paper = J_Q[L] − J_Q[R]`` (004's printed
``J_SS = Q_L − Q_R``, twice the current from L at steady state), ``J_E_full``, ``sigma_full``,
``second_law_violated``, and in the global approach ``secular_ratio`` (``2g`` over the largest
rate, :func:`global_secular_ratio`; the global equation needs it ≫ 1).  Force: ``F_E_L = 1/T_R − 1/T_L`` conjugate to ``J_Q[L]``
(reference bath R).  Paired forward/reverse evaluations give the rectification contrast
and linear conductance (:mod:`qtmsweep.thermo.pairs`); the alias ``T, dT``
(``T_L, T_R = T ± dT/2``, :func:`normalize`) puts such pairs on one grid.

Examples
--------
004 Eq. 5–7 (local, two qubits): ``J_SS = α J_SS^(1)``.

>>> import numpy as np, qtmsweep
>>> ds = qtmsweep.solve("chain", N=2, stat="qubit", approach="local", omega=1.0, g=0.01,
...                     T_L=1.0, T_R=0.5, gamma_L=0.01, gamma_R=0.02)
>>> nL, nR = 1 / np.expm1(1 / 1.0), 1 / np.expm1(1 / 0.5)
>>> J1 = 2 * 0.01 * 0.02 * (nL - nR) / (0.01 * (1 + 2 * nL) + 0.02 * (1 + 2 * nR))
>>> alpha = 1 / (1 + 0.01 * 0.02 / (4 * 0.01**2) * (1 + 2 * nL) * (1 + 2 * nR))
>>> bool(np.isclose(float(ds.J_SS_paper), alpha * J1, rtol=1e-12))
True
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from ..batch import batch_size
from ..batch import flat_param as _arr
from ..baths import bose
from ..lindblad import (
    LindbladModel,
    current_functionals,
    lindblad_error_bound,
    lindblad_currents,
    lindblad_current_terms,
    lindblad_steady_state,
    lyapunov_steady_state,
    secular_rates,
)
from ..model import OutputVariable, Parameter, SteadyState
from ..precision import heat_entropy_bounds, relative_bound
from ..registry import register
from ..secular import mode_secular_ratio

LEADS = ("L", "R")
STRUCTURAL = ("N", "stat", "approach", "n_max")
_EPS = np.finfo(float).eps

PARAMETERS = (
    Parameter("omega", "energy", "site frequency (identical sites; > 0)", 1.0),
    Parameter("g", "coupling", "nearest-neighbour exchange g (s_j^+ s_{j+1} + h.c.)", 0.01),
    Parameter("T_L", "temperature", "temperature of bath L (on site 1)", 1.0),
    Parameter("T_R", "temperature", "temperature of bath R (on site N)", 0.5),
    Parameter("gamma_L", "rate", "coupling rate of bath L", 0.01),
    Parameter("gamma_R", "rate", "coupling rate of bath R", 0.02),
    Parameter("N", "integer", "number of sites", 2, minimum=1),
    Parameter("stat", "choice", "site statistics", "qubit", choices=("qubit", "boson")),
    Parameter("approach", "choice", "master equation: local (004 Eq. 2) or global (004 Eq. 20, N = 2)", "local",
              choices=("local", "global")),
    Parameter("n_max", "integer", "counting statistics of oscillator chains (stat='boson', cumulants=2|3) only: "
              "largest total number of quanta kept in the truncated Fock space", 6, minimum=1, optional=True),
)


# -- qubit operators for the density-matrix route ---------------------------------------
@lru_cache(maxsize=16)
def qubit_operators(N: int):
    """``(s_j for j in sites, charges)`` on ``2^N`` states, site 1 the most significant factor.

    Basis state ``k`` has site ``j`` excited when bit ``N − 1 − j`` of ``k`` is set;
    ``s_j = |0⟩⟨1|`` on site j.
    """
    sm = np.array([[0.0, 1.0], [0.0, 0.0]])
    ops = []
    for j in range(N):
        m = np.ones((1, 1))
        for k in range(N):
            m = np.kron(m, sm if k == j else np.eye(2))
        ops.append(m.astype(complex))
    charges = tuple(bin(k).count("1") for k in range(2**N))
    return tuple(ops), charges


def _check(params: Mapping[str, Any], n: int, N: int, approach: str) -> None:
    omega = _arr(params, "omega", n)
    if np.any(~(omega > 0)):
        bad = float(omega[~(omega > 0)][0])
        raise ValueError(f"omega={bad!r} is not allowed; allowed: a finite number > 0")
    if approach == "global":
        if N != 2:
            raise ValueError(f"approach='global' is implemented for N = 2 (004 Eq. 20–22); got N={N}")
        g = _arr(params, "g", n)
        if np.any(~(g < omega)):
            raise ValueError("approach='global' needs 0 <= g < omega (both normal modes at positive frequency)")


def constraints(params: Mapping[str, Any]) -> None:
    """The chain's constraints between parameters (:attr:`~qtmsweep.physics.lindblad.LindbladModel.constraints`).

    ``approach='global'`` (004 Eq. 20–22) is the secular equation on the eigenbasis of the two-site
    ``H``: ``N = 2``, and both normal modes ``omega ± g`` at a positive frequency, ``g < omega``
    (at ``g >= omega`` the mode ``omega − g`` is not, and the eigenbasis the global dissipators are
    built on is not that of a bath-driven excitation any more).

    >>> constraints({"approach": "global", "N": 2, "omega": np.array([1.0, 1.0]), "g": np.array([0.5, 1.5])})
    Traceback (most recent call last):
    ...
    ValueError: g=1.5 is not allowed with approach='global' at omega=1.0; allowed: 0 <= g < omega (the normal modes omega +- g must both be at a positive frequency)
    """
    if params.get("approach", "local") != "global":
        return
    N = int(params.get("N", 2))
    if N != 2:
        raise ValueError(f"N={N} is not allowed with approach='global'; allowed: N = 2 (004 Eq. 20–22); "
                         "for longer chains use approach='local'")
    omega = np.asarray(params["omega"], dtype=float)
    g = np.asarray(params["g"], dtype=float)
    bad = ~(g < omega)
    if np.any(bad):
        g_b, o_b = np.broadcast_arrays(g, omega)
        i = np.flatnonzero(np.broadcast_to(bad, g_b.shape))[0]
        raise ValueError(f"g={float(g_b.flat[i])!r} is not allowed with approach='global' at omega="
                         f"{float(o_b.flat[i])!r}; allowed: 0 <= g < omega (the normal modes omega +- g must both "
                         "be at a positive frequency)")


def memory_estimate(structural: Mapping[str, Any], method: str) -> tuple[int, str]:
    """Bytes of the solve of one cell (:attr:`~qtmsweep.physics.lindblad.LindbladModel.memory_estimate`).

    ``lindblad``: the Liouvillian is assembled on all ``4^N`` entries of ``rho`` (``16 · 16^N`` bytes)
    before its excitation-number sector is solved, about four copies (measured 3.4 x at N = 4, 5, 6).
    ``correlation``: the Kronecker systems, ``16 N⁴`` bytes per cell in sub-batches, for ``N <= 16``;
    beyond, Bartels–Stewart on ``N x N`` matrices, measured ~185 ``N²`` bytes for one cell.
    """
    from math import comb

    N = int(structural.get("N", 2))
    if method == "lindblad":
        what = (f"the Liouvillian of {N} qubits on all 4^N = {4**N} entries of rho, 16 * 16^N bytes, about four "
                f"copies, before its sector of C(2N, N) = {comb(2 * N, N)} entries is solved; method 'lindblad' is "
                "the small-N cross-check: use method 'correlation' (the default), exact for any N")
        return 64 * 16**N + 64 * comb(2 * N, N) ** 2, what
    if N <= 16:
        return 16 * 48 * N**4 + 4096, "the Kronecker systems of the two-point equations, 16 N^4 bytes per cell"
    what = (f"the {N} x {N} two-point matrices of the Bartels-Stewart solve, ~256 N^2 bytes; lower N "
            "(the memory grows as N^2)")
    return 256 * N * N, what


def _cell_bytes(structural: Mapping[str, Any]) -> int:
    """Working memory per cell of a chunk: measured ~1.1, 2.1, 4.1, 8.4 kB at N = 2, 4, 8, 12 (sub-batched
    Kronecker systems); beyond N = 16 every cell of the chunk holds its N x N matrices at once
    (measured ~66 N² bytes per added cell at N = 200)."""
    N = int(structural.get("N", 2))
    return 1024 + 640 * N + (80 * N * N if N > 16 else 0)


def _rates(params, n):
    omega = _arr(params, "omega", n)
    out = {}
    for lead in LEADS:
        nb = bose(omega, _arr(params, f"T_{lead}", n))
        gam = _arr(params, f"gamma_{lead}", n)
        out[lead] = (gam * (1.0 + nb), gam * nb)  # (loss, gain)
    return out


def _occupation_difference(w, T_a, T_b, fermionic):
    """``c(T_a) − c(T_b)`` of the equilibrium site occupation (Bose ``n`` for oscillators,
    ``n/(1+2n) = 1/(e^{ω/T} + 1)`` for qubits), without cancellation when ``T_a ≈ T_b``."""
    a, b = w / T_a, w / T_b
    d = w * (T_a - T_b) / (T_a * T_b)  # b - a, from the input difference
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if fermionic:  # f(a) - f(b) = expm1(b - a) f(b) f(-a)
            fa, fb = 1 / (np.exp(a) + 1), 1 / (np.exp(b) + 1)
            near = fb * (1 / (np.exp(-a) + 1)) * np.expm1(d)
            far = fa - fb
        else:  # n(a) - n(b) = expm1(b - a) n(b) / (1 - e^{-a})
            na, nb_ = bose(w, T_a), bose(w, T_b)
            near = np.expm1(d) * nb_ / (-np.expm1(-a))
            far = na - nb_
    return np.where(np.abs(d) < 1.0, near, far)


def _local_correlation(params, n, N, fermionic):
    """Two-point solution written as ``C = c_L I + δC``: ``c_L`` (the occupation bath L alone
    would give) solves the equations exactly when both baths agree, and ``δC`` is driven by
    ``Γ_R (c_R − c_L)`` on site N only, so the currents are never a difference of large numbers:
    ``J_L = −ω Γ_L δC_11``, ``J_R = ω Γ_R (c_R − c_L − δC_NN)``."""
    omega, g = _arr(params, "omega", n), _arr(params, "g", n)
    T_L, T_R = _arr(params, "T_L", n), _arr(params, "T_R", n)
    h = np.zeros((n, N, N))
    if N > 1:
        h[:, range(N - 1), range(1, N)] = g[:, None]
        h[:, range(1, N), range(N - 1)] = g[:, None]
    r = _rates(params, n)
    loss, gain = np.zeros((n, N)), np.zeros((n, N))
    loss[:, 0] += r["L"][0]
    gain[:, 0] += r["L"][1]
    loss[:, -1] += r["R"][0]
    gain[:, -1] += r["R"][1]
    Gam = {lead: (r[lead][0] + r[lead][1]) if fermionic else r[lead][0] - r[lead][1] for lead in LEADS}
    c_L = r["L"][1] / Gam["L"]
    dc = _occupation_difference(omega, T_R, T_L, fermionic)  # c_R - c_L
    source = np.zeros((n, N))
    source[:, -1] = Gam["R"] * dc
    dC = lyapunov_steady_state(h, loss, gain, fermionic, source=source)
    C = dC + c_L[:, None, None] * np.eye(N)
    J, J_full, gross = np.zeros((n, 2)), np.zeros((n, 2)), np.zeros((n, 2))
    J[:, 0] = -omega * Gam["L"] * dC[:, 0, 0].real
    J[:, 1] = omega * Gam["R"] * (dc - dC[:, -1, -1].real)
    gross[:, 0] = np.abs(J[:, 0])
    gross[:, 1] = omega * Gam["R"] * (np.abs(dc) + np.abs(dC[:, -1, -1].real))
    J_full[:] = J
    if N > 1:
        J_full[:, 0] -= g * Gam["L"] * dC[:, 0, 1].real
        J_full[:, 1] -= g * Gam["R"] * dC[:, -1, -2].real
    return C, J, J_full, gross


def _global_correlation(params, n, fermionic):
    """Two independent normal modes ``ω± = omega ± g``, each on both baths with half the rate:
    occupation ``N± = (P_L + P_R)/(Γ_L + Γ_R)`` and ``J_L = ω± (γ_L γ_R/4)(n_L − n_R)/(Γ_L + Γ_R)``
    (the identity ``P_L Γ_R − P_R Γ_L = (γ_L γ_R/4)(n_L − n_R)`` holds for both statistics),
    ``J_R = −J_L`` per mode."""
    omega, g = _arr(params, "omega", n), _arr(params, "g", n)
    T_L, T_R = _arr(params, "T_L", n), _arr(params, "T_R", n)
    gL, gR = 0.5 * _arr(params, "gamma_L", n), 0.5 * _arr(params, "gamma_R", n)  # |<0|s_j|±>|^2 = 1/2
    J, gross = np.zeros((n, 2)), np.zeros((n, 2))
    occ = []
    for w in (omega + g, omega - g):
        nL, nR = bose(w, T_L), bose(w, T_R)
        GL, GR = (gL * (1 + 2 * nL), gR * (1 + 2 * nR)) if fermionic else (gL, gR)
        occ.append((gL * nL + gR * nR) / (GL + GR))
        jl = w * gL * gR * _occupation_difference(w, T_L, T_R, False) / (GL + GR)
        J[:, 0] += jl
        J[:, 1] -= jl
        gross += np.abs(jl)[:, None]
    Np, Nm = occ
    C = np.empty((n, 2, 2), dtype=complex)
    C[:, 0, 0] = C[:, 1, 1] = 0.5 * (Np + Nm)
    C[:, 0, 1] = C[:, 1, 0] = 0.5 * (Np - Nm)
    return C, J, J.copy(), gross


def _two_point_from_rho(rho, ops):
    N = len(ops)
    n = rho.shape[0]
    C = np.zeros((n, N, N), dtype=complex)
    for i in range(N):
        for j in range(N):
            if i == j or abs(i - j) == 1:
                O = ops[i].conj().T @ ops[j]
                C[:, i, j] = np.einsum("nab,ba->n", rho, O)
    return C


def _local_lindblad(params, n, N):
    ops, charges = qubit_operators(N)
    omega, g = _arr(params, "omega", n), _arr(params, "g", n)
    H0 = sum(o.conj().T @ o for o in ops)
    terms = [(omega, H0)]
    if N > 1:
        Hx = sum(ops[j].conj().T @ ops[j + 1] + ops[j + 1].conj().T @ ops[j] for j in range(N - 1))
        terms.append((g, Hx))
    r = _rates(params, n)
    jumps = [(r["L"][0], ops[0], 0), (r["L"][1], ops[0].conj().T, 0),
             (r["R"][0], ops[-1], 1), (r["R"][1], ops[-1].conj().T, 1)]
    G = current_functionals(jumps, terms[:1], 2, n, 2**N)
    rho, sens = lindblad_steady_state(terms, jumps, d=2**N, charges=charges, sensitivity=G)
    J_terms, gross_terms = lindblad_current_terms(rho, jumps, terms, n_baths=2)  # H_0 and H from one pass
    J, gross = J_terms[..., 0], gross_terms[..., 0]
    J_full = J_terms.sum(axis=-1) if len(terms) > 1 else J.copy()
    D = len([1 for a in charges for b in charges if a == b])
    return _two_point_from_rho(rho, ops), J, J_full, gross, lindblad_error_bound(sens, 0 * gross, D)


def _global_lindblad(params, n):
    ops, charges = qubit_operators(2)
    omega, g = _arr(params, "omega", n), _arr(params, "g", n)
    # eigenbasis 0 = |00>, + = (|01> + |10>)/sqrt2, - = (|01> - |10>)/sqrt2, 2 = |11>  (basis index 2 b1 + b2)
    V0 = np.zeros((4, 4))
    V0[0, 0] = V0[3, 3] = 1.0
    V0[1, 1] = V0[2, 1] = V0[1, 2] = 2**-0.5
    V0[2, 2] = -(2**-0.5)
    V = np.broadcast_to(V0, (n, 4, 4))
    E = np.stack([np.zeros(n), omega + g, omega - g, 2 * omega], axis=-1)

    def spectrum(lead):
        T, gam = _arr(params, f"T_{lead}", n), _arr(params, f"gamma_{lead}", n)

        def f(w):
            nb = bose(w, T[:, None, None])
            return gam[:, None, None] * nb, gam[:, None, None] * (1 + nb)
        return f

    X = [ops[0] + ops[0].conj().T, ops[1] + ops[1].conj().T]
    rates, _ = secular_rates(E, V, X, [spectrum("L"), spectrum("R")])
    eig_charges = (0, 1, 1, 2)
    proj = [np.outer(np.eye(4)[j], np.eye(4)[i]).astype(complex) for i in range(4) for j in range(4)]
    jumps = [(rates[b, :, j, i], proj[4 * i + j], b)
             for b in range(2) for i in range(4) for j in range(4) if eig_charges[i] != eig_charges[j]]
    diagE = [(E[:, k], proj[5 * k]) for k in range(4)]
    G = current_functionals(jumps, diagE, 2, n, 4)
    rho_eig, sens = lindblad_steady_state(diagE, jumps, d=4, charges=eig_charges, sensitivity=G)
    J, gross = lindblad_currents(rho_eig, jumps, diagE, n_baths=2)
    rho = V0 @ rho_eig @ V0.T
    return _two_point_from_rho(rho, ops), J, J.copy(), gross, lindblad_error_bound(sens, 0 * gross, 6)


def global_secular_ratio(params: Mapping[str, Any], n: int, fermionic: bool) -> np.ndarray:
    """Secular-approximation measure of the global approach (:mod:`qtmsweep.physics.secular`).

    The Bohr frequencies are ``ω ± g``: both baths drive ``0 → ±`` (and ``± → 2``), so the
    splitting is ``2g``.  Qubits: over the largest escape rate of the eigenstates ``0, +, −, 2``,
    that of ``|2⟩``, ``Σ_λ (γ_λ/2)(2 + n_λ(ω+) + n_λ(ω−))`` (the rates of :func:`_global_lindblad`).
    Oscillators: over the largest normal-mode damping ``Σ_λ (γ_λ/2)(1 + 2 n_λ(ω±))`` (loss plus
    gain, as for the qubit modes).
    """
    omega, g = _arr(params, "omega", n), _arr(params, "g", n)
    w = (omega + g, omega - g)
    occ = {lead: tuple(bose(x, _arr(params, f"T_{lead}", n)) for x in w) for lead in LEADS}
    half = {lead: 0.5 * _arr(params, f"gamma_{lead}", n) for lead in LEADS}
    if not fermionic:
        return mode_secular_ratio(w[0], w[1], [tuple(half[lead] * (1 + 2 * nb) for nb in occ[lead]) for lead in LEADS])
    width = sum(half[lead] * (2 + occ[lead][0] + occ[lead][1]) for lead in LEADS)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((g > 0) & (width > 0), 2 * g / width, np.inf)


def evaluate(params: Mapping[str, Any], method: str) -> SteadyState:
    N = int(params.get("N", 2))
    stat = params.get("stat", "qubit")
    approach = params.get("approach", "local")
    numeric = {k: v for k, v in params.items() if k not in STRUCTURAL}
    n = batch_size(numeric)
    _check(numeric, n, N, approach)
    fermionic = stat == "qubit"
    solve_err = 0.0
    if method == "correlation":
        if approach == "local":
            C, J, J_full, gross = _local_correlation(numeric, n, N, fermionic)
        else:
            C, J, J_full, gross = _global_correlation(numeric, n, fermionic)
    elif method == "lindblad":
        if stat != "qubit":
            raise ValueError("method='lindblad' needs a finite Hilbert space: stat='qubit'; "
                             "oscillator chains are solved exactly by method='correlation'")
        if approach == "local":
            C, J, J_full, gross, solve_err = _local_lindblad(numeric, n, N)
        else:
            C, J, J_full, gross, solve_err = _global_lindblad(numeric, n)
    else:
        raise ValueError(f"method={method!r} is not known for chain; allowed: 'auto', 'correlation', 'lindblad'")
    T = np.stack([_arr(numeric, f"T_{lead}", n) for lead in LEADS], axis=-1)
    # rounding of the currents' terms, and the rates' relative error (x = omega/T rounded, in n(x))
    omega = _arr(numeric, "omega", n)
    rate_err = _EPS * (8 + 3 * (omega + _arr(numeric, "g", n)) / T.min(axis=1))
    # solve_err is (4 D² + 16) ε times the sensitivity; the rates add 2 ρ times it (γ ≥ 32 ε)
    err = (16 * _EPS + 6 * rate_err[:, None]) * gross + solve_err * (1 + rate_err[:, None] / (16 * _EPS))
    sigma, sigma_rel_err, bad = heat_entropy_bounds(J, T, err, ref=1)
    if J_full is J or np.array_equal(J_full, J):  # global approach: the same currents
        sigma_full, bad_full = sigma, bad
    else:
        sigma_full, _, bad_full = heat_entropy_bounds(J_full, T, err, ref=1)
    if N >= 2:
        coh = C[:, 1, 0]  # <s_1 s_2^dagger> = <s_2^dagger s_1> = C_21 (bosons; qubits after Jordan–Wigner)
    else:
        coh = np.full(n, np.nan + 0j)
    rel_err = relative_bound(err, J)
    extras = {
        "occupation": (("site",), np.real(C[:, range(N), range(N)]).copy()),
        "coherence_re": ((), coh.real.copy()),
        "coherence_im": ((), coh.imag.copy()),
        "J_SS_paper": ((), J[:, 0] - J[:, 1]),
        "J_E_full": (("lead",), J_full),
        "sigma_full": ((), sigma_full),
        "second_law_violated": ((), bad | bad_full),
    }
    if approach == "global":
        extras["secular_ratio"] = ((), global_secular_ratio(numeric, n, fermionic))
    return SteadyState(p=None, J_E=J, J_N=None, J_Q=J.copy(), sigma=sigma, rel_err=rel_err,
                       sigma_rel_err=sigma_rel_err, extras=extras)


def normalize(params: dict) -> dict:
    """Alias ``T, dT`` (both or neither, instead of ``T_L, T_R``): ``T_L = T + dT/2``, ``T_R = T − dT/2``.

    A sweep whose ``dT`` axis holds ``±δ`` contains forward/reverse pairs about each ``T``
    for :func:`qtmsweep.thermo.pairs.linear_conductance` (004's ``ΔT = T_L − T_R``).

    >>> normalize({"T": 1.0, "dT": 0.1, "g": 0.1})
    {'g': 0.1, 'T_L': 1.05, 'T_R': 0.95}
    """
    params = dict(params)
    if "T" in params or "dT" in params:
        clash = [k for k in ("T_L", "T_R") if k in params]
        if clash:
            raise ValueError(f"give either T, dT or the temperatures T_L, T_R, not both ({clash[0]} given)")
        if "T" not in params or "dT" not in params:
            raise ValueError("T and dT must be given together (T_L = T + dT/2, T_R = T - dT/2)")
        T, dT = params.pop("T"), params.pop("dT")
        params.update(T_L=T + 0.5 * dT, T_R=T - 0.5 * dT)
    return params


def forces(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``F_E_L = 1/T_R − 1/T_L`` (reference bath R), conjugate to ``J_Q[L]``."""
    T_L, T_R = (np.asarray(params[k], dtype=float) for k in ("T_L", "T_R"))
    return {"F_E_L": (T_L - T_R) / (T_L * T_R)}


EXTRA_OUTPUTS = {
    "occupation": OutputVariable("1", "site occupation <s_j^dagger s_j> (j = site index, 0 = the site on bath L)"),
    "coherence_re": OutputVariable("1", "Re <s_1 s_2^dagger> (coherence between the first two sites)"),
    "coherence_im": OutputVariable("1", "Im <s_1 s_2^dagger>; 004: Im = J_SS_paper/(4 g omega) in the local approach"),
    "J_SS_paper": OutputVariable("energy/time", "004's heat current J_SS = Q_L - Q_R = J_Q[L] - J_Q[R] "
                                                "(twice the current from L at steady state)"),
    "J_E_full": OutputVariable("energy/time", "Tr[H D_lambda(rho)] with the full chain Hamiltonian "
                                              "(equals J_E in the global approach)"),
    "sigma_full": OutputVariable("1/time", "-sum_lambda J_E_full[lambda]/T_lambda"),
    "second_law_violated": OutputVariable("1", "True where sigma or sigma_full < -tolerance (reported, not hidden)"),
    "secular_ratio": OutputVariable("1", "global approach: Bohr-frequency splitting 2g / largest escape (qubits) or "
                                         "mode damping (oscillators) rate (qtmsweep.physics.secular); the secular "
                                         "approximation needs >> 1, the sweep warns below 10"),
}

CHAIN = register(LindbladModel(
    name="chain",
    description="boundary-driven chain of N qubits or oscillators between bosonic baths L, R (004)",
    states=(),
    leads=LEADS,
    parameters=PARAMETERS,
    evaluate=evaluate,
    methods=("correlation", "lindblad"),
    auto_method="correlation",
    aliases={"linear": "lindblad"},
    lead_reservoir={lead: (f"T_{lead}", None) for lead in LEADS},
    forces=forces,
    force_flux={"F_E_L": ("J_Q", "L")},
    extra_outputs=EXTRA_OUTPUTS,
    normalize=normalize,
    constraints=constraints,
    memory_estimate=memory_estimate,
    dim_labels=lambda structural: {"site": (np.arange(int(structural.get("N", 2))), {
        "units": "1", "long_name": "site index j (0: the site on bath L, N - 1: the site on bath R)"})},
    reference="004 (Santiago-García et al.) Eqs. 2–7, 18–22",
    # measured ~1.1, 2.1, 4.1 and 8.4 kB/cell at N = 2, 4, 8 and 12 (4e4 cells; the correlation
    # solver's fixed sub-batch buffers come on top, see SOLVER_BUFFER_BYTES)
    cell_bytes=_cell_bytes,
))


#: Largest chain the counting statistics accept (local approach, Liouvillian sector C(2N, N)).
MAX_COUNTING_SITES = 5
#: Largest number-sector dimension of a truncated oscillator chain's Liouvillian (dense, per cell).
MAX_BOSON_SECTOR = 500


@lru_cache(maxsize=16)
def boson_basis(N: int, n_max: int):
    """Fock states of ``N`` oscillators with at most ``n_max`` quanta in total: ``(states, a_j ops, charges)``.

    ``states`` are tuples ``(n_1, …, n_N)`` ordered by total number; ``a_j`` is the annihilator of
    site ``j`` on this space (``a_j† `` at the cap gives 0: the truncated creation operator).
    """
    from itertools import product

    states = sorted((s for s in product(range(n_max + 1), repeat=N) if sum(s) <= n_max), key=lambda s: (sum(s), s))
    index = {s: k for k, s in enumerate(states)}
    d = len(states)
    ops = []
    for j in range(N):
        a = np.zeros((d, d), dtype=complex)
        for k, st in enumerate(states):
            if st[j] > 0:
                lower = st[:j] + (st[j] - 1,) + st[j + 1:]
                a[index[lower], k] = np.sqrt(st[j])
        ops.append(a)
    return tuple(states), tuple(ops), tuple(sum(st) for st in states)


def boson_sector_size(N: int, n_max: int) -> int:
    """Dimension of the number sector (``Σ_q (states with q quanta)²``) of :func:`boson_basis`."""
    from math import comb

    return sum(comb(q + N - 1, N - 1) ** 2 for q in range(n_max + 1))


def check_boson_counting(N: int, n_max: int, approach: str, limit: int = MAX_BOSON_SECTOR) -> None:
    """Refuse an oscillator chain too large for the dense truncated Liouvillian, naming ``n_max``
    (the truncation estimate solves ``n_max + 1`` too, about twice the size: the generator itself
    accepts up to ``3 limit``)."""
    if approach == "local" and boson_sector_size(N, n_max) > limit:
        ok = max((m for m in range(1, 40) if boson_sector_size(N, m) <= limit), default=0)
        raise ValueError(f"n_max={n_max} is too large for counting statistics of the local oscillator chain "
                         f"with N={N} (its number sector has {boson_sector_size(N, n_max)} > {limit} "
                         f"entries); allowed: n_max <= {ok} for N = {N}")


def generator(params: Mapping[str, Any]):
    """Counting generator (:mod:`qtmsweep.physics.counting`) of the chain.

    Qubits, local (N ≤ :data:`MAX_COUNTING_SITES`): the Liouvillian of :func:`_local_lindblad` on the
    excitation-number sector, jumps ``s_1, s_1†`` (bath L) and ``s_N, s_N†`` (bath R) counted with
    the bare energy ``∓omega`` (004 Eq. 4's heat).  Global (N = 2): the secular jumps of
    :func:`_global_lindblad`.  Oscillators (``stat="boson"``): the same jumps on the Fock space with
    at most ``n_max`` quanta in total (:func:`boson_basis`); local: the truncated Liouvillian on the
    number sector; global (N = 2): the two normal modes ``ω± = omega ± g`` each on both baths with
    half the rate, a classical rate process on the states ``(n₊, n₋)`` (secular ME of a harmonic
    mode: ``a±`` map number states to number states).
    """
    from ..counting import dlnr_dx
    from ..generator import lindblad_generator, sector_lindblad_generator, secular_generator
    from .. import registry

    N = int(params.get("N", 2))
    stat = params.get("stat", "qubit")
    approach = params.get("approach", "local")
    n_max = int(params.get("n_max", 6))
    numeric = {k: v for k, v in params.items() if k not in STRUCTURAL}
    n = batch_size(numeric)
    _check(numeric, n, N, approach)
    model = registry.get_model("chain")
    omega, g = _arr(numeric, "omega", n), _arr(numeric, "g", n)
    if stat == "boson":
        check_boson_counting(N, n_max, approach, limit=3 * MAX_BOSON_SECTOR)
        if approach == "local":
            states, ops, charges = boson_basis(N, n_max)
        else:
            states, ops, charges = boson_basis(2, n_max)  # normal-mode number states (n+, n-)
    elif approach == "local":
        if N > MAX_COUNTING_SITES:
            raise ValueError(f"N={N} is too large for counting statistics of the local chain; allowed: "
                             f"N <= {MAX_COUNTING_SITES} (Liouvillian sector C(2N, N))")
        ops, charges = qubit_operators(N)
    if approach == "local":
        terms = [(omega, sum(o.conj().T @ o for o in ops))]
        if N > 1:
            terms.append((g, sum(ops[j].conj().T @ ops[j + 1] + ops[j + 1].conj().T @ ops[j] for j in range(N - 1))))
        r = _rates(numeric, n)
        jumps, energy, incoming, dl = [], [], [], []
        for b, (lead, site) in enumerate((("L", ops[0]), ("R", ops[-1]))):
            loss, gain = r[lead]
            lr = -omega / _arr(numeric, f"T_{lead}", n)
            jumps += [(gain, site.conj().T, b), (loss, site, b)]
            energy += [omega, -omega]
            incoming += [True, False]
            dl += [dlnr_dx(gain, loss, lr, True, False), dlnr_dx(loss, gain, lr, False, False)]
        notes = {"classical": (g == 0) | (N == 1)}
        if stat == "boson":
            notes["approach"] = f"local, oscillators truncated to n_max={n_max} quanta (Liouvillian on the number sector)"
            return sector_lindblad_generator(model, numeric, terms, jumps, len(charges), charges,
                                             np.stack(energy, axis=1), incoming, np.stack(dl, axis=1), notes=notes)
        gen = lindblad_generator(model, numeric, terms, jumps, 2**N, charges, np.stack(energy, axis=1),
                                 incoming, np.stack(dl, axis=1))
        gen.notes.update(notes, approach="local (Liouvillian route)")
        return gen
    if stat == "boson":
        index = {st: k for k, st in enumerate(states)}
        jumps, energy, incoming, dl = [], [], [], []
        for b, lead in enumerate(LEADS):
            T, gam = _arr(numeric, f"T_{lead}", n), 0.5 * _arr(numeric, f"gamma_{lead}", n)
            for mode, w in enumerate((omega + g, omega - g)):
                nb = bose(w, T)
                lr = -w / T
                for st in states:
                    if sum(st) < n_max:
                        up = st[:mode] + (st[mode] + 1,) + st[mode + 1:]
                        m = up[mode]  # |<n+1|a†|n>|² = n + 1
                        k_up, k_down = m * gam * nb, m * gam * (1 + nb)
                        jumps += [(k_up, (index[up], index[st]), b), (k_down, (index[st], index[up]), b)]
                        energy += [w, -w]
                        incoming += [True, False]
                        dl += [dlnr_dx(k_up, k_down, lr, True, False), dlnr_dx(k_down, k_up, lr, False, False)]
        gen = secular_generator(model, numeric, jumps, len(states), np.stack(energy, axis=1), incoming,
                                np.stack(dl, axis=1))
        gen.notes["approach"] = f"global (secular rate process of the normal modes, n_max={n_max} quanta)"
        return gen
    E = np.stack([np.zeros(n), omega + g, omega - g, 2 * omega], axis=-1)
    V0 = np.zeros((4, 4))
    V0[0, 0] = V0[3, 3] = 1.0
    V0[1, 1] = V0[2, 1] = V0[1, 2] = 2**-0.5
    V0[2, 2] = -(2**-0.5)
    ops, _ = qubit_operators(2)

    def spectrum(lead):
        T, gam = _arr(numeric, f"T_{lead}", n), _arr(numeric, f"gamma_{lead}", n)

        def f(w):
            nb = bose(w, T[:, None, None])
            return gam[:, None, None] * nb, gam[:, None, None] * (1 + nb)
        return f

    X = [ops[0] + ops[0].conj().T, ops[1] + ops[1].conj().T]
    rates, om = secular_rates(E, np.broadcast_to(V0, (n, 4, 4)), X, [spectrum("L"), spectrum("R")])
    q = (0, 1, 1, 2)
    from ..generator import secular_generator

    jumps, energy, incoming, dl = [], [], [], []
    for b, lead in enumerate(LEADS):
        T = _arr(numeric, f"T_{lead}", n)
        for i in range(4):
            for j in range(4):
                if q[j] > q[i]:
                    w = om[:, j, i]
                    up, down = rates[b, :, j, i], rates[b, :, i, j]
                    lr = -w / T
                    jumps += [(up, (j, i), b), (down, (i, j), b)]
                    energy += [w, -w]
                    incoming += [True, False]
                    dl += [dlnr_dx(up, down, lr, True, False), dlnr_dx(down, up, lr, False, False)]
    return secular_generator(model, numeric, jumps, 4, np.stack(energy, axis=1), incoming, np.stack(dl, axis=1))
