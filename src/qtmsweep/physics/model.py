"""Declarative description of a master-equation model.

A model is one module that builds a :class:`RateModel` (Pauli rate equation)
and registers it.  The declaration is pure data plus small numpy functions:

* ``states`` and ``leads`` (labels used as the ``state`` and ``lead`` coordinates),
* ``parameters`` (names, what kind of quantity, allowed range),
* ``state_energies(params) -> (n, n_states)``,
* ``transitions``: edges ``source -> target`` driven by a lead; the transition
  energy is ``E[target] - E[source]`` and a fermionic transition adds
  ``particles`` electrons to the system,
* ``lead_rates``: the forward/backward rates and the exact log-ratio (the
  local-detailed-balance exponent) of a lead at a transition energy,
* ``forces``: the thermodynamic forces of SPEC, each conjugate to one flux.

Optionally a ``closed_form`` evaluator is attached (an exact, fused kernel).
The generic Pauli solver (:mod:`qtmsweep.physics.pauli`) works for every
rate model and is used to cross-check the closed forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import numpy as np

ParameterKind = Literal[
    "temperature", "energy", "chemical_potential", "rate", "coupling", "dimensionless", "integer", "choice"
]

#: Physical unit label of each parameter kind (SPEC §4: "energy", "1/time", "1").
KIND_UNITS: dict[str, str] = {
    "temperature": "energy",
    "energy": "energy",
    "chemical_potential": "energy",
    "rate": "1/time",
    "coupling": "energy",
    "dimensionless": "1",
    "integer": "1",
    "choice": "1",
}


@dataclass(frozen=True)
class Parameter:
    """One model parameter and what values it may take.

    ``kind`` fixes the default range: temperatures must be finite and > 0,
    rates finite and >= 0, energies finite.  ``integer`` and ``choice``
    parameters are *structural* (they change the size of the problem or the
    method) and must be scalars.
    """

    name: str
    kind: ParameterKind
    description: str
    default: Any = None
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    #: May be left out (the default applies); e.g. an option only some outputs read
    optional: bool = False

    @property
    def units(self) -> str:
        return KIND_UNITS[self.kind]

    @property
    def structural(self) -> bool:
        return self.kind in ("integer", "choice")

    def allowed(self) -> str:
        """Human-readable statement of the allowed values (used in error messages)."""
        if self.kind == "temperature":
            return "a finite number > 0"
        if self.kind in ("rate", "coupling") and self.minimum is None:
            return "a finite number >= 0"
        if self.kind == "integer":
            return f"an integer >= {int(self.minimum if self.minimum is not None else 0)}"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.minimum is not None:
            return f"a finite number >= {self.minimum}"
        return "a finite number"


@dataclass(frozen=True)
class Transition:
    """A transition ``source -> target`` mediated by ``lead``.

    ``particles`` is the number of particles the system gains from the lead
    (+1 for an electron tunnelling in, 0 for a bosonic bath).  ``weight`` multiplies
    both rates of the edge (a squared matrix element, e.g. ``n + 1`` for a boson
    ladder step ``n -> n + 1``); it leaves the log-ratio unchanged.
    """

    source: str
    target: str
    lead: str
    particles: int = 1
    weight: float = 1.0


@dataclass
class SteadyState:
    """What a kernel returns: steady-state populations and per-lead currents.

    Arrays are flat over grid cells (first axis ``n``).  ``J_N`` is ``None``
    for models whose baths exchange no particles.
    """

    p: np.ndarray | None  # (n, n_states); None for models without a finite state list (e.g. oscillator chains)
    J_E: np.ndarray  # (n, n_leads)
    J_N: np.ndarray | None  # (n, n_leads)
    sigma_micro: np.ndarray | None = None  # (n,)
    #: (n, n_leads) upper bound on the relative error of that lead's J_E, J_N and J_Q
    #: (:mod:`qtmsweep.physics.precision`; 0 for an exact value, inf when not even the sign is sure).
    #: When ``None`` it is derived from ``abs_err``.
    rel_err: np.ndarray | None = None
    #: Optional fused results; when absent the thermo layer derives them from the currents.
    J_Q: np.ndarray | None = None  # (n, n_leads)
    forces: dict[str, np.ndarray] | None = None  # name -> (n,)
    sigma: np.ndarray | None = None  # (n,)
    #: (n,) upper bound on the relative error of sigma; when ``None`` it is derived from ``abs_err``
    #: and the force-flux pairs.
    sigma_rel_err: np.ndarray | None = None
    #: Absolute error bounds of the currents: ``{"J_E": (n, n_leads), "J_N": ..., "J_Q": ...}``
    #: (``J_Q`` may be absent: derived from those of ``J_E`` and ``J_N``).
    abs_err: dict[str, np.ndarray] | None = None
    #: Conservation residuals ``|Σ_λ J[λ]| / max_λ |J[λ]|`` of ``J_E`` and ``J_N`` (n,), when the
    #: kernel formed them in its own pass (else :func:`qtmsweep.thermo.conservation_residual`).
    residual_E: np.ndarray | None = None
    residual_N: np.ndarray | None = None
    #: Model-specific outputs: name -> (extra dims after the cell axis, array); metadata in
    #: ``RateModel.extra_outputs``.
    extras: dict[str, tuple[tuple[str, ...], np.ndarray]] = field(default_factory=dict)
    #: Labels of the columns of ``p`` when they depend on structural parameters
    #: (e.g. a truncation); ``None`` = the model's ``states``.
    states: tuple[str, ...] | None = None


@dataclass(frozen=True)
class OutputVariable:
    """Metadata of an output variable (SPEC §4)."""

    units: str
    long_name: str


class ParameterLookup:
    """Parameter look-ups shared by every model class (needs a ``parameters`` tuple)."""

    parameters: tuple[Parameter, ...]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters if p.default is not None}


@dataclass
class RateModel(ParameterLookup):
    """A Pauli (classical rate) master-equation model.  See the module docstring."""

    name: str
    description: str
    states: tuple[str, ...]
    leads: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    state_energies: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    transitions: tuple[Transition, ...]
    lead_rates: Callable[[str, np.ndarray, Mapping[str, np.ndarray]], tuple[np.ndarray, np.ndarray, np.ndarray]]
    #: lead -> (temperature parameter, chemical-potential parameter or None)
    lead_reservoir: Mapping[str, tuple[str, str | None]]
    forces: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
    #: force name -> (flux variable, lead) it is conjugate to; sigma = sum of J*F.
    force_flux: Mapping[str, tuple[str, str]]
    particle_exchange: bool = True
    state_particles: tuple[int, ...] | None = None
    closed_form: Callable[[Mapping[str, np.ndarray]], SteadyState] | None = None
    #: The closed form also takes :class:`~qtmsweep.physics.batch.GridParam` values (read in
    #: place, no broadcast copy) and a ``cells=n`` keyword.
    grid_params: bool = False
    #: ``(lead, omega, params, T0, mu0) -> (dk_in, dk_out, dk_in - dk_out)``: the change of a lead's
    #: rates from the reference reservoir ``(T0, mu0)`` to its own, formed from input differences
    #: (no cancellation near equilibrium).  Lets the generic solver work on the deviation from the
    #: reference equilibrium state (:mod:`qtmsweep.physics.pauli`).
    rate_deviation: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
    #: Rewrites alternative parametrisations (e.g. kappa_c/kappa_s -> kappa) before validation.
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    reference: str = ""
    kind: str = "pauli"
    extra_outputs: Mapping[str, OutputVariable] = field(default_factory=dict)
    #: Working memory of one cell in a solve (bytes; a number, or a function of the structural
    #: parameters), besides the at most :data:`SOLVER_BUFFER_BYTES` of a sub-batched solver:
    #: the sweep sizes its chunks by it.  Default: the generic Pauli solver's, which grows
    #: with the square of the number of states.
    cell_bytes: int | Callable[[Mapping[str, Any]], int] | None = None
    #: Constraints between parameters beyond each one's own range (e.g. ``g < omega``):
    #: ``constraints(params)`` raises ``ValueError`` naming the parameter, its value and what is
    #: allowed.  It receives flat arrays (all of one length) and scalars, as a kernel does, and is run
    #: by :func:`qtmsweep.solve` and, on the corners of a sweep's grid, by the config check
    #: (:func:`qtmsweep.validation.check_grid`): it must fail at a corner whenever it fails
    #: anywhere, which holds for a bound on a function that is convex in each parameter.
    constraints: Callable[[Mapping[str, Any]], None] | None = None
    #: Memory a solve of a *single* cell needs (bytes), for these structural parameters and the concrete
    #: method: ``memory_estimate(structural, method) -> (bytes, what)``, ``what`` saying what takes it
    #: and how to shrink it.  Sub-batching cannot go below one cell, so a sweep (and :func:`qtmsweep.solve`)
    #: refuses a model whose estimate exceeds what a chunk (the machine) may use
    #: (:func:`qtmsweep.validation.check_memory`).  ``None``: small and fixed.
    memory_estimate: Callable[[Mapping[str, Any], str], tuple[int, str]] | None = None
    #: Coordinates of the model's own output dims (``site``, ``eigenstate``): ``dim_labels(structural)
    #: -> {dim: (values, attrs)}``, attached by :func:`qtmsweep.solve` (:func:`label_coordinates`).
    dim_labels: Callable[[Mapping[str, Any]], Mapping[str, tuple[Any, dict[str, str]]]] | None = None

    def working_bytes_per_cell(self, params: Mapping[str, Any]) -> int:
        """:attr:`cell_bytes` for these (structural) parameters."""
        return _cell_bytes(self.cell_bytes, params, default=256 + 128 * len(self.states) ** 2)

    # -- evaluation ----------------------------------------------------------
    def resolve_method(self, method: str) -> str:
        """The concrete method ``"auto"`` stands for (closed form when the model has one)."""
        if method == "auto":
            return "closed_form" if self.closed_form is not None else "linear"
        return method

    def steady_state(self, params: Mapping[str, np.ndarray], method: str = "auto") -> SteadyState:
        """Evaluate the steady state on flat parameter arrays.

        ``method``: ``"closed_form"`` (exact fused kernel, if the model has one),
        ``"linear"`` (generic batched linear solve of the rate matrix) or
        ``"auto"`` (closed form when available).
        """
        from .pauli import solve_rate_equations

        method = self.resolve_method(method)
        if method == "closed_form":
            if self.closed_form is None:
                raise ValueError(
                    f"method='closed_form' is not available for model {self.name!r}; allowed: 'auto', 'linear'"
                )
            return self.closed_form(params)
        if method == "linear":
            return solve_rate_equations(self, params)
        raise ValueError(f"method={method!r} is not known; allowed: 'auto', 'closed_form', 'linear'")


def fermionic_lead_rates(temperature: str, mu: str, gamma: str):
    """Rates of a fermionic lead with flat coupling: in ``γ f(x)``, out ``γ (1-f(x))``.

    Returns a function ``(omega, params) -> (k_in, k_out, ln(k_in/k_out))`` with
    ``x = (omega - mu)/T``; the log-ratio ``-x`` is exact (no log of a rate).
    """
    from .distributions import fermi_np

    def rates(omega, params):
        x = (omega - params[mu]) / params[temperature]
        g = params[gamma]
        return g * fermi_np(x), g * fermi_np(-x), -x

    return rates


def fermionic_rate_deviation(temperature: str, mu: str, gamma: str):
    """:attr:`RateModel.rate_deviation` of :func:`fermionic_lead_rates`.

    ``f(x) − f(x0)`` with ``x0 − x`` formed from the input differences ``T − T0``, ``mu − mu0``
    (:func:`~qtmsweep.physics.distributions.reduced_energy_difference_np`) and
    ``f(x) − f(y) = (1 − f(x)) f(y) expm1(y − x)``; the out-rate changes by the opposite amount.
    """
    from .distributions import fermi_np, reduced_energy_difference_np

    def deviation(omega, params, T0, mu0):
        T, m, g = params[temperature], params[mu], params[gamma]
        x = (omega - m) / T
        x0 = (omega - mu0) / T0
        d = reduced_energy_difference_np(omega, T0, mu0, T, m)  # x0 - x
        fx, f0 = fermi_np(x), fermi_np(x0)
        hx, h0 = fermi_np(-x), fermi_np(-x0)
        with np.errstate(over="ignore", invalid="ignore"):
            df = np.where(d <= 0, hx * f0 * np.expm1(np.minimum(d, 0.0)), -fx * h0 * np.expm1(-np.maximum(d, 0.0)))
        df = np.where(d == 0, 0.0, df)
        dk = g * df
        return dk, -dk, 2.0 * dk

    return deviation


def label_coordinates(model, structural: Mapping[str, Any], dims) -> dict[str, Any]:
    """The coordinates ``model.dim_labels`` gives for those of ``dims`` it labels (``{}`` without any):
    ``{dim: (dim, values, attrs)}`` for ``Dataset.assign_coords``."""
    labels = getattr(model, "dim_labels", None)
    if labels is None:
        return {}
    return {d: (d, list(values) if not isinstance(values, np.ndarray) else values, dict(attrs))
            for d, (values, attrs) in labels(structural).items() if d in dims}


#: Fixed buffers a sub-batched solver may hold whatever the number of cells (the Lindblad
#: and correlation solvers work in sub-batches of 64 MiB of Liouvillian, plus temporaries).
SOLVER_BUFFER_BYTES = 128 * 2**20


def _cell_bytes(declared, params: Mapping[str, Any], *, default: int) -> int:
    value = declared(params) if callable(declared) else declared
    return int(value) if value is not None else int(default)
