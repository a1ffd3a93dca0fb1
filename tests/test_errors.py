"""Bad inputs raise clear errors that name the shapes and dtypes involved, and raise them before
anything changes (no half-accumulated ``.grad``)."""
import gc

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F


def leaf(shape, device="cpu"):
    return tg.Tensor(np.ones(shape), requires_grad=True, device=device)


# ---------------------------------------------------------------- shapes


def test_matmul_shape_mismatch_names_both_shapes(device):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        leaf((2, 3), device) @ leaf((4, 5), device)
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        leaf(3, device) @ leaf(4, device)


def test_matmul_of_a_0d_tensor_is_refused(device):
    with pytest.raises(ValueError, match="at least one dimension"):
        leaf((), device) @ leaf(3, device)


def test_broadcasting_mismatch_names_the_op_and_shapes(device):
    with pytest.raises(ValueError, match=r"Add on shapes \(2, 3\), \(4,\)"):
        leaf((2, 3), device) + leaf(4, device)
    with pytest.raises(ValueError, match=r"Mul on shapes \(2, 3\), \(3, 2\)"):
        leaf((2, 3), device) * leaf((3, 2), device)


def test_linear_feature_mismatch_names_shapes(device):
    with pytest.raises(ValueError, match=r"3 features \(shape \(2, 3\)\).*weight shape \(5, 4\)"):
        F.linear(leaf((2, 3), device), leaf((5, 4), device))


def test_reshape_to_an_incompatible_shape(device):
    with pytest.raises(ValueError, match=r"shape \(3, 4\) \(12 elements\) into shape \(5, 3\)"):
        leaf((3, 4), device).reshape(5, 3)


def test_expand_to_an_incompatible_shape(device):
    with pytest.raises(ValueError, match=r"cannot expand shape \(3,\) to \(2, 4\)"):
        leaf(3, device).expand(2, 4)


def test_permute_with_a_wrong_axis_list(device):
    with pytest.raises(ValueError, match="not a permutation"):
        leaf((2, 3), device).permute(0, 0)


def test_split_sizes_that_do_not_add_up(device):
    with pytest.raises(ValueError, match=r"split sizes \[1, 1\] do not add up to 3"):
        leaf(3, device).split([1, 1])


def test_reduction_axis_out_of_range(device):
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor with 2 dimensions"):
        leaf((2, 3), device).sum(axis=2)


def test_getitem_out_of_range_names_the_shape(device):
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        leaf((2, 3), device)[5]


def test_mse_and_bce_need_equal_shapes(device):
    with pytest.raises(ValueError, match=r"input shape \(2,\) and target shape \(3,\)"):
        F.mse_loss(leaf(2, device), leaf(3, device))
    with pytest.raises(ValueError, match=r"input shape \(2,\) and target shape \(3,\)"):
        F.binary_cross_entropy_with_logits(leaf(2, device), leaf(3, device))


# ---------------------------------------------------------------- dtypes and indices


def test_float_index_tensor_is_a_type_error(device):
    x = leaf((3, 2), device)
    with pytest.raises(TypeError, match="integer or boolean.*float64"):
        x[tg.Tensor(np.array([0.0, 1.0]), device=device)]
    with pytest.raises(TypeError, match="float"):
        x[np.array([0.5])]


def test_requires_grad_on_an_integer_tensor_is_a_type_error(device):
    with pytest.raises(TypeError, match="floating-point.*int64"):
        tg.Tensor(np.array([1, 2]), requires_grad=True, device=device)
    with pytest.raises(TypeError, match="floating-point.*int64"):
        tg.Tensor(np.array([1, 2]), device=device).requires_grad_()


def test_cross_entropy_with_float_targets(device):
    with pytest.raises(TypeError, match="integer tensor, got dtype float64"):
        F.cross_entropy(leaf((2, 4), device), tg.Tensor(np.array([1.0, 2.0]), device=device))


def test_cross_entropy_with_wrong_target_shape(device):
    message = r"targets of shape \(3,\).*input of shape \(2, 4\).*expected targets of shape \(2,\)"
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(leaf((2, 4), device), tg.Tensor(np.array([1, 2, 3]), device=device))
    with pytest.raises(ValueError, match=r"expected targets of shape \(2, 5\)"):
        F.cross_entropy(leaf((2, 4, 5), device), tg.Tensor(np.zeros((2, 4), dtype=np.int64), device=device))


@pytest.mark.parametrize("bad", [4, -1])
def test_cross_entropy_with_an_out_of_range_class(device, bad):
    with pytest.raises(ValueError, match=r"out of range \[0, 4\)"):
        F.cross_entropy(leaf((2, 4), device), tg.Tensor(np.array([1, bad]), device=device))
    with pytest.raises(ValueError, match=r"out of range \[0, 4\)"):
        F.nll_loss(leaf((2, 4), device), tg.Tensor(np.array([1, bad]), device=device))


def test_cross_entropy_accepts_out_of_range_values_equal_to_ignore_index(device):
    loss = F.cross_entropy(leaf((2, 4), device), tg.Tensor(np.array([1, -100]), device=device))
    assert np.isfinite(loss.item())


def test_unknown_reduction(device):
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F.cross_entropy(leaf((2, 4), device), tg.Tensor(np.array([1, 2]), device=device), reduction="avg")


def test_embedding_index_out_of_range(device):
    with pytest.raises(IndexError, match=r"out of range \[0, 3\) \(min 0, max 5\)"):
        F.embedding(tg.Tensor(np.array([0, 5]), device=device), leaf((3, 2), device))
    with pytest.raises(IndexError, match=r"out of range \[0, 3\) \(min -1"):
        F.embedding(tg.Tensor(np.array([-1]), device=device), leaf((3, 2), device))


def test_embedding_with_float_indices(device):
    with pytest.raises(TypeError, match="integer tensor, got dtype float64"):
        F.embedding(tg.Tensor(np.array([0.0]), device=device), leaf((3, 2), device))


def test_where_with_a_non_boolean_condition(device):
    with pytest.raises(TypeError, match="boolean tensor, got dtype float64"):
        tg.where(leaf(2, device), leaf(2, device), leaf(2, device))


def test_dropout_probability_out_of_range(device):
    # p = 1 is allowed (all zeros), as in torch; outside [0, 1] is refused with torch's wording
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        F.dropout(leaf(2, device), p=1.5)


# ---------------------------------------------------------------- backward


def test_backward_on_a_non_scalar_without_gradient_names_the_shape(device):
    with pytest.raises(RuntimeError, match=r"one-element tensor, got shape \(2, 3\)"):
        (leaf((2, 3), device) * 2).backward()


def test_backward_on_a_tensor_without_requires_grad(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.Tensor(np.ones(3), device=device).sum().backward()
    x = leaf(3, device)
    with tg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_gradient_of_the_wrong_shape(device):
    x = leaf((2, 3), device)
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the tensor has shape \(2, 3\)"):
        (x * 2).backward(tg.Tensor(np.ones(3), device=device))


def test_failed_backward_leaves_grads_and_graph_untouched(device):
    x = leaf((2, 3), device)
    y = x * 2
    for bad in (lambda: y.backward(), lambda: y.backward(np.ones(3))):
        with pytest.raises((RuntimeError, ValueError)):
            bad()
        assert x.grad is None
    y.backward(np.ones((2, 3)))        # the graph was not freed by the failures
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


def test_second_backward_error_leaves_grad_as_it_was(device):
    x = leaf(2, device)
    a = (x * 3).sum()
    a.backward()
    b = a * 2 + (x * 5).sum()          # a new graph that reaches back into the freed one
    with pytest.raises(RuntimeError, match="second time"):
        b.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])   # the fresh x * 5 branch did not run
    assert gc.isenabled()


def test_a_backward_that_returns_the_wrong_shape_is_caught(device):
    class Bad(tg.Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return g.sum(axis=0)

    x = leaf((2, 3), device)
    message = r"Bad.backward returned a gradient of shape \(3,\) for an input of shape \(2, 3\)"
    with pytest.raises(RuntimeError, match=message):
        (x * 2 + Bad.apply(x)).sum().backward()
    assert x.grad is None            # the good x * 2 path did not leave half a gradient behind
    assert gc.isenabled()


def test_hook_and_retain_grad_need_requires_grad(device):
    t = tg.Tensor(np.ones(2), device=device)
    with pytest.raises(RuntimeError, match="does not require grad"):
        t.register_hook(lambda g: g)


# ---------------------------------------------------------------- devices


def test_unknown_device_string():
    with pytest.raises(ValueError, match=r"unknown device 'tpu': expected one of \('cpu', 'cuda'\)"):
        tg.Tensor(np.ones(2), device="tpu")
    with pytest.raises(ValueError, match="unknown device"):
        tg.zeros(2, device="gpu")
    with pytest.raises(ValueError, match="unknown device"):
        tg.Tensor(np.ones(2)).to("metal")


@pytest.mark.skipif(tg.cuda_available(), reason="CUDA is available here")
def test_cuda_without_a_gpu_is_a_runtime_error_mentioning_cuda():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        tg.Tensor(np.ones(2)).to("cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        tg.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        tg.Tensor(np.ones(2)).cuda()


@pytest.mark.skipif(not tg.cuda_available(), reason="needs CUDA")
def test_mixing_devices_names_both():
    with pytest.raises(RuntimeError, match="different devices"):
        tg.Tensor(np.ones(2)) + tg.Tensor(np.ones(2), device="cuda")


def test_scalar_conversions_of_a_multi_element_tensor():
    with pytest.raises(ValueError, match=r"one element, got shape \(2,\)"):
        tg.Tensor(np.ones(2)).item()
    with pytest.raises(ValueError, match=r"shape \(2,\) is ambiguous"):
        bool(tg.Tensor(np.ones(2)))


def test_gather_index_with_the_wrong_number_of_dimensions(device):
    with pytest.raises(ValueError, match=r"index of shape \(2,\) needs as many dimensions as the input \(2, 3\)"):
        leaf((2, 3), device).gather(1, tg.Tensor(np.array([0, 1]), device=device))
