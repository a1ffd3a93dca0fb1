"""Linear and Identity, initialised as PyTorch initialises them."""
import numpy as np

from ... import backend
from .. import functional as F
from ..init import uniform_array
from .module import Module, Parameter


def factory(shape, bound, device=None, dtype=None):
    """U(-bound, bound) Parameter of ``shape`` on ``device`` (default: the default device) in
    ``dtype`` (default float32): what the ``device=``/``dtype=`` constructor arguments make."""
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype.kind != "f":
        raise TypeError(f"parameters must be floating point, got dtype {dtype}")
    data = uniform_array(shape, bound, dtype)
    return Parameter(backend.to_device(data, backend.check_device(device)))


class Identity(Module):
    """Returns its input unchanged (a placeholder; arguments are accepted and ignored)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x W^T + b.  x: (..., in_features) -> (..., out_features); W: (out, in), b: (out,)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / np.sqrt(in_features) if in_features else 0
        self.weight = factory((out_features, in_features), bound, device, dtype)
        self.bias = factory((out_features,), bound, device, dtype) if bias else None

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# torch's name for the output projection of MultiheadAttention (a Linear that its quantization
# tools leave alone); saved-model allow-lists name it, so it exists here as the same class
NonDynamicallyQuantizableLinear = Linear
