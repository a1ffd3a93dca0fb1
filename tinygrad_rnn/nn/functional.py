"""Stateless neural-network functions, named as in ``torch.nn.functional``."""
from ..ops import elementwise as E, linalg as L, lookup, loss as N


def relu(x): return E.Relu.apply(x)
def tanh(x): return E.Tanh.apply(x)
def sigmoid(x): return E.Sigmoid.apply(x)
def softmax(x, axis=-1): return N.Softmax.apply(x, axis=axis)
def log_softmax(x, axis=-1): return N.LogSoftmax.apply(x, axis=axis)
def logsumexp(x, axis=-1, keepdims=False): return N.LogSumExp.apply(x, axis=axis, keepdims=keepdims)


def linear(x, weight, bias=None):
    """x @ weight.T + bias, one op (one GEMM each way)."""
    return L.Linear.apply(x, weight, bias)


def embedding(indices, weight):
    """Rows of ``weight`` picked by integer ``indices``: output shape ``indices.shape + (dim,)``."""
    return lookup.EmbeddingLookup.apply(weight, indices)


def dropout(x, p=0.5, training=True):
    """Inverted dropout; the identity when not training or p == 0."""
    if not training or p == 0:
        return x
    return E.InvertedDropout.apply(x, p=p)


def cross_entropy(logits, target, ignore_index=-100, reduction="mean"):
    """Softmax cross-entropy in nats. logits (N, C) or (N, C, d...) or (C,); target class
    indices of shape (N,) / (N, d...) / (); entries equal to ``ignore_index`` (padding) count
    for nothing, and 'mean' divides by the number of the others."""
    return N.CrossEntropy.apply(logits, target, ignore_index=ignore_index, reduction=reduction)


def nll_loss(log_probs, target, ignore_index=-100, reduction="mean"):
    return N.NLLLoss.apply(log_probs, target, ignore_index=ignore_index, reduction=reduction)


def mse_loss(input, target, reduction="mean"):
    return N.MSELoss.apply(input, target, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    return N.BCEWithLogits.apply(input, target, reduction=reduction)
