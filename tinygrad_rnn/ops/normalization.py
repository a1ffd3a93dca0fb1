"""Layer normalisation as one op, with its backward written out.

Over the last ``k`` axes (the "normalised shape", n elements per row):

    mu = mean(x),  var = mean((x - mu)^2)  (biased, as in the forward of torch.nn.LayerNorm)
    r = 1 / sqrt(var + eps),  xhat = (x - mu) r,  y = xhat * w + b

Backward, with gh = dL/dxhat = dL/dy * w and means over the normalised axes:

    dL/dx = r (gh - mean(gh) - xhat mean(gh xhat))
    dL/dw = sum over the other axes of dL/dy * xhat,   dL/db = sum of dL/dy

The two subtracted means are the gradient flowing back through mu and through r: a shift of
all of x moves nothing (mean(dx) = 0), nor does a scaling (mean(dx xhat) = 0). The composite
version (mean, var, sqrt, divide: six ops and their saved arrays) gives the same numbers; the
property test in tests/test_normalization.py holds the two equal.
"""
from ..backend import array_module
from ..function import Function


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last ``num_axes`` axes.
    ``weight`` and ``bias`` have those axes' shape, or are None (no affine part)."""

    def forward(self, x, weight, bias, num_axes=1, eps=1e-5):
        xp = array_module(x)
        axes = tuple(range(x.ndim - num_axes, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True)
        rstd = 1.0 / xp.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)
        xhat = centred * rstd
        self.save_for_backward(xhat, rstd, weight)
        self.axes = axes
        out = xhat if weight is None else xhat * weight
        return out if bias is None else out + bias

    def backward(self, g):
        xhat, rstd, weight = self.saved
        axes = self.axes
        outer = tuple(range(g.ndim - len(axes)))
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gh = g if weight is None else g * weight
            gx = rstd * (gh - gh.mean(axis=axes, keepdims=True)
                         - xhat * (gh * xhat).mean(axis=axes, keepdims=True))
        if self.needs_input_grad[1]:
            gw = (g * xhat).sum(axis=outer)
        if self.needs_input_grad[2]:
            gb = g.sum(axis=outer)
        return gx, gw, gb
