"""Engine properties of autograd: accumulation, graph shapes (diamonds, long chains, several
outputs), no_grad/detach, retain_grad and hooks, freeing the graph, dtypes, and the Tensor API
that surrounds it (conversions, comparisons, creation functions)."""
import gc

import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.testing.strategies import arrays, broadcastable_shapes, shapes


def given(*args, **kwargs):
    """``hypothesis.given`` that accepts the function-scoped ``device`` fixture (a plain string)."""
    suppressed = [*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
    return lambda test: settings(suppress_health_check=suppressed)(hypothesis.given(*args, **kwargs)(test))


def leaf(array, device):
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=True, device=device)


def grad_of(fn, array, device, upstream=None):
    """d <fn(x), upstream> / dx as a NumPy array (upstream defaults to ones)."""
    x = leaf(array, device)
    y = fn(x)
    y.backward(tg.Tensor(np.ones(y.shape) if upstream is None else upstream, device=device))
    return x.grad.numpy()


UNARY = {"tanh": lambda x: x.tanh(), "square": lambda x: x * x, "exp": lambda x: x.exp(),
         "sigmoid": lambda x: x.sigmoid(), "cube": lambda x: x ** 3, "affine": lambda x: 3 - 2 * x,
         "sum_bcast": lambda x: x.sum() * x, "softmax": lambda x: x.softmax(-1) if x.ndim else x * 1}


# ---------------------------------------------------------------- accumulation


@given(arrays(shapes(max_dims=3, max_side=3)), st.sampled_from(sorted(UNARY)), st.sampled_from(sorted(UNARY)))
def test_gradient_of_a_sum_is_the_sum_of_gradients(device, a, f, g):
    v = np.random.default_rng(0).standard_normal(a.shape)
    together = grad_of(lambda x: UNARY[f](x) + UNARY[g](x), a, device, v)
    apart = grad_of(UNARY[f], a, device, v) + grad_of(UNARY[g], a, device, v)
    np.testing.assert_allclose(together, apart, rtol=1e-12, atol=1e-12)


@given(arrays(shapes(max_dims=3, max_side=3)), st.integers(1, 6))
def test_a_tensor_used_k_times_accumulates_k_gradients(device, a, k):
    np.testing.assert_allclose(grad_of(lambda x: sum([x] * (k - 1), x), a, device), np.full(a.shape, float(k)))
    np.testing.assert_allclose(grad_of(lambda x: x * x * x, a, device), 3 * a * a, rtol=1e-12, atol=1e-300)


def test_grads_accumulate_across_backward_calls_until_zeroed(device):
    x = leaf([1.0, 2.0], device)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    x.zero_grad()
    assert x.grad is None


@given(broadcastable_shapes(2, max_dims=3, max_side=3))
def test_broadcasting_then_reducing_counts_each_use(device, pair):
    small, other = pair
    target = np.broadcast_shapes(small, other)
    copies = int(np.prod(target)) // int(np.prod(small))
    a = np.random.default_rng(1).standard_normal(small)
    np.testing.assert_allclose(grad_of(lambda x: (x + np.zeros(other)).sum(), a, device), np.full(small, float(copies)))
    np.testing.assert_allclose(grad_of(lambda x: x.expand(target).mean(), a, device),
                               np.full(small, copies / max(int(np.prod(target)), 1)))


def np_unbroadcast(g, shape):
    """Sum g down to shape: what every broadcast's backward must do."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


@given(broadcastable_shapes(2, max_dims=3, max_side=3))
def test_both_sides_of_a_broadcast_product_get_gradients_of_their_own_shape(device, pair):
    rng = np.random.default_rng(2)
    a, b = leaf(rng.standard_normal(pair[0]), device), leaf(rng.standard_normal(pair[1]), device)
    (a * b).sum().backward()
    full = np.broadcast_shapes(a.shape, b.shape)
    np.testing.assert_allclose(a.grad.numpy(), np_unbroadcast(np.broadcast_to(b.numpy(), full), a.shape), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), np_unbroadcast(np.broadcast_to(a.numpy(), full), b.shape), rtol=1e-12)


def test_diamond_graph(device):
    # a -> b = 2a, c = a^2 -> d = b * c + b: every path back to a is counted once
    a = leaf([1.5, -2.0], device)
    b, c = a * 2, a * a
    (b * c + b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 6 * a.numpy() ** 2 + 2)


def test_nested_diamonds_share_intermediates(device):
    x = leaf([0.3, -0.7, 1.1], device)
    h = x.tanh()
    u, v = h * h, h.exp()
    w = u * v + u - v
    (w * w).sum().backward()
    t = np.tanh(x.numpy())
    dw_dh = (2 * t * np.exp(t) + t * t * np.exp(t)) + 2 * t - np.exp(t)
    want = 2 * (t * t * np.exp(t) + t * t - np.exp(t)) * dw_dh * (1 - t * t)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)


# ---------------------------------------------------------------- no_grad, detach


def test_no_grad_builds_no_graph(device):
    x = leaf([1.0, 2.0], device)
    with tg.no_grad():
        y = (x * 2).tanh().sum()
        assert not tg.is_grad_enabled()
        with tg.enable_grad():
            z = x * 2
    assert tg.is_grad_enabled()
    assert y.creator is None and not y.requires_grad
    assert z.creator is not None and z.requires_grad


def test_no_grad_as_a_decorator(device):
    @tg.no_grad()
    def step(t):
        return t * 3

    out = step(leaf([1.0], device))
    assert out.creator is None and not out.requires_grad
    assert tg.is_grad_enabled()


def test_no_grad_is_restored_after_an_exception(device):
    with pytest.raises(ZeroDivisionError), tg.no_grad():
        1 / 0
    assert tg.is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_data(device):
    x = leaf([1.0, 2.0], device)
    d = (x * 3).detach()
    assert d.creator is None and not d.requires_grad
    (x * d).sum().backward()            # d is a constant: dx = d
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])
    y = x * 1
    assert y.detach()._data is y._data


def test_tensors_without_requires_grad_get_no_grad(device):
    x, c = leaf([1.0, 2.0], device), tg.Tensor(np.array([3.0, 4.0]), device=device)
    (x * c).sum().backward()
    assert c.grad is None and not c.requires_grad


def test_requires_grad_can_only_be_changed_on_leaves(device):
    x = leaf([1.0], device)
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)
    c = tg.Tensor(np.array([1.0]), device=device).requires_grad_()
    assert c.requires_grad and c.is_leaf


# ---------------------------------------------------------------- retain_grad, hooks


def test_retain_grad_on_every_hidden_state_of_an_unrolled_tanh_rnn(device):
    rng = np.random.default_rng(3)
    steps, batch, n_in, n_hidden = 5, 2, 3, 4
    xs = rng.standard_normal((steps, batch, n_in))
    w = leaf(rng.standard_normal((n_hidden, n_in)) * 0.5, device)
    u = leaf(rng.standard_normal((n_hidden, n_hidden)) * 0.5, device)
    cs = rng.standard_normal((steps, batch, n_hidden))     # L = sum_t <h_t, c_t>
    h = tg.zeros(batch, n_hidden, dtype=tg.float64, device=device)
    hs, loss = [], 0
    for t in range(steps):
        h = (tg.Tensor(xs[t], device=device) @ w.T + h @ u.T).tanh()
        hs.append(h.retain_grad())
        loss = loss + (h * tg.Tensor(cs[t], device=device)).sum()
    loss.backward()
    # by hand: dL/dh_t = c_t + (dL/dh_{t+1} * (1 - h_{t+1}^2)) @ U
    values = [h.numpy() for h in hs]
    expected = [None] * steps
    expected[-1] = cs[-1]
    for t in range(steps - 2, -1, -1):
        expected[t] = cs[t] + (expected[t + 1] * (1 - values[t + 1] ** 2)) @ u.numpy()
    for t in range(steps):
        np.testing.assert_allclose(hs[t].grad.numpy(), expected[t], rtol=1e-12, atol=1e-14, err_msg=f"h_{t}")


def test_intermediates_keep_no_grad_unless_retained(device):
    x = leaf([1.0, 2.0], device)
    y = x * 2
    (y * y).sum().backward()
    assert y.grad is None


def test_retain_grad_needs_requires_grad(device):
    with pytest.raises(RuntimeError, match="require"):
        tg.Tensor(np.ones(2), device=device).retain_grad()


def test_hook_on_a_leaf_sees_and_replaces_the_gradient(device):
    x, seen = leaf([1.0, 2.0], device), []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert len(seen) == 2


def test_hook_on_an_intermediate_changes_what_flows_to_the_leaves(device):
    x = leaf([1.0, 2.0], device)
    h = x * x
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = h.register_hook(lambda g: g * 0.5)
    (h * 4 + h).sum().backward()          # h used twice: the hook sees the summed gradient once
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 5.0])
    np.testing.assert_allclose(x.grad.numpy(), 0.5 * 5 * 2 * x.numpy())
    handle.remove()
    handle.remove()                       # removing twice is harmless


def test_retain_grad_stores_the_gradient_after_hooks(device):
    x = leaf([1.0, 2.0], device)
    h = (x * 1).retain_grad()
    h.register_hook(lambda g: g * 2)
    (h * 3).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 6.0])


def test_hook_on_a_leaf_used_twice_runs_once_on_the_total(device):
    x, seen = leaf([1.0, 2.0], device), []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * 2 + x * 3).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 5.0])


def test_retained_grad_accumulates_over_backward_calls(device):
    x = leaf([1.0, 2.0], device)
    h = (x * 1).retain_grad()
    y = (h * 3).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 6.0])
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


# ---------------------------------------------------------------- graph lifetime


def test_a_100000_op_chain_backpropagates_without_recursion(device):
    x = leaf([1.0], device)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.00001 ** 100_000], rtol=1e-9)


def test_a_long_recurrence_with_a_shared_weight(device):
    w, h = leaf([0.5], device), leaf([1.0], device)
    state = h
    for _ in range(20_000):
        state = state * w + 0.5            # fixed point 1; d state/d h = w^n
    state.sum().backward()
    assert np.isfinite(w.grad.numpy()).all()
    np.testing.assert_allclose(h.grad.numpy(), [0.0], atol=1e-300)


def test_second_backward_through_a_freed_graph_raises(device):
    x = leaf([1.0, 2.0], device)
    y = (x.tanh() * 2).sum()
    y.backward()
    grad = x.grad.numpy().copy()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), grad)       # the failed call changed nothing
    assert gc.isenabled()


def test_backward_into_a_freed_subgraph_raises(device):
    x = leaf([1.0, 2.0], device)
    h = x.tanh()
    (h * 2).sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 3).sum().backward()


def test_retain_graph_allows_a_second_backward_that_doubles_the_gradient(device):
    x = leaf([0.5, -1.0], device)
    y = (x.tanh() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-15)


def test_split_with_only_some_outputs_used(device):
    x = leaf(np.arange(6.0), device)
    a, b, c = x.split(2)
    (b * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 3, 3, 0, 0])
    x.grad = None
    a, b, c = x.split([1, 2, 3])
    (a.sum() + (c * c).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 0, 6, 8, 10])


def test_leaf_gradients_do_not_alias(device):
    a, b = leaf([1.0, 2.0], device), leaf([3.0, 4.0], device)
    y = a + b
    upstream = tg.Tensor(np.array([1.0, 1.0]), device=device)
    y.backward(upstream)
    a.grad.data *= 100          # an optimizer might scale .grad in place
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(upstream.numpy(), [1.0, 1.0])


def test_backward_on_a_leaf_accumulates_the_given_gradient(device):
    x = leaf([1.0, 2.0], device)
    x.backward(tg.Tensor(np.array([3.0, 4.0]), device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_backward_of_a_scalar_defaults_to_one(device):
    x = leaf(2.0, device)
    (x * x).backward()
    assert x.grad.item() == 4.0
    y = leaf([[3.0]], device)
    (y * 2).backward()                   # one element, any shape
    assert y.grad.shape == (1, 1) and y.grad.item() == 2.0


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("expression", ["x * 2", "2 - x", "x ** 2", "x / 3", "2 ** x", "x + 0.5", "-x", "x.tanh()",
                                        "x.sum()", "x.mean()", "x.maximum(0)", "x.clip(-1, 1)"])
def test_float32_stays_float32_with_python_scalars(device, expression):
    x = tg.Tensor(np.array([0.5, 1.5], dtype=np.float32), requires_grad=True, device=device)
    y = eval(expression)
    assert y.dtype == np.float32, expression
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_float32_float64_gradients_come_back_in_each_leafs_dtype(device):
    a = tg.Tensor(np.array([1.0], dtype=np.float32), requires_grad=True, device=device)
    b = tg.Tensor(np.array([2.0], dtype=np.float64), requires_grad=True, device=device)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_integer_tensors_index_and_embed(device):
    x = leaf(np.arange(12.0).reshape(4, 3), device)
    idx = tg.Tensor(np.array([3, 0, 3]), device=device)
    assert idx.dtype == np.int64 and not idx.requires_grad
    y = x[idx]
    assert y.shape == (3, 3)
    (y.sum() + F.embedding(idx, x).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 0], [2, 0, 0, 4])
    assert tg.Tensor([1, 2]).dtype == np.int64 and tg.Tensor([1.5]).dtype == np.float32


def test_integer_tensor_times_a_float_is_not_truncated(device):
    y = tg.Tensor(np.array([1, 2]), device=device) * 2.5
    np.testing.assert_array_equal(y.numpy(), [2.5, 5.0])


# ---------------------------------------------------------------- Tensor API


def test_tensor_attributes_and_conversions(device):
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), device=device)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size() == (2, 3) and x.size(1) == 3
    assert x.numel() == 6 and len(x) == 2 and x.device == device and x.dtype == np.float64
    assert isinstance(x.numpy(), np.ndarray) and x.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert x[1, 2].item() == 5.0 and float(x[1, 2]) == 5.0 and int(x[0, 1]) == 1
    assert x.float().dtype == np.float32 and x.float().double().dtype == np.float64
    assert x.long().dtype == np.int64 and x.to(dtype=tg.int32).dtype == np.int32
    assert x.to(device) is x and x.to("cpu").device == "cpu"
    with pytest.raises(ValueError, match="one element"):
        x.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)


def test_to_and_cpu_are_differentiable(device):
    x = leaf([1.0, 2.0], device)
    y = x.to("cpu").float()
    (y * y).sum().backward()
    assert x.grad.device == device and x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_comparisons_are_not_differentiable(device):
    x = leaf([1.0, 2.0, 3.0], device)
    for mask in (x > 1.5, x >= 2, x < 2, x <= 2, x == 2, x != 2, x > x * 0.9):
        assert mask.dtype == np.bool_ and not mask.requires_grad and mask.creator is None
    np.testing.assert_array_equal((x > 1.5).numpy(), [False, True, True])
    assert (x > 0).all() and (x > 2.5).any() and not (x > 5).any()
    assert {x: 1}[x] == 1                  # hashable by identity, although == is elementwise


def test_repr_shows_values_device_and_requires_grad(device):
    text = repr(leaf([1.0], device))
    assert "1." in text and device in text and "requires_grad=True" in text


# ---------------------------------------------------------------- creation


def test_creation_functions(device):
    assert tg.zeros(2, 3, device=device).shape == (2, 3) and tg.zeros((2, 3)).dtype == np.float32
    np.testing.assert_array_equal(tg.ones(2, device=device).numpy(), [1, 1])
    np.testing.assert_array_equal(tg.full((2,), 7.0, device=device).numpy(), [7, 7])
    assert tg.zeros(3, device=device).device == device and tg.full((1,), 1, device=device).device == device
    assert tg.randn(4, 5, device=device).shape == (4, 5) and tg.randn(4).dtype == np.float32
    r = tg.rand(1000, device=device).numpy()
    assert 0 <= r.min() and r.max() < 1 and 0.4 < r.mean() < 0.6
    np.testing.assert_array_equal(tg.arange(4, device=device).numpy(), [0, 1, 2, 3])
    assert tg.arange(4).dtype == np.int64 and tg.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_array_equal(tg.arange(1, 7, 2).numpy(), [1, 3, 5])
    z = tg.zeros(2, requires_grad=True, dtype=tg.float64, device=device)
    assert z.requires_grad and z.is_leaf


def test_like_functions_copy_shape_dtype_and_device(device):
    x = tg.Tensor(np.ones((2, 3)), device=device)
    for make in (tg.zeros_like, tg.ones_like, tg.randn_like, tg.rand_like, lambda t: tg.full_like(t, 3.0)):
        y = make(x)
        assert y.shape == (2, 3) and y.dtype == np.float64 and y.device == device
    assert tg.zeros_like(x, dtype=tg.float32).dtype == np.float32
    np.testing.assert_array_equal(tg.full_like(x, 3.0).numpy(), np.full((2, 3), 3.0))
    assert (tg.ones_like(x).numpy() == 1).all() and (tg.zeros_like(x).numpy() == 0).all()


def test_manual_seed_makes_random_numbers_reproducible(device):
    tg.manual_seed(123)
    a = [tg.randn(3, device=device).numpy(), tg.rand(2, device=device).numpy(), tg.randint(0, 9, (4,)).numpy()]
    tg.manual_seed(123)
    b = [tg.randn(3, device=device).numpy(), tg.rand(2, device=device).numpy(), tg.randint(0, 9, (4,)).numpy()]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(tg.randn(3).numpy(), a[0])


def test_tensor_function_copies_its_input(device):
    source = np.array([1.0, 2.0])
    t = tg.tensor(source, device=device)
    source[0] = 9.0
    assert t.numpy()[0] == 1.0
    assert tg.tensor(t).data is not t.data
