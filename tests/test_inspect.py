"""Tests for tinygrad_rnn.inspect (and the plot in tinygrad_rnn.viz): per-step gradient traces,
one-step Jacobians, the DOT export and the shared-weight demonstration. Everything numerical
is float64 with tight tolerances, so a trace that is off by a factor of 1 + 1e-7 is caught."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import inspect, nn, viz

TIGHT = dict(rtol=1e-10, atol=1e-12)

LAYERS = {
    "rnn_tanh": lambda **kw: nn.RNN(3, 4, **kw),
    "rnn_relu": lambda **kw: nn.RNN(3, 4, nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(3, 4, **kw),
    "lstm_proj": lambda **kw: nn.LSTM(3, 4, proj_size=2, **kw),
    "gru": lambda **kw: nn.GRU(3, 4, **kw),
}


def _impls(make):
    return list(getattr(type(make()), "IMPLS", ("composite",)))


def _cases():
    return [pytest.param(name, impl, id=f"{name}-{impl}") for name, make in LAYERS.items()
            for impl in _impls(make)]


def _x(T=5, B=2, I=3, device="cpu"):
    return tg.tensor(np.random.default_rng(1).normal(size=(T, B, I)), dtype=np.float64, device=device)


def _loss(out):
    """A loss that reads every output step and the final state, with random weights."""
    y, state = out
    h_n = state[0] if isinstance(state, tuple) else state
    rng = np.random.default_rng(2)
    v = tg.tensor(rng.normal(size=y.shape), dtype=y.dtype, device=y.device)
    w = tg.tensor(rng.normal(size=h_n.shape), dtype=y.dtype, device=y.device)
    return (y * v).sum() + (h_n * w).sum()


def _grads(module):
    return {k: p.grad.numpy().copy() for k, p in module.named_parameters() if p.grad is not None}


def _manual_retain_grad(layer, x, loss_fn):
    """dL/dh_t the plainest way: a Python loop over the matching *cell* module (weights copied
    from the one-layer layer), retain_grad() on every h_t. Independent of layer.unroll."""
    kind = type(layer).__name__
    cell = {"RNN": lambda: nn.RNNCell(layer.input_size, layer.hidden_size, nonlinearity=layer.nonlinearity),
            "LSTM": lambda: nn.LSTMCell(layer.input_size, layer.hidden_size),
            "GRU": lambda: nn.GRUCell(layer.input_size, layer.hidden_size)}[kind]().double()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    T, B = x.shape[:2]
    h = tg.zeros(B, layer.hidden_size, dtype=np.float64)
    c = tg.zeros(B, layer.hidden_size, dtype=np.float64)
    hs = []
    for t in range(T):
        if kind == "LSTM":
            h, c = cell(x[t], (h, c))
        else:
            h = cell(x[t], h)
        h.retain_grad()
        hs.append(h)
    y = tg.stack(hs)
    out = (y, (h.unsqueeze(0), c.unsqueeze(0))) if kind == "LSTM" else (y, h.unsqueeze(0))
    loss_fn(out).backward()
    return np.stack([h.grad.numpy() for h in hs])


# ----------------------------------------------------------------------------- trace_hidden_grads

@pytest.mark.parametrize("name", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_trace_equals_manual_retain_grad(name):
    layer = LAYERS[name]().double()
    x = _x()
    trace = inspect.trace_hidden_grads(layer, x, _loss, method="unroll")
    expected = _manual_retain_grad(layer, x, _loss)
    np.testing.assert_allclose(trace["dh"]["l0"], expected, **TIGHT)
    np.testing.assert_allclose(trace["dh_norm"]["l0"], np.linalg.norm(expected, axis=-1), **TIGHT)
    assert trace["dh_norm"]["l0"].shape == (5, 2)


@pytest.mark.parametrize("name,impl", _cases())
def test_trace_every_impl_equals_retain_grad(name, impl, device):
    """Whatever impl the layer runs (and whichever method 'auto' picks for it), the per-step
    gradients equal the composite unroll's retain_grad() ones, and the parameter gradients
    equal those of a plain backward through the layer itself."""
    layer = LAYERS[name](impl=impl).double().to(device)
    composite = LAYERS[name](impl="composite").double().to(device)
    composite.load_state_dict(layer.state_dict())
    x = _x(device=device)
    reference = inspect.trace_hidden_grads(composite, x, _loss, method="unroll")
    traced = inspect.trace_hidden_grads(layer, x, _loss, method="auto")
    assert traced["method"] == ("fused" if impl == "fused" else "unroll")
    traced_param_grads = _grads(layer)
    for key in reference["dh"]:
        np.testing.assert_allclose(traced["dh"][key], reference["dh"][key], **TIGHT)
    layer.zero_grad()
    _loss(layer(x)).backward()
    for k, g in _grads(layer).items():
        np.testing.assert_allclose(traced_param_grads[k], g, **TIGHT, err_msg=k)


@pytest.mark.parametrize("config", [
    dict(num_layers=2, bidirectional=True), dict(num_layers=3, residual=True),
    dict(num_layers=2, bidirectional=True, batch_first=True), dict(proj_size=2, bidirectional=True)],
    ids=str)
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
def test_fused_trace_equals_unroll_in_stacks(cls, config, padded, device):
    """The fused layers' own record (method='fused') equals retain_grad() on the composite
    unroll for every layer and direction, with padding (zeroed there) and batch_first."""
    if "proj_size" in config and cls is not nn.LSTM:
        pytest.skip("proj_size is LSTM only")
    if "fused" not in getattr(cls, "IMPLS", ()):
        pytest.skip("no fused impl")
    layer = cls(3, 4, impl="fused", **config).double().to(device)
    x = _x(T=6, B=3, device=device)
    if layer.batch_first:
        x = x.transpose(0, 1)
    lengths = [6, 2, 5] if padded else None
    traced = inspect.trace_hidden_grads(layer, x, _loss, lengths=lengths, method="fused")
    reference = inspect.trace_hidden_grads(layer, x, _loss, lengths=lengths, method="unroll")
    assert traced["method"] == "fused" and reference["method"] == "unroll"
    assert set(traced["dh"]) == set(reference["dh"])
    for key, g in reference["dh"].items():
        np.testing.assert_allclose(traced["dh"][key], g, **TIGHT, err_msg=key)
        if padded:
            assert np.all(g[2:, 1] == 0)
    assert layer.trace is None                  # the layer is left as it was


def test_trace_method_fused_needs_fused():
    layer = nn.GRU(3, 4, impl="composite")
    with pytest.raises(NotImplementedError, match="unroll"):
        inspect.trace_hidden_grads(layer, _x().float(), _loss, method="fused")
    assert inspect.trace_hidden_grads(layer, _x().float(), _loss)["method"] == "unroll"


@pytest.mark.parametrize("config", [
    dict(num_layers=2), dict(bidirectional=True), dict(num_layers=3, residual=True),
    dict(num_layers=2, bidirectional=True, batch_first=True), dict(proj_size=2, num_layers=2)],
    ids=str)
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
def test_unroll_is_the_layer(cls, config, padded):
    """layer.unroll (the loop the tracer observes) computes exactly what the layer computes: same
    outputs, same parameter gradients (stacks, both directions, padding, residual, projection),
    and its observer sees every step of every layer and direction, in reading order."""
    if "proj_size" in config and cls is not nn.LSTM:
        pytest.skip("proj_size is LSTM only")
    layer = cls(3, 4, **config).double()
    x = _x(T=5, B=3)
    if layer.batch_first:
        x = x.transpose(0, 1)
    lengths = [5, 2, 4] if padded else None
    out_layer = layer(x, lengths=lengths)
    _loss(out_layer).backward()
    expected = _grads(layer)
    layer.zero_grad()
    states = {}

    def observe(k, d, t, h, c):
        assert t == len(states.setdefault((k, d), []))
        assert h.shape == (3, layer.output_size) and (c is not None) == (cls is nn.LSTM)
        states[(k, d)].append(h)

    out_unroll = layer.unroll(x, lengths=lengths, on_step=observe)
    _loss(out_unroll).backward()
    np.testing.assert_allclose(out_unroll[0].numpy(), out_layer[0].numpy(), **TIGHT)
    for k, g in _grads(layer).items():
        np.testing.assert_allclose(g, expected[k], **TIGHT, err_msg=k)
    D = 2 if layer.bidirectional else 1
    assert len(states) == layer.num_layers * D
    assert all(len(hs) == 5 for hs in states.values())


def test_trace_vanishing_at_init_tanh_small_weights():
    """With a loss on the last output only, a tanh RNN with small recurrent weights passes back
    geometrically smaller gradients: dL/dh_t shrinks with the distance from the end."""
    layer = nn.RNN(3, 8).double()
    layer.weight_hh_l0.data *= 0.3
    x = _x(T=20, B=4)
    trace = inspect.trace_hidden_grads(layer, x, lambda out: out[0][-1].sum())
    dh = trace["dh_norm"]["l0"].mean(axis=1)
    assert dh[0] < 1e-3 * dh[-1]
    assert np.all(np.diff(dh) > 0)


# ----------------------------------------------------------------------------- Jacobians

def _fd_jacobians(step, xs, state, pair, eps=1e-6):
    """Central finite differences of the state map s_{t-1} -> s_t along the trajectory."""
    def flat(s):
        return np.concatenate([t.numpy().ravel() for t in (s if pair else (s,))])

    def unflat(v, sizes):
        parts = np.split(v, np.cumsum(sizes)[:-1])
        tensors = tuple(tg.tensor(p[None], dtype=np.float64) for p in parts)
        return tensors if pair else tensors[0]

    sizes = [s.shape[-1] for s in (state if pair else (state,))]
    out = []
    with tg.no_grad():
        for x_t in xs:
            s0 = flat(state)
            J = np.empty((len(s0), len(s0)))
            for j in range(len(s0)):
                e = np.zeros_like(s0)
                e[j] = eps
                plus = flat(step(x_t, unflat(s0 + e, sizes)))
                minus = flat(step(x_t, unflat(s0 - e, sizes)))
                J[:, j] = (plus - minus) / (2 * eps)
            out.append(J)
            state = step(x_t, unflat(s0, sizes))
    return np.stack(out)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_jacobians_match_finite_differences(kind):
    cls = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[kind]
    cell = cls(2, 3).double()
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(4, 2))
    h0 = rng.normal(size=3) * 0.5
    state = (h0, rng.normal(size=3) * 0.5) if kind == "lstm" else h0
    J = inspect.step_jacobians(cell, xs, state)
    n = 6 if kind == "lstm" else 3
    assert J.shape == (4, n, n)
    s0 = (tuple(tg.tensor(s[None], dtype=np.float64) for s in state) if kind == "lstm"
          else tg.tensor(h0[None], dtype=np.float64))
    fd = _fd_jacobians(cell, [tg.tensor(x[None], dtype=np.float64) for x in xs], s0, kind == "lstm")
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-8)
    norms = inspect.step_jacobian_norms(cell, xs, state)
    np.testing.assert_allclose(norms, [np.linalg.norm(j, 2) for j in fd], rtol=1e-6)
    fro = inspect.step_jacobian_norms(cell, xs, state, ord="fro")
    assert np.all(fro >= norms - 1e-12)


def test_jacobians_tanh_closed_form_and_layer():
    """For a tanh RNN J_t = diag(1 - h_t^2) W_hh; a layer gives its first layer's Jacobians."""
    layer = nn.RNN(2, 3).double()
    rng = np.random.default_rng(4)
    xs = rng.normal(size=(5, 1, 2))
    J = inspect.step_jacobians(layer, xs, np.zeros(3))
    y, _ = layer(tg.tensor(xs, dtype=np.float64))
    h = y.numpy()[:, 0]
    W = layer.weight_hh_l0.numpy()
    closed = np.stack([np.diag(1 - h[t] ** 2) @ W for t in range(5)])
    np.testing.assert_allclose(J, closed, **TIGHT)


@pytest.mark.parametrize("name,impl", _cases())
def test_jacobians_of_layer_every_impl(name, impl):
    """A one-layer layer is differentiated through its own impl, and agrees with the
    composite step of its first layer (what a 2-layer layer uses)."""
    layer = LAYERS[name](impl=impl).double()
    rng = np.random.default_rng(5)
    xs = rng.normal(size=(4, 3))
    hout = layer.proj_size or layer.hidden_size
    state = (rng.normal(size=hout), rng.normal(size=4)) if "lstm" in name else rng.normal(size=4)
    J = inspect.step_jacobians(layer, xs, state)
    deep = LAYERS[name](num_layers=2).double()
    deep.load_state_dict({**deep.state_dict(), **layer.state_dict()})
    np.testing.assert_allclose(inspect.step_jacobians(deep, xs, state), J, **TIGHT)


def test_jacobian_norm_bad_ord():
    with pytest.raises(ValueError, match="ord"):
        inspect.step_jacobian_norms(nn.RNNCell(2, 3), np.zeros((2, 2), np.float32), np.zeros(3, np.float32),
                                 ord="nuclear")


# ----------------------------------------------------------------------------- DOT graphs

def _out_degree(dot, node_key):
    return len(re.findall(rf"^\s*{node_key} -> ", dot, flags=re.M))


def _node_key(dot, label):
    m = re.search(rf'^\s*(\w+) \[label="{re.escape(label)}\\n', dot, flags=re.M)
    assert m, f"no node labelled {label!r} in\n{dot}"
    return m.group(1)


@pytest.mark.parametrize("T", [1, 3, 7])
def test_dot_of_unrolled_rnn_from_ops(T):
    """h_t = tanh(x_t W_x + h_{t-1} W_h + b): T MatMuls read W_h, which is ONE node with T
    out-edges; the graph has exactly the ops the loop made."""
    rng = np.random.default_rng(0)
    W_x = tg.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    W_h = tg.tensor(rng.normal(size=(3, 3)), requires_grad=True)
    b = tg.tensor(np.zeros(3), requires_grad=True)
    xs = tg.tensor(rng.normal(size=(T, 1, 2)))
    h = tg.zeros(1, 3)
    for t in range(T):
        h = (xs[t] @ W_x + h @ W_h + b).tanh()
    loss = h.sum()
    params = {"W_x": W_x, "W_h": W_h, "b": b}
    nodes, edges = inspect.build_graph(loss, params=params)
    ops = [n["op"] for n in nodes.values() if n["kind"] == "op"]
    assert ops.count("MatMul") == 2 * T
    assert ops.count("Tanh") == T
    assert ops.count("Add") == 2 * T
    assert ops.count("Sum") == 1
    assert [n["name"] for n in nodes.values() if n["kind"] == "param"].count("W_h") == 1
    w_h = next(k for k, n in nodes.items() if n["name"] == "W_h")
    targets = [nodes[b_]["op"] for a, b_ in edges if a == w_h]
    assert targets == ["MatMul"] * T
    dot = inspect.to_dot(loss, params=params)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert dot.count('label="W_h\\n(3, 3)"') == 1
    assert _out_degree(dot, _node_key(dot, "W_h")) == T
    assert _out_degree(dot, _node_key(dot, "b")) == T
    assert len(re.findall(r'label="MatMul\\n\(1, 3\)"', dot)) == 2 * T


def test_dot_of_layer_names_parameters():
    """In the composite nn.RNN the input projection of all steps is one op (weight_ih_l0 has
    one out-edge) and the recurrent weight feeds every step (weight_hh_l0 has T)."""
    T = 6
    layer = nn.RNN(2, 3, impl="composite")
    y, h_n = layer(tg.randn(T, 1, 2))
    dot = inspect.to_dot(y.sum(), params=dict(layer.named_parameters()))
    assert _out_degree(dot, _node_key(dot, "weight_hh_l0")) == T
    assert _out_degree(dot, _node_key(dot, "weight_ih_l0")) == 1
    assert dot.count("weight_hh_l0") == 1


def test_dot_limits_and_errors():
    W = tg.randn(3, 3, requires_grad=True)
    h = tg.randn(1, 3)
    for _ in range(50):
        h = (h @ W).tanh()
    nodes, _ = inspect.build_graph(h, max_nodes=20)
    assert len(nodes) <= 22
    assert any(n.get("truncated") for n in nodes.values())
    assert "dashed" in inspect.to_dot(h, max_nodes=20)
    named = inspect.to_dot(h, params={"W": W, "h_50": h})
    assert 'label="h_50 = Tanh\\n(1, 3)"' in named
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        inspect.to_dot(h)
    assert "leaf" in inspect.to_dot(W)


# ----------------------------------------------------------------------------- shared weight

@settings(max_examples=max(3, settings.default.max_examples * 3 // 5), deadline=None)
@given(T=st.integers(1, 8), hidden=st.integers(1, 4), inputs=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_shared_weight_is_sum_of_steps(T, hidden, inputs, seed):
    r = inspect.shared_weight_demo(T=T, input_size=inputs, hidden_size=hidden, seed=seed)
    assert r["per_step"].shape == (T, hidden, hidden)
    np.testing.assert_allclose(r["per_step"].sum(axis=0), r["autograd"], **TIGHT)
    np.testing.assert_allclose(r["per_step"], r["closed_form"], **TIGHT)
    assert r["max_abs_error"] < 1e-12


def test_shared_weight_demo_prints(capsys):
    inspect.shared_weight_demo(T=4, verbose=True)
    text = capsys.readouterr().out
    assert "step 4" in text and "W_hh.grad" in text


# ----------------------------------------------------------------------------- plotting

def test_plot_grad_norms(tmp_path):
    pytest.importorskip("matplotlib")
    layer = nn.LSTM(3, 4).double()
    trace = inspect.trace_hidden_grads(layer, _x(), lambda out: out[0][-1].sum())
    path = tmp_path / "norms.png"
    viz.plot_grad_norms(trace, path=path, distance=True, title="LSTM")
    assert path.stat().st_size > 1000
    viz.plot_grad_norms({"a": np.ones(4), "b": np.ones((4, 2))}, path=tmp_path / "b.png")
    assert (tmp_path / "b.png").exists()


# ----------------------------------------------------------------------------- one loop, one cell

@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell], ids=lambda c: c.__name__)
def test_a_cell_is_one_fused_node(cls):
    """A cell call records a single op (the fused step with its hand-written backward)."""
    cell = cls(3, 4)
    out = cell(tg.randn(2, 3))
    h = out[0] if isinstance(out, tuple) else out
    nodes, _ = inspect.build_graph(h.sum())
    assert sorted(n["op"] for n in nodes.values() if n["kind"] == "op") == sorted(["Sum", cls.__name__ + "Step"])


@pytest.mark.parametrize("impl", ["cell", "composite", "fused"])
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_step_is_one_step_of_the_layer(cls, impl):
    """layer.step on x_0 from the zero state gives the layer's first output, for every impl."""
    layer = cls(3, 4, impl=impl).double()
    x = _x(T=3, B=2)
    y = layer(x)[0]
    h = tg.zeros(2, 4, dtype=np.float64)
    h1, c1 = layer.step(x[0], h, h if cls is nn.LSTM else None)
    np.testing.assert_allclose(h1.numpy(), y[0].numpy(), **TIGHT)
    assert (c1 is None) == (cls is not nn.LSTM)


def test_unroll_of_a_cell_layer_observes_the_cell_ops():
    """impl='cell' is the same loop over the cell op: the observer sees one cell node per step."""
    layer = nn.GRU(3, 4, impl="cell").double()
    seen = []
    layer.unroll(_x(T=4), on_step=lambda k, d, t, h, c: seen.append(type(h.creator).__name__))
    assert seen == ["GRUCellStep"] * 4


def test_demo_main_prints(capsys):
    from tinygrad_rnn.inspect import demo
    demo.main()
    text = capsys.readouterr().out
    assert "W_hh.grad" in text and "Jacobian" in text


@pytest.mark.parametrize("impl", ["composite", "cell"])
def test_unbatched_bidirectional_trace_agrees_across_impls(impl):
    """An unbatched (T, I) input: both readings give (T, 1, Hout) in time order, equal to the
    fused record of the same weights."""
    x = tg.tensor(np.random.default_rng(0).normal(size=(5, 3)))
    traces = {}
    for name in ("fused", impl):
        tg.manual_seed(0)
        layer = nn.GRU(3, 4, impl=name, bidirectional=True).double()
        traces[name] = inspect.trace_hidden_grads(layer, x, lambda out: (out[0] ** 2).sum())
    assert traces["fused"]["method"] == "fused" and traces[impl]["method"] == "unroll"
    for key in ("l0", "l0_reverse"):
        assert traces[impl]["dh"][key].shape == (5, 1, 4)
        np.testing.assert_allclose(traces[impl]["dh"][key], traces["fused"]["dh"][key], **TIGHT)
