"""Independent reference solvers used only by the tests.

``mp_pauli_cqd`` solves the cqd rate equations with mpmath at 60 significant
digits: rates from the Fermi function written out directly, rate matrix from
the transition list of SPEC §2, a dense high-precision linear solve, and the
currents from edge fluxes.  It shares no code with the package.
"""

from __future__ import annotations

import functools

import mpmath as mp

mp.mp.dps = 60


def _at_least_60_digits(fn):
    """Run a reference at >= 60 digits whatever another test left in mpmath's global context."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with mp.workdps(max(60, mp.mp.dps)):
            return fn(*args, **kwargs)
    return wrapper


def _fermi(x):
    return 1 / (1 + mp.e ** x)


@_at_least_60_digits
def mp_pauli_cqd(p: dict[str, float]):
    """(populations, J_E, J_N) per lead (a, b, r) at 60 digits, from SPEC §2 directly."""
    v = {k: mp.mpf(p[k]) for k in p}
    E = [mp.mpf(0), v["eps_L"], v["eps_R"], v["eps_L"] + v["eps_R"] + v["kappa"]]
    edges = [(0, 1, "a"), (0, 1, "b"), (2, 3, "a"), (2, 3, "b"), (0, 2, "r"), (1, 3, "r")]
    W = mp.zeros(4, 4)
    rates = []
    for i, j, lead in edges:
        w = E[j] - E[i]
        f = _fermi((w - v["mu_" + lead]) / v["T_" + lead])
        kin, kout = v["gamma_" + lead] * f, v["gamma_" + lead] * (1 - f)
        W[j, i] += kin
        W[i, j] += kout
        W[i, i] -= kin
        W[j, j] -= kout
        rates.append((i, j, lead, w, kin, kout))
    A = W.copy()
    for c in range(4):
        A[3, c] = 1
    b = mp.matrix([0, 0, 0, 1])
    pop = mp.lu_solve(A, b)
    JE = {k: mp.mpf(0) for k in "abr"}
    JN = {k: mp.mpf(0) for k in "abr"}
    for i, j, lead, w, kin, kout in rates:
        flux = kin * pop[i] - kout * pop[j]
        JE[lead] += w * flux
        JN[lead] += flux
    return [pop[k] for k in range(4)], [JE[k] for k in "abr"], [JN[k] for k in "abr"]


@_at_least_60_digits
def mp_sqd_current(p: dict[str, float]):
    """J_N[l] = γ_l γ_r (f_l − f_r)/(γ_l + γ_r) at 60 digits (SPEC §2 fact)."""
    v = {k: mp.mpf(p[k]) for k in p}
    fl = _fermi((v["eps"] - v["mu_l"]) / v["T_l"])
    fr = _fermi((v["eps"] - v["mu_r"]) / v["T_r"])
    return v["gamma_l"] * v["gamma_r"] * (fl - fr) / (v["gamma_l"] + v["gamma_r"])


# -- bosonic baths and generic rate equations (SPEC §2), 60 digits -------------------------------
def mp_filtered_rates(w, T, Gamma, Omega, eps_c):
    """(k_up, k_down) of a filtered bosonic bath for a transition of energy w (either sign), SPEC §2."""
    w, T, Gamma, Omega, eps_c = (mp.mpf(v) for v in (w, T, Gamma, Omega, eps_c))
    a = abs(w)
    if a > eps_c:
        return mp.mpf(0), mp.mpf(0)
    if a == 0:
        lim = Gamma * T / Omega**2
        return lim, lim
    K = Gamma * a / ((a - Omega) ** 2 + (Gamma * a) ** 2)
    n = 1 / mp.expm1(a / T)
    absorb, emit = K * n, K * (1 + n)
    return (absorb, emit) if w > 0 else (emit, absorb)


@_at_least_60_digits
def mp_pauli(E, edges, rates):
    """Steady state of a rate equation at 60 digits.

    ``E``: state energies; ``edges``: ``(i, j, lead, particles, weight)`` (i -> j adds ``particles``);
    ``rates(lead, w)`` -> ``(k_in, k_out)``.  Returns ``(p, J_E, J_N)`` with ``J_*`` dicts per lead.
    """
    d = len(E)
    W = mp.zeros(d, d)
    data = []
    for i, j, lead, particles, weight in edges:
        w = E[j] - E[i]
        kin, kout = rates(lead, w)
        kin, kout = weight * kin, weight * kout
        W[j, i] += kin
        W[i, j] += kout
        W[i, i] -= kin
        W[j, j] -= kout
        data.append((i, j, lead, particles, w, kin, kout))
    A = W.copy()
    for c in range(d):
        A[d - 1, c] = 1
    b = mp.matrix([0] * (d - 1) + [1])
    pop = mp.lu_solve(A, b)
    JE, JN = {}, {}
    for i, j, lead, particles, w, kin, kout in data:
        flux = kin * pop[i] - kout * pop[j]
        JE[lead] = JE.get(lead, mp.mpf(0)) + w * flux
        JN[lead] = JN.get(lead, mp.mpf(0)) + particles * flux
    return [pop[k] for k in range(d)], JE, JN


@_at_least_60_digits
def mp_kerr(p: dict, N1: int, N2: int):
    """kerr_fridge (SPEC §2, 003 Eq. 14-17) truncated to N1 x N2 levels: (p, J_Q per lead L, R, C)."""
    v = {k: mp.mpf(p[k]) for k in p}
    states = [(a, b) for a in range(N1) for b in range(N2)]
    E = [v["eps1"] * a + v["eps2"] * b + v["delta_z"] * a * b for a, b in states]
    idx = {s: k for k, s in enumerate(states)}
    edges = []
    for a, b in states:
        if a + 1 < N1:
            for lead in ("L", "R"):
                edges.append((idx[(a, b)], idx[(a + 1, b)], lead, 0, a + 1))
        if b + 1 < N2:
            edges.append((idx[(a, b)], idx[(a, b + 1)], "C", 0, b + 1))

    def rates(lead, w):
        return mp_filtered_rates(w, v["T_" + lead], v["Gamma_" + lead], v["Omega_" + lead], v["eps_c"])

    pop, JE, _ = mp_pauli(E, edges, rates)
    return pop, [JE.get(lead, mp.mpf(0)) for lead in ("L", "R", "C")]


@_at_least_60_digits
def mp_qubit_fridge_global(p: dict):
    """qubit_fridge, global approach (003 App. A1): secular Pauli equation on the eigenbasis 0, +, -, d
    at 60 digits; returns (p_eigen, J_Q per lead L, R, C).  The eigenvectors come from mpmath's own
    2x2 diagonalisation of the single-excitation block."""
    v = {k: mp.mpf(p[k]) for k in p}
    H = mp.matrix([[v["eps1"], v["delta_x"]], [v["delta_x"], v["eps2"]]])
    evals, evecs = mp.eigsy(H)
    order = [1, 0] if evals[1] > evals[0] else [0, 1]  # + = upper level
    Ep, Em = evals[order[0]], evals[order[1]]
    vp = [evecs[0, order[0]], evecs[1, order[0]]]
    vm = [evecs[0, order[1]], evecs[1, order[1]]]
    E = [mp.mpf(0), Ep, Em, v["eps1"] + v["eps2"] + v["delta_z"]]
    # basis 0, 1, 2, d; X1 = |0><1| + |2><d| + h.c., X2 = |0><2| + |1><d| + h.c.
    # eigenbasis vectors in the bare basis
    basis = [[1, 0, 0, 0], [0, vp[0], vp[1], 0], [0, vm[0], vm[1], 0], [0, 0, 0, 1]]
    X1 = mp.zeros(4, 4)
    X2 = mp.zeros(4, 4)
    for a, b in ((0, 1), (2, 3)):
        X1[a, b] = X1[b, a] = 1
    for a, b in ((0, 2), (1, 3)):
        X2[a, b] = X2[b, a] = 1

    def element(X, i, j):
        return sum(basis[i][a] * X[a, b] * basis[j][b] for a in range(4) for b in range(4))

    edges = []
    for i, j in ((0, 1), (0, 2), (1, 3), (2, 3)):
        for lead, X in (("L", X1), ("R", X1), ("C", X2)):
            m2 = element(X, i, j) ** 2
            if m2 != 0:
                edges.append((i, j, lead, 0, m2))

    def rates(lead, w):
        return mp_filtered_rates(w, v["T_" + lead], v["Gamma_" + lead], v["Omega_" + lead], v["eps_c"])

    pop, JE, _ = mp_pauli(E, edges, rates)
    return pop, [JE.get(lead, mp.mpf(0)) for lead in ("L", "R", "C")]


@_at_least_60_digits
def mp_lindblad(H, jumps, observable, n_baths):
    """Steady state of ``-i[H, ρ] + Σ r D[L](ρ)`` at 60 digits (dense 16 x 16 for d = 4) and the
    bath currents ``J_λ = Σ_{k∈λ} r Re Tr[O D[L_k](ρ)]``; ``jumps``: ``(r, L, bath)`` (mp matrices)."""
    d = H.rows
    D = d * d

    def apply(rho):
        out = -1j * (H * rho - rho * H)
        for r, L, _ in jumps:
            Ld = L.H
            out += r * (L * rho * Ld - (Ld * L * rho + rho * Ld * L) / 2)
        return out

    M = mp.zeros(D, D)
    for a in range(d):
        for b in range(d):
            E = mp.zeros(d, d)
            E[a, b] = 1
            col = apply(E)
            for i in range(d):
                for j in range(d):
                    M[i * d + j, a * d + b] = col[i, j]
    rhs = mp.matrix(D, 1)
    for c in range(D):
        M[0, c] = 0
    for a in range(d):
        M[0, a * d + a] = 1
    rhs[0] = 1
    x = mp.lu_solve(M, rhs)
    rho = mp.matrix(d, d)
    for a in range(d):
        for b in range(d):
            rho[a, b] = x[a * d + b]
    J = [mp.mpf(0)] * n_baths
    for r, L, bath in jumps:
        Ld = L.H
        Dr = L * rho * Ld - (Ld * L * rho + rho * Ld * L) / 2
        J[bath] += r * mp.re(sum((observable * Dr)[k, k] for k in range(d)))
    return rho, J


@_at_least_60_digits
def mp_qubit_fridge_local(p: dict):
    """qubit_fridge, local approach (003 App. A2) at 60 digits: (rho, J_Q per lead L, R, C) with the
    bare-energy currents Tr[H_0 D_λ ρ] (003 Eq. A21)."""
    v = {k: mp.mpf(p[k]) for k in p}
    E = [mp.mpf(0), v["eps1"], v["eps2"], v["eps1"] + v["eps2"] + v["delta_z"]]
    H0 = mp.diag(E)
    H = H0.copy()
    H[1, 2] = H[2, 1] = v["delta_x"]
    trans = {"L": ((0, 1), (2, 3)), "R": ((0, 1), (2, 3)), "C": ((0, 2), (1, 3))}
    jumps = []
    for b, lead in enumerate(("L", "R", "C")):
        for i, j in trans[lead]:
            up, down = mp_filtered_rates(E[j] - E[i], v["T_" + lead], v["Gamma_" + lead], v["Omega_" + lead],
                                         v["eps_c"])
            Lup = mp.zeros(4, 4)
            Lup[j, i] = 1
            Ldn = mp.zeros(4, 4)
            Ldn[i, j] = 1
            jumps.append((up, Lup, b))
            jumps.append((down, Ldn, b))
    return mp_lindblad(H, jumps, H0, 3)


@_at_least_60_digits
def mp_chain(p: dict, stat: str, approach: str):
    """Heat current J_Q[L] of the two-site chain at 60 digits: local, 004 Eq. 5-7 (any N for qubits and
    oscillators); global, the two normal modes omega +- g on both baths with half rates (004 Eq. 20-22)."""
    v = {k: mp.mpf(p[k]) for k in p}
    w, g, gL, gR, TL, TR = (v[k] for k in ("omega", "g", "gamma_L", "gamma_R", "T_L", "T_R"))
    eps_a = -1 if stat == "qubit" else 1
    if approach == "local":
        nL, nR = 1 / mp.expm1(w / TL), 1 / mp.expm1(w / TR)
        J1 = 2 * w * gL * gR * (nL - nR) / (gL + gR + gL * (1 - eps_a) * nL + gR * (1 - eps_a) * nR)
        alpha = 1 / (1 + gL * gR / (4 * g**2) * (1 + (1 - eps_a) * nL) * (1 + (1 - eps_a) * nR))
        return alpha * J1 / 2
    J = mp.mpf(0)
    for wm in (w + g, w - g):
        nL, nR = 1 / mp.expm1(wm / TL), 1 / mp.expm1(wm / TR)
        a, b = gL / 2, gR / 2
        GL, GR = (a * (1 + 2 * nL), b * (1 + 2 * nR)) if stat == "qubit" else (a, b)
        J += wm * a * b * (nL - nR) / (GL + GR)
    return J
