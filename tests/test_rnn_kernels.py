"""Tests for the raw recurrent kernels (tinygrad_rnn/ops/rnn_kernels.py).

The ground truth is ``reference``: the plainest NumPy loop, one sequence at a time and one step
at a time, stopping at each sequence's length. The kernels must match its outputs, and their
gradients must match central finite differences of it (so padding, batching and BPTT are all
checked against the same obviously-correct code). PyTorch, when installed, is a second oracle.
"""
import ctypes
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn.ops import cuda_kernels as CUDA
from tinygrad_rnn.ops import rnn_gates, rnn_kernels as K

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
FAST = settings(deadline=None)      # the profile sets the number of examples (and CI draws new ones)


# ----------------------------------------------------------------------------- the reference

def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _reference_step(cell, p, x_t, h, c, nonlinearity):
    """One step for ONE sequence (1-D vectors), straight from the textbook equations."""
    G = GATES[cell]
    b_ih = p["b_ih"] if p["b_ih"] is not None else np.zeros(p["w_ih"].shape[0])
    b_hh = p["b_hh"] if p["b_hh"] is not None else np.zeros(p["w_ih"].shape[0])
    xi, hh = p["w_ih"] @ x_t + b_ih, p["w_hh"] @ h + b_hh
    if cell == "lstm":
        i, f, g, o = np.split(xi + hh, G)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        if p["w_hr"] is not None:
            h = p["w_hr"] @ h
        return h, c
    if cell == "gru":
        xr, xz, xn = np.split(xi, G)
        hr, hz, hn = np.split(hh, G)
        r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
        n = np.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None
    pre = xi + hh
    return (np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)), None


def reference(cell, inputs, lengths=None, nonlinearity="tanh"):
    """y (zero at padding), h_n, c_n by running every sequence alone for exactly its length."""
    x, h0, c0 = inputs["x"], inputs["h0"], inputs.get("c0")
    T, B = x.shape[:2]
    y = np.zeros((T, B, h0.shape[1]))
    h_n, c_n = np.empty_like(h0), None if c0 is None else np.empty_like(c0)
    for b in range(B):
        h, c = h0[b], None if c0 is None else c0[b]
        for t in range(T if lengths is None else lengths[b]):
            h, c = _reference_step(cell, inputs, x[t, b], h, c, nonlinearity)
            y[t, b] = h
        h_n[b] = h
        if c0 is not None:
            c_n[b] = c
    return y, h_n, c_n


# ----------------------------------------------------------------------------- calling the kernels

def make_inputs(cell, T, B, I, H, P=0, bias=True, seed=0, dtype=np.float64):
    """Random inputs and parameters in PyTorch layout, keyed by name."""
    rng = np.random.default_rng(seed)
    G, Hout = GATES[cell], (P or H)
    shapes = {"x": (T, B, I), "h0": (B, Hout), "w_ih": (G * H, I), "w_hh": (G * H, Hout)}
    if cell == "lstm":
        shapes["c0"] = (B, H)
        if P:
            shapes["w_hr"] = (P, H)
    if bias:
        shapes["b_ih"] = shapes["b_hh"] = (G * H,)
    inputs = {name: (0.6 * rng.standard_normal(shape)).astype(dtype)
              for name, shape in shapes.items()}
    inputs.setdefault("b_ih", None)
    inputs.setdefault("b_hh", None)
    if cell == "lstm":
        inputs.setdefault("w_hr", None)
    return inputs


def forward(cell, p, lengths=None, nonlinearity="tanh", checkpoint=0):
    """(y, h_n, c_n or None, cache) from the layer kernel."""
    if cell == "lstm":
        return K.lstm_forward(p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                              p["w_hr"], lengths=lengths, checkpoint=checkpoint)
    if cell == "gru":
        y, h_n, cache = K.gru_forward(p["x"], p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                      lengths=lengths, checkpoint=checkpoint)
    else:
        y, h_n, cache = K.rnn_forward(p["x"], p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                      nonlinearity, lengths=lengths, checkpoint=checkpoint)
    return y, h_n, None, cache


def backward(cell, cache, dy, dh, dc, trace=None):
    """The kernel's gradients, keyed like the inputs (absent parameters left out)."""
    if cell == "lstm":
        names = ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr"]
        grads = K.lstm_backward(cache, dy, dh, dc, trace=trace)
    else:
        names = ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"]
        grads = (K.gru_backward if cell == "gru" else K.rnn_backward)(cache, dy, dh, trace=trace)
    assert len(grads) == len(names)
    return {name: g for name, g in zip(names, grads) if g is not None}


def cotangents(cell, p, T, B, seed=1):
    """Random dy, dh_n, dc_n: the loss is sum(dy*y) + sum(dh*h_n) + sum(dc*c_n)."""
    rng = np.random.default_rng(seed)
    Hout = p["h0"].shape[1]
    dc = rng.standard_normal(p["c0"].shape) if cell == "lstm" else None
    return rng.standard_normal((T, B, Hout)), rng.standard_normal((B, Hout)), dc


def loss(outputs, cot):
    return sum(float(np.sum(o * d)) for o, d in zip(outputs, cot) if d is not None)


@st.composite
def configs(draw, cells=("lstm", "gru", "rnn")):
    """Small random layer configurations: T 1..5, B 1..3, I 1..4, H 1..4, P 0..H-1, ..."""
    cell = draw(st.sampled_from(cells))
    T, B, I, H = (draw(st.integers(1, n)) for n in (5, 3, 4, 4))
    P = draw(st.integers(0, H - 1)) if cell == "lstm" else 0
    lengths = None
    if draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
        if draw(st.booleans()):
            lengths[draw(st.integers(0, B - 1))] = T
        lengths = np.array(lengths)
    return dict(cell=cell, T=T, B=B, I=I, H=H, P=P, bias=draw(st.booleans()), lengths=lengths,
                nonlinearity=draw(st.sampled_from(["tanh", "relu"])) if cell == "rnn" else "tanh",
                seed=draw(st.integers(0, 2**31)))


def setup(cfg):
    p = make_inputs(*(cfg[k] for k in ("cell", "T", "B", "I", "H", "P", "bias", "seed")))
    return p, cotangents(cfg["cell"], p, cfg["T"], cfg["B"], cfg["seed"] + 1)


def kernel_grads(cfg, p, cot, checkpoint=0, trace=None):
    *_, cache = forward(cfg["cell"], p, cfg["lengths"], cfg["nonlinearity"], checkpoint)
    return backward(cfg["cell"], cache, *cot, trace=trace)


def reference_loss(cfg, p, cot):
    return loss(reference(cfg["cell"], p, cfg["lengths"], cfg["nonlinearity"]), cot)


# ----------------------------------------------------------------------------- forward

@FAST
@given(configs())
def test_forward_matches_one_sequence_at_a_time_reference(cfg):
    p, _ = setup(cfg)
    y, h_n, c_n, _ = forward(cfg["cell"], p, cfg["lengths"], cfg["nonlinearity"])
    ry, rh, rc = reference(cfg["cell"], p, cfg["lengths"], cfg["nonlinearity"])
    np.testing.assert_allclose(y, ry, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n, rh, rtol=1e-12, atol=1e-12)
    if c_n is not None:
        np.testing.assert_allclose(c_n, rc, rtol=1e-12, atol=1e-12)
    if cfg["lengths"] is not None:
        padded = np.arange(cfg["T"])[:, None] >= cfg["lengths"][None, :]
        assert np.all(y[padded] == 0)


def test_bad_arguments_are_rejected():
    p = make_inputs("gru", 3, 2, 2, 2)
    for lengths in ([0, 3], [1, 4], [1, 2, 3]):
        with pytest.raises(ValueError):
            forward("gru", p, np.array(lengths))
    with pytest.raises(ValueError):
        forward("rnn", make_inputs("rnn", 3, 2, 2, 2), nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        forward("gru", p, checkpoint=-1)


# ----------------------------------------------------------------------------- gradients

@FAST
@given(configs())
def test_gradients_match_finite_differences_of_the_reference(cfg):
    """Directional derivative along a random v, separately for every input and parameter."""
    p, cot = setup(cfg)
    grads = kernel_grads(cfg, p, cot)
    rng, eps = np.random.default_rng(cfg["seed"] + 2), 1e-5
    assert set(grads) == {name for name, value in p.items() if value is not None}
    for name, g in grads.items():
        v = rng.standard_normal(g.shape)
        plus, minus = dict(p), dict(p)
        plus[name], minus[name] = p[name] + eps * v, p[name] - eps * v
        numeric = (reference_loss(cfg, plus, cot) - reference_loss(cfg, minus, cot)) / (2 * eps)
        analytic = float(np.sum(g * v))
        assert abs(numeric - analytic) <= 1e-6 * (1 + abs(analytic)), (name, numeric, analytic)
    if cfg["lengths"] is not None:                       # padding gets exactly zero gradient
        padded = np.arange(cfg["T"])[:, None] >= cfg["lengths"][None, :]
        assert np.all(grads["x"][padded] == 0)


@pytest.mark.parametrize("cell,P,lengths,nonlinearity", [
    ("lstm", 0, None, "tanh"), ("lstm", 1, [3, 1], "tanh"), ("gru", 0, [2, 3], "tanh"),
    ("rnn", 0, [1, 3], "tanh"), ("rnn", 0, None, "relu")])
def test_gradients_elementwise_on_tiny_cases(cell, P, lengths, nonlinearity):
    cfg = dict(cell=cell, T=3, B=2, I=2, H=2, P=P, bias=True, seed=7, nonlinearity=nonlinearity,
               lengths=None if lengths is None else np.array(lengths))
    p, cot = setup(cfg)
    grads, eps = kernel_grads(cfg, p, cot), 1e-6
    for name, g in grads.items():
        numeric = np.empty_like(g)
        for index in np.ndindex(g.shape):
            plus, minus = dict(p), dict(p)
            plus[name], minus[name] = p[name].copy(), p[name].copy()
            plus[name][index] += eps
            minus[name][index] -= eps
            difference = reference_loss(cfg, plus, cot) - reference_loss(cfg, minus, cot)
            numeric[index] = difference / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


@FAST
@given(configs())
def test_batch_equals_sequences_run_one_by_one(cfg):
    """Each sequence alone (cut to its length) gives its slice of y/dx/dh0 and adds up the
    weight gradients of the batch."""
    p, (dy, dh, dc) = setup(cfg)
    cell, lengths = cfg["cell"], cfg["lengths"]
    grads = kernel_grads(cfg, p, (dy, dh, dc))
    y, *_ = forward(cell, p, lengths, cfg["nonlinearity"])
    summed = {}
    for b in range(cfg["B"]):
        n = cfg["T"] if lengths is None else lengths[b]
        one = dict(p, x=p["x"][:n, b:b + 1], h0=p["h0"][b:b + 1])
        if cell == "lstm":
            one["c0"] = p["c0"][b:b + 1]
        y_b, *_, cache = forward(cell, one, None, cfg["nonlinearity"])
        np.testing.assert_allclose(y_b[:, 0], y[:n, b], rtol=1e-12, atol=1e-12)
        g = backward(cell, cache, dy[:n, b:b + 1], dh[b:b + 1], None if dc is None else dc[b:b + 1])
        np.testing.assert_allclose(g["x"][:, 0], grads["x"][:n, b], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g["h0"][0], grads["h0"][b], rtol=1e-10, atol=1e-12)
        for name in g:
            if name not in ("x", "h0", "c0"):
                summed[name] = summed.get(name, 0) + g[name]
    for name, total in summed.items():
        np.testing.assert_allclose(grads[name], total, rtol=1e-10, atol=1e-12, err_msg=name)


@FAST
@given(configs(), st.integers(1, 6))
def test_checkpointing_gives_the_same_outputs_and_gradients(cfg, K_steps):
    p, cot = setup(cfg)
    plain_out = forward(cfg["cell"], p, cfg["lengths"], cfg["nonlinearity"])
    ckpt_out = forward(cfg["cell"], p, cfg["lengths"], cfg["nonlinearity"], checkpoint=K_steps)
    for a, b in zip(plain_out[:3], ckpt_out[:3]):
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    assert "gates" not in ckpt_out[3] and "h" not in ckpt_out[3]
    assert ckpt_out[3]["h_checkpoints"].shape[0] == -(-cfg["T"] // K_steps)
    plain, trace_plain, trace_ckpt = kernel_grads(cfg, p, cot), {}, {}
    kernel_grads(cfg, p, cot, trace=trace_plain)
    ckpt = kernel_grads(cfg, p, cot, checkpoint=K_steps, trace=trace_ckpt)
    for name in plain:
        np.testing.assert_allclose(ckpt[name], plain[name], rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(trace_ckpt["dh"], trace_plain["dh"], rtol=1e-12, atol=1e-12)


def test_cache_holds_only_what_bptt_needs():
    T, B, I, H, P = 4, 3, 2, 5, 2
    shapes = {
        "lstm": {"gates": (T, B, 4 * H), "c": (T + 1, B, H), "h": (T + 1, B, P)},
        "gru": {"gates": (T, B, 4 * H), "h": (T + 1, B, H)},
        "rnn": {"h": (T + 1, B, H)},
    }
    for cell, expected in shapes.items():
        p = make_inputs(cell, T, B, I, H, P if cell == "lstm" else 0)
        cache = forward(cell, p)[3]
        arrays = {k: v.shape for k, v in cache.items() if isinstance(v, np.ndarray) and k != "x"}
        assert arrays == expected, cell
        assert cache["x"] is p["x"] and cache["params"]["w_hh"] is p["w_hh"]


# ----------------------------------------------------------------------------- cells and trace

@pytest.mark.parametrize("cell,P", [("lstm", 0), ("lstm", 2), ("gru", 0), ("rnn", 0)])
def test_cells_chained_equal_the_layer_and_its_trace(cell, P):
    """Cells stepped by hand, back-propagated by hand, equal the layer kernel; the dh fed to each
    cell's backward is exactly what the layer's trace records."""
    T, B = 4, 3
    p = make_inputs(cell, T, B, 3, 3, P)
    dy, dh_n, dc_n = cotangents(cell, p, T, B)
    weights = [p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"]] + ([p["w_hr"]] if cell == "lstm" else [])
    h, c, caches, ys = p["h0"], p.get("c0"), [], []
    for t in range(T):
        if cell == "lstm":
            h, c, cache = K.lstm_cell_forward(p["x"][t], h, c, *weights)
        else:
            cell_forward = K.gru_cell_forward if cell == "gru" else K.rnn_cell_forward
            h, cache = cell_forward(p["x"][t], h, *weights)
        caches.append(cache)
        ys.append(h)
    y, h_layer, c_layer, layer_cache = forward(cell, p)
    np.testing.assert_allclose(np.stack(ys), y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, h_layer, rtol=1e-12, atol=1e-12)

    dh, dc, dxs, dweights, fed = dh_n, dc_n, [], None, []
    for t in reversed(range(T)):
        dh = dh + dy[t]
        fed.append(dh)
        if cell == "lstm":
            dx, dh, dc, *dw = K.lstm_cell_backward(caches[t], dh, dc)
        else:
            cell_backward = K.gru_cell_backward if cell == "gru" else K.rnn_cell_backward
            dx, dh, *dw = cell_backward(caches[t], dh)
        dxs.append(dx)
        if dweights is not None:
            dw = [a if a is None else a + b for a, b in zip(dw, dweights)]
        dweights = dw
    trace = {}
    layer = backward(cell, layer_cache, dy, dh_n, dc_n, trace=trace)
    np.testing.assert_allclose(np.stack(dxs[::-1]), layer["x"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh, layer["h0"], rtol=1e-10, atol=1e-12)
    names = ["w_ih", "w_hh", "b_ih", "b_hh", "w_hr"]
    for name, g in zip(names, dweights):
        if g is not None:
            np.testing.assert_allclose(g, layer[name], rtol=1e-10, atol=1e-12, err_msg=name)
    assert trace["dh"].shape == y.shape
    np.testing.assert_allclose(trace["dh"], np.stack(fed[::-1]), rtol=1e-10, atol=1e-12)


def test_dy_dh_dc_may_be_none():
    p = make_inputs("lstm", 3, 2, 2, 3)
    cache = forward("lstm", p)[3]
    zeros = backward("lstm", cache, None, None, None)
    assert all(np.all(g == 0) for g in zeros.values())
    _, dh, _ = cotangents("lstm", p, 3, 2)
    only_dh = backward("lstm", cache, None, dh, None)
    explicit = backward("lstm", cache, np.zeros((3, 2, 3)), dh, np.zeros((2, 3)))
    for name in explicit:
        np.testing.assert_array_equal(only_dh[name], explicit[name])


# ----------------------------------------------------------------------------- dtype, stability

@pytest.mark.parametrize("cell,P,checkpoint,nonlinearity", [
    ("lstm", 0, 0, "tanh"), ("lstm", 2, 2, "tanh"), ("gru", 0, 0, "tanh"), ("gru", 0, 2, "tanh"),
    ("rnn", 0, 0, "tanh"), ("rnn", 0, 3, "relu")])
def test_float32_stays_float32(cell, P, checkpoint, nonlinearity):
    p = make_inputs(cell, 5, 3, 4, 4, P, dtype=np.float32)
    lengths = np.array([5, 2, 3])
    y, h_n, c_n, cache = forward(cell, p, lengths, nonlinearity, checkpoint)
    dy, dh, dc = (None if a is None else a.astype(np.float32) for a in cotangents(cell, p, 5, 3))
    trace = {}
    grads = backward(cell, cache, dy, dh, dc, trace=trace)
    arrays = [y, h_n, c_n, trace["dh"], *grads.values()]
    arrays += [v for v in cache.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    assert all(a.dtype == np.float32 for a in arrays if a is not None)


def test_gate_math_is_stable_for_huge_preactivations():
    """±1e4 pre-activations in float32: exact saturation, no overflow warning anywhere."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        gates = np.array([[1e4, -1e4, 1e4, -1e4], [-1e4, 1e4, -1e4, 1e4]], dtype=np.float32)
        np.testing.assert_array_equal(rnn_gates.activate_(np, gates.copy(), 0.5, 0.5), (gates > 0).astype(np.float32))
        for cell in GATES:
            p = make_inputs(cell, 4, 2, 3, 2, dtype=np.float32)
            p["x"] = np.sign(p["x"]) * np.float32(1e4)
            y, h_n, c_n, cache = forward(cell, p, np.array([4, 2]))
            grads = backward(cell, cache, *(None if a is None else np.ones_like(a)
                                            for a in (y, h_n, c_n)))
            assert all(np.all(np.isfinite(a)) for a in [y, h_n, *grads.values()])


# ----------------------------------------------------------------------------- GPU hook

def test_gate_kernels_registry_replaces_the_generic_gate_math(monkeypatch):
    calls = []

    def spy(xp, *args):
        calls.append(len(args))
        K.lstm_gates_forward(xp, *args)

    monkeypatch.setitem(K.GATE_KERNELS, ("lstm_gates_forward", "cpu"), spy)
    forward("lstm", make_inputs("lstm", 3, 2, 2, 2))
    assert len(calls) == 3
    assert K.gate_kernel("gru_gates_forward", np) is K.gru_gates_forward


class _CppElementwiseKernel:
    """Stand-in for cupy.ElementwiseKernel that compiles the CUDA body as plain C++ (double),
    so the fused kernels' arithmetic and argument order are tested without a GPU."""

    def __init__(self, in_params, out_params, operation, name, preamble, build_dir):
        names = lambda params: [p.split()[-1] for p in params.split(",")]
        self.n_in, self.n_out = len(names(in_params)), len(names(out_params))
        loads = [f"const T {n} = a[{k}][e];" for k, n in enumerate(names(in_params))]
        loads += [f"T &{n} = a[{k + self.n_in}][e];" for k, n in enumerate(names(out_params))]
        source = "\n".join([
            "#include <cmath>", "using std::tanh;", "#define __device__", "typedef double T;",
            preamble, 'extern "C" void run(long size, double **a) {',
            "for (long e = 0; e < size; ++e) {", *loads, operation, "}}"])
        src, lib = build_dir / f"{name}.cpp", build_dir / f"{name}.so"
        src.write_text(source)
        subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
        self.run = ctypes.CDLL(str(lib)).run

    def __call__(self, *arrays):
        assert len(arrays) == self.n_in + self.n_out
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        buffers = [np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.float64)
                   for a in arrays]
        pointers = (ctypes.POINTER(ctypes.c_double) * len(buffers))(
            *(b.ctypes.data_as(ctypes.POINTER(ctypes.c_double)) for b in buffers))
        self.run(ctypes.c_long(int(np.prod(shape))), pointers)
        for out, buffer in zip(arrays[self.n_in:], buffers[self.n_in:]):
            out[...] = buffer


@pytest.fixture(scope="module")
def fused_kernels(tmp_path_factory):
    """cuda_kernels.build() given a fake CuPy that compiles the bodies with g++."""
    if shutil.which("g++") is None:
        pytest.skip("needs g++ to compile the kernel bodies")
    build_dir = tmp_path_factory.mktemp("kernels")

    class FakeCupy:
        @staticmethod
        def ElementwiseKernel(in_params, out_params, operation, name, preamble=""):
            return _CppElementwiseKernel(in_params, out_params, operation, name, preamble, build_dir)

    return CUDA.build(FakeCupy)


@pytest.mark.parametrize("cell,P", [("lstm", 0), ("lstm", 2), ("gru", 0)])
def test_cuda_kernel_bodies_equal_the_generic_gate_math(cell, P, fused_kernels, monkeypatch):
    fused = fused_kernels
    assert set(fused) == {(f"{c}_gates_{d}", "cuda")
                          for c in ("lstm", "gru") for d in ("forward", "backward")}
    cfg = dict(cell=cell, T=4, B=3, I=2, H=3, P=P, bias=True, seed=3, lengths=np.array([4, 2, 3]),
               nonlinearity="tanh")
    p, cot = setup(cfg)
    generic = forward(cell, p, cfg["lengths"])[:3], kernel_grads(cfg, p, cot)
    for (name, _), function in fused.items():
        monkeypatch.setitem(K.GATE_KERNELS, (name, "cpu"), function)
    outputs, grads = forward(cell, p, cfg["lengths"])[:3], kernel_grads(cfg, p, cot)
    for a, b in zip(outputs, generic[0]):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for name in grads:
        np.testing.assert_allclose(grads[name], generic[1][name], rtol=1e-12, atol=1e-12,
                                   err_msg=name)


# ----------------------------------------------------------------------------- PyTorch parity

@pytest.mark.parametrize("cell,P,bias,lengths,nonlinearity", [
    ("lstm", 0, True, None, "tanh"), ("lstm", 3, True, [5, 2, 4], "tanh"),
    ("lstm", 2, False, None, "tanh"),
    ("gru", 0, True, [3, 5, 1], "tanh"), ("gru", 0, False, None, "tanh"),
    ("rnn", 0, True, None, "tanh"), ("rnn", 0, True, [5, 1, 3], "relu")])
def test_matches_pytorch(cell, P, bias, lengths, nonlinearity):
    torch = pytest.importorskip("torch")
    T, B, I, H = 5, 3, 4, 6
    p = make_inputs(cell, T, B, I, H, P, bias, seed=11)
    dy, dh, dc = cotangents(cell, p, T, B)
    kwargs = dict(proj_size=P) if cell == "lstm" else {}
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](
        I, H, bias=bias, dtype=torch.float64, **kwargs)
    torch_names = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0",
                   "b_hh": "bias_hh_l0", "w_hr": "weight_hr_l0"}
    with torch.no_grad():
        for name, torch_name in torch_names.items():
            if p.get(name) is not None:
                getattr(module, torch_name).copy_(torch.from_numpy(p[name]))
    tensors = {name: torch.tensor(p[name], requires_grad=True)
               for name in ("x", "h0", "c0") if name in p}
    state = tensors["h0"][None] if cell != "lstm" else (tensors["h0"][None], tensors["c0"][None])
    x = tensors["x"]
    if lengths is not None:
        x = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
    y, final = module(x, state)
    if lengths is not None:
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=T)
    h_n, c_n = (final[0][0], final[1][0]) if cell == "lstm" else (final[0], None)
    torch_loss = (y * torch.from_numpy(dy)).sum() + (h_n * torch.from_numpy(dh)).sum()
    if cell == "lstm":
        torch_loss = torch_loss + (c_n * torch.from_numpy(dc)).sum()
    torch_loss.backward()

    ours_y, ours_h, ours_c, cache = forward(
        cell, p, None if lengths is None else np.array(lengths), nonlinearity)
    grads = backward(cell, cache, dy, dh, dc)
    expected = {"y": y, "h_n": h_n, "c_n": c_n, **{n: t.grad for n, t in tensors.items()},
                **{n: getattr(module, t).grad for n, t in torch_names.items() if n in grads}}
    ours = {"y": ours_y, "h_n": ours_h, "c_n": ours_c, **grads}
    assert set(grads) <= set(expected)
    for name, value in ours.items():
        if value is not None:
            want = expected[name].detach().numpy()
            assert np.max(np.abs(value - want)) <= 1e-9 * max(1.0, np.max(np.abs(want))), name


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_inputs_and_cotangents_are_never_modified(cell):
    p = make_inputs(cell, 4, 3, 2, 3, 2 if cell == "lstm" else 0)
    cot = cotangents(cell, p, 4, 3)
    before = [a.copy() for a in (*p.values(), *cot) if a is not None]
    _, _, _, cache = forward(cell, p, np.array([4, 1, 2]), checkpoint=3)
    backward(cell, cache, *cot, trace={})
    after = [a for a in (*p.values(), *cot) if a is not None]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_cuda_kernel_compile_failure_falls_back_to_the_generic_gate_math(monkeypatch):
    """A CUDA toolkit that cannot compile the fused kernels warns once and runs the generic xp
    gate code (a stand-in module named "cupy" routes gate_kernel to its CUDA branch)."""
    attempts = []

    def broken_build(cupy):
        attempts.append(cupy)
        raise RuntimeError("nvrtc: compilation failed")

    monkeypatch.setattr(K, "GATE_KERNELS", {})
    monkeypatch.setattr(CUDA, "build", broken_build)
    fake_cupy = type(np)("cupy")
    with pytest.warns(RuntimeWarning, match="generic gate code"):
        assert K.gate_kernel("lstm_gates_forward", fake_cupy) is K.lstm_gates_forward
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # no second warning, no second compile
        assert K.gate_kernel("gru_gates_backward", fake_cupy) is K.gru_gates_backward
    assert len(attempts) == 1


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cuda_kernel_bodies_without_output_gradient(cell, fused_kernels, monkeypatch):
    """dy = None (only h_n / c_n get gradients): the fused backward kernels get a 0-d zero."""
    cfg = dict(cell=cell, T=3, B=2, I=2, H=3, P=0, bias=True, seed=5, lengths=None, nonlinearity="tanh")
    p, (_, dh, dc) = setup(cfg)
    generic = kernel_grads(cfg, p, (None, dh, dc))
    for (name, _), function in fused_kernels.items():
        monkeypatch.setitem(K.GATE_KERNELS, (name, "cpu"), function)
    fused = kernel_grads(cfg, p, (None, dh, dc))
    for name in generic:
        np.testing.assert_allclose(fused[name], generic[name], rtol=1e-12, atol=1e-12, err_msg=name)
