"""Optimizers (SGD, Adam, AdamW) and learning-rate schedules, with PyTorch's update rules.

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

from . import backend

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LRScheduler", "StepLR", "CosineAnnealingLR"]


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
            state["step"] += 1
            self._update(p.data, grad, state, xp)

    def _init_state(self, data, state, xp):
        for name in self.buffers:
            state[name] = xp.zeros_like(data)

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


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``::

        d = g + weight_decay * p
        buf = d                                     (first step)
        buf = momentum * buf + (1 - dampening) * d  (later steps)
        d = d + momentum * buf   if nesterov   else   d = buf
        p -= lr * d
    """

    hyperparameters = ("momentum", "dampening", "nesterov", "weight_decay")
    buffers = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = _check("momentum", momentum)
        self.dampening = _check("dampening", dampening)
        self.weight_decay = _check("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")

    def _init_state(self, data, state, xp):
        state["momentum_buffer"] = None   # made from the first gradient, as in PyTorch

    def _buffer_optional(self, name):
        return True

    def _update(self, p, g, state, xp):
        d = g                                         # the gradient itself is never modified
        if self.weight_decay:                         # d = g + weight_decay * p
            d = self._scratch(state, p, xp)
            xp.multiply(p, self.weight_decay, out=d)
            d += g
        if self.momentum:
            buf = state["momentum_buffer"]
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:                                     # buf = momentum * buf + (1 - dampening) * d
                buf *= self.momentum
                if self.dampening:
                    tmp2 = self._scratch(state, p, xp, "_tmp2")
                    xp.multiply(d, 1 - self.dampening, out=tmp2)
                    buf += tmp2
                else:
                    buf += d
            if self.nesterov:                         # d = d + momentum * buf
                tmp2 = self._scratch(state, p, xp, "_tmp2")
                xp.multiply(buf, self.momentum, out=tmp2)
                if d is g:
                    d = self._scratch(state, p, xp)
                    xp.add(g, tmp2, out=d)
                else:
                    d += tmp2
            else:
                d = buf
        # p -= lr * d   (torch: p.add_(d, alpha=-lr))
        tmp = self._scratch(state, p, xp)
        if tmp is d:
            d *= -self.lr
        else:
            xp.multiply(d, -self.lr, out=tmp)
        p += tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``, step t = 1, 2, ...::

        g = g + weight_decay * p                  (L2 penalty, coupled: use AdamW to decouple)
        m = m + (1 - beta1) * (g - m)             (= beta1 m + (1 - beta1) g)
        v = beta2 * v + (1 - beta2) * g * g
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    eps is added after the bias correction of v, exactly where PyTorch adds it.
    """

    hyperparameters = ("betas", "eps", "weight_decay")
    buffers = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        b1, b2 = betas
        self.betas = (_check("beta1", b1, high=1.0), _check("beta2", b2, high=1.0))
        self.eps = _check("eps", eps)
        self.weight_decay = _check("weight_decay", weight_decay)

    def _update(self, p, g, state, xp):
        beta1, beta2 = self.betas
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        tmp = self._scratch(state, p, xp)
        if self.weight_decay and self.decoupled:
            p *= 1 - self.lr * self.weight_decay          # AdamW: decay the weights first
        elif self.weight_decay:                           # Adam: L2 term into the gradient
            g2 = self._scratch(state, p, xp, "_g")
            xp.multiply(p, self.weight_decay, out=g2)
            g2 += g
            g = g2
        # m = lerp(m, g, 1 - beta1), in the form torch's lerp_ uses for that weight
        weight = 1 - beta1
        xp.subtract(g, m, out=tmp)
        if weight < 0.5:
            tmp *= weight
            m += tmp                                      # m + w (g - m)
        else:
            tmp *= 1 - weight
            xp.subtract(g, tmp, out=m)                    # g - (1 - w)(g - m)
        # v = beta2 * v + (1 - beta2) * g * g   (torch's addcmul_)
        v *= beta2
        xp.multiply(g, 1 - beta2, out=tmp)
        tmp *= g
        v += tmp
        bias_correction1 = 1 - beta1 ** t
        bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
        step_size = self.lr / bias_correction1
        # denom = sqrt(v) / sqrt(bc2) + eps;  p += (-step_size * m) / denom  (torch's addcdiv_)
        denom = self._scratch(state, p, xp, "_denom")
        xp.sqrt(v, out=denom)
        denom /= bias_correction2_sqrt
        denom += self.eps
        xp.multiply(m, -step_size, out=tmp)
        tmp /= denom
        p += tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:
    ``p *= 1 - lr * weight_decay`` first, then the Adam step on the plain gradient."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


# ---- learning-rate schedules -------------------------------------------------------------
class LRScheduler:
    """Sets ``optimizer.lr`` from the number of ``step()`` calls so far (``last_epoch``).

    Call ``scheduler.step()`` after ``optimizer.step()``. The rate is computed in closed form
    from ``base_lr`` and ``last_epoch``, so restoring those two restores the schedule exactly.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self.optimizer.lr = self.get_lr()

    def get_lr(self):
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()
        return self.optimizer.lr

    def get_last_lr(self):
        return self.optimizer.lr

    def state_dict(self):
        own = {k: _jsonable(v) for k, v in vars(self).items() if k != "optimizer"}
        return {"type": type(self).__name__, **own}

    def load_state_dict(self, state):
        if state.get("type") != type(self).__name__:
            raise ValueError(f"scheduler state is for {state.get('type')}, not {type(self).__name__}")
        for k, v in state.items():
            if k != "type":
                setattr(self, k, v)
        self.optimizer.lr = self.get_lr()
        return self


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (steps // step_size): decay by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size}")
        self.step_size, self.gamma = int(step_size), _check("gamma", gamma)
        super().__init__(optimizer)

    def get_lr(self):
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2 for t = 0..T_max
    (a half cosine from base_lr down to eta_min; past T_max it follows the cosine back up,
    as PyTorch's closed form does)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if int(T_max) != T_max or T_max < 1:
            raise ValueError(f"T_max must be a positive integer, got {T_max}")
        self.T_max, self.eta_min = int(T_max), _check("eta_min", eta_min)
        super().__init__(optimizer)

    def get_lr(self):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
