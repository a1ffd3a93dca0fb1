"""Truncated BPTT: one chunk equals full BPTT, shorter windows equal hand-detached unrolls
(k1 = k2 and k1 < k2), the returned state is cut from the graph, and bad arguments raise."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.function import no_grad
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.tbptt import TBPTT, detach_state, tbptt_step

B, T, I, H, V = 2, 12, 3, 5, 4


class Tiny(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = getattr(nn, cell)(I, H, num_layers=2, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, x, state=None):
        out, state = self.rnn(x, state)
        return self.head(out), state


def loss_fn(out, targets):
    return F.cross_entropy(out.reshape(-1, V), targets.reshape(-1))


def setup(cell="LSTM"):
    tg.manual_seed(3)
    model = Tiny(cell).double()
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((B, T, I)))
    y = tg.Tensor(rng.integers(0, V, size=(B, T)))
    h = tg.Tensor(rng.standard_normal((2, B, H)) * 0.5)
    state = (h, tg.Tensor(rng.standard_normal((2, B, H)) * 0.5)) if cell == "LSTM" else h
    return model, x, y, state


def grads(model):
    out = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    model.zero_grad()
    return out


def assert_same_grads(a, b, rtol=1e-10):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_one_chunk_equals_full_bptt(cell):
    model, x, y, state = setup(cell)
    out, _ = model(x, state)
    full_loss = loss_fn(out, y)
    full_loss.backward()
    expected = grads(model)
    loss, new_state = tbptt_step(model, loss_fn, x, y, state, k1=T, k2=T)
    assert loss == pytest.approx(full_loss.item(), rel=1e-12)
    assert_same_grads(grads(model), expected, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 4, 5])
def test_k1_equals_k2_matches_hand_detached_chunks(k):
    model, x, y, state = setup()
    s, total = state, 0.0
    for a in range(0, T, k):
        b = min(a + k, T)
        out, s = model(x[:, a:b], detach_state(s))
        piece = loss_fn(out, y[:, a:b]) * ((b - a) / T)
        piece.backward()
        total += piece.item()
    expected, expected_state = grads(model), s
    loss, new_state = tbptt_step(model, loss_fn, x, y, state, k1=k, k2=k)
    assert loss == pytest.approx(total, rel=1e-12)
    assert_same_grads(grads(model), expected)
    for got, want in zip(new_state, expected_state):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("k1,k2", [(3, 5), (2, 7), (4, 12), (5, 6)])
def test_k1_less_than_k2_matches_hand_recomputed_windows(k1, k2):
    """Every k1 steps (t = a + k1): the state at t - k2 as a constant, a graph over [t - k2, t),
    the losses of the last k1 steps back-propagated (a short last window starts at a + k1 - k2)."""
    model, x, y, state = setup()
    total = 0.0
    for a in range(0, T, k1):
        t = min(a + k1, T)
        r = max(0, a + k1 - k2)
        s = state
        if r > 0:
            with no_grad():
                _, s = model(x[:, :r], state)
        out, _ = model(x[:, r:t], detach_state(s))
        piece = loss_fn(out[:, a - r:], y[:, a:t]) * ((t - a) / T)
        piece.backward()
        total += piece.item()
    expected = grads(model)
    loss, _ = tbptt_step(model, loss_fn, x, y, state, k1=k1, k2=k2)
    assert loss == pytest.approx(total, rel=1e-10)
    assert_same_grads(grads(model), expected)


def test_truncation_changes_the_gradient():
    model, x, y, state = setup("RNN")
    tbptt_step(model, loss_fn, x, y, state, k1=T)
    full = grads(model)
    tbptt_step(model, loss_fn, x, y, state, k1=3)
    short = grads(model)
    assert not np.allclose(full["rnn.weight_hh_l0"], short["rnn.weight_hh_l0"])


def test_returned_state_is_detached_and_equals_a_plain_forward():
    model, x, y, state = setup()
    _, new_state = tbptt_step(model, loss_fn, x, y, state, k1=4, k2=6)
    with no_grad():
        _, expected = model(x, state)
    for got, want in zip(new_state, expected):
        assert got.creator is None and not got.requires_grad
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10)


def test_on_backward_is_called_once_per_window_and_class_carries_state():
    model, x, y, state = setup()
    calls = []
    tbptt_step(model, loss_fn, x, y, None, k1=5, on_backward=lambda: calls.append(1))
    assert len(calls) == 3                      # windows ending at 5, 10, 12
    model.zero_grad()
    step = TBPTT(model, loss_fn, k1=4)
    step(x[:, :6], y[:, :6])
    assert step.state is not None and step.state[0].creator is None
    step.reset()
    assert step.state is None


@pytest.mark.parametrize("kwargs", [dict(k1=4, k2=3), dict(k1=0), dict(k1=2.5), dict(k1=True)])
def test_bad_window_lengths_raise(kwargs):
    model, x, y, state = setup()
    with pytest.raises(ValueError):
        tbptt_step(model, loss_fn, x, y, state, **kwargs)
