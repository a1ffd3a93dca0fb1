"""Matrix products: where nearly all the FLOPs of a recurrent network are spent."""
from ..backend import array_module
from ..function import Function, unbroadcast


class MatMul(Function):
    """a @ b with NumPy's rules: 1-D operands are promoted to a row (a) or a column (b), and
    leading (batch) axes broadcast. The backward undoes both."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul needs tensors with at least one dimension; use * for scalars")
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if a.shape[-1] != inner_b:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                             f"({a.shape[-1]} != {inner_b})")
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, g):
        a, b = self.saved
        xp = array_module(g)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:  # column axis first, so that 1-D @ 1-D (g is 0-d) becomes (1, 1)
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb


class Linear(Function):
    """y = x W^T + b for x of shape (..., in), W (out, in), b (out,): one GEMM each way.

    Leading axes of x are flattened so the weight gradient is a single (out, N) @ (N, in)
    product, however many time steps or batch entries there are."""

    def forward(self, x, weight, bias=None):
        if x.shape[-1] != weight.shape[-1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) "
                             f"but the weight expects {weight.shape[-1]} (weight shape {weight.shape})")
        self.save_for_backward(x, weight)
        self.has_bias = bias is not None
        # (N, in) @ (in, out) as one GEMM: a 3-D x @ W^T would be a batch of small GEMMs, each
        # re-reading the transposed weight (about 10x slower for a (T, B, in) decoder input)
        out = x.reshape(-1, x.shape[-1]) @ weight.T
        if bias is not None:
            out += bias
        return out.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, g):
        x, weight = self.saved
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g2 @ weight).reshape(x.shape) if self.needs_input_grad[0] else None
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if self.needs_input_grad[1] else None
        gb = g2.sum(axis=0) if self.has_bias and self.needs_input_grad[2] else None
        return gx, gw, gb
