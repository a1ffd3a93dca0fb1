"""Ops that torch programs use to edit and order tensors: assignment into a tensor (``x[i] = v``),
masked_fill, cumsum, clone. Each backward routes the gradient to the elements that survived."""
from ..backend import array_module
from ..function import Function, unbroadcast


class Clone(Function):
    """A copy with its own memory; the gradient passes through unchanged."""

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


class SetItem(Function):
    """``out = a`` with ``out[index] = value``: the written elements take their gradient from
    ``value`` (summed where ``value`` was broadcast), the rest from ``a``. ``a`` is copied, so
    arrays that earlier ops saved for their backward are untouched."""

    def forward(self, a, value, index):
        self.index, self.value_shape = index, value.shape
        out = a.copy()
        try:
            out[index] = value
        except (IndexError, ValueError) as error:
            raise type(error)(f"cannot assign a value of shape {value.shape} to index {index!r} "
                              f"of a tensor of shape {a.shape}: {error}") from None
        return out

    def backward(self, g):
        ga = gv = None
        if self.needs_input_grad[0]:
            ga = g.copy()
            ga[self.index] = 0
        if self.needs_input_grad[1]:
            picked = g[self.index]
            gv = unbroadcast(picked, self.value_shape) if picked.shape != self.value_shape else picked
        return ga, gv


class MaskedFill(Function):
    """``value`` where ``mask`` is True (mask broadcasts to ``a``); the gradient flows elsewhere."""

    def forward(self, a, mask, value=0.0):
        xp = array_module(a)
        self.keep = ~xp.broadcast_to(mask, a.shape)
        return xp.where(self.keep, a, xp.asarray(value, dtype=a.dtype))

    def backward(self, g):
        return g * self.keep, None


class CumSum(Function):
    """Running sum along ``axis``; each input element feeds every later output, so its
    gradient is the reversed running sum of the output gradient."""

    def forward(self, a, axis):
        self.axis = axis
        return array_module(a).cumsum(a, axis=axis)

    def backward(self, g):
        xp = array_module(g)
        return xp.flip(xp.cumsum(xp.flip(g, self.axis), axis=self.axis), self.axis)


def _scatter_where(xp, index, axis):
    """The full index tuple that puts element ``i`` of ``index`` at ``index[i]`` along ``axis``."""
    where = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
    where[axis] = index
    return tuple(where)


class Scatter(Function):
    """``out = a`` with ``out[..., index[i], ...] = src[i]`` along ``axis`` (torch.scatter), or
    added there with ``add=True`` (scatter_add). ``src`` may be larger than ``index``; only the
    part ``index`` covers is used, as in torch."""

    def forward(self, a, src, index, axis, add=False):
        if index.dtype.kind not in "iu":
            raise TypeError(f"scatter index must be an integer tensor, got dtype {index.dtype}")
        if index.ndim != a.ndim:
            raise ValueError(f"scatter: index of shape {index.shape} needs {a.ndim} dimensions")
        xp = array_module(a)
        self.where, self.add, self.src_shape = _scatter_where(xp, index, axis % a.ndim), add, src.shape
        window = tuple(slice(0, n) for n in index.shape)
        part = xp.broadcast_to(src, index.shape) if src.ndim == 0 else src[window]
        out = a.copy()
        if add:
            xp.add.at(out, self.where, part)
        else:
            out[self.where] = part
        return out

    def backward(self, g):
        xp = array_module(g)
        ga = gs = None
        if self.needs_input_grad[0]:
            ga = g.copy()
            if not self.add:
                ga[self.where] = 0
        if self.needs_input_grad[1]:
            picked = g[self.where]                      # one gradient per index entry
            if not self.src_shape:
                gs = picked.sum()
            else:
                gs = xp.zeros(self.src_shape, dtype=g.dtype)
                gs[tuple(slice(0, n) for n in picked.shape)] = picked
        return ga, gs
