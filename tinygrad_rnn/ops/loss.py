"""Softmax family and losses.

Each is one Function with a closed-form backward (softmax + cross-entropy fused: the gradient is
``softmax - onehot``), which is both faster and more accurate than composing primitives.

Large logits: every member of the family works on ``z - max(z)`` and subtracts the log-sum of
*that*, ``(z - shift) - log(sum(exp(z - shift)))``. The algebraically equal ``z - logsumexp(z)``
rounds ``logsumexp(z)`` at the magnitude of z first: at float32 logits [1e8, 1e8] it returns
log-probabilities [0, 0] instead of [-log 2, -log 2].
"""
from ..backend import array_module
from ..function import Function
from .elementwise import stable_sigmoid


def _log_softmax(xp, a, axis):
    """log_softmax(a) along ``axis`` as (a - shift) - log(sum(exp(a - shift))), shift = max(a):
    exp never overflows and nothing is rounded at the scale of a."""
    shift = a.max(axis=axis, keepdims=True)
    z = a - xp.where(xp.isfinite(shift), shift, 0)
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


class LogSumExp(Function):
    def forward(self, a, axis=-1, keepdims=False):
        xp = array_module(a)
        shift = a.max(axis=axis, keepdims=True)
        shift = xp.where(xp.isfinite(shift), shift, 0)
        z = a - shift
        log_sum = xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
        out = shift + log_sum
        self.save_for_backward(xp.exp(z - log_sum))      # the softmax, shift-free
        self.kept_shape = out.shape
        return out if keepdims else out.squeeze(axis)

    def backward(self, g):
        (softmax,) = self.saved
        return g.reshape(self.kept_shape) * softmax  # axis None, int or tuple alike


class Softmax(Function):
    def forward(self, a, axis=-1):
        xp = array_module(a)
        out = xp.exp(_log_softmax(xp, a, axis))
        self.save_for_backward(out)
        self.axis = axis
        return out

    def backward(self, g):
        (s,) = self.saved
        return s * (g - (g * s).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    def forward(self, a, axis=-1):
        xp = array_module(a)
        out = _log_softmax(xp, a, axis)
        self.save_for_backward(xp.exp(out))
        self.axis = axis
        return out

    def backward(self, g):
        (softmax,) = self.saved
        return g - softmax * g.sum(axis=self.axis, keepdims=True)


def _check_targets(logits_shape, target, ignore_index):
    """Class-index targets: integer dtype, shape = logits without the class axis, in range."""
    xp = array_module(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"class-index targets must be an integer tensor, got dtype {target.dtype}")
    expected = logits_shape[:1] + logits_shape[2:] if len(logits_shape) > 1 else ()
    if target.shape != expected:
        raise ValueError(f"targets of shape {target.shape} do not match input of shape {logits_shape}: "
                         f"expected targets of shape {expected}")
    classes = logits_shape[1] if len(logits_shape) > 1 else logits_shape[0]
    valid = target != ignore_index
    if bool(xp.any(valid & ((target < 0) | (target >= classes)))):
        raise ValueError(f"target class index out of range [0, {classes}) "
                         f"(min {int(target.min())}, max {int(target.max())})")


def _class_last(a):
    """(N, C, d1, ...) -> (N*d1*..., C) and (C,) -> (1, C): the class axis last and 2-D."""
    xp = array_module(a)
    if a.ndim == 1:
        return a[None, :]
    return xp.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _class_back(g2, shape):
    """Inverse of ``_class_last``."""
    xp = array_module(g2)
    if len(shape) == 1:
        return g2[0]
    moved = shape[:1] + shape[2:] + shape[1:2]
    return xp.moveaxis(g2.reshape(moved), -1, 1)


def _reduce(xp, losses, weights, reduction):
    """Apply ``reduction`` to per-element losses; returns (value, d value / d loss_i)."""
    if reduction == "none":
        return losses, None
    if reduction == "sum":
        return losses.sum(), weights
    if reduction == "mean":
        count = weights.sum()
        return losses.sum() / count, weights / count
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class NLLLoss(Function):
    """Negative log-likelihood of class indices, given log-probabilities (class axis 1)."""

    def forward(self, logp, target, ignore_index=-100, reduction="mean"):
        _check_targets(logp.shape, target, ignore_index)
        xp = array_module(logp)
        lp = _class_last(logp)
        t = target.reshape(-1)
        keep = t != ignore_index
        picked = lp[xp.arange(lp.shape[0]), xp.where(keep, t, 0)]
        losses = -picked * keep
        value, dloss = _reduce(xp, losses, keep.astype(logp.dtype), reduction)
        self.save_for_backward(xp.where(keep, t, 0), keep, dloss)
        self.shape, self.reduction = logp.shape, reduction
        return value.reshape(target.shape) if reduction == "none" else value.astype(logp.dtype)

    def backward(self, g):
        rows, keep, dloss = self.saved
        xp = array_module(g)
        per_row = (g.reshape(-1) * keep) if self.reduction == "none" else g * dloss
        grad = xp.zeros((per_row.shape[0], self.shape[1] if len(self.shape) > 1 else self.shape[0]),
                        dtype=g.dtype)
        grad[xp.arange(grad.shape[0]), rows] = -per_row
        return _class_back(grad, self.shape), None


class CrossEntropy(Function):
    """log_softmax + NLL in one op; gradient = (softmax - onehot) scaled by the reduction.

    One pass builds everything: e = exp(z - shift) (shift = the row max) is computed once and
    becomes the saved softmax in place; the loss needs log-probabilities only at the targets,
    (z_t - shift) - log(sum(e)), so no (N, C) log-softmax is ever materialised."""

    def forward(self, logits, target, ignore_index=-100, reduction="mean"):
        _check_targets(logits.shape, target, ignore_index)
        xp = array_module(logits)
        z = _class_last(logits)
        shift = z.max(axis=-1, keepdims=True)
        shift = xp.where(xp.isfinite(shift), shift, 0)
        softmax = xp.subtract(z, shift)
        xp.exp(softmax, out=softmax)
        total = softmax.sum(axis=-1, keepdims=True)
        softmax /= total
        t = target.reshape(-1)
        keep = t != ignore_index
        rows = xp.where(keep, t, 0)
        picked = xp.take_along_axis(z, rows[:, None], axis=-1) - shift - xp.log(total)
        losses = -picked[:, 0] * keep
        value, dloss = _reduce(xp, losses, keep.astype(logits.dtype), reduction)
        self.save_for_backward(softmax, rows, keep, dloss)
        self.shape, self.reduction = logits.shape, reduction
        return value.reshape(target.shape) if reduction == "none" else value.astype(logits.dtype)

    def backward(self, g):
        softmax, rows, keep, dloss = self.saved
        xp = array_module(g)
        per_row = (g.reshape(-1) * keep) if self.reduction == "none" else g * dloss
        grad = softmax * per_row[:, None]
        grad[xp.arange(grad.shape[0]), rows] -= per_row
        return _class_back(grad, self.shape), None


class MSELoss(Function):
    def forward(self, a, b, reduction="mean"):
        if a.shape != b.shape:
            raise ValueError(f"mse_loss: input shape {a.shape} and target shape {b.shape} differ")
        xp = array_module(a)
        diff = a - b
        losses = diff * diff
        value, dloss = _reduce(xp, losses, xp.ones_like(losses), reduction)
        self.save_for_backward(diff, dloss)
        self.reduction = reduction
        return value

    def backward(self, g):
        diff, dloss = self.saved
        d = 2 * diff * (g if self.reduction == "none" else g * dloss)
        return d, -d


class BCEWithLogits(Function):
    """Binary cross-entropy on logits x with targets y: max(x,0) - x y + log(1 + e^-|x|).
    Targets are probabilities, so they must be floating (as in PyTorch, which raises a
    RuntimeError for integer targets rather than return a loss of another dtype)."""

    def forward(self, x, y, reduction="mean"):
        if x.shape != y.shape:
            raise ValueError(f"binary_cross_entropy_with_logits: input shape {x.shape} and target shape {y.shape} differ")
        if y.dtype.kind != "f" or x.dtype.kind != "f":
            raise RuntimeError(f"binary_cross_entropy_with_logits: input and target must be floating "
                               f"tensors (targets are probabilities), got {x.dtype} and {y.dtype}; "
                               f"convert the target with .float()")
        xp = array_module(x)
        losses = xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))
        value, dloss = _reduce(xp, losses, xp.ones_like(losses), reduction)
        self.save_for_backward(x, y, stable_sigmoid(xp, x), dloss)
        self.reduction = reduction
        return value

    def backward(self, g):
        x, y, sig, dloss = self.saved
        scale = g if self.reduction == "none" else g * dloss
        return scale * (sig - y), scale * -x
