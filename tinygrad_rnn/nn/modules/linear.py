"""Linear: y = x W^T + b, initialised as PyTorch initialises it."""
import numpy as np

from .. import functional as F
from ..init import uniform_array
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b.  x: (..., in_features) -> (..., out_features); W: (out, in), b: (out,)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / np.sqrt(in_features) if in_features else 0
        self.weight = Parameter(uniform_array((out_features, in_features), bound))
        self.bias = Parameter(uniform_array((out_features,), bound)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"
