"""An independent per-point Pauli solution of a dots spec in mpmath (50 digits).

Written from the physics (issue 14 §1), not from :mod:`qtmsweep.physics.declared.dots`:
Fock states as tuples of occupations, rates γ f and γ (1 − f), the steady state from
mpmath's LU solve with one balance row replaced by normalisation, and the lead currents
as sums of net edge fluxes.
"""

from __future__ import annotations

import itertools

import mpmath as mp


def value(spec_value, params):
    return mp.mpf(params[spec_value]) if isinstance(spec_value, str) else mp.mpf(spec_value)


def solve_point(spec, params, dps: int = 50):
    """``(states, p, J_E, J_N)`` with states as occupation tuples and currents by lead name."""
    with mp.workdps(dps):
        orbs = list(spec["orbitals"])
        eps = {o: value(v["energy"] if isinstance(v, dict) else v, params) for o, v in spec["orbitals"].items()}
        U = {frozenset((i, j)): value(u, params) for i, j, u in spec.get("coulomb", [])}
        lo, hi = spec.get("electrons", [0, len(orbs)])
        states = [s for s in itertools.product((0, 1), repeat=len(orbs)) if lo <= sum(s) <= hi]
        states.sort(key=lambda s: sum(n << k for k, n in enumerate(s)))  # integer code, first orbital lowest bit

        def energy(s):
            e = sum(eps[o] * n for o, n in zip(orbs, s))
            for (i, a), (j, b) in itertools.combinations(list(zip(orbs, s)), 2):
                e += U.get(frozenset((i, j)), 0) * a * b
            return e

        idx = {s: k for k, s in enumerate(states)}
        S = len(states)
        W = mp.zeros(S, S)
        edges = []
        for lead, ls in spec["leads"].items():
            T, mu = value(ls["T"], params), value(ls["mu"], params)
            for o, g in ls["couples"].items():
                g = value(g, params)
                k = orbs.index(o)
                for s in states:
                    if s[k] == 0:
                        t = s[:k] + (1,) + s[k + 1:]
                        if t not in idx:
                            continue
                        w = energy(t) - energy(s)
                        f = 1 / (1 + mp.exp((w - mu) / T))
                        kin, kout = g * f, g * (1 - f)
                        i, j = idx[s], idx[t]
                        W[j, i] += kin
                        W[i, j] += kout
                        W[i, i] -= kin
                        W[j, j] -= kout
                        edges.append((lead, i, j, w, kin, kout))
        A = W.copy()
        b = mp.zeros(S, 1)
        for c in range(S):
            A[S - 1, c] = 1
        b[S - 1] = 1
        p = mp.lu_solve(A, b)
        J_E = {lead: mp.mpf(0) for lead in spec["leads"]}
        J_N = {lead: mp.mpf(0) for lead in spec["leads"]}
        for lead, i, j, w, kin, kout in edges:
            flux = kin * p[i] - kout * p[j]
            J_E[lead] += w * flux
            J_N[lead] += flux
        return states, [p[k] for k in range(S)], J_E, J_N
