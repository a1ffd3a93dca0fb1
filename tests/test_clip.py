"""Tests for tinygrad_rnn.nn.utils: clip_grad_norm_ / clip_grad_value_ as properties over random
gradients, against torch.nn.utils as an oracle, and the error that names a non-finite gradient."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn.utils import clip_grad_norm_, clip_grad_value_

NORM_TYPES = [1.0, 2.0, math.inf, 3.0]


def params_with_grads(arrays, device="cpu"):
    """Parameters whose .grad holds a copy of each array."""
    params = []
    for a in arrays:
        p = nn.Parameter(tg.tensor(np.zeros_like(a), device=device))
        p.grad = tg.tensor(a.copy(), device=device)
        params.append(p)
    return params


def reference_norm(arrays, norm_type):
    flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    return np.abs(flat).max(initial=0.0) if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)


grad_lists = st.lists(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                                 elements=st.floats(-100, 100)), min_size=1, max_size=4)


@settings(max_examples=max(3, settings.default.max_examples * 12 // 5))
@given(arrays=grad_lists, max_norm=st.floats(1e-3, 500), norm_type=st.sampled_from(NORM_TYPES))
def test_clip_grad_norm_properties(arrays, max_norm, norm_type):
    params = params_with_grads(arrays)
    before = reference_norm(arrays, norm_type)
    total = clip_grad_norm_(params, max_norm, norm_type)
    after_arrays = [p.grad.numpy() for p in params]
    after = reference_norm(after_arrays, norm_type)

    assert isinstance(total, tg.Tensor) and total.shape == ()
    assert float(total) == pytest.approx(before, rel=1e-12, abs=1e-300)      # the pre-clip norm
    assert after <= before * (1 + 1e-12)                                      # never raises it
    assert after <= max_norm * (1 + 1e-6)
    old, new = np.concatenate([a.ravel() for a in arrays]), np.concatenate([a.ravel() for a in after_arrays])
    if np.linalg.norm(old) > 0:                                               # same direction
        cosine = old @ new / (np.linalg.norm(old) * np.linalg.norm(new))
        assert cosine == pytest.approx(1.0, abs=1e-12)
    if before <= max_norm - 1e-5:                                             # only clipped if needed
        for a, b in zip(arrays, after_arrays):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (3,), (2, 2, 5)]]
    ours = params_with_grads(arrays, device)
    theirs = [torch.zeros(a.shape, requires_grad=True) for a in arrays]
    for t, a in zip(theirs, arrays):
        t.grad = torch.tensor(a)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.dtype == np.float32 and total.device == device
    np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-6)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clips_in_place_and_skips_params_without_grad(device):
    model = nn.Linear(3, 2).to(device)
    model.weight.grad = tg.full((2, 3), 10.0, device=device)   # bias has no grad
    array = model.weight.grad.data
    total = clip_grad_norm_(model.parameters(), 1.0)
    assert float(total) == pytest.approx(math.sqrt(6) * 10, rel=1e-6)
    assert model.weight.grad.data is array and model.bias.grad is None
    assert np.linalg.norm(model.weight.grad.numpy()) == pytest.approx(1.0, rel=1e-5)


def test_accepts_a_single_tensor_a_module_and_named_pairs():
    for make in (lambda m: m.weight, lambda m: m, lambda m: m.named_parameters(), lambda m: iter(m.parameters())):
        model = nn.Linear(2, 2)
        model.weight.grad = tg.full((2, 2), 3.0)
        assert float(clip_grad_norm_(make(model), 1.0)) == pytest.approx(6.0)
        assert np.linalg.norm(model.weight.grad.numpy()) == pytest.approx(1.0, rel=1e-5)


def test_no_gradients_gives_zero():
    assert float(clip_grad_norm_(nn.Linear(2, 2).parameters(), 1.0)) == 0.0
    with pytest.raises(ValueError):
        clip_grad_norm_(nn.Linear(2, 2).parameters(), 1.0, norm_type=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_error_names_the_parameter(bad, device):
    model = nn.ModuleList([nn.Linear(2, 3), nn.Linear(3, 1)]).to(device)
    for p in model.parameters():
        p.grad = tg.ones_like(p)
    grad = np.ones((1, 3), dtype=np.float32)
    grad[0, 1] = bad
    model[1].weight.grad = tg.tensor(grad, device=device)
    with pytest.raises(RuntimeError, match=r"non-finite gradient norm in: '1\.weight'") as info:
        clip_grad_norm_(model.named_parameters(), 1.0, error_if_nonfinite=True)
    assert "0.weight" not in str(info.value) and "1.bias" not in str(info.value)
    with pytest.raises(RuntimeError, match=r"parameter 2 of shape \(1, 3\)"):
        clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(model[0].weight.grad.numpy(), 1.0)      # nothing was changed


def test_nonfinite_without_error_behaves_like_torch():
    torch = pytest.importorskip("torch")
    for bad in (np.nan, np.inf):
        arrays = [np.array([1.0, bad, -2.0], dtype=np.float32), np.array([3.0], dtype=np.float32)]
        ours = params_with_grads(arrays)
        theirs = [torch.zeros(a.shape, requires_grad=True) for a in arrays]
        for t, a in zip(theirs, arrays):
            t.grad = torch.tensor(a)
        total = clip_grad_norm_(ours, 1.0)
        expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        np.testing.assert_array_equal(total.numpy(), expected.numpy())
        for p, t in zip(ours, theirs):
            np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


@settings(max_examples=max(3, settings.default.max_examples * 8 // 5))
@given(arrays=grad_lists, clip=st.floats(1e-3, 50))
def test_clip_grad_value_bounds(arrays, clip):
    params = params_with_grads(arrays)
    assert clip_grad_value_(params, clip) is None
    for a, p in zip(arrays, params):
        g = p.grad.numpy()
        assert np.all(np.abs(g) <= clip)
        inside = np.abs(a) <= clip
        np.testing.assert_array_equal(g[inside], a[inside])
        np.testing.assert_array_equal(g[~inside], np.sign(a[~inside]) * clip)


def test_clip_grad_value_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32) * 3
    (p,) = params_with_grads([a], device)
    t = torch.zeros(5, 4, requires_grad=True)
    t.grad = torch.tensor(a)
    clip_grad_value_([p], 1.5)
    torch.nn.utils.clip_grad_value_([t], 1.5)
    np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())
