"""Word-level tokens: a tokenizer and ``WordVocab``, the word twin of ``CharVocab``.

Tokens are words (letters/digits, with inner apostrophes kept: ``o'er``, ``I'll``), single
punctuation marks, and ``<eos>`` for every line end, so a model can learn where lines stop and
``decode`` can give the lines back. Spaces are not tokens: ``decode`` puts one between words and
none before closing punctuation, so it is faithful up to spacing.

    vocab = WordVocab.from_text(text, max_size=10000, min_count=2)   # rarer words -> <unk>
    ids = vocab.encode(text)          # 1-D int64, like CharVocab.encode
    vocab.decode(ids)                 # readable text, one line per <eos>
"""
import re
from collections import Counter

import numpy as np

EOS = "<eos>"
UNK = "<unk>"
_POLICIES = ("error", "replace")
_TOKEN = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(",.;:!?)]}'\u2019")
_NO_SPACE_AFTER = set("([{")
_MAX_SHOWN = 10


def tokenize_words(text: str) -> list:
    """Word, punctuation and ``<eos>`` tokens of ``text`` (one ``<eos>`` per newline)."""
    tokens = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        tokens.extend(_TOKEN.findall(line))
        if i < len(lines) - 1:
            tokens.append(EOS)
    return tokens


def detokenize_words(tokens) -> str:
    """Readable text from tokens: ``<eos>`` is a newline, spaces between words."""
    out, previous = [], EOS
    for token in tokens:
        if token == EOS:
            out.append("\n")
        else:
            if previous != EOS and token not in _NO_SPACE_BEFORE and previous not in _NO_SPACE_AFTER:
                out.append(" ")
            out.append(token)
        previous = token
    return "".join(out)


class WordVocab:
    """Maps tokens to ids: ``<unk>`` is 0 in "replace" mode, then ``<eos>``, then the words by
    decreasing count (ties in string order), so the id order says how common a word is.

    ``unknown`` works as in ``CharVocab``: "replace" (the default here, because a capped
    vocabulary always leaves some words out) maps unknown tokens to ``<unk>``; "error" refuses
    them. Same interface as ``CharVocab``: ``encode``, ``decode``, ``tokens``, ``tokenize``,
    ``unknown_id``, ``to_dict``/``from_dict``, ``len``.
    """

    kind = "word"
    unit = "word"

    def __init__(self, tokens, unknown: str = "replace"):
        if unknown not in _POLICIES:
            raise ValueError(f"unknown must be one of {_POLICIES}, got {unknown!r}")
        tokens = [t for t in tokens if t not in (UNK, EOS)]
        if any(not isinstance(t, str) or not t for t in tokens):
            raise ValueError("vocabulary entries must be non-empty strings")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must not repeat")
        self._unknown = unknown
        self._tokens = tuple(([UNK] if unknown == "replace" else []) + [EOS] + tokens)
        self._ids = {t: i for i, t in enumerate(self._tokens)}

    @classmethod
    def from_text(cls, text: str, max_size=None, min_count: int = 1, unknown: str = "replace") -> "WordVocab":
        """The words of ``text`` seen at least ``min_count`` times, the ``max_size`` most common
        at most (``max_size`` counts ``<unk>`` and ``<eos>``)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        reserved = 2 if unknown == "replace" else 1
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < reserved + 1):
            raise ValueError(f"vocabulary size must be an integer >= {reserved + 1}, got {max_size!r}")
        counts = Counter(t for t in tokenize_words(text) if t != EOS)
        ranked = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[:max_size - reserved]
        if not ranked:
            raise ValueError(f"no word occurs at least {min_count} time(s) in the text")
        return cls(ranked, unknown=unknown)

    @property
    def tokens(self) -> tuple:
        """Tokens in id order (``tokens[i]`` decodes id ``i``)."""
        return self._tokens

    @property
    def unknown(self) -> str:
        return self._unknown

    @property
    def unknown_id(self):
        """Id of ``<unk>`` in "replace" mode, else None."""
        return 0 if self._unknown == "replace" else None

    @property
    def eos_id(self) -> int:
        return self._ids[EOS]

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token) -> bool:
        return token in self._ids

    def __eq__(self, other):
        if not isinstance(other, WordVocab):
            return NotImplemented
        return self._tokens == other._tokens and self._unknown == other._unknown

    def __hash__(self):
        return hash((self._unknown, self._tokens))

    def __repr__(self):
        return f"WordVocab(size={len(self)}, unknown={self._unknown!r})"

    def tokenize(self, text: str) -> list:
        return tokenize_words(text)

    def encode(self, text: str) -> np.ndarray:
        """Ids of the tokens of ``text`` as a 1-D int64 array."""
        return self.encode_tokens(tokenize_words(text))

    def encode_tokens(self, tokens) -> np.ndarray:
        unk = self.unknown_id
        ids = [self._ids.get(t, unk) for t in tokens]
        if unk is None and None in ids:
            missing = sorted({t for t in tokens if t not in self._ids})
            shown = ", ".join(map(repr, missing[:_MAX_SHOWN]))
            more = f" and {len(missing) - _MAX_SHOWN} more" if len(missing) > _MAX_SHOWN else ""
            raise ValueError(f"{len(missing)} word(s) not in vocabulary: {shown}{more}")
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids) -> str:
        """Readable text for a 1-D sequence of ids (see ``detokenize_words``)."""
        ids = np.atleast_1d(np.asarray(ids))
        if ids.ndim != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got shape {ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
        bad = (ids < 0) | (ids >= len(self))
        if bad.any():
            raise ValueError(f"id {ids[bad][0]} is out of range for a vocabulary of size {len(self)}")
        return detokenize_words(self._tokens[i] for i in ids.tolist())

    def to_dict(self) -> dict:
        """JSON-safe description (checkpoint metadata): kind, tokens in id order, policy."""
        return {"kind": "word", "tokens": list(self._tokens), "unknown": self._unknown}

    @classmethod
    def from_dict(cls, d: dict) -> "WordVocab":
        """Inverse of ``to_dict``; rejects a token list that would renumber ids."""
        if not isinstance(d, dict) or not isinstance(d.get("tokens"), list) or "unknown" not in d:
            raise ValueError("word vocabulary dict needs a 'tokens' list and an 'unknown' policy")
        vocab = cls(d["tokens"], unknown=d["unknown"])
        if list(vocab.tokens) != d["tokens"]:
            raise ValueError("word vocabulary 'tokens' must start with the reserved tokens and not repeat")
        return vocab


def vocab_from_dict(d: dict):
    """A CharVocab or WordVocab from its ``to_dict`` (no 'kind' means characters: older runs)."""
    from .vocab import CharVocab
    kind = d.get("kind", "char") if isinstance(d, dict) else None
    if kind == "word":
        return WordVocab.from_dict(d)
    if kind == "char":
        return CharVocab.from_dict({k: v for k, v in d.items() if k != "kind"})
    raise ValueError(f"unknown vocabulary kind {kind!r} (expected 'char' or 'word')")


def make_vocab(text: str, tokens: str = "char", vocab_size=None, min_count: int = 1):
    """The vocabulary a run uses for ``text``: every character (``tokens="char"``), or the words
    kept by ``vocab_size`` / ``min_count`` with ``<unk>`` for the rest (``tokens="word"``)."""
    from .vocab import CharVocab
    if tokens == "char":
        if vocab_size is not None or min_count != 1:
            raise ValueError("vocab-size and min-count apply to word tokens (--tokens word) only")
        return CharVocab.from_text(text)
    if tokens == "word":
        return WordVocab.from_text(text, max_size=vocab_size, min_count=min_count)
    raise ValueError(f"tokens must be 'char' or 'word', got {tokens!r}")
