"""Tensor: an array plus the record of how it was made, so gradients can flow back through it.

``backward`` checks its seed gradient and hands over to ``function.backward_from``, the whole of
reverse-mode autograd: order the graph's nodes so that each comes after everything that used
its output, then walk that order once, calling each node's ``backward`` and summing the
gradients of tensors used more than once (the shared weights of BPTT).
"""
import numpy as np

from . import backend, dtypes, function
from .data_array import DataArray, as_data, plain
from .device import CPU, CUDA0
from .ops import elementwise as E, linalg as L, shape as S, trig as T
from .tensor_convert import ConvertMethods
from .tensor_inplace import InPlaceMethods
from .tensor_methods import CompareMethods, ReduceMethods, ShapeMethods

# How many differentiable in-place ops have run. Zero in ordinary programs, and then nothing
# below pays for in-place support; see Tensor._record_inplace.
_inplace_serial = 0


class Movable:
    """The shorthands of ``to(device, dtype)`` that Tensors and Modules share."""
    __slots__ = ()

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)


class Tensor(Movable, ConvertMethods, CompareMethods, ReduceMethods, ShapeMethods, InPlaceMethods):
    __slots__ = ("_data", "grad", "requires_grad", "creator", "index", "_hooks", "_retain", "_view", "__weakref__")
    __array_ufunc__ = None  # ndarray + Tensor -> Tensor.__radd__, not an elementwise NumPy loop

    def __init__(self, data, *sizes, requires_grad=False, dtype=None, device=None):
        """Python floats and lists become float32 (floats) or int64; arrays keep their dtype.
        Data goes to ``device``, else to the default device (CuPy arrays stay on the GPU).
        Ints alone are a shape, as torch's legacy ``Tensor(4, 3)``: zeros of that shape."""
        if isinstance(data, int) and not isinstance(data, bool):
            data = np.zeros((data, *sizes), dtype=dtypes.to_dtype(dtype) or dtypes.DEFAULT_FLOAT)
        elif sizes:
            raise TypeError("Tensor(data, ...): flags are keywords (requires_grad=, dtype=, device=)")
        data = data._data if isinstance(data, Tensor) else plain(data)
        dtype = dtypes.to_dtype(dtype)
        if not hasattr(data, "dtype"):
            data = np.asarray(data)
            if dtype is None and data.dtype == np.float64:
                dtype = np.float32
        if device is None:
            device = "cuda" if backend.device_of(data) == "cuda" else backend.default_device()
        data = backend.to_device(data, backend.check_device(device))
        data = backend.array_module(data).asarray(data, dtype=dtype)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {data.dtype}")
        self._data, self.grad, self.requires_grad = data, None, bool(requires_grad)
        self.creator, self.index, self._hooks, self._retain = None, 0, None, False

    @classmethod
    def _wrap(cls, data, creator, index):
        """Fast constructor for op outputs: no conversion, no checks."""
        if isinstance(data, np.generic):
            data = np.asarray(data)
        elif type(data) is DataArray:
            data = data.view(np.ndarray)
        t = object.__new__(cls)
        t._data, t.grad, t.requires_grad = data, None, creator is not None
        t.creator, t.index, t._hooks, t._retain = creator, index, None, False
        if _inplace_serial and creator is not None:
            creator.epoch = _inplace_serial   # which versions of in-place-modified inputs it read
        return t

    def _record_inplace(self, op):
        """Differentiable in-place op: ``self`` becomes ``op(old)``, where ``old`` is a new
        Tensor holding self's previous value and place in the graph.

        Ops made earlier list this same Tensor object among their inputs but read the old
        value. So each node is stamped with the in-place count at its creation (``epoch``),
        the in-place node with its own number, and backward sends a gradient from an older
        node back to the version it read (``version_read``). Returns self.
        """
        global _inplace_serial
        if self.creator is None and self.requires_grad:
            raise RuntimeError("a leaf tensor that requires grad is used in an in-place operation; "
                               "do it under tg.no_grad() (as optimizers do), or on a clone()")
        old = object.__new__(Tensor)
        old._data, old.grad, old.requires_grad = self._data, None, self.requires_grad
        old.creator, old.index, old._hooks, old._retain = self.creator, self.index, None, False
        _inplace_serial += 1
        result = op(old)
        result.creator.inplace_serial, result.creator.inplace_source = _inplace_serial, old
        self._data, self.creator, self.index = result._data, result.creator, result.index
        self.requires_grad = True
        return self

    @property
    def data(self):
        """This tensor's memory outside autograd: a NumPy view with torch's in-place methods
        (``DataArray``, made once per array so ``x.data is x.data``), or the CuPy array.
        Assigning ``x.data = array`` makes that array the tensor's values."""
        view = getattr(self, "_view", None)
        if view is None or view[0] is not self._data:
            view = self._view = (self._data, as_data(self._data))
        return view[1]

    @data.setter
    def data(self, array):
        view = getattr(self, "_view", None)
        if view is not None and array is view[1] and view[0] is self._data:
            return                       # x.data += ... wrote in place and hands the view back
        self._data = plain(array._data if isinstance(array, Tensor) else array)

    # ---- what it is ------------------------------------------------------------------------
    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    dtype = property(lambda self: self._data.dtype)

    @property
    def device(self):
        """A ``tg.device``; it equals its string, so ``x.device == "cpu"`` holds."""
        return CPU if type(self._data) is np.ndarray or backend.device_of(self._data) == "cpu" else CUDA0

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_leaf(self):
        return self.creator is None

    def size(self, dim=None):
        """Shape as in PyTorch: ``x.size()`` is the shape, ``x.size(0)`` one dimension."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self._data.size)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __format__(self, spec):
        """``f"{loss:.4f}"`` formats a one-element 0-d tensor's number, as torch does."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({backend.to_numpy(self._data)!r}, device='{self.device}'{grad})"

    # ---- autograd --------------------------------------------------------------------------
    def detach(self):
        """The same data, cut from the graph: how truncated BPTT stops gradients between chunks."""
        return Tensor._wrap(self._data, None, 0)

    def requires_grad_(self, flag=True):
        if not self.is_leaf:
            raise RuntimeError("requires_grad_ can only change leaf tensors; use detach() first")
        if flag and self._data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = flag
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (e.g. every hidden state h_t)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retain = True
        if self.creator is not None:
            self.creator.watch_output(self)
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is complete; a returned Tensor
        replaces the gradient that flows on. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        if self.creator is not None:
            self.creator.watch_output(self)
        return _HookHandle(self._hooks, hook)

    def zero_grad(self):
        self.grad = None

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``, in one pass over the graph.

        ``gradient`` is dL/d(self); it may be left out only when self has one element.
        Saved arrays are freed as each node is used unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input of the "
                               "computation had requires_grad=True (or it ran under no_grad())")
        xp = backend.array_module(self._data)
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a one-element tensor, got shape "
                                   f"{self.shape}; pass gradient= of that shape")
            seed = xp.ones_like(self._data)
        else:
            seed = gradient._data if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=self.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"gradient has shape {seed.shape} but the tensor has shape {self.shape}")
            if backend.device_of(seed) != self.device:
                raise RuntimeError(f"gradient is on {backend.device_of(seed)} but the tensor on {self.device}")
        function.backward_from(self, seed, retain_graph)   # the sweep itself lives in function.py

    # ---- operators -------------------------------------------------------------------------
    def __add__(self, other): return E.Add.apply(*_promoted(self, other))
    def __radd__(self, other): return E.Add.apply(*_promoted(other, self))
    def __sub__(self, other): return E.Sub.apply(*_promoted(self, other))
    def __rsub__(self, other): return E.Sub.apply(*_promoted(other, self))
    def __mul__(self, other): return E.Mul.apply(*_promoted(self, other))
    def __rmul__(self, other): return E.Mul.apply(*_promoted(other, self))
    def __truediv__(self, other): return E.Div.apply(*_promoted(self, other, floating=True))
    def __rtruediv__(self, other): return E.Div.apply(*_promoted(other, self, floating=True))
    def __pow__(self, other): return _power(*_promoted(self, other))
    def __rpow__(self, other): return _power(*_promoted(other, self))
    def __matmul__(self, other): return L.MatMul.apply(self, other)
    def __rmatmul__(self, other): return L.MatMul.apply(other, self)
    def __neg__(self): return E.Neg.apply(self)
    def __getitem__(self, index): return S.GetItem.apply(self, index=raw_index(index, self.device))

    # ---- elementwise -----------------------------------------------------------------------
    def exp(self): return E.Exp.apply(self)
    def log(self): return E.Log.apply(self)
    def sqrt(self): return E.Sqrt.apply(self)
    def abs(self): return E.Abs.apply(self)
    def tanh(self): return E.Tanh.apply(self)
    def sigmoid(self): return E.Sigmoid.apply(self)
    def relu(self): return E.Relu.apply(self)
    def maximum(self, other): return E.maximum(self, other)
    def minimum(self, other): return E.minimum(self, other)
    def sin(self): return T.Sin.apply(self)
    def cos(self): return T.Cos.apply(self)
    def neg(self): return -self
    def square(self): return self * self
    def add(self, other, *, alpha=1): return self + (other if alpha == 1 else other * alpha)
    def sub(self, other, *, alpha=1): return self - (other if alpha == 1 else other * alpha)
    def mul(self, other): return self * other
    def div(self, other): return self / other
    def pow(self, exponent): return self ** exponent
    def matmul(self, other): return self @ other
    mm = bmm = matmul

def _promoted(a, b, floating=False):
    """The operands of a binary op, cast to the dtype torch gives the result (``dtypes``); with
    ``floating`` (true division) an integer result becomes float32. The common cases (same
    dtype, a Python number with a float tensor) return at once."""
    if type(a) is type(b) and a._data.dtype == b._data.dtype and (not floating or a._data.dtype.kind == "f"):
        return a, b
    if isinstance(a, Tensor) and type(b) in (float, int) and a._data.dtype.kind == "f":
        return a, b
    if isinstance(b, Tensor) and type(a) in (float, int) and b._data.dtype.kind == "f":
        return a, b
    dtype = dtypes.result_type(a, b)
    if floating and dtype.kind != "f":
        dtype = dtypes.DEFAULT_FLOAT
    return as_dtype(a, dtype), as_dtype(b, dtype)


def _power(a, b):
    """a ** b; NumPy raises bools to int8, torch keeps bool (True ** x is True, False ** x is not x)."""
    out = E.Pow.apply(a, b)
    if out._data.dtype != np.bool_ and getattr(a, "dtype", None) == np.bool_ and getattr(b, "dtype", np.bool_) == np.bool_:
        return out.to(dtype=np.bool_)
    return out


def as_dtype(x, dtype):
    if isinstance(x, Tensor):
        return x if x._data.dtype == dtype else x.to(dtype=dtype)
    if isinstance(x, np.generic):
        return np.asarray(x, dtype=dtype)
    if hasattr(x, "astype"):
        return x.astype(dtype, copy=False)
    return x


class _HookHandle:
    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def raw_index(index, device):
    """Tensors inside an index become arrays on ``device``; float indices are refused."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for i in items:
        if isinstance(i, Tensor):
            i = i._data
        if isinstance(i, (list, np.ndarray)) or hasattr(i, "__cuda_array_interface__"):
            i = backend.to_device(np.asarray(i) if isinstance(i, list) else i, device)
            if i.dtype.kind not in "iub":
                raise TypeError(f"tensors used as indices must be integer or boolean, got dtype {i.dtype}")
        out.append(i)
    return tuple(out) if isinstance(index, tuple) else out[0]


# Joining and splitting live with the other tg.* functions; many modules import them from here.
from .tensor_functions import cat, chunk, split, stack  # noqa: E402,F401
