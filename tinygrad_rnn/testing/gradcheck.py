"""Check a backward against central finite differences, in float64, and say where it is wrong.

For every input that requires a gradient and every element, (f(x + eps) - f(x - eps)) / 2 eps
of the scalar <f(x), v> (v a fixed random upstream gradient, so no output component hides
behind a sum) is compared with what autograd gives.
"""
import numpy as np

from .. import backend
from ..function import no_grad
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """Raised with the worst element: which input, which index, both values."""


def _scalar_fn(fn, inputs, upstream):
    """<fn(*inputs), upstream> summed over all outputs, as a Python float (no graph)."""
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    total = 0.0
    for out, v in zip(outputs, upstream):
        if v is not None:
            total += float((backend.to_numpy(out.data) * v).sum())
    return total


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-7, rtol=1e-5, seed=0):
    """Assert that autograd's gradients of ``fn(*inputs)`` match finite differences.

    ``inputs`` are float64 Tensors (those with requires_grad=True are checked; others are held
    constant); ``fn`` returns a Tensor or a tuple of Tensors. Returns a dict with the worst
    absolute and relative errors. Raises GradcheckError naming input, element and values.
    Inputs are not modified (they are restored after each perturbation).
    """
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs for accuracy; input {i} is {x.dtype}")
    rng = np.random.default_rng(seed)
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    upstream = [rng.standard_normal(o.shape) if o.requires_grad else None for o in outputs]
    for x in inputs:
        if isinstance(x, Tensor):
            x.grad = None
    differentiable = [(o, v) for o, v in zip(outputs, upstream) if v is not None]
    if not differentiable:
        raise GradcheckError("no output of fn requires grad: nothing to check")
    for k, (o, v) in enumerate(differentiable):
        o.backward(Tensor(v, device=o.device, dtype=o.dtype), retain_graph=k < len(differentiable) - 1)
    worst = {"abs_error": 0.0, "rel_error": 0.0}
    with no_grad():
        for i, x in enumerate(inputs):
            if not (isinstance(x, Tensor) and x.requires_grad):
                continue
            analytic = np.zeros(x.shape) if x.grad is None else backend.to_numpy(x.grad.data)
            numeric = np.zeros(x.shape)
            if not x.data.flags.c_contiguous:  # (not ascontiguousarray: it turns 0-d into 1-d)
                x.data = x.data.copy()
            original = x.data.copy()
            flat = x.data.reshape(-1)  # a view: writing into it perturbs x
            for j in range(flat.size):
                value = flat[j].item()
                flat[j] = value + eps
                plus = _scalar_fn(fn, inputs, upstream)
                flat[j] = value - eps
                minus = _scalar_fn(fn, inputs, upstream)
                flat[j] = value
                numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
            x.data[...] = original
            error = np.abs(analytic - numeric)
            bad = error > atol + rtol * np.abs(numeric)
            if error.size:
                worst["abs_error"] = max(worst["abs_error"], float(error.max()))
                worst["rel_error"] = max(worst["rel_error"],
                                         float((error / np.maximum(np.abs(numeric), 1e-12)).max()))
            if bad.any():
                where = np.unravel_index(int(np.argmax(np.where(bad, error, -1))), x.shape)
                raise GradcheckError(
                    f"gradient of input {i} (shape {x.shape}) is wrong at index {tuple(map(int, where))}: "
                    f"autograd {analytic[where]!r}, finite differences {numeric[where]!r} "
                    f"({int(bad.sum())} of {bad.size} elements off; worst abs error {error.max():.3g})")
    return worst
