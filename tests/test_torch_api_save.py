"""tg.save / tg.load: round trips of every supported type through paths and file objects,
atomic writes, whole modules, and refusal of files that would run code."""
import collections
import io
import os
import pickle

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, serialization


class Evil:
    """Unpickling this would run a shell command."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


class TinyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3)
        self.rnn = nn.LSTM(3, 4)
        self.out = nn.Linear(4, 5)

    def forward(self, x):
        return self.out(self.rnn(self.embed(x))[0])


def _same(a, b):
    assert type(a) is type(b) or (isinstance(a, np.ndarray) and type(b) is np.ndarray)
    if isinstance(a, tg.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        assert a.device == b.device
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


OBJECTS = {
    "tensor": tg.randn(3, 4),
    "int_tensor": tg.tensor([[1, 2], [3, 4]]),
    "bool_0d": tg.tensor(True),
    "grad_leaf": tg.randn(2, dtype=tg.float64, requires_grad=True),
    "parameter": nn.Parameter(tg.ones(2, 2)),
    "array": np.arange(6, dtype=np.int32).reshape(2, 3),
    "empty": np.zeros((0, 3), dtype=np.float16),
    "non_contiguous": np.arange(12.0).reshape(3, 4).T,
    "state_dict": nn.Linear(3, 2).state_dict(),
    "nested": {"epoch": 3, "lr": 0.5, "name": "run", "none": None, "flags": [True, False],
               "pair": (1, 2.5), "inner": {"t": tg.zeros(2), "a": np.ones(1)},
               "ordered": collections.OrderedDict(b=1, a=2), "set": {1, 2}},
    "numpy_scalars": [np.float32(1.5), np.int64(7), np.bool_(True)],
    "dtypes": [np.dtype("float32"), tg.float64, tg.long],
    "device": tg.device("cpu"),
}


@pytest.mark.parametrize("name", sorted(OBJECTS))
@pytest.mark.parametrize("target", ["path", "file"])
def test_round_trip(tmp_path, name, target):
    obj = OBJECTS[name]
    if target == "path":
        tg.save(obj, tmp_path / "obj.pt")
        back = tg.load(str(tmp_path / "obj.pt"))
    else:
        buffer = io.BytesIO()
        tg.save(obj, buffer)
        buffer.seek(0)
        back = tg.load(buffer)
    _same(obj, back)


def test_a_shared_tensor_stays_shared():
    t = tg.ones(2)
    buffer = io.BytesIO()
    tg.save({"a": t, "b": t}, buffer)
    back = tg.load(io.BytesIO(buffer.getvalue()))
    assert back["a"] is back["b"]


def test_a_malicious_file_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(serialization.MAGIC + pickle.dumps({"weights": Evil(marker)}))
    with pytest.raises(pickle.UnpicklingError, match=r"refused the global '(posix|os)\.system'"):
        tg.load(path)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        tg.load(io.BytesIO(serialization.MAGIC + b"cbuiltins\neval\n(S'1'\ntR."))
    with pytest.raises(pickle.UnpicklingError, match="header"):
        tg.load(io.BytesIO(pickle.dumps(1)))


def test_whole_module_needs_trust_and_then_round_trips(tmp_path):
    tg.manual_seed(0)
    model = TinyModel()
    path = tmp_path / "model.pt"
    tg.save(model, path)
    with pytest.raises(pickle.UnpicklingError, match="TinyModel|tinygrad_rnn"):
        tg.load(path)
    x = tg.tensor([[1, 2], [3, 4]])
    back = tg.load(path, weights_only=False)
    np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())
    assert type(back) is TinyModel and [n for n, _ in back.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_safe_globals_allows_named_classes_only_inside():
    buffer = io.BytesIO()
    tg.save(collections.Counter(a=2), buffer)
    raw = buffer.getvalue()
    with serialization.safe_globals([collections.Counter]):
        assert tg.load(io.BytesIO(raw)) == collections.Counter(a=2)
    with pytest.raises(pickle.UnpicklingError, match="collections.Counter"):
        tg.load(io.BytesIO(raw))
    serialization.add_safe_globals([collections.Counter])
    try:
        assert serialization.get_safe_globals() == [collections.Counter]
        assert tg.load(io.BytesIO(raw))["a"] == 2
    finally:
        serialization.clear_safe_globals()


def test_map_location_forms():
    buffer = io.BytesIO()
    tg.save({"w": tg.ones(2)}, buffer)
    raw = buffer.getvalue()
    for where in ("cpu", tg.device("cpu"), {"cpu": "cpu"}, lambda storage, location: storage):
        assert tg.load(io.BytesIO(raw), map_location=where)["w"].device == "cpu"


def test_save_to_a_path_is_atomic(tmp_path):
    path = tmp_path / "ckpt.pt"
    tg.save({"step": 1}, path)
    with pytest.raises(Exception):
        tg.save({"bad": lambda: 0}, path)            # cannot be pickled: fails before writing
    assert tg.load(path) == {"step": 1}
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


class RecurrentModel(nn.Module):
    """The layers a word-level language model uses, each kind once."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.1)
        self.encoder = nn.Embedding(7, 4)
        self.lstm, self.gru, self.rnn = nn.LSTM(4, 5), nn.GRU(5, 5), nn.RNN(5, 3)
        self.decoder = nn.Linear(3, 7)

    def forward(self, x):
        h = self.lstm(self.drop(self.encoder(x)))[0]
        return self.decoder(self.rnn(self.gru(h)[0])[0])


def test_a_module_loads_with_its_classes_allowed_as_torch_examples_do(tmp_path):
    """Allowing the model's own classes is enough: nothing else inside needs importing."""
    tg.manual_seed(0)
    model = RecurrentModel().eval()
    with open(tmp_path / "model.pt", "wb") as f:
        tg.save(model, f)
    allowed = [RecurrentModel, nn.Dropout, nn.Linear, nn.GRU, nn.LSTM, nn.RNN, nn.Embedding]
    with open(tmp_path / "model.pt", "rb") as f, serialization.safe_globals(allowed):
        back = tg.load(f)
    x = tg.tensor([[1, 2], [3, 6]])
    np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())


def test_state_dict_round_trip_into_load_state_dict(tmp_path):
    tg.manual_seed(0)
    model, other = RecurrentModel(), RecurrentModel()
    tg.save(model.state_dict(), tmp_path / "weights.pt")
    other.load_state_dict(tg.load(tmp_path / "weights.pt"))
    for (name, p), (_, q) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
