"""Functions that make new tensors, with torch's signatures. Random numbers come from one
seedable NumPy generator (``manual_seed``), drawn on the CPU and moved, so a seed gives the same
numbers on every device. ``generator=`` is accepted and ignored (there is one generator)."""
import numpy as np

from . import backend, dtypes
from .tensor import Tensor


def _make(array, dtype, device, requires_grad):
    dtype = dtypes.to_dtype(dtype) or dtypes.DEFAULT_FLOAT
    return Tensor(array.astype(dtype, copy=False), requires_grad=requires_grad, device=device)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"sizes must be ints, got {shape!r}")
    return shape


def _plain(data):
    """Nested lists that hold Tensors (e.g. of 0-d tensors) as plain values."""
    if isinstance(data, Tensor):
        return backend.to_numpy(data.data)
    if isinstance(data, (list, tuple)):
        return [_plain(d) for d in data]
    return data


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor from a number, a nested list or an array (always a copy). Python floats
    give float32, ints int64, bools bool (torch's defaults); arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data.copy()
    elif hasattr(data, "copy") and hasattr(data, "dtype"):
        data = data.copy()
    else:
        data = _plain(data)
        if isinstance(data, int) and not isinstance(data, bool):
            data = np.asarray(data)        # a value (Tensor(3) would be a shape)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """Filled with ``fill_value``; the dtype follows it when not given (float32, int64, bool)."""
    if dtype is None:
        dtype = dtypes.result_type(fill_value) if not hasattr(fill_value, "shape") else fill_value.dtype
    xp = backend.xp_for(device)
    return Tensor(xp.full(_shape(tuple(size) if isinstance(size, (tuple, list)) else (size,)), fill_value,
                          dtype=dtypes.to_dtype(dtype)), requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return full(_shape(size), 0, dtype=dtype or dtypes.DEFAULT_FLOAT, device=device, requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return full(_shape(size), 1, dtype=dtype or dtypes.DEFAULT_FLOAT, device=device, requires_grad=requires_grad)


empty = zeros   # torch leaves the memory uninitialised; zeros is one valid such memory


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return _make(np.eye(n, m), dtype, device, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    return _make(np.linspace(start, end, steps), dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal numbers."""
    return _make(backend.rng().standard_normal(_shape(size)), dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform numbers in [0, 1)."""
    return _make(backend.rng().random(_shape(size)), dtype, device, requires_grad)


def randint(*args, size=None, dtype=np.int64, device=None, generator=None, requires_grad=False):
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high)."""
    if size is None:
        *bounds, size = args
    else:
        bounds = list(args)
    low, high = (0, *bounds) if len(bounds) == 1 else bounds
    return Tensor(backend.rng().integers(low, high, size=tuple(size)), dtype=dtypes.to_dtype(dtype), device=device)


def randperm(n, *, dtype=np.int64, device=None, generator=None):
    return Tensor(backend.rng().permutation(n), dtype=dtypes.to_dtype(dtype), device=device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """As torch.arange: int64 for int arguments, float32 when any is a float."""
    array = np.arange(start, end, step) if end is not None else np.arange(start)
    if dtype is None:
        dtype = dtypes.DEFAULT_FLOAT if array.dtype.kind == "f" else np.int64
    return Tensor(array, dtype=dtypes.to_dtype(dtype), device=device, requires_grad=requires_grad)


def _like(make, x, dtype, device, requires_grad, *args):
    return make(*args, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    return _like(full, input, dtype, device, requires_grad, input.shape, 0)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    return _like(full, input, dtype, device, requires_grad, input.shape, 1)


empty_like = zeros_like


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    return _like(full, input, dtype, device, requires_grad, input.shape, fill_value)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    return _like(randn, input, dtype, device, requires_grad, input.shape)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    return _like(rand, input, dtype, device, requires_grad, input.shape)
