"""Independent 60-digit full-counting-statistics references (tests only; no package code).

The scaled cumulant generating function λ(s) is the eigenvalue of the tilted generator
L(s) = L + Σ_k (e^{s ν_k} − 1) J_k closest to 0; its Taylor coefficients are obtained by the
Cauchy integral on a circle |s| = r with K points (trapezoid rule, exponentially accurate):
c_m = m!/(K r^m) Σ_q λ(r e^{iθ_q}) e^{−imθ_q}.  Generators are written out from SPEC §2 and
003 with mpmath arithmetic: rates from the Fermi/Bose functions directly, the Lindblad
superoperator from Kronecker products.  Nothing is shared with the package.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 60


def fermi(x):
    return 1 / (1 + mp.e ** x)


def bose(x):
    return 1 / (mp.e ** x - 1)


def cauchy_cumulants(tilted, radius, orders=(1, 2, 3), K=48):
    """``{m: c_m}`` from ``tilted(s) -> mp.matrix``."""
    vals = []
    for q in range(K):
        th = 2 * mp.pi * q / K
        s = radius * mp.e ** (1j * th)
        ev = mp.eig(tilted(s), left=False, right=False)
        vals.append((min(ev, key=lambda z: abs(z)), th))
    out = {}
    for m in orders:
        acc = mp.mpc(0)
        for lam, th in vals:
            acc += lam * mp.e ** (-1j * m * th)
        out[m] = mp.re(acc * mp.factorial(m) / (K * radius ** m))
    return out


def pauli_tilted(d, jumps):
    """jumps: list of (i, j, rate, weight) for i -> j."""
    def tilted(s):
        W = mp.zeros(d, d)
        for i, j, r, w in jumps:
            W[j, i] += r * mp.e ** (s * w)
            W[i, i] -= r
        return W
    return tilted


def sqd_jumps(p, weight):
    """``weight(lead, omega, particles)`` -> counting weight of a jump."""
    v = {k: mp.mpmathify(p[k]) for k in p}
    out = []
    for lead in "lr":
        f = fermi((v["eps"] - v["mu_" + lead]) / v["T_" + lead])
        g = v["gamma_" + lead]
        out += [(0, 1, g * f, weight(lead, v["eps"], 1, v["mu_" + lead])),
                (1, 0, g * (1 - f), -weight(lead, v["eps"], 1, v["mu_" + lead]))]
    return 2, out


def cqd_jumps(p, weight):
    v = {k: mp.mpmathify(p[k]) for k in p}
    E = [mp.mpf(0), v["eps_L"], v["eps_R"], v["eps_L"] + v["eps_R"] + v["kappa"]]
    out = []
    for i, j, lead in [(0, 1, "a"), (0, 1, "b"), (2, 3, "a"), (2, 3, "b"), (0, 2, "r"), (1, 3, "r")]:
        w = E[j] - E[i]
        f = fermi((w - v["mu_" + lead]) / v["T_" + lead])
        g = v["gamma_" + lead]
        nu = weight(lead, w, 1, v["mu_" + lead])
        out += [(i, j, g * f, nu), (j, i, g * (1 - f), -nu)]
    return 4, out


def filtered(v, lead, w):
    """(K n, K (1+n)) of a filtered bath at ω > 0 (003 Eq. 3 with the cutoff Θ(ε_c − ω))."""
    if w <= 0 or w > v["eps_c"]:
        return mp.mpf(0), mp.mpf(0)
    G = v["Gamma_" + lead] * w
    K = G / ((w - v["Omega_" + lead]) ** 2 + G ** 2)
    n = bose(w / v["T_" + lead])
    return K * n, K * (1 + n)


def fridge_global_jumps(p, weight):
    """Secular (global) qubit fridge as a rate process on the eigenstates 0, +, −, d."""
    v = {k: mp.mpmathify(p[k]) for k in p}
    e1, e2, dz, dx = v["eps1"], v["eps2"], v["delta_z"], v["delta_x"]
    th = mp.atan2(2 * dx, e1 - e2)
    c, s = mp.cos(th / 2), mp.sin(th / 2)
    r = mp.sqrt((e1 - e2) ** 2 + 4 * dx ** 2)
    E = [mp.mpf(0), (e1 + e2) / 2 + r / 2, (e1 + e2) / 2 - r / 2, e1 + e2 + dz]
    elements = {"X1": {(0, 1): c, (0, 2): -s, (1, 3): s, (2, 3): c},
                "X2": {(0, 1): s, (0, 2): c, (1, 3): c, (2, 3): -s}}
    out = []
    for lead, X in (("L", "X1"), ("R", "X1"), ("C", "X2")):
        for (i, j), m in elements[X].items():
            w = E[j] - E[i]
            up, down = filtered(v, lead, w)
            nu = weight(lead, w, 0, 0)
            out += [(i, j, m ** 2 * up, nu), (j, i, m ** 2 * down, -nu)]
    return 4, out


def _kron(A, B):
    ra, ca, rb, cb = A.rows, A.cols, B.rows, B.cols
    M = mp.zeros(ra * rb, ca * cb)
    for i in range(ra):
        for j in range(ca):
            if A[i, j] != 0:
                for k in range(rb):
                    for l in range(cb):
                        M[i * rb + k, j * cb + l] = A[i, j] * B[k, l]
    return M


def _dag(A):
    return A.transpose_conj()


def lindblad_tilted(H, jumps, keep):
    """Column-stacked tilted Liouvillian restricted to the index list ``keep``; jumps (rate, op, weight)."""
    d = H.rows
    I = mp.eye(d)
    base = -1j * (_kron(I, H) - _kron(H.T, I))
    sand = []
    for r, Lk, w in jumps:
        LdL = _dag(Lk) * Lk
        base += r * (-0.5 * _kron(I, LdL) - 0.5 * _kron(LdL.T, I))
        sand.append((r, _kron(Lk.conjugate(), Lk), w))

    def tilted(s):
        M = base.copy()
        for r, S, w in sand:
            M += r * mp.e ** (s * w) * S
        out = mp.zeros(len(keep), len(keep))
        for a, ia in enumerate(keep):
            for b, ib in enumerate(keep):
                out[a, b] = M[ia, ib]
        return out
    return tilted


def fridge_local(p, weight):
    """Local qubit fridge (003 App. A2) with δx: (tilted, keep-size)."""
    v = {k: mp.mpmathify(p[k]) for k in p}
    E = [mp.mpf(0), v["eps1"], v["eps2"], v["eps1"] + v["eps2"] + v["delta_z"]]
    H = mp.zeros(4, 4)
    for k in range(4):
        H[k, k] = E[k]
    H[1, 2] = H[2, 1] = v["delta_x"]

    def proj(j, i):
        m = mp.zeros(4, 4)
        m[j, i] = 1
        return m
    jumps = []
    for lead, pairs in (("L", ((0, 1), (2, 3))), ("R", ((0, 1), (2, 3))), ("C", ((0, 2), (1, 3)))):
        for i, j in pairs:
            w = E[j] - E[i]
            up, down = filtered(v, lead, w)
            nu = weight(lead, w, 0, 0)
            jumps += [(up, proj(j, i), nu), (down, proj(i, j), -nu)]
    q = (0, 1, 1, 2)
    keep = [i + 4 * j for j in range(4) for i in range(4) if q[i] == q[j]]
    return lindblad_tilted(H, jumps, keep)
