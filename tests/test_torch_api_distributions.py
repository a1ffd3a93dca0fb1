"""``distributions.Categorical`` against torch's: log_prob, entropy and their gradients in the
logits or probs agree in float64, and samples follow the probabilities."""
import numpy as np
import pytest

import tinygrad_rnn as tg

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((3, 4))
PROBS = RNG.random((3, 4))
PROBS[0, 1] = 0.0                  # a class that cannot happen: finite log_prob, entropy term 0


def _scores(lib):
    logits = lib.tensor(LOGITS, requires_grad=True)
    probs = lib.tensor(PROBS, requires_grad=True)
    by_logits = lib.distributions.Categorical(logits=logits)
    by_probs = lib.distributions.Categorical(probs=probs)
    value = lib.tensor([1, 0, 3])
    outs = (by_logits.log_prob(value), by_logits.entropy(), by_probs.log_prob(value), by_probs.entropy(),
            by_logits.log_prob(lib.tensor([[2], [1]])), by_probs.probs, by_logits.logits)
    sum((o * (k + 1)).sum() for k, o in enumerate(outs)).backward()
    return [o.detach().numpy() for o in outs] + [logits.grad.numpy(), probs.grad.numpy()]


def test_categorical_scores_and_gradients_match_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in zip(_scores(tg), _scores(torch), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_categorical_samples_shapes_and_frequencies():
    tg.manual_seed(0)
    dist = tg.distributions.Categorical(probs=tg.tensor([[0.2, 0.8, 0.0], [0.5, 0.0, 0.5]]))
    assert dist.batch_shape == (2,) and dist.sample().shape == (2,) and dist.sample((5, 3)).shape == (5, 3, 2)
    draws = dist.sample((4000,)).numpy()
    assert draws.dtype == np.int64
    assert abs((draws[:, 0] == 1).mean() - 0.8) < 0.03 and not (draws[:, 0] == 2).any()
    assert abs((draws[:, 1] == 2).mean() - 0.5) < 0.03 and not (draws[:, 1] == 1).any()
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        tg.distributions.Categorical()
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        tg.distributions.Categorical(probs=tg.ones(2), logits=tg.ones(2))
