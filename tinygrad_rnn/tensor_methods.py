"""Tensor methods under torch's names and signatures: reductions, shapes, ordering.

They live in this mixin, apart from ``tensor.py``, so that file stays the engine (what a Tensor
is, and backward). Every method takes torch's keywords (``dim``, ``keepdim``) and NumPy's
(``axis``, ``keepdims``) alike; each is a few lines over the ops in ``ops/``.
"""
import collections

import numpy as np

from . import backend, dtypes
from .ops import elementwise as E, indexing as I, lookup, loss as N, reduce as R, shape as S

ValuesIndices = collections.namedtuple("values_indices", ["values", "indices"])
_LAST = object()   # "axis not given": softmax and logsumexp then act on the last dim, NumPy's None is all


def dim_arg(dim, axis):
    """torch's ``dim`` or NumPy's ``axis`` (not both); a list becomes a tuple."""
    if axis is not None:
        if dim is not None:
            raise TypeError("give dim or axis, not both")
        dim = axis
    return tuple(dim) if isinstance(dim, list) else dim


def sizes_arg(sizes):
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    return tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else tuple(sizes)


class CompareMethods:
    """Comparisons, logic and integer division: plain results outside the graph (their
    gradient is zero almost everywhere), as in torch."""
    __slots__ = ()

    def _plain(self, other, op):
        other = other._data if hasattr(other, "creator") else other
        return type(self)._wrap(op(self._data, other), None, 0)

    def __lt__(self, other): return self._plain(other, lambda a, b: a < b)
    def __le__(self, other): return self._plain(other, lambda a, b: a <= b)
    def __gt__(self, other): return self._plain(other, lambda a, b: a > b)
    def __ge__(self, other): return self._plain(other, lambda a, b: a >= b)
    def __eq__(self, other): return self._plain(other, lambda a, b: a == b)
    def __ne__(self, other): return self._plain(other, lambda a, b: a != b)
    __hash__ = object.__hash__  # hashed by identity (graph nodes), though == is elementwise
    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__

    def __and__(self, other): return self._plain(other, lambda a, b: a & b)
    def __or__(self, other): return self._plain(other, lambda a, b: a | b)
    def __xor__(self, other): return self._plain(other, lambda a, b: a ^ b)
    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__
    bitwise_and, bitwise_or, bitwise_xor = __and__, __or__, __xor__

    def __invert__(self): return self._plain(None, lambda a, _: ~a)
    bitwise_not = __invert__

    def logical_and(self, other): return self._plain(other, lambda a, b: (a != 0) & (b != 0))
    def logical_or(self, other): return self._plain(other, lambda a, b: (a != 0) | (b != 0))
    def logical_not(self): return self._plain(None, lambda a, _: a == 0)

    def _step(self, op, changes_integers=False):
        """Rounding: zero gradient (torch's); integer and bool tensors keep their dtype and,
        except under sign, their values (NumPy's floor would make them float)."""
        if self.dtype.kind in "iub":
            changes = changes_integers and self.dtype.kind != "b"
            return self._plain(None, lambda a, _: op(a) if changes else a.copy())
        return E.Step.apply(self, fn=op)

    def round(self, *, decimals=0):
        """Round half to even, as torch and NumPy do."""
        return self._step(lambda a: a.round(decimals))

    def floor(self): return self._step(lambda a: backend.array_module(a).floor(a))
    def ceil(self): return self._step(lambda a: backend.array_module(a).ceil(a))
    def trunc(self): return self._step(lambda a: backend.array_module(a).trunc(a))
    def sign(self): return self._step(lambda a: backend.array_module(a).sign(a), changes_integers=True)

    def __floordiv__(self, other): return self._plain(other, lambda a, b: a // b)
    def __rfloordiv__(self, other): return self._plain(other, lambda a, b: b // a)
    def __mod__(self, other): return self._plain(other, lambda a, b: a % b)
    floor_divide, remainder = __floordiv__, __mod__

    def equal(self, other):
        """True when both have the same shape and elements (a Python bool)."""
        return self.shape == other.shape and bool((self._data == other._data).all())

    def any(self, dim=None, keepdim=False):
        return self._plain(None, lambda a, _: a.any(axis=dim, keepdims=keepdim))

    def all(self, dim=None, keepdim=False):
        return self._plain(None, lambda a, _: a.all(axis=dim, keepdims=keepdim))

    def isnan(self): return self._plain(None, lambda a, _: a != a)
    def isinf(self): return self._plain(None, lambda a, _: backend.array_module(a).isinf(a))
    def isfinite(self): return self._plain(None, lambda a, _: backend.array_module(a).isfinite(a))

    def nonzero(self, *, as_tuple=False):
        """Indices of the non-zero elements: an (n, ndim) int64 tensor, or one 1-D tensor per dim."""
        xp = backend.array_module(self._data)
        where = xp.nonzero(self._data)
        if as_tuple:
            return tuple(type(self)._wrap(w.astype(np.int64), None, 0) for w in where)
        return type(self)._wrap(xp.stack(where, axis=1).astype(np.int64), None, 0)

    argwhere = nonzero

    def __index__(self):
        if self.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())


class ReduceMethods:
    """Reductions and orderings; ``max(dim)``/``min(dim)``/``topk``/``sort`` give (values, indices)."""
    __slots__ = ()

    def sum(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=False):
        x = self if dtype is None else self.to(dtype=dtype)
        return R.Sum.apply(x, axis=dim_arg(dim, axis), keepdims=keepdim or keepdims)

    def mean(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=False):
        x = self if dtype is None else self.to(dtype=dtype)
        return R.Mean.apply(x, axis=dim_arg(dim, axis), keepdims=keepdim or keepdims)

    def amax(self, dim=(), keepdim=False, *, axis=None, keepdims=False):
        """Max over ``dim`` (all when empty); tied maxima share the gradient."""
        dim = dim_arg(None if dim == () else dim, axis)
        return R.Max.apply(self, axis=dim, keepdims=keepdim or keepdims)

    def amin(self, dim=(), keepdim=False, *, axis=None, keepdims=False):
        dim = dim_arg(None if dim == () else dim, axis)
        return R.Min.apply(self, axis=dim, keepdims=keepdim or keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """``max()``: the largest element; ``max(dim)``: (values, indices) along ``dim``;
        ``max(other)``: elementwise maximum. A tuple of dims reduces like ``amax``."""
        return self._extreme(dim, keepdim, axis, keepdims, largest=True)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return self._extreme(dim, keepdim, axis, keepdims, largest=False)

    def _extreme(self, dim, keepdim, axis, keepdims, largest):
        if hasattr(dim, "shape") and not isinstance(dim, np.integer):
            return E.maximum(self, dim) if largest else E.minimum(self, dim)
        dim, keep = dim_arg(dim, axis), keepdim or keepdims
        if dim is None or isinstance(dim, tuple):
            return (self.amax if largest else self.amin)(() if dim is None else dim, keep)
        index = (self.argmax if largest else self.argmin)(dim, keepdim=True)
        values = self.gather(dim, index)
        if not keep:
            values, index = values.squeeze(dim), index.squeeze(dim)
        return ValuesIndices(values, index)

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """Index of the largest element (of the flattened tensor when ``dim`` is None); int64."""
        return self._arg(backend.array_module(self._data).argmax, dim_arg(dim, axis), keepdim or keepdims)

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return self._arg(backend.array_module(self._data).argmin, dim_arg(dim, axis), keepdim or keepdims)

    def _arg(self, find, dim, keepdim):
        if self._data.size == 0:
            raise RuntimeError("argmax/argmin of an empty tensor")
        if dim is None:
            out = find(self._data)
            out = out.reshape((1,) * self.ndim) if keepdim else out
        else:
            out = find(self._data, axis=dim, keepdims=keepdim)
        return type(self)._wrap(out.astype(np.int64), None, 0)

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) in ascending order (descending if asked); ties keep their order."""
        order = self.argsort(dim, descending)
        return ValuesIndices(self.gather(dim, order), order)

    def argsort(self, dim=-1, descending=False, stable=False):
        keys = self._data.astype(np.int64) if self.dtype.kind in "bu" else self._data
        order = backend.array_module(keys).argsort(-keys if descending else keys, axis=dim, kind="stable")
        return type(self)._wrap(order.astype(np.int64), None, 0)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """(values, indices) of the ``k`` largest (or smallest) along ``dim``, largest first."""
        n = self.shape[dim] if self.ndim else 1
        if not 0 <= k <= n:
            raise RuntimeError(f"topk: k={k} is out of range for a dimension of size {n}")
        values, order = self.sort(dim, descending=largest)
        return ValuesIndices(values.narrow(dim, 0, k), order.narrow(dim, 0, k))

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False):
        """Variance; ``correction`` (or ``unbiased``) 1 by default, as torch. ``var(False)`` is the
        old positional ``unbiased`` form."""
        if isinstance(dim, bool):
            dim, unbiased = None, dim
        if unbiased is not None and correction is not None:
            raise TypeError("give unbiased or correction, not both")
        correction = (1 if unbiased in (None, True) else 0) if correction is None else correction
        return R.Var.apply(self, axis=dim_arg(dim, axis), keepdims=keepdim or keepdims, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False):
        return self.var(dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims).sqrt()

    def logsumexp(self, dim=-1, keepdim=False, *, axis=_LAST, keepdims=False):
        return N.LogSumExp.apply(self, axis=dim if axis is _LAST else axis, keepdims=keepdim or keepdims)

    def softmax(self, dim=-1, dtype=None, *, axis=_LAST):
        x = self if dtype is None else self.to(dtype=dtype)
        return N.Softmax.apply(x, axis=dim if axis is _LAST else axis)

    def log_softmax(self, dim=-1, dtype=None, *, axis=_LAST):
        x = self if dtype is None else self.to(dtype=dtype)
        return N.LogSoftmax.apply(x, axis=dim if axis is _LAST else axis)

    def cumsum(self, dim, *, dtype=None):
        x = self if dtype is None else self.to(dtype=dtype)
        return I.CumSum.apply(x, axis=dim % max(self.ndim, 1))

    def norm(self, p=2, dim=None, keepdim=False):
        """The p-norm (p=2 or 1) over ``dim`` (everything by default)."""
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p != 2 and p != "fro":
            raise NotImplementedError(f"norm supports p=1 and p=2, got p={p!r}")
        squares = (self * self).sum(dim, keepdim)
        nonzero = squares > 0       # at a zero vector torch's gradient is 0, not sqrt's 0 * inf = NaN
        return E.where(nonzero, E.where(nonzero, squares, 1.0).sqrt(), 0.0)


class ShapeMethods:
    """Views and rearrangements: each is a differentiable op or a composition of them."""
    __slots__ = ()

    def reshape(self, *shape):
        return S.Reshape.apply(self, shape=sizes_arg(shape))

    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)):
            raise TypeError("view(dtype) reinterprets memory in torch and is not supported here; use .to(dtype)")
        return self.reshape(*shape)

    def view_as(self, other):
        return self.reshape(other.shape)

    reshape_as = view_as

    def permute(self, *dims):
        return S.Permute.apply(self, axes=sizes_arg(dims))

    def transpose(self, dim0, dim1):
        """Swap two dims (torch's meaning); ``permute`` reorders them all."""
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return self.permute(*axes)

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, got {self.ndim}")
        return self.transpose(0, 1) if self.ndim == 2 else self

    T = property(lambda self: self.permute(*reversed(range(self.ndim))))
    mT = property(lambda self: self.transpose(-2, -1))

    def contiguous(self, memory_format=None):
        """A no-op kept for torch programs: every op here accepts any array layout."""
        return self

    def expand(self, *sizes):
        return S.Expand.apply(self, shape=sizes_arg(sizes))

    def expand_as(self, other):
        return self.expand(other.shape)

    broadcast_to = expand

    def squeeze(self, dim=None, *, axis=None):
        dim = dim_arg(dim, axis)
        drop = [i for i, n in enumerate(self.shape) if n == 1] if dim is None else \
            [d % self.ndim for d in ((dim,) if isinstance(dim, int) else dim) if self.shape[d] == 1]
        return self.reshape([n for i, n in enumerate(self.shape) if i not in drop])

    def unsqueeze(self, dim=None, *, axis=None):
        dim = dim_arg(dim, axis) % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        if start > end:
            raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(self.shape[:start] + (int(np.prod(self.shape[start:end + 1])),) + self.shape[end + 1:])

    def unflatten(self, dim, sizes):
        dim = dim % self.ndim
        return self.reshape(self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:])

    def narrow(self, dim, start, length):
        """Elements ``start`` .. ``start + length`` of ``dim`` (a view in torch, a slice here)."""
        dim = dim % self.ndim
        size = self.shape[dim]
        start = start + size if start < 0 else start
        if not (0 <= start and length >= 0 and start + length <= size):
            raise IndexError(f"narrow: start {start} and length {length} exceed dimension {dim} of size {size}")
        return self[(slice(None),) * dim + (slice(start, start + length),)]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def unbind(self, dim=0):
        """The slices along ``dim``, as a tuple (each without that dim)."""
        dim = dim % self.ndim
        return tuple(self[(slice(None),) * dim + (i,)] for i in range(self.shape[dim]))

    def split(self, split_size_or_sections, dim=0, *, axis=None):
        from .tensor_functions import split
        return split(self, split_size_or_sections, dim_arg(None if axis is not None else dim, axis))

    def chunk(self, chunks, dim=0, *, axis=None):
        from .tensor_functions import chunk
        return chunk(self, chunks, dim_arg(None if axis is not None else dim, axis))

    def repeat(self, *sizes):
        """Tile the whole tensor ``sizes`` times along each dim (torch's repeat, NumPy's tile)."""
        sizes = sizes_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"repeat: {len(sizes)} sizes for a tensor with {self.ndim} dimensions")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        paired = [v for n in shape for v in (1, n)]
        target = [v for r, n in zip(sizes, shape) for v in (r, n)]
        return self.reshape(paired).expand(target).reshape([r * n for r, n in zip(sizes, shape)])

    def flip(self, dims):
        return S.Flip.apply(self, axes=(dims,) if isinstance(dims, int) else tuple(dims))

    def pad(self, pad_width, value=0.0):
        return S.Pad.apply(self, pad_width=tuple(map(tuple, pad_width)), value=value)

    def gather(self, dim, index):
        index = index._data if hasattr(index, "creator") else index
        return lookup.Gather.apply(self, index, axis=dim)

    def scatter(self, dim, index, src=None, *, value=None, reduce=None):
        """A copy with ``src`` (or ``value``) written at ``index`` along ``dim`` (torch.scatter)."""
        return self._scatter(dim, index, value if src is None else src, add=reduce == "add")

    def scatter_add(self, dim, index, src):
        """A copy with ``src`` added at ``index`` along ``dim``; repeated indices add up."""
        return self._scatter(dim, index, src, add=True)

    def _scatter(self, dim, index, src, add):
        if src is None:
            raise TypeError("scatter needs src (a tensor) or value (a number)")
        index = index._data if hasattr(index, "creator") else index
        if not hasattr(src, "creator"):
            src = type(self)._wrap(backend.array_module(self._data).asarray(src, dtype=self.dtype), None, 0)
        return I.Scatter.apply(self, src.to(dtype=self.dtype), index, axis=dim, add=add)

    def index_select(self, dim, index):
        """The entries ``index`` (a 1-D integer tensor) along ``dim``; repeats allowed."""
        index = index._data if hasattr(index, "creator") else index
        if getattr(index, "ndim", 1) != 1:
            raise IndexError(f"index_select expects a 1-D index, got shape {index.shape}")
        return self[(slice(None),) * (dim % self.ndim) + (index,)]

    def masked_select(self, mask):
        """The elements where ``mask`` (broadcast to this shape) is True, as a 1-D tensor."""
        mask = mask._data if hasattr(mask, "creator") else mask
        return self[backend.array_module(mask).broadcast_to(mask, self.shape)]

    def masked_fill(self, mask, value):
        mask = mask._data if hasattr(mask, "creator") else mask
        if mask.dtype != np.bool_:
            raise TypeError(f"masked_fill: mask must be a bool tensor, got {mask.dtype}")
        if hasattr(value, "creator"):
            value = value.item()
        return I.MaskedFill.apply(self, mask, value=value)

    def tril(self, diagonal=0):
        """Zero above the ``diagonal``-th diagonal of the last two dims."""
        return self._triangle(diagonal, lower=True)

    def triu(self, diagonal=0):
        """Zero below the ``diagonal``-th diagonal of the last two dims."""
        return self._triangle(diagonal, lower=False)

    def _triangle(self, diagonal, lower):
        if self.ndim < 2:
            raise RuntimeError(f"tril/triu need a tensor with at least 2 dimensions, got {self.ndim}")
        xp = backend.array_module(self._data)
        rows, cols = self.shape[-2:]
        keep = (xp.tri(rows, cols, diagonal, dtype=bool) if lower
                else ~xp.tri(rows, cols, diagonal - 1, dtype=bool))
        return I.MaskedFill.apply(self, ~keep, value=0)

    def clone(self, *, memory_format=None):
        return I.Clone.apply(self)

    def clamp(self, min=None, max=None):
        """Clamp to [min, max]; ``clip`` is the same."""
        return E.clip(self, min, max)

    clip = clamp

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def type_as(self, other):
        return self.to(dtype=other.dtype)

    def is_floating_point(self):
        return dtypes.is_floating_point(self)

    def dim(self):
        return self.ndim

    ndimension = dim

    def nelement(self):
        return self.numel()
