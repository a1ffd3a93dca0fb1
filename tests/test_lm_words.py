"""Word models and the sampling warm-up: tied weights (one parameter, updated once, gradient =
embedding part + decoder part, checkpoint round trip, error when the sizes differ), sampling
words, the warm-up read before a prime, and the units on every figure."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import optim
from tinygrad_rnn.data import CharVocab, WordVocab
from tinygrad_rnn.function import no_grad
from tinygrad_rnn.lm import CharLM, evaluate, format_result, next_token_distribution, sample, warmup_text
from tinygrad_rnn.nn import functional as F

TEXT = "to be or not to be , that is the question :\nwhether tis nobler in the mind to suffer\n" * 3
WORDS = WordVocab.from_text(TEXT)


def tied(cell="lstm", **kw):
    return CharLM(len(WORDS), embedding_dim=8, hidden_size=8, num_layers=1, cell=cell, tie_weights=True, **kw)


def loss_of(model, ids):
    logits, _ = model(ids[None, :-1])
    return F.cross_entropy(logits.reshape(-1, len(WORDS)), tg.Tensor(ids[1:]))


def test_tied_weight_is_one_parameter():
    model = tied()
    assert model.decoder.weight is model.embedding.weight
    names = [n for n, _ in model.named_parameters()]
    assert "embedding.weight" in names and "decoder.weight" not in names
    assert len({id(p) for p in model.parameters()}) == len(list(model.parameters()))
    assert list(model.state_dict()) == names[:-1] + ["decoder.weight", "decoder.bias"]   # as torch: both names
    clone = CharLM(**model.config())
    clone.load_state_dict(model.state_dict())
    assert clone.decoder.weight is clone.embedding.weight
    np.testing.assert_array_equal(clone.decoder.weight.numpy(), model.embedding.weight.numpy())


def test_tied_gradient_is_the_sum_of_both_uses_and_sgd_steps_it_once():
    model = tied(cell="gru")
    ids = WORDS.encode(TEXT[:60])
    untied = CharLM(**{**model.config(), "tie_weights": False})
    untied.load_state_dict({**model.state_dict(), "decoder.weight": model.state_dict()["embedding.weight"]})
    loss_of(model, ids).backward()
    loss_of(untied, ids).backward()
    expected = untied.embedding.weight.grad.numpy() + untied.decoder.weight.grad.numpy()
    np.testing.assert_allclose(model.embedding.weight.grad.numpy(), expected, rtol=1e-5, atol=1e-7)
    before = model.embedding.weight.numpy().copy()
    optim.SGD(model.parameters(), lr=0.1).step()
    np.testing.assert_allclose(model.embedding.weight.numpy(), before - 0.1 * expected, rtol=1e-5, atol=1e-7)


def test_tie_weights_needs_matching_sizes():
    with pytest.raises(ValueError, match=r"output size \(16\) to equal the embedding size \(8\)"):
        CharLM(10, embedding_dim=8, hidden_size=16, num_layers=1, tie_weights=True)
    model = CharLM(10, embedding_dim=8, hidden_size=16, num_layers=1, tie_weights=True, proj_size=8)
    assert model.decoder.weight is model.embedding.weight      # an LSTM projection makes it fit


def test_sample_words_and_units():
    model = tied()
    text = sample(model, WORDS, 12, prime="to be", seed=3)
    assert text.startswith("to be ") and set(WORDS.tokenize(text)) <= set(WORDS.tokens)
    assert len(WORDS.tokenize(text)) == 2 + 12
    assert sample(model, WORDS, 3, prime="to zebra", seed=0).startswith("to zebra")   # unknown -> <unk>
    result = evaluate(model, WORDS.encode(TEXT), 2, 8)
    line = format_result(result, WORDS.unit)
    assert "nats/word" in line and "bits/word" in line and "perplexity/word" in line and "char" not in line


def test_warmup_text_ends_at_a_paragraph_start():
    text = "A:\nhello\n\nB:\nworld\n\nC:\nlast"
    assert warmup_text(text) == "A:\nhello\n\nB:\nworld\n\n"
    assert warmup_text(text, length=8) == "\nworld\n\n"
    assert warmup_text("one\ntwo") == "one\n" and warmup_text("none") == "none"


def test_sample_reads_the_warmup_before_the_prime():
    vocab = CharVocab.from_text(TEXT)
    model = CharLM(len(vocab), embedding_dim=6, hidden_size=10, num_layers=2)
    warm = "whether tis\n\n"
    greedy = sample(model, vocab, 10, prime="to ", top_k=1, warmup=warm)
    cold = sample(model, vocab, 10, prime="to ", top_k=1)
    assert greedy.startswith("to ") and warm not in greedy
    ids = list(vocab.encode(warm + "to "))                    # by hand: the model over warm-up + prime
    with no_grad():
        model.eval()
        for _ in range(10):
            logits, _ = model(np.array([ids]))
            ids.append(int(np.argmax(logits.numpy()[0, -1])))
    assert greedy == "to " + vocab.decode(np.array(ids[len(warm) + 3:]))
    p_warm = next_token_distribution(model, vocab, "to ", warmup=warm)
    p_cold = next_token_distribution(model, vocab, "to ")
    assert not np.allclose(p_warm, p_cold) and p_warm.sum() == pytest.approx(1.0)
    assert cold.startswith("to ") and len(cold) == len(greedy)
    with pytest.raises(ValueError, match="warmup contains 1 character"):
        sample(model, vocab, 3, warmup="Z")
