"""Embedding: a lookup table of learned vectors."""
import numpy as np

from ... import backend
from .. import functional as F
from .module import Module, Parameter


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
