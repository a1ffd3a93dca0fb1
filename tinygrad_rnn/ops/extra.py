"""Ops the PyTorch-compatible layer adds on top of the core ones: an embedding lookup whose
padding row gets no gradient, and the exact (erf) GELU. The losses with class weights, label
smoothing and probability targets are composed from existing ops in ``nn/functional.py``, so
autograd derives their gradients."""
import math

import numpy as np

from .. import backend
from ..backend import array_module
from ..function import Function
from .lookup import EmbeddingLookup

_erf = np.frompyfunc(math.erf, 1, 1)


class PaddedEmbeddingLookup(EmbeddingLookup):
    """``weight[indices]`` where row ``padding_idx`` receives no gradient (as torch's
    ``Embedding(padding_idx=...)``): padding tokens never move their vector."""

    def forward(self, weight, indices, padding_idx=None):
        self.padding_idx = padding_idx
        return super().forward(weight, indices)

    def backward(self, g):
        grad, _ = super().backward(g)
        grad[self.padding_idx] = 0
        return grad, None


class Erf(Function):
    """The error function, element by element (on the host: NumPy has no vectorised erf)."""

    def forward(self, a):
        self.a = a
        host = backend.to_numpy(a)
        return backend.to_device(_erf(host).astype(a.dtype), backend.device_of(a))

    def backward(self, g):
        xp = array_module(g)
        return g * (2 / math.sqrt(math.pi)) * xp.exp(-self.a * self.a)
