"""Basic layers: Linear, Embedding, Dropout (initialised as PyTorch initialises them)."""
import numpy as np

from .. import backend
from . import functional as F
from .module import Module, Parameter


def uniform(shape, bound, dtype=np.float32):
    """U(-bound, bound) from the package generator (``tinygrad_rnn.manual_seed``)."""
    return backend.rng().uniform(-bound, bound, size=shape).astype(dtype)


class Linear(Module):
    """y = x W^T + b.  x: (..., in_features) -> (..., out_features); W: (out, in), b: (out,)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / np.sqrt(in_features) if in_features else 0
        self.weight = Parameter(uniform((out_features, in_features), bound))
        self.bias = Parameter(uniform((out_features,), bound)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """Lookup table: integer indices of any shape -> vectors, shape ``indices.shape + (dim,)``."""

    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(backend.rng().standard_normal((num_embeddings, embedding_dim)).astype(np.float32))

    def forward(self, indices):
        return F.embedding(indices, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Zero each element with probability p in training (scaling the rest by 1/(1-p))."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
