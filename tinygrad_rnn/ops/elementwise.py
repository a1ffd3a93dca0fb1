"""Elementwise ops: each forward is one array expression, its backward the derivative beside it.

Binary ops broadcast like NumPy; ``unbroadcast`` sums each gradient back to its input's shape.
"""
from .. import backend
from ..backend import array_module
from .._validation import check_probability
from ..function import Function, unbroadcast


class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        ga = unbroadcast(g * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        ga = unbroadcast(g / b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """a ** b. d/da = b a^(b-1) (0 where b == 0, also at a == 0); d/db = a^b log(a), only
    computed when b needs a gradient (0 at a == 0, where a^b is 0 or 1 for b >= 0)."""

    def forward(self, a, b):
        out = a ** b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        xp = array_module(a)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g * b * a ** xp.where(b == 0, 1, b - 1), a.shape)  # b == 0: 0 * a, not 0 * inf
        if self.needs_input_grad[1]:
            gb = unbroadcast(g * out * xp.log(xp.where(a == 0, 1, a)), b.shape)
        return ga, gb


class Exp(Function):
    def forward(self, a):
        out = array_module(a).exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * out


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return array_module(a).log(a)

    def backward(self, g):
        (a,) = self.saved
        return g / a


class Sqrt(Function):
    def forward(self, a):
        out = array_module(a).sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g / (2 * out)


class Abs(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return array_module(a).abs(a)

    def backward(self, g):
        (a,) = self.saved
        return g * array_module(g).sign(a)


class Tanh(Function):
    def forward(self, a):
        out = array_module(a).tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * (1 - out * out)


def stable_sigmoid(xp, a):
    """1 / (1 + e^-a) without overflow: exp is only ever taken of -|a|. The one sigmoid of
    the array level (``Sigmoid``, ``BCEWithLogits``); the fused RNN kernels compute the same
    function in place as 0.5 * (1 + tanh(a / 2)) (``rnn_kernels.sigmoid_``)."""
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    def forward(self, a):
        out = stable_sigmoid(array_module(a), a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * out * (1 - out)


class Relu(Function):
    def forward(self, a):
        self.save_for_backward(a > 0)
        return array_module(a).maximum(a, 0)

    def backward(self, g):
        (positive,) = self.saved
        return g * positive


class Maximum(Function):
    """Elementwise max; on a tie each input gets half of the gradient (as PyTorch does)."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        self.save_for_backward((a > b) + 0.5 * (a == b))
        return array_module(a).maximum(a, b)

    def backward(self, g):
        (share_a,) = self.saved
        share_a = share_a.astype(g.dtype, copy=False)
        return unbroadcast(g * share_a, self.shapes[0]), unbroadcast(g * (1 - share_a), self.shapes[1])


class Minimum(Maximum):
    """Elementwise min; on a tie each input gets half of the gradient. Backward as Maximum's."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        self.save_for_backward((a < b) + 0.5 * (a == b))
        return array_module(a).minimum(a, b)


class Clip(Function):
    """Clamp to [low, high]; the gradient passes where the input lies inside (bounds included)."""

    def forward(self, a, low=None, high=None):
        xp = array_module(a)
        inside = xp.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        self.save_for_backward(inside)
        return xp.clip(a, low, high).astype(a.dtype, copy=False)

    def backward(self, g):
        (inside,) = self.saved
        return g * inside


class Step(Function):
    """A piecewise-constant map (round, floor, ceil, trunc, sign): its gradient is zero
    everywhere it exists, and torch passes zero there too (the output still requires grad)."""

    def forward(self, a, fn=None):
        return fn(a)

    def backward(self, g):
        return array_module(g).zeros_like(g)


class Where(Function):
    """cond ? a : b. ``cond`` is a constant (boolean) input and gets no gradient."""

    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        self.shapes = a.shape, b.shape
        return array_module(a).where(cond, a, b)

    def backward(self, g):
        (cond,) = self.saved
        zero = g.dtype.type(0)
        xp = array_module(g)
        return (None, unbroadcast(xp.where(cond, g, zero), self.shapes[0]),
                unbroadcast(xp.where(cond, zero, g), self.shapes[1]))


def where(cond, a, b):
    """cond ? a : b. Either side may be a Python number (a constant of the other side's
    dtype); with both numbers, ``a`` becomes a Tensor of the default dtype."""
    from ..tensor import Tensor
    cond = _as_bool(cond.data if isinstance(cond, Tensor) else cond)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(a)
    return Where.apply(cond, a, b)


def _as_bool(cond):
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {cond.dtype}")
    return cond


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


def clip(a, low=None, high=None):
    return Clip.apply(a, low=low, high=high)


class InvertedDropout(Function):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p),
    so evaluation needs no rescaling. The mask is saved for backward."""

    def forward(self, a, p=0.5):
        check_probability(p)
        keep = backend.random_uniform(a.shape, backend.device_of(a), a.dtype) >= p
        mask = keep * a.dtype.type(1 / (1 - p))
        self.save_for_backward(mask)
        return a * mask

    def backward(self, g):
        (mask,) = self.saved
        return g * mask
