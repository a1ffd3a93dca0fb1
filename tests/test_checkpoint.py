"""Tests for tinygrad_rnn.checkpoint: round trips, corruption detection, atomic writes."""

import json
import os
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_rnn import checkpoint
from tinygrad_rnn.checkpoint import atomic_write_bytes, atomic_write_text, load_checkpoint, save_checkpoint

META = {"step": 120, "lr": 0.001, "vocab": {"chars": "ab\n", "unknown": "error"}, "history": [1.5, 1.2]}


def sample_arrays():
    rng = np.random.default_rng(0)
    return {
        "w.f32": rng.standard_normal((3, 4)).astype(np.float32),
        "b.f64": rng.standard_normal(5),
        "ids": np.arange(7, dtype=np.int64),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def assert_same_arrays(loaded, saved):
    assert set(loaded) == set(saved)
    for name, array in saved.items():
        assert loaded[name].dtype == array.dtype, name
        assert loaded[name].shape == array.shape, name
        assert np.array_equal(loaded[name], array), name


def test_round_trip(tmp_path):
    directory = tmp_path / "run" / "ckpt"  # parents are created
    arrays = sample_arrays()
    save_checkpoint(directory, arrays, META)
    loaded, meta = load_checkpoint(directory)
    assert_same_arrays(loaded, arrays)
    assert meta == META


array_dicts = st.dictionaries(
    st.text("abcxyz_.", min_size=1, max_size=8),
    hnp.arrays(
        st.sampled_from([np.float32, np.float64, np.int64]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    ),
    max_size=4,
)


@given(arrays=array_dicts)
def test_round_trip_property(tmp_path_factory, arrays):
    directory = tmp_path_factory.mktemp("ckpt")
    save_checkpoint(directory, arrays, {"n": len(arrays)})
    loaded, meta = load_checkpoint(directory)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)  # NaN-aware
    assert set(loaded) == set(arrays) and meta == {"n": len(arrays)}


def test_overwrite_replaces_previous_checkpoint(tmp_path):
    save_checkpoint(tmp_path, sample_arrays(), META)
    save_checkpoint(tmp_path, {"x": np.ones(2)}, {"step": 2})
    loaded, meta = load_checkpoint(tmp_path)
    assert list(loaded) == ["x"] and meta == {"step": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.npz", "meta.json"]


def test_meta_records_format_names_and_checksum(tmp_path):
    save_checkpoint(tmp_path, sample_arrays(), META)
    record = json.loads((tmp_path / "meta.json").read_text())
    assert record["format"] == "tinygrad_rnn.checkpoint/1"
    assert record["arrays"] == sorted(sample_arrays())
    assert isinstance(record["npz_crc32"], int)


def test_rejects_non_numpy_arrays(tmp_path):
    with pytest.raises(TypeError, match="NumPy"):
        save_checkpoint(tmp_path, {"w": [1.0, 2.0]}, {})
    with pytest.raises(TypeError, match="'file'"):
        save_checkpoint(tmp_path, {"file": np.ones(1)}, {})
    assert not (tmp_path / "arrays.npz").exists()


def test_unserialisable_meta_writes_nothing(tmp_path):
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path, {"w": np.ones(1)}, {"bad": object()})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- load errors


@pytest.fixture
def saved(tmp_path):
    directory = tmp_path / "ckpt"
    save_checkpoint(directory, sample_arrays(), META)
    return directory


def expect_error(directory, match):
    with pytest.raises(ValueError, match=match) as info:
        load_checkpoint(directory)
    message = str(info.value)
    assert str(directory) in message and "\n" not in message
    return message


def rewrite_meta(directory, **changes):
    record = json.loads((directory / "meta.json").read_text())
    record.update(changes)
    (directory / "meta.json").write_text(json.dumps(record))


def test_missing_directory(tmp_path):
    expect_error(tmp_path / "nowhere", "directory")


@pytest.mark.parametrize("name", ["arrays.npz", "meta.json"])
def test_missing_file(saved, name):
    (saved / name).unlink()
    expect_error(saved, name)


def test_corrupted_npz_fails_checksum(saved):
    blob = bytearray((saved / "arrays.npz").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (saved / "arrays.npz").write_bytes(bytes(blob))
    expect_error(saved, "checksum")


def test_unreadable_npz_with_matching_checksum(saved):
    garbage = b"not a zip file"
    (saved / "arrays.npz").write_bytes(garbage)
    rewrite_meta(saved, npz_crc32=zlib.crc32(garbage))
    expect_error(saved, "arrays.npz is corrupted")


def test_truncated_meta_json(saved):
    text = (saved / "meta.json").read_bytes()
    (saved / "meta.json").write_bytes(text[: len(text) // 2])
    expect_error(saved, "meta.json is corrupted")


def test_torn_pair_is_detected(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    save_checkpoint(first, {"w": np.ones(3)}, {"step": 1})
    save_checkpoint(second, {"w": np.zeros(3)}, {"step": 2})
    (first / "arrays.npz").replace(second / "arrays.npz")  # new npz, old meta
    expect_error(second, "checksum")


def test_unknown_format(saved):
    rewrite_meta(saved, format="something/2")
    expect_error(saved, "unknown format 'something/2'")


def test_array_name_mismatch(saved):
    record = json.loads((saved / "meta.json").read_text())
    rewrite_meta(saved, arrays=record["arrays"] + ["extra"])
    expect_error(saved, "do not match")


# ---------------------------------------------------------------- atomic writes


def test_atomic_write_text_replaces_content(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "néw")
    assert path.read_text(encoding="utf-8") == "néw"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_failed_replace_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(checkpoint.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_failed_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def broken_fsync(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(checkpoint.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_failed_meta_write_leaves_detectably_torn_checkpoint(saved, monkeypatch):
    real_replace = os.replace

    def replace_only_npz(src, dst):
        if str(dst).endswith("meta.json"):
            raise OSError("crash before meta.json")
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", replace_only_npz)
    with pytest.raises(OSError):
        save_checkpoint(saved, {"other": np.ones(2)}, {"step": 999})
    monkeypatch.undo()
    expect_error(saved, "checksum")
    assert sorted(os.listdir(saved)) == ["arrays.npz", "meta.json"]
