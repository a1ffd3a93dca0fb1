"""Tensor methods under torch's names: the same snippet runs on torch and on tinygrad_rnn, and
values, shapes, dtypes and gradients must agree (skipped without torch). Gradchecks of the new
differentiable ops, and the in-place rules (which version of a tensor an earlier op read)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.testing import gradcheck
from tinygrad_rnn.testing.strategies import arrays, distinct_arrays, shapes

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((2, 3, 4))
MASK = RNG.random((3, 4)) > 0.5


def _setitem_rows(lib, x, b):
    y = x.clone()
    y[0] = 0.0
    y[:, 1] = x[:, 0] * 2
    return y


def _buffer(lib, x, b):
    out = lib.zeros(3, 4, dtype=lib.float64)
    for i in range(3):
        out[i] = x[i].tanh() * i
    return out


def _inplace_chain(lib, x, b):
    y = x * 1.0
    y.add_(x, alpha=2.0)
    y.mul_(3.0)
    y.sub_(x.exp(), alpha=0.5)
    return y


def _older_user_keeps_its_version(lib, x, b):
    y = x * 2.0
    z = y.tanh()            # reads y before the in-place add
    y.add_(x ** 2)
    return z + y


def _fills(lib, x, b):
    y = x * 1.0
    y.masked_fill_(lib.tensor(MASK), 0.25)
    z = x.new_zeros(3, 4)
    z.copy_(x * 3)
    w = x.new_full((2,), 7.0)
    w.zero_()
    v = x.new_ones(2)
    v.fill_(2.5)
    return y, z, w, v


# (name, snippet on a float64 (3, 4) tensor x and a (2, 3, 4) tensor b)
CASES = [
    ("view", lambda lib, x, b: (x.view(-1), x.view(4, 3), x.view((2, 6)))),
    ("t_contiguous", lambda lib, x, b: x.t().contiguous()),
    ("narrow", lambda lib, x, b: (x.narrow(1, 1, 2), x.narrow(0, -2, 2))),
    ("flatten", lambda lib, x, b: (b.flatten(), b.flatten(1), b.flatten(0, 1), b.flatten(-2, -1))),
    ("unbind", lambda lib, x, b: x.unbind(1)),
    ("clone", lambda lib, x, b: x.clone() * 2),
    ("argmax", lambda lib, x, b: (x.argmax(), x.argmax(1), x.argmin(dim=0, keepdim=True), b.argmax(-1))),
    ("topk", lambda lib, x, b: tuple(x.topk(2)) + tuple(x.topk(2, dim=0, largest=False))),
    ("sort", lambda lib, x, b: tuple(x.sort(1)) + tuple(x.sort(0, descending=True)) + (x.argsort(1),)),
    ("masked_fill", lambda lib, x, b: x.masked_fill(lib.tensor(MASK), -1.5)),
    ("cumsum", lambda lib, x, b: (x.cumsum(1), b.cumsum(dim=0), x.cumsum(-1))),
    ("std_var", lambda lib, x, b: (x.std(), x.std(1), x.std(dim=0, unbiased=False), x.var(False),
                                   x.var(1, keepdim=True), x.var(dim=(0, 1), correction=0), b.std(2, True, True))),
    ("new", lambda lib, x, b: (x.new_zeros(2, 3), x.new_ones((2,)), x.new_full((2, 2), 3.0),
                               x.new_tensor([1.0, 2.0]), x.new_zeros(2, dtype=lib.int64))),
    ("expand_type_as", lambda lib, x, b: (x[:1].expand_as(x), x.type_as(lib.ones(1, dtype=lib.float32)),
                                          x.type(lib.float32), x.double(), x.float(), x.long(), x.int(), x.bool())),
    ("sum_mean_dim", lambda lib, x, b: (x.sum(dim=1, keepdim=True), b.mean(dim=(0, 2)), b.sum((0, 1)),
                                        x.sum(0), b.mean(-1, True))),
    ("max_dim", lambda lib, x, b: tuple(x.max(1)) + tuple(x.min(dim=0, keepdim=True)) + (x.max(), x.min())),
    ("max_other", lambda lib, x, b: (x.max(x * -1), lib.max(x, 1).values, lib.min(x, dim=1).indices)),
    ("amax", lambda lib, x, b: (b.amax(dim=(0, 2)), b.amin(1, keepdim=True))),
    ("clamp", lambda lib, x, b: (x.clamp(min=-0.5, max=0.5), x.clamp(min=0.1), x.clamp(max=0.2), x.clip(-1, 1))),
    ("chunk_split", lambda lib, x, b: x.chunk(2, dim=1) + x.split(1, 0) + lib.chunk(x, 3, 1)),
    ("repeat", lambda lib, x, b: (x.repeat(2, 1), x.repeat(1, 2, 3), x[0].repeat(2))),
    ("permute_transpose", lambda lib, x, b: (b.permute(2, 0, 1), b.permute((1, 0, 2)), b.transpose(0, 2), x.T)),
    ("squeeze", lambda lib, x, b: (x.unsqueeze(1), x.unsqueeze(-1).squeeze(-1), x[None].squeeze(0),
                                   x[:1].squeeze(), x.unsqueeze(dim=0))),
    ("softmax", lambda lib, x, b: (x.softmax(1), x.log_softmax(dim=0), x.logsumexp(1), lib.softmax(x, dim=1),
                                   lib.log_softmax(x, 1), lib.logsumexp(x, dim=0, keepdim=True))),
    ("setitem", _setitem_rows),
    ("setitem_buffer", _buffer),
    ("inplace_chain", _inplace_chain),
    ("inplace_old_user", _older_user_keeps_its_version),
    ("fills", _fills),
    ("functional", lambda lib, x, b: (lib.cat([x, x * 2], dim=1), lib.stack([x, x], dim=2), lib.exp(x),
                                      lib.tanh(x), lib.sigmoid(x), lib.log(x.abs() + 1), lib.bmm(b, b.transpose(1, 2)),
                                      lib.matmul(x, x.t()), lib.mm(x, x.t()), lib.argmax(x, dim=1),
                                      lib.topk(x, 2).values, lib.sum(b, dim=1), lib.mean(x), lib.sqrt(x * x + 1),
                                      lib.clamp(x, min=0), lib.flatten(b, 1), lib.transpose(b, 0, 1))),
    ("trig_triangles", lambda lib, x, b: (lib.sin(x), x.cos(), x.tril(), lib.triu(x, 1), b.tril(-1), x.triu(diagonal=-1),
                                          lib.log(lib.tril(lib.ones(3, 3, dtype=lib.float64)) + 1))),
    ("misc_shapes", lambda lib, x, b: (b.unflatten(2, (2, 2)), x.view_as(x.t()), x.reshape_as(x.t()), b.mT,
                                       b.flip(0), x.flip((0, 1)), x.gather(1, lib.tensor([[0, 0], [1, 3], [2, 2]])),
                                       lib.tensor([float(x.is_floating_point()), float(x.nelement()),
                                                   float(x.ndimension())], dtype=lib.float64),
                                       x.cumsum(0, dtype=lib.float32), x.softmax(1, dtype=lib.float32),
                                       x.sum(dtype=lib.float32), x.half().float())),
    ("select", lambda lib, x, b: (x.index_select(1, lib.tensor([3, 0, 3])), lib.index_select(b, 0, lib.tensor([1])),
                                  x.masked_select(lib.tensor(MASK)), b.masked_select(lib.tensor(MASK[0])))),
    ("unary_inplace", lambda lib, x, b: ((x * 1.0).tanh_(), (x * 1.0).exp_(), (x * 1.0).sigmoid_(), (x.abs() + 1).log_(),
                                         (x.abs() + 1).sqrt_(), (x * 1.0).abs_(), (x * 1.0).neg_().relu_(),
                                         (x * 1.0).pow_(2))),
    ("scatter", lambda lib, x, b: (x.scatter(1, lib.tensor([[0, 1], [2, 3], [3, 0]]), (x * 3)[:, :2]),
                                   lib.zeros(3, 5, dtype=lib.float64).scatter_(1, lib.tensor([[1], [4], [0]]), 1.0),
                                   x.scatter_add(0, lib.tensor([[0, 0, 2, 1], [0, 2, 2, 1]]), x[:2] * 2),
                                   lib.scatter_add(x, 1, lib.tensor([[0, 0], [1, 1], [3, 3]]), x[:, :2]),
                                   (x * 1.0).scatter_add_(1, lib.tensor([[3], [3], [0]]), x[:, :1] * -1),
                                   x.scatter(0, lib.tensor([[2, 1, 0, 2]]), value=0.5))),
    ("more_inplace", lambda lib, x, b: ((x * 1.0).div_(2.0).clamp_(min=-0.3, max=0.4), (x + 0.0).clamp_(max=0.0),
                                        (x * 1).masked_fill_(lib.tensor(MASK), 3.0))),
    ("arith_methods", lambda lib, x, b: (x.add(x, alpha=2), x.sub(1.5), x.mul(x), x.div(2), x.pow(2), x.neg(),
                                         x.norm(), x.norm(dim=1), x.square())),
    ("rounding", lambda lib, x, b: (lib.round(x * 3), (x * 3).floor(), lib.ceil(x * 3), (x * 3).trunc(), x.sign(),
                                    (x * 3).round(decimals=1), lib.round(lib.tensor([0.5, 1.5, 2.5, -0.5])),
                                    lib.sigmoid(x).round(), lib.tensor([3, -4]).floor(), lib.sign(lib.tensor([3, 0, -4])))),
    ("sizes", lambda lib, x, b: lib.tensor([float(x.size(1)), float(x.dim()), float(x.numel()), float(len(b)),
                                            float(x.size()[0]), float(b.ndim)], dtype=lib.float64)),
]


def _run(lib, snippet):
    x = lib.tensor(A.copy(), dtype=lib.float64, requires_grad=True)
    b = lib.tensor(B.copy(), dtype=lib.float64, requires_grad=True)
    out = snippet(lib, x, b)
    out = out if isinstance(out, tuple) else (out,)
    loss = None
    for i, o in enumerate(out):
        if o.requires_grad:
            weight = np.random.default_rng(i).standard_normal(tuple(o.shape))
            term = (o * lib.tensor(weight, dtype=o.dtype)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    return out, (x, b)


def _dtype_name(dtype):
    return str(dtype).replace("torch.", "")


@pytest.mark.parametrize("name,snippet", CASES, ids=[c[0] for c in CASES])
def test_same_as_torch(name, snippet):
    torch = pytest.importorskip("torch")
    ours, our_inputs = _run(tg, snippet)
    theirs, their_inputs = _run(torch, snippet)
    assert len(ours) == len(theirs)
    single = any(o.dtype in (np.float32, np.float16) for o in ours)   # float32 sums may round differently
    tol = 1e-5 if single else 1e-10
    for k, (o, t) in enumerate(zip(ours, theirs)):
        assert tuple(o.shape) == tuple(t.shape), f"output {k}: shape"
        assert _dtype_name(o.dtype) == _dtype_name(t.dtype), f"output {k}: dtype"
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=tol, atol=tol * 1e-2, err_msg=f"output {k}")
        assert o.requires_grad == t.requires_grad, f"output {k}: requires_grad"
    for m, r in zip(our_inputs, their_inputs):
        want = np.zeros(tuple(r.shape)) if r.grad is None else r.grad.numpy()
        got = np.zeros(m.shape) if m.grad is None else m.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 1e-2, err_msg="gradient")


# ---- gradchecks of the new differentiable ops ---------------------------------------------
def _leaf(a):
    return tg.tensor(a, dtype=tg.float64, requires_grad=True)


@settings(max_examples=30, deadline=None)
@given(arrays(shapes(min_dims=1, max_dims=3)), st.data())
def test_cumsum_gradcheck(a, data):
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    gradcheck(lambda x: x.cumsum(dim), _leaf(a))


@settings(max_examples=30, deadline=None)
@given(arrays(shapes(min_dims=1, max_dims=3)), st.data())
def test_setitem_gradcheck(a, data):
    """x[index] = v: gradient to v from the written places, to x from the others."""
    row = data.draw(st.integers(0, a.shape[0] - 1))
    value = data.draw(arrays(st.sampled_from([a.shape[1:], (1,) * (a.ndim - 1)])))

    def f(x, v):
        y = x * 1.0
        y[row] = v
        return y * y
    gradcheck(f, _leaf(a), _leaf(value))


@settings(max_examples=30, deadline=None)
@given(arrays(shapes(min_dims=1, max_dims=3)), st.data())
def test_masked_fill_and_clone_gradcheck(a, data):
    mask = data.draw(st.lists(st.booleans(), min_size=a.size, max_size=a.size))
    mask = tg.tensor(np.array(mask).reshape(a.shape))
    gradcheck(lambda x: x.clone().masked_fill(mask, 2.0) * x, _leaf(a))


@settings(max_examples=30, deadline=None)
@given(distinct_arrays(shapes(min_dims=1, max_dims=3)), st.data())
def test_topk_sort_and_max_values_gradcheck(a, data):
    dim = data.draw(st.integers(0, a.ndim - 1))
    k = data.draw(st.integers(1, a.shape[dim]))
    gradcheck(lambda x: (x.topk(k, dim).values, x.sort(dim, descending=True).values, x.max(dim).values,
                         x.min(dim, keepdim=True).values), _leaf(a))


@settings(max_examples=30, deadline=None)
@given(distinct_arrays(shapes(min_dims=2, max_dims=3, min_side=2)), st.data())
def test_shape_methods_gradcheck(a, data):
    reps = data.draw(st.lists(st.integers(1, 3), min_size=a.ndim, max_size=a.ndim + 1))
    gradcheck(lambda x: (x.repeat(*reps), x.narrow(1, 0, 1), x.flatten(1), x.unbind(0)[0], x.std(1), x.norm(),
                         x.norm(dim=1), x.norm(1), x.t() if x.ndim == 2 else x.mT), _leaf(a))


@settings(max_examples=30, deadline=None)
@given(arrays(shapes(min_dims=1, max_dims=3)), arrays(shapes(min_dims=0, max_dims=0)))
def test_inplace_ops_gradcheck(a, s):
    """A chain of in-place ops, with an earlier user of each old version (routing by epoch)."""
    def f(x, c):
        y = x * 1.0
        first = y.tanh()
        y.add_(c, alpha=0.5)
        second = y * y
        y.mul_(c)
        y.sub_(x)
        chained = (x * 1.0).sigmoid_().log_().tanh_()   # torch refuses this chain; here each step keeps its input
        return first + second + y + chained
    gradcheck(f, _leaf(a), _leaf(s))


@settings(max_examples=30, deadline=None)
@given(arrays(shapes(min_dims=2, max_dims=3)), st.integers(-2, 2))
def test_sin_cos_tril_triu_gradcheck(a, diagonal):
    gradcheck(lambda x: (x.sin(), x.cos(), x.tril(diagonal), x.triu(diagonal)), _leaf(a))


@settings(max_examples=30, deadline=None)
@given(arrays(shapes(min_dims=1, max_dims=3)), st.data())
def test_scatter_gradcheck(a, data):
    """Distinct positions for scatter (duplicates are undefined in torch), any for scatter_add."""
    dim = data.draw(st.integers(0, a.ndim - 1))
    n = a.shape[dim]
    rows = data.draw(st.integers(1, n))
    shape = a.shape[:dim] + (rows,) + a.shape[dim + 1:]
    perm = np.argsort(data.draw(arrays(st.just(shape))), axis=dim)[(slice(None),) * dim + (slice(0, rows),)]
    index = tg.tensor(np.take_along_axis(np.broadcast_to(np.arange(n).reshape((-1,) + (1,) * (a.ndim - dim - 1)),
                                                         a.shape), perm, axis=dim))
    dup = tg.tensor(data.draw(st.lists(st.integers(0, n - 1), min_size=int(np.prod(shape)),
                                       max_size=int(np.prod(shape)))), dtype=tg.int64).reshape(shape)
    src = data.draw(arrays(st.just(a.shape)))
    gradcheck(lambda x, s: (x.scatter(dim, index, s), x.scatter_add(dim, dup, s)), _leaf(a), _leaf(src))


# ---- in-place and assignment rules ---------------------------------------------------------
def test_inplace_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    w = tg.ones(3, requires_grad=True)
    for op in (lambda: w.add_(1.0), lambda: w.__setitem__(0, 2.0), lambda: w.zero_(), lambda: w.uniform_()):
        with pytest.raises(RuntimeError, match="leaf"):
            op()
    with tg.no_grad():
        w.add_(tg.ones(3), alpha=-0.5)
        w[0] = 5.0
    assert w.tolist() == [5.0, 0.5, 0.5] and w.is_leaf and w.requires_grad


def test_inplace_refuses_a_result_that_cannot_be_cast_back():
    x = tg.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x.add_(0.5)
    x.add_(2)
    x[1] = 7
    assert x.tolist() == [3, 7, 5] and x.dtype == tg.int64


def test_optimizer_style_updates_write_into_the_same_memory():
    p = tg.nn.Parameter(tg.ones(2, 2))
    view = p.numpy()
    (p * 3).sum().backward()
    with tg.no_grad():
        p.add_(p.grad, alpha=-0.1)
    p.data -= 0.1 * p.grad.data
    np.testing.assert_allclose(view, np.full((2, 2), 0.4), rtol=1e-6)
    with tg.no_grad():
        p.copy_(tg.zeros(2, 2))
        p.uniform_(-0.1, 0.1)
    assert np.abs(view).max() <= 0.1 and p.grad is not None


def test_writes_under_no_grad_keep_arrays_saved_by_the_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = (y * y).sum()
    with tg.no_grad():
        y.fill_(100.0)
    z.backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_detach_and_requires_grad_():
    x = tg.ones(2, requires_grad=True)
    y = (x * 2).detach_()
    assert y.is_leaf and not y.requires_grad
    z = tg.zeros(2).requires_grad_()
    assert z.requires_grad


@pytest.mark.parametrize("call,error", [
    (lambda x: x.topk(5), RuntimeError),
    (lambda x: x.narrow(1, 3, 2), IndexError),
    (lambda x: x.flatten(1, 0), RuntimeError),
    (lambda x: x.t().t().view(5), ValueError),
    (lambda x: x.masked_fill(tg.ones(3, 4), 0.0), TypeError),
    (lambda x: x.sum(dim=0, axis=0), TypeError),
    (lambda x: x.var(1, unbiased=True, correction=0), TypeError),
    (lambda x: x.repeat(2), RuntimeError),
    (lambda x: tg.zeros(0).argmax(), RuntimeError),
    (lambda x: x.view(tg.float32), TypeError),
    (lambda x: x + [1, 2], TypeError),
])
def test_bad_arguments_raise_clear_errors(call, error):
    with pytest.raises(error):
        call(tg.tensor(A))


def test_item_tolist_len_size_is_cuda_device():
    x = tg.tensor(A)
    assert x.size(1) == 4 and x.size() == (3, 4) and len(x) == 3 and x.dim() == 2 and x.numel() == 12
    assert x[0, 0].item() == A[0, 0] and x.tolist() == A.tolist()
    assert not x.is_cuda and x.device == tg.device("cpu") and x.device == "cpu" and str(x.device) == "cpu"
    assert x.type() == "tinygrad_rnn.DoubleTensor" and x.float().type() == "tinygrad_rnn.FloatTensor"


def test_to_accepts_devices_dtypes_and_tensors():
    x = tg.tensor(A)
    assert x.to(tg.float32).dtype == tg.float32
    assert x.to("cpu", tg.float32).dtype == tg.float32
    assert x.to(tg.device("cpu")) is x
    assert x.to(tg.zeros(1, dtype=tg.int64)).dtype == tg.int64
    assert x.to(dtype=tg.float64, copy=True) is not x


def test_comparisons_logic_and_integer_division_as_torch():
    torch = pytest.importorskip("torch")
    snippet = lambda lib, x: (x.eq(x * 0 + 1), x.gt(0), x.ne(1), x.le(1), x.lt(2), x.ge(0), (x > 0) & (x < 2),
                              (x > 0) | (x < -1), ~(x > 0), (x > 0) ^ (x > 1), x // 2, x % 2, 7 // (x + 3),
                              (x > 0).any(), (x > -5).all(), (x > 0).any(1), x.gt(0).sum(), (x > 0).all(0, True),
                              lib.isnan(special(lib)), special(lib).isinf(), lib.isfinite(special(lib)),
                              lib.stack(list(x)), x.logical_and(x - 1), x.logical_or(x * 0), x.logical_not(),
                              x.bitwise_and(6), (x > 1).bitwise_not(), x.nonzero(), lib.argwhere(x > 1),
                              *x.nonzero(as_tuple=True))
    special = lambda lib: lib.tensor([1.0, float("inf"), float("nan"), -float("inf")])
    x = np.array([[0, 1, 2], [3, -1, 5]])
    for ours, theirs in zip(snippet(tg, tg.tensor(x)), snippet(torch, torch.tensor(x))):
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert tg.tensor([1, 2]).equal(tg.tensor([1, 2])) and not tg.tensor([1, 2]).equal(tg.tensor([1]))
    assert [10, 20, 30][tg.tensor(2)] == 30
    one_hot = tg.zeros(3, 1, 5)
    one_hot[1][0][2] = 1.0                    # chained indexing writes through views, as in torch
    assert one_hot.nonzero().tolist() == [[1, 0, 2]]
    with pytest.raises(TypeError):
        len(tg.tensor(1.0))
    with pytest.raises(TypeError):
        iter(tg.tensor(1.0))


def _data_idioms(lib):
    lib.manual_seed(0)
    w = lib.tensor(A.copy(), dtype=lib.float64, requires_grad=True)
    (w * w).sum().backward()
    w.data.add_(w.grad, alpha=-0.1)                    # SGD written by hand, as torch examples do
    w.data.mul_(2.0).sub_(w.grad.data, alpha=0.5)
    w.data -= 0.01 * w.grad.data
    w.grad.data.zero_()
    before = w.data.clone()
    b = lib.zeros(3, dtype=lib.float64, requires_grad=True)
    b.data.copy_(lib.tensor([1.0, 2.0, 3.0]))
    b.data.fill_(b.data[1].item())
    b.data.clamp_(max=1.5)
    loss = (w.sum() + b.sum())
    return (w.detach().numpy().copy(), w.grad.detach().numpy().copy(), before.numpy(), b.detach().numpy().copy(),
            np.array(loss.data.item()), np.array(w.grad.data.norm(2).item()), np.array(w.data.dim()), np.array(w.data.numel()),
            np.array(w.data.cpu().numpy().shape), np.array(w.is_leaf and w.requires_grad))


def _data_reads(lib):
    """What programs read through ``.data``: torch's answers, though NumPy has the same names."""
    x = lib.tensor(A.copy(), dtype=lib.float64, requires_grad=True)
    y = x * 2
    top_values, top_indices = y.data.topk(1)
    return (top_values, top_indices, y.data.max(1)[1], y.data.max(dim=0)[0], y.data.min(1).indices, y.data.max(),
            y.data.view(-1), y.data.view(4, 3), y.data.std(), y.data.var(1), y.data.float(), y.data.eq(y.data).sum(),
            y.data.argmax(1), lib.tensor([y.data.size(0), y.data.size(-1), *y.data.size(), y.data.numel()]))


def test_data_reads_give_torchs_results():
    """``out.data.topk(1)``, ``out.data.max(1)[1]`` (NumPy's max(1)[1] would be row 1's maximum,
    a silent wrong answer), ``view(-1)`` and ``std()`` (NumPy divides by n) as torch does."""
    torch = pytest.importorskip("torch")
    for k, (ours, theirs) in enumerate(zip(_data_reads(tg), _data_reads(torch), strict=True)):
        assert tuple(ours.shape) == tuple(theirs.shape), k
        assert _dtype_name(ours.dtype) == _dtype_name(theirs.dtype), k
        np.testing.assert_allclose(np.asarray(ours.numpy()), theirs.numpy(), rtol=1e-12, err_msg=str(k))
    data = tg.tensor(A.copy()).data
    assert np.max(data) == A.max() and np.std(data, ddof=0) == pytest.approx(A.std())   # NumPy callers
    assert data.max(axis=1).shape == (3,) and data.view(np.ndarray).shape == (3, 4)
    assert data.size == 12 and np.zeros(data.size).shape == (12,)     # NumPy's count as well
    computed = np.exp(data - 1).astype(np.float64)       # NumPy code computing from .data gets plain arrays
    assert type(computed) is np.ndarray and type(data.astype(np.float32)) is np.ndarray
    assert np.isclose(computed.max(), np.exp(A.max() - 1)) and type(data * data) is np.ndarray
    writes = tg.zeros(2, 3)
    writes.data.view(-1)[4] = 7.0                       # a view of .data writes into the tensor
    assert writes[1, 1].item() == 7.0


def test_data_gives_torchs_in_place_idioms():
    """``.data`` writes into the tensor outside autograd: hand-written SGD and weight copies."""
    torch = pytest.importorskip("torch")
    for ours, theirs in zip(_data_idioms(tg), _data_idioms(torch)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    p = tg.nn.Parameter(tg.ones(2))
    assert p.data is p.data and isinstance(p.data, np.ndarray)
    p.data.uniform_(-0.1, 0.1)
    assert np.abs(p.numpy()).max() <= 0.1
    p.data.normal_(5.0, 1e-6)
    np.testing.assert_allclose(p.numpy(), 5.0, rtol=1e-4)
    p.data = np.zeros(2, dtype=np.float32)
    assert type(p._data) is np.ndarray and p.tolist() == [0.0, 0.0]
