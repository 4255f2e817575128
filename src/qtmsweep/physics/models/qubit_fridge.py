"""``qubit_fridge``: ZZ (+XX) coupled qubits as an absorption refrigerator (SPEC §2; 003 §II–III, App. A).

Qubit 1 couples to the filtered bosonic baths ``L`` and ``R``, qubit 2 to ``C``.
Basis ``0, 1, 2, d`` (none, qubit 1, qubit 2, both excited) with
``H_S = eps1 π_11 + eps2 π_22 + (eps1 + eps2 + delta_z) π_dd + delta_x (π_12 + π_21)``
(003 Eq. 4).  Bath η ∈ {L, R} couples through ``X_1 = π_01 + π_2d + h.c.``, bath C through
``X_2 = π_02 + π_1d + h.c.`` (003 Eq. 5).  A transition of energy ``ω > 0`` absorbs at
``K_η(ω) n_η(ω)`` and emits at ``K_η(ω)(1 + n_η(ω))`` with the filtered density of
:mod:`qtmsweep.physics.baths` (cutoff reading of SPEC §2).

Approaches
----------
``local`` (003 App. A2): bare-energy dissipators (one jump operator per bare transition,
at the bare energies ``eps1, eps1 + delta_z`` for L/R and ``eps2, eps2 + delta_z`` for C)
plus the coherent XX term; the steady state carries the coherence ``ρ_12``.  The bath
currents are 003 Eq. A21's, ``Tr[H_0 L_η ρ]`` with the bare ``H_0`` (SPEC §2).  They are
not conserved when ``eps1 ≠ eps2`` and ``delta_x ≠ 0`` (the local ME's known
inconsistency, reported in ``residual_E``); the full-Hamiltonian variant
``Tr[H_S L_η ρ]`` is ``J_E_full``, which is conserved but may violate the second law at
large ``delta_x`` — flagged in ``second_law_violated``, never hidden.

``global`` (003 App. A1): rates in the eigenbasis ``0, +, −, d`` of ``H_S``:
``E_± = (eps1 + eps2)/2 ± ½ sqrt((eps1 − eps2)² + 4 delta_x²)`` with
``|+⟩ = cos(θ/2)|1⟩ + sin(θ/2)|2⟩``, ``|−⟩ = −sin(θ/2)|1⟩ + cos(θ/2)|2⟩`` and
``θ = atan2(2 delta_x, eps1 − eps2)`` — the two-argument arctangent keeps ``|+⟩`` the
upper level for either ordering of eps1, eps2 (003's ``tan⁻¹[2Δ_x/(ε₁ − ε₂)]`` on the
principal branch would swap the roles of ``±`` when ``eps1 < eps2``), and gives the bare
basis at ``delta_x = 0``.  Rates are 003 Eq. A11 (squared matrix elements of ``X_η``
times the bath rates at the Bohr frequencies); the currents are ``Tr[H_S L_η ρ]``.

Methods
-------
``lindblad`` (default): batched Liouvillian on the excitation-number sector (6 of 16
entries), for both approaches (the global one built from the eigenbasis jump operators
``|j⟩⟨i|``).  ``pauli``: the global approach's secular rate equation on the eigenbasis
(003 Eq. A8–A10), a cross-check; not defined for the local approach.

Outputs beyond SPEC §4: ``cooling_power = J_Q[C]`` (C is cooled when positive),
``cop = J_Q[C]/J_Q[hottest bath]`` (NaN unless both are positive and C is the coldest
bath — otherwise heat leaving C is not refrigeration), ``cop_carnot`` (the
absorption-fridge bound ``T_C (T_H − T_M)/(T_H (T_M − T_C))``, NaN unless
``T_C < T_M < T_H`` with C the coldest bath), ``coherence_re/_im`` of ``ρ_12 = ⟨1|ρ|2⟩``,
``J_E_full``, ``sigma_full``, ``second_law_violated``, and in the global approach ``p_eigen`` and
``secular_ratio`` (:mod:`qtmsweep.physics.secular`: the splitting ``E+ − E−`` of the Bohr
frequencies ``E±`` (and ``E_d − E±``) where one bath drives both, over the largest escape rate; near
``eps1 = eps2`` with small ``delta_x ≠ 0`` it is ≪ 1 and the global currents are wrong).  Forces: reference bath R,
``F_E_L = 1/T_R − 1/T_L`` (conjugate to ``J_Q[L]``) and ``F_E_C = 1/T_R − 1/T_C``
(conjugate to ``J_Q[C]``); with energy conservation ``sigma = F_E_L J_Q[L] + F_E_C J_Q[C]``.

Aliases (:func:`normalize`): ``T, dT`` for 003's symmetric bias ``T_L = T + dT, T_R = T,
T_C = T − dT`` and ``filters="resonant"`` for its filter positions ``Omega_L = eps1,
Omega_R = eps1 + delta_z, Omega_C = eps2 + delta_z``.

Examples
--------
003 Fig. 3 at ΔT = 0.3 T: bath C is cooled.

>>> import qtmsweep
>>> ds = qtmsweep.solve("qubit_fridge", approach="local", eps1=2.0, eps2=2.0, delta_z=0.1, delta_x=0.0,
...                     T_L=1.3, T_R=1.0, T_C=0.7, Gamma_L=0.02, Gamma_R=0.08, Gamma_C=0.06,
...                     Omega_L=2.0, Omega_R=2.1, Omega_C=2.1, eps_c=20.0)
>>> float(ds.cooling_power) > 0, bool(ds.sigma > 0), float(ds.residual_E) < 1e-12
(True, True, True)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..batch import batch_size
from ..batch import flat_param as _arr
from ..baths import filtered_rate_deviation, filtered_rates
from ..lindblad import (
    LindbladModel,
    current_functionals,
    lindblad_error_bound,
    lindblad_current_terms,
    lindblad_steady_state,
    secular_rates,
)
from ..fridge import (  # noqa: F401  (re-exported: the helpers lived here before physics/fridge.py)
    BATH_PARAMETERS,
    FORCE_FLUX,
    FRIDGE_OUTPUTS,
    LEADS,
    bath_spectrum,
    fridge_forces,
    fridge_performance,
    normalize,
)
from ..model import OutputVariable, Parameter, SteadyState
from ..pauli import secular_pauli
from ..precision import heat_entropy_bounds, relative_bound
from ..registry import register
from ..secular import secular_ratio

STATES = ("0", "1", "2", "d")
EIGENSTATES = ("0", "+", "-", "d")
CHARGES = (0, 1, 1, 2)
_EPS = np.finfo(float).eps

PARAMETERS = (
    Parameter("eps1", "energy", "excitation energy of qubit 1 (baths L, R)", 2.0),
    Parameter("eps2", "energy", "excitation energy of qubit 2 (bath C)", 2.0),
    Parameter("delta_z", "energy", "ZZ coupling: eps_d = eps1 + eps2 + delta_z", 0.1),
    Parameter("delta_x", "energy", "XX coupling delta_x (|1><2| + |2><1|)", 0.0),
    *BATH_PARAMETERS,
    Parameter("approach", "choice", "master equation: local (003 App. A2) or global (App. A1)", "local",
              choices=("local", "global")),
)


def _proj(i: int, j: int, d: int = 4) -> np.ndarray:
    m = np.zeros((d, d), dtype=complex)
    m[i, j] = 1.0
    return m


P1, P2, PD = _proj(1, 1), _proj(2, 2), _proj(3, 3)
X12 = _proj(1, 2) + _proj(2, 1)
X1 = _proj(0, 1) + _proj(2, 3)
X1 = X1 + X1.T  # qubit 1's sigma_x: couples to L and R
X2 = _proj(0, 2) + _proj(1, 3)
X2 = X2 + X2.T  # qubit 2's sigma_x: couples to C
#: bare transitions (source, target) per bath, with the energy offset they carry
LOCAL_TRANSITIONS = {
    "L": ((0, 1), (2, 3)),
    "R": ((0, 1), (2, 3)),
    "C": ((0, 2), (1, 3)),
}


def _eigenbasis(eps1, eps2, dx):
    """Energies ``E+, E−`` and the rotation ``(c, s) = (cos θ/2, sin θ/2)``, ``θ = atan2(2 dx, eps1 − eps2)``.

    Formed without trigonometry or cancellation (half-angle formulas on the larger of
    ``1 ± cos θ``), so that ``delta_x = 0`` gives the bare basis *exactly* — ``(c, s) = (1, 0)``
    for ``eps1 > eps2`` and ``(0, 1)`` for ``eps1 < eps2`` (``atan2(0, −1) = π``, whose
    ``cos(π/2) ≈ 6e-17`` would mix the levels) — and the levels ``E± = max/min(eps1, eps2) ±
    2 dx²/(r + |eps1 − eps2|)`` are the bare energies there, continuous in ``delta_x``.
    """
    delta = eps1 - eps2
    ad = np.abs(delta)
    r = np.hypot(delta, 2.0 * dx)
    with np.errstate(divide="ignore", invalid="ignore"):
        big = np.sqrt((r + ad) / (2.0 * r))  # cos(θ/2) for delta >= 0, |sin(θ/2)| for delta < 0
        small = dx / (r * big)  # sin θ = 2 s c
        shift = np.where(r > 0, 2.0 * dx * dx / (r + ad), 0.0)  # (r - |delta|)/2 without cancellation
    sign = np.where(dx < 0, -1.0, 1.0)
    c = np.where(delta >= 0, big, np.abs(small))
    s = np.where(delta >= 0, small, sign * big)
    c = np.where(r > 0, c, 1.0)
    s = np.where(r > 0, s, 0.0)
    hi, lo = np.maximum(eps1, eps2), np.minimum(eps1, eps2)
    return hi + shift, lo - shift, c, s


def _rotation(c, s) -> np.ndarray:
    n = c.shape[0]
    V = np.zeros((n, 4, 4))
    V[:, 0, 0] = V[:, 3, 3] = 1.0
    V[:, 1, 1], V[:, 2, 1] = c, s  # |+> = c|1> + s|2>
    V[:, 1, 2], V[:, 2, 2] = -s, c  # |-> = -s|1> + c|2>
    return V


def evaluate(params: Mapping[str, Any], method: str) -> SteadyState:
    approach = params.get("approach", "local")
    n = batch_size(params)
    eps1, eps2, dz, dx = (_arr(params, k, n) for k in ("eps1", "eps2", "delta_z", "delta_x"))
    eps_d = eps1 + eps2 + dz
    T = np.stack([_arr(params, f"T_{lead}", n) for lead in LEADS], axis=-1)
    spectra = [bath_spectrum(params, lead, n) for lead in LEADS]
    H_terms = [(eps1, P1), (eps2, P2), (eps_d, PD), (dx, X12)]
    extras: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    # relative error of the bath rates: rounding of x = omega/T (|omega| <= max level spacing)
    rate_err = _EPS * (8 + 3 * (np.abs(eps1) + np.abs(eps2) + np.abs(dz) + np.abs(dx)) / T.min(axis=1))

    if approach == "local":
        if method != "lindblad":
            raise ValueError(f"method={method!r} is not available for approach='local'; allowed: 'auto', 'lindblad'")
        E_bare = np.stack([np.zeros(n), eps1, eps2, eps_d], axis=-1)
        # deviation from the reference state rho_ref = Gibbs state of the bare H_0 at T_R, which every
        # local dissipator at T_R leaves invariant: L rho_ref = -i[H_S, rho_ref] + sum_k dr_k D_k(rho_ref)
        # with dr_k the change of the rate from T_R to its bath's temperature (input differences)
        logw = -E_bare / T[:, 1:2]
        p_ref = np.exp(logw - logw.max(axis=1, keepdims=True))
        p_ref /= p_ref.sum(axis=1, keepdims=True)
        source = np.zeros((n, 4, 4), dtype=complex)
        coh = -1j * dx * (p_ref[:, 2] - p_ref[:, 1])  # -i[dx X12, rho_ref]_{12}
        source[:, 1, 2] = coh
        source[:, 2, 1] = -coh
        jumps, J_ref, J_ref_abs = [], np.zeros((n, 3)), np.zeros((n, 3))
        for b, lead in enumerate(LEADS):
            G_b, O_b = _arr(params, f"Gamma_{lead}", n), _arr(params, f"Omega_{lead}", n)
            for i, j in LOCAL_TRANSITIONS[lead]:
                omega = E_bare[:, j] - E_bare[:, i]
                up, down, _ = filtered_rates(omega, T[:, b], G_b, O_b, _arr(params, "eps_c", n))
                d_up, d_down, _ = filtered_rate_deviation(omega, T[:, b], T[:, 1], G_b, O_b, _arr(params, "eps_c", n))
                jumps.append((up, _proj(j, i), b))  # i -> j
                jumps.append((down, _proj(i, j), b))  # j -> i
                # D_{|j><i|}(diag p) = p_i (|j><j| - |i><i|): the drive and its bare-energy current
                flow = d_up * p_ref[:, i] - d_down * p_ref[:, j]
                source[:, j, j] += flow
                source[:, i, i] -= flow
                J_ref[:, b] += omega * flow
                J_ref_abs[:, b] += np.abs(omega) * (np.abs(d_up) * p_ref[:, i] + np.abs(d_down) * p_ref[:, j])
        G = current_functionals(jumps, H_terms[:3], 3, n, 4)
        d_rho, sens = lindblad_steady_state(H_terms, jumps, d=4, charges=CHARGES, sensitivity=G, source=source)
        rho = d_rho + p_ref[:, :, None] * np.eye(4)
        # bare H_0 (003 Eq. A21) and the full H_S = H_0 + dx X12 from one pass over the traces
        J_terms, gross_terms = lindblad_current_terms(d_rho, jumps, H_terms, n_baths=3)
        J, gross = J_terms[..., :3].sum(axis=-1), gross_terms[..., :3].sum(axis=-1)
        J_full, gross_full = J + J_terms[..., 3], gross + gross_terms[..., 3]
        # the currents of rho_ref: only the rate changes carry any (the exchange term of H_S: none,
        # <1|rho_ref|2> = 0)
        J = J + J_ref
        J_full = J_full + J_ref
        gross, gross_full = gross + J_ref_abs, gross_full + J_ref_abs
        err = lindblad_error_bound(sens, gross, 6, rate_err) + 8 * rate_err[:, None] * J_ref_abs
        # J_full (only used for the second-law flag of sigma_full): the same bound scaled by the
        # terms' magnitudes (not separately certified)
        with np.errstate(divide="ignore", invalid="ignore"):
            err_full = err * np.where(gross > 0, np.maximum(1.0, gross_full / gross), 1.0) + 16 * _EPS * gross_full
        p = rho[:, range(4), range(4)].real
    else:
        E_p, E_m, c, s = _eigenbasis(eps1, eps2, dx)
        E = np.stack([np.zeros(n), E_p, E_m, eps_d], axis=-1)
        V = _rotation(c, s)
        rates, omega = secular_rates(E, V, [X1, X1, X2], spectra)
        if method in ("pauli", "lindblad"):
            # the secular generator built from the jumps |j><i| maps populations to populations and
            # lets every coherence decay: its steady state is the Pauli one, solved by GTH (pauli.py)
            Vt = np.swapaxes(V, -1, -2)
            XtL, XtC = Vt @ X1.real @ V, Vt @ X2.real @ V  # real: |.|^2 = square, bitwise
            m2 = np.stack([XtL * XtL, XtL * XtL, XtC * XtC])

            def delta_rates(b, omega, lead_params=[tuple(_arr(params, f"{k}_{lead}", n) for k in ("T", "Gamma", "Omega"))
                                                   for lead in LEADS]):
                Tb, Gb, Ob = (v[:, None] for v in lead_params[b])  # omega: (n, pairs)
                return filtered_rate_deviation(omega, Tb, T[:, 1:2], Gb, Ob, _arr(params, "eps_c", n)[:, None])[0]

            st = secular_pauli(E, rates, m2, delta_rates, T, 1, rate_err)
            p_eig, J, err = st.p, st.J_E, st.abs_err["J_E"]
            rho_eig = np.zeros((n, 4, 4), dtype=complex)
            rho_eig[:, range(4), range(4)] = p_eig
        else:
            raise ValueError(f"method={method!r} is not known; allowed: 'auto', 'lindblad', 'pauli'")
        rho = V @ rho_eig @ np.swapaxes(V, -1, -2)
        J_full, err_full = J, err
        p = rho[:, range(4), range(4)].real
        extras["p_eigen"] = (("eigenstate",), rho_eig[:, range(4), range(4)].real.copy())
        extras["secular_ratio"] = ((), secular_ratio(E, rates, CHARGES))

    sigma, sigma_rel_err, bad = heat_entropy_bounds(J, T, err, ref=1)
    if J_full is J:  # global approach
        sigma_full, bad_full = sigma, bad
    else:
        sigma_full, _, bad_full = heat_entropy_bounds(J_full, T, err_full, ref=1)
    extras.update(fridge_performance(J, params, n))
    extras["coherence_re"] = ((), rho[:, 1, 2].real.copy())
    extras["coherence_im"] = ((), rho[:, 1, 2].imag.copy())
    extras["J_E_full"] = (("lead",), J_full)
    extras["sigma_full"] = ((), sigma_full)
    extras["second_law_violated"] = ((), bad | bad_full)
    return SteadyState(p=p, J_E=J, J_N=None, J_Q=J.copy(), forces=None, sigma=sigma,
                       rel_err=relative_bound(err, J), sigma_rel_err=sigma_rel_err, extras=extras)


EXTRA_OUTPUTS = {
    **FRIDGE_OUTPUTS,
    "coherence_re": OutputVariable("1", "Re rho_12 = Re <1|rho|2> (coherence between the single-excitation states)"),
    "coherence_im": OutputVariable("1", "Im rho_12 = Im <1|rho|2>"),
    "J_E_full": OutputVariable("energy/time", "Tr[H_S D_lambda(rho)] with the full system Hamiltonian "
                                              "(equals J_E in the global approach)"),
    "sigma_full": OutputVariable("1/time", "-sum_lambda J_E_full[lambda]/T_lambda"),
    "p_eigen": OutputVariable("1", "populations of the eigenstates 0, +, -, d of H_S (global approach)"),
    "secular_ratio": OutputVariable("1", "global approach: splitting E+ - E- of the Bohr frequencies one bath drives "
                                         "together / largest escape rate of an eigenstate (qtmsweep.physics.secular); the secular "
                                         "approximation needs >> 1, the sweep warns below 10"),
}

#: Labels of the eigenstates of ``H_S`` (the ``eigenstate`` coordinate of ``p_eigen``), in its order.
EIGENSTATES = ("0", "+", "-", "d")

QUBIT_FRIDGE = register(LindbladModel(
    name="qubit_fridge",
    description="ZZ (+XX) coupled qubits with filtered bosonic baths L, R, C: absorption refrigerator (003 §III)",
    states=STATES,
    leads=LEADS,
    parameters=PARAMETERS,
    evaluate=evaluate,
    methods=("lindblad", "pauli"),
    auto_method="lindblad",
    aliases={"linear": "lindblad"},
    lead_reservoir={lead: (f"T_{lead}", None) for lead in LEADS},
    forces=fridge_forces,
    force_flux=FORCE_FLUX,
    extra_outputs=EXTRA_OUTPUTS,
    normalize=normalize,
    dim_labels=lambda structural: {"eigenstate": (EIGENSTATES, {
        "long_name": "eigenstate of H_S: 0 (ground), + and - (the hybridised one-excitation states), "
                     "d (both excited)"})},
    reference="003 (Bhandari, Jordan) §II–III, App. A",
    cell_bytes=4608,  # measured peak ~2000 (local) and ~3000 (global) B/cell
))


def generator(params: Mapping[str, Any]):
    """Counting generator (:mod:`qtmsweep.physics.counting`) of the local or global approach.

    Local: the bare-state jumps of :func:`evaluate` (energy = bare transition energy, so the
    counted heat is 003 Eq. A21's), Liouvillian on the excitation sector like the steady-state
    kernel; global: secular jumps between the eigenstates of ``H_S``, energy ``E_j − E_i``, as
    the equivalent rate process on the eigenstate populations
    (:func:`~qtmsweep.physics.generator.secular_generator`).
    """
    from ..counting import dlnr_dx
    from ..generator import lindblad_generator
    from .. import registry

    approach = params.get("approach", "local")
    numeric = {k: v for k, v in params.items() if k != "approach"}
    n = batch_size(numeric)
    eps1, eps2, dz, dx = (_arr(numeric, k, n) for k in ("eps1", "eps2", "delta_z", "delta_x"))
    eps_d = eps1 + eps2 + dz
    T = np.stack([_arr(numeric, f"T_{lead}", n) for lead in LEADS], axis=-1)
    jumps, energy, incoming, dl = [], [], [], []
    if approach == "local":
        terms = [(eps1, P1), (eps2, P2), (eps_d, PD), (dx, X12)]
        E_bare = np.stack([np.zeros(n), eps1, eps2, eps_d], axis=-1)
        for b, lead in enumerate(LEADS):
            for i, j in LOCAL_TRANSITIONS[lead]:
                omega = E_bare[:, j] - E_bare[:, i]
                up, down, lr = filtered_rates(omega, T[:, b], _arr(numeric, f"Gamma_{lead}", n),
                                              _arr(numeric, f"Omega_{lead}", n), _arr(numeric, "eps_c", n))
                jumps += [(up, _proj(j, i), b), (down, _proj(i, j), b)]
                energy += [omega, -omega]
                incoming += [True, False]
                dl += [dlnr_dx(up, down, lr, True, False), dlnr_dx(down, up, lr, False, False)]
    else:
        from ..generator import secular_generator

        E_p, E_m, c, s = _eigenbasis(eps1, eps2, dx)
        E = np.stack([np.zeros(n), E_p, E_m, eps_d], axis=-1)
        rates, omega = secular_rates(E, _rotation(c, s), [X1, X1, X2],
                                     [bath_spectrum(numeric, lead, n) for lead in LEADS])
        for b in range(3):
            for i in range(4):
                for j in range(4):
                    if CHARGES[j] > CHARGES[i]:  # pair i -> j (in) and j -> i (out)
                        w = omega[:, j, i]
                        up, down = rates[b, :, j, i], rates[b, :, i, j]
                        lr = -w / T[:, b]
                        jumps += [(up, (j, i), b), (down, (i, j), b)]
                        energy += [w, -w]
                        incoming += [True, False]
                        dl += [dlnr_dx(up, down, lr, True, False), dlnr_dx(down, up, lr, False, False)]
        return secular_generator(registry.get_model("qubit_fridge"), numeric, jumps, 4, np.stack(energy, axis=1),
                                 incoming, np.stack(dl, axis=1))
    gen = lindblad_generator(registry.get_model("qubit_fridge"), numeric, terms, jumps, 4, CHARGES,
                             np.stack(energy, axis=1), incoming, np.stack(dl, axis=1))
    # classical (a Markov jump process) without coherent coupling
    gen.notes["classical"] = dx == 0
    gen.notes["approach"] = "local (Liouvillian on the excitation sector)"
    return gen
