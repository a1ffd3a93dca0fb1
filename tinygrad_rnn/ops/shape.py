"""Ops that move numbers around without changing them: their backward moves gradients back."""
import numpy as np

from ..backend import array_module, to_numpy
from ..function import Function, unbroadcast


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
                             f"into shape {tuple(shape)}") from None

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    def forward(self, a, axes):
        if sorted(ax % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
            raise ValueError(f"permute: {tuple(axes)} is not a permutation of the {a.ndim} axes")
        self.axes = axes
        return a.transpose(axes)

    def backward(self, g):
        inverse = [0] * g.ndim               # on the host: no device argsort, no .tolist() sync
        for position, axis in enumerate(self.axes):
            inverse[axis % g.ndim] = position
        return g.transpose(inverse)


class Expand(Function):
    """broadcast_to: the backward sums over the broadcast axes. -1 keeps that axis's size (torch)."""

    def forward(self, a, shape):
        self.shape = a.shape
        xp = array_module(a)
        lead = len(shape) - a.ndim
        shape = tuple(a.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
        try:
            return xp.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(f"cannot expand shape {a.shape} to {tuple(shape)}") from None

    def backward(self, g):
        return unbroadcast(g, self.shape)


def _is_basic(index):
    """True for ints, slices, None and Ellipsis only: such an index selects each element once."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


def check_array_indices(shape, index):
    """IndexError unless every integer-array entry of ``index`` is in [-n, n) for its axis n.
    NumPy raises on its own, CuPy would wrap silently. Host arrays and lists are checked on the
    host; a device array costs one transfer of its min and max (one synchronisation)."""
    items = index if isinstance(index, tuple) else (index,)
    used = sum(getattr(i, "ndim", 1) if getattr(i, "dtype", None) == bool else 1
               for i in items if i is not None and i is not Ellipsis)
    axis = 0
    for item in items:
        if item is Ellipsis:
            axis += len(shape) - used
        elif isinstance(item, list) or hasattr(item, "dtype") and item.dtype.kind in "iu":
            array = array_module(item).asarray(item) if hasattr(item, "dtype") else np.asarray(item)
            if axis < len(shape) and array.size and array.dtype.kind in "iu":
                xp = array_module(array)
                low, high = (int(v) for v in to_numpy(xp.stack([array.min(), array.max()])))
                if low < -shape[axis] or high >= shape[axis]:
                    raise IndexError(f"index out of range for axis {axis} of size {shape[axis]} "
                                     f"(min {low}, max {high}) in a tensor of shape {shape}")
            axis += 1
        elif item is not None:
            axis += getattr(item, "ndim", 1) if getattr(item, "dtype", None) == bool else 1


class GetItem(Function):
    """x[index]. Basic indexing is a view; integer-array indexing may repeat elements, so its
    backward scatters with ``add.at``, summing the gradients of duplicates."""

    def forward(self, a, index):
        self.save_for_backward(index)      # may hold integer arrays
        self.shape, self.dtype = a.shape, a.dtype
        check_array_indices(a.shape, index)
        try:
            return a[index]
        except IndexError as error:
            raise IndexError(f"index {index!r} is invalid for a tensor of shape {a.shape}: {error}") from None

    def backward(self, g):
        (index,) = self.saved
        xp = array_module(g)
        grad = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic(index):
            grad[index] = g
        else:
            xp.add.at(grad, index, g)
        return grad


class Concatenate(Function):
    def forward(self, *arrays, axis=0):
        xp = array_module(arrays[0])
        self.axis = axis
        self.bounds = [a.shape[axis] for a in arrays]
        return xp.concatenate(arrays, axis=axis)

    def backward(self, g):
        xp = array_module(g)
        stops = list(_cumsum(self.bounds))
        return tuple(xp.split(g, stops[:-1], axis=self.axis))


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return array_module(arrays[0]).stack(arrays, axis=axis)

    def backward(self, g):
        xp = array_module(g)
        return tuple(xp.squeeze(part, axis=self.axis) for part in xp.split(g, g.shape[self.axis], axis=self.axis))


class Split(Function):
    """One input, several outputs (the pieces); a piece with no gradient counts as zeros."""

    def forward(self, a, sizes, axis=0):
        if sum(sizes) != a.shape[axis]:
            raise ValueError(f"split sizes {sizes} do not add up to {a.shape[axis]} (axis {axis} of {a.shape})")
        self.axis, self.sizes, self.dtype = axis, sizes, a.dtype
        self.shape = a.shape
        xp = array_module(a)
        return tuple(xp.split(a, list(_cumsum(sizes))[:-1], axis=axis))

    def backward(self, *grads):
        xp = None
        for g in grads:
            if g is not None:
                xp = array_module(g)
        parts = []
        for g, n in zip(grads, self.sizes):
            if g is None:
                shape = list(self.shape)
                shape[self.axis] = n
                g = xp.zeros(shape, dtype=self.dtype)
            parts.append(g)
        return xp.concatenate(parts, axis=self.axis)


class Flip(Function):
    def forward(self, a, axes):
        self.axes = axes
        return array_module(a).flip(a, axes)

    def backward(self, g):
        return array_module(g).flip(g, self.axes)


class Pad(Function):
    """Constant padding; ``pad_width`` as in ``numpy.pad``: one (before, after) pair per axis."""

    def forward(self, a, pad_width, value=0.0):
        self.slices = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, a.shape))
        return array_module(a).pad(a, pad_width, constant_values=value)

    def backward(self, g):
        return g[self.slices]


def _cumsum(sizes):
    total = 0
    for n in sizes:
        total += n
        yield total
