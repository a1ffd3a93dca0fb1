"""PyTorch as an oracle for the recurrent cells and layers (skipped where torch is absent).

For random configurations the torch module is built in float64, its ``state_dict`` is copied
into ours as plain arrays, and outputs, final states and the gradients of every parameter and
input must agree to a relative error of 1e-9. Variable lengths go through torch's
``pack_padded_sequence(enforce_sorted=False)`` / ``pad_packed_sequence(total_length=T)``, whose
semantics (zero outputs past a length, h_n at the last real step) are our ``lengths=``.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn

torch = pytest.importorskip("torch")
pack = torch.nn.utils.rnn.pack_padded_sequence
unpack = torch.nn.utils.rnn.pad_packed_sequence

KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def assert_close(ours, theirs, what):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    ours = ours.numpy() if isinstance(ours, tg.Tensor) else ours
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, torch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, err_msg=what)


def pair(kind, input_size, hidden_size, **kwargs):
    """(torch module in float64, our module with the torch weights)."""
    if kind.startswith("rnn"):
        kwargs["nonlinearity"] = kind[4:]
    name = {"lstm": "LSTM", "gru": "GRU"}.get(kind, "RNN")
    theirs = getattr(torch.nn, name)(input_size, hidden_size, dtype=torch.float64, **kwargs)
    ours = getattr(nn, name)(input_size, hidden_size, **kwargs).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return theirs, ours


@st.composite
def configs(draw):
    kind = draw(st.sampled_from(KINDS))
    H = draw(st.integers(1, 4))
    unbatched = draw(st.booleans())
    B = 1 if unbatched else draw(st.integers(1, 3))
    T = draw(st.integers(1, 5))
    return dict(
        kind=kind, I=draw(st.integers(1, 3)), H=H, num_layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()), batch_first=draw(st.booleans()), bias=draw(st.booleans()),
        proj_size=draw(st.integers(0, H - 1)) if kind == "lstm" else 0,
        dropout=draw(st.sampled_from([0.0, 0.3])),  # compared in eval(), where it is off
        T=T, B=B, unbatched=unbatched, h0=draw(st.booleans()),
        lengths=None if unbatched or not draw(st.booleans()) else
        draw(st.lists(st.integers(1, T), min_size=B, max_size=B)),
        seed=draw(st.integers(0, 2**16)))


@given(configs())
def test_layer_matches_torch(cfg):
    kwargs = {k: cfg[k] for k in ("num_layers", "bidirectional", "batch_first", "bias", "dropout")}
    if cfg["kind"] == "lstm":
        kwargs["proj_size"] = cfg["proj_size"]
    torch.manual_seed(cfg["seed"])
    with pytest.warns(UserWarning) if cfg["dropout"] and cfg["num_layers"] == 1 else _nothing():
        theirs, ours = pair(cfg["kind"], cfg["I"], cfg["H"], **kwargs)
    theirs.eval()
    ours.eval()
    rng = np.random.default_rng(cfg["seed"])
    T, B, I = cfg["T"], cfg["B"], cfg["I"]
    shape = (T, I) if cfg["unbatched"] else ((B, T, I) if cfg["batch_first"] else (T, B, I))
    arrays = [rng.standard_normal(shape)]
    if cfg["h0"]:
        LD = cfg["num_layers"] * (2 if cfg["bidirectional"] else 1)
        batch = () if cfg["unbatched"] else (B,)
        arrays.append(rng.standard_normal((LD,) + batch + (cfg["proj_size"] or cfg["H"],)))
        if cfg["kind"] == "lstm":
            arrays.append(rng.standard_normal((LD,) + batch + (cfg["H"],)))
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    o_in = [tg.Tensor(a, requires_grad=True) for a in arrays]

    def hx(states):
        if not states:
            return None
        return tuple(states) if cfg["kind"] == "lstm" else states[0]

    lengths = cfg["lengths"]
    if lengths is None:
        t_out, t_state = theirs(t_in[0], hx(t_in[1:]))
    else:
        packed = pack(t_in[0], lengths, batch_first=cfg["batch_first"], enforce_sorted=False)
        t_out, t_state = theirs(packed, hx(t_in[1:]))
        t_out, _ = unpack(t_out, batch_first=cfg["batch_first"], total_length=T)
    o_out, o_state = ours(o_in[0], hx(o_in[1:]), lengths=lengths)
    t_all = [t_out] + (list(t_state) if cfg["kind"] == "lstm" else [t_state])
    o_all = [o_out] + (list(o_state) if cfg["kind"] == "lstm" else [o_state])
    upstream = [rng.standard_normal(tuple(t.shape)) for t in t_all]
    for name, o, t in zip(("out", "h_n", "c_n"), o_all, t_all):
        assert_close(o, t, name)
    sum((t * torch.tensor(u)).sum() for t, u in zip(t_all, upstream)).backward()
    sum((o * u).sum() for o, u in zip(o_all, upstream)).backward()
    for name, o, t in zip(("x", "h0", "c0"), o_in, t_in):
        assert_close(o.grad, t.grad, f"gradient of {name}")
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, t_params[name].grad, f"gradient of {name}")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@given(st.sampled_from(KINDS), st.integers(1, 3), st.integers(1, 4), st.integers(1, 3),
       st.booleans(), st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_cell_matches_torch(kind, I, H, B, batched, bias, given_state, seed):
    name = {"lstm": "LSTMCell", "gru": "GRUCell"}.get(kind, "RNNCell")
    kwargs = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, name)(I, H, bias=bias, dtype=torch.float64, **kwargs)
    ours = getattr(nn, name)(I, H, bias=bias, **kwargs).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(seed)
    batch = (B,) if batched else ()
    arrays = [rng.standard_normal(batch + (I,))]
    if given_state:
        arrays += [rng.standard_normal(batch + (H,)) for _ in range(2 if kind == "lstm" else 1)]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    o_in = [tg.Tensor(a, requires_grad=True) for a in arrays]
    state = (lambda s: None if not s else (tuple(s) if kind == "lstm" else s[0]))
    t_out, o_out = theirs(t_in[0], state(t_in[1:])), ours(o_in[0], state(o_in[1:]))
    t_all = list(t_out) if kind == "lstm" else [t_out]
    o_all = list(o_out) if kind == "lstm" else [o_out]
    upstream = [rng.standard_normal(tuple(t.shape)) for t in t_all]
    for o, t in zip(o_all, t_all):
        assert_close(o, t, "output")
    sum((t * torch.tensor(u)).sum() for t, u in zip(t_all, upstream)).backward()
    sum((o * u).sum() for o, u in zip(o_all, upstream)).backward()
    for k, (o, t) in enumerate(zip(o_in, t_in)):
        assert_close(o.grad, t.grad, f"gradient of input {k}")
    t_params = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        assert_close(p.grad, t_params[pname].grad, f"gradient of {pname}")


@pytest.mark.parametrize("kind", KINDS)
def test_default_initialisation_has_torch_shapes_and_bound(kind):
    theirs, ours = pair(kind, 5, 16, num_layers=2, bidirectional=True)
    fresh = type(ours)(5, 16, num_layers=2, bidirectional=True,
                       **({"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}))
    for (name, p), (t_name, t) in zip(fresh.named_parameters(), theirs.named_parameters()):
        assert name == t_name and p.shape == tuple(t.shape)
        assert np.abs(p.numpy()).max() <= 1 / 4
    # and U(-1/4, 1/4) really: the range used, centred, a uniform's spread (as torch's own draw)
    ours = np.concatenate([p.numpy().ravel() for p in fresh.parameters()]).astype(np.float64)
    torchs = np.concatenate([t.detach().numpy().ravel() for t in theirs.parameters()]).astype(np.float64)
    for values in (ours, torchs):
        assert values.max() > 0.24 and values.min() < -0.24 and abs(values.mean()) < 0.02
        assert values.std() == pytest.approx(0.25 / np.sqrt(3), rel=0.06)
