"""Batched generators with counted jumps for every model and approach (input of :mod:`.counting`).

``generator(model, params)`` returns a :class:`~qtmsweep.physics.counting.Generator` built from
the same physics the steady-state kernels use:

* rate models (``sqd``, ``cqd``, ``kerr_fridge`` at its truncation ``N1 × N2``): the Pauli rate
  matrix from the model's ``transitions`` and ``lead_rates`` (:func:`rate_model_generator`);
* Lindblad models: each model module's ``generator(params)`` hook — ``qubit_fridge`` local
  (bare-state jumps, 003 App. A2; the Liouvillian on the excitation-number sector) and global
  (secular jumps between eigenstates, App. A1), ``chain`` with ``stat="qubit"``: local for
  ``N ≤ 5`` by the Liouvillian on the excitation-number sector (the steady-state kernel uses the
  exact two-point equations, which carry no counting statistics), and global (``N = 2``).  The
  global (secular) MEs are handed over as the rate process on the eigenstate populations they
  are exactly equivalent to (:func:`secular_generator`), so they use the fused rate-matrix kernel.

Oscillator chains (``stat="boson"``) are counted on the Fock space truncated to at most
``n_max`` quanta in the whole chain (local: the Liouvillian on the number sector, built entry by
entry by :func:`sector_lindblad_generator`; global: the secular rate process on the two normal
modes' number states); ``S_truncation_rel_change`` reports the change from ``n_max + 1``.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

import numpy as np

from .counting import Generator, dlnr_dx
from .lindblad import build_liouvillian, sector_indices, superoperator_dissipator
from .registry import get_model

__all__ = ["generator", "rate_model_generator", "lindblad_generator", "sector_lindblad_generator", "default_fluxes",
           "parse_flux"]


def _batch(params: Mapping[str, Any]) -> int:
    sizes = {np.size(v) for v in params.values() if not isinstance(v, str) and np.ndim(v) >= 1}
    sizes.discard(1)
    return sizes.pop() if sizes else 1


def _arr(params, name, n):
    return np.broadcast_to(np.asarray(params[name], dtype=float), (n,))


def rate_model_generator(model, params: Mapping[str, Any]) -> Generator:
    """Pauli generator of a :class:`~qtmsweep.physics.model.RateModel` (two jumps per transition)."""
    n = _batch(params)
    energies = np.broadcast_to(model.state_energies(params), (n, len(model.states)))
    index = {s: i for i, s in enumerate(model.states)}
    leads = tuple(model.leads)
    d = len(model.states)
    fermionic = bool(model.particle_exchange)
    K = 2 * len(model.transitions)
    J = np.zeros((K, d, d))
    rate, energy, dl = [], [], []
    particles = np.zeros(K)
    lead = np.zeros(K, dtype=int)
    incoming = np.zeros(K, dtype=bool)
    for m, t in enumerate(model.transitions):
        i, j = index[t.source], index[t.target]
        omega = np.broadcast_to(energies[:, j] - energies[:, i], (n,))
        k_in, k_out, log_ratio = model.lead_rates(t.lead, omega, params)
        k_in = np.broadcast_to(t.weight * np.asarray(k_in, dtype=float), (n,))
        k_out = np.broadcast_to(t.weight * np.asarray(k_out, dtype=float), (n,))
        log_ratio = np.broadcast_to(log_ratio, (n,))
        a, b = 2 * m, 2 * m + 1
        J[a, j, i] = 1.0
        J[b, i, j] = 1.0
        rate += [k_in, k_out]
        energy += [omega, -omega]
        particles[a], particles[b] = t.particles, -t.particles
        lead[a] = lead[b] = leads.index(t.lead)
        incoming[a] = True
        dl.append((k_in, k_out, log_ratio))
    # (K, n) blocks, handed over as their (n, K) transposed views: no strided copy of every column
    rate, energy = (np.stack(x, axis=0).T for x in (rate, energy))

    def dlnr():  # only the linear response (thermo.onsager) needs it: built on demand
        return np.stack([x for k_in, k_out, lr in dl for x in (dlnr_dx(k_in, k_out, lr, True, fermionic),
                                                                 dlnr_dx(k_out, k_in, lr, False, fermionic))]).T
    mu, beta = _reservoirs(model, params, n)
    return Generator(L=None, trace=np.ones(d), jumps=J, rate=rate, energy=energy, particles=particles, lead=lead,
                     mu=mu, beta=beta, dlnr=dlnr, leads=leads, kind="pauli", incoming=incoming,
                     notes={"classical": np.ones(n, dtype=bool), "approach": "pauli"})


def _reservoirs(model, params, n):
    mu = np.zeros((n, len(model.leads)))
    beta = np.zeros((n, len(model.leads)))
    for li, lead in enumerate(model.leads):
        T_name, mu_name = model.lead_reservoir[lead]
        beta[:, li] = 1.0 / _arr(params, T_name, n)
        if mu_name is not None:
            mu[:, li] = _arr(params, mu_name, n)
    return mu, beta


def lindblad_generator(model, params: Mapping[str, Any], terms, jumps, d: int, charges, energy: np.ndarray,
                       incoming, dlnr: np.ndarray) -> Generator:
    """Generator of a Lindblad model from its Hamiltonian ``terms`` and ``jumps`` ``(rate, op, bath)``.

    ``energy (n, K)``: energy each jump brings into the system from its bath; ``incoming (K,)``
    and ``dlnr (n, K)`` as in :class:`~qtmsweep.physics.counting.Generator`.  The superoperators
    are restricted to the ``q_i = q_j`` sector of ``charges`` (as the steady-state kernel does).
    """
    n = _batch(params)
    idx = sector_indices(charges, d)
    L = build_liouvillian(terms, jumps, d, charges, n=n)
    Js, Ds = [], []
    for _, op, _ in jumps:
        op = np.asarray(op, dtype=complex)
        Js.append(np.kron(op.conj(), op)[np.ix_(idx, idx)])
        Ds.append(superoperator_dissipator(op)[np.ix_(idx, idx)])
    trace = (idx % d == idx // d).astype(float)
    rate = np.stack([np.broadcast_to(np.asarray(r, dtype=float), (n,)) for r, _, _ in jumps], axis=1)
    mu, beta = _reservoirs(model, params, n)
    return Generator(L=L, trace=trace, jumps=np.stack(Js), dissipators=np.stack(Ds), rate=rate,
                     energy=np.broadcast_to(energy, (n, len(jumps))).copy(), particles=np.zeros(len(jumps)),
                     lead=np.array([b for _, _, b in jumps], dtype=int), mu=mu, beta=beta,
                     dlnr=np.broadcast_to(dlnr, (n, len(jumps))).copy(), leads=tuple(model.leads),
                     kind="lindblad", incoming=np.asarray(incoming, dtype=bool))


def _sector_kron(A: np.ndarray, B: np.ndarray, idx: np.ndarray, d: int) -> np.ndarray:
    """``kron(A, B)`` restricted to the vec indices ``idx`` (``i + d j``) without forming it:
    ``kron(A, B)[j d + i, l d + k] = A[j, l] B[i, k]``."""
    i, j = idx % d, idx // d
    return A[np.ix_(j, j)] * B[np.ix_(i, i)]


def sector_lindblad_generator(model, params: Mapping[str, Any], terms, jumps, d: int, charges, energy: np.ndarray,
                              incoming, dlnr: np.ndarray, notes: dict | None = None) -> Generator:
    """:func:`lindblad_generator` for large Hilbert spaces (truncated oscillators): every
    superoperator is built directly on the ``q_i = q_j`` sector (``D × D``, never ``d² × d²``).

    ``terms``: ``(coefficient (n,) or scalar, H_p (d, d))``; ``jumps``: ``(rate (n,), op (d, d), bath)``.
    """
    n = _batch(params)
    idx = sector_indices(charges, d)
    eye = np.eye(d, dtype=complex)
    D = idx.size
    coefs, sups = [], []  # L = sum_p coef_p (n,) sup_p (D, D): one product, not one (n, D, D) pass per term
    for c, H in terms:
        H = np.asarray(H, dtype=complex)
        sups.append(-1j * (_sector_kron(eye, H, idx, d) - _sector_kron(H.T, eye, idx, d)))
        coefs.append(np.broadcast_to(np.asarray(c, dtype=float), (n,)))
    Js, Ds = [], []
    for r, op, _ in jumps:
        op = np.asarray(op, dtype=complex)
        LdL = op.conj().T @ op
        J = _sector_kron(op.conj(), op, idx, d)
        Dk = J - 0.5 * _sector_kron(eye, LdL, idx, d) - 0.5 * _sector_kron(LdL.T, eye, idx, d)
        Js.append(J)
        Ds.append(Dk)
        sups.append(Dk)
        coefs.append(np.broadcast_to(np.asarray(r, dtype=float), (n,)))
    C = np.stack(coefs, axis=1).astype(complex)
    L = (C @ np.stack(sups).reshape(len(sups), D * D)).reshape(n, D, D)
    trace = (idx % d == idx // d).astype(float)
    rate = np.stack([np.broadcast_to(np.asarray(r, dtype=float), (n,)) for r, _, _ in jumps], axis=1)
    mu, beta = _reservoirs(model, params, n)
    return Generator(L=L, trace=trace, jumps=np.stack(Js), dissipators=np.stack(Ds), rate=rate,
                     energy=np.broadcast_to(energy, (n, len(jumps))).copy(), particles=np.zeros(len(jumps)),
                     lead=np.array([b for _, _, b in jumps], dtype=int), mu=mu, beta=beta,
                     dlnr=np.broadcast_to(dlnr, (n, len(jumps))).copy(), leads=tuple(model.leads),
                     kind="lindblad", incoming=np.asarray(incoming, dtype=bool), notes=dict(notes or {}))


def secular_generator(model, params: Mapping[str, Any], jumps, d: int, energy: np.ndarray, incoming,
                      dlnr: np.ndarray) -> Generator:
    """Rate-matrix generator of a secular (global) master equation on the eigenbasis.

    Every jump of the secular ME here is a single ``|j⟩⟨i|`` between eigenstates, so
    ``L_k ρ L_k† = ρ_ii |j⟩⟨j|`` maps populations to populations, the steady state is diagonal
    and coherences decay on their own: the counting statistics are exactly those of the
    classical rate process on the populations (checked against QuTiP's full Liouvillian).
    ``jumps``: ``(rate (n,), (j, i), bath)``.
    """
    n = _batch(params)
    J = np.zeros((len(jumps), d, d))
    for k, (_, (j, i), _) in enumerate(jumps):
        J[k, j, i] = 1.0
    rate = np.stack([np.broadcast_to(np.asarray(r, dtype=float), (n,)) for r, _, _ in jumps], axis=1)
    mu, beta = _reservoirs(model, params, n)
    return Generator(L=None, trace=np.ones(d), jumps=J, rate=rate, energy=np.broadcast_to(energy, rate.shape).copy(),
                     particles=np.zeros(len(jumps)), lead=np.array([b for _, _, b in jumps], dtype=int), mu=mu,
                     beta=beta, dlnr=np.broadcast_to(dlnr, rate.shape).copy(), leads=tuple(model.leads), kind="pauli",
                     incoming=np.asarray(incoming, dtype=bool),
                     notes={"classical": np.ones(n, dtype=bool), "approach": "global (secular rate process)"})


def has_generator(model) -> bool:
    """Whether ``model`` has a counting generator (a rate model, or a module ``generator`` hook)."""
    m = get_model(model)
    if m.name == "kerr_fridge" or getattr(m, "transitions", None) is not None:
        return True
    try:
        module = importlib.import_module(f".models.{m.name}", __package__)
    except ImportError:
        return False
    return callable(getattr(module, "generator", None))


def generator(model, params: Mapping[str, Any]) -> Generator:
    """The counting generator of ``model`` (name or object) on flat, validated parameters."""
    m = get_model(model)
    if m.name == "kerr_fridge":
        from .models.kerr_fridge import truncated_model

        N1, N2 = int(params.get("N1", 3)), int(params.get("N2", 3))
        numeric = {k: v for k, v in params.items() if k not in ("N1", "N2")}
        return rate_model_generator(truncated_model(N1, N2), numeric)
    if getattr(m, "transitions", None) is not None:
        return rate_model_generator(m, params)
    module = importlib.import_module(f".models.{m.name}", __package__)
    hook = getattr(module, "generator", None)
    if hook is None:
        raise ValueError(f"counting statistics (cumulants) are not available for model {m.name!r} (it has no "
                         "Markov generator with counted jumps)")
    return hook(params)


def parse_flux(label: str) -> tuple[str, str]:
    """``"J_Q[C]" -> ("J_Q", "C")``; a clear error for anything else."""
    s = str(label).strip()
    if not (s.endswith("]") and "[" in s):
        raise ValueError(f"flux {label!r} is not allowed; allowed: labels like 'J_N[b]', 'J_E[r]', 'J_Q[C]'")
    var, lead = s[:-1].split("[", 1)
    if var not in ("J_E", "J_N", "J_Q"):
        raise ValueError(f"flux {label!r} is not allowed; allowed variables: J_E, J_N, J_Q (e.g. 'J_Q[C]')")
    return var, lead


def default_fluxes(model) -> list[str]:
    """Counted fluxes by default: the fluxes conjugate to the model's forces for the fermionic
    models (for ``cqd`` all three, covering reduced models I and II), each bath's heat current
    for the fridges and chains."""
    m = get_model(model)
    if m.particle_exchange:
        return [f"{var}[{lead}]" for var, lead in m.force_flux.values()]
    return [f"J_Q[{lead}]" for lead in m.leads]
