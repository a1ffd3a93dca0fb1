"""torch's dtype names, and torch's rule for the dtype of a result that mixes dtypes.

The names are NumPy scalar types (``tg.float32 is np.float32``, ``tg.long is np.int64``): a
Tensor's ``dtype`` is a NumPy dtype, ``x.dtype == tg.float32`` holds, and every name can be given
to NumPy too. torch's bfloat16 and complex types have no counterpart here.

Promotion follows torch, not NumPy, so results keep the dtype a torch program expects:
operands are ranked in three tiers (tensors with dimensions, 0-d tensors, Python/NumPy numbers)
and the result takes the dtype of the highest tier unless a lower tier brings a higher
*category* (bool < integer < floating). A number that raises the category gives the default
dtype of its category (float32 for a float, int64 for an int), so ``float32_tensor * 3`` stays
float32 and ``int64_tensor * 0.5`` is float32, where NumPy would give float64 in both.
"""
import numbers

import numpy as np

DEFAULT_FLOAT = np.dtype(np.float32)
NAMES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16,
    "int64": np.int64, "long": np.int64, "int32": np.int32, "int": np.int32,
    "int16": np.int16, "short": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}
UNSUPPORTED = ("bfloat16", "complex32", "complex64", "complex128", "cfloat", "cdouble", "chalf",
                "float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64", "qint8", "quint8")


def _category(dtype):
    return {"b": 0, "u": 1, "i": 1, "f": 2}.get(dtype.kind, 3)


def _tier(x):
    """(tier, dtype): 0 for tensors/arrays with dimensions, 1 for 0-d ones, 2 for numbers."""
    if isinstance(x, (bool, np.bool_)):
        return 2, np.dtype(np.bool_)
    if isinstance(x, (numbers.Integral, np.integer)):
        return 2, np.dtype(np.int64)
    if isinstance(x, (numbers.Real, np.floating)):
        return 2, DEFAULT_FLOAT
    if not hasattr(x, "dtype"):
        raise TypeError(f"unsupported operand of type {type(x).__name__} (use a tensor or a number)")
    return (0 if x.ndim else 1), np.dtype(x.dtype)


def promote_types(a, b):
    """torch's table: across categories the higher category's dtype wins as it is (int64 with
    float32 is float32, not NumPy's float64); within one, the smallest dtype that holds both."""
    a, b = np.dtype(a), np.dtype(b)
    if _category(a) != _category(b):
        return a if _category(a) > _category(b) else b
    return np.promote_types(a, b)


def result_type(*operands):
    """The dtype torch gives ``a op b`` for Tensors, arrays and numbers (see the module docstring)."""
    best = [None, None, None]
    for x in operands:
        tier, dtype = _tier(x)
        if best[tier] is None:
            best[tier] = dtype
        elif tier < 2:
            best[tier] = promote_types(best[tier], dtype)
        elif _category(dtype) > _category(best[tier]):   # numbers: the highest category's default
            best[tier] = dtype
    result = None
    for dtype in best:
        if dtype is not None and (result is None or _category(dtype) > _category(result)):
            result = dtype
    return result


def to_dtype(dtype):
    """A dtype argument (a NumPy type, a name such as ``"float32"``, or None) as a NumPy dtype."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        name = dtype[len("torch."):] if dtype.startswith("torch.") else dtype
        if name in NAMES:
            return np.dtype(NAMES[name])
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r} (use tg.float32, tg.int64, ...)") from None


def unsupported(name):
    """The error for a torch dtype name that has no NumPy counterpart."""
    return AttributeError(f"tinygrad_rnn has no dtype {name!r}: NumPy has no such type; "
                          f"use tg.float32 or tg.float64")


def get_default_dtype():
    """The dtype of tensors made from Python floats: float32, as torch's default."""
    return DEFAULT_FLOAT.type


def is_floating_point(x):
    return np.dtype(x.dtype).kind == "f"
