"""Tests for tinygrad_rnn.nn.modules.skip: gradchecks of every skip module around a small stand-in
sequence layer, the exact equations, when projections appear, and variational dropout masks."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn.modules.skip import (DenseStack, Highway, HighwayStack, Residual, ResidualStack, VariationalDropout,
                                  sequence_sizes)
from tinygrad_rnn.testing import gradcheck


class TinyRNN(nn.Module):
    """Stand-in sequence layer: h_t = tanh(W x_t + b + U h_{t-1}); out = (h_1..h_T), state h_T."""

    def __init__(self, input_size, hidden_size, batch_first=False):
        super().__init__()
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x, hx=None, lengths=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        h = tg.zeros(x.shape[1], self.hidden_size, dtype=x.dtype, device=x.device) if hx is None else hx
        outs = []
        for t in range(x.shape[0]):
            h = (self.ih(x[t]) + self.hh(h)).tanh()
            outs.append(h)
        out = tg.stack(outs, axis=0)
        return (out.transpose(0, 1) if self.batch_first else out), h


def seq(T, B, F, device="cpu", seed=0):
    data = np.random.default_rng(seed).standard_normal((T, B, F))
    return tg.tensor(data, device=device, requires_grad=True)


def check(module, x, **kwargs):
    """gradcheck of module(x)[0] with respect to x and every parameter, in float64."""
    module.double()
    params = module.parameters()
    gradcheck(lambda x, *ps: module(x, **kwargs)[0], x, *params)


dims = st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 3), st.integers(1, 3))


# ---- Residual ----------------------------------------------------------------------------
def test_residual_with_equal_sizes_is_layer_plus_input_exactly():
    layer = TinyRNN(4, 4)
    block = Residual(layer)
    x = seq(5, 2, 4).float()
    out, state = block(x)
    expected_out, expected_state = layer(x)
    np.testing.assert_array_equal(out.numpy(), (expected_out + x).numpy())
    np.testing.assert_array_equal(state.numpy(), expected_state.numpy())
    assert block.proj is None and [n for n, _ in block.named_parameters()] == ["layer.ih.weight", "layer.ih.bias",
                                                                           "layer.hh.weight"]


def test_projection_appears_only_when_sizes_differ():
    block = Residual(TinyRNN(3, 5))
    assert block.proj is not None and block.proj.weight.shape == (5, 3) and block.proj.bias is None
    assert "proj.weight" in dict(block.named_parameters())
    x = seq(4, 2, 3).float()
    out, _ = block(x)
    np.testing.assert_allclose(out.numpy(), (block.layer(x)[0] + x @ block.proj.weight.T).numpy(), rtol=1e-6)
    assert Residual(TinyRNN(5, 5)).proj is None


@settings(max_examples=max(3, settings.default.max_examples * 8 // 25))
@given(dims=dims)
def test_residual_gradcheck(dims):
    T, B, I, H = dims
    check(Residual(TinyRNN(I, H)), seq(T, B, I))


def test_residual_with_library_rnns():
    """nn.LSTM / nn.GRU are sequence layers: the sizes come from hidden_size, proj_size, bidirectional."""
    lstm = nn.LSTM(3, 5, bidirectional=True, batch_first=True)
    block = Residual(lstm)
    assert (block.input_size, block.output_size, block.batch_first) == (3, 10, True)
    x = tg.randn(2, 4, 3)
    out, (h, c) = block(x, lengths=[4, 2])
    assert out.shape == (2, 4, 10) and h.shape == (2, 2, 5)
    gru = nn.GRU(6, 6)
    out, h = Residual(gru)(tg.randn(3, 2, 6))
    assert out.shape == (3, 2, 6) and Residual(gru).proj is None
    assert sequence_sizes(nn.LSTM(4, 8, proj_size=3)) == (4, 3)


def test_sizes_must_be_known():
    class Opaque(nn.Module):
        def forward(self, x, hx=None, lengths=None):
            return x, None

    with pytest.raises(ValueError, match="input_size= and output_size="):
        Residual(Opaque())
    x = tg.randn(2, 1, 3)
    out, _ = Residual(Opaque(), input_size=3, output_size=3)(x)
    np.testing.assert_array_equal(out.numpy(), 2 * x.numpy())


# ---- Highway -----------------------------------------------------------------------------
@settings(max_examples=max(3, settings.default.max_examples * 8 // 25))
@given(dims=dims)
def test_highway_gradcheck(dims):
    T, B, size, _ = dims
    check(Highway(TinyRNN(size, size)), seq(T, B, size))


def test_highway_equation_and_gate_bias():
    block = Highway(TinyRNN(4, 4))
    np.testing.assert_array_equal(block.gate.bias.numpy(), -1.0)     # starts favouring carry
    x = seq(3, 2, 4).float()
    out, _ = block(x)
    t = block.gate(x).sigmoid()
    np.testing.assert_allclose(out.numpy(), (t * block.layer(x)[0] + (1 - t) * x).numpy(), rtol=1e-6)
    nn.init.zeros_(block.gate.weight)
    nn.init.constant_(block.gate.bias, -60.0)                        # t = 0: pure carry
    np.testing.assert_allclose(block(x)[0].numpy(), x.numpy(), atol=1e-6)
    nn.init.constant_(block.gate.bias, 60.0)                         # t = 1: pure transform
    np.testing.assert_allclose(block(x)[0].numpy(), block.layer(x)[0].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="keeps the size"):
        Highway(TinyRNN(3, 4))


# ---- stacks ------------------------------------------------------------------------------
@settings(max_examples=max(3, settings.default.max_examples * 6 // 25))
@given(dims=dims)
def test_residual_stack_gradcheck(dims):
    T, B, I, H = dims
    check(ResidualStack([TinyRNN(I, H), TinyRNN(H, H), TinyRNN(H, I)]), seq(T, B, I))


def test_residual_stack_equals_nested_residuals():
    layers = [TinyRNN(3, 4), TinyRNN(4, 4)]
    stack = ResidualStack(layers)
    x = seq(4, 2, 3).float()
    out, states = stack(x)
    first, h0 = stack.layers[0](x)
    second, h1 = stack.layers[1](first)
    np.testing.assert_array_equal(out.numpy(), second.numpy())
    assert len(states) == 2 and np.array_equal(states[1].numpy(), h1.numpy())
    assert stack.layers[0].proj is not None and stack.layers[1].proj is None
    assert (stack.input_size, stack.output_size) == (3, 4)
    hx = [tg.randn(2, 4), tg.randn(2, 4)]
    out_hx, _ = stack(x, hx)
    assert not np.allclose(out_hx.numpy(), out.numpy())
    with pytest.raises(ValueError, match="2 layers"):
        stack(x, hx[:1])


def test_stack_dropout_is_on_the_layer_path_between_layers():
    stack = ResidualStack([TinyRNN(3, 3), TinyRNN(3, 3)], dropout=0.5)
    x = seq(4, 2, 3).float()
    stack.eval()
    eval_out, _ = stack(x)
    np.testing.assert_array_equal(eval_out.numpy(), stack(x)[0].numpy())
    stack.train()
    tg.manual_seed(3)
    train_out, _ = stack(x)
    tg.manual_seed(3)
    mask_x = stack.dropout(stack.layers[0](x)[0])                     # same draw as inside the stack
    first = stack.layers[0](x)[0]
    expected = stack.layers[1].layer(mask_x)[0] + first
    np.testing.assert_allclose(train_out.numpy(), expected.numpy(), rtol=1e-6)


@settings(max_examples=max(3, settings.default.max_examples * 6 // 25))
@given(dims=dims)
def test_highway_stack_gradcheck(dims):
    T, B, size, _ = dims
    check(HighwayStack([TinyRNN(size, size), TinyRNN(size, size)]), seq(T, B, size))


@settings(max_examples=max(3, settings.default.max_examples * 6 // 25))
@given(dims=dims, concat=st.booleans())
def test_dense_stack_gradcheck(dims, concat):
    T, B, I, H = dims
    check(DenseStack([TinyRNN(I, H), TinyRNN(I + H, 2), TinyRNN(I + H + 2, H)], concat_output=concat), seq(T, B, I))


def test_dense_stack_wiring():
    layers = [TinyRNN(2, 3), TinyRNN(5, 4), TinyRNN(9, 1)]
    stack = DenseStack(layers)
    x = seq(3, 2, 2).float()
    out, states = stack(x)
    y0, _ = layers[0](x)
    y1, _ = layers[1](tg.cat([x, y0], axis=-1))
    y2, _ = layers[2](tg.cat([x, y0, y1], axis=-1))
    np.testing.assert_array_equal(out.numpy(), y2.numpy())
    assert len(states) == 3 and (stack.input_size, stack.output_size) == (2, 1)
    wide = DenseStack(layers, concat_output=True)
    out, _ = wide(x)
    np.testing.assert_array_equal(out.numpy(), tg.cat([x, y0, y1, y2], axis=-1).numpy())
    assert wide.output_size == 2 + 3 + 4 + 1
    with pytest.raises(ValueError, match="layer 1 takes 4 features but receives 5"):
        DenseStack([TinyRNN(2, 3), TinyRNN(4, 4)])


# ---- VariationalDropout ------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
def test_variational_dropout_mask_is_shared_over_time(batch_first, device):
    drop = VariationalDropout(0.4, batch_first=batch_first)
    x = tg.ones(6, 7, 50, device=device)                 # time-major (6, 7, 50) or batch_first (6 batch, 7 steps)
    out = drop(x).numpy()
    time_axis = 1 if batch_first else 0
    first = np.take(out, [0], axis=time_axis)
    assert np.all(out == first)                          # identical at every time step
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.6)}   # inverted scaling
    assert 0.25 < (first == 0).mean() < 0.55


def test_variational_dropout_off_in_eval_and_for_p0():
    x = tg.randn(3, 2, 4)
    drop = VariationalDropout(0.5)
    assert drop.eval()(x) is x
    assert VariationalDropout(0.0)(x) is x
    with pytest.raises(ValueError):
        VariationalDropout(1.0)
    with pytest.raises(ValueError, match="\\(T, B, F\\)"):
        VariationalDropout(0.5)(tg.randn(2, 4))


def test_variational_dropout_gradcheck():
    drop = VariationalDropout(0.3)

    def fn(x):
        tg.manual_seed(7)                                # the same mask at every evaluation
        return drop(x)

    x = seq(4, 3, 5)
    gradcheck(fn, x)
    x.grad = None
    tg.manual_seed(7)
    out = drop(x)
    out.backward(tg.ones_like(out))
    np.testing.assert_allclose(x.grad.numpy(), out.numpy() / x.numpy())   # grad = the mask
