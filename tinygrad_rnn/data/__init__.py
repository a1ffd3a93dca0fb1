"""Data pipeline: load text, map characters to ids, cut ids into BPTT batches.

Depends on NumPy only, so it can be used (and tested) without the engine.
"""

from .batching import BPTTBatches, split_train_val
from .corpus import load_default_corpus, load_text, text_checksum
from .vocab import UNKNOWN_CHAR, CharVocab

__all__ = [
    "BPTTBatches",
    "CharVocab",
    "UNKNOWN_CHAR",
    "load_default_corpus",
    "load_text",
    "split_train_val",
    "text_checksum",
]
