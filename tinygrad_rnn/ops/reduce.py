"""Reductions over axes (``axis=None`` means all), with ``keepdims`` as in NumPy.

Every backward is "spread the output gradient back over the reduced axes", done by
``expand_to`` once for all of them.
"""
import numpy as np

from ..backend import array_module
from ..function import Function


def normalize_axes(axis, ndim):
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def expand_to(g, shape, axes, keepdims):
    """Broadcast a reduced gradient back to ``shape``."""
    xp = array_module(g)
    if not keepdims and shape:
        g = xp.expand_dims(g, axes)
    return xp.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        return a.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return expand_to(g, self.shape, self.axes, self.keepdims)


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        self.count = 1
        for ax in self.axes:
            self.count *= a.shape[ax]
        return a.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return expand_to(g / self.count, self.shape, self.axes, self.keepdims)


class Max(Function):
    """Max over axes; tied maxima share the gradient equally (a subgradient, as torch.amax)."""

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        if a.size == 0:
            raise ValueError("max/min of an empty tensor is undefined")
        out = a.max(axis=self.axes, keepdims=True)
        hit = a == out
        self.save_for_backward(hit / hit.sum(axis=self.axes, keepdims=True))
        return out if keepdims else out.reshape([n for i, n in enumerate(a.shape) if i not in self.axes])

    def backward(self, g):
        (share,) = self.saved
        return expand_to(g, self.shape, self.axes, self.keepdims) * share.astype(g.dtype, copy=False)


class Min(Max):
    def forward(self, a, axis=None, keepdims=False):
        return -Max.forward(self, -a, axis=axis, keepdims=keepdims)


class Var(Function):
    """Variance with Bessel's ``correction`` (1 = unbiased, PyTorch's default). With no
    degrees of freedom left (count <= correction) the divisor is 0 and, as in PyTorch, the
    result is inf or nan (0 / 0), not an exception."""

    def forward(self, a, axis=None, keepdims=False, correction=1):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        count = 1
        for ax in self.axes:
            count *= a.shape[ax]
        centered = a - a.mean(axis=self.axes, keepdims=True)
        self.save_for_backward(centered)
        self.denominator = centered.dtype.type(max(count - correction, 0))  # x / 0 is inf, not an error
        with np.errstate(divide="ignore", invalid="ignore"):
            return (centered ** 2).sum(axis=self.axes, keepdims=keepdims) / self.denominator

    def backward(self, g):
        (centered,) = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return expand_to(g, self.shape, self.axes, self.keepdims) * (2 * centered / self.denominator)
