"""The top level as torch programs use it: tg.device, tg.cuda, grad-mode switches in all their
forms, from_numpy / as_tensor / typed constructors, multinomial, manual_seed."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import backend


def test_device_parses_compares_and_prints_like_torch():
    assert tg.device("cpu").type == "cpu" and tg.device("cpu").index is None
    d = tg.device("cuda", 1)
    assert (d.type, d.index, str(d), repr(d)) == ("cuda", 1, "cuda:1", "device(type='cuda', index=1)")
    assert tg.device("cuda:1") == d and tg.device(d) == d and tg.device(1) == d
    assert tg.device("cpu") == "cpu" and tg.device("cuda") == "cuda:0" and tg.device("cuda:0") != "cuda:1"
    assert tg.device("cpu") != "cuda" and tg.device("cpu") != 3
    assert len({tg.device("cpu"), "cpu"}) == 1
    for bad in ("tpu", "cuda:x", "cpu:1"):
        with pytest.raises(RuntimeError):
            tg.device(bad)
    with pytest.raises(TypeError):
        tg.device(None)


def test_device_is_accepted_where_a_device_string_is():
    x = tg.zeros(2, device=tg.device("cpu"))
    assert x.device == tg.device("cpu") and x.to(tg.device("cpu")) is x
    assert tg.tensor([1.0], device=tg.device("cpu")).device == "cpu"
    assert tg.randn(2, device=x.device).device == x.device
    layer = tg.nn.Linear(2, 3).to(tg.device("cpu"))
    assert layer.weight.device == "cpu"


def test_cuda_namespace():
    assert tg.cuda.is_available() == backend.cuda_available()
    assert tg.cuda.device_count() == (backend.cupy().cuda.runtime.getDeviceCount() if tg.cuda.is_available() else 0)
    tg.cuda.manual_seed(3)
    a = tg.randn(3).tolist()
    tg.cuda.manual_seed_all(3)
    assert tg.randn(3).tolist() == a
    tg.manual_seed(3)
    assert tg.randn(3).tolist() == a


@pytest.mark.parametrize("form", ["context", "call", "decorator", "bare", "inference", "inference_bare",
                                  "set_grad_enabled_call", "set_grad_enabled_context", "set_grad_enabled_decorator"])
def test_grad_mode_forms_stop_recording_and_restore(form):
    x = tg.ones(2, requires_grad=True)

    def compute():
        return (x * 2).requires_grad

    if form == "context":
        with tg.no_grad():
            inside = compute()
    elif form == "call":
        manager = tg.no_grad()
        manager.__enter__()
        inside = compute()
        manager.__exit__(None, None, None)
    elif form == "decorator":
        @tg.no_grad()
        def decorated():
            return compute()
        inside = decorated()
    elif form == "bare":
        inside = tg.no_grad(compute)()
    elif form == "inference":
        with tg.inference_mode():
            inside = compute()
    elif form == "inference_bare":
        inside = tg.inference_mode(compute)()
    elif form == "set_grad_enabled_call":
        tg.set_grad_enabled(False)
        inside = compute()
        assert not tg.is_grad_enabled()
        tg.set_grad_enabled(True)
    elif form == "set_grad_enabled_context":
        with tg.set_grad_enabled(False):
            inside = compute()
    else:
        decorated = tg.set_grad_enabled(False)(compute)
        assert tg.is_grad_enabled()          # decorating switches nothing
        inside = decorated()
    assert inside is False and tg.is_grad_enabled() and compute() is True


def test_grad_modes_nest_and_survive_exceptions():
    with tg.no_grad():
        with tg.enable_grad():
            assert tg.is_grad_enabled()
        with tg.set_grad_enabled(True):
            assert tg.is_grad_enabled()
        assert not tg.is_grad_enabled()
        with tg.inference_mode(False):
            assert tg.is_grad_enabled()
    with pytest.raises(KeyError):
        with tg.no_grad():
            raise KeyError
    assert tg.is_grad_enabled()

    @tg.no_grad
    def recursive(n):
        return recursive(n - 1) if n else tg.is_grad_enabled()
    assert recursive(3) is False and tg.is_grad_enabled()
    with pytest.raises(TypeError):
        tg.set_grad_enabled("no")


def test_from_numpy_shares_memory_and_as_tensor_copies_only_when_needed():
    a = np.zeros(3, dtype=np.float64)
    t = tg.from_numpy(a)
    a[0] = 5
    assert t.dtype == np.float64 and t[0].item() == 5
    assert tg.as_tensor(a).numpy() is a or np.shares_memory(tg.as_tensor(a).numpy(), a)
    assert not np.shares_memory(tg.as_tensor(a, dtype=tg.float32).numpy(), a)
    assert tg.as_tensor(t) is t and tg.as_tensor([1, 2]).dtype == np.int64
    assert not np.shares_memory(tg.tensor(a).numpy(), a)
    with pytest.raises(TypeError):
        tg.from_numpy([1, 2])


def test_tensor_of_zero_d_tensors_and_typed_constructors():
    assert tg.tensor([tg.tensor(1.5), tg.tensor(2.5)]).tolist() == [1.5, 2.5]
    assert tg.LongTensor([1, 2]).dtype == np.int64 and tg.FloatTensor(2, 3).shape == (2, 3)
    weight = tg.nn.Parameter(tg.Tensor(4, 3))          # the legacy constructor of custom cells: a shape
    bias = tg.nn.Parameter(tg.Tensor(4))
    assert weight.shape == (4, 3) and bias.shape == (4,) and bias.dtype == np.float32 and bias.requires_grad
    with pytest.raises(TypeError, match="keywords"):
        tg.Tensor([1.0], True)
    assert tg.tensor([1.0], requires_grad=True).requires_grad
    assert tg.is_tensor(tg.ones(1)) and not tg.is_tensor(np.ones(1))


def test_multinomial_draws_by_weight():
    tg.manual_seed(0)
    weights = tg.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    draws = tg.multinomial(weights, 2000, replacement=True)
    assert draws.shape == (2, 2000) and draws.dtype == np.int64
    assert (draws[1].numpy() == 0).all() and not (draws[0].numpy() == 0).any()
    assert abs((draws[0].numpy() == 2).mean() - 0.75) < 0.05
    assert sorted(tg.multinomial(tg.ones(4), 4).tolist()) == [0, 1, 2, 3]
    assert tg.multinomial(tg.tensor([0.2, 0.8]), 1).shape == (1,)
    with pytest.raises(RuntimeError):
        tg.multinomial(tg.ones(3), 4)
    with pytest.raises(RuntimeError):
        tg.multinomial(tg.tensor([1.0, -1.0]), 1)


def test_device_objects_on_every_backend(device, tmp_path):
    """Tensors report a tg.device, take one anywhere, and keep it through setitem, in-place ops,
    promotion and a save/load round trip (map_location moves them to the CPU)."""
    where = tg.device(device)
    x = tg.zeros(2, 3, device=where)
    assert x.device == where and x.is_cuda == (device == "cuda")
    x[0] = tg.ones(3, device=where) * 2
    x.add_(tg.tensor(1, device=where))
    y = x * tg.tensor([1, 2, 3], device=where)
    assert y.device == where and y.dtype == np.float32
    assert y.to("cpu").device == "cpu" and y.new_zeros(2).device == where
    tg.save({"y": y}, tmp_path / "y.pt")
    assert tg.load(tmp_path / "y.pt")["y"].device == where
    assert tg.load(tmp_path / "y.pt", map_location="cpu")["y"].device == "cpu"
    np.testing.assert_array_equal(y.numpy(), [[3, 6, 9], [1, 2, 3]])


def _autograd_snippet(lib):
    x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
    w = lib.tensor([1.5, 0.25, -0.5], dtype=lib.float64, requires_grad=True)
    h = (x * w).tanh()
    loss = (h * h).sum()
    gx, gh = lib.autograd.grad(loss, [x, h], retain_graph=True)
    (gw,) = lib.autograd.grad([loss, h.sum()], [w])
    v = lib.autograd.Variable(lib.ones(2), requires_grad=True)
    return gx, gh, gw, v, x.grad


def test_autograd_grad_and_variable_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _autograd_snippet(tg), _autograd_snippet(torch)
    for o, t in zip(ours[:3], theirs[:3]):
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-12)
    assert ours[3].requires_grad and ours[3].is_leaf and ours[4] is None and theirs[4] is None
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.autograd.grad((x * 2).sum(), [x, tg.ones(2, requires_grad=True)])
    with pytest.raises(NotImplementedError):
        tg.autograd.grad((x * 2).sum(), x, create_graph=True)
