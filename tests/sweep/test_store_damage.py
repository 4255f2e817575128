"""issue 16: damaged or unusual stores are found by `verify`, repaired by `--repair` + a rerun, or
named with the file and what to do -- never a traceback.  Each test starts from the issue's reproducer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from qtmsweep.sweep import StoreError, run_sweep, store_info, validate_config
from qtmsweep.sweep.store import BOOKKEEPING, StoreLock, read_bookkeeping
from qtmsweep.sweep.verify import repair_store, verify_store

from .conftest import INLINE, cli, data_vars_equal, grid_sweep, make_config, no_traceback, write_config







def rerun_equals_reference(store: Path, reference) -> None:
    cfg, ref = reference
    run_sweep(cfg, "s", store, INLINE)
    assert verify_store(store).ok
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(ref, ds.load())
        assert ds.attrs["complete"] and all(ds.attrs[f"invariant_{k}"] == 0 for k in read_bookkeeping(store)["counters"])


# -- analysis stores ----------------------------------------------------------------------------------
def test_info_and_verify_of_a_separate_analysis_store(store, tmp_path):
    """`qtmsweep info/verify results/model_I/analysis.zarr` crashed with KeyError: '_sweep'."""
    from qtmsweep.analysis import analyze_store

    out = analyze_store(store, tmp_path / "analysis.zarr")
    info = cli("info", out)
    no_traceback(info)
    assert info.returncode == 0 and "analysis store" in info.stdout
    assert store_info(out)["kind"] == "analysis"
    ver = cli("verify", out)
    no_traceback(ver)
    assert ver.returncode == 0, ver.stdout
    victim = next((out / "cop").rglob("c/*/*"))
    victim.write_bytes(b"\x00garbage")
    ver = cli("verify", out)
    assert ver.returncode == 1 and "cop: chunk file" in ver.stdout and "analyze" in ver.stdout


def test_verify_after_in_place_analyze_passes_and_finds_a_lost_analysis_file(store):
    """After `qtmsweep analyze STORE`, verify said `cooling_power: chunk file 0/0 missing`: all-NaN
    analysis chunks were never written."""
    from qtmsweep.analysis import analyze_store

    analyze_store(store)
    with xr.open_zarr(str(store)) as ds:
        assert bool(ds["cooling_power"].isnull().any())  # the chunks that used to be skipped exist
        n_chunks = int(np.prod([-(-ds.sizes[d] // c) for d, c in zip(("T_a", "mu_a"), (4, 3))]))
    assert len([p for p in (store / "cooling_power" / "c").rglob("*") if p.is_file()]) == n_chunks
    report = verify_store(store)
    assert report.ok and not report.notes
    assert cli("verify", store).returncode == 0
    os.unlink(store / "cooling_power" / "c" / "0" / "0")
    report = verify_store(store)
    assert not report.ok and any("cooling_power: chunk file 0/0 missing" in p for p in report.analysis_problems)
    assert not report.bad  # the sweep's own chunks are fine: nothing to recompute


# -- damaged bookkeeping and metadata -----------------------------------------------------------------
def test_a_deleted_done_directory_is_named_then_repaired_and_rerun(store, reference, tmp_path):
    """A deleted `_sweep/done/` crashed verify, info and run with KeyError: 'done'."""
    import shutil

    shutil.rmtree(store / BOOKKEEPING / "done")
    cfg_path = write_config(tmp_path / "c.yaml", make_config(s=grid_sweep()))
    for args in (("info", store), ("run", cfg_path, "--store", store, "--sweep", "s", "--no-progress")):
        proc = cli(*args)
        no_traceback(proc)
        assert proc.returncode == 2 and "_sweep/done" in proc.stderr and "verify --repair" in proc.stderr
    ver = cli("verify", store)
    no_traceback(ver)
    assert ver.returncode == 1 and "_sweep/done" in ver.stdout
    assert cli("verify", "--repair", store).returncode == 0
    assert not read_bookkeeping(store)["done"].any()
    rerun_equals_reference(store, reference)


def test_a_garbled_zarr_json_is_named(store, tmp_path):
    """A garbled `zarr.json` gave a bare decode message naming no file."""
    cfg_path = write_config(tmp_path / "c.yaml", make_config(s=grid_sweep()))
    for victim in (store / "zarr.json", store / "sigma" / "zarr.json", store / BOOKKEEPING / "done" / "zarr.json"):
        original = victim.read_bytes()
        victim.write_bytes(original[: len(original) // 2])
        for args in (("info", store), ("verify", store),
                     ("run", cfg_path, "--store", store, "--sweep", "s", "--no-progress")):
            proc = cli(*args)
            no_traceback(proc)
            assert proc.returncode == 2 and str(victim) in proc.stderr, (args, proc.stderr)
        victim.write_bytes(original)
    assert verify_store(store).ok


def test_garbled_truncated_or_deleted_coordinate_chunks_are_found(store):
    """verify passed a garbled or truncated coordinate chunk (then xr.open_zarr failed) and a deleted
    `lead` chunk (labels read back wrong)."""
    for victim, damage in ((store / "T_a" / "c" / "0", lambda b: b[:-3]),
                           (store / "mu_a" / "c" / "0", lambda b: bytes(len(b))),
                           (store / "lead" / "c" / "0", None)):
        original = victim.read_bytes()
        if damage is None:
            os.unlink(victim)
        else:
            victim.write_bytes(damage(original))
        report = verify_store(store)
        name = victim.parts[-3]
        assert not report.ok and any(p.startswith(f"{name}: chunk file 0") for p in report.store_problems), \
            report.store_problems
        assert not report.repairable  # named with what to do: restore the file, or --fresh
        victim.write_bytes(original)
    assert verify_store(store).ok


def test_overwritten_counts_are_found_and_repaired(store, reference):
    """Overwritten `_sweep/counts`: the summary then claimed 12345 violations."""
    import zarr

    counts = zarr.open_array(str(store / BOOKKEEPING / "counts"), mode="r+")
    counts[1, 2, 0] = 12345
    report = verify_store(store)
    assert list(report.bad) == [(1, 2)] and "counts" in report.bad[(1, 2)][0]
    repair_store(store, report)
    rerun_equals_reference(store, reference)


# -- lock, template, disk errors ----------------------------------------------------------------------
def test_a_symlinked_store_path_takes_the_same_lock(store, tmp_path):
    """A symlinked store path got around the lock (two runs at once)."""
    link = tmp_path / "link.zarr"
    link.symlink_to(store)
    with StoreLock(store):
        with pytest.raises(StoreError, match="being written by another run"):
            StoreLock(link).acquire()


def test_sigkill_while_the_template_is_written_leaves_no_store(tmp_path, reference):
    """A SIGKILL while the template was written left a store every later command refused."""
    store = tmp_path / "s.zarr"
    cfg_path = write_config(tmp_path / "c.yaml", make_config(s=grid_sweep()))
    code = ("import os, signal, qtmsweep.sweep.template as t\n"
            "def die(*a, **k): os.kill(os.getpid(), signal.SIGKILL)\n"
            "t.create_bookkeeping = die\n"
            "from qtmsweep.cli import main\n"
            f"main(['run', {str(cfg_path)!r}, '--store', {str(store)!r}, '--sweep', 's', '--no-progress'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    assert not store.exists()  # the half template is a hidden sibling, removed by the next run
    for extra in ((), ("--overwrite",)):
        proc = cli("run", cfg_path, "--store", store, "--sweep", "s", "--no-progress", *extra)
        no_traceback(proc)
        assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.glob(".s.zarr.*"))
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(reference[1], ds.load())


@pytest.mark.parametrize("where", ["template", "finish_run"])
def test_disk_full_at_template_time_or_in_finish_run_is_a_message(tmp_path, reference, monkeypatch, where):
    import errno

    import qtmsweep.sweep.bookkeeping as bk
    import qtmsweep.sweep.template as tp

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "s.zarr" / "zarr.json"))

    if where == "template":
        monkeypatch.setattr(tp, "update_attrs", full)
    else:
        monkeypatch.setattr(bk, "_write_summary", full)
    with pytest.raises(StoreError, match="No space left on device") as err:
        run_sweep(reference[0], "s", tmp_path / "s.zarr", INLINE)
    assert "s.zarr" in str(err.value)
    if where == "template":
        assert not (tmp_path / "s.zarr").exists() and not list(tmp_path.glob(".s.zarr.*"))
    else:
        assert "written and flagged" in str(err.value)
        monkeypatch.undo()
        result = run_sweep(reference[0], "s", tmp_path / "s.zarr", INLINE)
        assert result.chunks_computed == 0 and result.complete


def test_a_store_made_before_the_population_check_resumes_with_its_own_counters(store, reference):
    """Stores of the current format keep reading: one recorded 5 counters (no population_range)."""
    import zarr

    from qtmsweep.sweep.store import mark_incomplete

    book = zarr.open_group(str(store), mode="r+", use_consolidated=False)[BOOKKEEPING]
    old = ["second_law", "energy_conservation", "particle_conservation", "precision", "nonfinite"]
    grid = book["done"].shape
    del book["counts"]
    book.create_array("counts", shape=grid + (5,), chunks=(1,) * len(grid) + (5,), dtype="int64", fill_value=0,
                      compressors=None)
    book["counts"][...] = 0
    book.attrs["counters"] = old
    mark_incomplete(store, [(0, 0)])
    import qtmsweep.sweep.chunkwrite as chunkwrite

    chunkwrite._WRITERS.clear()  # as in a new process (a newer qtmsweep): this one cached the store's layout
    result = run_sweep(reference[0], "s", store, INLINE)
    assert result.chunks_computed == 1 and result.complete and list(result.invariants) == old
    assert store_info(store)["invariants"] == dict.fromkeys(old, 0)


def test_alias_and_label_coordinates_carry_units_and_names(tmp_path):
    """The alias coordinates T, dT were stored with units '1', long_name 'T'; lead/state had no attrs."""
    import qtmsweep

    model = qtmsweep.get_model("chain")
    fixed = {k: v for k, v in model.defaults().items() if k not in ("T_L", "T_R")}
    cfg = validate_config({"sweeps": {"c": {"model": "chain", "fixed": fixed,
                                            "grid": {"T": {"linspace": [1.0, 2.0, 3]},
                                                     "dT": {"linspace": [0.01, 0.1, 2]}}}}})
    store = tmp_path / "c.zarr"
    run_sweep(cfg, "c", store, INLINE)
    with xr.open_zarr(str(store)) as ds:
        units = model.parameter("T_L").units
        assert ds["T"].attrs["units"] == units and "(T_L + T_R)/2" in ds["T"].attrs["long_name"]
        assert ds["dT"].attrs["units"] == units and "T_L - T_R" in ds["dT"].attrs["long_name"]
        assert "into the system" in ds["lead"].attrs["long_name"]
        assert np.allclose(ds["T"].values, [1.0, 1.5, 2.0])
