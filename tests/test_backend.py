"""The backend's GPU seams, checked on the CPU with a stand-in ``cupy`` module: CuPy arrays
recognised before CuPy is loaded, ``"cuda:N"`` never silently mapped to another GPU, the CuPy
generator's state saved and restored (exact resume on CUDA), optimizer state following
``Module.to``. The real thing runs in benchmarks/gpu_check.sh."""
import json
import sys
import types

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import backend


class FakeCupyArray:
    """What a CuPy array looks like to the backend: a type defined in the ``cupy`` package."""


FakeCupyArray.__module__ = "cupy._core.core"


class FakeBitGenerator:
    def __init__(self, seed):
        self._state = np.random.default_rng(seed).integers(-128, 128, size=96, dtype=np.int8)


class FakeGenerator:
    """Draws depend on, and advance, the raw state bytes, as cuRAND's do."""

    def __init__(self, seed):
        self.bit_generator = FakeBitGenerator(seed)

    def random(self, shape, dtype=np.float64):
        raw = self.bit_generator._state
        out = np.random.default_rng(raw.view(np.uint8).tolist()).random(shape).astype(dtype)
        raw += np.int8(1)
        return out


@pytest.fixture
def fake_cupy(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.get_array_module = lambda array: fake
    fake.asnumpy = np.asarray
    fake.asarray = np.asarray
    fake.random = types.SimpleNamespace(default_rng=FakeGenerator)
    device = types.SimpleNamespace(id=0, mem_info=(2**30, 2**31))
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 2), Device=lambda: device)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cuda_rng", None)
    monkeypatch.setattr(backend, "_cuda_seed", None)
    return fake


def test_a_cupy_array_is_recognised_before_cupy_is_loaded(fake_cupy):
    assert backend._cupy is None
    assert backend.array_module(FakeCupyArray()) is fake_cupy
    assert backend.array_module(np.zeros(2)) is np


def test_cuda_index_is_checked_not_silently_mapped(fake_cupy):
    assert backend.check_device("cuda:0") == "cuda"
    with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES=1"):
        backend.check_device("cuda:1")
    with pytest.raises(ValueError, match="does not exist"):
        backend.check_device("cuda:7")
    with pytest.raises(ValueError, match="unknown device"):
        backend.check_device("cuda:x")
    assert backend.memory_bytes("cuda") == 2**31


def test_cpu_device_names():
    assert backend.check_device("cpu") == backend.check_device("cpu:0") == "cpu"
    for bad in ("cpu:1", "tpu", "cuda:", ""):
        with pytest.raises(ValueError):
            backend.check_device(bad)
    assert backend.memory_bytes("cpu") > 2**20


def test_cuda_generator_state_round_trips_for_exact_resume(fake_cupy):
    backend.manual_seed(3)
    backend.random_uniform((4,), "cuda", np.float64)
    state = backend.get_rng_state()
    assert state["cuda"]["seed"] == 3 and state["cuda"]["state"].dtype == np.uint8
    expected = backend.random_uniform((5,), "cuda", np.float64)
    backend.manual_seed(99)                               # what a resumed run does first
    meta = json.loads(json.dumps({"numpy": state["numpy"], "cuda": {"seed": state["cuda"]["seed"]}}))
    meta["cuda"]["state"] = state["cuda"]["state"]       # the checkpoint keeps the bytes as an array
    backend.set_rng_state(meta)
    np.testing.assert_array_equal(backend.random_uniform((5,), "cuda", np.float64), expected)
    snapshot = backend.rng_snapshot()
    again = backend.random_uniform((5,), "cuda", np.float64)
    backend.restore_rng_snapshot(snapshot)
    np.testing.assert_array_equal(backend.random_uniform((5,), "cuda", np.float64), again)


def test_unseeded_cuda_generator(fake_cupy):
    backend.manual_seed(None)
    assert backend.get_rng_state()["cuda"]["seed"] >= 0


def test_cuda_generator_state_of_another_gpu_model_is_refused(fake_cupy):
    backend.manual_seed(0)
    state = backend.get_rng_state()
    state["cuda"]["state"] = state["cuda"]["state"][:10]
    with pytest.raises(ValueError, match="same GPU model"):
        backend.set_rng_state(state)


def test_a_cuda_generator_state_without_cuda_is_a_clear_error(monkeypatch):
    if tg.cuda_available():
        pytest.skip("CUDA is available here")
    state = backend.get_rng_state()
    assert state["cuda"] is None
    state["cuda"] = {"seed": 1, "state": np.zeros(8, np.uint8)}
    with pytest.raises(ValueError, match="CUDA is not available"):
        backend.set_rng_state(state)


def test_optimizer_state_follows_the_parameters_dtype():
    model = tg.nn.Linear(3, 2)
    opt = tg.optim.Adam(model.parameters(), lr=0.1)
    model(tg.randn(4, 3)).sum().backward()
    opt.step()
    model.double()
    opt.zero_grad()
    model(tg.randn(4, 3, dtype=np.float64)).sum().backward()
    opt.step()
    assert all(opt.state[p][name].dtype == np.float64 for p in model.parameters() for name in ("exp_avg", "exp_avg_sq"))


def test_optimizer_state_follows_module_to_device(device):
    model = tg.nn.Linear(3, 2)
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(tg.randn(4, 3)).sum().backward()
    opt.step()
    model.to(device)
    opt.zero_grad()
    model(tg.randn(4, 3, device=device)).sum().backward()
    opt.step()
    assert all(backend.device_of(opt.state[p]["momentum_buffer"]) == device for p in model.parameters())
