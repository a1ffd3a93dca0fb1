"""Stateless neural-network functions, named, ordered and defaulted as in ``torch.nn.functional``.

The plain losses (cross-entropy, NLL, MSE, BCE with logits) are single fused ops from
``ops/loss.py``. Their weighted, smoothed or probability-target variants are composed here from
those ops and primitives (log_softmax, gather, sums), so autograd derives their gradients and
the formulas stay readable.
"""
import math
import numbers
import warnings

import numpy as np

from ..ops import elementwise as E, extra as X, linalg as L, lookup, loss as N
from ..tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


# ---- activations ----------------------------------------------------------------------------
def relu(input, inplace=False): return E.Relu.apply(input)
def tanh(input): return E.Tanh.apply(input)
def sigmoid(input): return E.Sigmoid.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x >= 0, negative_slope * x below."""
    return E.Relu.apply(input) - negative_slope * E.Relu.apply(-input)


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha * (e^x - 1) below."""
    return E.Relu.apply(input) + alpha * ((-E.Relu.apply(-input)).exp() - 1)


def silu(input, inplace=False):
    """x * sigmoid(x) (also called swish)."""
    return input * E.Sigmoid.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, computed stably; x itself where beta * x > threshold."""
    bx = input * beta
    soft = (E.Relu.apply(bx) + ((-bx.abs()).exp() + 1).log()) * (1 / beta)
    return E.where(bx.data > threshold, input, soft)


def gelu(input, approximate="none"):
    """x * Phi(x) with Phi the standard normal CDF: exact (erf) or torch's tanh approximation."""
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1 + E.Tanh.apply(inner))
    if approximate != "none":
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return 0.5 * input * (1 + X.Erf.apply(input * (1 / math.sqrt(2))))


def _softmax_dim(ndim, dim, axis, name):
    """torch's ``dim``; ``axis`` (this library's older name) is accepted too. Without either,
    torch's legacy choice (0 for 0-, 1- and 3-D inputs, else 1) with a warning."""
    if dim is None:
        dim = axis
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                      "Change the call to include dim=X as an argument.", stacklevel=3)
        dim = 0 if ndim in (0, 1, 3) else 1
    return dim


def softmax(input, dim=None, _stacklevel=3, dtype=None, *, axis=None):
    x = input if dtype is None else input.to(dtype=dtype)
    return N.Softmax.apply(x, axis=_softmax_dim(x.ndim, dim, axis, "softmax"))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None, *, axis=None):
    x = input if dtype is None else input.to(dtype=dtype)
    return N.LogSoftmax.apply(x, axis=_softmax_dim(x.ndim, dim, axis, "log_softmax"))


def logsumexp(x, axis=-1, keepdims=False): return N.LogSumExp.apply(x, axis=axis, keepdims=keepdims)


# ---- layers -----------------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """input @ weight.T + bias, one op (one GEMM each way). Input and weight must share a dtype:
    a float64 input to a float32 layer is an error, as in torch, not a silent promotion."""
    if input.dtype != weight.dtype:                 # one comparison: this runs at every RNN step
        names = {np.dtype(np.float64): "Double", np.dtype(np.float32): "Float"}
        a, b = (names.get(np.dtype(d), str(d)) for d in (input.dtype, weight.dtype))
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {a} and {b}")
    return L.Linear.apply(input, weight, bias)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` picked by integer ``input``: output shape ``input.shape + (dim,)``.
    Row ``padding_idx`` gets no gradient. (Arguments order: torch's, input first.)"""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse gradients are not "
                                  "supported by tinygrad_rnn (renormalise the weight yourself)")
    if padding_idx is None:
        return lookup.EmbeddingLookup.apply(weight, input)
    return X.PaddedEmbeddingLookup.apply(weight, input, padding_idx=padding_idx % weight.shape[0])


def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout; the identity when not training or p == 0, all zeros when p == 1."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    return E.InvertedDropout.apply(input, p=p)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input`` divided by its p-norm along ``dim`` (kept at least ``eps``)."""
    return input / input.norm(p, dim=dim, keepdim=True).clamp_min(eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (they broadcast): the dot
    product of the two after each is divided by its norm kept at least ``eps`` (so a zero
    vector gives 0)."""
    x1 = x1 / x1.norm(dim=dim, keepdim=True).clamp_min(eps)
    x2 = x2 / x2.norm(dim=dim, keepdim=True).clamp_min(eps)
    return (x1 * x2).sum(dim)


def one_hot(tensor, num_classes=-1):
    """Integer class indices (any shape) -> int64 one-hot of shape ``tensor.shape + (C,)``."""
    data = np.asarray(tensor.numpy() if isinstance(tensor, Tensor) else tensor)
    if data.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of integer dtype")
    if num_classes == -1:
        num_classes = int(data.max()) + 1 if data.size else 0
    if data.size and (data.min() < 0 or data.max() >= num_classes):
        raise RuntimeError(f"Class values must be in [0, {num_classes}), got min {data.min()}, max {data.max()}")
    out = (data[..., None] == np.arange(num_classes)).astype(np.int64)
    return Tensor(out, device=tensor.device if isinstance(tensor, Tensor) else None)


def pad(input, pad, mode="constant", value=None):
    """Constant padding, torch's order: ``pad = (left_last, right_last, left_2nd_last, ...)``."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"Padding length must be divisible by 2 and at most 2 * {input.ndim}, got {len(pad)}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return input.pad(widths, value=0.0 if value is None else value)


# ---- losses -----------------------------------------------------------------------------------
def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction (expected 'mean', 'sum' or 'none')")


def _reduce(losses, reduction, denominator=None):
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    return total / (denominator if denominator is not None else max(losses.data.size, 1))


def _class_last(x):
    """(N, C, d...) -> (N*d..., C), (C,) -> (1, C): the class axis last, as a 2-D Tensor."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    order = (0,) + tuple(range(2, x.ndim)) + (1,)
    return x.permute(*order).reshape(-1, x.shape[1])


def _class_targets(shape, target, ignore_index):
    """Class-index targets as a flat host array, checked: integers, the input's shape without
    the class axis, each in [0, C) or ``ignore_index``."""
    t = target.numpy() if isinstance(target, Tensor) else np.asarray(target)
    N._check_targets(shape, t, ignore_index)           # the same checks as the fused losses
    return t.reshape(-1)


def _weighted_nll(logp, target, weight, ignore_index, reduction, label_smoothing=0.0):
    """NLL of class indices with per-class ``weight``, ``ignore_index`` and label smoothing::

        loss_i = w[y_i] * ((1 - eps) * -logp[i, y_i] + eps / C * sum_c -logp[i, c] w_c / w[y_i])
        mean   = sum_i loss_i / sum_i w[y_i]        (ignored entries count for nothing)
    """
    C = logp.shape[1] if logp.ndim > 1 else logp.shape[0]
    t = _class_targets(logp.shape, target, ignore_index)
    lp = _class_last(logp)
    keep = t != ignore_index
    rows = np.where(keep, t, 0)
    w = np.ones(C) if weight is None else np.asarray(weight.numpy() if isinstance(weight, Tensor) else weight)
    w_rows = (w[rows] * keep).astype(logp.dtype)
    picked = lp.gather(1, Tensor(rows[:, None], device=logp.device)).reshape(-1)
    losses = -picked * Tensor(w_rows, device=logp.device)
    if label_smoothing:
        smooth = -(lp * Tensor(w.astype(logp.dtype), device=logp.device)).sum(axis=1)
        smooth = smooth * Tensor(keep.astype(logp.dtype), device=logp.device)
        losses = (1 - label_smoothing) * losses + (label_smoothing / C) * smooth
    if reduction == "none":
        return losses.reshape(target.shape)
    return _reduce(losses, reduction, float(w_rows.sum()))


def _probability_cross_entropy(logp, target, weight, reduction, label_smoothing):
    """Cross-entropy against class probabilities (target shaped like the input):
    loss_i = -sum_c w_c q_ic logp_ic with q = (1 - eps) p + eps / C; mean divides by N."""
    if target.shape != logp.shape:
        raise ValueError(f"probability targets must have the input's shape {logp.shape}, got {target.shape}")
    C = logp.shape[1] if logp.ndim > 1 else logp.shape[0]
    q = target if not label_smoothing else target * (1 - label_smoothing) + label_smoothing / C
    terms = -(logp * q)
    if weight is not None:
        shape = (1, C) + (1,) * (logp.ndim - 2) if logp.ndim > 1 else (C,)
        terms = terms * Tensor(np.asarray(weight.numpy() if isinstance(weight, Tensor) else weight,
                                          dtype=logp.dtype).reshape(shape), device=logp.device)
    losses = terms.sum(axis=1 if logp.ndim > 1 else 0)
    return _reduce(losses, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy in nats. input (N, C), (N, C, d...) or (C,); target class indices
    of shape (N,) / (N, d...) / (), or class probabilities shaped like the input. Entries equal
    to ``ignore_index`` count for nothing; ``weight`` (C,) scales each class; label smoothing
    mixes the target with the uniform distribution."""
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if target.dtype.kind == "f" and target.shape == input.shape:   # class probabilities
        logp = log_softmax(input, 1 if input.ndim > 1 else 0)
        return _probability_cross_entropy(logp, target, weight, reduction, label_smoothing)
    if weight is None and not label_smoothing:
        return N.CrossEntropy.apply(input, target, ignore_index=ignore_index, reduction=reduction)
    logp = log_softmax(input, 1 if input.ndim > 1 else 0)
    return _weighted_nll(logp, target, weight, ignore_index, reduction, label_smoothing)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of class indices, given log-probabilities (class axis 1)."""
    _check_reduction(reduction)
    if weight is None:
        return N.NLLLoss.apply(input, target, ignore_index=ignore_index, reduction=reduction)
    return _weighted_nll(input, target, weight, ignore_index, reduction)


def _check_same_shape(name, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{name}: input shape {input.shape} and target shape {target.shape} differ")


def _weighted(losses, weight):
    """Per-element losses times a weight of the same shape (torch refuses broadcasting here)."""
    if weight is None:
        return losses
    if tuple(weight.shape) != tuple(losses.shape):
        raise ValueError("Weights and input must have the same size.")
    return losses * weight


def _check_float_target(target):
    if target.dtype.kind != "f":
        raise RuntimeError(f"result type Float can't be cast to the desired output type {target.dtype}: "
                           f"binary cross-entropy needs floating-point targets")


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _check_reduction(reduction)
    if weight is None:
        return N.MSELoss.apply(input, target, reduction=reduction)
    _check_same_shape("mse_loss", input, target)
    # as torch: a weighted mean divides by the sum of the weights
    return _reduce(_weighted((input - target) ** 2, weight), reduction, float(weight.sum()))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _check_reduction(reduction)
    _check_same_shape("l1_loss", input, target)
    denominator = None if weight is None else float(weight.sum())     # weighted mean, as torch
    return _reduce(_weighted((input - target).abs(), weight), reduction, denominator)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta * (|d| - delta / 2), d = input - target."""
    _check_reduction(reduction)
    _check_same_shape("huber_loss", input, target)
    a = (input - target).abs()
    c = E.clip(a, None, delta)            # min(|d|, delta)
    return _reduce(_weighted(0.5 * c * c + delta * (a - c), weight), reduction)   # torch: mean over elements


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """huber_loss(delta=beta) / beta; plain L1 when beta == 0."""
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    _check_reduction(reduction)
    return _reduce(huber_loss(input, target, reduction="none", delta=beta) * (1 / beta), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE on logits x, targets y in [0, 1]: -(pos_weight y log s(x) + (1 - y) log(1 - s(x))),
    computed stably as (1 - y) x + (1 + (pos_weight - 1) y) (log(1 + e^-|x|) + max(-x, 0))."""
    _check_reduction(reduction)
    _check_float_target(target)
    if weight is None and pos_weight is None:
        return N.BCEWithLogits.apply(input, target, reduction=reduction)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    log_one_plus = ((-input.abs()).exp() + 1).log() + E.Relu.apply(-input)   # = -log s(x)
    scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * target
    losses = (1 - target) * input + scale * log_one_plus
    return _reduce(losses if weight is None else losses * weight, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """BCE on probabilities: -(y log p + (1 - y) log(1 - p)), each log clamped at -100 as torch."""
    _check_reduction(reduction)
    _check_float_target(target)
    _check_same_shape("binary_cross_entropy", input, target)
    if bool(((input.data < 0) | (input.data > 1)).any()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    losses = -(target * E.clip(input.log(), -100, None) + (1 - target) * E.clip((1 - input).log(), -100, None))
    return _reduce(losses if weight is None else losses * weight, reduction)
