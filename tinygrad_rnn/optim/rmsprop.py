"""RMSprop and Adagrad, as torch.optim.RMSprop / Adagrad: per-element step sizes from a running
(RMSprop) or total (Adagrad) sum of squared gradients."""
from .adam import lerp_
from .optimizer import Optimizer, _check, _check_eps


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        a = sqrt(v - gbar^2) with gbar = lerp(gbar, g, 1 - alpha)   if centered   else sqrt(v)
        buf = momentum * buf + g / (a + eps);  p -= lr * buf          if momentum > 0
        p -= lr * g / (a + eps)                                        otherwise
    """

    buffers = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check(lr, f"Invalid learning rate: {lr}")
        _check_eps(eps)
        _check(momentum, f"Invalid momentum value: {momentum}")
        _check(weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(alpha, f"Invalid alpha value: {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _init_state(self, data, state, xp, group):
        state["square_avg"] = xp.zeros_like(data)
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(data)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(data)

    def _buffer_optional(self, name, group):
        return name != "square_avg"

    def _update(self, p, g, state, xp, group):
        alpha, eps, lr = group["alpha"], group["eps"], group["lr"]
        g = self._signed_grad(state, p, g, xp, group)
        tmp = self._scratch(state, p, xp)
        g = self._with_weight_decay(p, g, state, xp, group)
        v = state["square_avg"]
        v *= alpha                                       # v = alpha v + (1 - alpha) g g
        xp.multiply(g, 1 - alpha, out=tmp)
        tmp *= g
        v += tmp
        avg = self._scratch(state, p, xp, "_avg")
        if group["centered"]:
            gbar = state["grad_avg"]
            lerp_(xp, gbar, g, 1 - alpha, tmp)
            xp.multiply(gbar, gbar, out=avg)
            xp.subtract(v, avg, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(v, out=avg)
        avg += eps
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            xp.divide(g, avg, out=tmp)
            buf += tmp
            xp.multiply(buf, -lr, out=tmp)
        else:
            xp.multiply(g, -lr, out=tmp)
            tmp /= avg
        p += tmp


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``, step t = 1, 2, ...::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                     (s starts at initial_accumulator_value)
        p -= clr * g / (sqrt(s) + eps)
    """

    buffers = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check(lr, f"Invalid learning rate: {lr}")
        _check(lr_decay, f"Invalid lr_decay value: {lr_decay}")
        _check(weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(initial_accumulator_value, f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        _check_eps(eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))

    def _init_state(self, data, state, xp, group):
        state["sum"] = xp.full_like(data, group["initial_accumulator_value"])

    def _update(self, p, g, state, xp, group):
        g = self._signed_grad(state, p, g, xp, group)
        tmp = self._scratch(state, p, xp)
        g = self._with_weight_decay(p, g, state, xp, group)
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        xp.multiply(g, g, out=tmp)
        s += tmp
        std = self._scratch(state, p, xp, "_std")
        xp.sqrt(s, out=std)
        std += group["eps"]
        xp.multiply(g, -clr, out=tmp)
        tmp /= std
        p += tmp
