"""issue 16: a crc32c of every data file is recorded with its chunk's bookkeeping and checked by
`verify` (a flipped byte that still decodes, a valid file copied into another chunk's place), and
`durable: true` fsyncs the files before the flag."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import zarr

from qtmsweep.sweep import RunOptions, run_sweep
from qtmsweep.sweep.chunkio import crc32c
from qtmsweep.sweep.store import BOOKKEEPING, mark_incomplete
from qtmsweep.sweep.verify import repair_store, verify_store

from .conftest import INLINE, data_vars_equal





def test_crc32c_is_the_one_zarrs_crc32c_codec_appends(tmp_path):
    from zarr.codecs import BytesCodec, Crc32cCodec

    path = tmp_path / "b.zarr"
    z = zarr.create_array(str(path), shape=(64,), chunks=(64,), dtype="float64", serializer=BytesCodec(),
                          compressors=[Crc32cCodec()])
    z[:] = np.linspace(0.0, 1.0, 64)
    data = (path / "c" / "0").read_bytes()
    assert int.from_bytes(data[-4:], "little") == crc32c(data[:-4])
    assert crc32c(b"123456789") == 0xE3069283  # the published CRC-32C check value


def test_a_flipped_byte_that_still_decodes_is_found_and_named(store, reference):
    victim = store / "sigma" / "c" / "1" / "1"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    zarr.open_array(str(store / "sigma"), mode="r")[4:8, 3:6]  # blosc decodes it without complaint
    report = verify_store(store)
    assert list(report.bad) == [(1, 1)] and "sigma: chunk file 1/1 has crc32c" in report.bad[(1, 1)][0]
    proc = subprocess.run([sys.executable, "-m", "qtmsweep.cli", "verify", str(store)], capture_output=True, text=True)
    assert proc.returncode == 1 and "chunk 1,1" in proc.stdout and "sigma: chunk file 1/1" in proc.stdout
    repair_store(store, report)
    run_sweep(reference[0], "s", store, INLINE)
    assert verify_store(store).ok
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(reference[1], ds.load())


def test_a_valid_file_copied_into_another_chunks_place_is_found(store):
    shutil.copyfile(store / "J_E" / "c" / "0" / "0" / "1", store / "J_E" / "c" / "2" / "1" / "1")
    report = verify_store(store)
    assert list(report.bad) == [(2, 1)] and report.bad[(2, 1)][0].startswith("J_E: chunk file 2/1/1 has crc32c")


def test_a_store_without_checksums_still_verifies_and_resumes(store, reference):
    """Stores of the format before the checksums (no `_sweep/crc32c`) keep reading."""
    shutil.rmtree(store / BOOKKEEPING / "crc32c")
    assert verify_store(store).ok
    mark_incomplete(store, [(0, 0)])
    assert run_sweep(reference[0], "s", store, INLINE).chunks_computed == 1
    assert verify_store(store).ok
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(reference[1], ds.load())


def test_durable_fsyncs_every_file_and_directory_before_the_flag(tmp_path, reference, monkeypatch):
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    run_sweep(reference[0], "s", tmp_path / "plain.zarr", INLINE)
    assert not calls
    store = tmp_path / "durable.zarr"
    run_sweep(reference[0], "s", store, RunOptions(cluster="inline", progress=False, durable=True))
    files = sum(1 for p in store.rglob("*") if p.is_file() and "c" in p.relative_to(store).parts
                and p.relative_to(store).parts[0] not in ("T_a", "mu_a", "lead", "state"))
    assert len(calls) >= 2 * files  # each chunk file, and its directory after the rename
    with xr.open_zarr(str(store)) as ds:
        data_vars_equal(reference[1], ds.load())


def test_durable_must_be_a_boolean():
    with pytest.raises(ValueError, match="durable="):
        RunOptions(cluster="inline", durable="yes").validate()
