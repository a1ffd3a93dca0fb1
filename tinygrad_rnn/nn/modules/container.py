"""Containers, as in ``torch.nn``: ModuleList (modules named by position), ModuleDict (by key),
Sequential (applied in order, named by position or by the keys of an OrderedDict), and
ParameterList / ParameterDict (Parameters named by position or key)."""
from collections import OrderedDict
from collections.abc import Mapping
import operator

from ...tensor import Tensor
from .module import Module, Parameter


def _check_module(module, where):
    if not isinstance(module, Module):
        raise TypeError(f"{where}: {type(module).__name__} is not a Module subclass")
    return module


class ModuleList(Module):
    """A list of Modules whose parameters are named by position: ``layers.0.weight``."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, i):
        i = operator.index(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} is out of range for a ModuleList of length {len(self)}")
        return i % len(self)

    def _renumber(self, modules):
        for name in list(self._modules):
            delattr(self, name)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def append(self, module):
        self.add_module(str(len(self)), _check_module(module, "ModuleList.append"))
        return self

    def extend(self, modules):
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError(f"ModuleList.extend should be called with an iterable, got {type(modules).__name__}")
        for m in list(modules):
            self.append(m)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, _check_module(module, "ModuleList.insert"))
        self._renumber(modules)

    def pop(self, index=-1):
        modules = list(self._modules.values())
        module = modules.pop(self._index(index))
        self._renumber(modules)
        return module

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(list(self._modules.values())[i])
        return self._modules[str(self._index(i))]

    def __setitem__(self, i, module):
        self.add_module(str(self._index(i)), _check_module(module, "ModuleList"))

    def __delitem__(self, i):
        modules = list(self._modules.values())
        del modules[i if isinstance(i, slice) else self._index(i)]
        self._renumber(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))


class ModuleDict(Module):
    """A dict of Modules whose parameters are named by key: ``heads.tags.weight``."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules):
        items = modules.items() if isinstance(modules, (Mapping, ModuleDict)) else modules
        for j, item in enumerate(items):
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError(f"ModuleDict.update: element #{j} should be a (key, module) pair")
            self[item[0]] = item[1]

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, _check_module(module, "ModuleDict"))

    def __delitem__(self, key):
        delattr(self, key)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def clear(self):
        for key in list(self._modules):
            del self[key]


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b, c)`` (named "0", "1", "2") or
    ``Sequential(OrderedDict([("embed", a), ("rnn", b)]))`` (named by the keys)."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, _check_module(module, "Sequential"))
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), _check_module(module, "Sequential"))

    def forward(self, x):
        for m in self:
            x = m(x)
        return x

    def append(self, module):
        self.add_module(str(len(self)), _check_module(module, "Sequential.append"))
        return self

    def extend(self, modules):
        for m in list(modules):
            self.append(m)
        return self

    def insert(self, index, module):
        """Insert at ``index``; the modules are renumbered "0", "1", ... as in torch."""
        modules = list(self._modules.values())
        modules.insert(index, _check_module(module, "Sequential.insert"))
        ModuleList._renumber(self, modules)
        return self

    def pop(self, index):
        module = self[index]
        del self[index]
        return module

    def __getitem__(self, i):
        items = list(self._modules.items())
        if isinstance(i, slice):
            return type(self)(OrderedDict(items[i]))
        return items[operator.index(i)][1]

    def __setitem__(self, i, module):
        name = list(self._modules)[operator.index(i)]
        self.add_module(name, _check_module(module, "Sequential"))

    def __delitem__(self, i):
        names = list(self._modules)
        for name in (names[i] if isinstance(i, slice) else [names[operator.index(i)]]):
            delattr(self, name)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


def _as_parameter(value, where):
    """Tensors become Parameters (sharing their data), as torch's parameter containers do."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"{where}: expected a Parameter or Tensor, got {type(value).__name__}")


class ParameterList(Module):
    """A list of Parameters named by position: ``weights.0``, ``weights.1``..."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def append(self, value):
        self.register_parameter(str(len(self)), _as_parameter(value, "ParameterList.append"))
        return self

    def extend(self, values):
        for v in list(values):
            self.append(v)
        return self

    def __getitem__(self, i):
        values = list(self._parameters.values())
        return ParameterList(values[i]) if isinstance(i, slice) else values[operator.index(i)]

    def __setitem__(self, i, value):
        name = list(self._parameters)[operator.index(i)]
        self.register_parameter(name, _as_parameter(value, "ParameterList"))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __iadd__(self, values):
        return self.extend(values)


class ParameterDict(Module):
    """A dict of Parameters named by key: ``gates.input``, ``gates.forget``..."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def update(self, parameters):
        items = parameters.items() if isinstance(parameters, (Mapping, ParameterDict)) else parameters
        for key, value in items:
            self[key] = value

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value, "ParameterDict"))

    def __delitem__(self, key):
        delattr(self, key)

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return self._parameters.items()

    def values(self):
        return self._parameters.values()
