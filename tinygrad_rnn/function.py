"""Function: one differentiable operation, and the glue that records it in the graph.

A Function computes on raw arrays (NumPy or CuPy), never on Tensors. ``forward`` returns the
output array(s) and saves on ``self`` (the "ctx") what ``backward`` needs; ``backward`` gets
the gradient of each output and returns one gradient per input, ``None`` where the input does
not need one. ``apply`` wraps the result in a Tensor whose ``creator`` is the Function, which
is how the graph is built one node at a time.
"""
import contextlib
import weakref

import numpy as np

from . import backend
from . import tensor as _tensor

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


@contextlib.contextmanager
def _grad_mode(enabled):
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, enabled
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad():
    """Context manager (and decorator) in which no graph is recorded: evaluation, updates."""
    return _grad_mode(False)


def enable_grad():
    return _grad_mode(True)


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the backward of NumPy broadcasting, for every op."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


class Function:
    """Base class of every op. Subclasses define ``forward`` and ``backward``.

    A Function with several outputs gets ``None`` in ``backward`` for an output that received
    no gradient."""

    released = False      # set once backward has used and freed what forward saved
    output_hooks = None    # {output index: weakref to the output} for retain_grad / hooks

    def forward(self, *arrays, **attrs):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def watch_output(self, tensor):
        """Let backward find ``tensor`` (an output of this node) to run its hooks / retain its grad."""
        if self.output_hooks is None:
            self.output_hooks = {}
        self.output_hooks[tensor.index] = weakref.ref(tensor)

    def release(self):
        """Drop everything forward saved, and the links to the inputs: the graph is used up."""
        self.__dict__.clear()
        self.released, self.parents = True, ()

    @classmethod
    def apply(cls, *inputs, **attrs):
        """Run ``forward`` on the inputs' arrays and, if any input needs a gradient, record it.

        Inputs are Tensors; Python scalars and arrays are allowed and treated as constants
        (scalars take the dtype of the first Tensor, so ``x * 2`` keeps float32 float32).
        """
        Tensor = _tensor.Tensor
        arrays, needs_input_grad, first = [], [], None
        for x in inputs:
            if isinstance(x, Tensor):
                if first is None:
                    first = x
                elif type(x._data) is not type(first._data) and x.device != first.device:
                    raise RuntimeError(f"{cls.__name__}: tensors are on different devices "
                                       f"({first.device} and {x.device}); move them with .to(device)")
                arrays.append(x._data)
                needs_input_grad.append(x.requires_grad)
            else:
                arrays.append(x)
                needs_input_grad.append(False)
        for i, x in enumerate(arrays):
            if not hasattr(x, "shape") or type(x) is not type(first._data):
                arrays[i] = _constant(x, first)
        ctx = cls()
        try:
            raw = ctx.forward(*arrays, **attrs)
        except ValueError as error:  # name the op, not a line deep inside NumPy
            shapes = ", ".join(str(getattr(a, "shape", a)) for a in arrays)
            raise ValueError(f"{cls.__name__} on shapes {shapes}: {error}") from None
        creator = ctx if _grad_enabled and True in needs_input_grad else None
        if creator is not None:
            ctx.parents, ctx.needs_input_grad = inputs, needs_input_grad
        if type(raw) is tuple:
            if creator is not None:
                ctx.output_shapes = [r.shape for r in raw]
            return tuple(Tensor._wrap(r, creator, i) for i, r in enumerate(raw))
        if creator is not None:
            ctx.output_shapes = None
        return Tensor._wrap(raw, creator, 0)


def _constant(value, like):
    """A non-Tensor input as an array on ``like``'s device. A Python scalar takes ``like``'s
    dtype (float32 stays float32), except that a float meeting an integer tensor makes float32."""
    if value is None:
        return None
    if isinstance(value, (int, float, bool)):
        dtype = like._data.dtype
        if isinstance(value, float) and dtype.kind in "iub":
            dtype = np.float32
        return backend.array_module(like._data).asarray(value, dtype=dtype)
    return backend.to_device(value, like.device)
