"""The user-facing testing tools: gradcheck fails loudly on a wrong backward (naming the input and
element) and passes a right one; the Hypothesis strategies produce what they promise."""
import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.testing import GradcheckError, gradcheck
from tinygrad_rnn.testing.strategies import arrays, broadcastable_shapes, distinct_arrays, shapes


class ScaledSquare(tg.Function):
    """f(a, b) = a * b^2, with an optional bug planted in db at one element."""

    bug_at = None

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b * b

    def backward(self, g):
        a, b = self.saved
        db = 2 * g * a * b
        if self.bug_at is not None:
            db[self.bug_at] += 1.0
        return g * b * b, db


class WrongAt12(ScaledSquare):
    bug_at = (1, 2)


class IgnoresUpstream(tg.Function):
    """Identity whose backward spreads the upstream's total evenly: right only when the upstream
    is constant, as with ``.sum().backward()``; a random upstream exposes it."""

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g * 0 + g.mean()


def rand(*shape, seed=0):
    return tg.Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_gradcheck_passes_a_correct_backward():
    worst = gradcheck(ScaledSquare.apply, rand(2, 3), rand(2, 3, seed=1))
    assert worst["abs_error"] < 1e-7 and worst["rel_error"] < 1e-5


def test_gradcheck_names_the_input_and_element_of_a_wrong_gradient():
    with pytest.raises(GradcheckError, match=r"gradient of input 1 \(shape \(2, 3\)\) is wrong at index \(1, 2\)"
                                             r".*1 of 6 elements off"):
        gradcheck(WrongAt12.apply, rand(2, 3), rand(2, 3, seed=1))


def test_gradcheck_catches_a_backward_that_ignores_the_upstream_gradient():
    x = rand(4)
    (IgnoresUpstream.apply(x).sum()).backward()         # a .sum() check would pass
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(4))
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(IgnoresUpstream.apply, rand(4))


def test_gradcheck_restores_inputs_even_when_it_fails():
    a, b = rand(2, 3), rand(2, 3, seed=1)
    before = a.numpy().copy(), b.numpy().copy()
    with pytest.raises(GradcheckError):
        gradcheck(WrongAt12.apply, a, b)
    np.testing.assert_array_equal(a.numpy(), before[0])
    np.testing.assert_array_equal(b.numpy(), before[1])


def test_gradcheck_checks_only_inputs_that_require_grad():
    constant = tg.Tensor(np.random.default_rng(1).standard_normal((2, 3)))
    gradcheck(WrongAt12.apply, rand(2, 3), constant)       # the wrong db is never looked at


def test_gradcheck_handles_several_outputs_and_0d_inputs():
    gradcheck(lambda x: x.split([1, 2]), rand(3))
    gradcheck(lambda x, s: (x * s).tanh(), rand(2), tg.Tensor(np.array(0.7), requires_grad=True))


def test_gradcheck_wants_float64():
    with pytest.raises(TypeError, match="float64.*float32"):
        gradcheck(lambda x: x * 2, tg.Tensor(np.ones(2, dtype=np.float32), requires_grad=True))


def test_gradcheck_needs_a_differentiable_output():
    with pytest.raises(GradcheckError, match="no output"):
        gradcheck(lambda x: x.detach(), rand(2))


# ---------------------------------------------------------------- strategies


@hypothesis.given(shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_their_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= n <= 4 for n in shape)


@hypothesis.given(st.integers(2, 4).flatmap(lambda k: broadcastable_shapes(k, max_dims=3, max_side=4)))
def test_broadcastable_shapes_broadcast(shapes_):
    out = np.broadcast_shapes(*shapes_)
    assert all(len(s) <= 3 and all(1 <= n <= 4 for n in s) for s in shapes_)
    assert len(out) == max(len(s) for s in shapes_)


@hypothesis.given(arrays(shapes(max_dims=3, max_side=4), low=-2.0, high=2.0, avoid=(0.0, 1.0), margin=0.1))
def test_arrays_stay_in_range_and_away_from_kinks(a):
    assert a.dtype == np.float64 and np.isfinite(a).all()
    assert ((-2.0 <= a) & (a <= 2.0)).all()
    assert (np.abs(a) >= 0.1).all() and (np.abs(a - 1.0) >= 0.1).all()


@hypothesis.given(arrays((2, 3)))
def test_arrays_take_a_fixed_shape_too(a):
    assert a.shape == (2, 3)


@hypothesis.given(distinct_arrays(shapes(max_dims=3, max_side=4), gap=0.05))
def test_distinct_arrays_are_distinct_and_in_range(a):
    values = np.sort(a.reshape(-1))
    assert a.dtype == np.float64
    assert (np.diff(values) >= 0.05 - 1e-12).all()
    assert ((-3.0 <= a) & (a <= 3.0)).all()
