"""Function: one differentiable operation, the glue that records it in the graph, and the
reverse sweep that replays the graph backwards (``backward_from``, called by ``Tensor.backward``).

A Function computes on raw arrays (NumPy or CuPy), never on Tensors. ``forward`` returns the
output array(s); ``backward`` gets the gradient of each output and returns one gradient per
input, ``None`` where the input does not need one. ``apply`` wraps the result in a Tensor whose
``creator`` is the Function, which is how the graph is built one node at a time.

What forward keeps for backward, one convention in every op: **arrays** go through
``self.save_for_backward(...)`` and come back as ``self.saved`` (so it is explicit what a node
keeps alive, and ``release`` frees it after backward); plain **metadata** (shapes, axes, flags,
the reduction) are ordinary attributes on ``self``.

The import circle, and the only place it closes: ``tensor.py`` imports this module and the ops
(its methods call ``SomeOp.apply``); the ops import this module (never ``tensor``, except
``elementwise.where``, which builds a Tensor from two numbers inside the function); this module
needs the Tensor class only at call time (to wrap outputs in ``apply``, and in the sweep), so it
imports the ``tensor`` *module* and reads ``_tensor.Tensor`` there. ``apply`` + ``Tensor._wrap``
are the whole of the recording glue; ``backward_from`` the whole of the replay.
"""
import contextlib
import gc
import weakref

import numpy as np

from . import backend
from . import tensor as _tensor   # the one back-edge of the circle: read at call time only

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


# ----------------------------------------------------------------------------- the reverse sweep

def backward_from(tensor, seed, retain_graph=False):
    """Reverse-mode autograd from ``tensor`` with dL/d(tensor) = ``seed`` (``Tensor.backward``
    checks the arguments): order the nodes, sweep them once, add each leaf's total to ``.grad``."""
    if tensor.creator is None:
        _accumulate_leaf(tensor, seed)
        return
    # The graph is acyclic and backward makes no cycles, so Python's cyclic garbage
    # collector has nothing to find here; pausing it keeps a 100,000-node backward linear.
    collecting = gc.isenabled()
    gc.disable()
    try:
        order = _topological_order(tensor.creator)
        if any(node.released for node in order):
            raise RuntimeError("trying to backward through the graph a second time: its saved arrays "
                               "were freed; call backward(retain_graph=True) the first time")
        _run_backward(order, tensor, seed, retain_graph)
    finally:
        if collecting:
            gc.enable()


def _topological_order(root):
    """Nodes reachable from ``root``, each before the nodes that made its inputs.

    Depth-first post-order with an explicit stack, then reversed: no recursion, linear time."""
    post, seen = [], {root}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for p in parents:
            creator = p.creator if isinstance(p, _tensor.Tensor) else None
            if creator is not None and creator not in seen:
                seen.add(creator)
                stack.append((creator, iter(creator.parents)))
                break
        else:
            stack.pop()
            post.append(node)
    post.reverse()
    return post


def _run_backward(order, root, seed, retain_graph):
    """The reverse sweep: each node turns its outputs' gradients into its inputs' gradients.
    Gradients of a tensor used several times are summed before its node runs."""
    pending = {root.creator: {root.index: seed}}   # node -> {output index: summed gradient}
    leaf_grads = {}                                # leaf -> summed gradient of this backward
    for node in order:
        grads = pending.pop(node, None)
        if grads is None:
            continue
        in_grads = node.backward(*_output_grads(node, grads))
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        for parent, g, needed in zip(node.parents, in_grads, node.needs_input_grad):
            if not needed or g is None:
                continue
            if _tensor._inplace_serial:
                parent = version_read(node, parent)
            if g.shape != parent._data.shape:
                raise RuntimeError(f"{type(node).__name__}.backward returned a gradient of shape "
                                   f"{g.shape} for an input of shape {parent.shape}")
            if parent.creator is None:
                leaf_grads[parent] = g if parent not in leaf_grads else leaf_grads[parent] + g
            else:
                slot = pending.setdefault(parent.creator, {})
                slot[parent.index] = g if parent.index not in slot else slot[parent.index] + g
        if not retain_graph:
            node.release()
    for leaf, g in leaf_grads.items():
        _accumulate_leaf(leaf, g)


def version_read(node, parent):
    """The version of ``parent`` that ``node`` read: in-place ops made after ``node`` moved the
    Tensor object on, so step back through them (see Tensor._record_inplace)."""
    epoch = getattr(node, "epoch", 0)
    while parent.creator is not None and getattr(parent.creator, "inplace_serial", 0) > epoch:
        parent = parent.creator.inplace_source
    return parent


def _output_grads(node, grads):
    """Run hooks and retain_grad for the node's outputs, and list the gradient of each output."""
    hooks = getattr(node, "output_hooks", None)
    if hooks:
        for index, tensor_ref in hooks.items():
            t = tensor_ref()
            if t is not None and index in grads:
                grads[index] = _run_hooks(t, grads[index])
                if t._retain:
                    _store_grad(t, grads[index])
    if node.output_shapes is None:
        return (grads[0],)
    return tuple(grads.get(i) for i in range(len(node.output_shapes)))


def _run_hooks(t, g):
    for hook in t._hooks or ():
        result = hook(_tensor.Tensor._wrap(g, None, 0))
        if result is not None:
            g = result._data if isinstance(result, _tensor.Tensor) else result
    return g


def _accumulate_leaf(leaf, g):
    """Run the leaf's hooks on its total gradient of this backward, then add it to ``.grad``."""
    _store_grad(leaf, _run_hooks(leaf, g))


def _store_grad(t, g):
    """Add ``g`` into ``t.grad`` (gradients accumulate across backward calls until zeroed).
    The first gradient is copied, since ops may hand the same array to several inputs and
    optimizers scale ``.grad`` in place."""
    if g.dtype != t._data.dtype:
        g = g.astype(t._data.dtype)
    if t.grad is None:
        t.grad = _tensor.Tensor._wrap(g.copy(), None, 0)
    else:
        t.grad._data = t.grad._data + g
