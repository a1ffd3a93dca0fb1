"""Word tokens and WordVocab: tokenisation (words, punctuation, <eos> per line), the vocabulary
cap and minimum count with <unk>, id order, encode/decode round trips, the unknown policy, the JSON
round trip, and vocab_from_dict telling characters from words (older checkpoints: characters)."""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_rnn.data import (EOS, UNK, CharVocab, WordVocab, detokenize_words, tokenize_words,
                               vocab_from_dict)


def test_tokenize_words_punctuation_and_line_ends():
    text = "ROMEO:\nI'll go, sir (now).\n\nJULIET: o'er"
    assert tokenize_words(text) == ["ROMEO", ":", EOS, "I'll", "go", ",", "sir", "(", "now", ")", ".", EOS,
                                    EOS, "JULIET", ":", "o'er"]


def test_detokenize_is_readable():
    tokens = ["ROMEO", ":", EOS, "Go", ",", "sir", "(", "now", ")", ".", EOS]
    assert detokenize_words(tokens) == "ROMEO:\nGo, sir (now).\n"


words = st.lists(st.sampled_from(["a", "bb", "Cc", "d'e", ",", ".", ":", "!"]), max_size=8)


@given(st.lists(words, min_size=1, max_size=5))
def test_round_trip_of_normalised_text(lines):
    text = "\n".join(detokenize_words(line) for line in lines)
    vocab = WordVocab.from_text(text + " a")
    assert vocab.decode(vocab.encode(text)) == text
    assert tokenize_words(text).count(EOS) == text.count("\n")


def test_cap_min_count_and_id_order():
    text = "a a a a b b b c c d\ne"
    vocab = WordVocab.from_text(text, min_count=2)
    assert vocab.tokens == (UNK, EOS, "a", "b", "c")          # by decreasing count
    assert WordVocab.from_text(text, max_size=4).tokens == (UNK, EOS, "a", "b")
    ids = vocab.encode("a d\nc")
    assert list(ids) == [2, vocab.unknown_id, vocab.eos_id, 4]
    assert vocab.decode(ids) == f"a {UNK}\nc"
    assert len(vocab) == 5 and "b" in vocab and "d" not in vocab


def test_error_policy_and_bad_arguments():
    vocab = WordVocab(["a", "b"], unknown="error")
    assert vocab.tokens == (EOS, "a", "b") and vocab.unknown_id is None
    with pytest.raises(ValueError, match="1 word.*'zzz'"):
        vocab.encode("a zzz")
    with pytest.raises(ValueError, match="min_count"):
        WordVocab.from_text("a", min_count=0)
    with pytest.raises(ValueError, match="size"):
        WordVocab.from_text("a b", max_size=2)
    with pytest.raises(ValueError, match="no word"):
        WordVocab.from_text("a b", min_count=5)
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode(np.array([3]))
    with pytest.raises(ValueError, match="unknown"):
        WordVocab(["a"], unknown="skip")


def test_json_round_trip_and_kind_dispatch():
    words = WordVocab.from_text("to be or not to be\n")
    chars = CharVocab.from_text("to be")
    for vocab in (words, chars):
        d = json.loads(json.dumps(vocab.to_dict()))
        assert vocab_from_dict(d) == vocab
    assert vocab_from_dict({"chars": "ab", "unknown": "error"}) == CharVocab("ab")   # older checkpoints
    with pytest.raises(ValueError, match="kind"):
        vocab_from_dict({"kind": "bytes"})
    with pytest.raises(ValueError, match="reserved"):
        WordVocab.from_dict({"tokens": ["be", UNK, EOS], "unknown": "replace"})


def test_same_interface_as_char_vocab():
    for vocab in (CharVocab.from_text("ab\n"), WordVocab.from_text("ab\n")):
        for name in ("encode", "decode", "tokens", "tokenize", "unknown", "unknown_id", "to_dict", "kind", "unit"):
            assert hasattr(vocab, name), (vocab, name)
    assert CharVocab.from_text("ab").tokenize("ba") == ["b", "a"]
    assert CharVocab.from_text("ab").unit == "char" and WordVocab.from_text("ab").unit == "word"
