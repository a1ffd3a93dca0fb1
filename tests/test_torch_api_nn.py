"""torch.nn's surface on tinygrad_rnn: modules, containers, losses, activations, embeddings,
packed sequences and recurrent layers as PyTorch programs use them. Where torch is installed,
the same snippet runs on both and the results are compared (float64, 1e-12); the rest checks
behaviour torch documents. Each silent-wrong bug of issue 16 has its regression test here."""
from collections import OrderedDict

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.utils import rnn as R
from tinygrad_rnn.testing.gradcheck import gradcheck


def leaf(a):
    return tg.Tensor(np.array(a, dtype=np.float64), requires_grad=True)


class Tied(nn.Module):
    """An embedding/decoder pair sharing one weight (the --tied language model)."""

    def __init__(self, vocab=5, dim=3):
        super().__init__()
        self.encoder = nn.Embedding(vocab, dim)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.encoder.weight

    def forward(self, idx):
        return self.decoder(self.encoder(idx))


# ---- silent-wrong bugs ---------------------------------------------------------------------
def test_tied_parameter_is_listed_once():
    model = Tied()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["encoder.weight", "decoder.bias"]
    assert len(list(model.parameters())) == 2
    assert len(list(model.named_parameters(remove_duplicate=False))) == 3
    assert list(model.state_dict()) == ["encoder.weight", "decoder.weight", "decoder.bias"]   # as torch


def test_tied_model_trains_with_adam_and_clips_shared_grad_once():
    model = Tied().double()
    opt = tg.optim.Adam(model.parameters(), lr=0.1)        # used to raise "the same parameter twice"
    model(tg.Tensor(np.array([0, 1, 2, 1]))).sum().backward()
    expected = np.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in model.parameters()))
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e9)
    assert float(total) == pytest.approx(expected, rel=1e-12)
    opt.step()


def test_tied_clip_norm_matches_torch():
    torch = pytest.importorskip("torch")
    model = Tied().double()
    theirs = torch.nn.Embedding(5, 3).double()
    tdec = torch.nn.Linear(3, 5).double()
    tdec.weight = theirs.weight
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(model.encoder.weight.numpy()))
        tdec.bias.copy_(torch.tensor(model.decoder.bias.numpy()))
    idx = np.array([0, 1, 2, 1])
    model(tg.Tensor(idx)).sum().backward()
    tdec(theirs(torch.tensor(idx))).sum().backward()
    ours = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    ref = torch.nn.utils.clip_grad_norm_([theirs.weight, tdec.bias], 0.5)          # each once
    assert float(ours) == pytest.approx(float(ref), rel=1e-12)
    np.testing.assert_allclose(model.encoder.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)


def test_sequential_of_an_ordered_dict_is_named_and_applied():
    seq = nn.Sequential(OrderedDict([("lin", nn.Linear(2, 3)), ("act", nn.Tanh())]))
    assert [n for n, _ in seq.named_children()] == ["lin", "act"]
    assert list(seq.state_dict()) == ["lin.weight", "lin.bias"]
    x = tg.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), seq.lin(x).tanh().numpy())


@pytest.mark.parametrize("make", [lambda: nn.Sequential("x"), lambda: nn.ModuleList([3]),
                                  lambda: nn.ModuleList().append(nn.Linear), lambda: nn.ModuleDict({"a": 1})])
def test_containers_refuse_non_modules(make):
    with pytest.raises(TypeError, match="is not a Module subclass"):
        make()


def test_linear_refuses_a_float64_input_to_float32_weights():
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype, but got Double and Float"):
        nn.Linear(2, 3)(tg.Tensor(np.zeros((1, 2), dtype=np.float64)))


# ---- Module API ----------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(3, 4)
        self.head = nn.Sequential(nn.Linear(4, 2), nn.ReLU())
        self.register_buffer("scale", tg.Tensor(np.ones(2, dtype=np.float32)))
        self.register_buffer("cache", tg.Tensor(np.zeros(1, dtype=np.float32)), persistent=False)
        self.register_buffer("count", tg.Tensor(np.array([3])))


def test_walking_the_tree():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["rnn", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "rnn", "head", "head.0", "head.1"]
    assert [type(m).__name__ for m in net.children()] == ["GRU", "Sequential"]
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["GRU", "Linear", "ReLU", "Sequential", "Net"]          # children first, as torch
    assert net.get_submodule("head.0") is net.head[0]
    assert next(net.parameters()) is net.rnn.weight_ih_l0                   # a generator, as torch


def test_buffers_are_saved_and_moved_but_not_trained():
    net = Net()
    keys = list(net.state_dict())
    assert "scale" in keys and "count" in keys and "cache" not in keys
    assert all(not n.startswith(("scale", "count", "cache")) for n, _ in net.named_parameters())
    net.double()
    assert net.scale.dtype == np.float64 and net.count.dtype == np.int64     # integers stay
    other = Net()
    state = net.state_dict()
    state["scale"] = np.array([2.0, 3.0])
    assert other.load_state_dict(state) == ([], [])
    np.testing.assert_array_equal(other.scale.numpy(), [2.0, 3.0])


def test_register_parameter_add_module_requires_grad_and_zero_grad():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(np.ones(2)))
    m.register_parameter("b", None)
    m.add_module("lin", nn.Linear(2, 2))
    assert [n for n, _ in m.named_parameters()] == ["w", "lin.weight", "lin.bias"]
    with pytest.raises(TypeError):
        m.register_parameter("x", tg.Tensor([1.0]))
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = tg.Tensor(np.ones(2))          # would silently take w out of parameters()
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    (m.lin(tg.Tensor(np.ones((1, 2), dtype=np.float32))).sum()).backward()
    m.zero_grad(set_to_none=False)
    assert float(np.abs(m.lin.weight.grad.numpy()).sum()) == 0.0
    m.zero_grad()
    assert m.lin.weight.grad is None


def test_load_state_dict_reports_and_refuses_like_torch():
    lin = nn.Linear(2, 3)
    state = lin.state_dict()
    extra = {**state, "junk": np.zeros(1)}
    del extra["bias"]
    result = lin.load_state_dict(extra, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["junk"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        lin.load_state_dict(extra)
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        lin.load_state_dict({**state, "weight": np.zeros((3, 3))})
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got NoneType"):
        lin.load_state_dict(None)
    with pytest.raises(TypeError, match="'bias' is None"):
        lin.load_state_dict({**state, "bias": None})


def test_train_eval_and_to():
    net = Net()
    assert net.eval() is net and not net.head[0].training
    assert net.train() is net and net.head[0].training
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")
    net.to("cpu", np.float64)
    assert net.rnn.weight_hh_l0.dtype == np.float64
    net.to(dtype=np.float32)
    assert net.head[0].weight.dtype == np.float32


def test_module_list_slicing_insert_extend_and_module_dict():
    layers = nn.ModuleList([nn.Linear(1, 1) for _ in range(4)])
    part = layers[1:3]
    assert isinstance(part, nn.ModuleList) and len(part) == 2 and part[0] is layers[1]
    assert layers[-1] is layers[3]
    new = nn.Linear(1, 1)
    layers.insert(1, new)
    assert layers[1] is new and [n for n, _ in layers.named_children()] == ["0", "1", "2", "3", "4"]
    layers.extend([nn.Tanh()])
    assert len(layers) == 6
    del layers[0]
    assert layers[0] is new
    heads = nn.ModuleDict({"tags": nn.Linear(2, 3), "ner": nn.Linear(2, 5)})
    assert list(heads.keys()) == ["tags", "ner"] and "ner" in heads
    assert [n for n, _ in heads.named_parameters()][:2] == ["tags.weight", "tags.bias"]
    seq = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    tanh = nn.Tanh()
    seq.insert(1, tanh)
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "ReLU", "Linear"] and seq[1] is tanh
    assert seq.pop(1) is tanh and len(seq) == 3


def test_parameters_to_vector_and_back():
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(vec.numpy()[:6], lin.weight.numpy().ravel())
    nn.utils.vector_to_parameters(tg.Tensor(np.arange(8, dtype=np.float32)), lin.parameters())
    np.testing.assert_array_equal(lin.bias.numpy(), [6, 7])


def test_parameter_list_and_dict():
    class Gates(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([nn.Parameter(np.ones(2)), tg.Tensor(np.zeros(3))])
            self.bs = nn.ParameterDict({"i": nn.Parameter(np.ones(1))})
    g = Gates()
    assert [n for n, _ in g.named_parameters()] == ["ws.0", "ws.1", "bs.i"]
    assert isinstance(g.ws[1], nn.Parameter) and g.ws[1].requires_grad and len(g.ws[:1]) == 1
    g.bs["f"] = nn.Parameter(np.zeros(1))
    assert list(g.bs.keys()) == ["i", "f"] and "f" in g.bs and len(list(g.parameters())) == 4
    with pytest.raises(TypeError, match="expected a Parameter or Tensor"):
        g.ws.append(3)


def test_constructor_device_and_dtype():
    assert nn.Linear(2, 3, dtype=np.float64).weight.dtype == np.float64
    assert nn.Embedding(4, 2, dtype=np.float64).weight.dtype == np.float64
    for make in (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell):
        m = make(2, 3, device="cpu", dtype=np.float64)
        assert all(p.dtype == np.float64 and p.device == "cpu" for p in m.parameters())


# ---- embeddings and dropout ----------------------------------------------------------------
def test_embedding_padding_row_starts_zero_and_gets_no_gradient():
    emb = nn.Embedding(5, 3, padding_idx=1).double()
    np.testing.assert_array_equal(emb.weight.numpy()[1], 0)
    emb(tg.Tensor(np.array([[1, 2], [1, 1]]))).sum().backward()
    grad = emb.weight.grad.numpy()
    np.testing.assert_array_equal(grad[1], 0)
    np.testing.assert_array_equal(grad[2], 1)
    assert nn.Embedding(5, 3, padding_idx=-1).padding_idx == 4


def test_embedding_from_pretrained_matches_torch():
    torch = pytest.importorskip("torch")
    table = np.arange(12, dtype=np.float64).reshape(4, 3)
    ours = nn.Embedding.from_pretrained(tg.Tensor(table), freeze=False, padding_idx=0)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=False, padding_idx=0)
    idx = np.array([0, 3, 0, 2])
    ours(tg.Tensor(idx)).sum().backward()
    theirs(torch.tensor(idx)).sum().backward()
    np.testing.assert_array_equal(ours.weight.grad.numpy(), theirs.weight.grad.numpy())
    frozen = nn.Embedding.from_pretrained(tg.Tensor(table))
    assert not frozen.weight.requires_grad
    with pytest.raises(NotImplementedError, match="max_norm"):
        nn.Embedding(4, 2, max_norm=1.0)


def test_dropout_p_one_zeroes_everything():
    x = leaf(np.ones((3, 4)))
    y = nn.Dropout(p=1.0)(x)
    np.testing.assert_array_equal(y.numpy(), 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


# ---- losses and activations against torch ---------------------------------------------------
rng = np.random.default_rng(0)
LOGITS = rng.normal(size=(6, 4)) * 3
TARGET = np.array([0, 3, 1, -100, 2, 3])
PROBS = rng.dirichlet(np.ones(4), size=6)
WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
X, Y = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
Y01 = rng.uniform(size=(3, 5))

LOSS_CASES = {
    "ce weight": (lambda x, T, W: F.cross_entropy(x, T(TARGET), weight=W(WEIGHT)), LOGITS),
    "ce smoothing": (lambda x, T, W: F.cross_entropy(x, T(TARGET), label_smoothing=0.2), LOGITS),
    "ce weight smoothing sum": (lambda x, T, W: F.cross_entropy(x, T(TARGET), weight=W(WEIGHT), label_smoothing=0.1,
                                                                reduction="sum"), LOGITS),
    "ce probabilities": (lambda x, T, W: F.cross_entropy(x, W(PROBS), weight=W(WEIGHT), label_smoothing=0.3), LOGITS),
    "ce none": (lambda x, T, W: F.cross_entropy(x, T(TARGET), weight=W(WEIGHT), reduction="none"), LOGITS),
    "ce 3-d": (lambda x, T, W: F.cross_entropy(x, T(np.array([[0, 2, 1], [3, 3, 0]])), weight=W(WEIGHT),
                                               label_smoothing=0.1), rng.normal(size=(2, 4, 3))),
    "nll weight": (lambda x, T, W: F.nll_loss(x, T(TARGET), weight=W(WEIGHT)), -np.abs(LOGITS)),
    "l1": (lambda x, T, W: F.l1_loss(x, W(Y)), X),
    "mse sum": (lambda x, T, W: F.mse_loss(x, W(Y), reduction="sum"), X),
    "mse weight": (lambda x, T, W: F.mse_loss(x, W(Y), weight=W(np.arange(1.0, 16.0).reshape(3, 5))), X),
    "l1 weight": (lambda x, T, W: F.l1_loss(x, W(Y), weight=W(np.arange(1.0, 16.0).reshape(3, 5))), X),
    "huber weight": (lambda x, T, W: F.huber_loss(x, W(Y), delta=0.5, weight=W(np.arange(1.0, 16.0).reshape(3, 5))), X),
    "smooth l1": (lambda x, T, W: F.smooth_l1_loss(x, W(Y), beta=0.5), X),
    "huber": (lambda x, T, W: F.huber_loss(x, W(Y), delta=0.7), X),
    "bce": (lambda x, T, W: F.binary_cross_entropy(x, W(Y01)), 1 / (1 + np.exp(-X))),
    "bce logits pos_weight": (lambda x, T, W: F.binary_cross_entropy_with_logits(
        x, W(Y01), weight=W(np.full(5, 0.5)), pos_weight=W(np.arange(1.0, 16.0).reshape(3, 5))), X),
    "elu": (lambda x, T, W: F.elu(x, 0.7), X),
    "silu": (lambda x, T, W: F.silu(x), X),
    "softplus": (lambda x, T, W: F.softplus(x, beta=2.0, threshold=1.5), X),
    "gelu": (lambda x, T, W: F.gelu(x), X),
    "gelu tanh": (lambda x, T, W: F.gelu(x, approximate="tanh"), X),
    "leaky relu": (lambda x, T, W: F.leaky_relu(x, 0.2), X),
    "softmax dim 0": (lambda x, T, W: F.softmax(x, 0), X),
    "log_softmax dim": (lambda x, T, W: F.log_softmax(x, dim=1), X),
}


@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_function_matches_torch(name):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF
    fn, a = LOSS_CASES[name]
    mine = leaf(a)
    ref = torch.tensor(a, requires_grad=True)
    out = fn(mine, lambda t: tg.Tensor(t), lambda w: tg.Tensor(np.asarray(w, dtype=np.float64)))
    # the same snippet on torch: F.* is looked up by name in torch.nn.functional
    import types
    tfn = types.FunctionType(fn.__code__, {"F": TF, "TARGET": TARGET, "WEIGHT": WEIGHT, "PROBS": PROBS, "Y": Y,
                                           "Y01": Y01, "np": np})
    expected = tfn(ref, lambda t: torch.tensor(t), lambda w: torch.tensor(np.asarray(w, dtype=np.float64)))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    up = np.random.default_rng(1).normal(size=out.shape)
    (out * tg.Tensor(up)).sum().backward()
    (expected * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-10, atol=1e-12)


@hypothesis.given(st.integers(1, 4), st.integers(2, 5), st.floats(0, 1), st.integers(0, 2 ** 31 - 1))
def test_composed_cross_entropy_gradcheck(n, c, smoothing, seed):
    r = np.random.default_rng(seed)
    target = tg.Tensor(r.integers(0, c, size=n))
    weight = tg.Tensor(r.uniform(0.1, 2, size=c))
    probs = tg.Tensor(r.dirichlet(np.ones(c), size=n))
    x = leaf(r.normal(size=(n, c)))
    gradcheck(lambda x: F.cross_entropy(x, target, weight=weight, label_smoothing=smoothing), x)
    gradcheck(lambda x: F.cross_entropy(x, probs, label_smoothing=smoothing), x)


@hypothesis.given(st.integers(1, 4), st.integers(2, 5), st.integers(0, 2 ** 31 - 1))
def test_weighted_nll_and_bce_gradcheck(n, c, seed):
    r = np.random.default_rng(seed)
    target = tg.Tensor(np.where(r.uniform(size=n) < 0.2, -100, r.integers(0, c, size=n)))
    weight = tg.Tensor(r.uniform(0.1, 2, size=c))
    if (target.numpy() != -100).any():          # a mean over no targets is 0/0, as in torch
        gradcheck(lambda x: F.nll_loss(x, target, weight=weight), leaf(r.normal(size=(n, c))))
    y = tg.Tensor(r.uniform(size=(n, c)))
    gradcheck(lambda p: F.binary_cross_entropy(p, y, weight=weight), leaf(r.uniform(0.05, 0.95, size=(n, c))))


@hypothesis.given(st.integers(1, 6), st.integers(0, 2 ** 31 - 1))
def test_composed_activations_gradcheck(n, seed):
    r = np.random.default_rng(seed)
    x = leaf(r.choice([-1, 1], size=n) * r.uniform(0.05, 3, size=n))      # away from the kink of elu at 0
    for fn in (lambda v: F.elu(v, 0.7), F.silu, lambda v: F.softplus(v, beta=2.0), F.gelu,
               lambda v: F.gelu(v, approximate="tanh"), lambda v: F.leaky_relu(v, 0.1)):
        gradcheck(fn, x)


@hypothesis.given(st.integers(1, 6), st.floats(0.1, 2), st.integers(0, 2 ** 31 - 1))
def test_composed_regression_losses_gradcheck(n, delta, seed):
    r = np.random.default_rng(seed)
    y = tg.Tensor(r.normal(size=n))
    x = leaf(y.numpy() + r.choice([-1, 1], size=n) * r.uniform(0.05, 3, size=n))   # away from the kinks
    gradcheck(lambda x: F.huber_loss(x, y, delta=delta) + F.smooth_l1_loss(x, y, beta=delta) + F.l1_loss(x, y), x)
    pos, target = tg.Tensor(r.uniform(0.5, 3, size=n)), tg.Tensor(r.uniform(size=n))
    gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, target, pos_weight=pos), x)


def test_loss_and_activation_modules():
    x = leaf(LOGITS)
    t = tg.Tensor(TARGET)
    w = tg.Tensor(WEIGHT)
    loss = nn.CrossEntropyLoss(weight=w, ignore_index=-100, label_smoothing=0.1)(x, t)
    assert float(loss) == pytest.approx(float(F.cross_entropy(x, t, weight=w, label_smoothing=0.1)))
    assert "weight" in nn.CrossEntropyLoss(weight=w).state_dict()
    assert float(nn.NLLLoss()(F.log_softmax(x, 1), t)) == pytest.approx(float(F.cross_entropy(x, t)))
    a, b = leaf(X), tg.Tensor(Y)
    assert float(nn.MSELoss(reduction="sum")(a, b)) == pytest.approx(float(((X - Y) ** 2).sum()))
    assert float(nn.L1Loss()(a, b)) == pytest.approx(float(np.abs(X - Y).mean()))
    assert float(nn.BCEWithLogitsLoss(pos_weight=tg.Tensor(np.ones(5)))(a, tg.Tensor(Y01))) == \
        pytest.approx(float(F.binary_cross_entropy_with_logits(a, tg.Tensor(Y01))))
    for module, fn in ((nn.Tanh(), np.tanh), (nn.ReLU(), lambda v: np.maximum(v, 0)),
                       (nn.Sigmoid(), lambda v: 1 / (1 + np.exp(-v))), (nn.Identity(), lambda v: v),
                       (nn.Softmax(dim=1), lambda v: np.exp(v) / np.exp(v).sum(1, keepdims=True)),
                       (nn.LogSoftmax(dim=1), lambda v: v - np.log(np.exp(v).sum(1, keepdims=True)))):
        np.testing.assert_allclose(module(a).numpy(), fn(X), rtol=1e-12)
    assert nn.Flatten()(tg.randn(2, 3, 4)).shape == (2, 12)
    for module, fn in ((nn.ELU(alpha=0.5), lambda v: F.elu(v, 0.5)), (nn.SiLU(), F.silu),
                       (nn.Softplus(beta=2.0), lambda v: F.softplus(v, beta=2.0))):
        np.testing.assert_allclose(module(a).numpy(), fn(a).numpy())
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(RuntimeError, match="can't be cast"):
        F.binary_cross_entropy_with_logits(a, tg.Tensor(np.ones((3, 5), dtype=np.int64)))


def test_one_hot_and_pad():
    np.testing.assert_array_equal(F.one_hot(tg.Tensor(np.array([0, 2])), 3).numpy(), [[1, 0, 0], [0, 0, 1]])
    assert F.one_hot(tg.Tensor(np.array([1, 4]))).shape == (2, 5)
    y = F.pad(tg.Tensor(np.ones((2, 3), dtype=np.float32)), (1, 2), value=5.0)
    assert y.shape == (2, 6) and y.numpy()[0, 0] == 5 and y.numpy()[0, 5] == 5


# ---- packed sequences ----------------------------------------------------------------------
LENGTHS = [3, 5, 2, 5]


def test_pack_and_pad_match_torch():
    torch = pytest.importorskip("torch")
    tru = torch.nn.utils.rnn
    x = rng.normal(size=(5, 4, 2))
    for enforce, lengths in ((False, LENGTHS), (True, sorted(LENGTHS, reverse=True))):
        ours = R.pack_padded_sequence(tg.Tensor(x), lengths, enforce_sorted=enforce)
        theirs = tru.pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=enforce)
        np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
        np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
        for mine, ref in ((ours.sorted_indices, theirs.sorted_indices), (ours.unsorted_indices, theirs.unsorted_indices)):
            assert (mine is None) == (ref is None) and (mine is None or mine.tolist() == ref.tolist())
        padded, lens = R.pad_packed_sequence(ours, batch_first=True, padding_value=-1.0, total_length=6)
        tpadded, tlens = tru.pad_packed_sequence(theirs, batch_first=True, padding_value=-1.0, total_length=6)
        np.testing.assert_array_equal(padded.numpy(), tpadded.numpy())
        assert lens.tolist() == tlens.tolist()
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        R.pack_padded_sequence(tg.Tensor(x), LENGTHS)
    seqs = [tg.Tensor(rng.normal(size=(n, 2))) for n in LENGTHS]
    for side in ("left", "right"):
        np.testing.assert_array_equal(
            R.pad_sequence(seqs, batch_first=True, padding_value=9.0, padding_side=side).numpy(),
            tru.pad_sequence([torch.tensor(s.numpy()) for s in seqs], batch_first=True, padding_value=9.0,
                             padding_side=side).numpy())
    back = R.unpack_sequence(R.pack_sequence(seqs, enforce_sorted=False))
    for a, b in zip(seqs, back):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_layers_on_packed_sequences_match_torch(kind, batch_first):
    torch = pytest.importorskip("torch")
    tru = torch.nn.utils.rnn
    theirs = getattr(torch.nn, kind)(2, 3, num_layers=2, bidirectional=True, batch_first=batch_first).double()
    ours = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True, batch_first=batch_first).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.flatten_parameters()
    x = rng.normal(size=(4, 5, 2) if batch_first else (5, 4, 2))
    mine = leaf(x)
    ref = torch.tensor(x, requires_grad=True)
    out, state = ours(R.pack_padded_sequence(mine, LENGTHS, batch_first=batch_first, enforce_sorted=False))
    tout, tstate = theirs(tru.pack_padded_sequence(ref, LENGTHS, batch_first=batch_first, enforce_sorted=False))
    assert isinstance(out, R.PackedSequence)
    np.testing.assert_allclose(out.data.numpy(), tout.data.detach().numpy(), rtol=1e-12, atol=1e-12)
    h, th = (state[0], tstate[0]) if kind == "LSTM" else (state, tstate)
    np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-12, atol=1e-12)    # caller's order
    (out.data.sum() + h.sum()).backward()
    (tout.data.sum() + th.sum()).backward()
    np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_all_weights_state_as_list_and_empty_batch():
    lstm = nn.LSTM(2, 3, num_layers=2, proj_size=2)
    assert [len(w) for w in lstm.all_weights] == [5, 5]
    assert lstm.all_weights[1][0] is lstm.weight_ih_l1
    h0, c0 = tg.zeros(2, 1, 2), tg.zeros(2, 1, 3)
    out_tuple, _ = lstm(tg.randn(4, 1, 2), (h0, c0))
    out_list, _ = lstm(tg.randn(4, 1, 2), [h0, c0])
    assert out_tuple.shape == out_list.shape == (4, 1, 2)
    for impl in nn.GRU.IMPLS:
        gru = nn.GRU(2, 3, impl=impl)
        x = tg.Tensor(np.zeros((4, 0, 2), dtype=np.float32), requires_grad=True)
        out, h = gru(x)
        assert out.shape == (4, 0, 3) and h.shape == (1, 0, 3)
        out.sum().backward()


# ---- a word-level language model, step for step against torch --------------------------------
def make_word_lm(lib_nn, kind, vocab=11, dim=6, layers=2):
    """The word-LM idiom: embedding, a stacked recurrent layer, a decoder tied to the embedding,
    log_softmax over the vocabulary (no dropout, so both frameworks draw nothing at random)."""
    class WordLM(lib_nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = lib_nn.Embedding(vocab, dim)
            self.rnn = getattr(lib_nn, kind)(dim, dim, layers)
            self.decoder = lib_nn.Linear(dim, vocab)
            self.decoder.weight = self.encoder.weight

        def forward(self, tokens, hidden):
            out, hidden = self.rnn(self.encoder(tokens), hidden)
            logits = self.decoder(out).reshape(-1, vocab)
            return lib_nn.functional.log_softmax(logits, dim=1), hidden
    return WordLM().double()


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_word_language_model_training_follows_torch(kind):
    torch = pytest.importorskip("torch")
    ours, theirs = make_word_lm(nn, kind), make_word_lm(torch.nn, kind)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    stream = np.random.default_rng(5).integers(0, 11, size=(41, 3))
    opt, topt = tg.optim.AdamW(ours.parameters(), lr=0.01), torch.optim.AdamW(theirs.parameters(), lr=0.01)
    loss_fn, tloss_fn = nn.NLLLoss(), torch.nn.NLLLoss()
    zeros = np.zeros((2, 3, 6))
    hidden = (tg.Tensor(zeros), tg.Tensor(zeros)) if kind == "LSTM" else tg.Tensor(zeros)
    thidden = (torch.tensor(zeros), torch.tensor(zeros)) if kind == "LSTM" else torch.tensor(zeros)
    detach = (lambda h: tuple(v.detach() for v in h)) if kind == "LSTM" else (lambda h: h.detach())
    for i in range(0, 40, 8):
        x, y = stream[i:i + 8], stream[i + 1:i + 9].reshape(-1)
        hidden, thidden = detach(hidden), detach(thidden)
        ours.zero_grad(), theirs.zero_grad()
        out, hidden = ours(tg.Tensor(x), hidden)
        tout, thidden = theirs(torch.tensor(x), thidden)
        loss, tloss = loss_fn(out, tg.Tensor(y)), tloss_fn(tout, torch.tensor(y))
        loss.backward(), tloss.backward()
        nn.utils.clip_grad_norm_(ours.parameters(), 0.25)
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.25)
        opt.step(), topt.step()
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-10)
    for (name, p), tp in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(p, tp.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_weight_drop_idiom_through_the_parameter_table():
    """The AWD-LSTM trick: move a recurrent weight out of ``_parameters`` into a ``_raw`` copy
    and set a dropped-out version as a plain attribute before each call."""
    lstm = nn.LSTM(2, 3)
    raw = lstm._parameters.pop("weight_hh_l0")
    lstm.register_parameter("weight_hh_l0_raw", nn.Parameter(raw.data))
    assert "weight_hh_l0" not in dict(lstm.named_parameters())
    lstm.weight_hh_l0 = F.dropout(lstm.weight_hh_l0_raw, p=0.5, training=True)
    out, _ = lstm(tg.randn(4, 1, 2))
    out.sum().backward()
    assert lstm.weight_hh_l0_raw.grad is not None
    assert "weight_hh_l0" not in lstm.state_dict()


def test_forward_hooks_record_replace_and_remove():
    lin = nn.Linear(2, 2)
    seen = []
    handle = lin.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out = lin(tg.randn(3, 2))
    assert seen == [(3, 2)]
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(lin.bias.numpy(), (3, 2)))   # input zeroed
    handle.remove(), pre.remove()
    lin(tg.randn(1, 2))
    assert seen == [(3, 2)]


@pytest.mark.parametrize("path", ["modules.rnn.GRU", "modules.rnn.LSTM", "modules.rnn.RNN", "modules.dropout.Dropout",
                                  "modules.linear.Linear", "modules.linear.NonDynamicallyQuantizableLinear",
                                  "modules.sparse.Embedding", "modules.container.ModuleList", "functional.relu",
                                  "utils.rnn.PackedSequence", "utils.clip_grad_norm_"])
def test_torch_module_paths_resolve(path):
    """Saved-model allow-lists and scripts name classes by torch's module paths
    (``torch.nn.modules.rnn.GRU``); the same paths exist under ``tinygrad_rnn.nn``."""
    obj = nn
    for part in path.split("."):
        obj = getattr(obj, part)
    assert callable(obj)


def _normalize_and_cosine(lib):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x2[1] = 0.0                                      # a zero vector: eps keeps the cosine finite
    a, b = lib.tensor(x1, requires_grad=True), lib.tensor(x2, requires_grad=True)
    F = lib.nn.functional
    outs = (F.normalize(a, dim=1), F.normalize(a, p=1, dim=0), F.cosine_similarity(a, b),
            F.cosine_similarity(a[:1], b, dim=-1), F.normalize(b, dim=0), b.norm(dim=1))   # norm's gradient at 0 is 0
    sum((o * (k + 1)).sum() for k, o in enumerate(outs)).backward()
    return [o.detach().numpy() for o in outs] + [a.grad.numpy(), b.grad.numpy()]


def test_normalize_and_cosine_similarity_match_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in zip(_normalize_and_cosine(tg), _normalize_and_cosine(torch), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert F.normalize(tg.zeros(2, 3), dim=1).tolist() == [[0.0] * 3] * 2


def _init_through_data(lib):
    lib.manual_seed(0)
    gru = lib.nn.GRU(3, 4, 2)
    for name, p in gru.named_parameters():
        if "bias" in name:
            lib.nn.init.constant_(p.data, 0.25)            # the older idiom: init on w.data
        elif "weight_ih" in name:
            lib.nn.init.xavier_uniform_(p.data)
        else:
            lib.nn.init.orthogonal_(p.data)
    w = gru.weight_hh_l1.detach().numpy()
    return (gru.bias_ih_l0.detach().numpy(), bool(np.abs(gru.weight_ih_l1.detach().numpy()).max() <= np.sqrt(6 / 16)),
            bool(np.allclose(w.T @ w, np.eye(4), atol=1e-5)))   # (12, 4): orthonormal columns


def test_init_functions_write_through_data_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _init_through_data(tg), _init_through_data(torch)
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert ours[0].tolist() == [0.25] * 12 and ours[1:] == theirs[1:] == (True, True)
