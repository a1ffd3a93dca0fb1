"""What ``tensor.data`` returns on the CPU: the tensor's own memory, as a NumPy array that also
has torch's in-place methods.

torch programs update weights through ``.data`` outside autograd (``p.data.add_(p.grad,
alpha=-lr)``, ``p.data.copy_(w)``, ``m.weight.data.uniform_(-0.1, 0.1)``). A Tensor keeps a plain
array (``_data``) for its ops; ``.data`` hands out a view of it as ``DataArray``, so NumPy code
sees an ordinary array and torch code finds the methods, and both write into the tensor. CUDA
tensors give their CuPy array as it is (without these methods).

Reads that torch programs make on ``.data`` (``out.data.topk(1)``, ``out.data.max(1)[1]``,
``x.data.view(-1)``, ``x.data.float()``) are answered by a grad-free Tensor over the same
memory. Where NumPy has a method of the same name with another meaning (``max(1)`` gives values
only, ``std()`` divides by n, ``view(-1)`` reads a dtype), a call in torch's form gets torch's
answer and a call in NumPy's keyword form (``axis=``, ``out=``, ``ddof=``...) NumPy's, so both
kinds of caller stay right.
"""
import inspect

import numpy as np

from . import backend


def _array(value):
    """A Tensor, DataArray, array or number as something NumPy can combine."""
    return value._data if hasattr(value, "_data") else value


class _CountAndSize(int):
    """``.data.size``: NumPy's element count, which called as torch's ``size(dim)`` gives the
    shape or one of its sizes."""

    def __new__(cls, shape):
        count = super().__new__(cls, int(np.prod(shape, dtype=np.int64)))
        count.shape = shape
        return count

    def __call__(self, dim=None):
        return self.shape if dim is None else self.shape[dim]


_NUMPY_KEYWORDS = {"axis", "out", "keepdims", "ddof", "dtype", "initial", "where"}


class Fill:
    """``zero_``, ``uniform_``, ``normal_`` in place, for anything with ``fill_``, ``shape`` and
    ``self[...] = values``: the raw array (``x.data``) and the Tensor share them."""
    __slots__ = ()           # keeps Tensor free of a per-instance __dict__

    def zero_(self):
        return self.fill_(0)

    def uniform_(self, a=0.0, b=1.0):
        self[...] = backend.rng().uniform(a, b, self.shape)
        return self

    def normal_(self, mean=0.0, std=1.0):
        self[...] = backend.rng().normal(mean, std, self.shape)
        return self


class DataArray(Fill, np.ndarray):
    """An ndarray view with torch's in-place methods; each writes into the viewed memory and
    returns this array, as torch's do."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        """NumPy arithmetic on ``.data`` gives plain arrays (writes through ``out`` still land
        here), so the torch-form methods never reach NumPy code computing from ``.data``."""
        if out is not None:
            kwargs["out"] = tuple(plain(o) for o in out)
        result = getattr(ufunc, method)(*(plain(x) for x in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result

    def astype(self, dtype, *args, **kwargs):
        return np.ndarray.astype(self.view(np.ndarray), dtype, *args, **kwargs)

    def _tensor(self):
        """A Tensor outside the graph sharing this memory."""
        from .tensor import Tensor
        return Tensor._wrap(self.view(np.ndarray), None, 0)

    def __getattr__(self, name):
        """A torch method NumPy lacks (``topk``, ``float``, ``eq``...) runs on the Tensor.
        Only methods: attributes such as ``creator`` stay absent, so code that asks
        ``hasattr(x, "creator")`` still sees an array, not a Tensor."""
        from .tensor import Tensor
        if name.startswith("_") or not inspect.isfunction(getattr(Tensor, name, None)):
            raise AttributeError(f"'DataArray' object has no attribute {name!r}")
        return getattr(self._tensor(), name)

    def _torch_or_numpy(self, name, args, kwargs):
        if _NUMPY_KEYWORDS.intersection(kwargs):
            return getattr(np.ndarray, name)(self, *args, **kwargs)
        return getattr(self._tensor(), name)(*args, **kwargs)

    size = property(lambda self: _CountAndSize(self.shape))

    def max(self, *args, **kwargs):
        return self._torch_or_numpy("max", args, kwargs)

    def min(self, *args, **kwargs):
        return self._torch_or_numpy("min", args, kwargs)

    def std(self, *args, **kwargs):
        return self._torch_or_numpy("std", args, kwargs)

    def var(self, *args, **kwargs):
        return self._torch_or_numpy("var", args, kwargs)

    def view(self, *args, **kwargs):
        """``view(-1)`` / ``view(2, 3)`` reshape as torch's; ``view(dtype or type)`` is NumPy's."""
        if args and all(isinstance(a, (int, np.integer, tuple, list)) for a in args) and not kwargs:
            return self._tensor().view(*args)
        return np.ndarray.view(self, *args, **kwargs)

    def add_(self, other, *args, alpha=1):
        if args:                      # the old form add_(alpha, other)
            alpha, other = other, args[0]
        self += _array(other) * alpha if alpha != 1 else _array(other)
        return self

    def sub_(self, other, *, alpha=1):
        return self.add_(other, alpha=-alpha)

    def mul_(self, other):
        self *= _array(other)
        return self

    def div_(self, other):
        self /= _array(other)
        return self

    def copy_(self, src, non_blocking=False):
        self[...] = backend.to_numpy(_array(src))
        return self

    def fill_(self, value):
        self[...] = _array(value)
        return self

    def clamp_(self, min=None, max=None):
        np.clip(self, min, max, out=self)
        return self

    def numpy(self):
        return self.view(np.ndarray)

    def cpu(self):
        return self

    def clone(self):
        return np.array(self).view(DataArray)

    def detach(self):
        return self

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.size)

    def norm(self, p=2):
        """The p-norm of all elements, as a 0-d array (``.item()`` gives the number)."""
        plain = self.view(np.ndarray)
        return np.asarray(np.sum(np.abs(plain) ** p) ** (1 / p)).view(DataArray)


def as_data(array):
    """The view ``tensor.data`` returns (CuPy arrays as they are)."""
    return array.view(DataArray) if type(array) is np.ndarray else array


def plain(array):
    """The array a Tensor stores: a DataArray handed back becomes a plain ndarray view."""
    return array.view(np.ndarray) if type(array) is DataArray else array
