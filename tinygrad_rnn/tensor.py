"""Tensor: an array plus the record of how it was made, so gradients can flow back through it.

``backward`` checks its seed gradient and hands over to ``function.backward_from``, the whole of
reverse-mode autograd: order the graph's nodes so that each comes after everything that used
its output, then walk that order once, calling each node's ``backward`` and summing the
gradients of tensors used more than once (the shared weights of BPTT).
"""
import numpy as np

from . import backend
from . import function
from .ops import elementwise as E, linalg as L, lookup, loss as N, reduce as R, shape as S

float32, float64, int64, int32, bool_ = np.float32, np.float64, np.int64, np.int32, np.bool_


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


class Tensor(Movable):
    __slots__ = ("data", "grad", "requires_grad", "creator", "index", "_hooks", "_retain", "__weakref__")
    __array_ufunc__ = None  # ndarray + Tensor -> Tensor.__radd__, not an elementwise NumPy loop

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        """Python numbers and lists become float32 (floats) or int64; arrays keep their dtype.
        Data goes to ``device``, else to the default device (CuPy arrays stay on the GPU)."""
        if isinstance(data, Tensor):
            data = data.data
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
        self.data, self.grad, self.requires_grad = data, None, bool(requires_grad)
        self.creator, self.index, self._hooks, self._retain = None, 0, None, False

    @classmethod
    def _wrap(cls, data, creator, index):
        """Fast constructor for op outputs: no conversion, no checks."""
        if isinstance(data, np.generic):
            data = np.asarray(data)
        t = object.__new__(cls)
        t.data, t.grad, t.requires_grad = data, None, creator is not None
        t.creator, t.index, t._hooks, t._retain = creator, index, None, False
        return t

    # ---- what it is ------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    T = property(lambda self: self.permute(*reversed(range(self.ndim))))

    @property
    def device(self):
        return "cpu" if type(self.data) is np.ndarray else backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self.creator is None

    def size(self, dim=None):
        """Shape as in PyTorch: ``x.size()`` is the shape, ``x.size(0)`` one dimension."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        return self.shape[0]

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({backend.to_numpy(self.data)!r}, device='{self.device}'{grad})"

    # ---- moving between devices and dtypes ------------------------------------------------
    def numpy(self):
        """The data as a NumPy array (a copy for CUDA tensors; the same memory on the CPU)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device=None, dtype=None):
        """Copy to ``device`` and/or ``dtype``; differentiable, so it can sit inside a graph."""
        out = self
        if device is not None and backend.check_device(device) != self.device:
            out = ToDevice.apply(out, device=backend.check_device(device))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            dtype = np.dtype(dtype)
            out = Cast.apply(out, dtype=dtype) if dtype.kind == "f" else Tensor._wrap(out.data.astype(dtype), None, 0)
        return out

    def long(self):
        return self.to(dtype=np.int64)

    # ---- autograd --------------------------------------------------------------------------
    def detach(self):
        """The same data, cut from the graph: how truncated BPTT stops gradients between chunks."""
        return Tensor._wrap(self.data, None, 0)

    def requires_grad_(self, flag=True):
        if not self.is_leaf:
            raise RuntimeError("requires_grad_ can only change leaf tensors; use detach() first")
        if flag and self.data.dtype.kind != "f":
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
        xp = backend.array_module(self.data)
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a one-element tensor, got shape "
                                   f"{self.shape}; pass gradient= of that shape")
            seed = xp.ones_like(self.data)
        else:
            seed = gradient.data if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=self.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"gradient has shape {seed.shape} but the tensor has shape {self.shape}")
            if backend.device_of(seed) != self.device:
                raise RuntimeError(f"gradient is on {backend.device_of(seed)} but the tensor on {self.device}")
        function.backward_from(self, seed, retain_graph)   # the sweep itself lives in function.py

    # ---- operators -------------------------------------------------------------------------
    def __add__(self, other): return E.Add.apply(self, other)
    def __radd__(self, other): return E.Add.apply(other, self)
    def __sub__(self, other): return E.Sub.apply(self, other)
    def __rsub__(self, other): return E.Sub.apply(other, self)
    def __mul__(self, other): return E.Mul.apply(self, other)
    def __rmul__(self, other): return E.Mul.apply(other, self)
    def __truediv__(self, other): return E.Div.apply(self, other)
    def __rtruediv__(self, other): return E.Div.apply(other, self)
    def __pow__(self, other): return E.Pow.apply(self, other)
    def __rpow__(self, other): return E.Pow.apply(other, self)
    def __matmul__(self, other): return L.MatMul.apply(self, other)
    def __rmatmul__(self, other): return L.MatMul.apply(other, self)
    def __neg__(self): return E.Neg.apply(self)
    def __getitem__(self, index): return S.GetItem.apply(self, index=_raw_index(index, self.device))

    # comparisons give plain (non-differentiable) boolean tensors
    def _compare(self, other, op):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(op(self.data, other), None, 0)

    def __lt__(self, other): return self._compare(other, lambda a, b: a < b)
    def __le__(self, other): return self._compare(other, lambda a, b: a <= b)
    def __gt__(self, other): return self._compare(other, lambda a, b: a > b)
    def __ge__(self, other): return self._compare(other, lambda a, b: a >= b)
    def __eq__(self, other): return self._compare(other, lambda a, b: a == b)
    def __ne__(self, other): return self._compare(other, lambda a, b: a != b)
    __hash__ = object.__hash__  # hashed by identity (graph nodes), though == is elementwise
    def any(self): return bool(self.data.any())
    def all(self): return bool(self.data.all())

    # ---- elementwise -----------------------------------------------------------------------
    def exp(self): return E.Exp.apply(self)
    def log(self): return E.Log.apply(self)
    def sqrt(self): return E.Sqrt.apply(self)
    def abs(self): return E.Abs.apply(self)
    def tanh(self): return E.Tanh.apply(self)
    def sigmoid(self): return E.Sigmoid.apply(self)
    def relu(self): return E.Relu.apply(self)
    def clip(self, low=None, high=None): return E.clip(self, low, high)
    clamp = clip
    def maximum(self, other): return E.maximum(self, other)
    def minimum(self, other): return E.minimum(self, other)

    # ---- reductions ------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False): return R.Sum.apply(self, axis=axis, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return R.Mean.apply(self, axis=axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return R.Max.apply(self, axis=axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return R.Min.apply(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, correction=1):
        return R.Var.apply(self, axis=axis, keepdims=keepdims, correction=correction)

    def logsumexp(self, axis=-1, keepdims=False): return N.LogSumExp.apply(self, axis=axis, keepdims=keepdims)
    def softmax(self, axis=-1): return N.Softmax.apply(self, axis=axis)
    def log_softmax(self, axis=-1): return N.LogSoftmax.apply(self, axis=axis)

    # ---- shape -----------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return S.Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def permute(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return S.Permute.apply(self, axes=tuple(axes))

    def transpose(self, dim0=0, dim1=1):
        """Swap two axes (PyTorch's meaning); use ``permute`` for a full reordering."""
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return self.permute(*axes)

    def expand(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return S.Expand.apply(self, shape=tuple(shape))

    broadcast_to = expand

    def squeeze(self, axis=None):
        axes = [i for i, n in enumerate(self.shape) if n == 1] if axis is None else \
            [a % self.ndim for a in ((axis,) if isinstance(axis, int) else axis) if self.shape[a] == 1]
        return self.reshape([n for i, n in enumerate(self.shape) if i not in axes])

    def unsqueeze(self, axis):
        axis = axis % (self.ndim + 1)
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def flip(self, axes):
        return S.Flip.apply(self, axes=(axes,) if isinstance(axes, int) else tuple(axes))

    def split(self, split_size_or_sections, axis=0):
        return split(self, split_size_or_sections, axis)

    def chunk(self, chunks, axis=0):
        return chunk(self, chunks, axis)

    def pad(self, pad_width, value=0.0):
        return S.Pad.apply(self, pad_width=tuple(map(tuple, pad_width)), value=value)

    def gather(self, axis, index):
        return lookup.Gather.apply(self, index, axis=axis)


class _HookHandle:
    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


class ToDevice(function.Function):
    """Copy between devices; the gradient is copied back."""

    def forward(self, a, device):
        self.source = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, g):
        return backend.to_device(g, self.source)


class Cast(function.Function):
    def forward(self, a, dtype):
        self.source = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.source)


def _raw_index(index, device):
    """Tensors inside an index become arrays on ``device``; float indices are refused."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for i in items:
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, (list, np.ndarray)) or hasattr(i, "__cuda_array_interface__"):
            i = backend.to_device(np.asarray(i) if isinstance(i, list) else i, device)
            if i.dtype.kind not in "iub":
                raise TypeError(f"tensors used as indices must be integer or boolean, got dtype {i.dtype}")
        out.append(i)
    return tuple(out) if isinstance(index, tuple) else out[0]


def split(x, split_size_or_sections, axis=0):
    """Pieces of ``x`` along ``axis``: of equal size ``n`` (the last may be smaller), or of the
    listed sizes, as ``torch.split``."""
    length = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        n = split_size_or_sections
        sizes = [n] * (length // n) + ([length % n] if length % n else [])
    else:
        sizes = list(split_size_or_sections)
    return S.Split.apply(x, sizes=sizes, axis=axis)


def chunk(x, chunks, axis=0):
    """``chunks`` nearly equal pieces along ``axis`` (torch.chunk)."""
    length = x.shape[axis]
    return split(x, -(-length // chunks), axis)


def cat(tensors, axis=0):
    return S.Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    return S.Stack.apply(*tensors, axis=axis)
