"""Recurrent cells and sequence layers (composite path): gradients against finite differences,
and the structural properties of BPTT, under Hypothesis in float64.

Configurations are drawn by ``configs()`` (cell type, layers, directions, layout, projection,
bias, lengths, initial state); weights and data come from a NumPy generator seeded by the
drawn ``seed``, so values are generic (no zeros that would sit on a ReLU kink).
"""
import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.modules.rnn import gru_step, lstm_step, rnn_step
from tinygrad_rnn.nn.utils.rnn import (check_lengths, length_mask, pad_sequence, reverse_padded,
                                       sequence_lengths, unpad_sequence)
from tinygrad_rnn.testing import gradcheck

KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
CELLS = {"rnn_tanh": (nn.RNNCell, {"nonlinearity": "tanh"}), "rnn_relu": (nn.RNNCell, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTMCell, {}), "gru": (nn.GRUCell, {})}

# gradcheck perturbs every weight: keep its examples fewer than the profile's (at least 5)
few = settings(max_examples=max(5, settings.default.max_examples // 4))


# ----------------------------------------------------------------------------- helpers

@st.composite
def configs(draw, kinds=KINDS, max_layers=2, unbatched=True, lengths=True, bidirectional=None):
    """A random layer configuration and the sizes of its input."""
    kind = draw(st.sampled_from(kinds))
    H = draw(st.integers(1, 3))
    cfg = dict(kind=kind, I=draw(st.integers(1, 3)), H=H, L=draw(st.integers(1, max_layers)),
               bidirectional=draw(st.booleans()) if bidirectional is None else bidirectional,
               batch_first=draw(st.booleans()), bias=draw(st.booleans()),
               proj=draw(st.integers(0, H - 1)) if kind == "lstm" and H > 1 else 0,
               T=draw(st.integers(1, 4)), B=draw(st.integers(1, 3)), h0=draw(st.booleans()),
               unbatched=unbatched and draw(st.booleans()), seed=draw(st.integers(0, 2**16)))
    if cfg["unbatched"]:
        cfg["B"] = 1
    use_lengths = lengths and not cfg["unbatched"] and draw(st.booleans())
    cfg["lengths"] = draw(st.lists(st.integers(1, cfg["T"]), min_size=cfg["B"], max_size=cfg["B"])) \
        if use_lengths else None
    return cfg


def build(cfg, **overrides):
    """The module of ``cfg`` in float64, its weights drawn from the seed."""
    kwargs = dict(num_layers=cfg["L"], bias=cfg["bias"], batch_first=cfg["batch_first"],
                  bidirectional=cfg["bidirectional"])
    kind = cfg["kind"]
    if kind.startswith("rnn"):
        kwargs["nonlinearity"] = kind[4:]
        cls = nn.RNN
    elif kind == "lstm":
        kwargs["proj_size"] = cfg["proj"]
        cls = nn.LSTM
    else:
        cls = nn.GRU
    kwargs.update(overrides)
    input_size = kwargs.pop("input_size", cfg["I"])
    tg.manual_seed(cfg["seed"])
    return cls(input_size, cfg["H"], **kwargs).double()


def h_out(cfg):
    return cfg["proj"] or cfg["H"]


def make_inputs(cfg, requires_grad=True):
    """x in the module's layout, hx (None, a Tensor, or a pair for the LSTM), lengths."""
    rng = np.random.default_rng(cfg["seed"] + 1)
    T, B, I = cfg["T"], cfg["B"], cfg["I"]
    shape = (T, I) if cfg["unbatched"] else ((B, T, I) if cfg["batch_first"] else (T, B, I))
    x = tg.Tensor(rng.standard_normal(shape), requires_grad=requires_grad)
    hx = None
    if cfg["h0"]:
        LD = cfg["L"] * (2 if cfg["bidirectional"] else 1)
        batch = () if cfg["unbatched"] else (B,)
        h0 = tg.Tensor(rng.standard_normal((LD,) + batch + (h_out(cfg),)), requires_grad=requires_grad)
        hx = h0
        if cfg["kind"] == "lstm":
            hx = (h0, tg.Tensor(rng.standard_normal((LD,) + batch + (cfg["H"],)), requires_grad=requires_grad))
    return x, hx, cfg["lengths"]


def flat_outputs(result):
    """(out, h_n) or (out, (h_n, c_n)) -> [out, h_n(, c_n)]."""
    out, state = result
    return [out] + (list(state) if isinstance(state, tuple) else [state])


def state_tensors(hx):
    return [] if hx is None else (list(hx) if isinstance(hx, tuple) else [hx])


def run(module, x, hx=None, lengths=None, upstream=None, seed=7):
    """Forward, then backward of sum_k <output_k, upstream_k> (random upstream unless given).
    Returns (outputs, upstream, {name: grad}) as NumPy arrays; input grads stay on the Tensors."""
    module.zero_grad()
    for t in [x] + state_tensors(hx):
        t.grad = None
    outputs = flat_outputs(module(x, hx, lengths=lengths))
    rng = np.random.default_rng(seed)
    if upstream is None:
        upstream = [rng.standard_normal(o.shape) for o in outputs]
    loss = sum((o * u).sum() for o, u in zip(outputs, upstream))
    loss.backward()
    grads = {n: (p.grad.numpy() if p.grad is not None else np.zeros(p.shape)) for n, p in module.named_parameters()}
    return [o.numpy() for o in outputs], upstream, grads


def close(a, b, what=""):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=what)


def renamed(state, layer, to_layer=0, reverse_to_forward=False):
    """Entries of layer ``layer`` of a state_dict, renamed for layer ``to_layer`` (optionally
    taking the ``_reverse`` direction as the forward one)."""
    out = {}
    for key, value in state.items():
        name, _, rest = key.partition(f"_l{layer}")
        if not rest and not key.endswith(f"_l{layer}"):
            continue
        if reverse_to_forward:
            if rest != "_reverse":
                continue
            rest = ""
        out[f"{name}_l{to_layer}{rest}"] = value
    return out


# ----------------------------------------------------------------------------- cells

def numpy_cell(kind, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """The cell equations written directly in NumPy: an oracle independent of autograd."""
    sig = lambda a: 1 / (1 + np.exp(-a))
    gx = x @ w_ih.T + (b_ih if b_ih is not None else 0)
    gh = h @ w_hh.T + (b_hh if b_hh is not None else 0)
    if kind.startswith("rnn"):
        return (np.tanh(gx + gh) if kind == "rnn_tanh" else np.maximum(gx + gh, 0)), None
    if kind == "lstm":
        i, f, g, o = np.split(gx + gh, 4, axis=-1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c), c
    r = sig(gx[..., :h.shape[-1]] + gh[..., :h.shape[-1]])
    z = sig(gx[..., h.shape[-1]:2 * h.shape[-1]] + gh[..., h.shape[-1]:2 * h.shape[-1]])
    n = np.tanh(gx[..., 2 * h.shape[-1]:] + r * gh[..., 2 * h.shape[-1]:])
    return (1 - z) * n + z * h, None


cell_cases = st.fixed_dictionaries(dict(
    kind=st.sampled_from(KINDS), I=st.integers(1, 3), H=st.integers(1, 3), B=st.integers(1, 3),
    batched=st.booleans(), state=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16)))


def make_cell(case):
    cls, kwargs = CELLS[case["kind"]]
    tg.manual_seed(case["seed"])
    cell = cls(case["I"], case["H"], bias=case["bias"], **kwargs).double()
    rng = np.random.default_rng(case["seed"] + 1)
    batch = (case["B"],) if case["batched"] else ()
    x = tg.Tensor(rng.standard_normal(batch + (case["I"],)), requires_grad=True)
    states = [tg.Tensor(rng.standard_normal(batch + (case["H"],)), requires_grad=True)
              for _ in range(2 if case["kind"] == "lstm" else 1)] if case["state"] else None
    return cell, x, states


def call_cell(cell, x, states):
    if states is None:
        return cell(x)
    return cell(x, tuple(states)) if isinstance(cell, nn.LSTMCell) else cell(x, states[0])


@given(cell_cases)
def test_cell_matches_numpy_equations(case):
    cell, x, states = make_cell(case)
    got = call_cell(cell, x, states)
    got = list(got) if isinstance(got, tuple) else [got]
    zeros = np.zeros(x.shape[:-1] + (case["H"],))
    h = states[0].numpy() if states else zeros
    c = states[1].numpy() if states and case["kind"] == "lstm" else zeros
    p = {n: v.numpy() for n, v in cell.named_parameters()}
    want = numpy_cell(case["kind"], x.numpy(), h, c, p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"))
    for g, w in zip(got, want):
        assert g.shape == x.shape[:-1] + (case["H"],)
        close(g.numpy(), w)


@few
@given(cell_cases)
def test_cell_gradcheck(case):
    cell, x, states = make_cell(case)
    states = states or []
    params = cell.parameters()

    def fn(x, *rest):
        return call_cell(cell, x, list(rest[:len(states)]) or None)
    gradcheck(fn, x, *states, *params)


@given(st.sampled_from(KINDS), st.integers(1, 4), st.integers(0, 2**16))
def test_shared_weight_gradient_is_the_sum_over_steps(kind, T, seed):
    """BPTT's key fact: a weight used at every step gets the sum of its per-step gradients.
    Unroll once with the shared weights and once with a fresh copy of each weight per step."""
    cell, x, _ = make_cell(dict(kind=kind, I=2, H=3, B=2, batched=True, state=False, bias=True, seed=seed))
    rng = np.random.default_rng(seed)
    xs = [tg.Tensor(rng.standard_normal((2, 2))) for _ in range(T)]
    upstream = [rng.standard_normal((2, 3)) for _ in range(T)]

    def unroll(weights_at):
        h = c = tg.zeros(2, 3, dtype=np.float64)
        loss = 0
        for t in range(T):
            w_ih, w_hh, b_ih, b_hh = weights_at(t)
            xw = F.linear(xs[t], w_ih, b_ih)
            if kind == "lstm":
                h, c = lstm_step(xw, h, c, w_hh, b_hh)
            elif kind == "gru":
                h = gru_step(xw, h, w_hh, b_hh)
            else:
                h = rnn_step(xw, h, w_hh, b_hh, kind[4:])
            loss = loss + (h * upstream[t]).sum()
        loss.backward()

    shared = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    unroll(lambda t: shared)
    copies = [[tg.Tensor(p.numpy().copy(), requires_grad=True) for p in shared] for _ in range(T)]
    unroll(lambda t: copies[t])
    for k, p in enumerate(shared):
        close(p.grad.numpy(), sum(copies[t][k].grad.numpy() for t in range(T)), f"parameter {k}")


# ----------------------------------------------------------------------------- layers: gradients

@few
@given(configs())
def test_layer_gradcheck(cfg):
    module = build(cfg)
    x, hx, lengths = make_inputs(cfg)
    states = state_tensors(hx)

    def fn(x, *rest):
        given_states = rest[:len(states)]
        hx = None if not given_states else (tuple(given_states) if cfg["kind"] == "lstm" else given_states[0])
        return tuple(flat_outputs(module(x, hx, lengths=lengths)))
    gradcheck(fn, x, *states, *module.parameters())


@given(configs(max_layers=1, unbatched=False, bidirectional=False))
def test_one_layer_equals_its_cell_unrolled(cfg):
    """A layer is the cell applied step by step (here without lengths or projection)."""
    cfg.update(proj=0, lengths=None, batch_first=False)
    module = build(cfg)
    x, hx, _ = make_inputs(cfg)
    out, upstream, grads = run(module, x, hx)
    cls, kwargs = CELLS[cfg["kind"]]
    cell = cls(cfg["I"], cfg["H"], bias=cfg["bias"], **kwargs).double()
    cell.load_state_dict({k[:-len("_l0")]: v for k, v in module.state_dict().items()})
    state = None if hx is None else tuple(s[0] for s in state_tensors(hx))
    if state is not None and cfg["kind"] != "lstm":
        state = state[0]
    outs = []
    for t in range(cfg["T"]):
        state = cell(x[t], state)
        outs.append(state[0] if cfg["kind"] == "lstm" else state)
    close(tg.stack(outs).numpy(), out[0])
    final = list(state) if cfg["kind"] == "lstm" else [state]
    for got, want in zip(final, out[1:]):
        close(got.numpy(), want[0])


# ----------------------------------------------------------------------------- layers: structure

@given(configs(unbatched=False))
def test_stack_equals_its_layers_composed(cfg):
    cfg["L"] = 2
    big = build(cfg)
    x, hx, lengths = make_inputs(cfg)
    outputs, upstream, grads = run(big, x, hx, lengths)
    D, Hout = (2 if cfg["bidirectional"] else 1), h_out(cfg)
    layers = [build(cfg, num_layers=1, input_size=cfg["I"] if k == 0 else D * Hout) for k in range(2)]
    for k, layer in enumerate(layers):
        layer.load_state_dict(renamed(big.state_dict(), k))
    inp, finals = x, []
    for k, layer in enumerate(layers):
        part = None if hx is None else tuple(s[k * D:(k + 1) * D] for s in state_tensors(hx))
        part = part if part is None or cfg["kind"] == "lstm" else part[0]
        result = flat_outputs(layer(inp, part, lengths=lengths))
        inp = result[0]
        finals.append(result[1:])
    composed = [inp] + [tg.cat([f[i] for f in finals], axis=0) for i in range(len(finals[0]))]
    for got, want in zip(composed, outputs):
        close(got.numpy(), want)
    loss = sum((o * u).sum() for o, u in zip(composed, upstream))
    loss.backward()
    for k, layer in enumerate(layers):
        for name, p in layer.named_parameters():
            close(p.grad.numpy(), grads[name.replace("_l0", f"_l{k}")], name)


@given(configs(max_layers=1, unbatched=False, bidirectional=True))
def test_reverse_half_is_a_forward_layer_on_reversed_sequences(cfg):
    cfg["batch_first"] = False
    bi = build(cfg)
    x, hx, lengths = make_inputs(cfg, requires_grad=False)
    outputs = flat_outputs(bi(x, hx, lengths=lengths))
    fwd = build(cfg, bidirectional=False)
    fwd.load_state_dict(renamed(bi.state_dict(), 0, reverse_to_forward=True))
    T, B, Hout = cfg["T"], cfg["B"], h_out(cfg)
    lens = lengths or [T] * B
    flipped = x.numpy().copy()
    for b, n in enumerate(lens):                  # reverse each sequence within its own length
        flipped[:n, b] = x.numpy()[:n, b][::-1]
    part = None if hx is None else tuple(s[1:2] for s in state_tensors(hx))
    part = part if part is None or cfg["kind"] == "lstm" else part[0]
    result = [r.numpy() for r in flat_outputs(fwd(tg.Tensor(flipped), part, lengths=lengths))]
    back = result[0].copy()
    for b, n in enumerate(lens):
        back[:n, b] = result[0][:n, b][::-1]
    close(outputs[0].numpy()[..., Hout:], back)
    for got, want in zip(outputs[1:], result[1:]):
        close(got.numpy()[1], want[0])


@given(configs(unbatched=False), st.integers(1, 3))
def test_padding_past_lengths_changes_nothing(cfg, extra):
    """More padding steps, and junk in the padding, change no output, state or gradient; the
    outputs at padded steps are zero and so is the gradient of padded inputs."""
    cfg["batch_first"] = False
    cfg["lengths"] = cfg["lengths"] or [cfg["T"]] * cfg["B"]
    module = build(cfg)
    x, hx, lengths = make_inputs(cfg)
    outputs, upstream, grads = run(module, x, hx, lengths)
    grad_x = x.grad.numpy()
    T, B = cfg["T"], cfg["B"]
    rng = np.random.default_rng(cfg["seed"] + 2)
    junk = x.numpy().copy()
    valid = (np.arange(T)[:, None] < np.asarray(lengths)[None, :])[:, :, None]
    junk = np.where(valid, junk, 100 * rng.standard_normal(junk.shape))
    longer = tg.Tensor(np.concatenate([junk, 100 * rng.standard_normal((extra, B, cfg["I"]))]), requires_grad=True)
    up_out = np.concatenate([upstream[0], rng.standard_normal((extra,) + upstream[0].shape[1:])])
    outputs2, _, grads2 = run(module, longer, hx, lengths, upstream=[up_out] + upstream[1:])
    close(outputs2[0][:T], outputs[0])
    assert not outputs2[0][T:].any() and not outputs[0][~valid[..., 0]].any(), "padded outputs must be zero"
    for a, b in zip(outputs2[1:], outputs[1:]):
        close(a, b)
    for name in grads:
        close(grads2[name], grads[name], name)
    close(longer.grad.numpy()[:T], grad_x)
    assert not longer.grad.numpy()[T:].any() and not grad_x[~valid[..., 0]].any()


@given(configs(unbatched=False))
def test_batch_equals_its_sequences_one_by_one(cfg):
    cfg["batch_first"] = False
    module = build(cfg)
    x, hx, lengths = make_inputs(cfg)
    outputs, upstream, grads = run(module, x, hx, lengths)
    lens = lengths or [cfg["T"]] * cfg["B"]
    total = {name: 0 for name in grads}
    for b, n in enumerate(lens):
        xb = tg.Tensor(x.numpy()[:n, b:b + 1])
        hb = None if hx is None else tuple(tg.Tensor(s.numpy()[:, b:b + 1]) for s in state_tensors(hx))
        hb = hb if hb is None or cfg["kind"] == "lstm" else hb[0]
        up = [upstream[0][:n, b:b + 1]] + [u[:, b:b + 1] for u in upstream[1:]]
        single, _, g = run(module, xb, hb, upstream=up)
        close(outputs[0][:n, b], single[0][:, 0])
        assert not outputs[0][n:, b].any()
        for got, want in zip(outputs[1:], single[1:]):
            close(got[:, b], want[:, 0])
        for name in total:
            total[name] = total[name] + g[name]
    for name in grads:
        close(total[name], grads[name], name)


@given(configs(unbatched=False, lengths=False))
def test_layouts_batch_first_and_unbatched_agree(cfg):
    cfg["batch_first"] = False
    module = build(cfg)
    x, hx, _ = make_inputs(cfg, requires_grad=False)
    ref = [o.numpy() for o in flat_outputs(module(x, hx))]
    module.batch_first = True
    got = [o.numpy() for o in flat_outputs(module(x.transpose(0, 1), hx))]
    close(got[0], ref[0].transpose(1, 0, 2))
    for a, b in zip(got[1:], ref[1:]):
        close(a, b)
    module.batch_first = False
    one = None if hx is None else tuple(s[:, 0] for s in state_tensors(hx))
    one = one if one is None or cfg["kind"] == "lstm" else one[0]
    single = [o.numpy() for o in flat_outputs(module(tg.Tensor(x.numpy()[:, 0]), one))]
    assert single[0].shape == (cfg["T"], ref[0].shape[-1])
    one_batch = [o.numpy() for o in flat_outputs(module(x[:, :1], None if one is None else
                                                        (tuple(s.unsqueeze(1) for s in one) if cfg["kind"] == "lstm"
                                                         else one.unsqueeze(1))))]
    close(single[0], one_batch[0][:, 0])
    for a, b in zip(single[1:], one_batch[1:]):
        close(a, b[:, 0])


@given(configs(unbatched=False))
def test_state_dict_round_trip(cfg):
    module = build(cfg)
    D, suffixes = (2 if cfg["bidirectional"] else 1), []
    for k in range(cfg["L"]):
        for d in range(D):
            s = f"_l{k}" + ("_reverse" if d else "")
            suffixes += ["weight_ih" + s, "weight_hh" + s] + (["bias_ih" + s, "bias_hh" + s] if cfg["bias"] else []) \
                + (["weight_hr" + s] if cfg["proj"] else [])
    assert list(module.state_dict()) == suffixes
    fresh = build(dict(cfg, seed=cfg["seed"] + 1))
    fresh.load_state_dict(module.state_dict())
    x, hx, lengths = make_inputs(cfg, requires_grad=False)
    for a, b in zip(flat_outputs(module(x, hx, lengths=lengths)), flat_outputs(fresh(x, hx, lengths=lengths))):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ----------------------------------------------------------------------------- dropout, residual

@pytest.mark.parametrize("kind", KINDS)
def test_dropout_acts_between_layers_in_train_only(kind):
    cfg = dict(kind=kind, I=3, H=8, L=3, bidirectional=False, batch_first=False, bias=True, proj=0,
               T=4, B=3, h0=False, unbatched=False, lengths=None, seed=3)
    module = build(cfg, dropout=0.5)
    plain = build(cfg)
    x, _, _ = make_inputs(cfg, requires_grad=False)
    module.eval()
    evaluated = flat_outputs(module(x))
    for a, b in zip(evaluated, flat_outputs(plain(x))):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    module.train()
    trained = flat_outputs(module(x))
    assert not np.allclose(trained[0].numpy(), evaluated[0].numpy()), "dropout did nothing in train()"
    close(trained[1].numpy()[0], evaluated[1].numpy()[0])   # the first layer sees no dropout
    if kind != "rnn_relu":  # the last layer's output is not dropped: no exact zeros
        assert np.all(trained[0].numpy() != 0)


def test_dropout_with_one_layer_warns_and_does_nothing():
    with pytest.warns(UserWarning, match="between layers"):
        lstm = nn.LSTM(2, 3, dropout=0.5)
    x = tg.randn(3, 2, 2)
    np.testing.assert_array_equal(lstm(x)[0].numpy(), lstm.eval()(x)[0].numpy())


@given(configs(unbatched=False, kinds=("lstm", "gru", "rnn_tanh")), st.integers(2, 3))
def test_residual_adds_each_later_layers_input(cfg, L):
    cfg["L"] = L
    module = build(cfg, residual=True)
    x, _, lengths = make_inputs(cfg, requires_grad=False)
    out = module(x, lengths=lengths)[0].numpy()
    D = 2 if cfg["bidirectional"] else 1
    inp = x
    for k in range(L):
        layer = build(cfg, num_layers=1, input_size=cfg["I"] if k == 0 else D * h_out(cfg))
        layer.load_state_dict(renamed(module.state_dict(), k))
        result = layer(inp, lengths=lengths)[0]
        inp = result + inp if k > 0 else result
    close(out, inp.numpy())


# ----------------------------------------------------------------------------- lengths, padding

@pytest.mark.parametrize("as_type", [list, np.array, lambda v: tg.tensor(v), lambda v: np.array(v, dtype=np.int32)])
def test_lengths_accept_lists_arrays_and_int_tensors(as_type):
    gru = nn.GRU(2, 3)
    x = tg.randn(4, 2, 2)
    want = gru(x, lengths=[4, 2])[0].numpy()
    np.testing.assert_array_equal(gru(x, lengths=as_type([4, 2]))[0].numpy(), want)
    assert not want[2:, 1].any()


def test_pad_sequence_pads_stacks_and_passes_gradients():
    seqs = [tg.randn(3, 2, dtype=np.float64, requires_grad=True), tg.randn(1, 2, dtype=np.float64, requires_grad=True)]
    padded = pad_sequence(seqs, padding_value=-1.0)
    assert padded.shape == (3, 2, 2)
    np.testing.assert_array_equal(padded.numpy()[:, 0], seqs[0].numpy())
    np.testing.assert_array_equal(padded.numpy()[1:, 1], -1.0)
    assert pad_sequence(seqs, batch_first=True).shape == (2, 3, 2)
    assert sequence_lengths(seqs) == [3, 1]
    (pad_sequence(seqs, batch_first=True) * 2).sum().backward()
    np.testing.assert_array_equal(seqs[1].grad.numpy(), 2.0)
    back = unpad_sequence(padded, [3, 1])
    np.testing.assert_array_equal(back[1].numpy(), seqs[1].numpy())
    np.testing.assert_array_equal(length_mask([3, 1], 3).numpy(), [[True, True], [True, False], [True, False]])


def test_pad_sequence_refuses_mismatched_sequences():
    with pytest.raises(ValueError, match="trailing shape"):
        pad_sequence([tg.randn(2, 3), tg.randn(2, 4)])
    with pytest.raises(ValueError, match="at least one"):
        pad_sequence([])


def test_reverse_padded_reverses_within_lengths_and_is_an_involution():
    x = tg.tensor(np.arange(8.0).reshape(4, 2, 1))
    r = reverse_padded(x, np.array([4, 2]))
    np.testing.assert_array_equal(r.numpy()[:, :, 0], [[6, 3], [4, 1], [2, 5], [0, 7]])
    np.testing.assert_array_equal(reverse_padded(r, np.array([4, 2])).numpy(), x.numpy())


# ----------------------------------------------------------------------------- bad input

def _no_computation(monkeypatch):
    """Make every op fail loudly: bad input must be refused before anything is computed."""
    def boom(cls, *args, **kwargs):
        raise AssertionError(f"{cls.__name__} ran before the input was checked")
    monkeypatch.setattr(tg.Function, "apply", classmethod(boom))


BAD_CALLS = [
    ("not a tensor", lambda m: m(np.zeros((4, 2, 3))), TypeError, "must be a Tensor"),
    ("rank 1", lambda m: m(tg.zeros(3, dtype=np.float64)), ValueError, r"expected input of shape"),
    ("rank 4", lambda m: m(tg.zeros(4, 2, 3, 1, dtype=np.float64)), ValueError, "expected input of shape"),
    ("features", lambda m: m(tg.zeros(4, 2, 5, dtype=np.float64)), ValueError, r"input_size=3 .*got shape \(4, 2, 5\)"),
    ("dtype", lambda m: m(tg.zeros(4, 2, 3)), TypeError, "float32 but the parameters float64"),
    ("no steps", lambda m: m(tg.zeros(0, 2, 3, dtype=np.float64)), ValueError, "no time steps"),
    ("h0 shape", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), tg.zeros(4, 3, 5, dtype=np.float64)),
     ValueError, r"expected \(L\*D, B, Hout\) = \(4, 2, 5\), got \(4, 3, 5\)"),
    ("h0 unbatched", lambda m: m(tg.zeros(4, 3, dtype=np.float64), tg.zeros(4, 1, 5, dtype=np.float64)),
     ValueError, r"expected \(L\*D, Hout\) = \(4, 5\), got \(4, 1, 5\)"),
    ("h0 dtype", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), tg.zeros(4, 2, 5)), TypeError, "dtype float32"),
    ("h0 type", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), np.zeros((4, 2, 5))), TypeError, "must be a Tensor"),
    ("lengths > T", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), lengths=[5, 1]), ValueError, r"\[1, T=4\]"),
    ("lengths 0", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), lengths=[0, 1]), ValueError, r"\[1, T=4\]"),
    ("lengths < 0", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), lengths=[-1, 1]), ValueError, r"\[1, T=4\]"),
    ("lengths count", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), lengths=[1, 2, 3]), ValueError,
     r"expected shape \(2,\), got shape \(3,\)"),
    ("lengths float", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), lengths=[2.0, 1.0]), TypeError, "integers"),
    ("lengths bool", lambda m: m(tg.zeros(4, 2, 3, dtype=np.float64), lengths=[True, True]), TypeError, "integers"),
]


@pytest.mark.parametrize("kind", ["gru", "rnn_tanh"])
@pytest.mark.parametrize("what, call, error, message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_is_refused_before_computing(monkeypatch, kind, what, call, error, message):
    cls = nn.GRU if kind == "gru" else nn.RNN
    module = cls(3, 5, num_layers=2, bidirectional=True).double()
    _no_computation(monkeypatch)
    with pytest.raises(error, match=message):
        call(module)


def test_lstm_bad_states(monkeypatch):
    lstm = nn.LSTM(3, 5, proj_size=2).double()
    x = tg.zeros(4, 2, 3, dtype=np.float64)
    h, c = tg.zeros(1, 2, 2, dtype=np.float64), tg.zeros(1, 2, 5, dtype=np.float64)
    _no_computation(monkeypatch)
    with pytest.raises(TypeError, match=r"tuple \(h0, c0\)"):
        lstm(x, h)
    with pytest.raises(ValueError, match=r"h0 .*expected \(L\*D, B, Hout\) = \(1, 2, 2\), got \(1, 2, 5\)"):
        lstm(x, (c, c))
    with pytest.raises(ValueError, match=r"c0 .*expected \(L\*D, B, H\) = \(1, 2, 5\), got \(1, 2, 2\)"):
        lstm(x, (h, h))


@pytest.mark.skipif(not tg.cuda_available(), reason="no CUDA device")
def test_state_on_another_device_is_refused():
    gru = nn.GRU(3, 5)
    with pytest.raises(RuntimeError, match="is on cuda but the input is on cpu"):
        gru(tg.zeros(4, 2, 3), tg.zeros(1, 2, 5, device="cuda"))
    with pytest.raises(RuntimeError, match="input is on cuda but the parameters are on cpu"):
        gru(tg.zeros(4, 2, 3, device="cuda"))


@pytest.mark.parametrize("make, message", [
    (lambda: nn.LSTM(3, 4, proj_size=4), r"proj_size .*\[0, hidden_size=4\).*got 4"),
    (lambda: nn.LSTM(3, 4, proj_size=-1), r"proj_size .*got -1"),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), "'tanh' or 'relu'"),
    (lambda: nn.RNNCell(3, 4, nonlinearity="gelu"), "'tanh' or 'relu'"),
    (lambda: nn.GRU(3, 0), "hidden_size must be an integer >= 1"),
    (lambda: nn.GRU(3, 4, num_layers=0), "num_layers must be an integer >= 1"),
    (lambda: nn.GRU(3, 4, num_layers=2, dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (lambda: nn.GRU(3, 4, impl="cudnn"), r"impl must be one of \('fused',"),
    (lambda: nn.LSTM(3, 4, residual=True), "num_layers >= 2.*nn.skip"),
])
def test_bad_constructor_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("source, target, error, message", [
    # RuntimeError as torch raises (StateDictError is also a ValueError for older callers)
    (lambda: nn.GRU(3, 4), lambda: nn.LSTM(3, 4), RuntimeError, r"weight_ih_l0.*shape \(12, 3\).*\(16, 3\)"),
    (lambda: nn.LSTM(3, 4, num_layers=2), lambda: nn.LSTM(3, 4), RuntimeError, "Unexpected key.*weight_ih_l1"),
    (lambda: nn.LSTM(3, 4), lambda: nn.LSTM(3, 4, bidirectional=True), RuntimeError, "Missing key.*_reverse"),
    (lambda: nn.LSTM(3, 4, proj_size=2), lambda: nn.LSTM(3, 4), RuntimeError, "Unexpected key.*weight_hr_l0"),
])
def test_loading_another_architecture_is_refused(source, target, error, message):
    with pytest.raises(error, match=message):
        target().load_state_dict(source().state_dict())


def test_cells_refuse_bad_input():
    cell = nn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"input_size=3"):
        cell(tg.zeros(2, 5))
    with pytest.raises(ValueError, match=r"expected input of shape"):
        cell(tg.zeros(1, 2, 3))
    with pytest.raises(TypeError, match=r"tuple \(h, c\)"):
        cell(tg.zeros(2, 3), tg.zeros(2, 4))
    with pytest.raises(ValueError, match=r"c has the wrong shape: expected \(B, H\) = \(2, 4\), got \(2, 3\)"):
        cell(tg.zeros(2, 3), (tg.zeros(2, 4), tg.zeros(2, 3)))
    with pytest.raises(ValueError, match=r"expected \(H,\) = \(4,\)"):
        nn.GRUCell(3, 4)(tg.zeros(3), tg.zeros(1, 4))


def test_check_lengths_returns_int64_or_none():
    assert check_lengths(None, 3, 2) is None
    assert check_lengths((3, 1), 3, 2).dtype == np.int64


# ----------------------------------------------------------------------------- misc

def test_impl_is_stored_and_defaults_initialise_like_pytorch():
    lstm = nn.LSTM(3, 16, num_layers=2)
    assert lstm.impl == "fused"
    for name, p in lstm.named_parameters():
        assert p.dtype == np.float32 and np.abs(p.numpy()).max() <= 0.25, name
        assert np.abs(p.numpy()).max() > 0.2, f"{name} is not spread over U(-1/4, 1/4)"


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=pytest.mark.skipif(
    not tg.cuda_available(), reason="no CUDA device"))])       # the reference is the CPU: cpu vs cpu proves nothing
@pytest.mark.parametrize("kind", KINDS)
def test_same_results_on_every_device(device, kind):
    cfg = dict(kind=kind, I=3, H=4, L=2, bidirectional=True, batch_first=True, bias=True,
               proj=2 if kind == "lstm" else 0, T=5, B=3, h0=True, unbatched=False, lengths=[5, 2, 4], seed=0)
    module = build(cfg)
    x, hx, lengths = make_inputs(cfg)
    ref, upstream, grads = run(module, x, hx, lengths)
    module.to(device)
    xd = tg.Tensor(x.numpy(), device=device)
    hd = None if hx is None else tuple(tg.Tensor(s.numpy(), device=device) for s in state_tensors(hx))
    hd = hd if kind == "lstm" else hd[0]
    got, _, grads_d = run(module, xd, hd, lengths, upstream=[tg.Tensor(u, device=device) for u in upstream])
    for a, b in zip(got, ref):
        close(a, b)
    for name in grads:
        close(grads_d[name], grads[name], name)
