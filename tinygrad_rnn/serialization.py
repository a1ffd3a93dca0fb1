"""``tg.save`` / ``tg.load``: tensors, arrays, state dicts, nested containers and whole modules.

The file is a pickle stream after a short header, but arrays are not pickled: each is written as
raw bytes with its dtype and shape (pickle's "persistent id" hook), and tensors as a call to
``_rebuild_tensor`` on such an array. So loading data needs no NumPy internals and no classes.

Loading is safe by default (``weights_only=True``, as torch): the unpickler imports only an
allow-list of globals (the rebuild functions, ``OrderedDict``, ``tg.device``, NumPy scalar
types). A file that names anything else (``os.system``, a Module class) is refused with an error
naming that global, before anything runs. To load a whole module from a file you trust, pass
``weights_only=False`` or allow its classes with ``safe_globals([...])`` / ``add_safe_globals``.
"""
import collections
import contextlib
import importlib
import io
import os
import pickle
import tempfile

import numpy as np

from . import backend
from .device import device as _device
from .tensor import Tensor

MAGIC = b"TGRNN-SAVE-1\n"
_NUMPY_TYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128)
_user_safe = {}


def _rebuild_tensor(array, requires_grad):
    return Tensor(array, requires_grad=requires_grad)


def _rebuild_parameter(array, requires_grad):
    from .nn.modules.module import Parameter
    return Parameter(array, requires_grad=requires_grad)


def _rebuild_dtype(name):
    return np.dtype(name)


def _rebuild_scalar(array):
    return array[()]


def _name(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _builtin_safe():
    allowed = {_name(f): f for f in (_rebuild_tensor, _rebuild_parameter, _rebuild_dtype, _rebuild_scalar)}
    allowed.update({"collections.OrderedDict": collections.OrderedDict, "builtins.set": set,
                    "builtins.frozenset": frozenset, "builtins.complex": complex, "builtins.slice": slice,
                    "tinygrad_rnn.device.device": _device})
    allowed.update({f"numpy.{t.__name__}": t for t in _NUMPY_TYPES})
    return allowed


def add_safe_globals(safe_globals):
    """Allow these classes/functions in ``load(weights_only=True)`` from now on."""
    for obj in safe_globals:
        _user_safe[_name(obj)] = obj


def get_safe_globals():
    return list(_user_safe.values())


def clear_safe_globals():
    _user_safe.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """Allow these classes/functions in ``load`` inside the ``with`` block only."""
    saved = dict(_user_safe)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _user_safe.clear()
        _user_safe.update(saved)


class _Pickler(pickle.Pickler):
    """Arrays leave the pickle stream as raw bytes; tensors, dtypes and NumPy scalars become
    calls to the small rebuild functions above."""

    def persistent_id(self, obj):
        if isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
            array = backend.to_numpy(obj)
            if array.dtype.kind in "biufc":
                return ("array", array.dtype.str, array.shape, array.tobytes(order="C"), backend.device_of(obj))
        return None

    def reducer_override(self, obj):
        from .nn.modules.module import Parameter
        if isinstance(obj, Tensor):
            rebuild = _rebuild_parameter if isinstance(obj, Parameter) else _rebuild_tensor
            return rebuild, (obj._data, obj.requires_grad)
        if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
            return _rebuild_scalar, (np.asarray(obj),)
        if isinstance(obj, np.dtype):
            return _rebuild_dtype, (obj.str,)
        return NotImplemented


def save(obj, f, *, pickle_protocol=4):
    """Write ``obj`` to ``f`` (a path, written atomically, or a binary file object)."""
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    _Pickler(buffer, protocol=pickle_protocol).dump(obj)
    if hasattr(f, "write"):
        f.write(buffer.getvalue())
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-save-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(buffer.getvalue())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, weights_only, map_location):
        super().__init__(file)
        self.weights_only, self.map_location = weights_only, map_location
        self.allowed = {**_builtin_safe(), **_user_safe}

    def find_class(self, module, name):
        key = f"{module}.{name}"
        if key in self.allowed:
            return self.allowed[key]
        if self.weights_only:
            raise pickle.UnpicklingError(
                f"tg.load(weights_only=True) refused the global {key!r}: the file asks to import it, "
                f"and only tensors, arrays and plain containers load by default. If you trust this "
                f"file, load it with weights_only=False, or allow the class with "
                f"tg.serialization.safe_globals([{name}]).")
        return getattr(importlib.import_module(module), name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "array"):
            raise pickle.UnpicklingError(f"unknown record in the file: {pid!r:.80}")
        _, dtype, shape, raw, location = pid
        array = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
        return _place(array, location, self.map_location)


def _place(array, location, map_location):
    """Put a loaded array where ``map_location`` says (a device, a {from: to} dict or a
    function(array, location)); by default where it was saved."""
    if callable(map_location):
        moved = map_location(array, location)
        return moved._data if isinstance(moved, Tensor) else moved
    target = location
    if isinstance(map_location, dict):
        target = map_location.get(location, map_location.get(f"{location}:0", location))
    elif map_location is not None:
        target = map_location
    target = str(target)
    if target.startswith("cuda") and not backend.cuda_available():
        raise RuntimeError(f"the file holds a tensor saved on {location!r} but CUDA is not available "
                           f"here; load with map_location='cpu'")
    return backend.to_device(array, target)


def load(f, map_location=None, *, weights_only=None):
    """Read what ``save`` wrote, from a path or a binary file object (see the module docstring).
    ``weights_only=None`` means True, as in torch 2.6+."""
    weights_only = True if weights_only is None else weights_only
    if hasattr(f, "read"):
        raw = f.read()
    else:
        with open(os.fspath(f), "rb") as handle:
            raw = handle.read()
    if not raw.startswith(MAGIC):
        raise pickle.UnpicklingError("not a file written by tg.save (the header is missing)")
    stream = io.BytesIO(raw[len(MAGIC):])
    return _Unpickler(stream, weights_only, map_location).load()
