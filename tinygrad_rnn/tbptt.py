"""Truncated backpropagation through time (TBPTT), with separate forward stride and backward length.

Full BPTT over a long text would keep the graph of every step since the beginning. TBPTT(k1, k2)
(Williams & Peng, 1990; Sutskever, 2013) instead, every ``k1`` steps, back-propagates the losses
of those ``k1`` steps through the last ``k2`` steps only (k2 >= k1), and treats the hidden state
from before that as a constant::

    time  0         k1        2k1       3k1       4k1 = T
          |---------|---------|---------|---------|      one chunk of T steps
    w=0   [=========]                                    losses of (0, k1] -> backward
    w=1        [====:=========]                          losses of (k1, 2k1], graph back to 2k1-k2
    w=2                  [====:=========]                ...
                         ^    ^         ^
                         |    |         backward from here
                         |    losses counted from here (each step's loss exactly once)
                         state detached here: t - k2; [t - k2, t] is re-run with a graph
                         (a short last window starts where a full one would: a + k1 - k2)

With ``k1 == k2`` (the usual choice, and what the training loop does with k1 = k2 = seq_len)
the windows do not overlap and nothing is recomputed: run k1 steps, backward, detach, go on.
With ``k2 > k1`` the overlapping ``k2 - k1`` steps are run again from the detached state at
``t - k2`` (one extra forward per window, never an extra stored graph), so the forward costs
about ``k2 / k1`` times a plain forward. With ``k1 = k2 = T`` it is exactly full BPTT.

The chunk's incoming ``state`` is a constant (the caller's, detached), so windows do not reach
back into the previous chunk; to get TBPTT(k1, k2) over a whole stream with k2 > k1 pass the
stream (or long chunks) in one call.

Contract:

- ``model(inputs_slice, state) -> (outputs, new_state)``; state is None, a Tensor, or a
  tuple of Tensors (LSTM's ``(h, c)``); inputs and outputs have time on ``time_axis``
  (1 = batch-first, as ``CharLM``).
- ``loss_fn(outputs_slice, targets_slice) -> scalar Tensor``: the MEAN loss over the slice's
  time steps (and batch). Each window's loss is weighted by its share of the chunk's steps,
  so the gradient is that of the chunk's mean loss, truncated.
- Gradients accumulate into ``.grad`` over the windows (call ``zero_grad`` before). To update
  the weights after every window, as in on-line TBPTT, pass ``on_backward`` (e.g. a function
  that clips, steps and zeroes the optimizer).
- Dropout in training mode draws new masks when a step is recomputed (k2 > k1).
"""
__all__ = ["tbptt_step", "TBPTT", "detach_state"]


def detach_state(state):
    """The same state cut from the graph: a Tensor, a tuple/list of them (LSTM's (h, c)), or None."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state.detach()


def _take(x, start, stop, axis):
    """x[start:stop] along ``axis`` (a Tensor or an array)."""
    if start == 0 and stop == x.shape[axis]:
        return x
    index = (slice(None),) * axis + (slice(start, stop),)
    return x[index]


def _windows(T, k1, k2):
    """(recompute start r, loss start a, end t) for each window: the losses of steps [a, t)
    go back to the state at r = max(0, a - (k2 - k1)), which is t - k2 for a full window (a
    short last window starts its graph as a full one would: with k1 == k2, at its own start)."""
    out, a = [], 0
    while a < T:
        t = min(a + k1, T)
        out.append((max(0, a - (k2 - k1)), a, t))
        a = t
    return out


def tbptt_step(model, loss_fn, inputs, targets, state=None, k1=None, k2=None, time_axis=1, on_backward=None):
    """Run ``model`` over one chunk with TBPTT(k1, k2); returns ``(loss, state)``.

    ``loss`` is the chunk's mean loss (a float); ``state`` the state after the chunk's last
    step, detached, ready to be passed with the next chunk. ``k1`` (forward stride, losses
    back-propagated together) defaults to the chunk length, ``k2`` (backward length) to ``k1``;
    1 <= k1 <= k2. See the module docstring for the picture.
    """
    T = inputs.shape[time_axis]
    if targets.shape[time_axis] != T:
        raise ValueError(f"inputs have {T} time steps but targets {targets.shape[time_axis]}")
    if T < 1:
        raise ValueError("tbptt_step needs at least one time step")
    k1 = T if k1 is None else k1
    k2 = k1 if k2 is None else k2
    for name, k in (("k1", k1), ("k2", k2)):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{name} must be a positive integer, got {k!r}")
    if k2 < k1:
        raise ValueError(f"k2 (backward length, {k2}) must be >= k1 (forward stride, {k1}): otherwise the "
                         f"losses of the first k1 - k2 steps of each window would reach no weight")
    windows = _windows(T, k1, k2)
    start_state = detach_state(state)     # state at the window's recompute point r, a constant
    total = 0.0
    for w, (r, a, t) in enumerate(windows):
        # r_next: where the next window's graph will start; its state is saved (detached) on the way
        r_next = windows[w + 1][0] if w + 1 < len(windows) else t
        s, loss = start_state, 0
        for lo, hi in ((r, r_next), (r_next, t)):   # two pieces: [r, r_next) and [r_next, t)
            if hi > lo:
                out, s = model(_take(inputs, lo, hi, time_axis), s)
                first = max(a, lo)                  # this piece's steps whose loss counts here
                if first < hi:
                    piece = loss_fn(_take(out, first - lo, hi - lo, time_axis), _take(targets, first, hi, time_axis))
                    loss = loss + piece * ((hi - first) / T)
            if hi == r_next:
                start_state = detach_state(s)
        loss.backward()
        total += float(loss.item())
        if on_backward is not None:
            on_backward()
    return total, detach_state(s)


class TBPTT:
    """``tbptt_step`` with the carried state kept for you: call it chunk after chunk.

        step = TBPTT(model, loss_fn, k1=32, k2=64)
        for inputs, targets in batches:
            optimizer.zero_grad()
            loss = step(inputs, targets)
            optimizer.step()
        step.reset()          # new text / epoch: start again from the zero state
    """

    def __init__(self, model, loss_fn, k1=None, k2=None, time_axis=1, on_backward=None):
        self.model, self.loss_fn, self.k1, self.k2 = model, loss_fn, k1, k2
        self.time_axis, self.on_backward, self.state = time_axis, on_backward, None

    def reset(self):
        self.state = None

    def __call__(self, inputs, targets):
        loss, self.state = tbptt_step(self.model, self.loss_fn, inputs, targets, self.state, self.k1, self.k2,
                                      self.time_axis, self.on_backward)
        return loss
