"""Weight initialisers, named and computed as in ``torch.nn.init``, plus a few for RNNs.

Every function works in place on a Parameter (or any Tensor) ``p`` and returns ``p``. The new
values are written into ``p.data`` itself, on its own device and in its own dtype, so an
optimizer that already holds ``p`` sees them. Random numbers come from the package generator
(``tinygrad_rnn.manual_seed``) and are drawn on the CPU, so a seed gives the same weights on
"cpu" and "cuda".

    from tinygrad_rnn.nn import init
    init.orthogonal_(lstm.weight_hh_l0)                        # one orthogonal (4H, H) matrix
    init.per_gate_(lstm.weight_hh_l0, 4, init.orthogonal_)     # four orthogonal (H, H) blocks
    init.lstm_forget_bias_(lstm, 1.0)                          # forget gates start open

Fan-in and fan-out of a weight of shape (out, in, k...) are ``in * prod(k)`` and
``out * prod(k)``, as in PyTorch.
"""
import math

import numpy as np

from .. import backend
from ..tensor import Tensor


# ---- writing values ---------------------------------------------------------------------
def _write(p, values):
    """Copy the NumPy array ``values`` into ``p.data`` in place, on p's device, in p's dtype."""
    values = np.asarray(values, dtype=p.dtype)
    if values.shape != p.shape:
        raise ValueError(f"initialiser made shape {values.shape} for a tensor of shape {p.shape}")
    _target(p)[...] = backend.to_device(values, backend.device_of(_target(p)))
    return p


def _target(p):
    """The array to write: a Tensor's memory, or the array itself when a program passes
    ``w.data`` (torch's ``nn.init.xavier_uniform_(w.data)``)."""
    return p if isinstance(p, np.ndarray) else p.data


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activations' variance steady through ``nonlinearity`` (torch's table):
    linear/identity/conv/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + slope^2))
    (slope ``param``, default 0.01), selu 3/4."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d",
                        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fans(p):
    if p.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {p.shape}")
    receptive = math.prod(p.shape[2:])
    return p.shape[1] * receptive, p.shape[0] * receptive


# ---- constants and plain distributions -------------------------------------------------
def uniform_(p, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    return _write(p, backend.rng().uniform(a, b, size=p.shape))


def normal_(p, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    return _write(p, backend.rng().normal(mean, std, size=p.shape))


def constant_(p, value):
    _target(p).fill(value)
    return p


def zeros_(p):
    return constant_(p, 0)


def ones_(p):
    return constant_(p, 1)


def eye_(p, scale=1.0):
    """A 2-D ``p`` becomes ``scale`` times the identity (ones on the main diagonal if not square).

    IRNN (Le et al., 2015): a ReLU RNN whose recurrent matrix starts as the identity and whose
    biases start at zero remembers its state by default, and trains on long sequences:
    ``init.eye_(rnn.weight_hh_l0); init.zeros_(rnn.bias_hh_l0)`` with ``nonlinearity="relu"``."""
    if p.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {p.shape}")
    return _write(p, scale * np.eye(*p.shape))


# ---- scaled by fan ----------------------------------------------------------------------
def xavier_uniform_(p, gain=1.0):
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(p)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(p, -bound, bound)


def xavier_normal_(p, gain=1.0):
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(p)
    return normal_(p, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(p, a, mode, nonlinearity):
    fan_in, fan_out = _fans(p)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(p, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).
    With the defaults (a=0, leaky_relu) gain = sqrt(2), the ReLU value."""
    bound = math.sqrt(3.0) * _kaiming_std(p, a, mode, nonlinearity)
    return uniform_(p, -bound, bound)


def kaiming_normal_(p, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He: N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(p, 0.0, _kaiming_std(p, a, mode, nonlinearity))


def orthogonal_(p, gain=1.0):
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al., 2013), as torch does it.

    ``p`` is viewed as (rows, cols) = (shape[0], numel / shape[0]). Q comes from the QR
    decomposition of a Gaussian matrix, with each column multiplied by the sign of R's diagonal
    so that Q is uniformly (Haar) distributed. Then Q^T Q = I when rows >= cols and Q Q^T = I
    when rows < cols: the rows or columns, whichever are fewer, are orthonormal.
    """
    if p.ndim < 2:
        raise ValueError(f"orthogonal_ needs a tensor with at least 2 dimensions, got shape {p.shape}")
    rows = p.shape[0]
    cols = p.numel() // rows if rows else 0
    if p.numel() == 0:
        return p
    gaussian = backend.rng().standard_normal((rows, cols))
    if rows < cols:
        gaussian = gaussian.T                  # QR of the tall matrix, transposed back below
    q, r = np.linalg.qr(gaussian)              # q: (max, min) with orthonormal columns
    q = q * np.sign(np.diag(r))                # fix the signs: makes the distribution uniform
    if rows < cols:
        q = q.T
    return _write(p, gain * q.reshape(p.shape))


# ---- recurrent layers -------------------------------------------------------------------
def per_gate_(p, num_gates, init_fn):
    """Apply ``init_fn`` separately to each of the ``num_gates`` row blocks of a stacked weight.

    RNN weights stack their gates: an LSTM's ``weight_hh_l0`` is (4H, H) = [W_i; W_f; W_g; W_o].
    ``per_gate_(w, 4, init.orthogonal_)`` makes each (H, H) block orthogonal on its own, which
    a single ``orthogonal_(w)`` on the (4H, H) matrix does not. ``init_fn`` gets each block as a
    Tensor sharing ``p``'s memory; use ``functools.partial`` or a lambda for extra arguments.
    """
    if p.ndim < 1 or p.shape[0] % num_gates:
        raise ValueError(f"per_gate_: the first dimension of shape {p.shape} is not a multiple of "
                         f"num_gates={num_gates}")
    size = p.shape[0] // num_gates
    for g in range(num_gates):
        rows = slice(g * size, (g + 1) * size)
        block = Tensor(p.data[rows], device=p.device)   # a view: in-place writes reach p
        init_fn(block)
        p.data[rows] = block.data                       # in case init_fn replaced block.data
    return p


def rnn_default_(module):
    """PyTorch's default for recurrent layers: every parameter ~ U(-k, k), k = 1 / sqrt(hidden_size).

    ``module`` is a recurrent layer (anything with a ``hidden_size`` attribute) or a model that
    contains some: each such layer gets its own k; other parameters (embeddings, output
    Linear) are left alone."""
    done = set()
    for _, m in module.named_modules():
        hidden = getattr(m, "hidden_size", None)
        if not isinstance(hidden, int) or hidden <= 0:
            continue
        bound = 1.0 / math.sqrt(hidden)
        for p in m.parameters():
            if id(p) not in done:
                done.add(id(p))
                uniform_(p, -bound, bound)
    if not done:
        raise ValueError(f"rnn_default_: {type(module).__name__} contains no recurrent layer "
                         "(no module with a hidden_size attribute)")
    return module


def lstm_forget_bias_(module_or_bias, value=1.0, hidden_size=None):
    """Start the LSTM forget gates at ``value`` (Gers et al., 2000; Jozefowicz et al., 2015).

    Biases are (4H,) in torch's gate order i, f, g, o, so the forget gate is the second
    quarter, ``[H:2H]``.

    - Given a bias Tensor: its forget block is set to ``value`` (H = ``hidden_size``, or len / 4).
    - Given a Module: in every LSTM layer inside it, the forget block of each ``bias_ih*`` is set
      to ``value`` and that of each ``bias_hh*`` to 0. The cell adds the two biases, so the
      forget pre-activation starts at exactly ``value``. Other gates are untouched. A layer
      counts as LSTM when its biases have 4 * hidden_size entries (4 blocks if it has no
      ``hidden_size`` attribute).
    Returns its argument.
    """
    if isinstance(module_or_bias, Tensor):
        _set_forget_block(module_or_bias, value, hidden_size)
        return module_or_bias
    changed = 0
    for _, m in module_or_bias.named_modules():
        hidden = getattr(m, "hidden_size", hidden_size)
        for name, p in m._params.items():
            if p is None or not name.startswith(("bias_ih", "bias_hh")) or p.ndim != 1:
                continue
            if (p.shape[0] != 4 * hidden) if hidden else (p.shape[0] % 4):
                continue                                  # a GRU / RNN bias: not ours to change
            _set_forget_block(p, value if name.startswith("bias_ih") else 0.0, p.shape[0] // 4)
            changed += 1
    if not changed:
        raise ValueError(f"lstm_forget_bias_: found no LSTM bias_ih*/bias_hh* parameters in "
                         f"{type(module_or_bias).__name__}")
    return module_or_bias


def _set_forget_block(bias, value, hidden_size):
    hidden = hidden_size or bias.shape[0] // 4
    if bias.ndim != 1 or bias.shape[0] != 4 * hidden:
        raise ValueError(f"an LSTM bias has shape (4 * hidden_size,), got {bias.shape} "
                         f"(hidden_size={hidden_size})")
    bias.data[hidden:2 * hidden] = value


def uniform_array(shape, bound, dtype=np.float32):
    """U(-bound, bound) from the package generator (``tinygrad_rnn.manual_seed``)."""
    return backend.rng().uniform(-bound, bound, size=shape).astype(dtype)
