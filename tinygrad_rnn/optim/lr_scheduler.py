"""Learning-rate schedules, as torch.optim.lr_scheduler."""
import math

from .optimizer import _check, _jsonable


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
