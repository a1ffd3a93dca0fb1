"""``tg.device``: a device name with torch's shape (``type`` and ``index``).

Every function that takes a device also takes its string (``"cpu"``, ``"cuda"``, ``"cuda:0"``),
so ``device`` exists for programs written against torch. Unlike ``torch.device``, a device
equals its string (``tg.device("cpu") == "cpu"``), because inside this package devices are
compared as strings; ``"cuda"`` with no index equals any CUDA device.
"""
from . import backend


class device:
    """``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``, ``device("cuda", 1)``, ``device(0)``."""
    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type
        elif not isinstance(type, str):
            raise TypeError(f"device() expects a string like 'cpu' or 'cuda:0', got {type!r}")
        name, _, number = type.partition(":")
        if name not in backend.DEVICES:
            raise RuntimeError(f"unknown device type {name!r}: expected one of {backend.DEVICES}")
        if number:
            if index is not None or not number.isdigit():
                raise RuntimeError(f"invalid device string {type!r}")
            index = int(number)
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"device index must be a non-negative int, got {index!r}")
        if name == "cpu" and index not in (None, 0):
            raise RuntimeError(f"cpu device has no index {index}")
        object.__setattr__(self, "type", name)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("tg.device is immutable")

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index is None or other.index is None or self.index == other.index)

    def __hash__(self):
        return hash(self.type)   # "cuda" and "cuda:0" are equal, so they hash alike

    def __reduce__(self):
        return device, (self.type, self.index)


CPU = device("cpu")
CUDA0 = device("cuda", 0)
