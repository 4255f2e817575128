"""`verify_store` / `qtmsweep verify` and `qtmsweep invalidate`: damaged chunks are found, named,
marked, and a rerun recomputes exactly those, to the same bytes as an undamaged run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from qtmsweep.sweep import run_sweep, validate_config
from qtmsweep.sweep.store import BOOKKEEPING, StoreLock, read_bookkeeping
from qtmsweep.sweep.verify import repair_store, verify_store

from .conftest import CLI, INLINE, data_vars_equal, grid_sweep, make_config, write_config

REPO = Path(__file__).resolve().parents[2]
#: One preset sweep per model and approach (their grids shrunk below).
PRESETS = [("config/config.yaml", "model_I"), ("config/sweeps/003_fig3.yaml", "003_fig3"),
           ("config/sweeps/003_fig5.yaml", "003_fig5_global"), ("config/sweeps/003_fig7.yaml", "003_fig7_N2x2"),
           ("config/sweeps/004_fig2.yaml", "004_fig2_two_qubits"), ("config/sweeps/004_fig4.yaml", "004_fig4_upper")]


def _shrunk(axis):
    """An axis spec with at most 4 points (a fixed value stays)."""
    if not isinstance(axis, dict):
        return axis
    axis = dict(axis)
    for kind in ("linspace", "logspace", "geomspace"):
        if kind in axis:
            axis[kind] = [axis[kind][0], axis[kind][1], min(int(axis[kind][2]), 4)]
    if "values" in axis:
        axis["values"] = axis["values"][:2]
    return axis





def _mtimes(path: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file() and p.parent.name != path.name}


def test_an_intact_store_verifies_with_every_file_read(store):
    report = verify_store(store)
    assert report.ok and report.chunks_checked == report.chunks_flagged == report.chunks_total == 12
    with xr.open_zarr(str(store)) as ds:
        per_chunk = sum(int(np.prod([ds.sizes[d] for d in v.dims if d not in ("T_a", "mu_a")]))
                        for v in ds.data_vars.values())
        coords = len(ds.coords)  # each coordinate is one zarr chunk, written with the template
    assert report.files_read == 12 * (1 + per_chunk + 2) + coords  # flag, data, run, counts; coordinates


@pytest.mark.parametrize("preset", PRESETS, ids=[n for _, n in PRESETS])
def test_every_models_store_verifies_and_a_lost_file_of_any_variable_is_found(tmp_path, preset):
    import yaml

    from qtmsweep.sweep import load_config

    path, name = preset
    sweep = dict(load_config(REPO / path)["sweeps"][name])
    for section in ("grid", "forces"):
        if sweep.get(section):
            sweep[section] = {k: _shrunk(v) for k, v in sweep[section].items()}
    sweep.pop("chunks", None)
    sweep["chunk_cells"] = 2
    cfg = validate_config(yaml.safe_load(yaml.safe_dump(make_config(s=sweep))))
    store = tmp_path / "s.zarr"
    run_sweep(cfg, "s", store, INLINE)
    report = verify_store(store)
    assert report.ok and report.chunks_checked == report.chunks_total > 1, report
    with xr.open_zarr(str(store)) as ds:
        name = max(ds.data_vars, key=lambda v: (ds[v].ndim, v))  # a variable with the most non-swept dims
        var_dims = ds[name].dims
    chunk = tuple(int(i) for i in np.argwhere(read_bookkeeping(store)["done"])[-1])
    key = [chunk[report.chunk_dims.index(d)] if d in report.chunk_dims else 0 for d in var_dims]
    (store / name / "c").joinpath(*map(str, key)).unlink()
    assert verify_store(store).bad == {chunk: [f"{name}: chunk file {'/'.join(map(str, key))} missing"]}


def test_garbage_missing_and_truncated_files_are_each_named(store):
    (store / "sigma" / "c" / "1" / "2").write_bytes(os.urandom(64))
    (store / "J_E" / "c" / "2" / "0" / "1").unlink()
    f = store / "p" / "c" / "3" / "1" / "0"
    size = f.stat().st_size
    f.write_bytes(f.read_bytes()[: size // 2])
    report = verify_store(store)
    assert set(report.bad) == {(1, 2), (2, 0), (3, 1)}
    assert len(report.bad[(1, 2)]) == 1 and report.bad[(1, 2)][0].startswith("sigma: chunk file 1/2 ")
    assert report.bad[(2, 0)] == ["J_E: chunk file 2/0/1 missing"]
    assert report.bad[(3, 1)] == [f"p: chunk file 3/1/0 has {size // 2} bytes, its blosc header says {size} "
                                  "(truncated or overwritten)"]
    assert report.cells((3, 1)) == {"T_a": (12, 13), "mu_a": (3, 6)}  # an edge chunk


def test_a_file_with_an_intact_header_and_a_garbage_body_does_not_decode(tmp_path):
    """Chunks large enough for blosc to compress (1000 cells): a corrupt body fails decompression."""
    path = tmp_path / "s.zarr"
    run_sweep(validate_config(make_config(s=grid_sweep(40, 50, chunks={"T_a": 20}))), "s", path, INLINE)
    f = path / "sigma" / "c" / "1" / "0"
    raw = f.read_bytes()
    f.write_bytes(raw[:16] + b"\xff" * (len(raw) - 16))  # same size, same header
    bad = verify_store(path).bad
    assert list(bad) == [(1, 0)] and len(bad[(1, 0)]) == 1
    assert bad[(1, 0)][0].startswith("sigma: chunk file 1/0 does not decode (RuntimeError: error during blosc")


def test_a_damaged_flag_or_run_record_is_found(store):
    from qtmsweep.sweep.chunkio import ChunkWriter

    (store / BOOKKEEPING / "done" / "c" / "0" / "1").write_bytes(b"\x00" * 7)
    ChunkWriter(store).write(f"{BOOKKEEPING}/done", (slice(0, 1), slice(2, 3)), np.zeros((1, 1), np.int8))
    ChunkWriter(store).write(f"{BOOKKEEPING}/run", (slice(1, 2), slice(0, 1)), np.full((1, 1), 7, np.int32))
    (store / BOOKKEEPING / "run" / "c" / "2" / "2").unlink()
    bad = verify_store(store).bad
    assert set(bad) == {(0, 1), (0, 2), (1, 0), (2, 2)}
    assert bad[(0, 1)] == [f"{BOOKKEEPING}/done: has 7 bytes, an uncompressed chunk has 1"]
    assert bad[(0, 2)] == [f"{BOOKKEEPING}/done: holds 0, a flag is 1"]
    assert bad[(1, 0)] == [f"{BOOKKEEPING}/run: run 7 is not a run of this store (runs: [1])"]
    assert bad[(2, 2)] == [f"{BOOKKEEPING}/run: chunk file 2/2 missing"]


def test_repair_then_rerun_recomputes_only_the_bad_chunks_and_equals_an_undamaged_run(store, reference):
    cfg, ref = reference
    (store / "sigma" / "c" / "1" / "2").write_bytes(os.urandom(200))
    (store / "J_N" / "c" / "0" / "0" / "2").unlink()
    before = _mtimes(store)
    report = repair_store(store)
    assert set(report.bad) == {(1, 2), (0, 0)}
    assert verify_store(store).ok and verify_store(store).chunks_flagged == 10
    result = run_sweep(cfg, "s", store, INLINE)
    assert result.complete and result.chunks_computed == 2
    book = read_bookkeeping(store)
    assert book["run"][1, 2] == book["run"][0, 0] == 2 and (book["run"] == 2).sum() == 2
    untouched = {p: t for p, t in before.items() if not any(f"/c/{i}/{j}" in str(p) for i, j in report.bad)}
    assert {p: _mtimes(store)[p] for p in untouched} == untouched  # no other chunk file was written again
    assert verify_store(store).ok
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())


def test_cli_verify_reports_exit_1_and_repair_marks_the_chunks(store, tmp_path):
    ok = subprocess.run(CLI + ["verify", str(store)], capture_output=True, text=True)
    assert ok.returncode == 0 and "bad:     0 chunks" in ok.stdout, ok.stdout + ok.stderr
    (store / "sigma" / "c" / "2" / "1").write_bytes(os.urandom(100))
    bad = subprocess.run(CLI + ["verify", str(store)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "chunk 2,1 (T_a[8:12] mu_a[3:6]):" in bad.stdout and "sigma: chunk file 2/1 " in bad.stdout
    assert "--repair" in bad.stdout
    doc = json.loads(subprocess.run(CLI + ["verify", str(store), "--json"], capture_output=True, text=True).stdout)
    assert doc["bad"][0]["chunk"] == [2, 1] and doc["bad"][0]["cells"] == {"T_a": [8, 12], "mu_a": [3, 6]}
    fixed = subprocess.run(CLI + ["verify", str(store), "--repair"], capture_output=True, text=True)
    assert fixed.returncode == 0 and "marked 1 chunk(s) incomplete" in fixed.stdout
    assert not read_bookkeeping(store)["done"][2, 1] and read_bookkeeping(store)["done"].sum() == 11
    config = write_config(tmp_path / "c.yaml", make_config(s=grid_sweep()))
    subprocess.run(CLI + ["run", str(config), "--store", str(store), "--sweep", "s", "--no-progress"], check=True,
                   capture_output=True)
    assert subprocess.run(CLI + ["verify", str(store)], capture_output=True, text=True).returncode == 0


def test_cli_invalidate_marks_chunks_and_refuses_bad_indices(store):
    out = subprocess.run(CLI + ["invalidate", str(store), "1,1", "3,2"], capture_output=True, text=True)
    assert out.returncode == 0 and "2 of 2 chunk(s) marked incomplete" in out.stdout
    done = read_bookkeeping(store)["done"]
    assert not done[1, 1] and not done[3, 2] and done.sum() == 10
    again = subprocess.run(CLI + ["invalidate", str(store), "1,1"], capture_output=True, text=True)
    assert again.returncode == 0 and "0 of 1 chunk(s) marked incomplete (1 were not flagged done)" in again.stdout
    for arg, message in (("1;1", "chunk '1;1': allowed: chunk-grid indices separated by commas"),
                         ("4,0", "chunk (4, 0) is not in the chunk grid (4, 3)"),
                         ("1", "chunk (1,) is not in the chunk grid (4, 3)")):
        bad = subprocess.run(CLI + ["invalidate", str(store), arg], capture_output=True, text=True)
        assert bad.returncode == 2 and message in bad.stderr, (arg, bad.stderr)
    assert read_bookkeeping(store)["done"].sum() == 10  # nothing more was marked


def test_repair_is_refused_while_a_run_holds_the_lock_and_marks_nothing(store):
    (store / "sigma" / "c" / "0" / "0").write_bytes(os.urandom(100))
    lock = StoreLock(store).acquire()
    try:
        out = subprocess.run(CLI + ["verify", str(store), "--repair"], capture_output=True, text=True)
        assert out.returncode == 2 and "is being written by another run" in out.stderr, out.stderr
        # reading needs no lock
        assert subprocess.run(CLI + ["verify", str(store)], capture_output=True).returncode == 1
    finally:
        lock.release(remove=True)
    assert read_bookkeeping(store)["done"].all()


def test_verify_refuses_what_is_not_a_qtmsweep_store(tmp_path):
    out = subprocess.run(CLI + ["verify", str(tmp_path / "nothing.zarr")], capture_output=True, text=True)
    assert out.returncode == 2 and "is not a zarr store" in out.stderr
    xr.Dataset({"x": ("a", np.arange(3.0))}).to_zarr(str(tmp_path / "other.zarr"), consolidated=False)
    out = subprocess.run(CLI + ["verify", str(tmp_path / "other.zarr")], capture_output=True, text=True)
    assert out.returncode == 2 and "not written by qtmsweep" in out.stderr
    out = subprocess.run(CLI + ["verify", str(tmp_path / "other.zarr"), "--max-chunks", "0"], capture_output=True,
                         text=True)
    assert out.returncode == 2 and "--max-chunks 0: allowed: a positive number" in out.stderr
