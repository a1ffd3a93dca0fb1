"""One-step Jacobians J_t = d s_t / d s_{t-1}: why gradients vanish or survive.

dL/dh_{t-1} = J_t^T dL/dh_t, so a product of Jacobians whose norms stay below 1 shrinks
geometrically. For a tanh RNN J_t = diag(1 - h_t^2) W_hh.
"""
import numpy as np

from .. import backend
from ..nn.modules.rnn import LSTM
from ..tensor import Tensor, cat


def _as_tensor(x, like=None):
    if isinstance(x, Tensor):
        return x
    if isinstance(like, Tensor):
        return Tensor(x, dtype=like.dtype, device=like.device)
    return Tensor(backend.to_numpy(x))


def _step_callable(cell_or_layer):
    """``step(x_t, state) -> state`` for a cell (itself), a layer or a plain function. A
    one-layer, one-direction, time-major layer is run itself on one-step sequences, so its
    ``impl`` is what gets differentiated; of a deeper layer, layer 0's forward direction
    through ``layer.step``."""
    if hasattr(cell_or_layer, "weight_ih_l0"):
        layer, lstm = cell_or_layer, isinstance(cell_or_layer, LSTM)
        if layer.num_layers == 1 and not layer.bidirectional and not layer.batch_first:
            return _one_step_of(layer, lstm)
        if lstm:
            return lambda x_t, s: layer.step(x_t, s[0], s[1])
        return lambda x_t, h: layer.step(x_t, h)[0]
    if hasattr(cell_or_layer, "weight_ih") or callable(cell_or_layer):
        return cell_or_layer
    raise TypeError(f"expected a cell, a layer or a function, got {type(cell_or_layer).__name__}")


def _one_step_of(layer, lstm):
    """step(x_t, state) running a one-layer ``layer`` on a one-step sequence (T = 1)."""
    def step(x_t, state):
        if lstm:
            _, (h, c) = layer(x_t.unsqueeze(0), (state[0].unsqueeze(0), state[1].unsqueeze(0)))
            return h[0], c[0]
        _, h = layer(x_t.unsqueeze(0), state.unsqueeze(0))
        return h[0]
    return step


def step_jacobians(cell_or_layer, x, h0):
    """The exact Jacobians J_t = d s_t / d s_{t-1} along one sequence, by autograd.

    ``cell_or_layer``: a cell (``nn.RNNCell``, ``LSTMCell``, ``GRUCell``), a layer
    (``nn.RNN``/``LSTM``/``GRU``; see ``_step_callable`` for which step is used) or a function
    ``step(x_t, state) -> state``. ``x``: (T, I) or (T, 1, I); ``h0``: (H,) or (1, H), or the
    pair (h0, c0) for an LSTM. The state s is h, or [h; c] for an LSTM (its Jacobian is
    (Hout + H) x (Hout + H): the cell state is half of what carries the gradient back).

    How: one backward per step, exact. The state is copied into n rows (n = state size) and the
    step is run on that batch of identical rows; seeding the backward with the identity, row i
    of the state's gradient is d s_t[i] / d s_{t-1}, i.e. row i of J_t (batch rows never mix in
    a recurrent cell). Returns a NumPy array (T, n, n).
    """
    step = _step_callable(cell_or_layer)
    like = next(iter(cell_or_layer.parameters()), None) if hasattr(cell_or_layer, "parameters") else None
    x = _as_tensor(x, like)
    if x.ndim == 2:
        x = x.reshape(x.shape[0], 1, x.shape[1])
    if x.shape[1] != 1:
        raise ValueError(f"step_jacobians follows one sequence: x must be (T, I) or (T, 1, I), got {x.shape}")
    pair = isinstance(h0, (tuple, list))          # (h0, c0): an LSTM's state
    state = tuple(_as_tensor(s, x).reshape(1, -1).detach() for s in (h0 if pair else (h0,)))
    xp = backend.array_module(x.data)
    n = sum(s.shape[1] for s in state)
    jacobians = []
    for t in range(x.shape[0]):
        x_t = Tensor(xp.repeat(x.data[t], n, axis=0))
        prev = tuple(Tensor(xp.repeat(s.data, n, axis=0), requires_grad=True) for s in state)
        new = step(x_t, prev if pair else prev[0])
        new = tuple(new) if pair else (new,)
        out = new[0] if len(new) == 1 else cat(list(new), axis=1)
        out.backward(xp.eye(n, dtype=out.dtype))
        rows = [p.grad.data if p.grad is not None else xp.zeros(p.shape, dtype=p.dtype) for p in prev]
        jacobians.append(backend.to_numpy(xp.concatenate(rows, axis=1)))
        state = tuple(s[0:1].detach() for s in new)
    return np.stack(jacobians)


def step_jacobian_norms(cell_or_layer, x, h0, ord="spectral"):
    """||d s_t / d s_{t-1}|| at each step t (T,), from ``step_jacobians`` (same arguments).

    ``ord="spectral"`` (default): the largest singular value, the most a step can stretch a
    gradient; ``"fro"``: the Frobenius norm (an upper bound of the spectral norm, cheaper to
    explain: the root of the sum of squared partial derivatives)."""
    if ord not in ("spectral", "fro"):
        raise ValueError(f"ord must be 'spectral' or 'fro', got {ord!r}")
    J = step_jacobians(cell_or_layer, x, h0)
    return np.array([np.linalg.norm(j, 2 if ord == "spectral" else "fro") for j in J])
