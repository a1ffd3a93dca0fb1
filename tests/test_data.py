"""Tests for tinygrad_rnn.data: corpus loading, CharVocab, and BPTT batching."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn.data import (
    UNKNOWN_CHAR,
    BPTTBatches,
    CharVocab,
    load_default_corpus,
    load_text,
    split_train_val,
)


@pytest.fixture(scope="module")
def corpus():
    return load_default_corpus()


# ---------------------------------------------------------------- corpus


def test_default_corpus_is_tiny_shakespeare(corpus):
    assert corpus.startswith("First Citizen")
    assert 1_100_000 <= len(corpus) <= 1_120_000


def test_load_text_reads_utf8(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("héllo\n", encoding="utf-8")
    assert load_text(path) == "héllo\n"


def test_load_text_missing_file(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(ValueError, match="nope.txt"):
        load_text(path)


def test_load_text_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.txt.*empty"):
        load_text(path)


def test_load_text_not_utf8_names_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"abc\xff")
    with pytest.raises(ValueError, match=r"latin1\.txt.*offset 3") as info:
        load_text(path)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- vocab


@given(st.text(min_size=1))
def test_encode_decode_round_trip(text):
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.min() >= 0 and ids.max() < len(vocab)
    assert vocab.decode(ids) == text


def test_round_trip_keeps_astral_and_lone_surrogate_chars():
    text = "a\U0001F600b\udc80"
    vocab = CharVocab.from_text(text)
    assert len(vocab) == 4
    assert vocab.decode(vocab.encode(text)) == text


@given(st.text(min_size=1))
def test_ids_follow_sorted_characters(text):
    vocab = CharVocab.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    assert [vocab.encode(c)[0] for c in vocab.chars] == list(range(len(vocab)))


@given(st.text(min_size=1), st.text())
def test_unknown_replace_maps_to_reserved_id(known, other):
    vocab = CharVocab.from_text(known, unknown="replace")
    ids = vocab.encode(other)
    is_known = np.array([c in known and c != UNKNOWN_CHAR for c in other], dtype=bool)
    assert np.all((ids == 0) == ~is_known)
    expected = "".join(c if k else UNKNOWN_CHAR for c, k in zip(other, is_known))
    assert vocab.decode(ids) == expected


def test_unknown_replace_reserves_id_zero():
    vocab = CharVocab.from_text("ba", unknown="replace")
    assert vocab.chars == (UNKNOWN_CHAR, "a", "b")
    assert vocab.unknown_id == 0
    assert vocab.encode("abz").tolist() == [1, 2, 0]
    assert vocab.decode([0, 1]) == UNKNOWN_CHAR + "a"


def test_unknown_error_lists_characters():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"'x'.*'y'"):
        vocab.encode("axbyx")


def test_unknown_error_truncates_long_list():
    vocab = CharVocab.from_text("a")
    with pytest.raises(ValueError, match="and 16 more") as info:
        vocab.encode("bcdefghijklmnopqrstuvwxyz0")
    assert str(info.value).count("'") == 2 * 10


def test_invalid_policy_and_empty_vocab():
    with pytest.raises(ValueError, match="unknown must be"):
        CharVocab.from_text("abc", unknown="ignore")
    with pytest.raises(ValueError):
        CharVocab.from_text("")


def test_decode_rejects_bad_ids():
    vocab = CharVocab.from_text("ab")
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([0, 2])
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([-1])
    with pytest.raises(ValueError, match="1-D"):
        vocab.decode(np.zeros((2, 2), dtype=np.int64))


def test_len_contains_eq():
    vocab = CharVocab.from_text("hello")
    assert len(vocab) == 4
    assert "l" in vocab and "z" not in vocab
    assert vocab == CharVocab.from_text("olleh")
    assert vocab != CharVocab.from_text("hello", unknown="replace")
    assert vocab != CharVocab.from_text("help")


@given(st.text(min_size=1), st.sampled_from(["error", "replace"]))
def test_to_dict_from_dict_round_trip_through_json(text, policy):
    vocab = CharVocab.from_text(text, unknown=policy)
    restored = CharVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab
    assert restored.chars == vocab.chars


def test_from_dict_rejects_reordered_chars():
    with pytest.raises(ValueError, match="sorted"):
        CharVocab.from_dict({"chars": "ba", "unknown": "error"})


def test_encode_full_default_corpus(corpus):
    vocab = CharVocab.from_text(corpus)
    ids = vocab.encode(corpus)
    assert len(vocab) == 65
    assert ids.shape == (len(corpus),)
    assert vocab.decode(ids[:13]) == "First Citizen"


# ---------------------------------------------------------------- batching


@st.composite
def batching_cases(draw):
    batch_size = draw(st.integers(1, 6))
    seq_len = draw(st.integers(1, 9))
    n = draw(st.integers(2 * batch_size, 80))
    return n, batch_size, seq_len


@given(batching_cases())
def test_chunks_tile_each_stream(case):
    n, batch_size, seq_len = case
    ids = np.arange(1000, 1000 + n)
    batches = BPTTBatches(ids, batch_size, seq_len)
    L = n // batch_size
    streams = ids[: batch_size * L].reshape(batch_size, L)
    chunks = list(batches)
    assert len(chunks) == len(batches) >= 1
    for i, (x, y) in enumerate(chunks):
        assert x.dtype == y.dtype == np.int64
        assert x.shape == y.shape and x.shape[0] == batch_size
        assert 1 <= x.shape[1] <= seq_len
        assert x.shape[1] == seq_len or i == len(chunks) - 1
        assert np.array_equal(y[:, :-1], x[:, 1:])
    inputs = np.concatenate([x for x, _ in chunks], axis=1)
    targets = np.concatenate([y for _, y in chunks], axis=1)
    assert np.array_equal(inputs, streams[:, :-1])
    assert np.array_equal(targets, streams[:, 1:])


@given(batching_cases())
def test_consecutive_chunks_continue_streams(case):
    n, batch_size, seq_len = case
    ids = np.arange(n)
    batches = BPTTBatches(ids, batch_size, seq_len)
    for i in range(len(batches) - 1):
        _, y_prev = batches.chunk_at(i)
        x_next, _ = batches.chunk_at(i + 1)
        assert np.array_equal(x_next[:, 0], y_prev[:, -1])


def test_chunk_shapes_example():
    batches = BPTTBatches(np.arange(103), batch_size=4, seq_len=10)
    assert batches.stream_len == 25
    assert len(batches) == 3  # 24 input positions: 10 + 10 + 4
    assert [x.shape for x, _ in batches] == [(4, 10), (4, 10), (4, 4)]
    x, y = batches.chunk_at(0)
    assert x[1, 0] == 25 and y[1, 0] == 26


def test_chunks_are_copies():
    ids = np.arange(20)
    batches = BPTTBatches(ids, 2, 4)
    x, _ = batches.chunk_at(0)
    x[:] = -1
    assert batches.chunk_at(0)[0].min() >= 0


def test_chunk_at_out_of_range():
    batches = BPTTBatches(np.arange(20), 2, 4)
    with pytest.raises(IndexError):
        batches.chunk_at(len(batches))


def test_too_short_message_names_numbers():
    with pytest.raises(ValueError) as info:
        BPTTBatches(np.arange(7), batch_size=4, seq_len=16)
    message = str(info.value)
    for fragment in ("7 characters", "batch_size=4", "seq_len=16", "at least 8"):
        assert fragment in message


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        BPTTBatches(np.arange(10), 0, 4)
    with pytest.raises(ValueError, match="1-D"):
        BPTTBatches(np.zeros((2, 5), dtype=np.int64), 1, 4)


@given(batching_cases(), st.integers(0, 30))
@settings(max_examples=max(3, settings.default.max_examples * 6 // 5))
def test_cycle_resumes_at_global_position(case, start):
    batches = BPTTBatches(np.arange(case[0]), case[1], case[2])
    full = BPTTBatches(np.arange(case[0]), case[1], case[2]).cycle()
    for _ in range(start):
        next(full)
    resumed = batches.cycle(start_chunk=start)
    for _ in range(len(batches) + 1):
        e1, i1, x1, y1 = next(full)
        e2, i2, x2, y2 = next(resumed)
        assert (e1, i1) == (e2, i2)
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_cycle_counts_epochs():
    batches = BPTTBatches(np.arange(30), 3, 4)  # L=10, 9 inputs -> 3 chunks
    cycle = batches.cycle(start_chunk=2)
    positions = [next(cycle)[:2] for _ in range(5)]
    assert positions == [(0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]


@given(st.integers(0, 200), st.floats(0.01, 0.99))
def test_split_train_val_is_contiguous(n, fraction):
    ids = np.arange(n)
    n_val = round(n * fraction)
    if n_val < 2 or n - n_val < 2:
        with pytest.raises(ValueError, match="need at least 2"):
            split_train_val(ids, fraction)
        return
    train, val = split_train_val(ids, fraction)
    assert len(val) == n_val
    assert np.array_equal(np.concatenate([train, val]), ids)


def test_split_train_val_errors():
    for fraction in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="val_fraction"):
            split_train_val(np.arange(100), fraction)
    with pytest.raises(ValueError, match="3 ids"):
        split_train_val(np.arange(3), 0.5)
