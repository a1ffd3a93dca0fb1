"""Lookups by integer index: embedding rows and torch.gather. Their backward scatters with
``add.at``, so an index used twice gets the sum of its gradients.

Indices are checked against the table's size before use: NumPy raises on its own, but CuPy
wraps an out-of-range index silently into a wrong row. The check is the same code on both
devices: min and max in one small transfer (one host synchronisation on the GPU, none for
host arrays)."""
import numpy as np

from ..backend import array_module, to_numpy
from ..function import Function


def check_index_range(index, size, what):
    """Raise IndexError unless every entry of the integer array ``index`` is in [0, size)."""
    if index.size == 0:
        return
    xp = array_module(index)
    low, high = (int(v) for v in to_numpy(xp.stack([index.min(), index.max()])))
    if low < 0 or high >= size:
        raise IndexError(f"{what} index out of range [0, {size}) (min {low}, max {high})")


class EmbeddingLookup(Function):
    """Row lookup weight[indices]; backward adds each row's gradient to its index (``add.at``
    sums repeated indices, the embedding analogue of a shared weight)."""

    def forward(self, weight, indices):
        if indices.dtype.kind not in "iu":
            raise TypeError(f"embedding indices must be an integer tensor, got dtype {indices.dtype}")
        check_index_range(indices, weight.shape[0], "embedding")
        self.save_for_backward(indices)
        self.shape = weight.shape
        return array_module(weight).take(weight, indices, axis=0)

    def backward(self, g):
        (indices,) = self.saved
        return scatter_add_rows(self.shape, indices.reshape(-1), g.reshape(-1, self.shape[1])), None


def scatter_add_rows(shape, index, rows):
    """zeros(shape) with rows[k] added to row index[k], repeated indices summed. CuPy: add.at
    (atomic adds on the device). NumPy: np.add.at is slow (3 ms for 2,048 rows of 64 here), so
    sort the indices once and sum each index's run of rows with add.reduceat (4-7x faster)."""
    xp = array_module(rows)
    grad = xp.zeros(shape, dtype=rows.dtype)
    if xp is not np or index.size == 0:
        xp.add.at(grad, index, rows)
        return grad
    order = np.argsort(index, kind="stable")
    index = index[order]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    grad[index[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return grad


class Gather(Function):
    """out[..., i, ...] = a[..., index[..., i, ...], ...] along ``axis`` (torch.gather)."""

    def forward(self, a, index, axis=0):
        if index.dtype.kind not in "iu":
            raise TypeError(f"gather index must be an integer tensor, got dtype {index.dtype}")
        if index.ndim != a.ndim:
            raise ValueError(f"gather: index of shape {index.shape} needs as many dimensions as the input {a.shape}")
        check_index_range(index, a.shape[axis], "gather")
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
