"""Recurrent cells and sequence layers, in three implementations held equal by the tests.

``impl="composite"`` is the readable path, written with primitive ops so autograd derives
BPTT. One time step of each network is a small function of
Tensors (``rnn_step``, ``lstm_step``, ``gru_step``); a sequence layer calls it in a Python loop
over time, reusing the same weight Parameters at every step, so the graph autograd builds is
the unrolled network and the gradient of each shared weight is the sum of its per-step
contributions, as the BPTT lectures derive by hand.

The step functions take ``xw = W_ih x_t + b_ih``, the input's share of the pre-activations,
rather than x_t: a sequence layer computes it for all T steps at once with one matrix product
(one GEMM instead of T small ones), and a cell computes it for its single step.

``impl="cell"`` runs one fused op per step (``ops/rnn_fused.py``, hand-written step backward)
and ``impl="fused"``, the default, one op per layer and direction whose backward is the BPTT
loop of ``ops/rnn_kernels.py``: the same numbers, far fewer graph nodes, much faster.

Parameters, shapes, gate order and ``state_dict`` keys are PyTorch's (``torch.nn.RNN/LSTM/GRU``
and ``torch.nn.RNNCell/LSTMCell/GRUCell``), so weights move between the two as plain arrays:

    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
"""
import math
import warnings

import numpy as np

from ... import backend
from ...ops import rnn_fused
from ...tensor import Tensor, cat, split, stack
from .. import functional as F
from ..init import uniform_array
from ..utils.rnn import PackedSequence, check_lengths, packed_forward, reverse_padded
from .module import Module, Parameter


# ----------------------------------------------------------------------------- one time step

def rnn_step(xw, h, w_hh, b_hh=None, nonlinearity="tanh"):
    """Elman RNN step.  h' = act(xw + W_hh h + b_hh),  xw = W_ih x + b_ih,  act = tanh or relu.

    xw (B, H) or (H,);  h (B, H) or (H,);  w_hh (H, H);  b_hh (H,) or None  ->  h' like h."""
    pre = xw + F.linear(h, w_hh, b_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_step(xw, h, c, w_hh, b_hh=None, w_hr=None):
    """LSTM step, PyTorch's gate order i, f, g, o::

        i, f, g, o = split(xw + W_hh h + b_hh)          xw = W_ih x + b_ih   (4 blocks of H)
        i = sigmoid(i)   f = sigmoid(f)   g = tanh(g)   o = sigmoid(o)
        c' = f * c + i * g                              the cell state: an additive path
        h' = o * tanh(c')          (then h' = W_hr h' with a projection, proj_size > 0)

    xw (B, 4H);  h (B, Hout);  c (B, H);  w_hh (4H, Hout);  b_hh (4H,) or None;
    w_hr (Hout, H) or None  ->  (h' (B, Hout), c' (B, H)). Unbatched: drop the B axis."""
    gates = xw + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, axis=-1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c = f * c + i * g
    h = o * c.tanh()
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def gru_step(xw, h, w_hh, b_hh=None):
    """GRU step, PyTorch's gate order r, z, n::

        x_r, x_z, x_n = split(xw)                       xw = W_ih x + b_ih   (3 blocks of H)
        h_r, h_z, h_n = split(W_hh h + b_hh)
        r = sigmoid(x_r + h_r)                          reset gate
        z = sigmoid(x_z + h_z)                          update gate
        n = tanh(x_n + r * h_n)                         candidate (r scales W_hn h + b_hn)
        h' = (1 - z) * n + z * h

    xw (B, 3H);  h (B, H);  w_hh (3H, H);  b_hh (3H,) or None  ->  h' (B, H). Unbatched: drop B."""
    x_r, x_z, x_n = xw.chunk(3, axis=-1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, axis=-1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (1 - z) * n + z * h


def unbind(x):
    """The slices x[0], x[1], ... along the first axis, as a list (one Split op, so the backward
    is one concatenation rather than T scatters into a full-size zero array)."""
    return [piece.reshape(piece.shape[1:]) for piece in split(x, 1, axis=0)]


# ----------------------------------------------------------------------------- checks

def _check_size(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_nonlinearity(nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def _check_input(module, x, ranks, layout):
    """x is a floating Tensor of one of ``ranks`` with ``module.input_size`` features, on the
    parameters' device and of their dtype."""
    name = type(module).__name__
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in ranks:
        raise ValueError(f"{name}: expected input of shape {layout}, got a {x.ndim}-D tensor of shape {x.shape}")
    if x.shape[-1] != module.input_size:
        raise ValueError(f"{name}: expected input with input_size={module.input_size} features "
                         f"(last axis), got shape {x.shape}")
    weight = module.weight_ih if hasattr(module, "weight_ih") else module.weight_ih_l0
    if x.device != weight.device:
        raise RuntimeError(f"{name}: input is on {x.device} but the parameters are on {weight.device}; "
                           f"move one with .to(device)")
    if x.dtype != weight.dtype:
        raise TypeError(f"{name}: input has dtype {x.dtype} but the parameters {weight.dtype}; "
                        f"convert the input (x.to(dtype=...)) or the module (.double() / .float())")


def _check_state(module, state, what, expected, x, symbols=None):
    """A hidden/cell state given by the caller: a Tensor of shape ``expected`` like x.
    ``symbols`` names the axes in the message, e.g. "(L*D, B, Hout)"."""
    name = type(module).__name__
    if not isinstance(state, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(state).__name__}")
    if tuple(state.shape) != tuple(expected):
        wanted = f"{symbols} = {tuple(expected)}" if symbols else f"{tuple(expected)}"
        raise ValueError(f"{name}: {what} has the wrong shape: expected {wanted}, got {tuple(state.shape)}")
    if state.device != x.device:
        raise RuntimeError(f"{name}: {what} is on {state.device} but the input is on {x.device}")
    if state.dtype != x.dtype:
        raise TypeError(f"{name}: {what} has dtype {state.dtype} but the input {x.dtype}")


def _zeros(shape, like):
    xp = backend.array_module(like.data)
    return Tensor(xp.zeros(shape, dtype=like.dtype))


def _empty(shape):
    """A float32 Parameter of zeros, filled by ``reset_parameters``."""
    return Parameter(np.zeros(shape, dtype=np.float32))


def _place(module, device, dtype):
    """The ``device=``/``dtype=`` constructor arguments: move the fresh parameters there."""
    if device is not None or dtype is not None:
        module.to(device=device, dtype=dtype)


def _reset_uniform(module, hidden_size):
    """PyTorch's default: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1 / math.sqrt(hidden_size)
    for p in module.parameters():
        p.data = backend.to_device(uniform_array(p.shape, bound, p.dtype), p.device)


# ----------------------------------------------------------------------------- cells

class _CellBase(Module):
    """One time step as a Module: ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``, ``bias_ih``,
    ``bias_hh (G*H,)``, G = number of gates. Call it in your own loop over time."""
    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bool(bias)
        G = self._gates
        self.weight_ih = _empty((G * hidden_size, input_size))
        self.weight_hh = _empty((G * hidden_size, hidden_size))
        self.bias_ih = _empty((G * hidden_size,)) if bias else None
        self.bias_hh = _empty((G * hidden_size,)) if bias else None
        self.reset_parameters()
        _place(self, device, dtype)

    def reset_parameters(self):
        _reset_uniform(self, self.hidden_size)

    def _input_and_states(self, x, states):
        """Check x (B, I) or (I,) and the given states (None -> zeros (B, H) or (H,))."""
        _check_input(self, x, (1, 2), "(B, input_size) or unbatched (input_size,)")
        expected = x.shape[:-1] + (self.hidden_size,)
        out = []
        for what, state in states:
            if state is None:
                state = _zeros(expected, x)
            else:
                _check_state(self, state, what, expected, x, "(B, H)" if x.ndim == 2 else "(H,)")
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
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, hx=None):
        (h,) = self._input_and_states(x, [("hx", hx)])
        xw = F.linear(x, self.weight_ih, self.bias_ih)
        return rnn_step(xw, h, self.weight_hh, self.bias_hh, self.nonlinearity)

    def extra_repr(self):
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_CellBase):
    """LSTM cell (gate order i, f, g, o; see ``lstm_step`` for the equations).

    x (B, I) or (I,);  hx = (h, c), each (B, H) or (H,), zeros if None  ->  (h', c').
    Parameters: weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,)."""
    _gates = 4

    def forward(self, x, hx=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        h, c = self._input_and_states(x, [("h", None if hx is None else hx[0]),
                                          ("c", None if hx is None else hx[1])])
        xw = F.linear(x, self.weight_ih, self.bias_ih)
        return lstm_step(xw, h, c, self.weight_hh, self.bias_hh)


class GRUCell(_CellBase):
    """GRU cell (gate order r, z, n; see ``gru_step`` for the equations).

    x (B, I) or (I,);  hx (B, H) or (H,), zeros if None  ->  h' (B, H) or (H,).
    Parameters: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H,), bias_hh (3H,)."""
    _gates = 3

    def forward(self, x, hx=None):
        (h,) = self._input_and_states(x, [("hx", hx)])
        xw = F.linear(x, self.weight_ih, self.bias_ih)
        return gru_step(xw, h, self.weight_hh, self.bias_hh)


# ----------------------------------------------------------------------------- sequence layers

class _RNNBase(Module):
    """Multi-layer, optionally bidirectional recurrent layer over whole sequences.

    Shapes (T time steps, B sequences, D = 2 if bidirectional else 1, Hout = proj_size or
    hidden_size, L = num_layers):

        x      (T, B, input_size), (B, T, input_size) if batch_first, or unbatched (T, input_size)
        hx     (L*D, B, Hout) or unbatched (L*D, Hout); zeros if None (LSTM: a pair (h0, c0),
               c0 of shape (L*D, B, hidden_size))
        lengths  B ints in [1, T], or None: steps t >= lengths[b] are padding
        out    (T, B, D*Hout) (batch_first: (B, T, D*Hout); unbatched: (T, D*Hout)): the last
               layer's h_t, both directions concatenated, zero at padding
        h_n    like hx: the state after the last real step of each sequence, per layer and
               direction (index layer*D + direction); the reverse direction's final state is the
               one after reading the sequence backwards to its first step

    Parameters per layer k and direction (suffix ``_reverse`` for the backward one), G gates:
        weight_ih_l{k} (G*H, input_size if k == 0 else D*Hout)   weight_hh_l{k} (G*H, Hout)
        bias_ih_l{k}, bias_hh_l{k} (G*H,)   (LSTM with proj_size > 0) weight_hr_l{k} (Hout, H)

    Between layers (not after the last) dropout with probability ``dropout`` acts in train()
    mode. ``residual=True`` adds each layer's input to its output from the second layer on
    (h^k_t + x^k_t), a skip connection that helps gradients through deep stacks.
    ``impl`` chooses how one layer and direction is computed, all three giving the same numbers:
    "fused" (default) one op with hand-written BPTT, "cell" one fused op per step, "composite"
    the unrolled loop of primitive ops in ``_run_direction_composite``. ``checkpoint=K`` (fused
    only) keeps the state every K steps and recomputes the rest in backward: activation memory
    O(T/K + K) instead of O(T) for one extra forward. Setting ``trace = {}`` makes the fused
    backward store dL/dh_t per step in ``trace[(layer, direction)]["dh"]`` (T, B, Hout), in the
    order the direction reads the sequence.
    """
    _gates = 1
    IMPLS = ("fused", "cell", "composite")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, residual=False, impl="fused",
                 checkpoint=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        _check_size("num_layers", num_layers)
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or not 0 <= proj_size < hidden_size:
            raise ValueError(f"{name}: proj_size must be an integer in [0, hidden_size={hidden_size}) "
                             f"(0 = no projection), got {proj_size!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between layers only, so with num_layers=1 "
                          f"it does nothing", stacklevel=3)
        if residual and num_layers < 2:
            raise ValueError(f"{name}: residual=True adds each layer's input to its output from the "
                             f"second layer on, so it needs num_layers >= 2, got {num_layers}; for a skip "
                             f"connection around a single layer (input_size {input_size} -> "
                             f"{(2 if bidirectional else 1) * (proj_size or hidden_size)} outputs), use "
                             f"the nn.skip modules")
        if impl not in self.IMPLS:
            raise ValueError(f"{name}: impl must be one of {self.IMPLS}, got {impl!r}")
        if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 0:
            raise ValueError(f"{name}: checkpoint must be an integer >= 0 (0 = keep every step), got {checkpoint!r}")
        if checkpoint and impl != "fused":
            raise ValueError(f"{name}: checkpoint={checkpoint} needs impl='fused', got impl={impl!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), proj_size
        self.residual, self.impl, self.checkpoint, self.trace = bool(residual), impl, checkpoint, None
        self.num_directions = 2 if bidirectional else 1
        self.output_size = proj_size or hidden_size   # Hout: the size of h
        G, H, Hout, D = self._gates, hidden_size, self.output_size, self.num_directions
        for k in range(num_layers):
            layer_in = input_size if k == 0 else D * Hout
            for direction in range(D):
                suffix = f"_l{k}" + ("_reverse" if direction else "")
                setattr(self, "weight_ih" + suffix, _empty((G * H, layer_in)))
                setattr(self, "weight_hh" + suffix, _empty((G * H, Hout)))
                if bias:
                    setattr(self, "bias_ih" + suffix, _empty((G * H,)))
                    setattr(self, "bias_hh" + suffix, _empty((G * H,)))
                if proj_size:
                    setattr(self, "weight_hr" + suffix, _empty((proj_size, H)))
        self.reset_parameters()
        _place(self, device, dtype)

    def reset_parameters(self):
        _reset_uniform(self, self.hidden_size)

    def flatten_parameters(self):
        """A no-op kept for PyTorch scripts: cuDNN wants one contiguous weight buffer, our
        kernels read the Parameters as they are."""

    @property
    def all_weights(self):
        """[[w_ih, w_hh, b_ih, b_hh(, w_hr)] per layer and direction], as torch's."""
        return [[p for p in self.layer_parameters(k // self.num_directions, k % self.num_directions)
                 if p is not None] for k in range(self.num_layers * self.num_directions)]

    def layer_parameters(self, layer, direction):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of one layer and direction; absent ones are None."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return tuple(getattr(self, name + suffix, None)
                     for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))

    # ---- the forward pass ----------------------------------------------------------------
    def _forward(self, x, hx, lengths):
        """Shared by RNN/GRU/LSTM. Returns (out, h_n, c_n) with c_n None except for the LSTM."""
        if isinstance(x, PackedSequence):    # unpacked to padding + lengths, run, packed again
            return packed_forward(self, x, hx, lengths)
        x, h0, c0, lengths, batched = self._prepare(x, hx, lengths)
        D = self.num_directions
        h0s = unbind(h0)
        c0s = unbind(c0) if c0 is not None else [None] * len(h0s)
        layer_input, h_n, c_n = x, [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                k = layer * D + direction
                if direction == 0:
                    out, h, c = self._run_direction(layer, 0, layer_input, h0s[k], c0s[k], lengths)
                else:  # backward in time: reverse each sequence, run forward in time, reverse back
                    reversed_input = reverse_padded(layer_input, lengths)
                    out, h, c = self._run_direction(layer, 1, reversed_input, h0s[k], c0s[k], lengths)
                    out = reverse_padded(out, lengths)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            out = outputs[0] if D == 1 else cat(outputs, axis=2)
            if self.residual and layer > 0:
                out = out + layer_input
            if layer < self.num_layers - 1:
                out = F.dropout(out, self.dropout, self.training)
            layer_input = out
        out, h_n = layer_input, stack(h_n)
        c_n = stack(c_n) if c0 is not None else None
        if not batched:
            out, h_n = out.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, h_n, c_n

    def _run_direction(self, layer, direction, x, h0, c0, lengths):
        """One layer, one direction, forward in time (the caller reverses for direction 1).

        x (T, B, I) time-major; h0 (B, Hout); c0 (B, H) for the LSTM, else None; lengths a NumPy
        int array (B,) or None -> (out (T, B, Hout), zero past each length; h_n (B, Hout);
        c_n (B, H) or None), the states at each sequence's last real step. Other
        implementations plug in here."""
        if x.shape[1] == 0:                 # an empty batch: only the composite path handles zero rows
            return self._run_direction_composite(layer, direction, x, h0, c0, lengths)
        if self.impl == "fused":
            trace = None if self.trace is None else self.trace.setdefault((layer, direction), {})
            return self._fused(x, h0, c0, self.layer_parameters(layer, direction), lengths, trace)
        if self.impl == "cell":
            params = self.layer_parameters(layer, direction)
            return _unroll(lambda x_t, h, c: self._cell_step(x_t, h, c, params), x, h0, c0, lengths)
        return self._run_direction_composite(layer, direction, x, h0, c0, lengths)

    def _run_direction_composite(self, layer, direction, x, h0, c0, lengths):
        """BPTT in one screen: unroll the step over time on this layer's shared Parameters.

        Each step reuses w_hh (and the rows of xw, which all came from w_ih), so autograd sums
        their gradients over the steps. A finished sequence (t >= its length) keeps its state
        and outputs zero: with the constant mask m (B, 1), 1 while running and 0 after,
            h = m * h_new + (1 - m) * h        out_t = m * h_new
        so padding reaches no output, no final state and no gradient."""
        w_ih, w_hh, b_ih, b_hh, w_hr = self.layer_parameters(layer, direction)
        xw = F.linear(x, w_ih, b_ih)        # (T, B, G*H): input projections of all steps, one GEMM
        return _unroll(lambda xw_t, h, c: self._step(xw_t, h, c, w_hh, b_hh, w_hr), xw, h0, c0, lengths)

    def _step(self, xw_t, h, c, w_hh, b_hh, w_hr):
        """One step of this network on the precomputed input part xw_t -> (h', c' or None)."""
        raise NotImplementedError

    def _cell_step(self, x_t, h, c, params):
        """One step as a single fused op (impl="cell") -> (h', c' or None)."""
        raise NotImplementedError

    def _fused(self, x, h0, c0, params, lengths, trace):
        """The whole sequence as a single fused op (impl="fused") -> (out, h_n, c_n or None)."""
        raise NotImplementedError

    # ---- checking what the caller passed -------------------------------------------------
    def _prepare(self, x, hx, lengths):
        """Validate everything before any computation and bring it to the time-major layout:
        x (T, B, I), h0 (L*D, B, Hout), c0 (L*D, B, H) or None, lengths int64 (B,) or None."""
        name = type(self).__name__
        layout = ("(B, T, input_size)" if self.batch_first else "(T, B, input_size)") + \
            " or unbatched (T, input_size)"
        _check_input(self, x, (2, 3), layout)
        batched = x.ndim == 3
        T, B = (x.shape[1], x.shape[0]) if batched and self.batch_first else \
            (x.shape[0], x.shape[1] if batched else 1)
        if T == 0:
            raise ValueError(f"{name}: the input has no time steps (shape {x.shape})")
        lengths = check_lengths(lengths, T, B)
        if lengths is not None and (lengths == T).all():
            lengths = None                  # nothing is padded: skip the masks
        LD = self.num_layers * self.num_directions
        is_lstm = self._gates == 4
        if hx is None:
            states = []
        elif is_lstm:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{name}: hx must be a tuple (h0, c0), got {type(hx).__name__}")
            states = [("h0", hx[0], self.output_size, "Hout"), ("c0", hx[1], self.hidden_size, "H")]
        else:
            states = [("hx", hx, self.output_size, "Hout")]
        for what, state, size, symbol in states:
            shape, symbols = ((LD, B, size), f"(L*D, B, {symbol})") if batched else \
                ((LD, size), f"(L*D, {symbol})")
            _check_state(self, state, what, shape, x, symbols)
        # all checked: now bring everything to the time-major batched layout
        if not batched:
            x = x.unsqueeze(1)
            states = [(what, state.unsqueeze(1), size, symbol) for what, state, size, symbol in states]
        elif self.batch_first:
            x = x.transpose(0, 1)
        if hx is None:
            h0 = _zeros((LD, B, self.output_size), x)
            c0 = _zeros((LD, B, self.hidden_size), x) if is_lstm else None
        else:
            h0, c0 = states[0][1], (states[1][1] if is_lstm else None)
        return x, h0, c0, lengths, batched

    def extra_repr(self):
        parts = [f"{self.input_size}, {self.hidden_size}"]
        for attr, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0), ("residual", False),
                              ("impl", "fused"), ("checkpoint", 0)):
            if getattr(self, attr) != default:
                parts.append(f"{attr}={getattr(self, attr)!r}")
        return ", ".join(parts)


def _unroll(step, inputs, h0, c0, lengths):
    """Run ``step(input_t, h, c) -> (h', c')`` over time. A finished sequence (t >= its length)
    keeps its state and outputs zero: with the constant mask m (B, 1), 1 while running,
        h = m * h_new + (1 - m) * h        out_t = m * h_new
    so padding reaches no output, no final state and no gradient."""
    h, c = h0, c0
    outputs = []
    for input_t, mask in zip(unbind(inputs), _step_masks(lengths, inputs)):
        h_new, c_new = step(input_t, h, c)
        if mask is None:                # every sequence is still running at this step
            h, c = h_new, c_new
            outputs.append(h)
        else:
            m, keep = mask              # m = 1 where running, keep = 1 - m
            outputs.append(h_new * m)
            h = h_new * m + h * keep
            c = c_new * m + c * keep if c is not None else None
    return stack(outputs), h, c


def _step_masks(lengths, x):
    """Per time step: None where every sequence is running, else (m, 1 - m), m (B, 1) of 1.0
    for the sequences still running and 0.0 for those past their length (constant arrays)."""
    T = x.shape[0]
    if lengths is None:
        return [None] * T
    xp = backend.array_module(x.data)
    masks = []
    for t in range(T):
        running = lengths > t
        if running.all():
            masks.append(None)
        else:
            m = xp.asarray(running[:, None], dtype=x.dtype)
            masks.append((m, 1 - m))
    return masks


class RNN(_RNNBase):
    """Elman RNN over sequences:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh
    or relu, per layer and direction. ``out, h_n = rnn(x, hx=None, lengths=None)``; shapes and
    parameters as in ``_RNNBase`` (G = 1)."""
    _gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, residual=False, impl="fused",
                 checkpoint=0, device=None, dtype=None):
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, residual, impl, checkpoint, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, hx=None, lengths=None):
        out, h_n, _ = self._forward(x, hx, lengths)
        return out, h_n

    def _step(self, xw_t, h, c, w_hh, b_hh, w_hr):
        return rnn_step(xw_t, h, w_hh, b_hh, self.nonlinearity), None

    def _cell_step(self, x_t, h, c, params):
        return rnn_fused.RNNCellStep.apply(x_t, h, *params[:4], nonlinearity=self.nonlinearity), None

    def _fused(self, x, h0, c0, params, lengths, trace):
        y, h_n = rnn_fused.RNNLayer.apply(x, h0, *params[:4], nonlinearity=self.nonlinearity,
                                          lengths=lengths, checkpoint=self.checkpoint, trace=trace)
        return y, h_n, None

    def extra_repr(self):
        extra = f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else ""
        return super().extra_repr() + extra


class LSTM(_RNNBase):
    """LSTM over sequences (gate order i, f, g, o; equations in ``lstm_step``), optionally with
    a projection h_t = W_hr (o_t * tanh(c_t)) of size proj_size.
    ``out, (h_n, c_n) = lstm(x, (h0, c0) or None, lengths=None)``; c0 and c_n are
    (L*D, B, hidden_size); the rest as in ``_RNNBase`` (G = 4)."""
    _gates = 4

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, residual=False, impl="fused", checkpoint=0,
                 device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, residual, impl, checkpoint, device, dtype)

    def forward(self, x, hx=None, lengths=None):
        out, h_n, c_n = self._forward(x, hx, lengths)
        return out, (h_n, c_n)

    def _step(self, xw_t, h, c, w_hh, b_hh, w_hr):
        return lstm_step(xw_t, h, c, w_hh, b_hh, w_hr)

    def _cell_step(self, x_t, h, c, params):
        return rnn_fused.LSTMCellStep.apply(x_t, h, c, *params)

    def _fused(self, x, h0, c0, params, lengths, trace):
        return rnn_fused.LSTMLayer.apply(x, h0, c0, *params, lengths=lengths, checkpoint=self.checkpoint,
                                         trace=trace)


class GRU(_RNNBase):
    """GRU over sequences (gate order r, z, n; equations in ``gru_step``).
    ``out, h_n = gru(x, hx=None, lengths=None)``; shapes as in ``_RNNBase`` (G = 3)."""
    _gates = 3

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, residual=False, impl="fused", checkpoint=0,
                 device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, residual, impl, checkpoint, device, dtype)

    def forward(self, x, hx=None, lengths=None):
        out, h_n, _ = self._forward(x, hx, lengths)
        return out, h_n

    def _step(self, xw_t, h, c, w_hh, b_hh, w_hr):
        return gru_step(xw_t, h, w_hh, b_hh), None

    def _cell_step(self, x_t, h, c, params):
        return rnn_fused.GRUCellStep.apply(x_t, h, *params[:4]), None

    def _fused(self, x, h0, c0, params, lengths, trace):
        y, h_n = rnn_fused.GRULayer.apply(x, h0, *params[:4], lengths=lengths, checkpoint=self.checkpoint,
                                          trace=trace)
        return y, h_n, None
