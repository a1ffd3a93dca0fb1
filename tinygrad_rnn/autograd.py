"""``tg.autograd``: ``grad`` (gradients returned instead of accumulated) and ``Variable`` (the
pre-0.4 torch wrapper, today the tensor itself), for torch programs that import them."""
from .function import _topological_order
from .tensor import Tensor


def Variable(data, requires_grad=False, volatile=False):
    """The tensor itself (as in torch >= 0.4); ``requires_grad=True`` makes a leaf that needs one."""
    t = data if isinstance(data, Tensor) else Tensor(data)
    return t.requires_grad_() if requires_grad else t


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None):
    """d(outputs)/d(inputs) as a tuple, leaving every ``.grad`` as it was. The outputs'
    gradients (``grad_outputs``, default 1 for one-element outputs) are summed over outputs."""
    if create_graph:
        raise NotImplementedError("grad(create_graph=True): higher-order gradients are not supported")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    leaves = {p for out in outputs if out.creator is not None
              for node in _topological_order(out.creator) for p in node.parents
              if isinstance(p, Tensor) and p.creator is None and p.requires_grad}
    untouched = [(leaf, leaf.grad) for leaf in leaves]     # backward accumulates into every leaf
    saved = [(x.grad, x._retain) for x in inputs]
    try:
        for x in inputs:
            x.grad = None
            if not x.is_leaf:
                x.retain_grad()
        for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
            out.backward(g, retain_graph=bool(retain_graph) or k < len(outputs) - 1)
        results = tuple(x.grad for x in inputs)
    finally:
        for leaf, g in untouched:
            leaf.grad = g
        for x, (g, retain) in zip(inputs, saved):
            x.grad, x._retain = g, retain
    if not allow_unused and any(r is None for r in results):
        raise RuntimeError("one of the inputs was not used to compute the outputs; pass allow_unused=True")
    return results
