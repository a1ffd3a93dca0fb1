"""Crash-safe checkpoints: NumPy arrays in ``arrays.npz`` plus ``meta.json``.

Every file is written atomically (temp file, fsync, rename), so a crash
leaves either the old file or the new one, never half of one. The two files
are still replaced one after the other, so ``meta.json`` (written last)
records the npz checksum and array names: a mismatched pair is detected at
load time instead of silently mixing two training runs.
"""

import io
import json
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np

FORMAT = "tinygrad_rnn.checkpoint/1"
ARRAYS_FILE = "arrays.npz"
META_FILE = "meta.json"
_SAVEZ_KEYWORDS = {"file", "allow_pickle"}  # np.savez's own parameters


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or new file, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path, text: str) -> None:
    """UTF-8 text version of ``atomic_write_bytes``."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself; POSIX only (Windows cannot open directories)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(directory, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (name -> NumPy array) and JSON-serialisable ``meta`` to ``directory``.

    Tuples in ``meta`` come back as lists (JSON has no tuples).
    """
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name in _SAVEZ_KEYWORDS:
            raise TypeError(f"array name {name!r} is not allowed (non-empty str, not {sorted(_SAVEZ_KEYWORDS)})")
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise TypeError(f"array {name!r} must be a non-object NumPy array (convert CuPy arrays first)")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    blob = buffer.getvalue()
    record = {
        "format": FORMAT,
        "arrays": sorted(arrays),
        "npz_crc32": zlib.crc32(blob),
        "meta": meta,
    }
    text = json.dumps(record, indent=2)  # serialise before writing anything
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / ARRAYS_FILE, blob)
    atomic_write_text(directory / META_FILE, text)


def load_checkpoint(directory):
    """Return ``(arrays, meta)`` saved by ``save_checkpoint``; ``ValueError`` if unusable."""
    directory = Path(directory)

    def fail(reason):
        return ValueError(f"checkpoint {str(directory)!r}: {reason}")

    def read(name):
        try:
            return (directory / name).read_bytes()
        except OSError as exc:
            raise fail(f"cannot read {name} ({exc.strerror or type(exc).__name__})") from exc

    if not directory.is_dir():
        raise fail("not an existing directory")
    meta_bytes = read(META_FILE)
    try:
        record = json.loads(meta_bytes)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise fail(f"{META_FILE} is corrupted ({exc})") from exc
    blob = read(ARRAYS_FILE)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise fail(f"unknown format {found!r}, expected {FORMAT!r}")
    if zlib.crc32(blob) != record.get("npz_crc32"):
        raise fail(f"{ARRAYS_FILE} does not match the checksum in {META_FILE} (torn or corrupted save)")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as exc:  # zip, header and pickle errors all mean "unreadable"
        raise fail(f"{ARRAYS_FILE} is corrupted ({type(exc).__name__}: {exc})") from exc
    if sorted(arrays) != record.get("arrays"):
        raise fail(f"array names {sorted(arrays)} do not match {META_FILE} list {record.get('arrays')}")
    return arrays, record.get("meta")
