"""Text sources: the embedded Tiny Shakespeare corpus and user files.

Both return a plain ``str`` so the rest of the pipeline never cares where
the text came from. Errors are ``ValueError`` with one line naming the path,
because a bad corpus is a user input problem, not a programming bug.
"""

import gzip
from importlib import resources
from pathlib import Path

DEFAULT_CORPUS = "tinyshakespeare.txt.gz"


def load_default_corpus() -> str:
    """Return the bundled Tiny Shakespeare text (about 1.1M characters).

    Read through ``importlib.resources`` so it works from a wheel or zip,
    not only from a source checkout.
    """
    blob = resources.files(__package__).joinpath(DEFAULT_CORPUS).read_bytes()
    return gzip.decompress(blob).decode("utf-8")


def load_text(path) -> str:
    """Read a non-empty UTF-8 text file, failing with a message a user can act on."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:  # missing file, directory, permission denied...
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"cannot read corpus file {str(path)!r}: {reason}") from exc
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
