"""tinygrad_rnn: a small tensor + reverse-mode autograd engine, and recurrent networks on it.

    import tinygrad_rnn as tg
    x = tg.randn(3, 4, requires_grad=True)
    (x.tanh() ** 2).sum().backward()
    x.grad            # d/dx of the sum
"""
from .backend import cuda_available, default_device, manual_seed, set_default_device
from .creation import (arange, full, full_like, ones, ones_like, rand, rand_like, randint, randn,
                       randn_like, tensor, zeros, zeros_like)
from .function import Function, enable_grad, is_grad_enabled, no_grad
from .ops.elementwise import clip, maximum, minimum, where
from .tensor import Tensor, bool_, cat, chunk, float32, float64, int32, int64, split, stack

from . import nn, optim

__version__ = "0.1.0"


def gather(x, axis, index):
    return x.gather(axis, index)
