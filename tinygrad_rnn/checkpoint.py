"""Crash-safe checkpoint files: NumPy arrays and JSON metadata in ONE file, ``checkpoint.npz``.

A save builds the whole file in memory, writes it to a temporary file, fsyncs it, renames it
over the old one and fsyncs the directory. The rename is the single step that switches from
the old checkpoint to the new one, so a crash at any moment leaves one complete checkpoint
(the old or the new), and a reader, which opens the file once, always gets a complete one
even while training is saving. (An earlier format, ``arrays.npz`` + ``meta.json``, needed two
renames; ``load_checkpoint`` still reads it, and the next save replaces it.)

The file is a zip archive as ``np.savez`` writes it (``np.load`` opens it) plus a
``meta.json`` member; zip keeps a CRC-32 per member, so a damaged byte is detected on load.
Reading never trusts the file: no pickle, only regular files (not a FIFO, a device or a
symlink to one), a size limit (``MAX_BYTES``) on the file and on every array it declares.

The same module holds the atomic-write and safe-read helpers the rest of the package uses.
"""
import io
import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "tinygrad_rnn.checkpoint/2"
CHECKPOINT_FILE = "checkpoint.npz"
META_MEMBER = "meta.json"
LEGACY_FORMAT = "tinygrad_rnn.checkpoint/1"
LEGACY_FILES = ("arrays.npz", "meta.json")
MAX_BYTES = 16 * 2**30          # refuse bigger checkpoint files and arrays (a damaged or hostile file)
_SAVEZ_KEYWORDS = {"file", "allow_pickle"}  # np.savez's own parameters


# ---- writing ------------------------------------------------------------------------------
def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or new file, never a mix; the file
    and the directory entry are fsynced, and no temporary file is left behind on an error."""
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


def remove_stale_temporaries(directory, name=CHECKPOINT_FILE) -> None:
    """Delete the temporary files a killed writer of ``directory/name`` left behind."""
    for path in Path(directory).glob(f".{name}.*.tmp"):
        try:
            path.unlink()
        except OSError:
            pass


def probe_writable(directory) -> None:
    """Create ``directory`` if needed and write, fsync and delete a file in it: raises the
    OSError now, before any work, instead of at the first checkpoint."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{CHECKPOINT_FILE}.", suffix=".tmp")
    try:
        os.write(fd, b"probe")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(tmp)


def pack(arrays: dict, meta) -> bytes:
    """The bytes of a checkpoint file holding ``arrays`` (name -> NumPy array) and ``meta``."""
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name in _SAVEZ_KEYWORDS:
            raise TypeError(f"array name {name!r} is not allowed (non-empty str, not {sorted(_SAVEZ_KEYWORDS)})")
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise TypeError(f"array {name!r} must be a non-object NumPy array (convert CuPy arrays first)")
    text = json.dumps({"format": FORMAT, "arrays": sorted(arrays), "meta": meta}, indent=1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr(META_MEMBER, text)
        for name in sorted(arrays):
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arrays[name]), allow_pickle=False)
    return buffer.getvalue()


def save_checkpoint(directory, arrays: dict, meta) -> None:
    """Write ``arrays`` and JSON-serialisable ``meta`` to ``directory/checkpoint.npz`` in one
    atomic step (tuples in ``meta`` come back as lists: JSON has no tuples)."""
    blob = pack(arrays, meta)                 # everything is serialised before anything is written
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    atomic_write_bytes(directory / CHECKPOINT_FILE, blob)
    for name in LEGACY_FILES:                 # the directory now holds the new format only
        if (directory / name).exists():
            (directory / name).unlink()


# ---- reading ------------------------------------------------------------------------------
def read_regular_file(path, limit, what="file") -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes (symlinks are
    followed, but a FIFO, a device such as /dev/zero or a directory is refused without
    blocking); ValueError naming ``what`` otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ValueError(f"cannot read {what} {str(path)!r} ({exc.strerror or type(exc).__name__})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        if info.st_size > limit and stat.S_ISREG(info.st_mode):
            raise ValueError(f"{what} {str(path)!r} is too large ({info.st_size} bytes, limit {limit})")
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) \
            else "a device or special file"
        raise ValueError(f"{what} {str(path)!r} is {kind}, not a regular file")
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{what} {str(path)!r} is too large (over {limit} bytes)")
    return data


def _read_array(archive, info, fail):
    """One .npy member, its declared size checked against the member before allocating."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = header(member)
        if dtype.hasobject:
            raise fail(f"array {info.filename!r} holds Python objects (refused: no pickle)")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes > info.file_size:
            raise fail(f"array {info.filename!r} declares {nbytes} bytes but holds {info.file_size}")
        data = bytearray(member.read(nbytes))
        if member.read():                       # reading to the end is also what checks the CRC
            raise fail(f"array {info.filename!r} holds more bytes than it declares")
    if len(data) != nbytes:
        raise fail(f"array {info.filename!r} is truncated")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def unpack(blob: bytes, fail):
    """(arrays, meta) from the bytes of a checkpoint file; ``fail(reason)`` makes the error."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
        members = archive.infolist()
        if sum(m.file_size for m in members) > MAX_BYTES:
            raise fail(f"the archive declares more than {MAX_BYTES} bytes")
        names = {m.filename for m in members}
        if META_MEMBER not in names:
            raise fail(f"no {META_MEMBER} inside {CHECKPOINT_FILE}")
        record = json.loads(archive.read(META_MEMBER))
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            found = record.get("format") if isinstance(record, dict) else type(record).__name__
            raise fail(f"unknown format {found!r}, expected {FORMAT!r}")
        arrays = {m.filename[:-4]: _read_array(archive, m, fail) for m in members if m.filename.endswith(".npy")}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("checkpoint "):
            raise
        raise fail(f"{CHECKPOINT_FILE} is corrupted ({type(exc).__name__}: {exc})") from None
    if sorted(arrays) != record.get("arrays") or len(names) != len(arrays) + 1:
        raise fail(f"array names {sorted(arrays)} do not match the list in {META_MEMBER}")
    return arrays, record.get("meta")


def _load_legacy(directory, fail):
    """The two-file format of version 1 (``arrays.npz`` + ``meta.json`` with the npz's CRC)."""
    import zlib
    blobs = {}
    for name in LEGACY_FILES:
        try:
            blobs[name] = read_regular_file(directory / name, MAX_BYTES, name)
        except ValueError as exc:
            raise fail(str(exc)) from None
    try:
        record = json.loads(blobs["meta.json"])
    except ValueError as exc:
        raise fail(f"meta.json is corrupted ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != LEGACY_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise fail(f"unknown format {found!r}, expected {LEGACY_FORMAT!r}")
    if zlib.crc32(blobs["arrays.npz"]) != record.get("npz_crc32"):
        raise fail("arrays.npz does not match the checksum in meta.json (torn or corrupted save)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(blobs["arrays.npz"]))
        arrays = {m.filename[:-4]: _read_array(archive, m, fail) for m in archive.infolist()}
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("checkpoint "):
            raise
        raise fail(f"arrays.npz is corrupted ({type(exc).__name__}: {exc})") from None
    if sorted(arrays) != record.get("arrays"):
        raise fail(f"array names {sorted(arrays)} do not match meta.json list {record.get('arrays')}")
    return arrays, record.get("meta")


def load_checkpoint(directory):
    """Return ``(arrays, meta)`` saved by ``save_checkpoint``; ``ValueError`` (one line naming
    the directory and the problem) if it is missing, damaged, hostile or too large."""
    directory = Path(directory)

    def fail(reason):
        return ValueError(f"checkpoint {str(directory)!r}: {reason}")

    if not directory.is_dir():
        raise fail("not an existing directory")
    path = directory / CHECKPOINT_FILE
    if not os.path.lexists(path) and os.path.lexists(directory / LEGACY_FILES[1]):
        return _load_legacy(directory, fail)
    try:
        blob = read_regular_file(path, MAX_BYTES, CHECKPOINT_FILE)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return unpack(blob, fail)
