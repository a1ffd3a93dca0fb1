"""Raw-array kernels of the fast recurrent path: LSTM, GRU and Elman RNN forward + BPTT.

Pure functions on NumPy or CuPy arrays (the array module ``xp`` is taken from the inputs); the
autograd ``Function`` wrappers live elsewhere. Conventions are PyTorch's ``nn.LSTM/GRU/RNN`` for
one layer and one direction, time-major:

    x (T, B, I)   w_ih (G*H, I)   w_hh (G*H, Hout)   b_ih, b_hh (G*H,) or None   h0 (B, Hout)
    LSTM: gates i, f, g, o (G = 4), c0 (B, H), optional projection w_hr (P, H) making Hout = P
    GRU:  gates r, z, n (G = 3), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1-z) n + z h
    RNN:  G = 1, h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu

Why this is fast: the input projection of all T steps is ONE matmul; each step does one
recurrent matmul plus in-place gate arithmetic on views of one (B, G*H) buffer; the backward
collects the gate gradients of all steps and turns them into weight gradients with one big
matmul per weight at the end.

``lengths`` (B,) marks steps t >= lengths[b] as padding: y[t, b] is zero, the state is carried
unchanged (so h_n is the state at the last real step) and padding adds nothing to any gradient.
Padding values of x must be finite (they meet zero gradients in the weight matmuls).

The cache returned by a forward is a dict:
    "x"           the input (T, B, I), for dW_ih and dx
    "params"      the weights and biases (references, not copies); RNN also its nonlinearity
    "valid"       (T, B, 1) bool, True at real steps; None without lengths
    "checkpoint"  K, the segment length (0: no checkpointing)
  with checkpoint=0, the activations BPTT reads (nothing else is kept):
    LSTM  "gates" (T, B, 4H) activated i, f, g, o;  "c" (T+1, B, H) and "h" (T+1, B, Hout):
          the states c_0..c_T, h_0..h_T (m_t = o_t * tanh(c_t) is rebuilt when needed)
    GRU   "gates" (T, B, 4H) activated r, z, n and W_hn h_{t-1} + b_hn;  "h" (T+1, B, H)
    RNN   "h" (T+1, B, H) (tanh' and relu' are functions of the activation's output)
  with checkpoint=K > 0, instead of those, only the state entering each K-step segment:
    "h_checkpoints" (S, B, Hout) and, for LSTM, "c_checkpoints" (S, B, H), S = ceil(T / K);
    the backward recomputes a segment's activations from it right before back-propagating
    through it, so activation memory is O(T/K + K) instead of O(T).
Returned y, h_n, c_n may be views of the cache: treat them as read-only.

``trace``: pass a dict to a backward and it stores ``trace["dh"]`` (T, B, Hout), the total
gradient dL/dh_t reaching the state after step t (from y_t and from step t+1; at a padded step,
the gradient of the carried state). With trace=None nothing extra is computed or stored.
"""
import sys


# ----------------------------------------------------------------------------- shared helpers

def _array_module(a):
    """NumPy or CuPy, whichever owns ``a``. CuPy is never imported here: it is loaded already
    when ``a`` is a CuPy array."""
    return sys.modules[type(a).__module__.split(".")[0]]


def _blocks(a, n):
    """The ``n`` gate blocks of a (..., n*H) array, as views."""
    size = a.shape[-1] // n
    return [a[..., k * size:(k + 1) * size] for k in range(n)]


def _part(a, start, stop):
    """a[start:stop] along time, passing None through (absent dy, mask or trace)."""
    return None if a is None else a[start:stop]


def _valid_mask(xp, lengths, T, B):
    """(T, B, 1) bool, True where step t is a real step of sequence b; None without lengths,
    so that full batches pay nothing for masking."""
    if lengths is None:
        return None
    lengths = xp.asarray(lengths)
    if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
        raise ValueError(f"lengths must be {B} integers in [1, {T}], got {lengths}")
    return (xp.arange(T)[:, None] < lengths[None, :])[:, :, None]


def _segments(T, checkpoint):
    """(start, stop) of the step ranges back-propagated one at a time: K steps each, or all T."""
    K = checkpoint if checkpoint > 0 else T
    return [(start, min(start + K, T)) for start in range(0, T, K)]


def _input_projection(x, w_ih, *biases):
    """W_ih x_t + biases for all steps in ONE (T*B, I) @ (I, G*H) matmul, as (T, B, G*H)."""
    T, B, I = x.shape
    out = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, -1)
    for bias in biases:
        if bias is not None:
            out += bias
    return out


def _weight_grads(x, h_prev, dgates_x, dgates_h, w_ih, b_ih, b_hh):
    """dx and the weight gradients of a whole segment, one big matmul each.

    dgates_x (L, B, G*H): gradient w.r.t. W_ih x_t + b_ih;  dgates_h: w.r.t. W_hh h_{t-1} + b_hh
    (the same array except for GRU, whose r scales only the recurrent part of n)."""
    L, B, I = x.shape
    gx = dgates_x.reshape(L * B, -1)
    gh = dgates_h.reshape(L * B, -1)
    dx = (gx @ w_ih).reshape(L, B, I)
    grads = {"w_ih": gx.T @ x.reshape(L * B, I), "w_hh": gh.T @ h_prev.reshape(L * B, -1)}
    if b_ih is not None:
        grads["b_ih"] = gx.sum(axis=0)
    if b_hh is not None:
        same = b_ih is not None and dgates_h is dgates_x   # LSTM/RNN: one sum serves both biases
        grads["b_hh"] = grads["b_ih"].copy() if same else gh.sum(axis=0)
    return dx, grads


def sigmoid_(xp, a):
    """In-place logistic sigmoid, written as 0.5 * (1 + tanh(a / 2)): no exp, so no overflow
    for large |a|, and no float64 promotion (Python scalars keep the array's dtype)."""
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


# ----------------------------------------------------------------------------- shared drivers

def _forward(scan, x, state0, params, lengths, checkpoint):
    """Run ``scan`` over the whole sequence, or K steps at a time keeping only each segment's
    entering state (checkpointing). Returns y, the final state dict and the cache."""
    if checkpoint < 0:
        raise ValueError(f"checkpoint must be 0 (off) or a segment length K > 0, got {checkpoint}")
    xp = _array_module(x)
    T, B = x.shape[:2]
    valid = _valid_mask(xp, lengths, T, B)
    cache = {"x": x, "params": params, "valid": valid, "checkpoint": checkpoint}
    if checkpoint == 0:
        saved = scan(x, valid=valid, **state0, **params)
        cache.update(saved)
        y = saved["h"][1:]
        final = {name: saved[name][-1] for name in state0}
    else:
        segments = _segments(T, checkpoint)
        y = xp.empty((T,) + state0["h"].shape, dtype=x.dtype)
        for name, value in state0.items():
            cache[name + "_checkpoints"] = xp.empty((len(segments),) + value.shape, dtype=x.dtype)
        final = state0
        for k, (start, stop) in enumerate(segments):
            for name, value in final.items():
                cache[name + "_checkpoints"][k] = value
            saved = scan(x[start:stop], valid=_part(valid, start, stop), **final, **params)
            y[start:stop] = saved["h"][1:]
            final = {name: saved[name][-1] for name in final}
    if valid is not None:
        y = xp.where(valid, y, 0)
    return y, final, cache


def _backward(scan, bptt, cache, dy, dfinal, trace):
    """Back-propagate segment by segment, last first, recomputing a segment's activations from
    its checkpoint when the forward did not keep them. Returns dx, the initial-state gradient
    dict and the summed weight gradients."""
    x, valid, params = cache["x"], cache["valid"], cache["params"]
    xp = _array_module(x)
    T = x.shape[0]
    if dy is not None and valid is not None:
        dy = xp.where(valid, dy, 0)                      # y is constant zero at padded steps
    checkpointed = cache["checkpoint"] > 0
    states = {name: cache[name + "_checkpoints" if checkpointed else name] for name in dfinal}
    dstate = {name: xp.zeros_like(states[name][0]) if d is None else d.copy()
              for name, d in dfinal.items()}             # fresh: the bptt loops update in place
    dh_steps = None if trace is None else xp.empty((T,) + states["h"].shape[1:], dtype=x.dtype)
    dx = xp.empty_like(x)
    grads = {}
    segments = _segments(T, cache["checkpoint"])
    for k in reversed(range(len(segments))):
        start, stop = segments[k]
        if checkpointed:
            state = {name: states[name][k] for name in dfinal}
            saved = scan(x[start:stop], valid=_part(valid, start, stop), **state, **params)
        else:
            saved = cache
        dx_part, dstate, segment_grads = bptt(
            x[start:stop], saved, _part(dy, start, stop), dstate, _part(valid, start, stop),
            _part(dh_steps, start, stop), **params)
        dx[start:stop] = dx_part
        for name, g in segment_grads.items():
            grads[name] = g if name not in grads else grads[name] + g
    if trace is not None:
        trace["dh"] = dh_steps
    return dx, dstate, grads


# ----------------------------------------------------------------------------- LSTM

def lstm_gates_forward(xp, gates, c_prev, c, m):
    """LSTM step after the matmuls. ``gates`` (B, 4H) holds the pre-activations of i, f, g, o
    and is overwritten with their activations (what BPTT needs). Writes c = f*c_prev + i*g and
    m = o*tanh(c) (= h_t without projection)."""
    H = c_prev.shape[-1]
    i, f, g, o = _blocks(gates, 4)
    sigmoid_(xp, gates[:, :2 * H])                       # i and f are adjacent: one call
    xp.tanh(g, out=g)
    sigmoid_(xp, o)
    xp.multiply(f, c_prev, out=c)
    c += i * g
    xp.tanh(c, out=m)
    m *= o


def lstm_gates_backward(xp, gates, c_prev, c, dm, dc, dgates, dc_prev):
    """Backward of lstm_gates_forward: from dm = dL/dm_t and dc = dL/dc_t (from step t+1),
    writes dgates (B, 4H) = dL/d(pre-activations) and dc_prev = dL/dc_{t-1}."""
    H = c.shape[-1]
    i, f, g, o = _blocks(gates, 4)
    di, df, dg, do = _blocks(dgates, 4)
    tanh_c = xp.tanh(c)
    dc_total = dm * o * (1 - tanh_c * tanh_c) + dc      # c feeds m_t and c_{t+1}
    xp.multiply(dc_total, g, out=di)
    xp.multiply(dc_total, c_prev, out=df)
    xp.multiply(dc_total, i, out=dg)
    xp.multiply(dm, tanh_c, out=do)
    xp.multiply(dc_total, f, out=dc_prev)
    # through the nonlinearities: sigmoid' = s (1 - s), tanh' = 1 - t^2
    s, ds = gates[:, :2 * H], dgates[:, :2 * H]
    ds *= s * (1 - s)
    do *= o * (1 - o)
    dg *= 1 - g * g


def _lstm_scan(x, h, c, valid, w_ih, w_hh, b_ih, b_hh, w_hr):
    """Run the LSTM over the steps of x from state (h, c); returns the buffers BPTT needs."""
    xp = _array_module(x)
    L, B, _ = x.shape
    H = c.shape[-1]
    gates = _input_projection(x, w_ih, b_ih, b_hh)       # each step adds W_hh h, then activates
    hs = xp.empty((L + 1,) + h.shape, dtype=x.dtype)
    cs = xp.empty((L + 1,) + c.shape, dtype=x.dtype)
    hs[0], cs[0] = h, c
    recurrent = xp.empty((B, 4 * H), dtype=x.dtype)
    m = None if w_hr is None else xp.empty((B, H), dtype=x.dtype)
    pad = None if valid is None else ~valid
    step = gate_kernel("lstm_gates_forward", xp)
    for t in range(L):
        xp.matmul(hs[t], w_hh.T, out=recurrent)
        gates[t] += recurrent
        if w_hr is None:
            step(xp, gates[t], cs[t], cs[t + 1], hs[t + 1])
        else:
            step(xp, gates[t], cs[t], cs[t + 1], m)
            xp.matmul(m, w_hr.T, out=hs[t + 1])
        if pad is not None:                              # finished sequences keep their state
            xp.copyto(cs[t + 1], cs[t], where=pad[t])
            xp.copyto(hs[t + 1], hs[t], where=pad[t])
    return {"gates": gates, "c": cs, "h": hs}


def _lstm_bptt(x, saved, dy, dstate, valid, dh_steps, w_ih, w_hh, b_ih, b_hh, w_hr):
    """BPTT through one segment (last step first), then its weight gradients in big matmuls."""
    xp = _array_module(x)
    gates, cs, hs = saved["gates"], saved["c"], saved["h"]
    L, B, _ = x.shape
    dh, dc = dstate["h"], dstate["c"]
    if w_hr is not None and dh_steps is None:
        dh_steps = xp.empty((L,) + dh.shape, dtype=x.dtype)   # dW_hr needs every dL/dh_t
    dgates = xp.empty_like(gates)
    dh_prev, dc_prev = xp.empty_like(dh), xp.empty_like(dc)
    pad = None if valid is None else ~valid
    step = gate_kernel("lstm_gates_backward", xp)
    for t in reversed(range(L)):
        if dy is not None:
            dh += dy[t]                                  # h_t feeds y_t and step t+1
        if dh_steps is not None:
            dh_steps[t] = dh
        dm = dh if w_hr is None else dh @ w_hr
        step(xp, gates[t], cs[t], cs[t + 1], dm, dc, dgates[t], dc_prev)
        if pad is not None:                              # a padded step passes gradients through
            xp.copyto(dgates[t], 0, where=pad[t])
            xp.copyto(dc_prev, dc, where=pad[t])
        xp.matmul(dgates[t], w_hh, out=dh_prev)
        if pad is not None:
            xp.copyto(dh_prev, dh, where=pad[t])
        dh, dh_prev = dh_prev, dh
        dc, dc_prev = dc_prev, dc
    dx, grads = _weight_grads(x, hs[:-1], dgates, dgates, w_ih, b_ih, b_hh)
    if w_hr is not None:
        H = cs.shape[-1]
        m = gates[..., 3 * H:] * xp.tanh(cs[1:])        # m_t = o_t tanh(c_t), rebuilt, not stored
        dh_real = dh_steps if valid is None else xp.where(valid, dh_steps, 0)
        grads["w_hr"] = dh_real.reshape(L * B, -1).T @ m.reshape(L * B, H)
    return dx, {"h": dh, "c": dc}, grads


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr=None, lengths=None, checkpoint=0):
    """LSTM layer forward. Returns (y (T, B, Hout), h_n, c_n, cache)."""
    params = {"w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh, "w_hr": w_hr}
    y, final, cache = _forward(_lstm_scan, x, {"h": h0, "c": c0}, params, lengths, checkpoint)
    return y, final["h"], final["c"], cache


def lstm_backward(cache, dy, dh_n, dc_n, trace=None):
    """LSTM layer backward; dy, dh_n, dc_n may be None (zero).
    Returns (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr), None for absent parameters."""
    dx, d0, grads = _backward(_lstm_scan, _lstm_bptt, cache, dy, {"h": dh_n, "c": dc_n}, trace)
    return (dx, d0["h"], d0["c"], grads["w_ih"], grads["w_hh"],
            grads.get("b_ih"), grads.get("b_hh"), grads.get("w_hr"))


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    """One LSTM step as a single fused op: the layer kernel with T = 1. Returns (h', c', cache)."""
    _, h_next, c_next, cache = lstm_forward(x[None], h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
    return h_next, c_next, cache


def lstm_cell_backward(cache, dh, dc):
    """Returns (dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr) of one lstm_cell_forward."""
    dx, dh_prev, dc_prev, *dparams = lstm_backward(cache, None, dh, dc)
    return (dx[0], dh_prev, dc_prev, *dparams)


# ----------------------------------------------------------------------------- GRU

def gru_gates_forward(xp, x_part, h_part, h_prev, gates, h):
    """GRU step after the matmuls: x_part = W_ih x + b_ih, h_part = W_hh h_prev + b_hh (B, 3H).
    Writes gates (B, 4H) = activated r, z, n and W_hn h_prev + b_hn (kept for dL/dr), and h."""
    H = h_prev.shape[-1]
    r, z, n, hn = _blocks(gates, 4)
    rz = gates[:, :2 * H]
    xp.add(x_part[:, :2 * H], h_part[:, :2 * H], out=rz)
    sigmoid_(xp, rz)
    xp.copyto(hn, h_part[:, 2 * H:])
    xp.multiply(r, hn, out=n)
    n += x_part[:, 2 * H:]
    xp.tanh(n, out=n)
    xp.subtract(h_prev, n, out=h)                       # h' = n + z (h - n) = (1-z) n + z h
    h *= z
    h += n


def gru_gates_backward(xp, gates, h_prev, dh, dgates, dh_prev):
    """Backward of gru_gates_forward. Writes dgates (B, 4H) = [dr, dz, dhn, dn]: the first 3H
    columns are dL/d(W_hh h + b_hh), columns 0:2H and 3H:4H are dL/d(W_ih x + b_ih); and
    dh_prev = the direct path z * dh (the caller adds the path through W_hh)."""
    r, z, n, hn = _blocks(gates, 4)
    dr, dz, dhn, dn = _blocks(dgates, 4)
    xp.multiply(dh, 1 - z, out=dn)
    dn *= 1 - n * n
    xp.multiply(dn, r, out=dhn)                          # n's pre-activation holds r * hn
    xp.multiply(dn, hn, out=dr)
    dr *= r * (1 - r)
    xp.subtract(h_prev, n, out=dz)
    dz *= dh
    dz *= z * (1 - z)
    xp.multiply(dh, z, out=dh_prev)


def _gru_scan(x, h, valid, w_ih, w_hh, b_ih, b_hh):
    """Run the GRU over the steps of x from state h; returns the buffers BPTT needs."""
    xp = _array_module(x)
    L, B, _ = x.shape
    H = h.shape[-1]
    x_part = _input_projection(x, w_ih, b_ih)            # b_hh stays apart: r scales b_hn
    gates = xp.empty((L, B, 4 * H), dtype=x.dtype)
    hs = xp.empty((L + 1,) + h.shape, dtype=x.dtype)
    hs[0] = h
    h_part = xp.empty((B, 3 * H), dtype=x.dtype)
    pad = None if valid is None else ~valid
    step = gate_kernel("gru_gates_forward", xp)
    for t in range(L):
        xp.matmul(hs[t], w_hh.T, out=h_part)
        if b_hh is not None:
            h_part += b_hh
        step(xp, x_part[t], h_part, hs[t], gates[t], hs[t + 1])
        if pad is not None:
            xp.copyto(hs[t + 1], hs[t], where=pad[t])
    return {"gates": gates, "h": hs}


def _gru_bptt(x, saved, dy, dstate, valid, dh_steps, w_ih, w_hh, b_ih, b_hh):
    """BPTT through one segment (last step first), then its weight gradients in big matmuls."""
    xp = _array_module(x)
    gates, hs = saved["gates"], saved["h"]
    L = x.shape[0]
    H = hs.shape[-1]
    dh = dstate["h"]
    dgates = xp.empty_like(gates)
    dh_prev, recurrent = xp.empty_like(dh), xp.empty_like(dh)
    pad = None if valid is None else ~valid
    step = gate_kernel("gru_gates_backward", xp)
    for t in reversed(range(L)):
        if dy is not None:
            dh += dy[t]
        if dh_steps is not None:
            dh_steps[t] = dh
        step(xp, gates[t], hs[t], dh, dgates[t], dh_prev)
        if pad is not None:
            xp.copyto(dgates[t], 0, where=pad[t])
        xp.matmul(dgates[t][:, :3 * H], w_hh, out=recurrent)
        dh_prev += recurrent
        if pad is not None:
            xp.copyto(dh_prev, dh, where=pad[t])
        dh, dh_prev = dh_prev, dh
    dgates_h = dgates[..., :3 * H]
    dgates_x = xp.concatenate([dgates[..., :2 * H], dgates[..., 3 * H:]], axis=-1)
    dx, grads = _weight_grads(x, hs[:-1], dgates_x, dgates_h, w_ih, b_ih, b_hh)
    return dx, {"h": dh}, grads


def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, checkpoint=0):
    """GRU layer forward. Returns (y (T, B, H), h_n, cache)."""
    params = {"w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}
    y, final, cache = _forward(_gru_scan, x, {"h": h0}, params, lengths, checkpoint)
    return y, final["h"], cache


def gru_backward(cache, dy, dh_n, trace=None):
    """GRU layer backward; dy, dh_n may be None. Returns (dx, dh0, dw_ih, dw_hh, db_ih, db_hh)."""
    dx, d0, grads = _backward(_gru_scan, _gru_bptt, cache, dy, {"h": dh_n}, trace)
    return dx, d0["h"], grads["w_ih"], grads["w_hh"], grads.get("b_ih"), grads.get("b_hh")


def gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh):
    """One GRU step as a single fused op (the layer kernel with T = 1). Returns (h', cache)."""
    _, h_next, cache = gru_forward(x[None], h, w_ih, w_hh, b_ih, b_hh)
    return h_next, cache


def gru_cell_backward(cache, dh):
    """Returns (dx, dh, dw_ih, dw_hh, db_ih, db_hh) of one gru_cell_forward."""
    dx, dh_prev, *dparams = gru_backward(cache, None, dh)
    return (dx[0], dh_prev, *dparams)


# ----------------------------------------------------------------------------- Elman RNN

def rnn_activation_forward(xp, a, nonlinearity):
    """In place: a = tanh(a) or relu(a)."""
    if nonlinearity == "tanh":
        xp.tanh(a, out=a)
    else:
        xp.maximum(a, 0, out=a)


def rnn_activation_backward(xp, h, dh, dpre, nonlinearity):
    """dpre = dh * act'(pre), with act' read off the output h: 1 - h^2, or h > 0."""
    xp.multiply(dh, 1 - h * h if nonlinearity == "tanh" else h > 0, out=dpre)


def _rnn_scan(x, h, valid, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    """Run the RNN over the steps of x from state h; the states are all BPTT needs."""
    xp = _array_module(x)
    L = x.shape[0]
    hs = xp.empty((L + 1,) + h.shape, dtype=x.dtype)
    hs[0] = h
    hs[1:] = _input_projection(x, w_ih, b_ih, b_hh)      # each step adds W_hh h, then activates
    recurrent = xp.empty_like(h, dtype=x.dtype)
    pad = None if valid is None else ~valid
    step = gate_kernel("rnn_activation_forward", xp)
    for t in range(L):
        xp.matmul(hs[t], w_hh.T, out=recurrent)
        hs[t + 1] += recurrent
        step(xp, hs[t + 1], nonlinearity)
        if pad is not None:
            xp.copyto(hs[t + 1], hs[t], where=pad[t])
    return {"h": hs}


def _rnn_bptt(x, saved, dy, dstate, valid, dh_steps, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    """BPTT through one segment (last step first), then its weight gradients in big matmuls."""
    xp = _array_module(x)
    hs = saved["h"]
    L = x.shape[0]
    dh = dstate["h"]
    dpre = xp.empty((L,) + dh.shape, dtype=x.dtype)
    dh_prev = xp.empty_like(dh)
    pad = None if valid is None else ~valid
    step = gate_kernel("rnn_activation_backward", xp)
    for t in reversed(range(L)):
        if dy is not None:
            dh += dy[t]
        if dh_steps is not None:
            dh_steps[t] = dh
        step(xp, hs[t + 1], dh, dpre[t], nonlinearity)
        if pad is not None:
            xp.copyto(dpre[t], 0, where=pad[t])
        xp.matmul(dpre[t], w_hh, out=dh_prev)
        if pad is not None:
            xp.copyto(dh_prev, dh, where=pad[t])
        dh, dh_prev = dh_prev, dh
    dx, grads = _weight_grads(x, hs[:-1], dpre, dpre, w_ih, b_ih, b_hh)
    return dx, {"h": dh}, grads


def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", lengths=None, checkpoint=0):
    """Elman RNN layer forward. Returns (y (T, B, H), h_n, cache)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    params = {"w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh, "nonlinearity": nonlinearity}
    y, final, cache = _forward(_rnn_scan, x, {"h": h0}, params, lengths, checkpoint)
    return y, final["h"], cache


def rnn_backward(cache, dy, dh_n, trace=None):
    """RNN layer backward; dy, dh_n may be None. Returns (dx, dh0, dw_ih, dw_hh, db_ih, db_hh)."""
    dx, d0, grads = _backward(_rnn_scan, _rnn_bptt, cache, dy, {"h": dh_n}, trace)
    return dx, d0["h"], grads["w_ih"], grads["w_hh"], grads.get("b_ih"), grads.get("b_hh")


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    """One RNN step as a single fused op (the layer kernel with T = 1). Returns (h', cache)."""
    _, h_next, cache = rnn_forward(x[None], h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
    return h_next, cache


def rnn_cell_backward(cache, dh):
    """Returns (dx, dh, dw_ih, dw_hh, db_ih, db_hh) of one rnn_cell_forward."""
    dx, dh_prev, *dparams = rnn_backward(cache, None, dh)
    return (dx[0], dh_prev, *dparams)


# ----------------------------------------------------------------------------- GPU hook

GATE_KERNELS = {}
"""Replacements for the per-step gate math, keyed by (function name, device), e.g.
("lstm_gates_forward", "cuda") -> a callable with the generic function's arguments. ``gate_kernel``
fills it with the fused CUDA kernels of ``cuda_kernels.build`` the first time it sees a CuPy
array; anything not registered falls back to the generic xp functions above."""

_GENERIC_GATES = {f.__name__: f for f in (
    lstm_gates_forward, lstm_gates_backward, gru_gates_forward, gru_gates_backward,
    rnn_activation_forward, rnn_activation_backward)}


def gate_kernel(name, xp):
    """The gate function ``name`` for arrays of ``xp``: registered fused kernel, else generic.
    Looked up once per sequence, not per step."""
    device = "cuda" if xp.__name__ == "cupy" else "cpu"
    if device == "cuda" and not any(key[1] == "cuda" for key in GATE_KERNELS):
        from . import cuda_kernels        # first CuPy sequence: compile the fused kernels once
        GATE_KERNELS.update(cuda_kernels.build(xp))
    return GATE_KERNELS.get((name, device), _GENERIC_GATES[name])
