"""Each model's declared working memory per cell bounds what a solve really takes
(besides the fixed sub-batch buffers of ``SOLVER_BUFFER_BYTES``).

The sweep sizes its chunks by ``model.working_bytes_per_cell`` (see
``qtmsweep.sweep.grid.default_chunk_cells``); if a kernel's memory grows, this fails
before a sweep runs its workers out of memory.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import qtmsweep
from qtmsweep.physics.model import SOLVER_BUFFER_BYTES

CASES = [("sqd", {}), ("cqd", {}), ("qubit_fridge", {"approach": "local"}), ("qubit_fridge", {"approach": "global"}),
         ("kerr_fridge", {"N1": 2, "N2": 2}), ("kerr_fridge", {"N1": 3, "N2": 3}), ("kerr_fridge", {"N1": 4, "N2": 3}),
         ("chain", {"N": 2}), ("chain", {"N": 4}), ("chain", {"N": 4, "stat": "boson"})]


@pytest.mark.parametrize("model, structural", CASES)
def test_declared_cell_bytes_bound_the_peak_memory_of_a_solve(model, structural):
    m = qtmsweep.get_model(model)
    params = {**m.defaults(), **structural}
    temps = [p.name for p in m.parameters if p.kind == "temperature"][:2]
    for k in temps:
        params.pop(k)
    grid = qtmsweep.grid(**{temps[0]: np.linspace(0.5, 2.0, 200), temps[1]: np.linspace(0.6, 1.9, 200)})
    qtmsweep.solve(model, **params, **qtmsweep.grid(**{t: [1.0] for t in temps}))  # compile / load caches
    tracemalloc.start()
    try:
        ds = qtmsweep.solve(model, **params, **grid)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n = ds.sigma.size
    declared = m.working_bytes_per_cell({k: params[k] for k in params if m.parameter(k).structural})
    assert peak <= n * declared + SOLVER_BUFFER_BYTES, f"{model} {structural}: {peak / n:.0f} B/cell, declared {declared}"
    assert peak / n > declared / 8, f"{model} {structural}: declared {declared} B/cell is far above {peak / n:.0f}"


def test_heavier_models_get_smaller_automatic_chunks():
    from qtmsweep.sweep import build_plan, validate_config
    from qtmsweep.sweep.grid import CHUNK_BYTES

    def plan(model: str, extra: dict):
        m = qtmsweep.get_model(model)
        temps = [p.name for p in m.parameters if p.kind == "temperature"][:2]
        fixed = {k: v for k, v in {**m.defaults(), **extra}.items() if k not in temps}
        sweep = {"model": model, "fixed": fixed,
                 "grid": {temps[0]: {"linspace": [0.5, 2.0, 4000]}, temps[1]: {"linspace": [0.6, 1.9, 4000]}}}
        return build_plan(validate_config({"sweeps": {"s": sweep}}), "s", probe=False), m

    light, m_light = plan("cqd", {})
    heavy, m_heavy = plan("kerr_fridge", {"N1": 4, "N2": 4})
    assert int(np.prod(light.chunks)) <= 524_288
    cells = int(np.prod(heavy.chunks))
    assert cells * m_heavy.working_bytes_per_cell({"N1": 4, "N2": 4}) <= CHUNK_BYTES
    assert cells < int(np.prod(light.chunks)) / 4
