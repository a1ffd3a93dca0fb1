"""Plain NumPy LSTM / GRU / RNN forward + BPTT: the "plain NumPy reference floor" of the benchmarks.

Written the way a textbook would, independently of tinygrad_rnn: one matmul for the input
projection of all steps, one recurrent matmul per step, weight gradients as big matmuls at the
end. No autograd, no in-place tricks, no masking. PyTorch conventions (gate order, weight
shapes), time-major x (T, B, I), zero initial state, biases present.

    grads = train_step("lstm", x, params, dy)    # params: w_ih, w_hh, b_ih, b_hh
"""
import numpy as np


def sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))                  # same as 1/(1+e^-a), never overflows


def _input_projection(x, w, b):
    T, B, I = x.shape
    return (x.reshape(T * B, I) @ w.T + b).reshape(T, B, -1)


def _weight_grads(x, h_prev, dgx, dgh, p):
    """dx and parameter gradients from the pre-activation gradients of all steps."""
    T, B, I = x.shape
    gx, gh = dgx.reshape(T * B, -1), dgh.reshape(T * B, -1)
    return {"x": (gx @ p["w_ih"]).reshape(T, B, I),
            "w_ih": gx.T @ x.reshape(T * B, I), "w_hh": gh.T @ h_prev.reshape(T * B, -1),
            "b_ih": gx.sum(0), "b_hh": gh.sum(0)}


def lstm(x, p, dy):
    T, B, _ = x.shape
    H = p["w_hh"].shape[1]
    xw = _input_projection(x, p["w_ih"], p["b_ih"] + p["b_hh"])
    h = np.zeros((T + 1, B, H), x.dtype)
    c = np.zeros((T + 1, B, H), x.dtype)
    act = np.empty((T, B, 4 * H), x.dtype)               # i, f, g, o after their nonlinearity
    for t in range(T):
        a = xw[t] + h[t] @ p["w_hh"].T
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c[t + 1] = f * c[t] + i * g
        h[t + 1] = o * np.tanh(c[t + 1])
        act[t] = np.concatenate([i, f, g, o], axis=1)

    da = np.empty_like(act)
    dh, dc = np.zeros((B, H), x.dtype), np.zeros((B, H), x.dtype)
    for t in reversed(range(T)):
        i, f, g, o = act[t, :, :H], act[t, :, H:2 * H], act[t, :, 2 * H:3 * H], act[t, :, 3 * H:]
        dh = dh + dy[t]
        tanh_c = np.tanh(c[t + 1])
        dc = dc + dh * o * (1 - tanh_c ** 2)
        da[t] = np.concatenate([dc * g * i * (1 - i), dc * c[t] * f * (1 - f),
                                dc * i * (1 - g ** 2), dh * tanh_c * o * (1 - o)], axis=1)
        dc = dc * f
        dh = da[t] @ p["w_hh"]
    return _weight_grads(x, h[:-1], da, da, p)


def gru(x, p, dy):
    T, B, _ = x.shape
    H = p["w_hh"].shape[1]
    xw = _input_projection(x, p["w_ih"], p["b_ih"])
    h = np.zeros((T + 1, B, H), x.dtype)
    r, z, n, hn = (np.empty((T, B, H), x.dtype) for _ in range(4))
    for t in range(T):
        hw = h[t] @ p["w_hh"].T + p["b_hh"]
        r[t] = sigmoid(xw[t, :, :H] + hw[:, :H])
        z[t] = sigmoid(xw[t, :, H:2 * H] + hw[:, H:2 * H])
        hn[t] = hw[:, 2 * H:]
        n[t] = np.tanh(xw[t, :, 2 * H:] + r[t] * hn[t])
        h[t + 1] = (1 - z[t]) * n[t] + z[t] * h[t]

    dgx = np.empty((T, B, 3 * H), x.dtype)               # w.r.t. W_ih x + b_ih
    dgh = np.empty((T, B, 3 * H), x.dtype)               # w.r.t. W_hh h + b_hh
    dh = np.zeros((B, H), x.dtype)
    for t in reversed(range(T)):
        dh = dh + dy[t]
        dn = dh * (1 - z[t]) * (1 - n[t] ** 2)
        dr = dn * hn[t] * r[t] * (1 - r[t])
        dz = dh * (h[t] - n[t]) * z[t] * (1 - z[t])
        dgx[t] = np.concatenate([dr, dz, dn], axis=1)
        dgh[t] = np.concatenate([dr, dz, dn * r[t]], axis=1)
        dh = dh * z[t] + dgh[t] @ p["w_hh"]
    return _weight_grads(x, h[:-1], dgx, dgh, p)


def rnn(x, p, dy):
    T, B, _ = x.shape
    H = p["w_hh"].shape[1]
    xw = _input_projection(x, p["w_ih"], p["b_ih"] + p["b_hh"])
    h = np.zeros((T + 1, B, H), x.dtype)
    for t in range(T):
        h[t + 1] = np.tanh(xw[t] + h[t] @ p["w_hh"].T)

    da = np.empty((T, B, H), x.dtype)
    dh = np.zeros((B, H), x.dtype)
    for t in reversed(range(T)):
        dh = dh + dy[t]
        da[t] = dh * (1 - h[t + 1] ** 2)
        dh = da[t] @ p["w_hh"]
    return _weight_grads(x, h[:-1], da, da, p)


CELLS = {"lstm": lstm, "gru": gru, "rnn": rnn}


def train_step(cell, x, params, dy):
    """Forward and BPTT of one layer for the loss sum(dy * y); returns the gradients of x and of
    every parameter, keyed like ``params``."""
    return CELLS[cell](x, params, dy)


def init_params(cell, I, H, dtype=np.float32, seed=0):
    """Uniform(-1/sqrt(H), 1/sqrt(H)) weights, as PyTorch initialises them."""
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    rng = np.random.default_rng(seed)
    shapes = {"w_ih": (G * H, I), "w_hh": (G * H, H), "b_ih": (G * H,), "b_hh": (G * H,)}
    return {k: rng.uniform(-H ** -0.5, H ** -0.5, s).astype(dtype) for k, s in shapes.items()}
