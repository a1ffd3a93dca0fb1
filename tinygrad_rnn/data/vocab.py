"""Character-level vocabulary: text <-> integer ids.

Encoding works on Unicode code points as a NumPy array, so a megabyte of
text is mapped with one ``searchsorted`` instead of a Python loop per char.
"""

import numpy as np

UNKNOWN_CHAR = "\ufffd"
_POLICIES = ("error", "replace")
_MAX_SHOWN = 10  # unknown characters listed in an error message
# Larger than any Unicode code point: appended to the sorted table so that
# ``searchsorted`` never points past its end.
_SENTINEL = np.uint32(0xFFFFFFFF)


def _code_points(text: str) -> np.ndarray:
    """One uint32 per character; ``surrogatepass`` keeps any str encodable."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _from_code_points(codes: np.ndarray) -> str:
    return codes.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")


class CharVocab:
    """Maps each known character to an id; ids follow sorted character order.

    ``unknown`` decides what ``encode`` does with characters outside the
    vocabulary, and it is explicit because both choices are useful:
    ``"error"`` (fail loudly, the default) or ``"replace"`` (reserve id 0
    for ``UNKNOWN_CHAR``, so sampling prompts with new characters still
    works). In ``"replace"`` mode a literal U+FFFD in the text is that
    reserved symbol, not a second entry.
    """

    kind = "char"      # what a token is: WordVocab's kind is "word"
    unit = "char"      # the unit of per-token figures (nats/char, bits/char)

    def __init__(self, chars, unknown: str = "error"):
        if unknown not in _POLICIES:
            raise ValueError(f"unknown must be one of {_POLICIES}, got {unknown!r}")
        known = set(chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in known):
            raise ValueError("vocabulary entries must be single characters")
        if unknown == "replace":
            known.discard(UNKNOWN_CHAR)
        if not known and unknown == "error":
            raise ValueError("cannot build a vocabulary with no characters")
        self._unknown = unknown
        self._codes = _code_points("".join(sorted(known)))
        self._offset = 1 if unknown == "replace" else 0
        self._lookup = np.append(self._codes, _SENTINEL)
        reserved = _code_points(UNKNOWN_CHAR) if self._offset else self._codes[:0]
        self._id_to_code = np.concatenate([reserved, self._codes])
        self._chars = tuple(_from_code_points(self._id_to_code))

    @classmethod
    def from_text(cls, text: str, unknown: str = "error") -> "CharVocab":
        """Vocabulary of every distinct character in ``text`` (deterministic)."""
        return cls(set(text), unknown=unknown)

    @property
    def chars(self) -> tuple:
        """Characters in id order (``chars[i]`` decodes id ``i``)."""
        return self._chars

    @property
    def tokens(self) -> tuple:
        """Same as ``chars``: the name shared with WordVocab."""
        return self._chars

    def tokenize(self, text: str) -> list:
        """The tokens of ``text``: its characters (WordVocab splits words)."""
        return list(text)

    @property
    def unknown(self) -> str:
        return self._unknown

    @property
    def unknown_id(self):
        """Id of ``UNKNOWN_CHAR`` in ``"replace"`` mode, else ``None``."""
        return 0 if self._offset else None

    def __len__(self) -> int:
        return len(self._id_to_code)

    def __contains__(self, char) -> bool:
        return char in self._chars

    def __eq__(self, other):
        if not isinstance(other, CharVocab):
            return NotImplemented
        return self._unknown == other._unknown and np.array_equal(self._codes, other._codes)

    def __hash__(self):
        return hash((self._unknown, self._codes.tobytes()))

    def __repr__(self):
        return f"CharVocab(size={len(self)}, unknown={self._unknown!r})"

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text`` as a 1-D int64 array."""
        cps = _code_points(text)
        pos = np.searchsorted(self._lookup, cps)
        known = self._lookup[pos] == cps
        ids = pos.astype(np.int64) + self._offset
        if known.all():
            return ids
        if self._unknown == "replace":
            ids[~known] = 0
            return ids
        missing = _from_code_points(np.unique(cps[~known]))
        shown = ", ".join(map(repr, missing[:_MAX_SHOWN]))
        more = f" and {len(missing) - _MAX_SHOWN} more" if len(missing) > _MAX_SHOWN else ""
        raise ValueError(f"{len(missing)} character(s) not in vocabulary: {shown}{more}")

    def decode(self, ids) -> str:
        """Text for a 1-D sequence of ids (a single id is also accepted)."""
        ids = np.atleast_1d(np.asarray(ids))
        if ids.ndim != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got shape {ids.shape}")
        if ids.size == 0:
            return ""
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
        bad = (ids < 0) | (ids >= len(self))
        if bad.any():
            raise ValueError(f"id {ids[bad][0]} is out of range for a vocabulary of size {len(self)}")
        return _from_code_points(self._id_to_code[ids])

    def to_dict(self) -> dict:
        """JSON-safe description, e.g. for checkpoint metadata."""
        return {"kind": "char", "chars": _from_code_points(self._codes), "unknown": self._unknown}

    @classmethod
    def from_dict(cls, d: dict) -> "CharVocab":
        """Inverse of ``to_dict``; rejects input that would silently renumber ids."""
        if not isinstance(d, dict) or not isinstance(d.get("chars"), str) or "unknown" not in d:
            raise ValueError("vocabulary dict needs a 'chars' string and an 'unknown' policy")
        vocab = cls(d["chars"], unknown=d["unknown"])
        if vocab.to_dict()["chars"] != d["chars"]:
            raise ValueError("vocabulary 'chars' must be sorted and without duplicates")
        return vocab
