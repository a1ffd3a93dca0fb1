"""Recurrent layers over whole sequences, and the one loop over time that every path shares.

Words, each with one meaning in this package:

* **step**: one time step of one layer and direction, written with primitive ops so autograd
  derives its backward (``rnn_step``, ``lstm_step``, ``gru_step`` below: the textbook
  equations). The step takes ``xw = W_ih x_t + b_ih``, the input's share of the
  pre-activations, because a layer computes it for all T steps with one matrix product.
* **cell**: the same step as ONE fused op with a hand-written backward (``rnn_cells.py``:
  ``nn.RNNCell`` / ``LSTMCell`` / ``GRUCell`` and the functions ``rnn_cell`` ...).
* **unroll**: the loop over time (``unroll`` below): runs a step or a cell T times on the same
  Parameters, masks padded steps, and calls an optional observer ``on_step(t, h, c)`` with
  each new state, which is how ``tinygrad_rnn.inspect`` reads dL/dh_t.
* **layer**: a module of this file (``nn.RNN`` / ``LSTM`` / ``GRU``), and layer k of its stack
  (PyTorch's ``_l{k}`` parameters). ``impl`` says how one layer and direction runs:
  "composite" = ``unroll`` over the step (autograd derives BPTT; the readable path, all in
  this file), "cell" = ``unroll`` over the cell op, "fused" (default) = one op for the whole
  sequence whose backward is the BPTT loop of ``ops/rnn_kernels.py``. Same numbers, the last
  far faster.
* **trace**: the per-step record dL/dh_t. With ``layer.trace = {}`` the fused backward stores
  it in ``trace[(k, direction)]["dh"]``; ``inspect.trace_hidden_grads`` returns the same arrays
  for every impl.

Parameters, shapes, gate order and ``state_dict`` keys are PyTorch's (``torch.nn.RNN/LSTM/GRU``
and ``torch.nn.RNNCell/LSTMCell/GRUCell``), so weights move between the two as plain arrays:

    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
"""
import functools

from ..._validation import (check_lengths, check_nonlinearity, check_rnn_input, check_rnn_layer_args,
                            check_rnn_state, output_size, unroll_masks)
from ...ops import rnn_fused
from ...tensor import cat, split, stack
from .. import functional as F
from ..utils.rnn import PackedSequence, packed_forward, reverse_padded
from .module import Module
from .rnn_cells import (empty_parameter, gru_cell, lstm_cell, place, reset_uniform, rnn_cell,
                        zeros_like_state)


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


def _ignore(*args):
    """An observer that does nothing: ``unroll`` without one."""


def unbind(x):
    """The slices x[0], x[1], ... along the first axis, as a list (one Split op, so the backward
    is one concatenation rather than T scatters into a full-size zero array)."""
    return [piece.reshape(piece.shape[1:]) for piece in split(x, 1, axis=0)]


# ----------------------------------------------------------------------------- the loop over time

def unroll(step, inputs, h0, c0=None, lengths=None, on_step=None):
    """Run ``step(input_t, h, c) -> (h', c' or None)`` over the time axis of ``inputs`` (T, B, ...)
    from the state (h0, c0), and return (outputs (T, B, Hout), h_n, c_n).

    Every step reuses the same weights (captured by ``step``), so the graph autograd records is
    the unrolled network and each shared weight's gradient is the sum of its per-step shares.
    A finished sequence (t >= its length) keeps its state and outputs zero: with the constant
    mask m (B, 1), 1 while running and 0 after,
        h = m * h_new + (1 - m) * h        out_t = m * h_new
    so padding reaches no output, no final state and no gradient.

    ``on_step(t, h_new, c_new)``, if given, sees each step's new state before the mask: the
    tensor through which all of dL/dh_t flows (to the output and to the next step), so a
    ``retain_grad()`` on it reads the total gradient, 0 at padded steps."""
    h, c = h0, c0
    outputs = []
    for t, (input_t, mask) in enumerate(zip(unbind(inputs), unroll_masks(lengths, inputs))):
        h_new, c_new = step(input_t, h, c)
        if on_step is not None:
            on_step(t, h_new, c_new)
        if mask is None:                # every sequence is still running at this step
            h, c = h_new, c_new
            outputs.append(h)
        else:
            m, keep = mask              # m = 1 where running, keep = 1 - m
            outputs.append(h_new * m)
            h = h_new * m + h * keep
            c = c_new * m + c * keep if c is not None else None
    return stack(outputs), h, c


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
    ``impl`` chooses how one layer and direction is computed (see the module docstring):
    "fused" (default), "cell" or "composite". ``checkpoint=K`` (fused only) keeps the state
    every K steps and recomputes the rest in backward: activation memory O(T/K + K) instead of
    O(T) for one extra forward. Setting ``trace = {}`` makes the fused backward store dL/dh_t
    per step in ``trace[(layer, direction)]["dh"]`` (T, B, Hout), in the order the direction
    reads the sequence. ``unroll(x, hx, lengths, on_step)`` runs the layer as a Python loop
    over time whatever its impl and shows each step's state to an observer.
    """
    _gates = 1
    IMPLS = ("fused", "cell", "composite")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, residual=False, impl="fused",
                 checkpoint=0, device=None, dtype=None):
        super().__init__()
        check_rnn_layer_args(type(self).__name__, input_size, hidden_size, num_layers, dropout,
                          bidirectional, proj_size, residual, impl, checkpoint, self.IMPLS)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), proj_size
        self.residual, self.impl, self.checkpoint, self.trace = bool(residual), impl, checkpoint, None
        self.num_directions = 2 if bidirectional else 1
        self.output_size = output_size(hidden_size, proj_size)   # Hout: the size of h
        G, H, Hout, D = self._gates, hidden_size, self.output_size, self.num_directions
        for k in range(num_layers):
            layer_in = input_size if k == 0 else D * Hout
            for direction in range(D):
                suffix = f"_l{k}" + ("_reverse" if direction else "")
                setattr(self, "weight_ih" + suffix, empty_parameter((G * H, layer_in)))
                setattr(self, "weight_hh" + suffix, empty_parameter((G * H, Hout)))
                if bias:
                    setattr(self, "bias_ih" + suffix, empty_parameter((G * H,)))
                    setattr(self, "bias_hh" + suffix, empty_parameter((G * H,)))
                if proj_size:
                    setattr(self, "weight_hr" + suffix, empty_parameter((proj_size, H)))
        self.reset_parameters()
        place(self, device, dtype)

    def reset_parameters(self):
        reset_uniform(self, self.hidden_size)

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

    def forward(self, x, hx=None, lengths=None):
        return self._result(*self._forward(x, hx, lengths))

    def unroll(self, x, hx=None, lengths=None, on_step=None):
        """``forward`` as a Python loop over time whatever ``impl`` is: over the cell op for
        impl="cell", else over the composite step (same parameters, same numbers; a fused layer
        has no loop to observe). ``on_step(layer, direction, t, h, c)`` is called with the new
        state of every step (t counts in the order the direction reads the sequence; c is None
        except for the LSTM): call ``h.retain_grad()`` there to read dL/dh_t after backward."""
        return self._result(*self._forward(x, hx, lengths, on_step=on_step or _ignore))

    def step(self, x_t, h, c=None, layer=0, direction=0):
        """One time step of one layer and direction on the raw input x_t (B, layer input) ->
        (h', c' or None): the cell op for impl="cell", else the composite step."""
        params = self.layer_parameters(layer, direction)
        if self.impl == "cell":
            return self._cell(x_t, h, c, params)
        w_ih, w_hh, b_ih, b_hh, w_hr = params
        return self._step(F.linear(x_t, w_ih, b_ih), h, c, w_hh, b_hh, w_hr)

    # ---- the forward pass ----------------------------------------------------------------
    def _forward(self, x, hx, lengths, on_step=None):
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
                observe = None if on_step is None else functools.partial(on_step, layer, direction)
                # backward in time: reverse each sequence, run forward in time, reverse back
                inputs = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
                out, h, c = self._run_direction(layer, direction, inputs, h0s[k], c0s[k], lengths, observe)
                outputs.append(out if direction == 0 else reverse_padded(out, lengths))
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

    def _run_direction(self, layer, direction, x, h0, c0, lengths, on_step=None):
        """One layer, one direction, forward in time (the caller reverses for direction 1).

        x (T, B, I) time-major; h0 (B, Hout); c0 (B, H) for the LSTM, else None; lengths a NumPy
        int array (B,) or None -> (out (T, B, Hout), zero past each length; h_n (B, Hout);
        c_n (B, H) or None), the states at each sequence's last real step."""
        params = self.layer_parameters(layer, direction)
        if x.shape[1] == 0:                 # an empty batch: only the composite path handles zero rows
            return self._run_direction_composite(x, h0, c0, params, lengths, on_step)
        if self.impl == "fused" and on_step is None:
            trace = None if self.trace is None else self.trace.setdefault((layer, direction), {})
            return self._fused(x, h0, c0, params, lengths, trace)
        if self.impl == "cell":
            return unroll(lambda x_t, h, c: self._cell(x_t, h, c, params), x, h0, c0, lengths, on_step)
        return self._run_direction_composite(x, h0, c0, params, lengths, on_step)

    def _run_direction_composite(self, x, h0, c0, params, lengths, on_step=None):
        """BPTT in one screen: the input projections of all steps in one GEMM, then the step
        unrolled over time on this layer's shared Parameters (autograd sums their gradients)."""
        w_ih, w_hh, b_ih, b_hh, w_hr = params
        xw = F.linear(x, w_ih, b_ih)        # (T, B, G*H): input projections of all steps, one GEMM
        step = lambda xw_t, h, c: self._step(xw_t, h, c, w_hh, b_hh, w_hr)  # noqa: E731
        return unroll(step, xw, h0, c0, lengths, on_step)

    def _step(self, xw_t, h, c, w_hh, b_hh, w_hr):
        """One composite step of this network on the precomputed input part xw_t -> (h', c' or None)."""
        raise NotImplementedError

    def _cell(self, x_t, h, c, params):
        """One step as the fused cell op (impl="cell") -> (h', c' or None)."""
        raise NotImplementedError

    def _fused(self, x, h0, c0, params, lengths, trace):
        """The whole sequence as a single fused op (impl="fused") -> (out, h_n, c_n or None)."""
        raise NotImplementedError

    def _result(self, out, h_n, c_n):
        """What ``forward`` returns: (out, h_n), or (out, (h_n, c_n)) for the LSTM."""
        return out, h_n

    # ---- checking what the caller passed -------------------------------------------------
    def _prepare(self, x, hx, lengths):
        """Validate everything before any computation and bring it to the time-major layout:
        x (T, B, I), h0 (L*D, B, Hout), c0 (L*D, B, H) or None, lengths int64 (B,) or None."""
        name = type(self).__name__
        layout = ("(B, T, input_size)" if self.batch_first else "(T, B, input_size)") + \
            " or unbatched (T, input_size)"
        check_rnn_input(self, x, (2, 3), layout)
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
            check_rnn_state(self, state, what, shape, x, symbols)
        # all checked: now bring everything to the time-major batched layout
        if not batched:
            x = x.unsqueeze(1)
            states = [(what, state.unsqueeze(1), size, symbol) for what, state, size, symbol in states]
        elif self.batch_first:
            x = x.transpose(0, 1)
        if hx is None:
            h0 = zeros_like_state((LD, B, self.output_size), x)
            c0 = zeros_like_state((LD, B, self.hidden_size), x) if is_lstm else None
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


class RNN(_RNNBase):
    """Elman RNN over sequences:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh
    or relu, per layer and direction. ``out, h_n = rnn(x, hx=None, lengths=None)``; shapes and
    parameters as in ``_RNNBase`` (G = 1)."""
    _gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, residual=False, impl="fused",
                 checkpoint=0, device=None, dtype=None):
        check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, residual, impl, checkpoint, device, dtype)
        self.nonlinearity = nonlinearity

    def _step(self, xw_t, h, c, w_hh, b_hh, w_hr):
        return rnn_step(xw_t, h, w_hh, b_hh, self.nonlinearity), None

    def _cell(self, x_t, h, c, params):
        return rnn_cell(x_t, h, *params[:4], nonlinearity=self.nonlinearity), None

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

    def _result(self, out, h_n, c_n):
        return out, (h_n, c_n)

    def _step(self, xw_t, h, c, w_hh, b_hh, w_hr):
        return lstm_step(xw_t, h, c, w_hh, b_hh, w_hr)

    def _cell(self, x_t, h, c, params):
        return lstm_cell(x_t, h, c, *params)

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

    def _step(self, xw_t, h, c, w_hh, b_hh, w_hr):
        return gru_step(xw_t, h, w_hh, b_hh), None

    def _cell(self, x_t, h, c, params):
        return gru_cell(x_t, h, *params[:4]), None

    def _fused(self, x, h0, c0, params, lengths, trace):
        y, h_n = rnn_fused.GRULayer.apply(x, h0, *params[:4], lengths=lengths, checkpoint=self.checkpoint,
                                          trace=trace)
        return y, h_n, None
