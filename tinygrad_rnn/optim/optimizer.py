"""The Optimizer base class: PyTorch's update rules on raw arrays (subclasses in sgd.py, adam.py).

An optimizer holds a list of parameters and updates their arrays in place::

    opt = Adam(model.parameters(), lr=2e-3)
    loss.backward()
    opt.step()          # p.data changes in place: the model sees the new weights
    opt.zero_grad()

Updates work on the raw arrays (``p.data`` and ``p.grad.data``), with the array module of each
parameter (NumPy or CuPy), and write into preallocated buffers (``out=``) so a step allocates
nothing after the first: for a model of a few million weights the update is a handful of
memory passes, not a graph. The formulas follow ``torch.optim`` operation for operation, so the
same gradients give the same weights (tests hold them equal to 1e-12 in float64).

Per-parameter state (momentum buffers, Adam moments, step counts) starts on the first step that
parameter gets a gradient; a parameter whose ``.grad`` is None is skipped, as in PyTorch.

``state_dict()`` gives the state as NumPy arrays and plain numbers (npz/JSON-friendly, see
``tinygrad_rnn.checkpoint``); ``load_state_dict()`` puts it back on the parameters' devices,
so a resumed run makes exactly the same updates.
"""
import math

import numpy as np

from .. import backend

def _check(name, value, high=None):
    """A finite hyperparameter >= 0 (and < ``high`` when given), else a ValueError naming it."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (high is not None and value >= high):
        where = f"in [0, {high})" if high is not None else "finite and >= 0"
        raise ValueError(f"{name} must be {where}, got {value}")
    return value


class Optimizer:
    """Base class: ``params`` (a list of Parameters), ``lr``, per-parameter ``state``.

    Subclasses list their hyperparameters in ``hyperparameters`` (saved in ``state_dict``) and
    their per-parameter arrays in ``buffers``, and implement ``_update(p, grad, state, xp)``.
    """

    hyperparameters = ()   # attribute names saved with the state
    buffers = ()           # per-parameter state arrays saved with the state

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not getattr(p, "requires_grad", False):
                raise ValueError("optimizer got a tensor that does not require grad")
        if len(set(map(id, self.params))) != len(self.params):
            raise ValueError("optimizer got the same parameter twice")
        self.lr = _check("lr", lr)
        self.state = [dict() for _ in self.params]   # per parameter: "step" and buffers

    def zero_grad(self):
        """Forget the gradients (set to None: the next backward writes fresh arrays)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """One update of every parameter that has a gradient."""
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            grad = p.grad.data
            if grad.shape != p.data.shape:
                raise RuntimeError(f"gradient of shape {grad.shape} for a parameter of shape {p.data.shape}")
            xp = backend.array_module(p.data)
            if not state:
                state["step"] = 0
                self._init_state(p.data, state, xp)
            else:
                self._follow(p.data, state, xp)
            state["step"] += 1
            self._update(p.data, grad, state, xp)

    def _init_state(self, data, state, xp):
        for name in self.buffers:
            state[name] = xp.zeros_like(data)

    def _follow(self, data, state, xp):
        """Keep the buffers on the parameter's device and dtype (after ``Module.to``)."""
        for name in self.buffers:
            buf = state.get(name)
            if buf is not None and (backend.array_module(buf) is not xp or buf.dtype != data.dtype):
                state[name] = backend.to_device(buf, backend.device_of(data)).astype(data.dtype, copy=False)

    def _update(self, data, grad, state, xp):
        raise NotImplementedError

    @staticmethod
    def _scratch(state, data, xp, name="_tmp"):
        """A per-parameter work array, made once and reused (not saved: names start with _)."""
        tmp = state.get(name)
        if tmp is None or tmp.shape != data.shape or tmp.dtype != data.dtype or \
                backend.array_module(tmp) is not xp:
            tmp = state[name] = xp.empty_like(data)
        return tmp

    # ---- saving and restoring --------------------------------------------------------------
    def state_dict(self):
        """``{"type", "lr", "hyperparameters", "steps", "arrays"}``: numbers, a list of
        per-parameter step counts (0 = not started) and ``arrays``, a flat name -> NumPy array
        dict (``"exp_avg.3"`` is parameter 3's first moment). JSON + npz friendly."""
        arrays, steps = {}, []
        for i, state in enumerate(self.state):
            steps.append(int(state.get("step", 0)))
            for name in self.buffers:
                if name in state and state[name] is not None:
                    arrays[f"{name}.{i}"] = backend.to_numpy(state[name]).copy()
        return {"type": type(self).__name__, "lr": self.lr,
                "hyperparameters": {k: _jsonable(getattr(self, k)) for k in self.hyperparameters},
                "steps": steps, "arrays": arrays}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict`` saved (checked first: nothing changes on an error)."""
        kind = state_dict.get("type")
        if kind != type(self).__name__:
            raise ValueError(f"optimizer state is for {kind}, not {type(self).__name__}")
        steps = list(state_dict["steps"])
        if len(steps) != len(self.params):
            raise ValueError(f"optimizer state has {len(steps)} parameters, this optimizer {len(self.params)}")
        arrays = state_dict.get("arrays", {})
        new_state = []
        for i, (p, step) in enumerate(zip(self.params, steps)):
            state = {}
            if step:
                state["step"] = int(step)
                for name in self.buffers:
                    key = f"{name}.{i}"
                    if key not in arrays:
                        if self._buffer_optional(name):
                            state[name] = None
                            continue
                        raise ValueError(f"optimizer state lacks array {key!r}")
                    a = np.asarray(arrays[key])
                    if a.shape != p.data.shape:
                        raise ValueError(f"optimizer state {key!r} has shape {a.shape}, parameter {p.data.shape}")
                    state[name] = backend.to_device(a.astype(p.data.dtype), p.device)
            new_state.append(state)
        self.state = new_state
        self.lr = float(state_dict["lr"])
        for k, v in state_dict.get("hyperparameters", {}).items():
            if k in self.hyperparameters:
                setattr(self, k, tuple(v) if isinstance(v, list) else v)
        return self

    def _buffer_optional(self, name):
        return False

    def __repr__(self):
        hp = ", ".join(f"{k}={getattr(self, k)}" for k in self.hyperparameters)
        return f"{type(self).__name__}(lr={self.lr}, {hp})"


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value
