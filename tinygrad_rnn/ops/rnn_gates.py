"""The elementwise math of one recurrent step: what runs between the matmuls of ``rnn_kernels``.

Generic xp code (NumPy or CuPy), written in place into buffers the caller allocates once, so a
step allocates nothing. Each ``*_gates_forward`` / ``*_gates_backward`` is one step and is what
``cuda_kernels`` replaces with one fused CUDA kernel; each ``*_backward_factors`` runs once per
segment, for all its steps at once, and computes the part of the backward that does not depend
on the incoming gradient (so a BPTT step is only a few multiplies).

Gates keep PyTorch's order (i, f, g, o for the LSTM, r, z, n for the GRU) in one contiguous
(B, G*H) row per sample; viewing it as (B, G, H) lets one call work on several gates at once.
"""
import numpy as np


def blocks(a, n):
    """The ``n`` gate blocks of a (..., n*H) array, as views (also used by cuda_kernels)."""
    size = a.shape[-1] // n
    return [a[..., k * size:(k + 1) * size] for k in range(n)]


def activate_(xp, a, scale, offset):
    """In place a = scale * tanh(scale * a) + offset. With scale = offset = 0.5 this is the
    logistic sigmoid (1 + tanh(a/2)) / 2, the same function as elementwise.stable_sigmoid but
    in place and without exp (no overflow, no float64 promotion); with scale 1 and offset 0 it
    is tanh. Per-column scale and offset rows activate all four LSTM gates in the same 4 passes."""
    a *= scale
    xp.tanh(a, out=a)
    a *= scale
    a += offset
    return a


_LSTM_ACTIVATION = {}


def _lstm_activation(xp, H, dtype):
    """(scale, offset) rows of length 4H for activate_ on a (B, 4H) gate buffer: sigmoid for
    i, f, o and tanh for g. Built once per array module, size and dtype."""
    key = (xp.__name__, H, np.dtype(dtype).str)
    if key not in _LSTM_ACTIVATION:
        scale = np.repeat(np.array([0.5, 0.5, 1.0, 0.5], dtype=dtype), H)
        _LSTM_ACTIVATION[key] = xp.asarray(scale), xp.asarray(np.where(scale == 1, 0, scale).astype(dtype))
    return _LSTM_ACTIVATION[key]


# ----------------------------------------------------------------------------- LSTM


def lstm_gates_forward(xp, gates, recurrent, c_prev, c, m):
    """LSTM step after the recurrent matmul. ``gates`` (B, 4H) holds W_ih x + biases for i, f, g,
    o; adds ``recurrent`` (W_hh h_prev) and overwrites it with the activations (what BPTT
    reads). Writes c = f*c_prev + i*g and m = o*tanh(c) (= h_t without projection)."""
    B, H = c.shape
    gates += recurrent
    activate_(xp, gates, *_lstm_activation(xp, H, gates.dtype))
    i, f, g, o = blocks(gates, 4)
    xp.multiply(f, c_prev, out=c)
    xp.multiply(i, g, out=m)                             # m as scratch for i*g
    c += m
    xp.tanh(c, out=m)
    m *= o


def lstm_backward_factors(xp, gates, cs, valid, dgates):
    """The part of the gate backward that does not depend on the incoming gradient, for all L
    steps of a segment in a few whole-array passes. Fills dgates (L, B, 4H) with
        g*i', c_{t-1}*f', i*g', tanh(c_t)*o'    (i' = i(1-i), g' = 1-g^2, ...)
    so that dL/d(pre-activation) = factor * dL/dc_t for i, f, g and factor * dL/dm_t for o
    (zero at padded steps), and returns a (L, B, H) = o * tanh'(c_t) = dc_t/dm_t."""
    L, B, _ = gates.shape
    H = cs.shape[-1]
    act, d = gates.reshape(L, B, 4, H), dgates.reshape(L, B, 4, H)
    xp.subtract(1, act, out=d)
    d *= act                                             # s(1-s): the sigmoid' of i, f, o
    xp.multiply(act[:, :, 2], act[:, :, 2], out=d[:, :, 2])
    xp.subtract(1, d[:, :, 2], out=d[:, :, 2])          # 1-g^2: the tanh' of g
    tanh_c = xp.tanh(cs[1:])
    d[:, :, 0] *= act[:, :, 2]
    d[:, :, 1] *= cs[:-1]
    d[:, :, 2] *= act[:, :, 0]
    d[:, :, 3] *= tanh_c
    if valid is not None:
        d *= valid[..., None]                            # padded steps: no gate gradient
    a = tanh_c                                           # reuse the buffer: a = o (1 - tanh_c^2)
    a *= tanh_c
    xp.subtract(1, a, out=a)
    a *= act[:, :, 3]
    return a


def lstm_gates_backward(xp, gates, a, dm, dy, dc, dgates, dc_prev):
    """Backward of one step's gate math. On entry dgates (B, 4H) holds this step's factors from
    lstm_backward_factors, on exit dL/d(pre-activations); dm = dL/dm_t without dy (dL/dy_t, or
    None), which is added here, in place; dc = dL/dc_t from step t+1, a = dc_t/dm_t. Writes
    dc_prev = dL/dc_{t-1}."""
    B, H = dm.shape
    if dy is not None:
        dm += dy                                         # h_t = m_t feeds y_t and step t+1
    xp.multiply(dm, a, out=dc_prev)
    dc_prev += dc                                        # dL/dc_t: c_t feeds m_t and c_{t+1}
    d = dgates.reshape(B, 4, H)
    d[:, :3] *= dc_prev[:, None]                         # i, f, g reach the loss through c_t
    d[:, 3] *= dm                                        # o through m_t
    dc_prev *= gates[:, H:2 * H]                         # c_{t-1} reaches c_t through f


# ----------------------------------------------------------------------------- GRU


def gru_gates_forward(xp, x_part, h_part, b_hn, h_prev, gates, h):
    """GRU step after the recurrent matmul: x_part = W_ih x + b_ih with b_hr, b_hz folded in,
    h_part = W_hh h_prev (B, 3H), b_hn (H,). Writes gates (B, 4H) = activated r, z, n and
    W_hn h_prev + b_hn (kept for dL/dr), and h."""
    H = h_prev.shape[-1]
    r, z, n, hn = blocks(gates, 4)
    rz = gates[:, :2 * H]
    xp.add(x_part[:, :2 * H], h_part[:, :2 * H], out=rz)
    activate_(xp, rz, 0.5, 0.5)                          # sigmoid of r and z in one pass
    xp.add(h_part[:, 2 * H:], b_hn, out=hn)
    xp.multiply(r, hn, out=n)
    n += x_part[:, 2 * H:]
    xp.tanh(n, out=n)
    xp.subtract(h_prev, n, out=h)                       # h' = n + z (h - n) = (1-z) n + z h
    h *= z
    h += n


def gru_backward_factors(xp, gates, hs, valid, dgates):
    """The gradient-independent part of the gate backward for all L steps at once. Fills
    dgates (L, B, 4H) with  hn*r',  (h_{t-1} - n)*z',  r,  (1-z)*n'  (r' = r(1-r), n' = 1-n^2),
    the factors that turn dL/dh_t into [dr, dz, dhn, dn] (zero at padded steps)."""
    L, B, _ = gates.shape
    H = hs.shape[-1]
    act, d = gates.reshape(L, B, 4, H), dgates.reshape(L, B, 4, H)
    r, z, n, hn = (act[:, :, k] for k in range(4))
    xp.subtract(1, act[:, :, :2], out=d[:, :, :2])
    d[:, :, :2] *= act[:, :, :2]                         # r', z'
    d[:, :, 0] *= hn
    xp.subtract(1, z, out=d[:, :, 2])                    # d[:, :, 2] is scratch until the end
    xp.multiply(n, n, out=d[:, :, 3])
    xp.subtract(1, d[:, :, 3], out=d[:, :, 3])
    d[:, :, 3] *= d[:, :, 2]
    xp.subtract(hs[:-1], n, out=d[:, :, 2])
    d[:, :, 1] *= d[:, :, 2]
    xp.copyto(d[:, :, 2], r)
    if valid is not None:
        d[:, :, 1::2] *= valid[..., None]                # dz = dn = 0, hence dr = dhn = 0


def gru_gates_backward(xp, gates, dh, recurrent, dy, dgates, dh_prev):
    """Backward of one step's gate math. dL/dh_t arrives in parts, summed here into dh in place:
    dh (the direct path z * dh_{t+1}), recurrent (the path through W_hh of step t+1) and dy
    (dL/dy_t, or None). On entry dgates (B, 4H) holds this step's factors from
    gru_backward_factors, on exit [dr, dz, dhn, dn]: columns 0:3H are dL/d(W_hh h + b_hh),
    columns 0:2H and 3H:4H dL/d(W_ih x + b_ih). Writes dh_prev = the direct path z * dh."""
    B, H = dh.shape
    dh += recurrent
    if dy is not None:
        dh += dy
    d = dgates.reshape(B, 4, H)
    d[:, 1::2] *= dh[:, None]                            # dz, dn
    d[:, 0::2] *= d[:, 3:]                               # dr = dn * hn r', dhn = dn * r
    xp.multiply(dh, gates[:, H:2 * H], out=dh_prev)


# ----------------------------------------------------------------------------- Elman RNN


def rnn_activation_forward(xp, a, recurrent, nonlinearity):
    """In place: a = act(a + recurrent), act = tanh or relu."""
    a += recurrent
    if nonlinearity == "tanh":
        xp.tanh(a, out=a)
    else:
        xp.maximum(a, 0, out=a)


def rnn_activation_backward(xp, h, valid, dpre, nonlinearity):
    """act' for all L steps at once, read off the outputs h (L, B, H): 1 - h^2, or h > 0;
    zero at padded steps. Each BPTT step then multiplies its row by dL/dh_t."""
    if nonlinearity == "tanh":
        xp.multiply(h, h, out=dpre)
        xp.subtract(1, dpre, out=dpre)
    else:
        xp.greater(h, 0, out=dpre)
    if valid is not None:
        dpre *= valid
