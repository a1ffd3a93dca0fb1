"""Tensor methods that move a tensor between devices and dtypes, or out to Python and NumPy.

A mixin of ``Tensor`` (kept apart so ``tensor.py`` stays the engine). ``to`` is differentiable:
``ToDevice`` and ``Cast`` below are ops whose backward moves the gradient back.
"""
import numpy as np

from . import backend, dtypes
from .device import device as _device
from .function import Function

_TYPE_NAMES = {np.float32: "FloatTensor", np.float64: "DoubleTensor", np.float16: "HalfTensor",
               np.int64: "LongTensor", np.int32: "IntTensor", np.int16: "ShortTensor",
               np.int8: "CharTensor", np.uint8: "ByteTensor", np.bool_: "BoolTensor"}


class ConvertMethods:
    __slots__ = ()

    def numpy(self):
        """The data as a NumPy array (a copy for CUDA tensors; the same memory on the CPU)."""
        return backend.to_numpy(self._data)

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self._data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)``: a copy
        on that device / of that dtype (self when nothing changes, unless ``copy``).
        Differentiable, so it can sit inside a graph."""
        for arg in args:
            if hasattr(arg, "creator"):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, (str, _device)):
                device = arg
            else:
                dtype = arg
        dtype = dtypes.to_dtype(dtype)
        out = self.clone() if copy else self
        if device is not None and backend.check_device(device) != self.device:
            out = ToDevice.apply(out, device=backend.check_device(device))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            dtype = np.dtype(dtype)
            out = Cast.apply(out, dtype=dtype) if dtype.kind == "f" else type(self)._wrap(out._data.astype(dtype), None, 0)
        return out

    def long(self):
        return self.to(dtype=np.int64)

    def int(self):
        return self.to(dtype=np.int32)

    def bool(self):
        return self.to(dtype=np.bool_)

    def half(self):
        return self.to(dtype=np.float16)

    def type(self, dtype=None):
        """``type()``: the torch-style type name; ``type(dtype)``: the tensor in that dtype."""
        if dtype is None:
            return f"tinygrad_rnn.{_TYPE_NAMES.get(self.dtype.type, str(self.dtype))}"
        return self.to(dtype=dtype)


class ToDevice(Function):
    """Copy between devices; the gradient is copied back."""

    def forward(self, a, device):
        self.source = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, g):
        return backend.to_device(g, self.source)


class Cast(Function):
    def forward(self, a, dtype):
        self.source = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.source)
