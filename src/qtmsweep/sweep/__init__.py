"""Sweep pipeline: YAML config -> grid -> chunked Dask computation -> zarr store (resumable).

* :mod:`~qtmsweep.sweep.config` — load, validate (JSON schema, defaults), canonical YAML + SHA-256;
* :mod:`~qtmsweep.sweep.grid` — axes, force-space grids, chunking, per-chunk parameters;
* :mod:`~qtmsweep.sweep.store` — the zarr store (a facade over :mod:`~qtmsweep.sweep.layout`, ``lock``,
  ``provenance``, ``template``, ``bookkeeping``, ``chunkwrite``, ``info``);
* :mod:`~qtmsweep.sweep.execute` — clusters (local / address / SLURM / inline), scheduling, progress;
* :mod:`~qtmsweep.sweep.verify` — read back a store's computed chunks, mark the damaged ones.
"""

from .config import SCHEMA_PATH, ConfigError, load_config, sweep_sha256, sweep_yaml, validate_config
from .execute import RunOptions, SweepResult, available_cpus, default_store, run_sweep, run_sweeps
from .export import export_store
from .grid import SweepPlan, build_plan
from .opening import IncompleteStoreWarning, open_store
from .store import StoreError, store_info
from .verify import VerifyReport, repair_store, verify_store

__all__ = [
    "SCHEMA_PATH", "ConfigError", "IncompleteStoreWarning", "RunOptions", "StoreError", "SweepPlan", "SweepResult", "VerifyReport",
    "available_cpus", "build_plan", "default_store", "export_store", "load_config", "open_store", "repair_store", "run_sweep", "run_sweeps",
    "store_info", "sweep_sha256", "sweep_yaml", "validate_config", "verify_store",
]
