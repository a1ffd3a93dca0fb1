"""The Optimizer base class: PyTorch's update rules on raw arrays (subclasses in sgd.py, adam.py,
rmsprop.py, adagrad.py, lbfgs.py).

An optimizer holds parameter groups, each a dict with its ``params`` and its own hyperparameters
(``lr``, ``momentum``, ...), and updates the parameters' arrays in place::

    opt = Adam(model.parameters(), lr=2e-3)
    opt = SGD([{"params": model.rnn.parameters()}, {"params": model.head.parameters(), "lr": 0.01}],
              lr=0.1, momentum=0.9)          # two groups: the head has its own rate
    loss.backward()
    opt.step()          # p.data changes in place: the model sees the new weights
    opt.zero_grad()
    opt.param_groups[0]["lr"] = 0.05         # takes effect at the next step

Updates work on the raw arrays (``p.data`` and ``p.grad.data``), with the array module of each
parameter (NumPy or CuPy), and write into preallocated buffers (``out=``) so a step allocates
nothing after the first. The formulas follow ``torch.optim`` operation for operation, so the
same gradients give the same weights (tests hold them equal to 1e-12 in float64).

Per-parameter state (momentum buffers, Adam moments, step counts) starts on the first step that
parameter gets a gradient; a parameter whose ``.grad`` is None is skipped, as in PyTorch.

``state_dict()`` has torch's structure ``{"state": {index: {...}}, "param_groups": [...]}``
with NumPy arrays; ``flat_state_dict()`` gives the same as JSON numbers plus a flat name ->
array dict (what the CLI's pickle-free checkpoints store). ``load_state_dict`` takes either.
"""
import warnings

import numpy as np

from .. import backend
from ..function import enable_grad
from ..tensor import Tensor


def _check(value, message, low=0.0, high=None):
    """A hyperparameter in [low, high) (NaN fails), else ValueError(message) as torch words it."""
    try:
        ok = low <= value and (high is None or value < high)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(message)
    return value


def _check_eps(eps):
    """eps > 0. torch accepts 0, but then an element whose gradient is exactly zero (an
    embedding row absent from the batch) divides 0 by 0 and the parameter silently becomes NaN."""
    try:
        ok = eps > 0                      # False for NaN
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"Invalid epsilon value: {eps} (eps must be > 0: with eps = 0 a parameter whose "
                         f"gradient is exactly zero would become NaN)")
    return eps


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class _ParamState(dict):
    """Per-parameter state, indexed by the parameter itself (by identity: Tensors compare
    elementwise, so they cannot be dict keys)."""

    def __getitem__(self, p):
        return super().setdefault(id(p), {})

    def __contains__(self, p):
        return super().__contains__(id(p))

    def get(self, p, default=None):
        return super().get(id(p), default)


class Optimizer:
    """Base class: ``param_groups`` (dicts with ``params`` and hyperparameters), ``defaults``,
    per-parameter ``state``. Subclasses implement ``_update(p, grad, state, xp, group)`` on
    arrays and list their per-parameter arrays in ``buffers``."""

    buffers = ()           # per-parameter state arrays saved with the state

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors "
                            f"or dicts, but got {type(params).__name__}")
        self.defaults = dict(defaults)
        self.state = _ParamState()
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group (a dict with ``params``; missing hyperparameters take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        params = [p[1] if isinstance(p, tuple) and len(p) == 2 else p for p in params]   # named params
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "each is updated once", UserWarning, stacklevel=3)
            params = list({id(p): p for p in params}.values())
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ---- shorthands for one-group use ------------------------------------------------------
    @property
    def params(self):
        """Every parameter, group after group."""
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def lr(self):
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for g in self.param_groups:
            g["lr"] = value

    # ---- the update ------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set them to None (default, as PyTorch) or fill them with zeros."""
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (re-evaluates the
        model and returns the loss) is called first, with gradients enabled; its loss is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.data
                if grad.shape != p.data.shape:
                    raise RuntimeError(f"gradient of shape {grad.shape} for a parameter of shape {p.data.shape}")
                xp = backend.array_module(p.data)
                state = self.state[p]
                if not state:
                    self._init_state(p.data, state, xp, group)
                else:
                    _follow_device(state, p, xp)
                state["step"] = state.get("step", 0) + 1
                self._update(p.data, grad, state, xp, group)
        return loss

    def _init_state(self, data, state, xp, group):
        for name in self.buffers:
            state[name] = xp.zeros_like(data)

    def _update(self, data, grad, state, xp, group):
        raise NotImplementedError

    def _buffer_optional(self, name, group):
        """Whether a buffer may be absent from a saved state (SGD without momentum has none)."""
        return False

    def _group_of(self, index):
        """The group holding parameter ``index`` (numbered across groups)."""
        for group in self.param_groups:
            if index < len(group["params"]):
                return group
            index -= len(group["params"])
        raise IndexError(index)

    @staticmethod
    def _scratch(state, data, xp, name="_tmp"):
        """A per-parameter work array, made once and reused (not saved: names start with _)."""
        tmp = state.get(name)
        if tmp is None or tmp.shape != data.shape or tmp.dtype != data.dtype or \
                backend.array_module(tmp) is not xp:
            tmp = state[name] = xp.empty_like(data)
        return tmp

    def _signed_grad(self, state, p, g, xp, group):
        """-g when maximizing (into a scratch array: the gradient itself is never modified)."""
        if not group.get("maximize"):
            return g
        neg = self._scratch(state, p, xp, "_neg")
        xp.negative(g, out=neg)
        return neg

    def _with_weight_decay(self, p, g, state, xp, group):
        """g + weight_decay * p (into a scratch array), or g itself when there is no decay."""
        if not group["weight_decay"]:
            return g
        decayed = self._scratch(state, p, xp, "_g")
        xp.multiply(p, group["weight_decay"], out=decayed)
        decayed += g
        return decayed

    # ---- saving and restoring --------------------------------------------------------------
    def state_dict(self):
        """torch's structure: ``{"state": {i: {"step": n, buffer: array}}, "param_groups":
        [{hyperparameters..., "params": [i, ...]}]}``, parameters numbered across groups in
        order, arrays as NumPy copies."""
        state, groups, index = {}, [], 0
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = list(range(index, index + len(group["params"])))
            for i, p in zip(saved["params"], group["params"]):
                own = self.state.get(p)
                if own:
                    state[i] = {k: (backend.to_numpy(v).copy() if hasattr(v, "shape") else v)
                                for k, v in own.items() if not k.startswith("_")}
            index += len(group["params"])
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict`` (or ``flat_state_dict``, or torch's own optimizer
        ``state_dict()``) saved. Checked first: nothing changes on an error."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}")
        if "arrays" in state_dict and "steps" in state_dict:
            state_dict = _from_flat(state_dict, self)
        groups = state_dict.get("param_groups")
        if not isinstance(groups, list) or len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size "
                                 "of optimizer's group")
        by_index = {i: p for mine, theirs in zip(self.param_groups, groups)
                    for i, p in zip(theirs["params"], mine["params"])}
        new_state = {}
        for i, saved in state_dict.get("state", {}).items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"optimizer state for parameter {i}, which no group holds")
            new_state[id(p)] = {k: _to_param(v, p, k) for k, v in saved.items()}
        self.state.clear()
        self.state.update(new_state)
        for mine, theirs in zip(self.param_groups, groups):
            mine.update({k: (tuple(v) if k == "betas" else v) for k, v in theirs.items() if k != "params"})

    def flat_state_dict(self):
        """The state as JSON-friendly numbers plus ``arrays``, a flat name -> NumPy array dict
        (``"exp_avg.3"`` is parameter 3's first moment): ``{"type", "lr", "hyperparameters",
        "param_groups", "steps", "arrays"}``, the form the CLI's checkpoints store."""
        full = self.state_dict()
        arrays, steps = {}, []
        for i in range(len(self.params)):
            own = full["state"].get(i, {})
            steps.append(int(own.get("step", 0)))
            for name, value in own.items():
                if name != "step" and value is not None:
                    arrays[f"{name}.{i}"] = value
        groups = [{k: _jsonable(v) for k, v in g.items()} for g in full["param_groups"]]
        first = {k: v for k, v in groups[0].items() if k not in ("params", "lr")}
        return {"type": type(self).__name__, "lr": groups[0]["lr"], "hyperparameters": first,
                "param_groups": groups, "steps": steps, "arrays": arrays}

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _follow_device(state, p, xp):
    """Move a parameter's state to the parameter's device and dtype when the model was moved
    after the optimizer was made (``model.to("cuda")`` moves the parameters in place, not the state)."""
    for key, value in state.items():
        if hasattr(value, "shape") and value.shape == p.shape and (
                backend.array_module(value) is not xp or value.dtype != p.dtype):
            state[key] = backend.to_device(value, backend.device_of(p.data)).astype(p.dtype, copy=False)


def _to_param(value, p, name):
    """A saved state entry on p's device: arrays (or torch tensors) of p's shape in p's dtype;
    the step count as a number."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):       # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, Tensor):
        value = value.numpy()
    if name == "step":
        return int(np.asarray(value))
    if value is None:
        return None
    a = np.asarray(value)
    if a.shape != p.data.shape:
        raise ValueError(f"optimizer state {name!r} has shape {a.shape}, parameter {p.data.shape}")
    return backend.to_device(a.astype(p.data.dtype), p.device)


def _from_flat(flat, optimizer):
    """``flat_state_dict`` form (also the older one without ``param_groups``) -> torch's form."""
    kind = flat.get("type")
    if kind != type(optimizer).__name__:
        raise ValueError(f"optimizer state is for {kind}, not {type(optimizer).__name__}")
    steps, arrays = list(flat["steps"]), flat.get("arrays", {})
    if len(steps) != len(optimizer.params):
        raise ValueError(f"optimizer state has {len(steps)} parameters, this optimizer {len(optimizer.params)}")
    groups = flat.get("param_groups")
    if groups is None:       # older checkpoints: one group's numbers
        groups, index = [], 0
        for g in optimizer.param_groups:
            n = len(g["params"])
            groups.append({**flat.get("hyperparameters", {}), "lr": flat["lr"],
                           "params": list(range(index, index + n))})
            index += n
    state = {}
    for i, step in enumerate(steps):
        if not step:
            continue
        state[i] = {"step": int(step)}
        for name in optimizer.buffers:
            key = f"{name}.{i}"
            if key in arrays:
                state[i][name] = arrays[key]
            elif not optimizer._buffer_optional(name, optimizer._group_of(i)):
                raise ValueError(f"optimizer state lacks array {key!r}")
    return {"state": state, "param_groups": groups}


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value
