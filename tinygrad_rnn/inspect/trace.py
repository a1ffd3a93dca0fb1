"""dL/dh_t at every step of every layer and direction, read from the layer's own computation.

Two readings, held equal by tests/test_inspect.py:

- ``"unroll"``: ``layer.unroll(x, on_step=...)`` runs the layer's own Python loop over time
  (the composite step, or the cell op for impl="cell") and shows each new state h_t to an
  observer, which calls ``retain_grad()`` on it; backward then leaves dL/dh_t in ``h_t.grad``.
- ``"fused"``: the fused layers (impl="fused", the default) compute dL/dh_t in their
  hand-written BPTT loop anyway and store it when ``layer.trace`` is a dict.

Both record in the order a direction reads the sequence; the result is put in time order here,
in one place, so the two cannot disagree on what entry t means.
"""
import numpy as np

from .. import backend
from .._validation import check_lengths, step_mask

METHODS = ("auto", "unroll", "fused")


def trace_hidden_grads(layer, x, loss_fn, hx=None, lengths=None, method="auto"):
    """The gradient dL/dh_t reaching every hidden state of every layer and direction.

    ``loss_fn(output) -> scalar Tensor`` receives what ``layer(x, hx)`` returns: ``(y, h_n)``,
    or ``(y, (h_n, c_n))`` for an LSTM. dL/dh_t is the *total* gradient of the state after step
    t: from the output y_t (and the layers above) plus from step t+1 (and from h_n at t = T).

    ``method``: ``"unroll"`` (any impl: the layer's loop with ``retain_grad()`` on every h_t),
    ``"fused"`` (impl="fused" only: the kernel's own record; raises otherwise) or ``"auto"``
    (``"fused"`` where the layer offers it, else ``"unroll"``).

    Returns a dict: ``"dh"`` {key: (T, B, Hout) NumPy array of dL/dh_t}, ``"dh_norm"`` {key:
    (T, B) array of ||dL/dh_t||}, ``"loss"`` (float) and ``"method"`` (the one used); keys are
    ``"l0"``, ``"l0_reverse"``, ``"l1"``, ... (PyTorch's parameter suffixes). Time runs along
    axis 0 in every direction (entry t is the state after reading x_t); dL/dh_t is 0 at padded
    steps (t >= lengths[b]). Parameter gradients are accumulated as a normal backward would.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not hasattr(layer, "unroll"):
        raise TypeError(f"{type(layer).__name__} is not an nn.RNN, nn.LSTM or nn.GRU layer")
    fused = getattr(layer, "impl", None) == "fused"
    if method == "fused" and not fused:
        raise NotImplementedError(f"{type(layer).__name__} with impl={layer.impl!r} keeps no per-step "
                                  f"record (only impl='fused' does); use method='unroll'")
    run = _run_fused if method == "fused" or (method == "auto" and fused) else _run_unroll
    record, loss, y = run(layer, x, loss_fn, hx, lengths)
    if y.ndim == 2:                                     # unbatched (T, D*Hout)
        T, B = y.shape[0], 1
    else:
        T, B = (y.shape[1], y.shape[0]) if layer.batch_first else y.shape[:2]
    lengths = check_lengths(lengths, T, B)
    dh = {}
    for k in range(layer.num_layers):
        for d in range(layer.num_directions):
            steps = record.get((k, d))
            g = np.zeros((T, B, layer.output_size), dtype=y.dtype) if steps is None else backend.to_numpy(steps)
            dh[f"l{k}" + ("_reverse" if d else "")] = _time_order(g.reshape(T, B, -1), d, lengths)
    return {"dh": dh, "dh_norm": {key: np.linalg.norm(g, axis=-1) for key, g in dh.items()},
            "loss": float(loss.item()), "method": "fused" if run is _run_fused else "unroll"}


def _run_unroll(layer, x, loss_fn, hx, lengths):
    """Run ``layer.unroll`` with an observer that retains every h_t; {(k, d): (T, B, Hout)}."""
    states = {}

    def keep(k, d, t, h, c):
        if h.requires_grad:
            h.retain_grad()
        states.setdefault((k, d), []).append(h)

    output = layer.unroll(x, hx, lengths=lengths, on_step=keep)
    loss = loss_fn(output)
    loss.backward()
    record = {key: np.stack([backend.to_numpy(h.grad.data) if h.grad is not None
                             else np.zeros(h.shape, dtype=h.dtype) for h in hs])
              for key, hs in states.items()}
    return record, loss, output[0]


def _run_fused(layer, x, loss_fn, hx, lengths):
    """Run the layer itself with ``layer.trace = {}``; {(k, d): (T, B, Hout)} from its backward."""
    previous, layer.trace = layer.trace, {}
    try:
        output = layer(x, hx, lengths=lengths)
        loss = loss_fn(output)
        loss.backward()
        record = {key: entry["dh"] for key, entry in layer.trace.items() if entry.get("dh") is not None}
    finally:
        layer.trace = previous
    return record, loss, output[0]


def _time_order(dh, direction, lengths):
    """dL/dh_t (T, B, H) from reading order to time order (the reverse direction reads each
    sequence backwards from its last real step), with padded steps set to 0."""
    dh = np.array(dh, copy=True)
    if lengths is None:
        return dh[::-1].copy() if direction == 1 else dh
    if direction == 1:
        for b, n in enumerate(lengths.tolist()):
            dh[:n, b] = dh[:n, b][::-1].copy()
    dh[~step_mask(lengths, dh.shape[0])] = 0
    return dh
