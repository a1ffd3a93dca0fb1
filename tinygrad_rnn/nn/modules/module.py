"""Module and Parameter: containers that find their weights by attribute, as in PyTorch.

A Module's parameters are its Parameter attributes and those of its sub-Modules, named by the
attribute path: ``layers.0.weight_ih_l0``. Buffers (``register_buffer``) are tensors that are
saved and moved with the module but not trained. The names are the ``state_dict`` keys, so
checkpoints and PyTorch weights line up by name.

A Parameter reachable by two paths (a tied embedding/decoder weight) is listed once, under its
first name, as PyTorch does: an optimizer updates it once and gradient clipping counts it once.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from ... import backend
from ...function import no_grad
from ...tensor import Movable, Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimizer updates (requires_grad by default)."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.zeros(0, dtype=np.float32)
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("Tensor"):]


class StateDictError(RuntimeError, ValueError):
    """``load_state_dict`` got keys or shapes that do not fit: a RuntimeError as in PyTorch
    (also a ValueError, which this library raised before, so older callers keep working)."""


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _parse_to(args, kwargs):
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` or keywords ->
    (device or None, dtype or None)."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, (type, np.dtype)):
            dtype = arg
        elif arg is not None:
            device = arg
    return device, (None if dtype is None else np.dtype(dtype))


class Module(Movable):
    """Base class: subclasses set Parameters / Modules as attributes and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # the parameter table under its older name here (torch's is ``_parameters``)
    _params = property(lambda self: self._parameters)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        tables = {"_parameters": self._parameters, "_buffers": self._buffers, "_modules": self._modules}
        if isinstance(value, Parameter):
            kind = "_parameters"
        elif isinstance(value, Module):
            kind = "_modules"
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            kind = "_buffers"
        elif value is None and (name in self._parameters or name in self._modules):
            kind = "_parameters" if name in self._parameters else "_modules"   # switched off (bias=False)
        elif name in self._parameters:   # a plain value would silently drop the parameter from training
            raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                            f"(Parameter or None expected)")
        else:
            kind = None
        for key, table in tables.items():
            if key != kind:
                table.pop(name, None)
        if kind is not None:
            tables[kind][name] = value        # an existing name keeps its place, as in PyTorch
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        object.__delattr__(self, name)

    def __call__(self, *args, **kwargs):
        pre, post = self.__dict__.get("_forward_pre_hooks"), self.__dict__.get("_forward_hooks")
        for hook in list(pre.values()) if pre else ():
            changed = hook(self, args)
            if changed is not None:
                args = changed if isinstance(changed, tuple) else (changed,)
        output = self.forward(*args, **kwargs)
        for hook in list(post.values()) if post else ():
            changed = hook(self, args, output)
            if changed is not None:
                output = changed
        return output

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` runs before ``forward``; returning a value replaces the
        positional arguments. Returns a handle whose ``remove()`` takes the hook off."""
        return _HookHandle(self, "_forward_pre_hooks", hook)

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` runs after ``forward`` (to record activations, say);
        returning a value replaces the output. Returns a handle with ``remove()``."""
        return _HookHandle(self, "_forward_hooks", hook)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # ---- building --------------------------------------------------------------------------
    def _check_name(self, name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")
        if name in self.__dict__ and name not in self._parameters and name not in self._buffers \
                and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists")

    def add_module(self, name, module):
        """Register ``module`` (or None) as the child ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one) as ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            f"(Parameter or None required)")
        self._check_name(name, "parameter")
        setattr(self, name, param)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor saved in ``state_dict`` (unless ``persistent=False``) and moved by ``to()``,
        but not trained: running statistics, masks, position tables."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            f"(Tensor or None required)")
        self._check_name(name, "buffer")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = tensor
        (self._non_persistent.discard if persistent else self._non_persistent.add)(name)
        object.__setattr__(self, name, tensor)

    def get_submodule(self, target):
        """The module at the dotted path ``target`` ("" is this module)."""
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (in {target!r})")
            module = module._modules[part]
        return module

    # ---- walking the tree ------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, each once."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, table, prefix, recurse, remove_duplicate):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, t in getattr(module, table).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{module_prefix}.{name}" if module_prefix else name), t

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs; a shared Parameter only under its first name."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        """The Parameters, each once (a generator, as in PyTorch: ``list(...)`` to keep them)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every child (recursively) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes, gradients and devices ------------------------------------------------------
    def train(self, mode=True):
        """Training mode: dropout is active. ``eval()`` turns it off."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Switch gradient tracking of every parameter (freeze with False)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set them to None (default, as PyTorch) or fill them with zeros."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def _map_tensors(self, fn, floating_only=False):
        """Apply ``fn`` to the arrays of every parameter, gradient and buffer, in place (the
        Tensor objects stay, so optimizers keep pointing at them)."""
        tensors = list(self.parameters()) + list(self.buffers())
        for t in tensors:
            if floating_only and t.dtype.kind != "f":
                continue
            t.data = fn(t.data)
            if t.grad is not None:
                t.grad.data = fn(t.grad.data)
        return self

    def to(self, *args, **kwargs):
        """Move / cast every parameter and buffer in place: ``to("cuda")``, ``to(tg.float64)``,
        ``to(device, dtype)``, ``to(device=..., dtype=...)`` or ``to(tensor)``. Only floating
        tensors change dtype (integer buffers stay integers)."""
        device, dtype = _parse_to(args, kwargs)
        if device is not None:
            device = backend.check_device(device)
            self._map_tensors(lambda a: backend.to_device(a, device))
        if dtype is not None:
            if dtype.kind != "f":
                raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")
            self._map_tensors(lambda a: a.astype(dtype), floating_only=True)
        return self

    def cuda(self, device=None):
        """Move to the GPU (``device``: an index or a name, as torch's ``Module.cuda``)."""
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    # ---- state -----------------------------------------------------------------------------
    def _state_items(self):
        """(name, tensor) of every parameter and persistent buffer (shared ones under every
        name they have, as in PyTorch's state_dict)."""
        for module_prefix, module in self.named_modules(remove_duplicate=False):
            dot = module_prefix + "." if module_prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    yield dot + name, p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    yield dot + name, b

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Name -> NumPy array copy of every parameter and persistent buffer (PyTorch's key
        names). ``keep_vars=True`` gives the tensors themselves."""
        out = OrderedDict() if destination is None else destination
        for name, t in self._state_items():
            out[prefix + name] = t if keep_vars else backend.to_numpy(t.data).copy()
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy arrays (NumPy, CuPy, Tensors, torch tensors...) into the parameters and buffers,
        on their device and dtype. All checks happen before anything is copied. Returns
        ``(missing_keys, unexpected_keys)``; with ``strict`` any of them raises a RuntimeError."""
        if not hasattr(state_dict, "items") or not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}")
        own = dict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        arrays = {}
        for name, value in state_dict.items():
            if name not in own:
                continue
            if value is None:
                raise TypeError(f"state_dict entry {name!r} is None, expected an array or tensor")
            array = _to_numpy(value)
            if array.shape != own[name].shape:
                errors.append(f"size mismatch for {name}: copying a param with shape {array.shape} from "
                              f"checkpoint, the shape in current model is {tuple(own[name].shape)}")
            arrays[name] = array
        if errors:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                                 + "\n\t".join(errors))
        with no_grad():
            for name, array in arrays.items():
                t = own[name]
                t.data = backend.to_device(array.astype(t.dtype), t.device)
        return IncompatibleKeys(missing, unexpected)

    # ---- printing --------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        return "\n".join(lines) + (")" if len(lines) == 1 else "\n)")


class _HookHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` takes the hook off."""

    def __init__(self, module, table, hook):
        hooks = module.__dict__.get(table)
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(module, table, hooks)
        self.hooks, self.key = hooks, object()
        hooks[self.key] = hook

    def remove(self):
        self.hooks.pop(self.key, None)


def _to_numpy(value):
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "__cuda_array_interface__"):
        return backend.to_numpy(value)
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"cannot load a value of type {type(value).__name__} into a parameter")
    return array
