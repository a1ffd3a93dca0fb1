"""Every op's gradient against central finite differences (float64), and its forward value
against NumPy on the same arrays, under Hypothesis.

Each test body is one visible call: ``check(device, fn, *arrays, ref=numpy_fn)``. ``check``
makes each array a Tensor that requires grad, compares ``fn``'s forward with ``ref`` on the raw
arrays, runs ``gradcheck`` (random upstream gradient), and asserts that neither the inputs nor a
user-given upstream gradient were mutated and that the inputs' gradients do not alias.
Constants (indices, targets, axes) are captured by ``fn`` and ``ref``.
"""
import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn import backend
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.testing import gradcheck
from tinygrad_rnn.testing.strategies import arrays, broadcastable_shapes, distinct_arrays, shapes


def given(*args, **kwargs):
    """``hypothesis.given`` that accepts the function-scoped ``device`` fixture (a plain
    string, safe to share between examples)."""
    suppressed = [*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
    return lambda test: settings(suppress_health_check=suppressed)(hypothesis.given(*args, **kwargs)(test))


def _tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def check(device, fn, *arrays, ref=None, forward_rtol=1e-10, **gradcheck_options):
    """fn's forward equals ref's, its backward equals finite differences, nothing is mutated,
    and no two gradients (or a gradient and the upstream) share memory."""
    originals = [a.copy() for a in arrays]
    inputs = [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]
    if ref is not None:
        got, want = _tuple(fn(*inputs)), _tuple(ref(*originals))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == np.shape(w), f"forward shape {g.shape}, NumPy gives {np.shape(w)}"
            assert g.dtype == np.float64
            np.testing.assert_allclose(g.numpy(), w, rtol=forward_rtol, atol=1e-12)
    gradcheck(fn, *inputs, **gradcheck_options)
    for t, a, original in zip(inputs, arrays, originals):
        np.testing.assert_array_equal(t.numpy(), original, err_msg="gradcheck or the op mutated an input")
        np.testing.assert_array_equal(a, original)
    _check_upstream_untouched_and_no_aliasing(fn, inputs)


def _check_upstream_untouched_and_no_aliasing(fn, inputs):
    for t in inputs:
        t.grad = None
    outputs = [o for o in _tuple(fn(*inputs)) if o.requires_grad]
    upstream = [tg.Tensor(np.random.default_rng(1).standard_normal(o.shape), device=o.device) for o in outputs]
    kept = [u.numpy().copy() for u in upstream]
    for k, (o, u) in enumerate(zip(outputs, upstream)):
        o.backward(u, retain_graph=k < len(outputs) - 1)
    for u, k in zip(upstream, kept):
        np.testing.assert_array_equal(u.numpy(), k, err_msg="backward mutated the upstream gradient")
    xp = backend.array_module(inputs[0].data)
    arrays = [t.grad.data for t in inputs if t.grad is not None] + [u.data for u in upstream]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not xp.shares_memory(a, b), "two gradients (or a gradient and the upstream) share memory"


# ---------------------------------------------------------------- strategies

ANY = {}
NONZERO = dict(avoid=(0.0,), margin=0.5)
POSITIVE = dict(low=0.5, high=3.0)


@st.composite
def bcast(draw, *kinds, max_dims=3):
    """One float64 array per kind (``arrays`` keyword arguments), of mutually broadcastable shapes."""
    sizes = draw(broadcastable_shapes(len(kinds), min_dims=0, max_dims=max_dims, max_side=3))
    return tuple(draw(arrays(s, **kind)) for s, kind in zip(sizes, kinds))


@st.composite
def untied_pair(draw):
    """Broadcastable a, b that never tie: a on the grid k + 1/4, b on k + 3/4."""
    sa, sb = draw(broadcastable_shapes(2, min_dims=0, max_dims=3, max_side=3))
    grid = lambda offset: st.integers(-3, 2).map(lambda k: k + offset)  # noqa: E731
    return (draw(hnp.arrays(np.float64, sa, elements=grid(0.25))),
            draw(hnp.arrays(np.float64, sb, elements=grid(0.75))))


def axes_for(ndim):
    """None, an int (negatives too) or a tuple of distinct axes of an ndim-array."""
    if ndim == 0:
        return st.none()
    one = st.integers(-ndim, ndim - 1)
    return st.one_of(st.none(), one, st.lists(one, min_size=1, max_size=ndim, unique_by=lambda a: a % ndim).map(tuple))


@st.composite
def reduction_case(draw, distinct=False, min_dims=0):
    """(array, axis, keepdims); ``distinct`` keeps elements apart, for max/min."""
    shape = draw(shapes(min_dims=min_dims, max_dims=3, max_side=3))
    a = draw(distinct_arrays(shape) if distinct else arrays(shape))
    return a, draw(axes_for(len(shape))), draw(st.booleans())


def one_axis(ndim):
    return st.integers(-ndim, ndim - 1)


def np_reduced_count(shape, axis):
    axes = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    return int(np.prod([shape[a] for a in axes]))


small = shapes(min_dims=0, max_dims=3, max_side=3)
nonscalar = shapes(min_dims=1, max_dims=3, max_side=3)


# ---------------------------------------------------------------- elementwise, binary


@given(bcast(ANY, ANY))
def test_add(device, ab): check(device, lambda a, b: a + b, *ab, ref=np.add)


@given(bcast(ANY, ANY))
def test_sub(device, ab): check(device, lambda a, b: a - b, *ab, ref=np.subtract)


@given(bcast(ANY, ANY))
def test_mul(device, ab): check(device, lambda a, b: a * b, *ab, ref=np.multiply)


@given(bcast(ANY, NONZERO))
def test_div(device, ab): check(device, lambda a, b: a / b, *ab, ref=np.divide)


@given(untied_pair())
def test_maximum(device, ab): check(device, tg.maximum, *ab, ref=np.maximum)


@given(untied_pair())
def test_minimum(device, ab): check(device, tg.minimum, *ab, ref=np.minimum)


@given(bcast(POSITIVE, dict(low=-2.0, high=2.0)))
def test_pow_tensor_tensor(device, ab): check(device, lambda a, b: a ** b, *ab, ref=np.power)


@given(arrays(small, **POSITIVE), st.floats(-2.0, 3.0))
def test_pow_tensor_scalar(device, a, p): check(device, lambda x: x ** p, a, ref=lambda x: x ** p)


@given(arrays(small, **NONZERO), st.sampled_from([0, 1, 2, 3, -1.0]))
def test_pow_integer_exponent_negative_base(device, a, p): check(device, lambda x: x ** p, a, ref=lambda x: x ** p)


@given(arrays(small), st.floats(0.5, 3.0))
def test_pow_scalar_tensor(device, a, base): check(device, lambda x: base ** x, a, ref=lambda x: base ** x)


def test_pow_exponent_zero_at_zero_base_has_zero_gradient(device):
    x = tg.Tensor(np.array([0.0, 2.0]), requires_grad=True, device=device)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / (b * b + 1), "pow": lambda a, b: (a * a + 1) ** b,
          "maximum": lambda a, b: tg.maximum(a, b * 0.5 + 0.3), "minimum": lambda a, b: tg.minimum(a, b * 0.5 + 0.3),
          "where": lambda a, b: tg.where(a > 0.1, a, b)}
NP_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": lambda a, b: a / (b * b + 1),
             "pow": lambda a, b: (a * a + 1) ** b, "maximum": lambda a, b: np.maximum(a, b * 0.5 + 0.3),
             "minimum": lambda a, b: np.minimum(a, b * 0.5 + 0.3), "where": lambda a, b: np.where(a > 0.1, a, b)}
BROADCAST_PAIRS = [((), (2, 3)), ((2, 3), ()), ((2, 1), (1, 3)), ((3,), (2, 1, 3)), ((1,), ()),
                   ((2, 1, 3), (4, 1)), ((1, 1), (1,))]


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("shapes_", BROADCAST_PAIRS, ids=str)
def test_binary_op_broadcasting(device, op, shapes_):
    rng = np.random.default_rng(3)
    check(device, BINARY[op], *(rng.uniform(-2, 2, s) for s in shapes_), ref=NP_BINARY[op])


@given(bcast(ANY, ANY))
def test_binary_ops_with_python_scalars_and_arrays(device, ab):
    check(device, lambda x: 2.0 - x * 3 + x / 4 - 1 / (x * x + 1) + ab[1], ab[0],
          ref=lambda x: 2.0 - x * 3 + x / 4 - 1 / (x * x + 1) + ab[1])


# ---------------------------------------------------------------- elementwise, unary


@given(arrays(small))
def test_neg(device, a): check(device, lambda x: -x, a, ref=np.negative)


@given(arrays(small))
def test_exp(device, a): check(device, lambda x: x.exp(), a, ref=np.exp)


@given(arrays(small, low=0.1, high=3.0))
def test_log(device, a): check(device, lambda x: x.log(), a, ref=np.log)


@given(arrays(small, low=0.1, high=3.0))
def test_sqrt(device, a): check(device, lambda x: x.sqrt(), a, ref=np.sqrt)


@given(arrays(small, avoid=(0.0,)))
def test_abs(device, a): check(device, lambda x: x.abs(), a, ref=np.abs)


@given(arrays(small))
def test_tanh(device, a): check(device, lambda x: x.tanh(), a, ref=np.tanh)


@given(arrays(small, low=-50.0, high=50.0))
def test_sigmoid_including_large_inputs(device, a):
    check(device, lambda x: x.sigmoid(), a, ref=lambda x: 1 / (1 + np.exp(-x)))


def test_sigmoid_at_plus_minus_50(device):
    check(device, lambda x: x.sigmoid(), np.array([-50.0, -20.0, 0.0, 20.0, 50.0]), ref=lambda x: 1 / (1 + np.exp(-x)))


@given(arrays(small, avoid=(0.0,)))
def test_relu(device, a): check(device, lambda x: x.relu(), a, ref=lambda x: np.maximum(x, 0))


@given(arrays(small, avoid=(-1.0, 1.0)), st.sampled_from([(-1.0, None), (None, 1.0), (-1.0, 1.0)]))
def test_clip(device, a, bounds): check(device, lambda x: x.clip(*bounds), a, ref=lambda x: np.clip(x, *bounds))


@st.composite
def where_case(draw):
    sc, sa, sb = draw(broadcastable_shapes(3, min_dims=0, max_dims=3, max_side=3))
    return draw(hnp.arrays(np.bool_, sc)), draw(arrays(sa)), draw(arrays(sb))


@given(where_case())
def test_where(device, case):
    cond, a, b = case
    check(device, lambda x, y: tg.where(tg.Tensor(cond, device=device), x, y), a, b,
          ref=lambda x, y: np.where(cond, x, y))


@given(where_case())
def test_where_with_a_scalar_branch(device, case):
    cond, a, _ = case
    check(device, lambda x: tg.where(tg.Tensor(cond, device=device), 0.5, x), a, ref=lambda x: np.where(cond, 0.5, x))


@given(arrays(small))
def test_cast_float64_to_float32_and_back(device, a):
    # float32 in the middle: finite differences need a coarse step and a loose tolerance
    check(device, lambda x: x.to(dtype=tg.float32).to(dtype=tg.float64) * 2, a,
          ref=lambda x: x.astype(np.float32).astype(np.float64) * 2, eps=1e-3, atol=1e-3, rtol=1e-3)


def test_cast_gradient_comes_back_in_the_input_dtype(device):
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True, device=device)
    y = x.to(dtype=tg.float32)
    assert y.dtype == np.float32 and x.to(dtype=tg.float64) is x
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


# ---------------------------------------------------------------- matmul, linear


@st.composite
def matmul_case(draw):
    kind = draw(st.sampled_from(["1d@1d", "1d@2d", "2d@1d", "2d@2d", "batched", "1d@batched", "batched@1d"]))
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    ba, bb = draw(broadcastable_shapes(2, min_dims=1, max_dims=2, max_side=2))
    sa = {"1d@1d": (k,), "1d@2d": (k,), "2d@1d": (m, k), "2d@2d": (m, k), "batched": ba + (m, k),
          "1d@batched": (k,), "batched@1d": ba + (m, k)}[kind]
    sb = {"1d@1d": (k,), "1d@2d": (k, n), "2d@1d": (k,), "2d@2d": (k, n), "batched": bb + (k, n),
          "1d@batched": bb + (k, n), "batched@1d": (k,)}[kind]
    return draw(arrays(sa)), draw(arrays(sb))


@given(matmul_case())
def test_matmul(device, ab): check(device, lambda a, b: a @ b, *ab, ref=np.matmul)


@st.composite
def linear_case(draw):
    lead = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    i, o = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    bias = (draw(arrays((o,))),) if draw(st.booleans()) else ()
    return (draw(arrays(lead + (i,))), draw(arrays((o, i)))) + bias


@given(linear_case())
def test_linear(device, xwb): check(device, F.linear, *xwb, ref=lambda x, w, *b: x @ w.T + (b[0] if b else 0))


# ---------------------------------------------------------------- reductions


@given(reduction_case())
def test_sum(device, case):
    a, axis, keep = case
    check(device, lambda x: x.sum(axis=axis, keepdims=keep), a, ref=lambda x: np.sum(x, axis=axis, keepdims=keep))


@given(reduction_case())
def test_mean(device, case):
    a, axis, keep = case
    check(device, lambda x: x.mean(axis=axis, keepdims=keep), a, ref=lambda x: np.mean(x, axis=axis, keepdims=keep))


@given(reduction_case(distinct=True))
def test_max(device, case):
    a, axis, keep = case
    check(device, lambda x: x.amax(axis=axis, keepdims=keep), a, ref=lambda x: np.max(x, axis=axis, keepdims=keep))


@given(reduction_case(distinct=True))
def test_min(device, case):
    a, axis, keep = case
    check(device, lambda x: x.amin(axis=axis, keepdims=keep), a, ref=lambda x: np.min(x, axis=axis, keepdims=keep))


def test_max_and_min_share_the_gradient_of_ties_equally(device):
    x = tg.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True, device=device)
    (x.amax(axis=1).sum() + x.amin(axis=1).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0.5, 0.5], [2 / 3, 2 / 3, 2 / 3]])


@given(reduction_case(min_dims=1), st.sampled_from([0, 1]))
def test_var(device, case, correction):
    a, axis, keep = case
    hypothesis.assume(np_reduced_count(a.shape, axis) > correction)
    check(device, lambda x: x.var(axis=axis, keepdims=keep, correction=correction), a,
          ref=lambda x: np.var(x, axis=axis, keepdims=keep, ddof=correction))


# ---------------------------------------------------------------- shape


@given(arrays(small), st.booleans())
def test_reshape(device, a, flat):
    shape = (-1,) if flat else a.shape[::-1]
    check(device, lambda x: x.reshape(*shape), a, ref=lambda x: x.reshape(shape))


@st.composite
def permute_case(draw):
    a = draw(arrays(small))
    return a, tuple(draw(st.permutations(range(a.ndim))))


@given(permute_case())
def test_permute(device, case):
    a, axes = case
    check(device, lambda x: x.permute(*axes), a, ref=lambda x: x.transpose(axes))


@st.composite
def transpose_case(draw):
    a = draw(arrays(nonscalar))
    return a, draw(one_axis(a.ndim)), draw(one_axis(a.ndim))


@given(transpose_case())
def test_transpose(device, case):
    a, d0, d1 = case
    check(device, lambda x: x.transpose(d0, d1), a, ref=lambda x: np.swapaxes(x, d0, d1))


@given(arrays(small))
def test_T(device, a): check(device, lambda x: x.T, a, ref=lambda x: x.T)


@st.composite
def expand_case(draw):
    s, t = draw(broadcastable_shapes(2, min_dims=0, max_dims=3, max_side=3))
    return draw(arrays(s)), np.broadcast_shapes(s, t)


@given(expand_case(), st.booleans())
def test_expand_and_broadcast_to(device, case, use_expand):
    a, target = case
    op = (lambda x: x.expand(*target)) if use_expand else (lambda x: x.broadcast_to(target))
    check(device, op, a, ref=lambda x: np.broadcast_to(x, target))


def test_expand_with_minus_one_keeps_that_size(device):
    check(device, lambda x: x.expand(-1, 3), np.array([[1.0], [2.0]]), ref=lambda x: np.broadcast_to(x, (2, 3)))
    check(device, lambda x: x.expand(4, -1, 3), np.array([[1.0], [2.0]]), ref=lambda x: np.broadcast_to(x, (4, 2, 3)))


@st.composite
def squeeze_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2))
    ones = [i for i, n in enumerate(shape) if n == 1]
    one = st.sampled_from(ones).flatmap(lambda i: st.sampled_from([i, i - len(shape)])) if ones else st.none()
    axis = draw(st.none() | one)
    return draw(arrays(shape)), axis


@given(squeeze_case())
def test_squeeze(device, case):
    a, axis = case
    check(device, lambda x: x.squeeze(axis), a, ref=lambda x: np.squeeze(x, axis))


@st.composite
def unsqueeze_case(draw):
    a = draw(arrays(small))
    return a, draw(st.integers(-a.ndim - 1, a.ndim))


@given(unsqueeze_case())
def test_unsqueeze(device, case):
    a, axis = case
    check(device, lambda x: x.unsqueeze(axis), a, ref=lambda x: np.expand_dims(x, axis))


@st.composite
def basic_index_case(draw):
    a = draw(arrays(shapes(min_dims=1, max_dims=3, max_side=4)))
    return a, draw(hnp.basic_indices(a.shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))


@given(basic_index_case())
def test_getitem_basic(device, case):
    a, index = case
    check(device, lambda x: x[index], a, ref=lambda x: x[index])


@st.composite
def array_index_case(draw):
    """An integer index along one axis, long enough (up to 6 of at most 3 values) to repeat."""
    a = draw(arrays(shapes(min_dims=1, max_dims=3, max_side=3)))
    axis = draw(st.integers(0, a.ndim - 1))
    n = a.shape[axis]
    idx = draw(hnp.arrays(np.int64, st.integers(1, 6), elements=st.integers(-n, n - 1)))
    return a, (slice(None),) * axis + (idx,)


@given(array_index_case())
def test_getitem_integer_array_with_duplicates(device, case):
    a, index = case
    check(device, lambda x: x[index], a, ref=lambda x: x[index])


@given(array_index_case())
def test_getitem_tensor_index(device, case):
    a, index = case
    as_tensor = index[:-1] + (tg.Tensor(index[-1], device=device),)
    check(device, lambda x: x[as_tensor], a, ref=lambda x: x[index])


def test_getitem_repeated_row_accumulates(device):
    check(device, lambda x: x[[0, 2, 0, 0]], np.arange(6.0).reshape(3, 2), ref=lambda x: x[[0, 2, 0, 0]])
    check(device, lambda x: x[[0, 0], [1, 1]], np.arange(6.0).reshape(3, 2), ref=lambda x: x[[0, 0], [1, 1]])


@st.composite
def mask_case(draw):
    a = draw(arrays(nonscalar))
    full_mask = draw(st.booleans())
    mask = draw(hnp.arrays(np.bool_, a.shape if full_mask else a.shape[:1]))
    return a, mask


@given(mask_case(), st.booleans())
def test_getitem_boolean_mask(device, case, as_tensor):
    a, mask = case
    index = tg.Tensor(mask, device=device) if as_tensor else mask
    check(device, lambda x: x[index], a, ref=lambda x: x[mask])


@st.composite
def cat_case(draw):
    ndim = draw(st.integers(1, 3))
    axis = draw(one_axis(ndim))
    base = list(draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, max_side=3)))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        base[axis] = draw(st.integers(1, 3))
        parts.append(draw(arrays(tuple(base))))
    return parts, axis


@given(cat_case())
def test_cat(device, case):
    parts, axis = case
    check(device, lambda *xs: tg.cat(xs, axis=axis), *parts, ref=lambda *xs: np.concatenate(xs, axis=axis))


@st.composite
def stack_case(draw):
    shape = draw(small)
    parts = [draw(arrays(shape)) for _ in range(draw(st.integers(1, 3)))]
    return parts, draw(st.integers(-len(shape) - 1, len(shape)))


@given(stack_case())
def test_stack(device, case):
    parts, axis = case
    check(device, lambda *xs: tg.stack(xs, axis=axis), *parts, ref=lambda *xs: np.stack(xs, axis=axis))


def np_split(x, sizes, axis):
    stops = np.cumsum(sizes)[:-1]
    return np.split(x, stops, axis=axis)


@st.composite
def split_case(draw):
    a = draw(arrays(shapes(min_dims=1, max_dims=3, max_side=4)))
    axis = draw(one_axis(a.ndim))
    length = a.shape[axis]
    if draw(st.booleans()):
        n = draw(st.integers(1, length))
        return a, axis, n, [n] * (length // n) + ([length % n] if length % n else [])
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=3)))
    sizes = [b - e for b, e in zip(cuts + [length], [0] + cuts)]
    return a, axis, sizes, sizes


@given(split_case())
def test_split_int_and_list(device, case):
    a, axis, arg, sizes = case
    check(device, lambda x: x.split(arg, axis=axis), a, ref=lambda x: np_split(x, sizes, axis))


@given(arrays(shapes(min_dims=1, max_dims=3, max_side=4)), st.integers(1, 4))
def test_chunk(device, a, chunks):
    size = -(-a.shape[0] // chunks)   # torch.chunk: pieces of ceil(n / chunks)
    check(device, lambda x: tg.chunk(x, chunks), a, ref=lambda x: [x[i:i + size] for i in range(0, len(x), size)])


@st.composite
def flip_case(draw):
    a = draw(arrays(nonscalar))
    axes = draw(st.lists(one_axis(a.ndim), min_size=1, max_size=a.ndim, unique_by=lambda i: i % a.ndim))
    return a, axes[0] if len(axes) == 1 else tuple(axes)


@given(flip_case())
def test_flip(device, case):
    a, axes = case
    check(device, lambda x: x.flip(axes), a, ref=lambda x: np.flip(x, axes))


@st.composite
def pad_case(draw):
    a = draw(arrays(nonscalar))
    widths = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(a.ndim))
    return a, widths, draw(st.sampled_from([0.0, -1.5]))


@given(pad_case())
def test_pad(device, case):
    a, widths, value = case
    check(device, lambda x: x.pad(widths, value=value), a, ref=lambda x: np.pad(x, widths, constant_values=value))


@st.composite
def gather_case(draw):
    a = draw(arrays(nonscalar))
    axis = draw(st.integers(0, a.ndim - 1))
    shape = [draw(st.integers(1, n)) for n in a.shape]    # as torch, shorter than the input is fine
    shape[axis] = draw(st.integers(1, 4))
    index = draw(hnp.arrays(np.int64, tuple(shape), elements=st.integers(0, a.shape[axis] - 1)))
    return a, axis, index


@given(gather_case())
def test_gather(device, case):
    a, axis, index = case
    window = tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(index.shape))
    check(device, lambda x: tg.gather(x, axis, tg.Tensor(index, device=device)), a,
          ref=lambda x: np.take_along_axis(x[window], index, axis=axis))


@st.composite
def embedding_case(draw):
    vocab, dim = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    index = draw(hnp.arrays(np.int64, shapes(min_dims=0, max_dims=2, max_side=5), elements=st.integers(0, vocab - 1)))
    return draw(arrays((vocab, dim))), index


@given(embedding_case())
def test_embedding_with_repeated_indices(device, case):
    weight, index = case
    check(device, lambda w: F.embedding(tg.Tensor(index, device=device), w), weight, ref=lambda w: w[index])


# ---------------------------------------------------------------- softmax family


@st.composite
def axis_case(draw):
    a = draw(arrays(nonscalar))
    return a, draw(one_axis(a.ndim))


def np_logsumexp(x, axis, keepdims=False):
    return np.log(np.exp(x).sum(axis=axis, keepdims=keepdims))


@given(axis_case())
def test_softmax(device, case):
    a, axis = case
    check(device, lambda x: x.softmax(axis), a, ref=lambda x: np.exp(x - np_logsumexp(x, axis, True)))


@given(axis_case())
def test_log_softmax(device, case):
    a, axis = case
    check(device, lambda x: F.log_softmax(x, axis), a, ref=lambda x: x - np_logsumexp(x, axis, True))


@given(reduction_case(min_dims=1))
def test_logsumexp(device, case):
    a, axis, keep = case
    check(device, lambda x: x.logsumexp(axis=axis, keepdims=keep), a, ref=lambda x: np_logsumexp(x, axis, keep))


def test_softmax_family_of_large_logits_is_finite(device):
    a = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]])
    check(device, lambda x: x.softmax(-1), a, ref=lambda x: np.exp(x - x.max(-1, keepdims=True))
          / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
    check(device, lambda x: x.logsumexp(-1), a,
          ref=lambda x: x.max(-1) + np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)))


# ---------------------------------------------------------------- losses


def np_nll(logp, target, ignore_index, reduction):
    """Reference NLL on (C,), (N, C) or (N, C, d...) log-probabilities."""
    z = logp[None] if logp.ndim == 1 else np.moveaxis(logp, 1, -1)
    t = target[None] if logp.ndim == 1 else target
    keep = t != ignore_index
    picked = np.take_along_axis(z, np.where(keep, t, 0)[..., None], -1)[..., 0]
    losses = np.where(keep, -picked, 0.0)
    if reduction == "none":
        return losses[0] if logp.ndim == 1 else losses
    return losses.sum() if reduction == "sum" else losses.sum() / keep.sum()


def np_cross_entropy(logits, target, ignore_index, reduction):
    return np_nll(logits - np_logsumexp(logits, 1 if logits.ndim > 1 else 0, True), target, ignore_index, reduction)


@st.composite
def class_target_case(draw):
    """(input, target, ignore_index, reduction) with input (C,), (N, C) or (N, C, d); some targets
    set to ignore_index, but for 'mean' at least one kept (else the loss is 0/0)."""
    kind = draw(st.sampled_from(["1d", "2d", "kdim"]))
    c = draw(st.integers(1, 4))
    n, d = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape, tshape = {"1d": ((c,), ()), "2d": ((n, c), (n,)), "kdim": ((n, c, d), (n, d))}[kind]
    target = draw(hnp.arrays(np.int64, tshape, elements=st.integers(0, c - 1)))
    ignore_index = draw(st.sampled_from([-100, 0, 2]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    if kind != "1d" and draw(st.booleans()):
        drop = draw(hnp.arrays(np.bool_, tshape))
        target = np.where(drop, ignore_index, target)
    if reduction == "mean":
        hypothesis.assume((target != ignore_index).any())
    return draw(arrays(shape)), target, ignore_index, reduction


@given(class_target_case())
def test_cross_entropy(device, case):
    a, t, ignore, red = case
    check(device, lambda x: F.cross_entropy(x, tg.Tensor(t, device=device), ignore_index=ignore, reduction=red), a,
          ref=lambda x: np_cross_entropy(x, t, ignore, red))


@given(class_target_case())
def test_nll_loss(device, case):
    a, t, ignore, red = case
    check(device, lambda x: F.nll_loss(x, tg.Tensor(t, device=device), ignore_index=ignore, reduction=red), a,
          ref=lambda x: np_nll(x, t, ignore, red))


@given(class_target_case())
def test_cross_entropy_equals_nll_of_log_softmax(device, case):
    a, t, ignore, red = case
    x, target = tg.Tensor(a, device=device), tg.Tensor(t, device=device)
    fused = F.cross_entropy(x, target, ignore_index=ignore, reduction=red)
    composed = F.nll_loss(F.log_softmax(x, 1 if x.ndim > 1 else 0), target, ignore_index=ignore, reduction=red)
    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-12, atol=1e-12)


REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}


@st.composite
def same_shape_pair(draw, **second):
    shape = draw(small)
    return (draw(arrays(shape)), draw(arrays(shape, **second))), draw(st.sampled_from(sorted(REDUCE)))


@given(same_shape_pair())
def test_mse_loss(device, case):
    ab, red = case
    check(device, lambda x, y: F.mse_loss(x, y, reduction=red), *ab, ref=lambda x, y: REDUCE[red]((x - y) ** 2))


@given(same_shape_pair(low=0.0, high=1.0))
def test_binary_cross_entropy_with_logits(device, case):
    ab, red = case
    p = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    check(device, lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=red), *ab,
          ref=lambda x, y: REDUCE[red](-(y * np.log(p(x)) + (1 - y) * np.log(1 - p(x)))))


# ---------------------------------------------------------------- dropout


@given(arrays(nonscalar), st.sampled_from([0.2, 0.5, 0.9]))
def test_dropout_with_a_fixed_mask(device, a, p):
    def dropped(x):
        tg.manual_seed(7)   # every finite-difference evaluation draws the same mask
        return F.dropout(x, p)
    y = dropped(tg.Tensor(a, device=device)).numpy()
    tg.manual_seed(7)           # the mask the op draws: units whose uniform number is >= p are kept
    keep = backend.to_numpy(backend.random_uniform(a.shape, device, a.dtype)) >= p
    np.testing.assert_allclose(y, np.where(keep, a / (1 - p), 0.0), rtol=1e-12, atol=0)
    check(device, dropped, a)


@given(arrays(nonscalar), st.sampled_from([0.0, 0.5]))
def test_dropout_in_eval_mode_is_the_identity(device, a, p):
    x = tg.Tensor(a, requires_grad=True, device=device)
    assert F.dropout(x, p, training=False) is x
    check(device, lambda t: F.dropout(t, p, training=False) * 1.0, a, ref=lambda t: t)


def test_dropout_zeroes_about_p_and_keeps_the_mean(device):
    x = tg.ones(200_000, dtype=tg.float64, device=device)
    y = F.dropout(x, 0.3).numpy()
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.02
