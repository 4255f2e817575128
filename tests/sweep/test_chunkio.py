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
    assert writer._plan("").direct  # the writer's own encoder, not zarr's fallback
    assert _chunk_files(a) == _chunk_files(b)
    np.testing.assert_array_equal(zarr.open_array(str(b))[...], values)


LZ4 = (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),)


def test_float64_values_are_cast_to_the_arrays_dtype(tmp_path):
    zarr.create_array(str(tmp_path / "a"), shape=(4,), chunks=(4,), dtype="float32", fill_value=np.nan,
                      compressors=LZ4)
    values = np.array([1.0, 1e-17, np.inf, 1 / 3])
    writer = ChunkWriter(tmp_path / "a")
    writer.write("", (slice(0, 4),), values)
    assert writer._plan("").direct
    out = zarr.open_array(str(tmp_path / "a"))[...]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, values.astype(np.float32))


def test_selections_and_values_that_do_not_fit_are_refused(tmp_path):
    zarr.create_array(str(tmp_path / "a"), shape=(10, 3), chunks=(4, 1), dtype="float64", fill_value=np.nan,
                      compressors=LZ4)
    writer = ChunkWriter(tmp_path / "a")
    with pytest.raises(ValueError, match="does not cover whole chunks"):
        writer.write("", (slice(2, 6), slice(None)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"values of shape \(4, 2\) for a selection of shape \(4, 3\)"):
        writer.write("", (slice(0, 4), slice(None)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="step"):
        writer.write("", (slice(0, 4), slice(0, 3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="1 dims"):
        writer.write("", (slice(0, 4),), np.zeros(4))
    assert not [f for f in _chunk_files(tmp_path / "a")]  # nothing was written


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


@pytest.mark.parametrize("compressors", [(BloscCodec(cname="lz4"),), (ZstdCodec(level=1),)], ids=["direct", "zarr"])
def test_a_chunk_equal_to_the_fill_value_still_gets_its_file(tmp_path, compressors):
    """zarr skips such chunks by default; a store whose every chunk has a file lets
    ``qtmsweep verify`` tell a lost file from an empty chunk."""
    zarr.create_array(str(tmp_path / "a"), shape=(6, 5), chunks=(3, 5), dtype="float64", fill_value=np.nan,
                      compressors=compressors)
    writer = ChunkWriter(tmp_path / "a")
    writer.write("", (slice(0, 3), slice(None)), np.full((3, 5), np.nan))
    assert (tmp_path / "a" / "c" / "0" / "0").is_file()
    assert not (tmp_path / "a" / "c" / "1" / "0").exists()  # never written
    assert np.isnan(zarr.open_array(str(tmp_path / "a"))[...]).all()


def test_no_temporary_file_is_left_and_a_recreated_store_is_written(tmp_path):
    import shutil

    path = tmp_path / "g"
    group = zarr.open_group(str(path), mode="w")
    group.create_array("x", shape=(4, 2), chunks=(2, 2), dtype="float64", fill_value=np.nan, compressors=LZ4)
    writer = ChunkWriter(path)
    writer.write("x", (slice(0, 2), slice(None)), np.ones((2, 2)))
    assert writer._plan("x").direct
    assert list(_chunk_files(path)) == ["x/c/0/0"]  # the chunk, and no temporary file
    # the store is deleted and made again under the same path (a --fresh run in a long-lived worker)
    shutil.rmtree(path)
    group = zarr.open_group(str(path), mode="w")
    group.create_array("x", shape=(4, 2), chunks=(2, 2), dtype="float64", fill_value=np.nan, compressors=LZ4)
    writer.write("x", (slice(2, 4), slice(None)), np.full((2, 2), 2.0))
    out = zarr.open_group(str(path))["x"][...]
    assert np.isnan(out[:2]).all() and (out[2:] == 2.0).all()
