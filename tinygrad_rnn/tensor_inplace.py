"""Tensor methods that write into a tensor (``x[i] = v``, ``add_``, ``fill_``, ``uniform_``, ...)
or make a new one like it (``new_zeros``, ``new_tensor``), under torch's names.

A write outside graph recording goes straight into the array, as optimizers and ``nn.init``
need. A write that must be differentiated (the tensor or the value requires grad, and grad mode
is on) goes through ``Tensor._record_inplace``, which makes the tensor the output of an op on
its previous value; see there how earlier users of the old value keep their gradients.
"""
import numpy as np

from . import backend, dtypes, function
from .data_array import Fill
from .ops import indexing as I


class InPlaceMethods(Fill):
    __slots__ = ()

    def __setitem__(self, index, value):
        """``x[index] = value``: differentiable with respect to ``value`` and to the elements
        of ``x`` that are not overwritten, as in torch."""
        from .tensor import Tensor, raw_index
        index = raw_index(index, self.device)
        recorded = function.is_grad_enabled() and (
            self.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
        if not recorded:
            self._write(index, value._data if isinstance(value, Tensor) else value)
            return
        if not isinstance(value, Tensor):
            value = Tensor(backend.to_device(np.asarray(value), backend.device_of(self._data)), dtype=self.dtype)
        elif value.dtype != self.dtype:
            value = value.to(dtype=self.dtype)
        self._record_inplace(lambda old: I.SetItem.apply(old, value, index=index))

    def _write(self, index, value):
        """Plain write, no graph. A tensor in a graph gets a fresh array, so arrays that the
        graph saved for backward stay as they were."""
        if not hasattr(value, "shape") or backend.device_of(value) != backend.device_of(self._data):
            value = backend.to_device(np.asarray(value), backend.device_of(self._data))
        if self.creator is not None:
            self._data = self._data.copy()
        try:
            self._data[index] = value
        except (IndexError, ValueError) as error:
            raise type(error)(f"cannot assign a value of shape {np.shape(value)} to index {index!r} "
                              f"of a tensor of shape {self.shape}: {error}") from None

    def _update(self, op, other):
        """``self = op(self, other)`` in place, keeping self's dtype (torch refuses a result
        that cannot be cast back, such as a float added into an int tensor)."""
        from .tensor import Tensor
        result_dtype = dtypes.result_type(self, other)
        if not np.can_cast(result_dtype, self.dtype, "same_kind"):
            raise RuntimeError(f"result type {result_dtype} can't be cast to the desired output type {self.dtype}")
        if function.is_grad_enabled() and (self.requires_grad or getattr(other, "requires_grad", False)):
            return self._record_inplace(lambda old: op(old, other).to(dtype=self.dtype))
        with function.no_grad():
            result = op(Tensor._wrap(self._data, None, 0), other)
        self._write(Ellipsis, result._data)
        return self

    def add_(self, other, *, alpha=1):
        return self._update(lambda a, b: a + (b if alpha == 1 else b * alpha), other)

    def sub_(self, other, *, alpha=1):
        return self._update(lambda a, b: a - (b if alpha == 1 else b * alpha), other)

    def mul_(self, other):
        return self._update(lambda a, b: a * b, other)

    def div_(self, other):
        return self._update(lambda a, b: a / b, other)

    def clamp_(self, min=None, max=None):
        return self._update(lambda a, _: a.clamp(min, max), 0)

    def exp_(self): return self._update(lambda a, _: a.exp(), 0)
    def log_(self): return self._update(lambda a, _: a.log(), 0)
    def sqrt_(self): return self._update(lambda a, _: a.sqrt(), 0)
    def abs_(self): return self._update(lambda a, _: a.abs(), 0)
    def neg_(self): return self._update(lambda a, _: -a, 0)
    def tanh_(self): return self._update(lambda a, _: a.tanh(), 0)
    def sigmoid_(self): return self._update(lambda a, _: a.sigmoid(), 0)
    def relu_(self): return self._update(lambda a, _: a.relu(), 0)
    def pow_(self, exponent): return self._update(lambda a, b: a ** b, exponent)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        return self._update(lambda a, _: a.scatter(dim, index, src, value=value, reduce=reduce), 0)

    def scatter_add_(self, dim, index, src):
        return self._update(lambda a, _: a.scatter_add(dim, index, src), 0)

    def masked_fill_(self, mask, value):
        return self._update(lambda a, _: a.masked_fill(mask, value), 0)

    def copy_(self, src, non_blocking=False):
        """Copy ``src`` (broadcast to this shape) into this tensor, keeping its dtype and device."""
        self[...] = src
        return self

    def fill_(self, value):
        self[...] = value.item() if hasattr(value, "item") and hasattr(value, "creator") else value
        return self

    def detach_(self):
        """Cut this tensor from its graph, in place: it becomes a leaf without gradient."""
        self.creator, self.index, self.requires_grad = None, 0, False
        return self

    # ---- new tensors like this one (same dtype and device unless told) -----------------------
    def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
        from .creation import tensor
        return tensor(data, dtype=dtypes.to_dtype(dtype) or self.dtype, device=device or self.device,
                      requires_grad=requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        from .creation import full
        return full(tuple(size), fill_value, dtype=dtypes.to_dtype(dtype) or self.dtype,
                    device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        from .tensor_methods import sizes_arg
        return self.new_full(sizes_arg(size), 0, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        from .tensor_methods import sizes_arg
        return self.new_full(sizes_arg(size), 1, dtype=dtype, device=device, requires_grad=requires_grad)

    new_empty = new_zeros
