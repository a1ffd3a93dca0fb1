"""Tests for tinygrad_rnn.nn.init: the properties each initialiser promises, torch's formulas,
in-place writes on the parameter's own device and dtype, and reproducibility under manual_seed."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import init


def param(*shape, dtype=np.float32, device="cpu"):
    return nn.Parameter(tg.zeros(*shape, dtype=dtype, device=device))


def assert_orthonormal(q, atol=1e-5):
    """Rows or columns (whichever are fewer) of the 2-D array q are orthonormal."""
    gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=atol)


# ---- orthogonal ---------------------------------------------------------------------------
@settings(max_examples=max(3, settings.default.max_examples * 4 // 5))
@given(rows=st.integers(1, 12), cols=st.integers(1, 12), gain=st.floats(0.1, 3.0))
def test_orthogonal_is_orthonormal_for_any_shape(rows, cols, gain):
    p = init.orthogonal_(param(rows, cols, dtype=np.float64), gain=gain)
    assert_orthonormal(p.numpy() / gain, atol=1e-10)


def test_orthogonal_flattens_trailing_dims(device):
    p = init.orthogonal_(param(4, 3, 2, device=device))
    assert p.shape == (4, 3, 2) and p.device == device and p.dtype == np.float32
    assert_orthonormal(p.numpy().reshape(4, 6))


def test_orthogonal_needs_a_matrix():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(param(5))


# ---- fan-scaled uniform / normal ---------------------------------------------------------
def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name in ("linear", "sigmoid", "tanh", "relu", "selu", "leaky_relu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    with pytest.raises(ValueError):
        init.calculate_gain("swish")


def assert_uniform(values, bound):
    """All inside [-bound, bound], and the empirical std near a uniform's bound / sqrt(3)."""
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.95 * bound          # the range is really used
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_xavier_uniform_bound_and_std():
    p = init.xavier_uniform_(param(300, 200), gain=2.0)
    assert_uniform(p.numpy(), 2.0 * math.sqrt(6 / (200 + 300)))


@pytest.mark.parametrize("a, nonlinearity", [(0, "leaky_relu"), (math.sqrt(5), "leaky_relu"), (0, "tanh"), (0, "relu")])
def test_kaiming_uniform_uses_torchs_formula(a, nonlinearity):
    p = init.kaiming_uniform_(param(250, 160), a=a, nonlinearity=nonlinearity)
    gain = {"leaky_relu": math.sqrt(2 / (1 + a ** 2)), "tanh": 5 / 3, "relu": math.sqrt(2)}[nonlinearity]
    assert_uniform(p.numpy(), gain * math.sqrt(3 / 160))   # fan_in = 160


def test_kaiming_uniform_same_bound_as_torch():
    torch = pytest.importorskip("torch")
    w = torch.empty(64, 48)
    torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5))   # torch's Linear default: bound 1/sqrt(fan_in)
    ours = init.kaiming_uniform_(param(64, 48), a=math.sqrt(5)).numpy()
    assert np.abs(ours).max() <= 1 / math.sqrt(48) + 1e-7 and w.abs().max().item() <= 1 / math.sqrt(48) + 1e-7


def test_normal_variants_std():
    p = init.xavier_normal_(param(300, 200))
    assert p.numpy().std() == pytest.approx(math.sqrt(2 / 500), rel=0.03)
    p = init.kaiming_normal_(param(300, 200), mode="fan_out", nonlinearity="relu")
    assert p.numpy().std() == pytest.approx(math.sqrt(2) / math.sqrt(300), rel=0.03)
    p = init.normal_(param(300, 200), mean=2.0, std=0.5)
    assert p.numpy().mean() == pytest.approx(2.0, abs=0.01) and p.numpy().std() == pytest.approx(0.5, rel=0.03)


def test_fans_need_a_matrix():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(param(7))


# ---- constants, identity ------------------------------------------------------------------
def test_constants_and_uniform_range(device):
    p = param(3, 4, device=device)
    assert np.all(init.ones_(p).numpy() == 1) and np.all(init.zeros_(p).numpy() == 0)
    assert np.all(init.constant_(p, 0.25).numpy() == 0.25)
    values = init.uniform_(param(1000, device=device), -0.5, 2.0).numpy()
    assert values.min() >= -0.5 and values.max() < 2.0 and values.mean() == pytest.approx(0.75, abs=0.1)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3)])
def test_eye(shape, device):
    p = init.eye_(param(*shape, device=device), scale=0.5)
    np.testing.assert_array_equal(p.numpy(), 0.5 * np.eye(*shape))
    with pytest.raises(ValueError):
        init.eye_(param(2, 2, 2))


def test_irnn_recipe():
    """IRNN: identity recurrent matrix and zero bias make a ReLU RNN copy its state forward."""
    rnn = nn.RNN(3, 4, nonlinearity="relu")
    init.eye_(rnn.weight_hh_l0)
    init.zeros_(rnn.bias_hh_l0)
    init.zeros_(rnn.bias_ih_l0)
    init.zeros_(rnn.weight_ih_l0)
    h0 = tg.tensor(np.abs(np.random.default_rng(0).standard_normal((1, 2, 4))).astype(np.float32))
    _, h = rnn(tg.zeros(5, 2, 3), h0)
    np.testing.assert_allclose(h.numpy(), h0.numpy())


# ---- in place, device, dtype, reproducibility -------------------------------------------
INITIALISERS = [
    lambda p: init.uniform_(p, -1, 1), lambda p: init.normal_(p), init.orthogonal_, init.xavier_uniform_,
    init.kaiming_uniform_, init.xavier_normal_, init.kaiming_normal_,
]


@pytest.mark.parametrize("fn", INITIALISERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_writes_in_place_on_own_device_and_dtype(fn, dtype, device):
    p = param(6, 5, dtype=dtype, device=device)
    array = p.data
    assert fn(p) is p
    assert p.data is array and p.dtype == dtype and p.device == device
    assert np.any(p.numpy() != 0)


@pytest.mark.parametrize("fn", INITIALISERS)
def test_reproducible_under_manual_seed(fn, device):
    tg.manual_seed(123)
    first = fn(param(6, 5, device=device)).numpy()
    tg.manual_seed(123)
    second = fn(param(6, 5, device=device)).numpy()
    tg.manual_seed(123)
    on_cpu = fn(param(6, 5)).numpy()        # numbers are drawn on the CPU: same on every device
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, on_cpu)


# ---- recurrent helpers ------------------------------------------------------------------
@settings(max_examples=max(3, settings.default.max_examples * 3 // 5))
@given(gates=st.integers(1, 4), hidden=st.integers(1, 6), cols=st.integers(1, 6))
def test_per_gate_orthogonal_blocks(gates, hidden, cols):
    p = init.per_gate_(param(gates * hidden, cols, dtype=np.float64), gates, init.orthogonal_)
    for block in np.split(p.numpy(), gates, axis=0):
        assert_orthonormal(block, atol=1e-10)


def test_per_gate_applies_to_each_block_and_checks_shape(device):
    p = param(8, device=device)
    init.per_gate_(p, 4, lambda b: init.constant_(b, float(b.numpy().size)))
    np.testing.assert_array_equal(p.numpy(), np.full(8, 2.0))
    p = param(6, 3, device=device)
    blocks = iter([1.0, 2.0, 3.0])
    init.per_gate_(p, 3, lambda b: init.constant_(b, next(blocks)))
    np.testing.assert_array_equal(p.numpy()[:, 0], [1, 1, 2, 2, 3, 3])
    with pytest.raises(ValueError, match="multiple of"):
        init.per_gate_(param(7, 2), 4, init.zeros_)


def test_lstm_forget_bias_on_a_tensor():
    b = init.ones_(param(12))
    init.lstm_forget_bias_(b, 3.0)
    np.testing.assert_array_equal(b.numpy(), [1, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="4 \\* hidden_size"):
        init.lstm_forget_bias_(param(10))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_forget_bias_on_a_module(bidirectional):
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=bidirectional)
    before = lstm.state_dict()
    init.lstm_forget_bias_(lstm, 1.5)
    H, biases = 5, 0
    for name, p in lstm.named_parameters():
        value, old = p.numpy(), before[name]
        if name.startswith("bias_"):
            biases += 1
            np.testing.assert_array_equal(value[H:2 * H], 1.5 if name.startswith("bias_ih") else 0.0)
            np.testing.assert_array_equal(np.delete(value, np.s_[H:2 * H]), np.delete(old, np.s_[H:2 * H]))
        else:
            np.testing.assert_array_equal(value, old)
    assert biases == 4 * (2 if bidirectional else 1)
    forget = sum(p.numpy()[H:2 * H] for n, p in lstm.named_parameters() if n in ("bias_ih_l1", "bias_hh_l1"))
    np.testing.assert_allclose(forget, 1.5)           # bias_ih + bias_hh on the forget gate


def test_lstm_forget_bias_leaves_gru_alone():
    with pytest.raises(ValueError, match="no LSTM"):
        init.lstm_forget_bias_(nn.GRU(3, 4))
    model = nn.ModuleList([nn.GRU(3, 4), nn.LSTMCell(3, 4)])
    gru_bias = model[0].bias_ih_l0.numpy().copy()
    init.lstm_forget_bias_(model, 1.0)
    np.testing.assert_array_equal(model[0].bias_ih_l0.numpy(), gru_bias)
    np.testing.assert_array_equal(model[1].bias_ih.numpy()[4:8], 1.0)


def test_rnn_default_only_touches_recurrent_layers():
    model = nn.ModuleList([nn.Linear(3, 50), nn.LSTM(3, 16), nn.GRU(16, 64)])
    for p in model.parameters():
        init.constant_(p, 9.0)
    assert init.rnn_default_(model) is model
    assert np.all(model[0].weight.numpy() == 9.0)
    for layer, hidden in ((model[1], 16), (model[2], 64)):
        for p in layer.parameters():
            values = p.numpy()
            assert np.abs(values).max() <= 1 / math.sqrt(hidden) + 1e-7 and values.std() > 0
    with pytest.raises(ValueError, match="no recurrent layer"):
        init.rnn_default_(nn.Linear(2, 2))
