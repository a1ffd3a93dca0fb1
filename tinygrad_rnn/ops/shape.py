"""Ops that move numbers around without changing them: their backward moves gradients back."""
from ..backend import array_module
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
        xp = array_module(g)
        return g.transpose(xp.argsort(xp.asarray(self.axes) % g.ndim).tolist())


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


class GetItem(Function):
    """x[index]. Basic indexing is a view; integer-array indexing may repeat elements, so its
    backward scatters with ``add.at``, summing the gradients of duplicates."""

    def forward(self, a, index):
        self.save_for_backward(index)      # may hold integer arrays
        self.shape = a.shape
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
