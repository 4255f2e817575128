"""qtmsweep: thermodynamic maps of quantum thermal machines over large parameter grids."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("qtmsweep")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from .physics.registry import available_models, get_model  # noqa: E402
from .solve import grid, solve  # noqa: E402
from .physics.declared import define_model  # noqa: E402
from .sweep.opening import open_store  # noqa: E402

__all__ = ["__version__", "available_models", "define_model", "get_model", "grid", "open_store", "solve"]
