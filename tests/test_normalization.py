"""LayerNorm: the fused op's hand-written backward against finite differences and against the
same normalisation composed from primitives (values and every gradient), the module's checks,
and torch.nn.LayerNorm as an oracle (float64, skipped without torch)."""
import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.ops import normalization as ops
from tinygrad_rnn.testing import gradcheck
from tinygrad_rnn.testing.strategies import arrays

try:
    import torch
except ImportError:
    torch = None


def given(*args, **kwargs):
    """``hypothesis.given`` that accepts the function-scoped ``device`` fixture."""
    suppressed = [*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
    return lambda test: settings(suppress_health_check=suppressed)(hypothesis.given(*args, **kwargs)(test))


@st.composite
def layer_norm_case(draw):
    """(x, weight or None, bias or None, k): x of 1-4 axes, the last k normalised."""
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    k = draw(st.integers(1, ndim))
    hypothesis.assume(np.prod(shape[ndim - k:]) > 1)      # one element: xhat is 0, nothing to test
    x = draw(arrays(shape))
    hypothesis.assume(np.all(x.reshape(shape[:ndim - k] + (-1,)).std(axis=-1) > 0.05))
    affine = draw(st.sampled_from(["both", "weight", "none"]))
    weight = draw(arrays(shape[ndim - k:])) if affine != "none" else None
    bias = draw(arrays(shape[ndim - k:])) if affine == "both" else None
    return x, weight, bias, k


def composite(x, weight, bias, k, eps):
    """The same normalisation from primitives (mean, subtract, square, sqrt, divide)."""
    axes = tuple(range(x.ndim - k, x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    y = centred / ((centred * centred).mean(axis=axes, keepdims=True) + eps).sqrt()
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def tensors(device, *arrays_):
    return [None if a is None else tg.Tensor(a.copy(), requires_grad=True, device=device) for a in arrays_]


@given(layer_norm_case())
def test_layer_norm_gradcheck(device, case):
    x, w, b, k = case
    inputs = [t for t in tensors(device, x, w, b) if t is not None]

    def fn(*ts):
        it = iter(ts)
        xt = next(it)
        wt = next(it) if w is not None else None
        bt = next(it) if b is not None else None
        return ops.LayerNorm.apply(xt, wt, bt, num_axes=k, eps=1e-5)
    gradcheck(fn, *inputs, atol=1e-6, rtol=1e-4)


@given(layer_norm_case(), st.sampled_from([1e-5, 1e-2]))
def test_fused_equals_composite(device, case, eps):
    x, w, b, k = case
    fused_in, comp_in = tensors(device, x, w, b), tensors(device, x, w, b)
    fused = ops.LayerNorm.apply(*fused_in, num_axes=k, eps=eps)
    comp = composite(*comp_in, k, eps)
    np.testing.assert_allclose(fused.numpy(), comp.numpy(), rtol=1e-12, atol=1e-12)
    upstream = np.random.default_rng(1).standard_normal(x.shape)
    fused.backward(tg.Tensor(upstream, device=device))
    comp.backward(tg.Tensor(upstream, device=device))
    for f, c in zip(fused_in, comp_in):
        if f is not None:
            np.testing.assert_allclose(f.grad.numpy(), c.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_module_parameters_and_errors():
    ln = nn.LayerNorm((3, 4), eps=1e-6)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    assert ln.weight.shape == (3, 4) and ln.weight.dtype == np.float32
    assert list(nn.LayerNorm(5, bias=False).state_dict()) == ["weight"]
    assert list(nn.LayerNorm(5, elementwise_affine=False).parameters()) == []
    assert nn.LayerNorm(5, dtype=tg.float64).weight.dtype == np.float64
    y = ln(tg.randn(2, 3, 4))
    np.testing.assert_allclose(y.numpy().reshape(2, -1).mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(y.numpy().reshape(2, -1).var(axis=1), 1, atol=1e-4)
    with pytest.raises(ValueError, match="does not end with normalized_shape"):
        ln(tg.randn(2, 4, 3))
    with pytest.raises(ValueError, match="positive sizes"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(3, eps=0)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@given(layer_norm_case(), st.booleans())
def test_layer_norm_matches_torch(device, case, use_bias):
    x, _, _, k = case
    shape = x.shape[x.ndim - k:]
    ours = nn.LayerNorm(shape, eps=1e-5, bias=use_bias, dtype=tg.float64)
    ref = torch.nn.LayerNorm(shape, eps=1e-5, bias=use_bias, dtype=torch.float64)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64))
    ours.load_state_dict(ref.state_dict())
    ours.to(device)
    xt, xr = tg.Tensor(x.copy(), requires_grad=True, device=device), torch.tensor(x, requires_grad=True)
    y, yr = ours(xt), ref(xr)
    np.testing.assert_allclose(y.numpy(), yr.detach().numpy(), rtol=1e-10, atol=1e-10)
    upstream = np.random.default_rng(0).standard_normal(x.shape)
    y.backward(tg.Tensor(upstream, device=device))
    yr.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-9, atol=1e-10)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad.numpy(), p.grad.numpy(), rtol=1e-9, atol=1e-10)
