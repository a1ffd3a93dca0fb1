"""Tests for tinygrad_rnn.checkpoint: round trips, corruption detection, hostile files, one
atomic step per save (crashes at every point, a concurrent reader), atomic writes."""

import io
import json
import os
import stat
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_rnn import checkpoint
from tinygrad_rnn.checkpoint import atomic_write_bytes, atomic_write_text, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


def test_one_file_that_numpy_can_open(tmp_path):
    save_checkpoint(tmp_path, sample_arrays(), META)
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as npz:
        assert set(npz.files) == set(sample_arrays()) | {"meta.json"}
        np.testing.assert_array_equal(npz["w.f32"], sample_arrays()["w.f32"])
    with zipfile.ZipFile(tmp_path / "checkpoint.npz") as archive:
        record = json.loads(archive.read("meta.json"))
    assert record["format"] == "tinygrad_rnn.checkpoint/2" and record["arrays"] == sorted(sample_arrays())


def test_rejects_non_numpy_arrays(tmp_path):
    with pytest.raises(TypeError, match="NumPy"):
        save_checkpoint(tmp_path, {"w": [1.0, 2.0]}, {})
    with pytest.raises(TypeError, match="'file'"):
        save_checkpoint(tmp_path, {"file": np.ones(1)}, {})
    assert not (tmp_path / "checkpoint.npz").exists()


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


def rewrite(directory, meta_record=None, arrays=None):
    """Rewrite checkpoint.npz by hand (no validation): the meta record and/or the arrays."""
    path = directory / "checkpoint.npz"
    with zipfile.ZipFile(path) as archive:
        record = json.loads(archive.read("meta.json"))
        members = {name: archive.read(name) for name in archive.namelist() if name != "meta.json"}
    record.update(meta_record or {})
    for name, array in (arrays or {}).items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array)
        members[name + ".npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", json.dumps(record))
        for name, blob in members.items():
            archive.writestr(name, blob)


def test_missing_directory(tmp_path):
    expect_error(tmp_path / "nowhere", "directory")


def test_missing_file(saved):
    (saved / "checkpoint.npz").unlink()
    expect_error(saved, "checkpoint.npz")


def test_flipped_byte_fails_the_zip_crc(saved):
    blob = bytearray((saved / "checkpoint.npz").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (saved / "checkpoint.npz").write_bytes(bytes(blob))
    expect_error(saved, "corrupted")


def test_truncated_file(saved):
    blob = (saved / "checkpoint.npz").read_bytes()
    (saved / "checkpoint.npz").write_bytes(blob[: len(blob) // 2])
    expect_error(saved, "corrupted")


def test_unknown_format(saved):
    rewrite(saved, {"format": "something/3"})
    expect_error(saved, "unknown format 'something/3'")


def test_array_name_mismatch(saved):
    rewrite(saved, {"arrays": sorted(sample_arrays()) + ["extra"]})
    expect_error(saved, "do not match")


def test_pickled_object_array_is_refused(saved):
    rewrite(saved, arrays={"w.f32": np.array([{"evil": 1}], dtype=object)})
    expect_error(saved, "Python objects|corrupted")


def test_array_header_claiming_more_than_the_file_is_refused(saved):
    path = saved / "checkpoint.npz"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = members["b.f64.npy"]
    members["b.f64.npy"] = header.replace(b"(5,)", b"(9999999999999,)".ljust(4))
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    expect_error(saved, "declares|corrupted")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_hanging(saved):
    (saved / "checkpoint.npz").unlink()
    os.mkfifo(saved / "checkpoint.npz")
    expect_error(saved, "FIFO")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_symlink_to_dev_zero_is_refused(saved):
    (saved / "checkpoint.npz").unlink()
    (saved / "checkpoint.npz").symlink_to("/dev/zero")
    expect_error(saved, "not a regular file")


def test_oversized_file_is_refused(saved, monkeypatch):
    monkeypatch.setattr(checkpoint, "MAX_BYTES", 100)
    expect_error(saved, "too large")


def test_reads_and_replaces_the_two_file_format_of_version_1(tmp_path):
    arrays = {"w": np.arange(3.0)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    blob = buffer.getvalue()
    (tmp_path / "arrays.npz").write_bytes(blob)
    (tmp_path / "meta.json").write_text(json.dumps({"format": "tinygrad_rnn.checkpoint/1", "arrays": ["w"],
                                                    "npz_crc32": zlib.crc32(blob), "meta": {"step": 4}}))
    loaded, meta = load_checkpoint(tmp_path)
    assert meta == {"step": 4}
    np.testing.assert_array_equal(loaded["w"], arrays["w"])
    (tmp_path / "arrays.npz").write_bytes(blob[:-3])           # the torn pair of version 1 is still caught
    expect_error(tmp_path, "checksum")
    save_checkpoint(tmp_path, arrays, {"step": 5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


# ---------------------------------------------------------------- one atomic step

CRASHING_SAVE = """
import os, sys
import numpy as np
from tinygrad_rnn.checkpoint import save_checkpoint
directory, crash_at = sys.argv[1], int(sys.argv[2])
save_checkpoint(directory, {"w": np.zeros(1000)}, {"step": 1})
events = [0]
def crashing(real):
    def call(*args, **kwargs):
        events[0] += 1
        if events[0] == crash_at:
            os._exit(9)                      # a kill: no cleanup, no exception handlers
        return real(*args, **kwargs)
    return call
for name in ("replace", "fsync", "unlink", "rename"):
    setattr(os, name, crashing(getattr(os, name)))
save_checkpoint(directory, {"w": np.ones(1000)}, {"step": 2})
print("completed")
"""


def test_a_crash_at_any_point_of_a_save_leaves_a_complete_checkpoint(tmp_path):
    """Kill the writer at each system call of a save in turn: the directory always holds the
    old or the new checkpoint, complete; the next save clears the temporary file left behind."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    seen = set()
    for crash_at in range(1, 12):
        directory = tmp_path / f"crash{crash_at}"
        result = subprocess.run([sys.executable, "-c", CRASHING_SAVE, str(directory), str(crash_at)],
                                capture_output=True, text=True, env=env, timeout=120)
        arrays, meta = load_checkpoint(directory)
        assert meta["step"] in (1, 2), result.stderr
        np.testing.assert_array_equal(arrays["w"], np.full(1000, meta["step"] - 1.0))
        seen.add(meta["step"])
        save_checkpoint(directory, {"w": np.full(3, 7.0)}, {"step": 3})
        assert sorted(p.name for p in directory.iterdir()) == ["checkpoint.npz"]
        if "completed" in result.stdout:
            break
    assert seen == {1, 2}                      # crashes before and after the switch were both tried


CONCURRENT_WRITER = """
import sys
import numpy as np
from tinygrad_rnn.checkpoint import save_checkpoint
for step in range(1, int(sys.argv[2]) + 1):
    save_checkpoint(sys.argv[1], {"w": np.full(20000, float(step)), "b": np.arange(step)}, {"step": step})
"""


def test_a_reader_always_gets_the_latest_complete_checkpoint_while_saving(tmp_path):
    save_checkpoint(tmp_path, {"w": np.zeros(20000), "b": np.arange(0)}, {"step": 0})
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    writer = subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(tmp_path), "300"], env=env)
    loads, last = 0, 0
    try:
        while writer.poll() is None or loads < 20:
            arrays, meta = load_checkpoint(tmp_path)           # never a torn or "corrupted" one
            step = meta["step"]
            assert step >= last and np.all(arrays["w"] == step) and len(arrays["b"]) == step
            last, loads = step, loads + 1
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0 and last == 300 and loads >= 20


def test_save_fsyncs_the_file_and_the_directory(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def recording_fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real(fd)

    monkeypatch.setattr(checkpoint.os, "fsync", recording_fsync)
    save_checkpoint(tmp_path, {"w": np.ones(2)}, {"step": 1})
    assert synced == [False, True]             # the data first, then the rename in the directory


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


def test_failed_save_keeps_the_previous_checkpoint_and_no_temporary(saved, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_checkpoint(saved, {"other": np.ones(2)}, {"step": 999})
    monkeypatch.undo()
    assert load_checkpoint(saved)[1] == META
    assert sorted(os.listdir(saved)) == ["checkpoint.npz"]
