"""Decoding properties over random small models (a NumPy RNN language model conditioned on a
random initial state): beam size 1 is greedy; every returned score is the model's own
log-probability of the returned tokens; a beam as large as the number of possible outputs
finds the exact best one (brute force), which no smaller beam beats; and a hand-built model
where a larger beam scores WORSE than greedy, because beam search is not monotone in the beam
size. Sampling: top_k=1 is greedy, frequencies follow the model, seeds reproduce."""
import itertools

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.decoding import beam_search, greedy, index_state, sample

EOS, BOS = 0, 0


class ToyModel:
    """h' = tanh(U h + E[token]), log p(next) = log_softmax(scale * W h'): a tiny conditional LM."""

    def __init__(self, seed, V, H, scale):
        rng = np.random.default_rng(seed)
        self.U, self.E, self.W = rng.standard_normal((H, H)), rng.standard_normal((V, H)), rng.standard_normal((V, H))
        self.scale, self.V = scale, V

    def step(self, tokens, h):
        h = np.tanh(h @ self.U.T + self.E[tokens])
        z = self.scale * h @ self.W.T
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True)), h

    def log_prob(self, h0, tokens):
        """log p(tokens up to and including the first eos | h0), teacher-forced, one sequence."""
        h, previous, total = h0[None], BOS, 0.0
        for t in tokens:
            logp, h = self.step(np.array([previous]), h)
            total += logp[0, t]
            if t == EOS:
                break
            previous = t
        return total

    def best(self, h0, max_len):
        """Brute force over all V^max_len outputs."""
        return max(self.log_prob(h0, seq) for seq in itertools.product(range(self.V), repeat=max_len))


@st.composite
def models(draw):
    V, H, B, max_len = draw(st.integers(2, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    hypothesis.assume(V ** max_len <= 256)
    model = ToyModel(draw(st.integers(0, 2 ** 16)), V, H, draw(st.sampled_from([0.5, 2.0, 5.0])))
    h0 = np.random.default_rng(draw(st.integers(0, 2 ** 16))).standard_normal((B, H))
    return model, h0, max_len


@hypothesis.given(models())
def test_beam_size_one_is_greedy(case):
    model, h0, max_len = case
    g, b = greedy(model.step, h0, BOS, EOS, max_len), beam_search(model.step, h0, BOS, EOS, max_len, beam_size=1)
    np.testing.assert_array_equal(g.tokens, b.tokens)
    np.testing.assert_array_equal(g.lengths, b.lengths)
    np.testing.assert_allclose(g.scores, b.scores, rtol=1e-12)


@hypothesis.given(models(), st.sampled_from([0.0, 0.6, 1.0]))
def test_scores_are_the_models_log_probability(case, alpha):
    model, h0, max_len = case
    for result in (greedy(model.step, h0, BOS, EOS, max_len),
                   beam_search(model.step, h0, BOS, EOS, max_len, beam_size=3, length_penalty=alpha)):
        for b in range(len(h0)):
            np.testing.assert_allclose(result.scores[b], model.log_prob(h0[b], result.tokens[b]), rtol=1e-10)
            tokens = result.tokens[b]
            assert result.lengths[b] == (list(tokens).index(EOS) + 1 if EOS in tokens else max_len)
            assert np.all(tokens[result.lengths[b]:] == EOS)


@hypothesis.given(models())
def test_exhaustive_beam_is_exact_and_no_smaller_beam_beats_it(case):
    model, h0, max_len = case
    exact = beam_search(model.step, h0, BOS, EOS, max_len, beam_size=model.V ** max_len)
    for b in range(len(h0)):
        np.testing.assert_allclose(exact.scores[b], model.best(h0[b], max_len), rtol=1e-10)
    for k in (1, 2, 3):
        smaller = beam_search(model.step, h0, BOS, EOS, max_len, beam_size=k)
        assert np.all(smaller.scores <= exact.scores + 1e-12)


def test_a_larger_beam_can_score_worse():
    """Tokens eos=0, a=1, b=2, x=3. After <bos>: a .5, b .4. After a: a, b, x 1/3 each, then
    eos for sure. After b: a, b .5 each, then eos .01. Greedy takes a, ends a-a-eos (1/6).
    Beam 2 keeps a and b, then b-a and b-b (.2 each) beat every child of a (1/6), so the
    good path is pruned and beam 2 ends with less than greedy."""
    def probs(prefix):
        if not prefix:
            return [0.1, 0.5, 0.4, 0.0]
        if prefix[0] == 1:
            return [0.0, 1 / 3, 1 / 3, 1 / 3] if len(prefix) == 1 else [1.0, 0.0, 0.0, 0.0]
        return [0.0, 0.5, 0.5, 0.0] if len(prefix) == 1 else [0.01, 0.33, 0.33, 0.33]

    def step(tokens, history):
        history = np.concatenate([history, tokens[:, None]], axis=1)     # the tokens read so far
        with np.errstate(divide="ignore"):
            return np.log([probs([t for t in row if t >= 0]) for row in history]), history

    start = np.zeros((1, 0), dtype=np.int64)            # nothing read yet; <bos> is -1
    greedy_result = greedy(step, start, -1, EOS, 4)
    beam2 = beam_search(step, start, -1, EOS, 4, beam_size=2)
    assert greedy_result.tokens.tolist() == [[1, 1, 0, 0]]
    np.testing.assert_allclose(greedy_result.scores, np.log(0.5 / 3))
    assert beam2.scores[0] < greedy_result.scores[0]
    assert beam_search(step, start, -1, EOS, 4, beam_size=4 ** 4).scores[0] >= greedy_result.scores[0]


def test_length_penalty_prefers_longer_outputs():
    """Raw log-probability favours stopping early; dividing by length can pick a longer output."""
    def step(tokens, t):
        first = t[0] == 0        # eos .4 at once (-0.92 per token); else eos .5: 1-eos scores .3 (-0.60 per token)
        return np.log(np.array([[0.4, 0.6] if first else [0.5, 0.5]] * len(tokens))), t + 1
    t0 = np.zeros(1)
    assert beam_search(step, t0, 1, 0, 5, beam_size=2).lengths[0] == 1
    assert beam_search(step, t0, 1, 0, 5, beam_size=2, length_penalty=1.0).lengths[0] == 2


@hypothesis.given(models())
def test_sampling(case):
    model, h0, max_len = case
    g = greedy(model.step, h0, BOS, EOS, max_len)
    s1 = sample(model.step, h0, BOS, EOS, max_len, top_k=1)
    np.testing.assert_array_equal(g.tokens, s1.tokens)
    a = sample(model.step, h0, BOS, EOS, max_len, rng=np.random.default_rng(3))
    b = sample(model.step, h0, BOS, EOS, max_len, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    for row in range(len(h0)):
        np.testing.assert_allclose(a.scores[row], model.log_prob(h0[row], a.tokens[row]), rtol=1e-10)


def test_sampling_follows_the_distribution():
    model = ToyModel(0, 4, 2, 1.0)
    h0 = np.tile(np.array([[0.3, -0.2]]), (20000, 1))
    first = sample(model.step, h0, BOS, EOS, 1).tokens[:, 0]
    expected = np.exp(model.step(np.array([BOS]), h0[:1])[0][0])
    np.testing.assert_allclose(np.bincount(first, minlength=4) / len(first), expected, atol=0.015)
    colder = sample(model.step, h0[:2000], BOS, EOS, 1, temperature=0.05).tokens[:, 0]
    assert np.all(colder == expected.argmax())


def test_tensor_states_and_errors():
    """States may be Tensors (or nested tuples of them); log_probs may be a Tensor."""
    model = ToyModel(1, 3, 2, 2.0)

    def step(tokens, state):
        h, extra = state
        logp, h2 = model.step(tokens, h.numpy())
        return tg.Tensor(logp), (tg.Tensor(h2), {"memory": extra["memory"]})
    h0 = np.random.default_rng(0).standard_normal((2, 2))
    state = (tg.Tensor(h0), {"memory": tg.randn(2, 5, 3)})
    np.testing.assert_array_equal(beam_search(step, state, BOS, EOS, 3, beam_size=2).tokens,
                                  beam_search(model.step, h0, BOS, EOS, 3, beam_size=2).tokens)
    picked = index_state(state, np.array([1, 1, 0]))
    assert picked[0].shape == (3, 2) and picked[1]["memory"].shape == (3, 5, 3)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model.step, h0, BOS, EOS, 3, beam_size=0)
    with pytest.raises(ValueError, match="shape \\(N, V\\)"):
        greedy(lambda t, s: (np.zeros(3), s), h0, BOS, EOS, 3)
    with pytest.raises(ValueError, match="batch size"):
        greedy(model.step, None, BOS, EOS, 3)
    with pytest.raises(ValueError, match="temperature"):
        sample(model.step, h0, BOS, EOS, 3, temperature=0)
