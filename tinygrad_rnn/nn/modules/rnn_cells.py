"""Cells: ONE time step of a recurrent network as ONE fused op with a hand-written backward.

As in PyTorch, ``nn.RNNCell`` / ``LSTMCell`` / ``GRUCell`` are the step you call in your own
loop over time. Each call records a single graph node (``rnn_fused.*CellStep``, whose backward
is the layer's BPTT kernel run for T = 1), so a loop of cells still shows BPTT in the graph,
one node per step, with the per-step arithmetic derived by hand rather than by autograd. The
functions ``rnn_cell``, ``lstm_cell``, ``gru_cell`` are the same op on explicit weights; a
sequence layer's ``impl="cell"`` is nothing but ``unroll`` (``rnn.py``) over them. The same
step written with primitive ops (autograd derives its backward) is ``rnn_step`` / ``lstm_step``
/ ``gru_step`` in ``rnn.py``: the tests hold the two equal.

Also here: the parameter helpers cells and layers share (PyTorch's shapes and initialisation).
"""
import math

import numpy as np

from ... import backend
from ..._validation import check_int, check_nonlinearity, check_rnn_input, check_rnn_state
from ...ops import rnn_fused
from ...tensor import Tensor
from ..init import uniform_array
from .module import Module, Parameter


# ----------------------------------------------------------------------------- the cell ops

def _batched(step, x, states, params, **attrs):
    """Run the fused ``step`` op on (B, ...) arrays, adding and removing the batch axis of an
    unbatched x (I,) and states (H,)."""
    if x.ndim == 2:
        return step.apply(x, *states, *params, **attrs)
    out = step.apply(x.unsqueeze(0), *(s.unsqueeze(0) for s in states), *params, **attrs)
    return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """h' = act(W_ih x + b_ih + W_hh h + b_hh) as one op.  x (B, I) or (I,); h (B, H) or (H,)."""
    return _batched(rnn_fused.RNNCellStep, x, (h,), (w_ih, w_hh, b_ih, b_hh), nonlinearity=nonlinearity)


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """(h', c') of one LSTM step (equations in ``rnn.lstm_step``) as one op."""
    return _batched(rnn_fused.LSTMCellStep, x, (h, c), (w_ih, w_hh, b_ih, b_hh, w_hr))


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' of one GRU step (equations in ``rnn.gru_step``) as one op."""
    return _batched(rnn_fused.GRUCellStep, x, (h,), (w_ih, w_hh, b_ih, b_hh))


# ----------------------------------------------------------------------------- parameters

def zeros_like_state(shape, like):
    """A zero state of ``shape`` with ``like``'s dtype and device (the default h0 / c0)."""
    xp = backend.array_module(like.data)
    return Tensor(xp.zeros(shape, dtype=like.dtype))


def empty_parameter(shape):
    """A float32 Parameter of zeros, filled by ``reset_parameters``."""
    return Parameter(np.zeros(shape, dtype=np.float32))


def place(module, device, dtype):
    """The ``device=``/``dtype=`` constructor arguments: move the fresh parameters there."""
    if device is not None or dtype is not None:
        module.to(device=device, dtype=dtype)


def reset_uniform(module, hidden_size):
    """PyTorch's default: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1 / math.sqrt(hidden_size)
    for p in module.parameters():
        p.data = backend.to_device(uniform_array(p.shape, bound, p.dtype), p.device)


# ----------------------------------------------------------------------------- modules

class _CellBase(Module):
    """One time step as a Module: ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``, ``bias_ih``,
    ``bias_hh (G*H,)``, G = number of gates. Call it in your own loop over time."""
    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        check_int("input_size", input_size)
        check_int("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bool(bias)
        G = self._gates
        self.weight_ih = empty_parameter((G * hidden_size, input_size))
        self.weight_hh = empty_parameter((G * hidden_size, hidden_size))
        self.bias_ih = empty_parameter((G * hidden_size,)) if bias else None
        self.bias_hh = empty_parameter((G * hidden_size,)) if bias else None
        self.reset_parameters()
        place(self, device, dtype)

    def reset_parameters(self):
        reset_uniform(self, self.hidden_size)

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _input_and_states(self, x, states):
        """Check x (B, I) or (I,) and the given states (None -> zeros (B, H) or (H,))."""
        check_rnn_input(self, x, (1, 2), "(B, input_size) or unbatched (input_size,)")
        expected = x.shape[:-1] + (self.hidden_size,)
        out = []
        for what, state in states:
            if state is None:
                state = zeros_like_state(expected, x)
            else:
                check_rnn_state(self, state, what, expected, x, "(B, H)" if x.ndim == 2 else "(H,)")
            out.append(state)
        return out

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class RNNCell(_CellBase):
    """Elman RNN cell:  h' = act(W_ih x + b_ih + W_hh h + b_hh),  act = tanh or relu.

    x (B, I) or (I,);  hx (B, H) or (H,), zeros if None  ->  h' (B, H) or (H,).
    Parameters: weight_ih (H, I), weight_hh (H, H), bias_ih (H,), bias_hh (H,)."""
    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, hx=None):
        (h,) = self._input_and_states(x, [("hx", hx)])
        return rnn_cell(x, h, *self._weights(), nonlinearity=self.nonlinearity)

    def extra_repr(self):
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_CellBase):
    """LSTM cell (gate order i, f, g, o; see ``rnn.lstm_step`` for the equations).

    x (B, I) or (I,);  hx = (h, c), each (B, H) or (H,), zeros if None  ->  (h', c').
    Parameters: weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,)."""
    _gates = 4

    def forward(self, x, hx=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        h, c = self._input_and_states(x, [("h", None if hx is None else hx[0]),
                                          ("c", None if hx is None else hx[1])])
        return lstm_cell(x, h, c, *self._weights())


class GRUCell(_CellBase):
    """GRU cell (gate order r, z, n; see ``rnn.gru_step`` for the equations).

    x (B, I) or (I,);  hx (B, H) or (H,), zeros if None  ->  h' (B, H) or (H,).
    Parameters: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H,), bias_hh (3H,)."""
    _gates = 3

    def forward(self, x, hx=None):
        (h,) = self._input_and_states(x, [("hx", hx)])
        return gru_cell(x, h, *self._weights())
