"""Data pipeline: load text, map characters (or words) to ids, cut ids into BPTT batches.

Depends on NumPy only, so it can be used (and tested) without the engine.
"""

from .batching import BPTTBatches, split_train_val
from .corpus import load_default_corpus, load_text, text_checksum
from .vocab import UNKNOWN_CHAR, CharVocab
from .words import EOS, UNK, WordVocab, detokenize_words, make_vocab, tokenize_words, vocab_from_dict

__all__ = [
    "BPTTBatches",
    "CharVocab",
    "EOS",
    "UNK",
    "WordVocab",
    "detokenize_words",
    "make_vocab",
    "tokenize_words",
    "vocab_from_dict",
    "UNKNOWN_CHAR",
    "load_default_corpus",
    "load_text",
    "split_train_val",
    "text_checksum",
]
