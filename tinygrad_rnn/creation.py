"""Functions that make new tensors. Random numbers come from one seedable NumPy generator
(``manual_seed``), drawn on the CPU and moved, so a seed gives the same numbers on every device."""
import numpy as np

from . import backend
from .tensor import Tensor


def _make(array, dtype, device, requires_grad):
    return Tensor(array if dtype is None else array.astype(dtype, copy=False),
                  requires_grad=requires_grad, device=device)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor from a number, a nested list or an array (copied)."""
    if isinstance(data, Tensor):
        data = data.data.copy()
    elif hasattr(data, "copy") and hasattr(data, "dtype"):
        data = data.copy()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def full(shape, value, dtype=np.float32, device=None, requires_grad=False):
    xp = backend.xp_for(device)
    return Tensor(xp.full(shape, value, dtype=dtype), requires_grad=requires_grad)


def zeros(*shape, dtype=np.float32, device=None, requires_grad=False):
    return full(_shape(shape), 0, dtype, device, requires_grad)


def ones(*shape, dtype=np.float32, device=None, requires_grad=False):
    return full(_shape(shape), 1, dtype, device, requires_grad)


def randn(*shape, dtype=np.float32, device=None, requires_grad=False):
    """Standard normal numbers."""
    return _make(backend.rng().standard_normal(_shape(shape)), dtype, device, requires_grad)


def rand(*shape, dtype=np.float32, device=None, requires_grad=False):
    """Uniform numbers in [0, 1)."""
    return _make(backend.rng().random(_shape(shape)), dtype, device, requires_grad)


def randint(low, high, shape, dtype=np.int64, device=None):
    return _make(backend.rng().integers(low, high, size=shape), dtype, device, False)


def arange(start, stop=None, step=1, dtype=None, device=None):
    array = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and array.dtype == np.float64:
        dtype = np.float32
    return _make(array, dtype, device, False)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return full(x.shape, 0, dtype or x.dtype, device or x.device, requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return full(x.shape, 1, dtype or x.dtype, device or x.device, requires_grad)


def full_like(x, value, dtype=None, device=None, requires_grad=False):
    return full(x.shape, value, dtype or x.dtype, device or x.device, requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False):
    return randn(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def rand_like(x, dtype=None, device=None, requires_grad=False):
    return rand(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)
