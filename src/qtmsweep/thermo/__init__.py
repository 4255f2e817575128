"""Thermodynamics on top of the kernels: currents, forces, entropy production, checks,
ICC classification and operating-mode/performance analysis."""

from .entropy import entropy_production_from_forces, entropy_production_from_heat
from .currents import heat_current, conservation_residual
from .classify import CELL_REGIMES, FLUX_REGIMES, classify, regime_name
from .performance import MODES, mode_name, performance

__all__ = [
    "heat_current",
    "conservation_residual",
    "entropy_production_from_forces",
    "entropy_production_from_heat",
    "classify",
    "regime_name",
    "CELL_REGIMES",
    "FLUX_REGIMES",
    "performance",
    "mode_name",
    "MODES",
]
