"""SGD with momentum, dampening, Nesterov and weight decay, as torch.optim.SGD."""
from .optimizer import Optimizer, _check


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``::

        d = g + weight_decay * p                    (g = -grad when maximize)
        buf = d                                     (first step)
        buf = momentum * buf + (1 - dampening) * d  (later steps)
        d = d + momentum * buf   if nesterov   else   d = buf
        p -= lr * d
    """

    buffers = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check(lr, f"Invalid learning rate: {lr}")
        _check(momentum, f"Invalid momentum value: {momentum}")
        _check(weight_decay, f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _init_state(self, data, state, xp, group):
        state["momentum_buffer"] = None   # made from the first gradient, as in PyTorch

    def _buffer_optional(self, name, group):
        return True

    def _update(self, p, g, state, xp, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        d = self._with_weight_decay(p, self._signed_grad(state, p, g, xp, group), state, xp, group)
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:                                     # buf = momentum * buf + (1 - dampening) * d
                buf *= momentum
                if dampening:
                    tmp2 = self._scratch(state, p, xp, "_tmp2")
                    xp.multiply(d, 1 - dampening, out=tmp2)
                    buf += tmp2
                else:
                    buf += d
            if group["nesterov"]:                     # d = d + momentum * buf
                tmp2 = self._scratch(state, p, xp, "_tmp2")
                xp.multiply(buf, momentum, out=tmp2)
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
            d *= -lr
        else:
            xp.multiply(d, -lr, out=tmp)
        p += tmp
