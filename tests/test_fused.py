"""The fused recurrent path against the other two: one function, three implementations.

``nn.RNN/LSTM/GRU`` compute a layer and direction as ONE autograd node (``impl="fused"``, the
hand-written BPTT of ``ops/rnn_kernels.py``), as one node per step (``"cell"``) or as primitive
ops unrolled over time (``"composite"``, autograd derives BPTT). Here, in float64:

* the three give the same outputs, final states and gradients of every parameter and input,
  for every configuration the layers accept (a Hypothesis property);
* checkpointing (``checkpoint=K``) changes memory, not numbers;
* the fused Functions pass gradcheck when applied directly to Tensors;
* the fused node keeps only what BPTT needs, and the graph has O(1) nodes per layer;
* ``layer.trace`` gives the same dL/dh_t as ``retain_grad`` on the composite path;
* float32 stays float32; on a GPU, CuPy equals NumPy and the CUDA gate kernels equal the
  generic gate math.

Sizes are mostly tiny (T <= 5, H <= 3), with a few profile-scaled examples up to H = 64 and
T = 50, so the whole file runs in well under a minute.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import backend, nn
from tinygrad_rnn.ops import cuda_kernels, rnn_fused, rnn_kernels
from tinygrad_rnn.tensor import Tensor
from tinygrad_rnn.testing import gradcheck

KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
IMPLS = ("fused", "cell", "composite")
TOL = dict(rtol=1e-10, atol=1e-10)
needs_cuda = pytest.mark.skipif(not tg.cuda_available(), reason="no CUDA device")

# the equality properties are cheap (milliseconds per example): more examples than the profile's;
# the directional check runs two extra forwards: fewer (at least 5)
many = settings(max_examples=3 * settings.default.max_examples)
few = settings(max_examples=max(5, settings.default.max_examples // 4))


# ----------------------------------------------------------------------------- configurations

@st.composite
def configs(draw, kinds=KINDS, max_layers=3, unbatched=True, max_size=3, max_T=5, min_size=1, min_T=1):
    """Everything a layer accepts: cell, sizes, layers, directions, layout, projection, bias,
    initial state, lengths (none, all full, random, or with a length-1 sequence), dropout and
    residual (multi-layer only), unbatched input. Sizes ``min_size..max_size`` (H, I; B up to
    4) and ``min_T..max_T`` steps: tiny by default, where most bugs show and examples are cheap."""
    kind = draw(st.sampled_from(kinds))
    H, L = draw(st.integers(min_size, max_size)), draw(st.integers(1, max_layers))
    cfg = dict(kind=kind, I=draw(st.integers(min_size, max_size)), H=H, L=L, T=draw(st.integers(min_T, max_T)),
               B=draw(st.integers(1, min(max_size, 4))), bidirectional=draw(st.booleans()),
               batch_first=draw(st.booleans()), bias=draw(st.booleans()),
               proj=draw(st.integers(0, H - 1)) if kind == "lstm" else 0, h0=draw(st.booleans()),
               unbatched=unbatched and draw(st.integers(0, 3)) == 0,
               dropout=draw(st.sampled_from([0.0, 0.4])) if L > 1 else 0.0,
               residual=draw(st.booleans()) if L > 1 else False, seed=draw(st.integers(0, 2**16)))
    if cfg["unbatched"]:
        cfg["B"] = 1
    T, B = cfg["T"], cfg["B"]
    mode = "none" if cfg["unbatched"] else draw(st.sampled_from(["none", "full", "random", "one"]))
    lengths = None
    if mode == "full":
        lengths = [T] * B
    elif mode in ("random", "one"):
        lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
        if mode == "one":
            lengths[draw(st.integers(0, B - 1))] = 1
    cfg["lengths"] = lengths
    return cfg


def build(cfg, impl="fused", dtype=np.float64, **overrides):
    """The module of ``cfg`` with implementation ``impl``."""
    kwargs = dict(num_layers=cfg["L"], bias=cfg["bias"], batch_first=cfg["batch_first"],
                  bidirectional=cfg["bidirectional"], dropout=cfg["dropout"],
                  residual=cfg["residual"], impl=impl)
    kind = cfg["kind"]
    if kind.startswith("rnn"):
        cls, kwargs["nonlinearity"] = nn.RNN, kind[4:]
    elif kind == "lstm":
        cls, kwargs["proj_size"] = nn.LSTM, cfg["proj"]
    else:
        cls = nn.GRU
    kwargs.update(overrides)
    return cls(cfg["I"], cfg["H"], **kwargs).to(dtype=dtype)


def modules(cfg, impls=IMPLS, dtype=np.float64, **overrides):
    """One module per impl, all holding the first one's weights (copied by state_dict)."""
    first = build(cfg, impls[0], dtype, **overrides)
    out = {impls[0]: first}
    for impl in impls[1:]:
        out[impl] = loaded(build(cfg, impl, dtype, **overrides), first)
    return out


def data(cfg, dtype=np.float64):
    """NumPy arrays: x in the module's layout, the initial states (or {}), upstream seeds
    for every output. Drawn from the configuration's seed."""
    rng = np.random.default_rng(cfg["seed"])
    T, B, I, H = cfg["T"], cfg["B"], cfg["I"], cfg["H"]
    D, Hout = 2 if cfg["bidirectional"] else 1, cfg["proj"] or H
    batch = () if cfg["unbatched"] else (B,)
    x_shape = (T, I) if cfg["unbatched"] else ((B, T, I) if cfg["batch_first"] else (T, B, I))
    arrays = {"x": rng.standard_normal(x_shape)}
    if cfg["h0"]:
        arrays["h0"] = rng.standard_normal((cfg["L"] * D,) + batch + (Hout,))
        if cfg["kind"] == "lstm":
            arrays["c0"] = rng.standard_normal((cfg["L"] * D,) + batch + (H,))
    out_shape = x_shape[:-1] + (D * Hout,)
    state_shape = (cfg["L"] * D,) + batch
    upstream = [rng.standard_normal(out_shape), rng.standard_normal(state_shape + (Hout,))]
    if cfg["kind"] == "lstm":
        upstream.append(rng.standard_normal(state_shape + (H,)))
    cast = lambda a: a.astype(dtype)
    return {k: cast(v) for k, v in arrays.items()}, [cast(u) for u in upstream]


def loaded(module, source):
    """``module`` with the weights of ``source`` (load_state_dict returns the key report, as torch's)."""
    module.load_state_dict(source.state_dict())
    return module


def run(module, cfg, arrays, upstream, device="cpu"):
    """Forward (dropout masks re-seeded so every impl draws the same), then backward of
    sum_k <output_k, upstream_k>. Returns {name: NumPy array} of the outputs ("out", "h_n",
    "c_n") and of the gradients ("grad x", "grad h0", "grad c0", "grad <parameter>")."""
    inputs = {k: Tensor(v, requires_grad=True, device=device) for k, v in arrays.items()}
    hx = inputs.get("h0")
    if cfg["kind"] == "lstm" and hx is not None:
        hx = (hx, inputs["c0"])
    module.zero_grad()
    tg.manual_seed(cfg["seed"])
    out, state = module(inputs["x"], hx, lengths=cfg["lengths"])
    outputs = [out] + (list(state) if isinstance(state, tuple) else [state])
    loss = sum((o * Tensor(u, device=device)).sum() for o, u in zip(outputs, upstream))
    loss.backward()
    result = {name: o.numpy() for name, o in zip(("out", "h_n", "c_n"), outputs)}
    for name, t in list(inputs.items()) + list(module.named_parameters()):
        result["grad " + name] = t.grad.numpy() if t.grad is not None else None
    return result


def assert_same(got, want, what, **tol):
    """Every entry of ``want`` equals ``got``'s (same keys, shapes, dtypes, values)."""
    assert set(got) == set(want), f"{what}: {sorted(got)} != {sorted(want)}"
    for key in want:
        a, b = got[key], want[key]
        assert (a is None) == (b is None), f"{what}: {key} is {a} vs {b}"
        if b is not None:
            assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {key} {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
            np.testing.assert_allclose(a, b, **(tol or TOL), err_msg=f"{what}: {key}")


# ----------------------------------------------------------------------------- fused = cell = composite

@many
@given(configs())
def test_three_impls_give_the_same_outputs_states_and_gradients(cfg):
    arrays, upstream = data(cfg)
    results = {impl: run(m, cfg, arrays, upstream) for impl, m in modules(cfg).items()}
    want = results["composite"]
    assert want["grad x"] is not None and all(v is not None for k, v in want.items()
                                              if k.startswith("grad weight_hh"))
    for impl in ("fused", "cell"):
        assert_same(results[impl], want, f"{impl} vs composite, {cfg}")


@settings(max_examples=max(2, settings.default.max_examples // 8), deadline=None)
@given(configs(max_layers=2, min_size=8, max_size=64, min_T=10, max_T=50))
def test_three_impls_agree_at_realistic_sizes(cfg):
    """The same property with sizes a real model has (H, I in 8..64, T in 10..50): fewer
    examples, as many more as the profile asks for."""
    arrays, upstream = data(cfg)
    results = {impl: run(m, cfg, arrays, upstream) for impl, m in modules(cfg).items()}
    for impl in ("fused", "cell"):
        assert_same(results[impl], results["composite"], f"{impl} vs composite, {cfg}", rtol=1e-9, atol=1e-9)


SEGMENTS = {"1": lambda T: 1, "2": lambda T: 2, "3": lambda T: 3, "T-1": lambda T: max(1, T - 1),
            "T": lambda T: T, "T+2": lambda T: T + 2}


@many
@given(configs(), st.sampled_from(sorted(SEGMENTS)))
def test_checkpointing_changes_memory_not_numbers(cfg, which):
    K = SEGMENTS[which](cfg["T"])
    arrays, upstream = data(cfg)
    plain, ckpt = modules(cfg, impls=("fused",)), modules(cfg, impls=("fused",), checkpoint=K)
    ckpt["fused"].load_state_dict(plain["fused"].state_dict())
    plain["fused"].trace, ckpt["fused"].trace = {}, {}
    want = run(plain["fused"], cfg, arrays, upstream)
    assert_same(run(ckpt["fused"], cfg, arrays, upstream), want, f"checkpoint={K}, {cfg}")
    assert set(ckpt["fused"].trace) == set(plain["fused"].trace)
    for key, entry in plain["fused"].trace.items():
        np.testing.assert_allclose(ckpt["fused"].trace[key]["dh"], entry["dh"], **TOL, err_msg=str(key))


def test_dropout_masks_follow_the_seed_in_train_mode_and_vanish_in_eval_mode():
    cfg = dict(kind="lstm", I=2, H=3, L=3, T=4, B=2, bidirectional=True, batch_first=False, bias=True,
               proj=0, h0=False, unbatched=False, dropout=0.5, residual=True, seed=1, lengths=[4, 2])
    arrays, upstream = data(cfg)
    for impl, m in modules(cfg).items():
        train = run(m, cfg, arrays, upstream)
        other_seed = run(m, dict(cfg, seed=2), arrays, upstream)
        assert not np.allclose(train["out"], other_seed["out"]), f"{impl}: dropout did not act"
        m.eval()
        evaluated = run(m, cfg, arrays, upstream)
        assert_same(run(m, dict(cfg, seed=2), arrays, upstream), evaluated, f"{impl}: eval mode used the seed")
        assert not np.allclose(train["out"], evaluated["out"])


# ----------------------------------------------------------------------------- gradcheck of the Functions

def _params(kind, I, H, P, bias, rng):
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    Hout = P or H
    t = lambda *shape: Tensor(0.7 * rng.standard_normal(shape), requires_grad=True)
    w_hr = t(P, H) if P else None
    return [t(G * H, I), t(G * H, Hout), t(G * H) if bias else None, t(G * H) if bias else None], w_hr


LAYER_CASES = [("lstm", 0, True, None, 0), ("lstm", 2, True, [3, 1], 0), ("lstm", 2, False, [2, 3], 2),
               ("gru", 0, True, None, 0), ("gru", 0, True, [1, 3], 0), ("gru", 0, False, [3, 2], 1),
               ("rnn_tanh", 0, True, [3, 1], 0), ("rnn_tanh", 0, False, None, 2),
               ("rnn_relu", 0, True, [2, 3], 0)]


@pytest.mark.parametrize("kind, P, bias, lengths, checkpoint", LAYER_CASES)
def test_gradcheck_layer_functions(kind, P, bias, lengths, checkpoint):
    T, B, I, H = 3, 2, 2, 3
    rng = np.random.default_rng(len(kind) + P)
    weights, w_hr = _params(kind, I, H, P, bias, rng)
    x = Tensor(rng.standard_normal((T, B, I)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((B, P or H)), requires_grad=True)
    c0 = Tensor(rng.standard_normal((B, H)), requires_grad=True)
    opts = dict(lengths=None if lengths is None else np.array(lengths), checkpoint=checkpoint)
    if kind == "lstm":
        fn = lambda *a: rnn_fused.LSTMLayer.apply(*a, **opts)
        inputs = (x, h0, c0, *weights, w_hr)
    elif kind == "gru":
        fn = lambda *a: rnn_fused.GRULayer.apply(*a, **opts)
        inputs = (x, h0, *weights)
    else:
        fn = lambda *a: rnn_fused.RNNLayer.apply(*a, nonlinearity=kind[4:], **opts)
        inputs = (x, h0, *weights)
    gradcheck(fn, *inputs)


@pytest.mark.parametrize("kind, P, bias", [("lstm", 0, True), ("lstm", 2, True), ("lstm", 1, False),
                                           ("gru", 0, True), ("gru", 0, False),
                                           ("rnn_tanh", 0, True), ("rnn_relu", 0, False)])
def test_gradcheck_cell_step_functions(kind, P, bias):
    B, I, H = 2, 3, 3
    rng = np.random.default_rng(7 + P)
    weights, w_hr = _params(kind, I, H, P, bias, rng)
    x = Tensor(rng.standard_normal((B, I)), requires_grad=True)
    h = Tensor(rng.standard_normal((B, P or H)), requires_grad=True)
    if kind == "lstm":
        c = Tensor(rng.standard_normal((B, H)), requires_grad=True)
        gradcheck(rnn_fused.LSTMCellStep.apply, x, h, c, *weights, w_hr)
    elif kind == "gru":
        gradcheck(rnn_fused.GRUCellStep.apply, x, h, *weights)
    else:
        gradcheck(lambda *a: rnn_fused.RNNCellStep.apply(*a, nonlinearity=kind[4:]), x, h, *weights)


@few
@given(configs(max_layers=2), st.integers(0, 2**16))
def test_directional_derivative_of_bigger_fused_layers(cfg, seed):
    """One random direction v over every parameter and input: the central difference of the
    loss along v equals <v, gradient> (cheap enough for H = 8, T = 7)."""
    T = 7
    lengths = None if cfg["lengths"] is None else \
        list(np.random.default_rng(seed).integers(1, T + 1, cfg["B"]))
    cfg = dict(cfg, H=8, I=5, T=T, proj=3 if cfg["kind"] == "lstm" else 0, dropout=0.0, h0=True,
               lengths=lengths)
    arrays, upstream = data(cfg)
    module = build(cfg)
    grads = run(module, cfg, arrays, upstream)
    rng = np.random.default_rng(seed)
    params = dict(module.named_parameters())
    v = {k: rng.standard_normal(a.shape) for k, a in arrays.items()}
    v.update({k: rng.standard_normal(p.shape) for k, p in params.items()})
    analytic = sum(float((v[k] * grads["grad " + k]).sum()) for k in v)

    def loss(eps):
        moved = {k: a + eps * v[k] for k, a in arrays.items()}
        saved = {k: p.data.copy() for k, p in params.items()}
        for k, p in params.items():
            p.data = p.data + eps * v[k]
        with tg.no_grad():
            out = run_no_grad(module, cfg, moved)
        for k, p in params.items():
            p.data = saved[k]
        return sum(float((o * u).sum()) for o, u in zip(out, upstream))

    eps = 1e-6
    numeric = (loss(eps) - loss(-eps)) / (2 * eps)
    assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (numeric, analytic)


def run_no_grad(module, cfg, arrays):
    hx = Tensor(arrays["h0"]) if "h0" in arrays else None
    if cfg["kind"] == "lstm" and hx is not None:
        hx = (hx, Tensor(arrays["c0"]))
    out, state = module(Tensor(arrays["x"]), hx, lengths=cfg["lengths"])
    return [o.numpy() for o in [out] + (list(state) if isinstance(state, tuple) else [state])]


# ----------------------------------------------------------------------------- memory and graph size

def _lstm_layer(T, B, I, H, P=0, checkpoint=0, lengths=None):
    rng = np.random.default_rng(0)
    weights, w_hr = _params("lstm", I, H, P, True, rng)
    x = Tensor(rng.standard_normal((T, B, I)), requires_grad=True)
    h0, c0 = Tensor(np.zeros((B, P or H))), Tensor(np.zeros((B, H)))
    y, h_n, c_n = rnn_fused.LSTMLayer.apply(x, h0, c0, *weights, w_hr, lengths=lengths, checkpoint=checkpoint)
    return x, y, h_n, c_n


def saved_arrays(node):
    """{name: array} of every array the node holds: in what it saved for backward (the kernel cache) and in its own attributes."""
    found = {k: v for k, v in node.saved[0].items() if hasattr(v, "shape")}
    found.update({k: v for k, v in vars(node).items() if hasattr(v, "shape")})
    return found


@pytest.mark.parametrize("P", [0, 2])
@pytest.mark.parametrize("lengths", [None, [6, 1, 4]])
def test_fused_lstm_node_keeps_only_what_bptt_needs(P, lengths):
    T, B, I, H = 6, 3, 5, 4
    Hout = P or H
    x, y, h_n, c_n = _lstm_layer(T, B, I, H, P, lengths=None if lengths is None else np.array(lengths))
    node = y.creator
    assert h_n.creator is node and c_n.creator is node             # one node for the whole layer
    saved = saved_arrays(node)
    shapes = {k: v.shape for k, v in saved.items() if k != "valid"}
    assert shapes == {"x": (T, B, I), "gates": (T, B, 4 * H), "c": (T + 1, B, H), "h": (T + 1, B, Hout)}
    assert saved["x"] is x._data                                    # a reference, not a copy
    assert (lengths is None) == (node.saved[0]["valid"] is None)
    if lengths is not None:
        assert node.saved[0]["valid"].shape == (T, B, 1) and node.saved[0]["valid"].dtype == np.bool_
    # weights are referenced, never copied
    for name, value in node.saved[0]["params"].items():
        if value is not None:
            assert any(value is p._data for p in node.parents if isinstance(p, Tensor)), name


@pytest.mark.parametrize("T, K", [(7, 1), (7, 2), (7, 3), (7, 7), (7, 10), (8, 4)])
def test_checkpointed_lstm_node_keeps_one_state_per_segment(T, K):
    B, I, H, P = 2, 3, 4, 2
    x, y, h_n, c_n = _lstm_layer(T, B, I, H, P, checkpoint=K)
    saved = saved_arrays(y.creator)
    S = math.ceil(T / K)
    shapes = {k: v.shape for k, v in saved.items()}
    assert shapes == {"x": (T, B, I), "h_checkpoints": (S, B, P), "c_checkpoints": (S, B, H)}
    assert "gates" not in y.creator.saved[0] and "c" not in y.creator.saved[0] and "h" not in y.creator.saved[0]


@pytest.mark.parametrize("kind", ["gru", "rnn_tanh"])
@pytest.mark.parametrize("checkpoint", [0, 2])
def test_fused_gru_and_rnn_nodes_keep_only_what_bptt_needs(kind, checkpoint):
    T, B, I, H = 5, 2, 3, 4
    rng = np.random.default_rng(0)
    weights, _ = _params(kind, I, H, 0, True, rng)
    x, h0 = Tensor(rng.standard_normal((T, B, I)), requires_grad=True), Tensor(np.zeros((B, H)))
    if kind == "gru":
        y, _ = rnn_fused.GRULayer.apply(x, h0, *weights, checkpoint=checkpoint)
        per_step = {"gates": (T, B, 4 * H), "h": (T + 1, B, H)}
    else:
        y, _ = rnn_fused.RNNLayer.apply(x, h0, *weights, checkpoint=checkpoint)
        per_step = {"h": (T + 1, B, H)}
    shapes = {k: v.shape for k, v in saved_arrays(y.creator).items()}
    want = per_step if not checkpoint else {"h_checkpoints": (math.ceil(T / checkpoint), B, H)}
    assert shapes == dict(x=(T, B, I), **want)


def graph_size(tensor):
    """Number of distinct Function nodes reachable from ``tensor`` through the parents."""
    seen, stack = set(), [tensor.creator]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(p.creator for p in node.parents if isinstance(p, Tensor))
    return len(seen)


def _loss_graph_size(impl, kind, T, L):
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
    m = cls(3, 4, num_layers=L, impl=impl).double()
    out, state = m(tg.randn(T, 2, 3).double())
    h_n = state[0] if isinstance(state, tuple) else state
    return graph_size((out.sum() + h_n.sum()))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_fused_graph_has_constant_nodes_per_layer_and_composite_grows_with_T(kind):
    fused = {(T, L): _loss_graph_size("fused", kind, T, L) for T in (4, 16, 64) for L in (1, 2, 3)}
    for L in (1, 2, 3):
        assert fused[(4, L)] == fused[(16, L)] == fused[(64, L)], fused       # independent of T
    per_layer = fused[(16, 2)] - fused[(16, 1)]
    assert per_layer == fused[(16, 3)] - fused[(16, 2)] and per_layer <= 6, fused   # O(1) per layer
    assert fused[(64, 1)] <= 12, fused
    comp = {T: _loss_graph_size("composite", kind, T, 1) for T in (4, 16, 64)}
    assert comp[64] - comp[16] == 4 * (comp[16] - comp[4]) > 0, comp           # linear in T
    assert comp[64] >= 64 * 3, comp
    cell = {T: _loss_graph_size("cell", kind, T, 1) for T in (4, 16)}
    assert (cell[16] - cell[4]) >= 12 and cell[16] < comp[16], (cell, comp)   # one node per step


# ----------------------------------------------------------------------------- trace

def _record_composite_steps(module):
    """Wrap the composite module's step so that every h_t it makes is retained and recorded,
    per direction in the order the direction reads the sequence."""
    steps, original = [], module._step

    def step(*args):
        h, c = original(*args)
        h.retain_grad()
        steps.append(h)
        return h, c
    module._step = step
    return steps


@given(st.sampled_from(["lstm", "gru", "rnn_tanh"]), st.booleans(), st.integers(1, 5),
       st.integers(1, 3), st.integers(0, 2), st.integers(0, 2**16))
def test_trace_dh_equals_retain_grad_of_the_composite_states(kind, bidirectional, T, B, P, seed):
    H = 3
    cfg = dict(kind=kind, I=2, H=H, L=1, T=T, B=B, bidirectional=bidirectional, batch_first=False,
               bias=True, proj=P if kind == "lstm" else 0, h0=True, unbatched=False, dropout=0.0,
               residual=False, seed=seed, lengths=None)
    arrays, upstream = data(cfg)
    ms = modules(cfg, impls=("fused", "composite"))
    ms["fused"].trace = {}
    steps = _record_composite_steps(ms["composite"])
    fused = run(ms["fused"], cfg, arrays, upstream)
    comp = run(ms["composite"], cfg, arrays, upstream)
    Hout = cfg["proj"] or H
    D = 2 if bidirectional else 1
    assert len(steps) == D * T and set(ms["fused"].trace) == {(0, d) for d in range(D)}
    for d in range(D):
        dh = ms["fused"].trace[(0, d)]["dh"]
        assert dh.shape == (T, B, Hout)
        read = steps[d * T:(d + 1) * T]               # direction d's states in its reading order
        for k, h in enumerate(read):
            # the k-th state read is the output at time k (forward) or T-1-k (reverse)
            t = k if d == 0 else T - 1 - k
            np.testing.assert_allclose(h.numpy(), comp["out"][t, :, d * Hout:(d + 1) * Hout], **TOL)
            np.testing.assert_allclose(dh[k], h.grad.numpy(), **TOL, err_msg=f"direction {d}, step {k}")
    assert_same(fused, comp, "fused vs composite")


def test_trace_is_off_by_default_and_filled_per_layer_and_direction():
    m = nn.GRU(2, 3, num_layers=2, bidirectional=True).double()
    out, h = m(tg.randn(4, 2, 2).double())
    out.sum().backward()
    assert m.trace is None
    m.trace = {}
    out, h = m(tg.randn(4, 2, 2).double())
    (out.sum() + h.sum()).backward()
    assert sorted(m.trace) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(entry["dh"].shape == (4, 2, 3) for entry in m.trace.values())


# ----------------------------------------------------------------------------- float32

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl, checkpoint", [("fused", 0), ("fused", 2), ("cell", 0), ("composite", 0)])
def test_float32_in_float32_out(kind, impl, checkpoint):
    cfg = dict(kind=kind, I=3, H=4, L=2, T=5, B=3, bidirectional=True, batch_first=True, bias=True,
               proj=2 if kind == "lstm" else 0, h0=True, unbatched=False, dropout=0.3,
               residual=True, seed=3, lengths=[5, 1, 3])
    arrays32, upstream32 = data(cfg, np.float32)
    m32 = build(cfg, impl, np.float32, checkpoint=checkpoint)
    got = run(m32, cfg, arrays32, upstream32)
    for key, value in got.items():
        assert value is not None and value.dtype == np.float32, f"{key} is {None if value is None else value.dtype}"
    # float64 with the same weights agrees to float32 precision (in eval mode: the dropout
    # masks drawn for float32 and float64 differ)
    m64 = loaded(build(cfg, impl, np.float64, checkpoint=checkpoint), m32)
    got = run(m32.eval(), cfg, arrays32, upstream32)
    want = run(m64.eval(), cfg, {k: v.astype(np.float64) for k, v in arrays32.items()},
               [u.astype(np.float64) for u in upstream32])
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)


# ----------------------------------------------------------------------------- CuPy

DEVICE_CASES = [dict(kind="lstm", proj=2), dict(kind="lstm", proj=0), dict(kind="gru", proj=0),
                dict(kind="rnn_tanh", proj=0), dict(kind="rnn_relu", proj=0)]


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])   # CPU vs CPU proves nothing
@pytest.mark.parametrize("case", DEVICE_CASES, ids=lambda c: f"{c['kind']}-P{c['proj']}")
@pytest.mark.parametrize("gate_kernels", ["generic", "registered"])
@pytest.mark.parametrize("checkpoint", [0, 2])
def test_fused_layers_on_device_equal_cpu(device, case, gate_kernels, checkpoint, monkeypatch):
    """The fused path on the GPU equals it on the CPU in float64, with the generic xp gate
    math and with the CUDA gate kernels registered in rnn_kernels.GATE_KERNELS."""
    if gate_kernels == "registered":
        monkeypatch.setattr(rnn_kernels, "GATE_KERNELS", dict(cuda_kernels.build(backend.cupy())))
    else:   # a placeholder CUDA entry stops gate_kernel() from compiling the fused kernels on first use
        monkeypatch.setattr(rnn_kernels, "GATE_KERNELS", {("placeholder", "cuda"): None})
    cfg = dict(case, I=3, H=4, L=2, T=6, B=3, bidirectional=True, batch_first=True, bias=True, h0=True,
               unbatched=False, dropout=0.0, residual=True, seed=11, lengths=[6, 1, 4])
    arrays, upstream = data(cfg)
    cpu = build(cfg, "fused", checkpoint=checkpoint)
    on_device = loaded(build(cfg, "fused", checkpoint=checkpoint), cpu).to(device)
    cpu.trace, on_device.trace = {}, {}
    want = run(cpu, cfg, arrays, upstream)
    got = run(on_device, cfg, arrays, upstream, device=device)
    assert_same(got, want, f"{device} vs cpu", rtol=1e-10, atol=1e-12)
    assert set(on_device.trace) == set(cpu.trace)
    for key, entry in cpu.trace.items():
        np.testing.assert_allclose(backend.to_numpy(on_device.trace[key]["dh"]), entry["dh"], rtol=1e-10,
                                   atol=1e-12, err_msg=f"trace {key}")


@needs_cuda
def test_cuda_gate_kernels_are_compiled_on_first_use(monkeypatch):
    monkeypatch.setattr(rnn_kernels, "GATE_KERNELS", {})
    m = nn.LSTM(3, 4).double().to("cuda")
    out, _ = m(tg.Tensor(np.ones((5, 2, 3)), device="cuda"))
    assert {k for k in rnn_kernels.GATE_KERNELS if k[1] == "cuda"} == set(cuda_kernels.build(backend.cupy()))
    assert rnn_kernels.gate_kernel("lstm_gates_forward", backend.cupy()) is \
        rnn_kernels.GATE_KERNELS[("lstm_gates_forward", "cuda")]


def _gate_arguments(xp, name, B, H, dtype, rng):
    """Random arguments of the gate function ``name``: (inputs, names of the arrays it writes)."""
    r = lambda *shape: xp.asarray(rng.standard_normal(shape).astype(dtype))
    unit = lambda *shape: xp.asarray(rng.uniform(0.05, 0.95, shape).astype(dtype))   # activated gates
    if name == "lstm_gates_forward":
        return dict(gates=r(B, 4 * H), recurrent=r(B, 4 * H), c_prev=r(B, H), c=r(B, H), m=r(B, H)), ("gates", "c", "m")
    if name == "lstm_gates_backward":   # dgates holds the factors of lstm_backward_factors on entry
        return dict(gates=unit(B, 4 * H), a=r(B, H), dm=r(B, H), dy=r(B, H), dc=r(B, H), dgates=r(B, 4 * H),
                    dc_prev=r(B, H)), ("dm", "dgates", "dc_prev")
    if name == "gru_gates_forward":
        return dict(x_part=r(B, 3 * H), h_part=r(B, 3 * H), b_hn=r(H), h_prev=r(B, H), gates=r(B, 4 * H),
                    h=r(B, H)), ("gates", "h")
    return dict(gates=unit(B, 4 * H), dh=r(B, H), recurrent=r(B, H), dy=r(B, H), dgates=r(B, 4 * H),
                dh_prev=r(B, H)), ("dh", "dgates", "dh_prev")


def compare_gate_kernels(xp, kernels, dtype, seed=0):
    """Each kernel in ``kernels`` ({(name, device): fn}) writes what the generic xp function of
    that name writes, for the same random arguments."""
    rng = np.random.default_rng(seed)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    for (name, _), kernel in kernels.items():
        for B, H in [(1, 1), (3, 5), (16, 33)]:
            args, written = _gate_arguments(xp, name, B, H, dtype, rng)
            mine = {k: v.copy() for k, v in args.items()}
            generic = {k: v.copy() for k, v in args.items()}
            kernel(xp, *mine.values())            # positional, as rnn_kernels calls them
            rnn_kernels._GENERIC_GATES[name](xp, *generic.values())
            for k in args:
                a, b = backend.to_numpy(mine[k]), backend.to_numpy(generic[k])
                if k in written:
                    assert a.dtype == dtype, f"{name}: {k} is {a.dtype}"
                    np.testing.assert_allclose(a, b, **tol, err_msg=f"{name} {k} B={B} H={H}")
                else:   # inputs are read, never written
                    np.testing.assert_array_equal(a, backend.to_numpy(args[k]), err_msg=f"{name} wrote {k}")


@needs_cuda
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_gate_kernels_equal_the_generic_gate_math(dtype):
    cupy = backend.cupy()
    kernels = cuda_kernels.build(cupy)
    assert {name for name, _ in kernels} <= set(rnn_kernels._GENERIC_GATES)
    assert all(device == "cuda" for _, device in kernels)
    compare_gate_kernels(cupy, kernels, dtype)


def _off_by_a_little(fn, written_index):
    """``fn`` with one of the arrays it writes nudged afterwards: a kernel with a small bug."""
    def kernel(xp, *args):
        fn(xp, *args)
        args[written_index][..., -1] += 1e-3
    return kernel


def _writes_an_input(fn, input_index):
    def kernel(xp, *args):
        fn(xp, *args)
        args[input_index][...] = 0
    return kernel


def test_gate_kernel_comparison_helper_catches_wrong_kernels():
    """The helper, on NumPy: the generic functions pass against themselves, and a kernel that
    is slightly off in any array it writes, or that writes one of its inputs, is caught (so the
    CUDA comparison above can fail)."""
    generic = {(name, "cpu"): fn for name, fn in rnn_kernels._GENERIC_GATES.items()
               if name.startswith(("lstm", "gru"))}
    compare_gate_kernels(np, generic, np.float64)
    compare_gate_kernels(np, generic, np.float32)
    for (name, device), fn in generic.items():
        args, written = _gate_arguments(np, name, 2, 3, np.float64, np.random.default_rng(0))
        names = list(args)
        for k in written:
            with pytest.raises(AssertionError, match=f"{name} {k}"):
                compare_gate_kernels(np, {(name, device): _off_by_a_little(fn, names.index(k))}, np.float64)
        read_only = [k for k in names if k not in written]
        with pytest.raises(AssertionError, match=f"{name} wrote {read_only[0]}"):
            compare_gate_kernels(np, {(name, device): _writes_an_input(fn, names.index(read_only[0]))},
                                 np.float64)
