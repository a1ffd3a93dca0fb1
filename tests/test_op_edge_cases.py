"""Op-level edge cases that once gave silently wrong answers, one regression test each, plus
Hypothesis properties of the softmax family at large logits (where a shifted formula that is
only algebraically right loses every digit)."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F


# ----------------------------------------------------------------------------- where

def test_where_with_two_scalars_picks_a_where_true():
    out = tg.where(tg.tensor([True, False, True]), 1.0, 2.0)
    np.testing.assert_array_equal(out.numpy(), [1.0, 2.0, 1.0])
    assert out.dtype == np.float32


@pytest.mark.parametrize("a_is_tensor", [True, False])
def test_where_with_one_scalar_keeps_the_sides(a_is_tensor):
    cond = tg.tensor([True, False])
    a = tg.tensor([1.0, 1.0], requires_grad=True) if a_is_tensor else 1.0
    b = 2.0 if a_is_tensor else tg.tensor([2.0, 2.0], requires_grad=True)
    out = tg.where(cond, a, b)
    np.testing.assert_array_equal(out.numpy(), [1.0, 2.0])
    out.sum().backward()
    grad = (a if a_is_tensor else b).grad.numpy()
    np.testing.assert_array_equal(grad, [1.0, 0.0] if a_is_tensor else [0.0, 1.0])


# ----------------------------------------------------------------------------- var

@pytest.mark.parametrize("values, correction, value, grad", [
    ([1.0], 1, math.nan, [math.nan]),                  # count == correction: 0 / 0
    ([1.0, 2.0], 2, math.inf, [-math.inf, math.inf]),  # count == correction: 0.5 / 0
])
def test_var_without_degrees_of_freedom_gives_nan_or_inf_like_torch(values, correction, value, grad):
    x = tg.tensor(values, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no NumPy division warnings leak out
        v = x.var(correction=correction)
        v.backward()
    np.testing.assert_array_equal(v.numpy(), value)
    np.testing.assert_array_equal(x.grad.numpy(), grad)


# ----------------------------------------------------------------------------- BCE targets

def test_bce_with_logits_rejects_integer_targets_like_torch():
    with pytest.raises(RuntimeError, match="floating"):
        F.binary_cross_entropy_with_logits(tg.tensor([0.5, 1.0]), tg.tensor([1, 0]))


def test_bce_with_logits_keeps_the_input_dtype():
    loss = F.binary_cross_entropy_with_logits(tg.tensor([0.5, 1.0]), tg.tensor([1.0, 0.0]))
    assert loss.dtype == np.float32


# ----------------------------------------------------------------------------- large logits

def test_cross_entropy_of_two_equal_huge_float32_logits_is_log2():
    z = tg.tensor([[1e8, 1e8]], requires_grad=True)
    loss = F.cross_entropy(z, tg.tensor([0]))
    loss.backward()
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)
    np.testing.assert_allclose(z.grad.numpy(), [[-0.5, 0.5]], rtol=1e-6)


def test_softmax_family_at_huge_float32_logits():
    z = tg.tensor([[1e8, 1e8]])
    np.testing.assert_allclose(z.log_softmax().numpy(), [[-math.log(2)] * 2], rtol=1e-6)
    np.testing.assert_allclose(z.softmax().numpy(), [[0.5, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(F.log_softmax(z, dim=-1).numpy(), [[-math.log(2)] * 2], rtol=1e-6)


# Logits on a grid of quarters and shifts that are multiples of 2**10: in float64 z + C is exact,
# so a formula that shifts before it subtracts gives bit-for-bit the same result, while
# z - logsumexp(z) rounds logsumexp at the magnitude of C and is off by ~C * 1e-16.
quarter_logits = st.lists(st.integers(-40, 40).map(lambda k: k / 4), min_size=2, max_size=6)
big_shifts = st.integers(1, 2**20).map(lambda m: float(m * 2**10))


@given(quarter_logits, big_shifts, st.data())
def test_log_softmax_and_cross_entropy_are_shift_invariant(logits, shift, data):
    z = np.array([logits])
    target = data.draw(st.integers(0, len(logits) - 1))
    results = []
    for offset in (0.0, shift):
        x = tg.tensor(z + offset, requires_grad=True)
        loss = F.cross_entropy(x, tg.tensor([target]))
        loss.backward()
        results.append((x.log_softmax().numpy(), x.softmax().numpy(), loss.item(), x.grad.numpy()))
        lse = tg.tensor(z + offset, requires_grad=True)
        lse.logsumexp().sum().backward()
        results[-1] += (lse.grad.numpy(),)
    for small, large in zip(*results):
        np.testing.assert_allclose(large, small, rtol=1e-12, atol=1e-12)
    # logsumexp itself lives at the scale of the shift: equal up to rounding there
    lse = tg.tensor(z + shift).logsumexp().item()
    assert lse == pytest.approx(shift + tg.tensor(z).logsumexp().item(), rel=1e-15, abs=1e-12)


@given(st.floats(-1e30, 1e30).map(lambda v: float(np.float32(v))), st.integers(2, 6), st.data())
def test_equal_float32_logits_of_any_size_are_uniform(value, classes, data):
    z = tg.tensor(np.full((1, classes), value, dtype=np.float32), requires_grad=True)
    target = data.draw(st.integers(0, classes - 1))
    loss = F.cross_entropy(z, tg.tensor([target]))
    loss.backward()
    assert loss.item() == pytest.approx(math.log(classes), rel=1e-5)
    want = np.full((1, classes), 1 / classes)
    want[0, target] -= 1
    np.testing.assert_allclose(z.grad.numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z.softmax().numpy(), np.full((1, classes), 1 / classes), rtol=1e-5)
