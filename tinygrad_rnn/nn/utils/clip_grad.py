"""Gradient clipping, as ``torch.nn.utils``: the standard cure for exploding RNN gradients.

Call between ``loss.backward()`` and ``optimizer.step()``:

    loss.backward()
    norm = clip_grad_norm_(model.parameters(), max_norm=5.0)   # norm before clipping
    optimizer.step()

``parameters`` may be a Tensor, an iterable of Tensors, an iterable of ``(name, Tensor)`` pairs
such as ``model.named_parameters()`` (then errors name the parameter), or a Module.
Parameters whose ``.grad`` is None are skipped. Gradients are changed in place.
"""
import math

import numpy as np

from ... import backend
from ...tensor import Tensor
from ..modules.module import Module


def _named_grads(parameters):
    """[(name, grad Tensor)] for the parameters that have a gradient. Unnamed parameters are
    called ``parameter <index> of shape <shape>``."""
    if isinstance(parameters, Module):
        parameters = parameters.named_parameters()
    elif isinstance(parameters, Tensor):
        parameters = [parameters]
    named = []
    for i, item in enumerate(parameters):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor):
            name, p = item
            name = repr(name)
        else:
            name, p = f"parameter {i} of shape {tuple(item.shape)}", item
        if p.grad is not None:
            named.append((name, p.grad))
    return named


def _pnorm(xp, a, norm_type):
    """The p-norm (p finite) of all elements of ``a``, computed in a's dtype."""
    if norm_type == 2:
        return xp.sqrt(xp.vdot(a.ravel(), a.ravel()).real)
    if norm_type == 1:
        return xp.abs(a).sum()
    return (xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type)


def _vector_norm(xp, a, norm_type):
    """The p-norm of all the elements of ``a`` (one reduction), as a 0-d array of a's dtype.

    float32 squares overflow from |g| ~ 1.8e19 on, yet the norm itself may fit: below float64
    the sum is redone in float64 when it overflowed (on the CPU, where checking is free) or
    always runs in float64 (on the GPU, where checking would wait for the device)."""
    if a.size == 0:
        return xp.zeros((), dtype=a.dtype)
    if norm_type == math.inf:
        return xp.abs(a).max()
    if a.dtype.itemsize >= 8:
        return xp.asarray(_pnorm(xp, a, norm_type))
    if xp is np:
        out = _pnorm(xp, a, norm_type)
        if np.isfinite(out) or not np.isfinite(a).all():
            return np.asarray(out)
    return xp.asarray(_pnorm(xp, a.astype(np.float64), norm_type)).astype(a.dtype)


def _check_limit(name, value):
    """A clipping limit: a number >= 0 (inf allowed). A negative limit would flip the gradients'
    sign and NaN would erase them, silently, so both are refused."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0 (it bounds a gradient norm / magnitude), got {value}")
    return value


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total = || (||g_1||_p, ..., ||g_n||_p) ||_p     (= the p-norm of all gradients concatenated;
                                                      for p = inf, the largest |element|)
    g_i <- g_i * min(1, max_norm / (total + 1e-6))  for every i, in place

    So gradients are only ever shrunk, all by the same factor, keeping their direction. As in
    PyTorch, a NaN total scales the gradients by NaN and an infinite one by 0 (infinite elements
    become NaN), unless ``error_if_nonfinite=True``, which raises a RuntimeError naming each
    parameter whose gradient norm is NaN or infinite, before anything is changed.

    Returns the total norm before clipping, as a 0-d Tensor on the gradients' device (PyTorch
    also returns a tensor); ``float(norm)`` gives a Python number.
    """
    max_norm = _check_limit("max_norm", max_norm)
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"norm_type must be positive or inf, got {norm_type}")
    named = _named_grads(parameters)
    if not named:
        return Tensor(np.zeros((), dtype=np.float32))
    # NaN / inf are handled explicitly below, so NumPy's warnings about them are noise
    with np.errstate(over="ignore", invalid="ignore"):
        total, norms = _total_norm(named, norm_type)
        if error_if_nonfinite and not bool(backend.array_module(total).isfinite(total)):
            bad = [name for (name, _), n in zip(named, norms) if not np.isfinite(float(n))]
            raise RuntimeError(
                f"clip_grad_norm_: the total gradient norm of order {norm_type} is {float(total)}, so it "
                f"cannot be clipped; non-finite gradient norm in: {', '.join(bad)}. Set "
                "error_if_nonfinite=False to scale the gradients by it anyway.")
        # min(1, c) rather than `if c < 1`: no GPU -> CPU sync, and multiplying by 1.0 changes nothing
        coef = backend.array_module(total).minimum(max_norm / (total + 1e-6), 1.0)
        for _, g in named:
            g.data *= backend.to_device(coef, g.device).astype(g.dtype)
    return Tensor(total, device=named[0][1].device)


def _total_norm(named, norm_type):
    """The p-norm of each gradient (one reduction each), and the p-norm of those norms, which
    equals the p-norm of all gradients concatenated; on the first gradient's device."""
    device = named[0][1].device
    norms = [backend.to_device(_vector_norm(backend.array_module(g.data), g.data, norm_type), device)
             for _, g in named]
    return _vector_norm(backend.xp_for(device), backend.xp_for(device).stack(norms), norm_type), norms


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value], in place. Returns None."""
    clip_value = _check_limit("clip_value", clip_value)
    for _, g in _named_grads(parameters):
        backend.array_module(g.data).clip(g.data, -clip_value, clip_value, out=g.data)
