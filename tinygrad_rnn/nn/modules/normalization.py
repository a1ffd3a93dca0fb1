"""LayerNorm, as in ``torch.nn.LayerNorm``: normalise each sample over its last few axes.

Unlike batch normalisation it needs no batch statistics, so it behaves the same in training
and evaluation and at every time step: the normalisation of Transformers and of layer-normed
RNNs. The op and its backward are in ``ops/normalization.py``.
"""
import numbers

import numpy as np

from ...ops import normalization as ops
from .module import Module, Parameter


class LayerNorm(Module):
    """y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias, statistics over the last
    ``len(normalized_shape)`` axes of x, whose shape must end with ``normalized_shape``.

    Parameters (if ``elementwise_affine``): weight (ones) and bias (zeros, unless bias=False),
    both of shape ``normalized_shape``."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(f"LayerNorm: normalized_shape must be one or more positive sizes, "
                             f"got {normalized_shape!r}")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        dtype = np.dtype(dtype or np.float32)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if elementwise_affine and bias else None
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x):
        k = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape or x.ndim < k:
            raise ValueError(f"LayerNorm: input of shape {tuple(x.shape)} does not end with normalized_shape "
                             f"{self.normalized_shape}")
        return ops.LayerNorm.apply(x, self.weight, self.bias, num_axes=k, eps=self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
