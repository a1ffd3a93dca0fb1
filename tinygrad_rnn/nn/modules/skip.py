"""Skip connections and variational dropout for deep recurrent stacks.

Stacking many recurrent layers makes the gradient pass through every layer's nonlinearity;
skip paths let it (and the signal) jump over them, so 4-8 layer stacks train (Wu et al. 2016,
GNMT; Zhang et al. 2016, highway LSTMs).

The wrappers take any *sequence layer*: a Module called as

    out, state = layer(x, hx=None, lengths=None)

with x of shape (T, B, input_size), or (B, T, input_size) when the layer is batch_first, and
out of shape (T, B, output_size) / (B, T, output_size), as ``nn.RNN``/``nn.LSTM``/``nn.GRU``.
The wrappers are sequence layers themselves, so they nest and stack. ``lengths`` is passed on
only when it is given (so layers without it work too). Sizes are read from the layer's
``input_size`` attribute and, for torch-style RNNs, from ``hidden_size``, ``proj_size`` and
``bidirectional`` (else from an ``output_size`` attribute); pass them explicitly otherwise.

Note on padding: the skip path adds x at every position, including padded steps past a
sequence's length, where an RNN's output is 0. Mask padded positions in the loss, as always.
"""
from ... import backend
from ..._validation import check_probability
from ...tensor import Tensor, cat
from .container import ModuleList
from .linear import Linear
from .module import Module


def sequence_sizes(layer, input_size=None, output_size=None):
    """(input_size, output_size) of a sequence layer: the feature sizes of x and of out.

    Explicit arguments win. A torch-style RNN (one with ``hidden_size``) gives
    out features = (proj_size or hidden_size) * (2 if bidirectional else 1); other layers are
    asked for ``output_size``."""
    if input_size is None:
        input_size = getattr(layer, "input_size", None)
    if output_size is None and getattr(layer, "hidden_size", None) is not None:
        size = getattr(layer, "proj_size", 0) or layer.hidden_size
        output_size = size * (2 if getattr(layer, "bidirectional", False) else 1)
    if output_size is None:
        output_size = getattr(layer, "output_size", None)
    if input_size is None or output_size is None:
        raise ValueError(f"cannot tell the input and output sizes of {type(layer).__name__}: give it "
                         "input_size/output_size attributes or pass input_size= and output_size=")
    return input_size, output_size


def _call(layer, x, hx, lengths):
    return layer(x, hx) if lengths is None else layer(x, hx, lengths=lengths)


class Residual(Module):
    """Residual connection around a sequence layer (He et al. 2016; GNMT's deep LSTMs).

        out = layer(x) + x            when input_size == output_size
        out = layer(x) + x P^T        otherwise; P: (output_size, input_size), learned, no bias

    x: (T, B, input_size) (or batch_first)  ->  out: (T, B, output_size), state: the layer's.
    The projection ``proj`` exists only when the sizes differ.
    """

    def __init__(self, layer, input_size=None, output_size=None):
        super().__init__()
        self.layer = layer
        self.input_size, self.output_size = sequence_sizes(layer, input_size, output_size)
        self.batch_first = getattr(layer, "batch_first", False)
        self.proj = (Linear(self.input_size, self.output_size, bias=False)
                     if self.input_size != self.output_size else None)

    def forward(self, x, hx=None, lengths=None):
        out, state = _call(self.layer, x, hx, lengths)
        return self.combine(x, out), state

    def combine(self, x, out):
        """The skip path: the layer's output ``out`` plus the (projected) input ``x``."""
        return out + (x if self.proj is None else self.proj(x))

    def extra_repr(self):
        return f"{self.input_size} -> {self.output_size}, projection={self.proj is not None}"


class Highway(Module):
    """Highway connection around a sequence layer (Srivastava et al. 2015): a learned, per-unit
    and per-step choice between the layer's output and its input.

        t   = sigmoid(x W_t^T + b_t)          transform gate, W_t: (size, size), b_t: (size,)
        out = t * layer(x) + (1 - t) * x

    x: (T, B, size) (or batch_first) -> out: same shape; state: the layer's. The layer must keep
    the size (input_size == output_size). ``b_t`` starts at ``gate_bias`` (-1: t ~ 0.27), so a new
    stack starts close to the identity, carrying its input, and learns where to transform it.
    ``size`` is read from the layer (as for Residual) when not given.
    """

    def __init__(self, layer, size=None, gate_bias=-1.0):
        super().__init__()
        input_size, output_size = sequence_sizes(layer, size, size)
        if input_size != output_size:
            raise ValueError(f"Highway needs a layer that keeps the size, got {input_size} -> {output_size}; "
                             "use Residual, which can project")
        self.layer, self.input_size, self.output_size = layer, input_size, output_size
        self.batch_first = getattr(layer, "batch_first", False)
        self.gate = Linear(input_size, input_size)
        self.gate.bias.data[...] = gate_bias

    def forward(self, x, hx=None, lengths=None):
        out, state = _call(self.layer, x, hx, lengths)
        return self.combine(x, out), state

    def combine(self, x, out):
        """The gated mix of the layer's output ``out`` and its input ``x``."""
        t = self.gate(x).sigmoid()
        return t * out + (1 - t) * x

    def extra_repr(self):
        return f"{self.input_size}"


class VariationalDropout(Module):
    """Dropout with one mask per sequence, shared by every time step (Gal & Ghahramani 2016).

        out[t] = x[t] * m / (1 - p),   m ~ Bernoulli(1 - p) of shape (B, F), the same for all t

    x: (T, B, F), mask (1, B, F); with ``batch_first=True`` x: (B, T, F), mask (B, 1, F).
    Ordinary dropout draws a fresh mask at every step; a fixed mask drops the same units for the
    whole sequence, as Gal & Ghahramani's Bayesian reading of dropout asks. Use it on the
    sequences between layers (ResidualStack/HighwayStack's ``dropout``); masking the recurrent
    state h_{t-1} itself needs the mask inside the cell's loop. The identity in eval mode or
    when p == 0.
    """

    def __init__(self, p=0.5, batch_first=False):
        super().__init__()
        check_probability(p)
        self.p, self.batch_first = p, batch_first

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if x.ndim != 3:
            raise ValueError(f"VariationalDropout expects (T, B, F) or (B, T, F) input, got shape {x.shape}")
        time_axis = 1 if self.batch_first else 0
        shape = tuple(1 if i == time_axis else n for i, n in enumerate(x.shape))
        keep = backend.random_uniform(shape, x.device, x.dtype) >= self.p
        mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.p))
        return x * Tensor(mask, device=x.device)          # broadcasts over time

    def extra_repr(self):
        return f"p={self.p}, batch_first={self.batch_first}"


class _SequenceStack(Module):
    """Sequence layers applied one after another, each wrapped by ``wrap`` (Residual or Highway),
    with variational dropout on the input of every layer but the first, on the layer path only
    (the skip path carries x untouched). hx: None or one initial state per layer."""

    def __init__(self, layers, wrap, dropout=0.0, batch_first=None):
        super().__init__()
        layers = list(layers)
        if not layers:
            raise ValueError(f"{type(self).__name__} needs at least one layer")
        self.layers = ModuleList(wrap(layer) for layer in layers)
        self.input_size = self.layers[0].input_size
        self.output_size = self.layers[-1].output_size
        self.batch_first = getattr(layers[0], "batch_first", False) if batch_first is None else batch_first
        self.dropout = VariationalDropout(dropout, self.batch_first)

    def forward(self, x, hx=None, lengths=None):
        hx = [None] * len(self.layers) if hx is None else list(hx)
        if len(hx) != len(self.layers):
            raise ValueError(f"hx has {len(hx)} states for {len(self.layers)} layers")
        states = []
        for k, (block, h) in enumerate(zip(self.layers, hx)):
            out, state = _call(block.layer, x if k == 0 else self.dropout(x), h, lengths)
            x = block.combine(x, out)
            states.append(state)
        return x, states


class ResidualStack(_SequenceStack):
    """Deep stack with a residual connection around every layer (each a ``Residual``):

        x_0 = x,   x_{k+1} = layer_k(D_k(x_k)) + x_k P_k^T    (P_k only where the size changes)
        out = x_L

    D_0 = identity, D_k (k > 0) = variational dropout with probability ``dropout``.
    x: (T, B, input_size) (or batch_first) -> out: (T, B, output size of the last layer);
    returns (out, [final state of each layer]). hx: None or a list of per-layer states.
    """

    def __init__(self, layers, dropout=0.0, batch_first=None):
        super().__init__(layers, Residual, dropout, batch_first)


class HighwayStack(_SequenceStack):
    """Deep stack with a highway connection around every size-keeping layer (each a ``Highway``):

        t_k = sigmoid(x_k W_k^T + b_k),   x_{k+1} = t_k * layer_k(D_k(x_k)) + (1 - t_k) * x_k

    x: (T, B, size) -> out: (T, B, size); returns (out, [final state of each layer]).
    """

    def __init__(self, layers, dropout=0.0, batch_first=None, gate_bias=-1.0):
        super().__init__(layers, lambda layer: Highway(layer, gate_bias=gate_bias), dropout, batch_first)


class DenseStack(Module):
    """Densely connected stack (DenseNet, Huang et al. 2017; Ding et al. 2018 for RNNs): every
    layer sees the original input and the outputs of all layers before it.

        x_0 = x,   y_k = layer_k([x_0, y_0, ..., y_{k-1}])     ([...]: concatenation of features)
        out = y_{L-1}                          (default)
        out = [x_0, y_0, ..., y_{L-1}]         (concat_output=True)

    x: (T, B, I); layer k must take I + sum of the earlier output sizes. out: (T, B, O_last), or
    (T, B, I + sum O_k) with concat_output. Returns (out, [final state of each layer]).
    """

    def __init__(self, layers, concat_output=False):
        super().__init__()
        self.layers = ModuleList(layers)
        if not len(self.layers):
            raise ValueError("DenseStack needs at least one layer")
        self.concat_output = concat_output
        self._check_sizes()

    def _check_sizes(self):
        """When the layers state their sizes, check that each one takes all the features before it."""
        try:
            sizes = [sequence_sizes(layer) for layer in self.layers]
        except ValueError:
            return
        width = sizes[0][0]
        for k, (layer_in, layer_out) in enumerate(sizes):
            if layer_in != width:
                raise ValueError(f"DenseStack layer {k} takes {layer_in} features but receives {width} "
                                 "(the input plus every earlier layer's output)")
            width += layer_out
        self.input_size = sizes[0][0]
        self.output_size = width if self.concat_output else sizes[-1][1]

    def forward(self, x, hx=None, lengths=None):
        hx = [None] * len(self.layers) if hx is None else list(hx)
        if len(hx) != len(self.layers):
            raise ValueError(f"hx has {len(hx)} states for {len(self.layers)} layers")
        features, states = [x], []
        for layer, h in zip(self.layers, hx):
            inp = features[0] if len(features) == 1 else cat(features, axis=-1)
            out, state = _call(layer, inp, h, lengths)
            features.append(out)
            states.append(state)
        return (cat(features, axis=-1) if self.concat_output else features[-1]), states

    def extra_repr(self):
        return f"concat_output={self.concat_output}"


__all__ = ["DenseStack", "Highway", "HighwayStack", "Residual", "ResidualStack", "VariationalDropout",
           "sequence_sizes"]
