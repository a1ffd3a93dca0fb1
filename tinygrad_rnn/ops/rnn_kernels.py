"""Raw-array kernels of the fast recurrent path: LSTM, GRU and Elman RNN forward + BPTT.

Pure functions on NumPy or CuPy arrays (the array module ``xp`` is taken from the inputs); the
autograd ``Function`` wrappers are in ``rnn_fused``. Conventions are PyTorch's ``nn.LSTM/GRU/RNN``
for one layer and one direction, time-major:

    x (T, B, I)   w_ih (G*H, I)   w_hh (G*H, Hout)   b_ih, b_hh (G*H,) or None   h0 (B, Hout)
    LSTM: gates i, f, g, o (G = 4), c0 (B, H), optional projection w_hr (P, H) making Hout = P
    GRU:  gates r, z, n (G = 3), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1-z) n + z h
    RNN:  G = 1, h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu

Why this is fast: only GEMMs cost anything. The input projection of all T steps is ONE matmul;
each step does one recurrent matmul, by a contiguous W_hh^T made once per sequence (a transposed
view is 1.3-3.5x slower per step with OpenBLAS), plus the in-place gate math of ``rnn_gates``
(no temporaries). BPTT first computes the gradient-independent factors of all steps at once,
so a step is a few multiplies and one matmul; the weight gradients are one matmul per weight.

``lengths`` (B,), a host (NumPy) array, marks steps t >= lengths[b] as padding: y[t, b] is zero,
the state is carried unchanged (so h_n is the state at the last real step) and padding adds
nothing to any gradient. Padding values of x must be finite (they meet zero gradients).

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
import warnings

import numpy as np

from .._validation import step_mask
from ..backend import array_module, to_numpy
from .rnn_gates import (  # noqa: F401 (the gate functions are part of this module's API)
    gru_backward_factors, gru_gates_backward, gru_gates_forward, lstm_backward_factors,
    lstm_gates_backward, lstm_gates_forward, rnn_activation_backward, rnn_activation_forward)


# ----------------------------------------------------------------------------- shared helpers


def _part(a, start, stop):
    """a[start:stop] along time, passing None through (absent dy, mask or trace)."""
    return None if a is None else a[start:stop]


def _valid_mask(xp, lengths, T, B):
    """(T, B, 1) bool, True where step t is a real step of sequence b; None without lengths,
    so that full batches pay nothing for masking. Checked and built on the host (lengths are
    host arrays): no device synchronisation, one transfer."""
    if lengths is None:
        return None
    lengths = np.asarray(to_numpy(lengths))
    if lengths.shape != (B,) or lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths must be {B} integers in [1, {T}], got {lengths}")
    return xp.asarray(step_mask(lengths, T)[:, :, None])


def _segments(T, checkpoint):
    """(start, stop) of the step ranges back-propagated one at a time: K steps each, or all T."""
    K = checkpoint if checkpoint > 0 else T
    return [(start, min(start + K, T)) for start in range(0, T, K)]


def _transposed(xp, w):
    """A contiguous copy of w.T, made once per sequence for the per-step matmuls."""
    return None if w is None else xp.ascontiguousarray(w.T)


def _input_projection(x, w_ih, *biases):
    """W_ih x_t + biases for all steps in ONE (T*B, I) @ (I, G*H) matmul, as (T, B, G*H)."""
    T, B, I = x.shape
    out = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, -1)
    for bias in biases:
        if bias is not None:
            out += bias
    return out


def _weight_grads(x, h_prev, x_blocks, dgates_h, w_ih, b_ih, b_hh):
    """dx and the weight gradients of a whole segment, one big matmul each.

    x_blocks: column blocks (L*B, k) of the gate gradients that together (in order) are
    dL/d(W_ih x_t + b_ih): the whole gradient, except for the GRU, whose r scales only the
    recurrent part of n. dgates_h (L*B, G*H): dL/d(W_hh h_{t-1} + b_hh)."""
    L, B, I = x.shape
    xp = array_module(x)
    X = x.reshape(L * B, I)
    rows = np.cumsum([0] + [g.shape[1] for g in x_blocks])
    dx = x_blocks[0] @ w_ih[:rows[1]]
    for g, start, stop in zip(x_blocks[1:], rows[1:], rows[2:]):
        dx += g @ w_ih[start:stop]
    cat = (lambda parts: parts[0]) if len(x_blocks) == 1 else xp.concatenate
    grads = {"w_ih": cat([g.T @ X for g in x_blocks]), "w_hh": dgates_h.T @ h_prev.reshape(L * B, -1)}
    if b_ih is not None:
        grads["b_ih"] = cat([g.sum(axis=0) for g in x_blocks])
    if b_hh is not None:
        same = b_ih is not None and dgates_h is x_blocks[0]   # LSTM/RNN: one sum serves both biases
        grads["b_hh"] = grads["b_ih"].copy() if same else dgates_h.sum(axis=0)
    return dx.reshape(L, B, I), grads


# ----------------------------------------------------------------------------- shared drivers


def _forward(scan, x, state0, params, lengths, checkpoint):
    """Run ``scan`` over the whole sequence, or K steps at a time keeping only each segment's
    entering state (checkpointing). Returns y, the final state dict and the cache."""
    if checkpoint < 0:
        raise ValueError(f"checkpoint must be 0 (off) or a segment length K > 0, got {checkpoint}")
    xp = array_module(x)
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
    xp = array_module(x)
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


def _lstm_scan(x, h, c, valid, w_ih, w_hh, b_ih, b_hh, w_hr):
    """Run the LSTM over the steps of x from state (h, c); returns the buffers BPTT needs."""
    xp = array_module(x)
    L, B, _ = x.shape
    H = c.shape[-1]
    gates = _input_projection(x, w_ih, b_ih, b_hh)       # each step adds W_hh h, then activates
    hs = xp.empty((L + 1,) + h.shape, dtype=x.dtype)
    cs = xp.empty((L + 1,) + c.shape, dtype=x.dtype)
    hs[0], cs[0] = h, c
    recurrent = xp.empty((B, 4 * H), dtype=x.dtype)
    w_hh_t, w_hr_t = _transposed(xp, w_hh), _transposed(xp, w_hr)
    m = None if w_hr is None else xp.empty((B, H), dtype=x.dtype)
    pad = None if valid is None else ~valid
    step = gate_kernel("lstm_gates_forward", xp)
    for t in range(L):
        xp.matmul(hs[t], w_hh_t, out=recurrent)
        if w_hr is None:
            step(xp, gates[t], recurrent, cs[t], cs[t + 1], hs[t + 1])
        else:
            step(xp, gates[t], recurrent, cs[t], cs[t + 1], m)
            xp.matmul(m, w_hr_t, out=hs[t + 1])
        if pad is not None:                              # finished sequences keep their state
            xp.copyto(cs[t + 1], cs[t], where=pad[t])
            xp.copyto(hs[t + 1], hs[t], where=pad[t])
    return {"gates": gates, "c": cs, "h": hs}


def _lstm_bptt(x, saved, dy, dstate, valid, dh_steps, w_ih, w_hh, b_ih, b_hh, w_hr):
    """BPTT through one segment (last step first), then its weight gradients in big matmuls."""
    xp = array_module(x)
    gates, cs, hs = saved["gates"], saved["c"], saved["h"]
    L, B, _ = x.shape
    H = cs.shape[-1]
    dh, dc = dstate["h"], dstate["c"]
    if w_hr is not None and dh_steps is None:
        dh_steps = xp.empty((L,) + dh.shape, dtype=x.dtype)   # dW_hr needs every dL/dh_t
    m = None if w_hr is None else gates[..., 3 * H:] * xp.tanh(cs[1:])   # rebuilt, not stored
    dgates = xp.empty_like(gates)
    a = lstm_backward_factors(xp, gates, cs, valid, dgates)
    dh_prev, dc_prev = xp.empty_like(dh), xp.empty_like(dc)
    dm = None if w_hr is None else xp.empty((B, H), dtype=x.dtype)
    pad = None if valid is None else ~valid
    step = gate_kernel("lstm_gates_backward", xp)
    for t in reversed(range(L)):
        dy_t = None if dy is None else dy[t]             # the step adds it to dh (one GPU kernel)
        if w_hr is not None:                             # ... unless the projection comes first
            if dy_t is not None:
                dh += dy_t
            xp.matmul(dh, w_hr, out=dm)
        step(xp, gates[t], a[t], dh if w_hr is None else dm, dy_t if w_hr is None else None,
             dc, dgates[t], dc_prev)
        if dh_steps is not None:
            dh_steps[t] = dh
        if pad is not None:                              # a padded step passes gradients through
            xp.copyto(dc_prev, dc, where=pad[t])
        xp.matmul(dgates[t], w_hh, out=dh_prev)
        if pad is not None:
            xp.copyto(dh_prev, dh, where=pad[t])
        dh, dh_prev = dh_prev, dh
        dc, dc_prev = dc_prev, dc
    g = dgates.reshape(L * B, 4 * H)
    dx, grads = _weight_grads(x, hs[:-1], [g], g, w_ih, b_ih, b_hh)
    if w_hr is not None:
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


def _gru_scan(x, h, valid, w_ih, w_hh, b_ih, b_hh):
    """Run the GRU over the steps of x from state h; returns the buffers BPTT needs."""
    xp = array_module(x)
    L, B, _ = x.shape
    H = h.shape[-1]
    x_part = _input_projection(x, w_ih, b_ih)
    if b_hh is not None:
        x_part[..., :2 * H] += b_hh[:2 * H]              # b_hr, b_hz add like b_ih; b_hn is scaled by r
    b_hn = xp.zeros(H, dtype=x.dtype) if b_hh is None else b_hh[2 * H:]
    gates = xp.empty((L, B, 4 * H), dtype=x.dtype)
    hs = xp.empty((L + 1,) + h.shape, dtype=x.dtype)
    hs[0] = h
    h_part = xp.empty((B, 3 * H), dtype=x.dtype)
    w_hh_t = _transposed(xp, w_hh)
    pad = None if valid is None else ~valid
    step = gate_kernel("gru_gates_forward", xp)
    for t in range(L):
        xp.matmul(hs[t], w_hh_t, out=h_part)
        step(xp, x_part[t], h_part, b_hn, hs[t], gates[t], hs[t + 1])
        if pad is not None:
            xp.copyto(hs[t + 1], hs[t], where=pad[t])
    return {"gates": gates, "h": hs}


def _gru_bptt(x, saved, dy, dstate, valid, dh_steps, w_ih, w_hh, b_ih, b_hh):
    """BPTT through one segment (last step first), then its weight gradients in big matmuls."""
    xp = array_module(x)
    gates, hs = saved["gates"], saved["h"]
    L, B, _ = x.shape
    H = hs.shape[-1]
    dh = dstate["h"]
    dgates = xp.empty_like(gates)
    gru_backward_factors(xp, gates, hs, valid, dgates)
    dh_prev, recurrent = xp.empty_like(dh), xp.zeros_like(dh)
    pad = None if valid is None else ~valid
    step = gate_kernel("gru_gates_backward", xp)
    for t in reversed(range(L)):
        # dL/dh_t = dh (direct path) + recurrent (via W_hh) + dy_t, summed inside the step
        step(xp, gates[t], dh, recurrent, None if dy is None else dy[t], dgates[t], dh_prev)
        if dh_steps is not None:
            dh_steps[t] = dh
        xp.matmul(dgates[t][:, :3 * H], w_hh, out=recurrent)   # rows of padded steps are zero
        if pad is not None:
            xp.copyto(dh_prev, dh, where=pad[t])
        dh, dh_prev = dh_prev, dh
    dh += recurrent                                      # dL/dh_0 gets its W_hh path too
    g = dgates.reshape(L * B, 4 * H)                     # no copy: the x-side blocks are views
    dx, grads = _weight_grads(x, hs[:-1], [g[:, :2 * H], g[:, 3 * H:]], g[:, :3 * H], w_ih, b_ih, b_hh)
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


def _rnn_scan(x, h, valid, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    """Run the RNN over the steps of x from state h; the states are all BPTT needs."""
    xp = array_module(x)
    L = x.shape[0]
    hs = xp.empty((L + 1,) + h.shape, dtype=x.dtype)
    hs[0] = h
    hs[1:] = _input_projection(x, w_ih, b_ih, b_hh)      # each step adds W_hh h, then activates
    recurrent = xp.empty_like(h, dtype=x.dtype)
    w_hh_t = _transposed(xp, w_hh)
    pad = None if valid is None else ~valid
    step = gate_kernel("rnn_activation_forward", xp)
    for t in range(L):
        xp.matmul(hs[t], w_hh_t, out=recurrent)
        step(xp, hs[t + 1], recurrent, nonlinearity)
        if pad is not None:
            xp.copyto(hs[t + 1], hs[t], where=pad[t])
    return {"h": hs}


def _rnn_bptt(x, saved, dy, dstate, valid, dh_steps, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    """BPTT through one segment (last step first), then its weight gradients in big matmuls."""
    xp = array_module(x)
    hs = saved["h"]
    L, B, _ = x.shape
    dh = dstate["h"]
    dpre = xp.empty((L,) + dh.shape, dtype=x.dtype)
    rnn_activation_backward(xp, hs[1:], valid, dpre, nonlinearity)
    dh_prev = xp.empty_like(dh)
    pad = None if valid is None else ~valid
    for t in reversed(range(L)):
        if dy is not None:
            dh += dy[t]
        if dh_steps is not None:
            dh_steps[t] = dh
        dpre[t] *= dh
        xp.matmul(dpre[t], w_hh, out=dh_prev)
        if pad is not None:
            xp.copyto(dh_prev, dh, where=pad[t])
        dh, dh_prev = dh_prev, dh
    g = dpre.reshape(L * B, -1)
    dx, grads = _weight_grads(x, hs[:-1], [g], g, w_ih, b_ih, b_hh)
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
("lstm_gates_forward", "cuda") -> a callable with the generic function's arguments.
``gate_kernel`` fills the CUDA entries on the first CuPy sequence by compiling
``cuda_kernels``; anything not registered falls back to the generic xp functions above."""

_GENERIC_GATES = {f.__name__: f for f in (
    lstm_gates_forward, lstm_gates_backward, gru_gates_forward, gru_gates_backward,
    rnn_activation_forward)}


def gate_kernel(name, xp):
    """The gate function ``name`` for arrays of ``xp``: registered fused kernel, else generic.
    Looked up once per sequence, not per step. If the CUDA kernels fail to compile, the
    generic code runs instead (a warning says so, once)."""
    device = "cuda" if xp.__name__ == "cupy" else "cpu"
    if device == "cuda" and not any(key[1] == "cuda" for key in GATE_KERNELS):
        from . import cuda_kernels        # first CuPy sequence: compile the fused kernels once
        try:
            GATE_KERNELS.update(cuda_kernels.build(xp))
        except Exception as error:        # a broken toolkit must not stop training
            warnings.warn(f"compiling the fused CUDA gate kernels failed ({type(error).__name__}: "
                          f"{error}); using the generic gate code", RuntimeWarning, stacklevel=2)
            GATE_KERNELS[("compile failed", "cuda")] = None    # do not retry every sequence
    return GATE_KERNELS.get((name, device), _GENERIC_GATES[name])
