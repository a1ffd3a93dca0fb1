"""Scaled dot-product attention as one op, with its backward written out.

For queries Q (..., L, d), keys K (..., S, d), values V (..., S, dv), an additive mask M
(0 or -inf, broadcasting to (..., L, S)) and scale c (1/sqrt(d) in a Transformer):

    S = c Q K^T + M,    A = softmax(S) along the keys,    A' = dropout(A),    C = A' V

Backward, given dC (and dA' when the weights themselves are used downstream):

    dA' = dC V^T (+ dA'),   dA = dA' * keep / (1 - p)       (dropout's mask)
    dV  = A'^T dC
    dS  = A * (dA - rowsum(dA * A))                          softmax's Jacobian, row by row
    dQ  = c dS K,    dK = c dS^T Q

A masked position has A = 0, so dS = 0 there: padded keys get no gradient. The composite
version (matmul, add, softmax, dropout, matmul) computes the same; it keeps five nodes and
their saved arrays where this keeps one. tests/test_attention.py holds the two equal.
"""
from .. import backend
from ..backend import array_module
from ..function import Function
from .loss import _log_softmax


class ScaledDotProductAttention(Function):
    """Inputs q, k, v; outputs (context (..., L, dv), weights (..., L, S), after dropout)."""

    def forward(self, q, k, v, mask=None, scale=1.0, dropout=0.0):
        xp = array_module(q)
        scores = (q @ xp.swapaxes(k, -1, -2)) * scale
        if mask is not None:
            scores = scores + mask
        weights = xp.exp(_log_softmax(xp, scores, -1))
        self.keep = None
        if dropout > 0:
            self.keep = (backend.random_uniform(weights.shape, backend.device_of(q), q.dtype) >= dropout) \
                * q.dtype.type(1 / (1 - dropout))
        dropped = weights if self.keep is None else weights * self.keep
        self.save_for_backward(q, k, v, weights, dropped)
        self.scale = scale
        return dropped @ v, dropped

    def backward(self, g_context, g_weights):
        q, k, v, weights, dropped = self.saved
        xp = array_module(q)
        g_dropped = g_weights if g_weights is not None else xp.zeros_like(weights)
        g_v = None
        if g_context is not None:
            g_dropped = g_dropped + g_context @ xp.swapaxes(v, -1, -2)
            g_v = xp.swapaxes(dropped, -1, -2) @ g_context
        g_weights = g_dropped if self.keep is None else g_dropped * self.keep
        g_scores = weights * (g_weights - (g_weights * weights).sum(axis=-1, keepdims=True))
        g_q = (g_scores @ k) * self.scale if self.needs_input_grad[0] else None
        g_k = (xp.swapaxes(g_scores, -1, -2) @ q) * self.scale if self.needs_input_grad[1] else None
        if g_v is None and self.needs_input_grad[2]:
            g_v = xp.zeros_like(v)
        return g_q, g_k, g_v if self.needs_input_grad[2] else None
