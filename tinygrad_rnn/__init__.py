"""tinygrad_rnn: a small tensor + reverse-mode autograd engine, and recurrent networks on it.

    import tinygrad_rnn as tg
    x = tg.randn(3, 4, requires_grad=True)
    (x.tanh() ** 2).sum().backward()
    x.grad            # d/dx of the sum

The top level carries torch's names (``tg.device``, ``tg.float32``, ``tg.save``, ``tg.no_grad``,
``tg.cat``, ``tg.exp`` ...), so a torch program can run with ``import tinygrad_rnn as torch``.
"""
from .backend import cuda_available, default_device, manual_seed, set_default_device
from .creation import (arange, empty, empty_like, eye, full, full_like, linspace, ones, ones_like, rand,
                       rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like)
from .device import device
from .generator import Generator
from .dtypes import get_default_dtype, result_type
from .function import Function, is_grad_enabled
from .grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled
from .ops.elementwise import where
from .serialization import load, save
from .tensor import Tensor
from .tensor_functions import *  # noqa: F401,F403  (tg.cat, tg.exp, tg.max, tg.from_numpy, ...)

from . import accelerator, autograd, backends, cuda, distributions, dtypes as _dtypes, nn, onnx, optim, serialization, utils
from .backends import get_num_threads, set_num_threads

__version__ = "0.1.0"

globals().update(_dtypes.NAMES)   # tg.float32, tg.float, tg.long, tg.bool, ... (NumPy types)
bool_ = _dtypes.NAMES["bool"]


def __getattr__(name):
    if name in _dtypes.UNSUPPORTED:
        raise _dtypes.unsupported(name)
    raise AttributeError(f"module 'tinygrad_rnn' has no attribute {name!r}")
