"""Index checks and lookup backwards that the GPU path relies on, tested on NumPy.

CuPy wraps out-of-range integer indices silently, so the package checks them itself with code
that is the same on both devices; these tests call those checks directly (on NumPy the indexing
itself would raise anyway, so testing through it could not fail)."""
import numpy as np
import pytest

from tinygrad_rnn.ops import lookup, rnn_kernels, shape
from tinygrad_rnn.ops.loss import CrossEntropy


@pytest.mark.parametrize("index", [
    (slice(None), np.array([3, -4])), (Ellipsis, np.array([3])), ([0, 2, -3],),
    (np.ones(3, bool), [1]), (None, 1, [3]), (np.array([[0, 2]]), slice(1, 2)), 2])
def test_in_range_array_indices_pass(index):
    shape.check_array_indices((3, 4), index)


@pytest.mark.parametrize("index", [
    (slice(None), np.array([4])), ([3],), (Ellipsis, [-5]), (np.ones(3, bool), [4]),
    (None, 0, [9]), np.array([[0, 3]]), (np.array([-4]),)])
def test_out_of_range_array_indices_raise(index):
    with pytest.raises(IndexError, match="out of range"):
        shape.check_array_indices((3, 4), index)


def test_lookup_index_range():
    lookup.check_index_range(np.array([0, 4, 2]), 5, "embedding")
    lookup.check_index_range(np.zeros((0,), np.int64), 5, "embedding")
    for bad in ([0, 5], [-1, 2]):
        with pytest.raises(IndexError, match=r"embedding index out of range \[0, 5\)"):
            lookup.check_index_range(np.array(bad), 5, "embedding")


@pytest.mark.parametrize("rows,vocab,dim", [(1, 3, 2), (50, 7, 3), (2048, 100, 8), (30, 1000, 4)])
def test_embedding_backward_sums_repeated_indices(rows, vocab, dim):
    rng = np.random.default_rng(rows)
    index = rng.integers(0, vocab, rows)
    g = rng.standard_normal((rows, dim))
    expected = np.zeros((vocab, dim))
    np.add.at(expected, index, g)
    np.testing.assert_allclose(lookup.scatter_add_rows((vocab, dim), index, g), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("axes", [(1, 0, 2), (2, 0, 1), (-1, 0, 1), (0, -2, -1), (2, 1, 0)])
def test_permute_backward_is_the_inverse_permutation(axes):
    a = np.arange(24.0).reshape(2, 3, 4)
    op = shape.Permute()
    out = op.forward(a, axes)
    np.testing.assert_array_equal(op.backward(out), a)


def test_valid_mask_is_built_from_host_lengths():
    mask = rnn_kernels._valid_mask(np, np.array([3, 1]), 3, 2)
    np.testing.assert_array_equal(mask[..., 0], [[True, True], [True, False], [True, False]])
    with pytest.raises(ValueError, match="lengths must be 2 integers"):
        rnn_kernels._valid_mask(np, np.array([4, 1]), 3, 2)


def test_fused_cross_entropy_matches_float64_log_softmax_at_large_logits():
    """Loss and gradient against the textbook formula in float64, with logits around 1e4 in
    float32 (where exp overflows without the shift)."""
    rng = np.random.default_rng(0)
    z = (1e4 + rng.standard_normal((6, 5)) * 3).astype(np.float32)
    target = np.array([0, 4, 2, -100, 1, 3])
    op = CrossEntropy()
    loss = op.forward(z, target, ignore_index=-100)
    grad, _ = op.backward(np.float32(1.0))
    z64 = z.astype(np.float64)
    logp = z64 - z64.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    keep = target != -100
    want = -logp[np.arange(6)[keep], target[keep]].mean()
    onehot = np.eye(5)[np.where(keep, target, 0)] * keep[:, None]
    want_grad = (np.exp(logp) * keep[:, None] - onehot) / keep.sum()
    assert loss.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(loss, want, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)
