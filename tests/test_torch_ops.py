"""PyTorch as an oracle: forward values and gradients equal torch's in float64 (to 1e-12) for the
ops where conventions matter most: ignore_index and reductions, ties in max/maximum, clamping
at the boundary, duplicate indices, batched broadcasting. Skipped when torch is absent."""
import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.testing.strategies import arrays, broadcastable_shapes, shapes

torch = pytest.importorskip("torch")


def given(*args, **kwargs):
    """``hypothesis.given`` that accepts the function-scoped ``device`` fixture (a plain string)."""
    suppressed = [*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
    return lambda test: settings(suppress_health_check=suppressed)(hypothesis.given(*args, **kwargs)(test))


def same_as_torch(device, ours, theirs, *arrays, tol=1e-12):
    """ours(*Tensors) and theirs(*torch tensors) agree in value and in the gradient of every
    input, for the same random upstream gradient."""
    mine = [tg.Tensor(a.copy(), requires_grad=True, device=device) for a in arrays]
    ref = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, expected = ours(*mine), theirs(*ref)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=tol, atol=tol, err_msg="forward")
    upstream = np.random.default_rng(0).standard_normal(expected.shape)
    out.backward(tg.Tensor(upstream, device=device))
    expected.backward(torch.tensor(upstream))
    for i, (m, r) in enumerate(zip(mine, ref)):
        want = np.zeros(r.shape) if r.grad is None else r.grad.numpy()
        got = np.zeros(m.shape) if m.grad is None else m.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"gradient of input {i}")


def small_ints(shape):
    """Arrays of a few integer values: ties everywhere."""
    return hnp.arrays(np.float64, shape, elements=st.integers(-1, 1).map(float))


@st.composite
def class_target_case(draw):
    kind = draw(st.sampled_from(["1d", "2d", "kdim"]))
    c, n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape, tshape = {"1d": ((c,), ()), "2d": ((n, c), (n,)), "kdim": ((n, c, d), (n, d))}[kind]
    target = draw(hnp.arrays(np.int64, tshape, elements=st.integers(0, c - 1)))
    ignore_index = draw(st.sampled_from([-100, 1]))
    if kind != "1d":
        target = np.where(draw(hnp.arrays(np.bool_, tshape)), ignore_index, target)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    if reduction == "mean":
        hypothesis.assume((target != ignore_index).any())
    return draw(arrays(shape)), target, ignore_index, reduction


@given(class_target_case())
def test_cross_entropy(device, case):
    a, t, ignore, red = case
    same_as_torch(device, lambda x: F.cross_entropy(x, tg.Tensor(t, device=device), ignore_index=ignore, reduction=red),
                  lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(t), ignore_index=ignore,
                                                              reduction=red), a)


@given(class_target_case())
def test_nll_loss(device, case):
    a, t, ignore, red = case
    same_as_torch(device, lambda x: F.nll_loss(x, tg.Tensor(t, device=device), ignore_index=ignore, reduction=red),
                  lambda x: torch.nn.functional.nll_loss(x, torch.tensor(t), ignore_index=ignore, reduction=red), a)


@st.composite
def axis_case(draw, min_dims=1):
    a = draw(arrays(shapes(min_dims=min_dims, max_dims=3, max_side=3)))
    return a, draw(st.integers(-a.ndim, a.ndim - 1))


@given(axis_case())
def test_log_softmax(device, case):
    a, axis = case
    same_as_torch(device, lambda x: F.log_softmax(x, axis), lambda x: torch.log_softmax(x, axis), a)


@given(axis_case())
def test_softmax(device, case):
    a, axis = case
    same_as_torch(device, lambda x: F.softmax(x, axis), lambda x: torch.softmax(x, axis), a)


@given(axis_case(), st.booleans())
def test_logsumexp(device, case, keep):
    a, axis = case
    same_as_torch(device, lambda x: x.logsumexp(axis, keepdims=keep),
                  lambda x: torch.logsumexp(x, axis, keepdim=keep), a)


@st.composite
def dims_case(draw, values=arrays):
    a = draw(values(shapes(min_dims=1, max_dims=3, max_side=3)))
    one = st.integers(-a.ndim, a.ndim - 1)
    dims = draw(st.one_of(one, st.lists(one, min_size=1, max_size=a.ndim, unique_by=lambda i: i % a.ndim).map(tuple)))
    return a, dims, draw(st.booleans())


@given(dims_case(), st.sampled_from([0, 1]))
def test_var(device, case, correction):
    a, dims, keep = case
    count = int(np.prod([a.shape[d] for d in ((dims,) if isinstance(dims, int) else dims)]))
    hypothesis.assume(count > correction)
    same_as_torch(device, lambda x: x.var(dims, keepdims=keep, correction=correction),
                  lambda x: torch.var(x, dims, correction=correction, keepdim=keep), a)


@given(dims_case(values=small_ints))
def test_max_with_ties_shares_like_amax(device, case):
    a, dims, keep = case
    same_as_torch(device, lambda x: x.amax(dims, keepdims=keep), lambda x: torch.amax(x, dims, keepdim=keep), a)


@given(dims_case(values=small_ints))
def test_min_with_ties_shares_like_amin(device, case):
    a, dims, keep = case
    same_as_torch(device, lambda x: x.amin(dims, keepdims=keep), lambda x: torch.amin(x, dims, keepdim=keep), a)


@given(small_ints(shapes(min_dims=0, max_dims=3, max_side=3)))
def test_max_over_everything_with_ties(device, a):
    same_as_torch(device, lambda x: x.max(), lambda x: torch.amax(x, tuple(range(x.ndim))), a)


@st.composite
def tied_pair(draw):
    sa, sb = draw(broadcastable_shapes(2, min_dims=0, max_dims=3, max_side=3))
    return draw(small_ints(sa)), draw(small_ints(sb))


@given(tied_pair())
def test_maximum_with_ties_gives_half_to_each(device, ab):
    same_as_torch(device, tg.maximum, torch.maximum, *ab)


@given(tied_pair())
def test_minimum_with_ties_gives_half_to_each(device, ab):
    same_as_torch(device, tg.minimum, torch.minimum, *ab)


@given(small_ints(shapes(min_dims=1, max_dims=3, max_side=3)), st.sampled_from([(-1.0, 1.0), (0.0, None), (None, 0.0)]))
def test_clip_at_the_boundary(device, a, bounds):
    same_as_torch(device, lambda x: x.clip(*bounds), lambda x: torch.clamp(x, *bounds), a)


@given(small_ints(shapes(min_dims=1, max_dims=3, max_side=3)))
def test_relu_and_abs_at_zero(device, a):
    same_as_torch(device, lambda x: x.relu() + x.abs(), lambda x: torch.relu(x) + torch.abs(x), a)


def test_pow_with_zero_exponent_at_zero(device):
    same_as_torch(device, lambda x: x ** 0 + x ** 1, lambda x: x ** 0 + x ** 1, np.array([0.0, 1.0, -2.0]))


@st.composite
def duplicate_index_case(draw):
    a = draw(arrays(shapes(min_dims=1, max_dims=3, max_side=3)))
    n = a.shape[0]
    return a, draw(hnp.arrays(np.int64, st.integers(1, 6), elements=st.integers(-n, n - 1)))


@given(duplicate_index_case())
def test_getitem_with_duplicate_indices(device, case):
    a, idx = case
    same_as_torch(device, lambda x: x[tg.Tensor(idx, device=device)], lambda x: x[torch.tensor(idx)], a)
    if a.ndim > 1:
        same_as_torch(device, lambda x: x[idx, 0], lambda x: x[torch.tensor(idx), 0], a)


@st.composite
def batched_matmul_case(draw):
    ba, bb = draw(broadcastable_shapes(2, min_dims=0, max_dims=3, max_side=2))
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    sa = (k,) if draw(st.integers(0, 4)) == 0 else ba + (m, k)
    sb = (k,) if draw(st.integers(0, 4)) == 0 else bb + (k, n)
    return draw(arrays(sa)), draw(arrays(sb))


@given(batched_matmul_case())
def test_matmul_with_broadcast_batch_dimensions(device, ab):
    same_as_torch(device, lambda a, b: a @ b, torch.matmul, *ab)


@st.composite
def bce_case(draw):
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=3))
    return draw(arrays(shape, low=-30.0, high=30.0)), draw(arrays(shape, low=0.0, high=1.0)), \
        draw(st.sampled_from(["mean", "sum", "none"]))


@given(bce_case())
def test_binary_cross_entropy_with_logits(device, case):
    x, y, red = case
    same_as_torch(device, lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=red),
                  lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(a, b, reduction=red), x, y)


@given(bce_case())
def test_mse_loss(device, case):
    x, y, red = case
    same_as_torch(device, lambda a, b: F.mse_loss(a, b, reduction=red),
                  lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=red), x, y, tol=1e-10)


@st.composite
def gather_case(draw):
    a = draw(arrays(shapes(min_dims=1, max_dims=3, max_side=3)))
    axis = draw(st.integers(0, a.ndim - 1))
    shape = [draw(st.integers(1, n)) for n in a.shape]    # as torch, shorter than the input is fine
    shape[axis] = draw(st.integers(1, 4))
    return a, axis, draw(hnp.arrays(np.int64, tuple(shape), elements=st.integers(0, a.shape[axis] - 1)))


@given(gather_case())
def test_gather(device, case):
    a, axis, idx = case
    same_as_torch(device, lambda x: x.gather(axis, tg.Tensor(idx, device=device)),
                  lambda x: torch.gather(x, axis, torch.tensor(idx)), a)


@given(arrays(shapes(min_dims=1, max_dims=3, max_side=4)), st.integers(1, 4))
def test_chunk_matches_torch_sizes(device, a, chunks):
    ours = [p.shape for p in tg.Tensor(a, device=device).chunk(chunks)]
    assert ours == [tuple(p.shape) for p in torch.tensor(a).chunk(chunks)]
