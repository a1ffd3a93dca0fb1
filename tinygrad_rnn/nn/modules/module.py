"""Module and Parameter: containers that find their weights by attribute, as in PyTorch.

A Module's parameters are its Parameter attributes and those of its sub-Modules (also inside
lists held in ``ModuleList``), named by the attribute path: ``layers.0.weight_ih_l0``. That name
is the ``state_dict`` key, so checkpoints and PyTorch weights line up by name.
"""
from collections import OrderedDict

import numpy as np

from ... import backend
from ...function import no_grad
from ...tensor import Movable, Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimizer updates (requires_grad by default)."""
    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("Tensor"):]


class Module(Movable):
    """Base class: subclasses set Parameters / Modules as attributes and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_params" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        self._params.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- walking the tree ------------------------------------------------------------------
    def named_parameters(self, prefix=""):
        for name, p in self._params.items():
            if p is not None:
                yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix=""):
        yield prefix.rstrip("."), self
        for name, m in self._modules.items():
            yield from m.named_modules(prefix + name + ".")

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return list(self._modules.values())

    # ---- modes and devices -----------------------------------------------------------------
    def train(self, mode=True):
        """Training mode: dropout is active. ``eval()`` turns it off."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def _map_parameters(self, fn):
        for p in self.parameters():
            p.data = fn(p.data)
            if p.grad is not None:
                p.grad.data = fn(p.grad.data)
        return self

    def to(self, device=None, dtype=None):
        """Move every parameter (in place, so optimizers keep pointing at them)."""
        if device is not None:
            device = backend.check_device(device)
            self._map_parameters(lambda a: backend.to_device(a, device))
        if dtype is not None:
            self._map_parameters(lambda a: a.astype(dtype))
        return self

    # ---- state -----------------------------------------------------------------------------
    def state_dict(self):
        """Name -> NumPy array copy of every parameter (PyTorch's key names)."""
        return OrderedDict((name, backend.to_numpy(p.data).copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state, strict=True):
        """Copy arrays (NumPy, CuPy, Tensors, torch tensors via ``.numpy()``...) into the
        parameters, on their device and dtype. All checks happen before anything is copied."""
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise ValueError(f"state_dict does not match {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        arrays = {}
        for name, value in state.items():
            if name not in own:
                continue
            array = _to_numpy(value)
            if array.shape != own[name].shape:
                raise ValueError(f"state_dict entry {name!r} has shape {array.shape}, "
                                 f"but the parameter has shape {own[name].shape}")
            arrays[name] = array
        with no_grad():
            for name, array in arrays.items():
                p = own[name]
                p.data = backend.to_device(array.astype(p.dtype), p.device)
        return self

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        return "\n".join(lines) + (")" if len(lines) == 1 else "\n)")


def _to_numpy(value):
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().numpy()
    return backend.to_numpy(value) if hasattr(value, "__cuda_array_interface__") else np.asarray(value)
