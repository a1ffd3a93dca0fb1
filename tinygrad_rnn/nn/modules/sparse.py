"""Embedding: a lookup table of learned vectors."""
import numpy as np

from ... import backend
from .. import functional as F
from .module import Module, Parameter


class Embedding(Module):
    """Lookup table: integer indices of any shape -> vectors, shape ``indices.shape + (dim,)``.

    Weights start N(0, 1) as in PyTorch. ``padding_idx``: that row starts at zero and gets no
    gradient, so a padding token stays a zero vector. ``_weight`` gives the initial table
    (``from_pretrained`` uses it). ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are not
    supported and refused."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse=True are not "
                                      "supported by tinygrad_rnn")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = None, norm_type, False, False
        if _weight is None:
            dtype = np.dtype(np.float32 if dtype is None else dtype)
            data = backend.rng().standard_normal((num_embeddings, embedding_dim)).astype(dtype)
            if padding_idx is not None:
                data[padding_idx] = 0
            self.weight = Parameter(backend.to_device(data, backend.check_device(device)),
                                    requires_grad=not _freeze)
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding whose table is ``embeddings`` (2-D); frozen (no gradient) by default.
        The table is used as given (the padding row is not zeroed), as in PyTorch."""
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        extra = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"
