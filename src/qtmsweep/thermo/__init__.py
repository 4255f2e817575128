"""Thermodynamics on top of the kernels: currents, forces, entropy production, checks."""

from .entropy import entropy_production_from_forces, entropy_production_from_heat
from .currents import heat_current, conservation_residual

__all__ = [
    "heat_current",
    "conservation_residual",
    "entropy_production_from_forces",
    "entropy_production_from_heat",
]
