"""Lookups by integer index: embedding rows and torch.gather. Their backward scatters with
``add.at``, so an index used twice gets the sum of its gradients."""
from ..backend import array_module
from ..function import Function


class EmbeddingLookup(Function):
    """Row lookup weight[indices]; backward adds each row's gradient to its index (``add.at``
    sums repeated indices, the embedding analogue of a shared weight)."""

    def forward(self, weight, indices):
        if indices.dtype.kind not in "iu":
            raise TypeError(f"embedding indices must be an integer tensor, got dtype {indices.dtype}")
        xp = array_module(weight)
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= weight.shape[0]):
            raise IndexError(f"embedding index out of range [0, {weight.shape[0]}) "
                             f"(min {int(indices.min())}, max {int(indices.max())})")
        self.save_for_backward(indices)
        self.shape = weight.shape
        return xp.take(weight, indices, axis=0)

    def backward(self, g):
        (indices,) = self.saved
        xp = array_module(g)
        grad = xp.zeros(self.shape, dtype=g.dtype)
        xp.add.at(grad, indices.reshape(-1), g.reshape(-1, self.shape[1]))
        return grad, None


class Gather(Function):
    """out[..., i, ...] = a[..., index[..., i, ...], ...] along ``axis`` (torch.gather)."""

    def forward(self, a, index, axis=0):
        if index.dtype.kind not in "iu":
            raise TypeError(f"gather index must be an integer tensor, got dtype {index.dtype}")
        if index.ndim != a.ndim:
            raise ValueError(f"gather: index of shape {index.shape} needs as many dimensions as the input {a.shape}")
        xp = array_module(a)
        self.save_for_backward(index)
        self.shape, self.axis = a.shape, axis
        # as torch.gather, the index may be shorter than the input on the other axes
        window = tuple(slice(None) if d == axis % a.ndim else slice(0, n) for d, n in enumerate(index.shape))
        return xp.take_along_axis(a[window], index, axis=axis)

    def backward(self, g):
        xp = array_module(g)
        (index,) = self.saved
        grad = xp.zeros(self.shape, dtype=g.dtype)
        where = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
        where[self.axis] = index
        xp.add.at(grad, tuple(where), g)
        return grad, None
