"""Text sources: the embedded Tiny Shakespeare corpus and user files.

Both return a plain ``str`` so the rest of the pipeline never cares where
the text came from. Errors are ``ValueError`` with one line naming the path,
because a bad corpus is a user input problem, not a programming bug.
"""

import gzip
import hashlib
from importlib import resources
from pathlib import Path

from ..checkpoint import read_regular_file

DEFAULT_CORPUS = "tinyshakespeare.txt.gz"
MAX_CORPUS_BYTES = 2**30     # 1 GiB of text: far beyond what a char-LM trains on here; refuses /dev/zero-like input


def load_default_corpus() -> str:
    """Return the bundled Tiny Shakespeare text (about 1.1M characters).

    Read through ``importlib.resources`` so it works from a wheel or zip,
    not only from a source checkout.
    """
    blob = resources.files(__package__).joinpath(DEFAULT_CORPUS).read_bytes()
    return gzip.decompress(blob).decode("utf-8")


def load_text(path) -> str:
    """Read a non-empty UTF-8 text file, failing with a message a user can act on (a missing
    file, a directory, a FIFO or device, more than ``MAX_CORPUS_BYTES``, bad UTF-8)."""
    path = Path(path)
    raw = read_regular_file(path, MAX_CORPUS_BYTES, "corpus file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"corpus file {str(path)!r} is not valid UTF-8: "
            f"byte 0x{raw[exc.start]:02x} at offset {exc.start} ({exc.reason})"
        ) from exc
    if not text:
        raise ValueError(f"corpus file {str(path)!r} is empty")
    return text


def text_checksum(text: str) -> str:
    """SHA-256 (hex) of ``text`` as UTF-8: how a checkpoint recognises its corpus wherever the
    file has moved."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
