"""Hypothesis strategies for testing ops: shapes (with size-1 axes), broadcastable shape
pairs, and float64 arrays kept away from the points where an op has a kink."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes; size-1 axes appear often, since that is where broadcasting bugs live."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4):
    """A tuple of shapes that broadcast together (some shorter, some with 1s)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims,
                                             max_dims=max_dims, max_side=max_side).map(lambda r: r.input_shapes)


def arrays(shape, low=-3.0, high=3.0, avoid=(), margin=1e-2):
    """float64 arrays with elements in [low, high], each at least ``margin`` from every point in
    ``avoid`` (e.g. ``avoid=(0,)`` for relu and abs), so finite differences never straddle a kink."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    if avoid:
        elements = elements.filter(lambda v: all(abs(v - a) >= margin for a in avoid))
    if isinstance(shape, tuple):
        return hnp.arrays(np.float64, shape, elements=elements)
    return shape.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))


def distinct_arrays(shape, low=-3.0, high=3.0, gap=1e-2):
    """float64 arrays whose elements all differ by at least ``gap``: for max/min/sort-like ops,
    where ties are kinks."""
    def spread(s):
        n = int(np.prod(s))
        return st.permutations(range(n)).map(
            lambda order: low + (np.asarray(order, dtype=np.float64).reshape(s) + 0.5) * max(gap, (high - low) / max(n, 1)))
    return (st.just(shape) if isinstance(shape, tuple) else shape).flatmap(spread)
