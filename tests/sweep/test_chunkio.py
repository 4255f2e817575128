"""ChunkWriter: whole-chunk writes that produce the files zarr itself writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from qtmsweep.sweep.chunkio import ChunkWriter


def _chunk_files(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every chunk file (metadata excluded)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f != "zarr.json":
                p = Path(dirpath) / f
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


def _pair(tmp_path, shape, chunks, dtype, compressors, fill_value=np.nan):
    made = []
    for name in ("by_zarr", "by_writer"):
        made.append(zarr.create_array(str(tmp_path / name), shape=shape, chunks=chunks, dtype=dtype,
                                      fill_value=fill_value, compressors=compressors))
    return tmp_path / "by_zarr", tmp_path / "by_writer"


@pytest.mark.parametrize("compressors", [(BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),),
                                         (BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),), None])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int8"])
def test_chunk_files_are_byte_identical_to_zarrs_own(tmp_path, compressors, dtype):
    """Every chunk, the partial edge chunks included, has the bytes zarr's setitem writes."""
    shape, chunks = (7, 10, 3), (3, 4, 1)
    a, b = _pair(tmp_path, shape, chunks, dtype, compressors, fill_value=0 if dtype == "int8" else np.nan)
    rng = np.random.default_rng(5)
    values = (rng.integers(-100, 100, shape) if dtype == "int8" else np.cumsum(rng.normal(size=shape), axis=1))
    values = values.astype(dtype)
    za = zarr.open_array(str(a), mode="r+")
    writer = ChunkWriter(b)
    for i in range(0, 7, 3):  # whole chunk rows, the last one partial
        for j in range(0, 10, 4):
            sel = (slice(i, min(i + 3, 7)), slice(j, min(j + 4, 10)), slice(None))
            za[sel] = values[sel]
            writer.write("", sel, values[sel])
    assert _chunk_files(a) == _chunk_files(b)
    np.testing.assert_array_equal(zarr.open_array(str(b))[...], values)


def test_float64_values_are_cast_to_the_arrays_dtype(tmp_path):
    zarr.create_array(str(tmp_path / "a"), shape=(4,), chunks=(4,), dtype="float32", fill_value=np.nan)
    values = np.array([1.0, 1e-17, np.inf, 1 / 3])
    ChunkWriter(tmp_path / "a").write("", (slice(0, 4),), values)
    out = zarr.open_array(str(tmp_path / "a"))[...]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, values.astype(np.float32))


def test_a_selection_that_splits_a_chunk_is_refused(tmp_path):
    zarr.create_array(str(tmp_path / "a"), shape=(10,), chunks=(4,), dtype="float64", fill_value=np.nan,
                      compressors=(BloscCodec(cname="lz4"),))
    with pytest.raises(ValueError, match="does not cover whole chunks"):
        ChunkWriter(tmp_path / "a").write("", (slice(2, 6),), np.zeros(4))


def test_other_codec_chains_fall_back_to_zarr(tmp_path):
    """A chain the writer does not encode itself (zstd, no blosc) is written through zarr."""
    zarr.create_array(str(tmp_path / "a"), shape=(6, 5), chunks=(3, 5), dtype="float64", fill_value=np.nan,
                      compressors=(ZstdCodec(level=1),))
    writer = ChunkWriter(tmp_path / "a")
    values = np.arange(30.0).reshape(6, 5)
    writer.write("", (slice(3, 6), slice(None)), values[3:])
    assert not writer._plan("").direct
    out = zarr.open_array(str(tmp_path / "a"))[...]
    np.testing.assert_array_equal(out[3:], values[3:])
    assert np.isnan(out[:3]).all()


def test_no_temporary_file_is_left_and_a_recreated_store_is_written(tmp_path):
    import shutil

    path = tmp_path / "g"
    group = zarr.open_group(str(path), mode="w")
    group.create_array("x", shape=(4, 2), chunks=(2, 2), dtype="float64", fill_value=np.nan)
    writer = ChunkWriter(path)
    writer.write("x", (slice(0, 2), slice(None)), np.ones((2, 2)))
    assert not [f for f in _chunk_files(path) if f.endswith(".partial")]
    # the store is deleted and made again under the same path (a --fresh run in a long-lived worker)
    shutil.rmtree(path)
    group = zarr.open_group(str(path), mode="w")
    group.create_array("x", shape=(4, 2), chunks=(2, 2), dtype="float64", fill_value=np.nan)
    writer.write("x", (slice(2, 4), slice(None)), np.full((2, 2), 2.0))
    out = zarr.open_group(str(path))["x"][...]
    assert np.isnan(out[:2]).all() and (out[2:] == 2.0).all()
