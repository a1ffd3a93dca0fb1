"""The ``tg.*`` functions of torch that act on tensors: joining and splitting, the functional
forms of Tensor methods (``tg.exp(x)``, ``tg.max(x, 1)``), matrix products, sampling.

Each is a thin wrapper over a Tensor method or an op, so torch programs can call either form.
"""
import numpy as np

from . import backend, dtypes
from .ops import shape as S
from .tensor import Tensor, as_dtype


def split(x, split_size_or_sections, dim=0, *, axis=None):
    """Pieces of ``x`` along ``dim``: of equal size ``n`` (the last may be smaller), or of the
    listed sizes, as ``torch.split``."""
    dim = dim if axis is None else axis
    length = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        n = split_size_or_sections
        sizes = [n] * (length // n) + ([length % n] if length % n else [])
    else:
        sizes = list(split_size_or_sections)
    return S.Split.apply(x, sizes=sizes, axis=dim)


def chunk(x, chunks, dim=0, *, axis=None):
    """``chunks`` nearly equal pieces along ``dim`` (torch.chunk)."""
    dim = dim if axis is None else axis
    return split(x, -(-x.shape[dim] // chunks), dim)


def cat(tensors, dim=0, *, axis=None):
    """Join along an existing dim; tensors of other dtypes are promoted as torch does."""
    return S.Concatenate.apply(*_same_dtype(tensors), axis=dim if axis is None else axis)


concat = concatenate = cat


def stack(tensors, dim=0, *, axis=None):
    """Join along a new dim."""
    return S.Stack.apply(*_same_dtype(tensors), axis=dim if axis is None else axis)


def _same_dtype(tensors):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("expected a non-empty list of tensors")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    dtype = dtypes.result_type(*tensors)
    return [as_dtype(t, dtype) for t in tensors]


def _method(name, doc):
    def call(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    call.__name__, call.__qualname__, call.__doc__ = name, name, doc
    return call


_FORMS = {
    "exp": "e ** input", "log": "natural logarithm", "sqrt": "square root", "abs": "absolute value",
    "tanh": "hyperbolic tangent", "sin": "sine", "cos": "cosine", "tril": "lower triangle",
    "triu": "upper triangle", "sigmoid": "logistic sigmoid", "relu": "max(input, 0)",
    "neg": "-input", "square": "input * input",
    "sum": "sum over dim", "mean": "mean over dim", "var": "variance", "std": "standard deviation",
    "max": "max, or (values, indices) with dim", "min": "min, or (values, indices) with dim",
    "amax": "max over dims", "amin": "min over dims", "argmax": "index of the max", "argmin": "index of the min",
    "logsumexp": "log(sum(exp(input)))", "softmax": "softmax along dim", "log_softmax": "log of softmax along dim",
    "cumsum": "running sum along dim", "topk": "k largest (values, indices)", "sort": "sorted (values, indices)",
    "argsort": "order that sorts", "norm": "p-norm", "clamp": "clamp to [min, max]", "clip": "clamp",
    "reshape": "reshape", "flatten": "flatten dims", "squeeze": "drop size-1 dims", "unsqueeze": "add a size-1 dim",
    "transpose": "swap two dims", "permute": "reorder dims", "t": "transpose a matrix", "narrow": "a slice of dim",
    "unbind": "slices along dim", "flip": "reverse dims", "gather": "pick along dim by index",
    "masked_fill": "value where mask", "index_select": "entries along dim", "scatter": "write at index", "scatter_add": "add at index", "masked_select": "elements where mask", "clone": "a copy", "add": "input + other", "sub": "input - other",
    "mul": "input * other", "div": "input / other", "pow": "input ** exponent", "matmul": "matrix product",
    "mm": "2-D matrix product", "bmm": "batched matrix product", "numel": "element count",
    "round": "round half to even", "floor": "round down", "ceil": "round up", "trunc": "round toward zero", "sign": "-1, 0 or 1",
    "isnan": "where NaN", "isinf": "where infinite", "isfinite": "where finite", "nonzero": "indices of non-zeros", "argwhere": "indices of non-zeros", "maximum": "elementwise max", "minimum": "elementwise min"
}
for _name, _doc in _FORMS.items():
    globals()[_name] = _method(_name, f"``tg.{_name}(input, ...)`` = ``input.{_name}(...)``: {_doc}.")
del _name, _doc


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Draw ``num_samples`` category indices from each row of non-negative weights ``input``
    (1-D: one distribution; 2-D: one per row). Returns int64 indices, as torch.multinomial."""
    probs = backend.to_numpy(input._data if isinstance(input, Tensor) else np.asarray(input)).astype(np.float64)
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"multinomial expects a 1-D or 2-D tensor of weights, got {probs.ndim}-D")
    rows = probs.reshape(-1, probs.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("multinomial: weights must be finite and non-negative")
    totals = rows.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise RuntimeError("multinomial: a row of weights sums to zero")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError(f"multinomial: cannot draw {num_samples} samples without replacement "
                           f"from {rows.shape[1]} categories")
    rng = backend.rng()
    out = np.stack([rng.choice(rows.shape[1], size=num_samples, replace=replacement, p=r / r.sum())
                    for r in rows]).astype(np.int64)
    out = out.reshape(probs.shape[:-1] + (num_samples,))
    return Tensor(out, device=input.device if isinstance(input, Tensor) else None)


def from_numpy(array):
    """A tensor sharing ``array``'s memory and dtype (writes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array, None, 0)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory when it already is one (or a NumPy array) of that
    dtype and device; otherwise a copy."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    if isinstance(data, np.ndarray) and (dtype is None or np.dtype(dtypes.to_dtype(dtype)) == data.dtype) \
            and (device is None or backend.check_device(device) == "cpu"):
        return Tensor._wrap(data, None, 0)
    from .creation import tensor
    return tensor(data, dtype=dtype, device=device)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (a bool tensor)."""
    a, b = (t._data if isinstance(t, Tensor) else t for t in (input, other))
    return Tensor._wrap(backend.array_module(a).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan), None, 0)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element is close (see ``isclose``): a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def is_floating_point(input):
    return dtypes.is_floating_point(input)


def _typed(name, dtype):
    def make(*args, device=None):
        """``tg.{name}([1, 2])`` makes a tensor of those values; ``tg.{name}(2, 3)`` one of that
        shape (zeros here: torch leaves it uninitialised)."""
        if len(args) == 1 and not isinstance(args[0], int):
            data = args[0]
            return Tensor(data._data if isinstance(data, Tensor) else data, dtype=dtype, device=device)
        return Tensor(np.zeros(tuple(args), dtype=dtype), device=device)
    make.__name__ = make.__qualname__ = name
    make.__doc__ = make.__doc__.format(name=name)
    return make


FloatTensor = _typed("FloatTensor", np.float32)
DoubleTensor = _typed("DoubleTensor", np.float64)
LongTensor = _typed("LongTensor", np.int64)
IntTensor = _typed("IntTensor", np.int32)
BoolTensor = _typed("BoolTensor", np.bool_)
ByteTensor = _typed("ByteTensor", np.uint8)

__all__ = ["split", "chunk", "cat", "concat", "concatenate", "stack", *_FORMS, "multinomial", "from_numpy",
           "as_tensor", "is_tensor", "isclose", "allclose", "is_floating_point", "FloatTensor", "DoubleTensor", "LongTensor",
           "IntTensor", "BoolTensor", "ByteTensor"]
