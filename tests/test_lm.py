"""CharLM: shapes and state for each cell, config round trip, evaluate (perplexity = exp(loss),
state carried across chunks, mode restored), and sampling (seeded determinism, greedy top_k=1,
temperature, prime handling, bad arguments)."""
import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import backend
from tinygrad_rnn.data import CharVocab
from tinygrad_rnn.function import no_grad
from tinygrad_rnn.lm import CharLM, evaluate, sample, state_arrays, state_from_arrays
from tinygrad_rnn.nn import functional as F

TEXT = "the quick brown fox jumps over the lazy dog. " * 4
VOCAB = CharVocab.from_text(TEXT)


def small(cell="lstm", **kw):
    return CharLM(len(VOCAB), embedding_dim=6, hidden_size=10, num_layers=2, cell=cell, **kw)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_forward_shapes_and_state(cell, device):
    model = small(cell).to(device)
    ids = tg.Tensor(np.zeros((3, 7), dtype=np.int64), device=device)
    logits, state = model(ids)
    assert logits.shape == (3, 7, len(VOCAB)) and logits.device == device
    parts = state if cell == "lstm" else (state,)
    assert len(parts) == (2 if cell == "lstm" else 1)
    assert all(p.shape == (2, 3, 10) for p in parts)
    logits2, _ = model(np.zeros((3, 4), dtype=np.int64), state)   # arrays are accepted, state continues
    assert logits2.shape == (3, 4, len(VOCAB))


def test_state_carries_information():
    model = small()
    ids = VOCAB.encode(TEXT[:12]).reshape(1, -1)
    with no_grad():
        whole, _ = model(ids)
        _, s = model(ids[:, :6])
        second, _ = model(ids[:, 6:], s)
        fresh, _ = model(ids[:, 6:])
    np.testing.assert_allclose(second.numpy(), whole.numpy()[:, 6:], rtol=1e-5, atol=1e-6)
    assert not np.allclose(fresh.numpy(), whole.numpy()[:, 6:])


def test_config_rebuilds_same_architecture():
    model = small("rnn", dropout=0.25, nonlinearity="relu")
    config = model.config()
    assert config["cell"] == "rnn" and config["nonlinearity"] == "relu" and config["dropout"] == 0.25
    clone = CharLM(**config)
    clone.load_state_dict(model.state_dict())
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]


@pytest.mark.parametrize("kwargs", [dict(cell="transformer"), dict(hidden_size=0), dict(dropout=1.0),
                                    dict(num_layers=-1), dict(batch_first=False), dict(bidirectional=True)])
def test_bad_config_raises(kwargs):
    args = dict(vocab_size=5, embedding_dim=4, hidden_size=4, num_layers=1)
    args.update(kwargs)
    with pytest.raises(ValueError):
        CharLM(**args)


def test_evaluate_perplexity_is_exp_loss_and_matches_a_manual_pass():
    model = small(dropout=0.5)
    ids = VOCAB.encode(TEXT)
    result = evaluate(model, ids, batch_size=2, seq_len=9)
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]), rel=1e-12)
    assert result["bpc"] == pytest.approx(result["loss"] / math.log(2), rel=1e-12)
    assert model.training                               # mode restored
    # by hand: two streams, state carried over the whole stream (eval mode: no dropout)
    model.eval()
    L = len(ids) // 2
    streams = ids[:2 * L].reshape(2, L)
    with no_grad():
        logits, _ = model(streams[:, :-1])
        expected = F.cross_entropy(logits.reshape(-1, len(VOCAB)), tg.Tensor(streams[:, 1:].reshape(-1))).item()
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["chars"] == 2 * (L - 1)


def test_evaluate_short_text_and_untrained_model_near_uniform():
    model = small()
    assert evaluate(model, VOCAB.encode("the"), batch_size=32, seq_len=64)["chars"] == 2
    assert evaluate(model, VOCAB.encode(TEXT), 4, 8)["perplexity"] < 3 * len(VOCAB)
    with pytest.raises(ValueError):
        evaluate(model, VOCAB.encode("t"), 4, 8)


def test_sample_is_deterministic_with_a_seed_and_keeps_the_global_rng():
    model = small()
    state = backend.get_rng_state()
    a = sample(model, VOCAB, 40, prime="the ", seed=7)
    b = sample(model, VOCAB, 40, prime="the ", seed=7)
    c = sample(model, VOCAB, 40, prime="the ", seed=8)
    assert a == b and a != c
    assert a.startswith("the ") and len(a) == 44 and set(a) <= set(VOCAB.chars)
    assert backend.get_rng_state() == state
    assert len(sample(model, VOCAB, 15, seed=1)) == 15                  # no prime
    assert sample(model, VOCAB, 0, prime="fox") == "fox"


def test_top_k_1_is_greedy():
    model = small()
    text = sample(model, VOCAB, 12, prime="the q", top_k=1, seed=0)
    assert text == sample(model, VOCAB, 12, prime="the q", top_k=1, seed=123)
    ids = list(VOCAB.encode("the q"))
    with no_grad():
        model.eval()
        for _ in range(12):
            logits, _ = model(np.array([ids]))
            ids.append(int(np.argmax(logits.numpy()[0, -1])))
    assert text == VOCAB.decode(np.array(ids))


def test_temperature_sharpens_and_top_k_restricts():
    from tinygrad_rnn.lm import _next_char_distribution
    logits = np.array([1.0, 3.0, 2.0, 0.5])
    np.testing.assert_allclose(_next_char_distribution(logits, 0.5, None),
                               np.exp(2 * logits) / np.exp(2 * logits).sum(), rtol=1e-12)
    p = _next_char_distribution(logits, 1.0, 2)
    assert p[0] == 0 and p[3] == 0
    np.testing.assert_allclose(p[[1, 2]], np.exp([3.0, 2.0]) / np.exp([3.0, 2.0]).sum(), rtol=1e-12)
    model = small()
    # a very low temperature is greedy decoding; a high one spreads the choices
    assert sample(model, VOCAB, 10, prime="o", temperature=1e-4, seed=1) == \
        sample(model, VOCAB, 10, prime="o", top_k=1, seed=2)
    hot = sample(model, VOCAB, 200, prime="o", temperature=5.0, seed=1)
    cold = sample(model, VOCAB, 200, prime="o", temperature=0.02, seed=1)
    assert len(set(hot)) > len(set(cold))


@pytest.mark.parametrize("kwargs,match", [(dict(prime="thQ!"), "2 character.*'!', 'Q'"),
                                          (dict(temperature=0), "temperature"),
                                          (dict(temperature=-1), "temperature"), (dict(top_k=0), "top_k"),
                                          (dict(length=-1), "length")])
def test_sample_rejects_bad_arguments(kwargs, match):
    args = dict(length=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sample(small(), VOCAB, **args)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_arrays_round_trip(cell):
    model = small(cell)
    _, state = model(np.zeros((2, 3), dtype=np.int64))
    arrays = state_arrays(state)
    back = state_from_arrays(arrays, cell)
    parts = back if cell == "lstm" else (back,)
    for got, want in zip(parts, arrays):
        np.testing.assert_array_equal(got.numpy(), want)
    assert state_arrays(None) == [] and state_from_arrays([], cell) is None
