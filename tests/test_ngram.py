"""n-gram baselines: every distribution sums to 1 over the vocabulary (seen and unseen contexts),
nothing gets zero probability, the fast scorer agrees with the one-context distribution, counts
agree with a plain Python count, unknown tokens follow the vocabulary's policy, Kneser-Ney beats
add-k at every order > 1, and evaluation predicts exactly the targets ``lm.evaluate`` predicts."""
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_rnn import ngram
from tinygrad_rnn.data import CharVocab, WordVocab, load_default_corpus, split_train_val
from tinygrad_rnn.lm import perplexity
from tinygrad_rnn.ngram import NGramLM

SMALL_V = 5
train_ids = st.lists(st.integers(0, SMALL_V - 1), min_size=6, max_size=60).map(np.array)
contexts = st.lists(st.integers(0, SMALL_V - 1), min_size=0, max_size=6).map(lambda c: np.array(c, dtype=np.int64))


@given(train_ids, contexts, st.integers(1, 4), st.sampled_from(["kn", "addk"]))
def test_distribution_sums_to_one_and_is_positive(ids, context, order, smoothing):
    model = NGramLM(order, SMALL_V, smoothing).fit(ids)
    p = model.distribution(context)
    assert p.shape == (SMALL_V,)
    assert np.all(p > 0)                                   # seen or not, every token is possible
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


@given(train_ids, st.lists(st.integers(0, SMALL_V - 1), min_size=2, max_size=30).map(np.array),
       st.integers(1, 4), st.sampled_from(["kn", "addk"]))
def test_log_probs_agree_with_distribution(ids, text, order, smoothing):
    model = NGramLM(order, SMALL_V, smoothing).fit(ids)
    positions, logp = model.log_probs(text)
    assert list(positions) == list(range(1, len(text)))
    for i, lp in zip(positions, logp):
        context = text[max(0, i - order + 1):i]
        assert lp == pytest.approx(math.log(model.distribution(context)[text[i]]), abs=1e-10)


def test_unseen_context_and_unseen_token_get_probability():
    ids = np.array([0, 1, 0, 1, 0, 1, 2])                 # token 3 never occurs, context (2, 2) never seen
    for smoothing in ("kn", "addk"):
        model = NGramLM(3, 4, smoothing).fit(ids)
        p = model.distribution(np.array([2, 2]))
        assert p[3] > 0 and p.sum() == pytest.approx(1.0)
    addk = NGramLM(3, 4, "addk").fit(ids)
    np.testing.assert_allclose(addk.distribution(np.array([2, 2])), 0.25)   # add-k: uniform there


def test_counts_match_plain_python():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 4, size=200)
    model = NGramLM(3, 4, "addk", k=0.5).fit(ids)
    tri = Counter(tuple(ids[i:i + 3]) for i in range(len(ids) - 2))
    bi = Counter(tuple(ids[i:i + 2]) for i in range(len(ids) - 2))   # contexts followed by something
    for (a, b, c), n in list(tri.items())[:10]:
        expected = (n + 0.5) / (bi[(a, b)] + 0.5 * 4)
        assert model.distribution(np.array([a, b]))[c] == pytest.approx(expected)


def test_unknown_tokens_follow_the_vocabulary_policy():
    text = "the cat sat on the mat\nthe dog sat on the log\n" * 5
    vocab = WordVocab.from_text(text, min_count=2)
    model = NGramLM(2, len(vocab), "kn").fit(vocab.encode(text))
    ids = vocab.encode("the zebra sat")                    # "zebra" -> <unk>
    assert ids[1] == vocab.unknown_id
    _, logp = model.log_probs(ids)
    assert np.all(np.isfinite(logp))
    strict = WordVocab(vocab.tokens[1:], unknown="error")
    with pytest.raises(ValueError, match="zebra"):
        strict.encode("the zebra sat")
    with pytest.raises(ValueError, match="outside"):
        model.log_probs(np.array([0, len(vocab)]))


def test_kneser_ney_beats_add_k_at_every_order_above_one():
    text = load_default_corpus()[:40000]
    for vocab in (CharVocab.from_text(text), WordVocab.from_text(text, min_count=2)):
        for order in range(2, 6):
            kn = ngram.run(text, vocab, order, "kn")["loss"]
            addk = ngram.run(text, vocab, order, "addk")["loss"]
            assert kn < addk, (vocab, order, kn, addk)


def test_evaluate_scores_the_same_targets_as_lm_evaluate():
    ids = np.arange(103) % 7
    model = NGramLM(2, 7, "kn").fit(ids)
    result = ngram.evaluate(model, ids, batch_size=4)
    L = len(ids) // 4
    assert result["tokens"] == 4 * (L - 1)                 # each stream's first token has no target
    streams = ids[:4 * L].reshape(4, L)
    manual = -np.mean([model.log_probs(row)[1] for row in streams])
    assert result["loss"] == pytest.approx(manual)
    assert result["perplexity"] == perplexity(result["loss"])
    assert result["bits"] == pytest.approx(result["loss"] / math.log(2))


def test_higher_order_fits_training_text_better():
    text = load_default_corpus()[:20000]
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    train, _ = split_train_val(ids)
    losses = [ngram.evaluate(NGramLM(n, len(vocab)).fit(train), train)["loss"] for n in (1, 2, 3)]
    assert losses[0] > losses[1] > losses[2]


@pytest.mark.parametrize("kwargs, match", [(dict(order=0, vocab_size=3), "order"),
                                           (dict(order=2, vocab_size=0), "vocab_size"),
                                           (dict(order=2, vocab_size=3, smoothing="good-turing"), "smoothing"),
                                           (dict(order=2, vocab_size=3, smoothing="addk", k=0), "k must")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(**kwargs)


def test_unfitted_and_too_short():
    with pytest.raises(RuntimeError, match="fit"):
        NGramLM(2, 3).distribution(np.array([0]))
    with pytest.raises(ValueError, match="at least 3"):
        NGramLM(3, 3).fit(np.array([0, 1]))


def test_sample_follows_the_counts_and_reads_the_warmup():
    text = "abcabcabcabc\nxyzxyz\n"
    vocab = CharVocab.from_text(text)
    model = NGramLM(3, len(vocab), "kn").fit(vocab.encode(text))
    out = ngram.sample(model, vocab, 30, prime="ab", seed=0)
    assert out.startswith("ab") and len(out) == 32
    assert out == ngram.sample(model, vocab, 30, prime="ab", seed=0)
    firsts = [ngram.sample(model, vocab, 1, prime="ab", seed=s)[-1] for s in range(200)]
    p_c = model.distribution(vocab.encode("ab"))[vocab.encode("c")[0]]
    assert abs(firsts.count("c") / 200 - p_c) < 0.12 and p_c > 0.3        # drawn from the distribution
    after_xy = [ngram.sample(model, vocab, 1, warmup="xy", seed=s) for s in range(200)]
    p_z = model.distribution(vocab.encode("xy"))[vocab.encode("z")[0]]
    assert abs(after_xy.count("z") / 200 - p_z) < 0.12 and p_z > 0.3     # the warm-up is the context
