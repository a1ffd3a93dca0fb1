"""SGD with momentum, dampening, Nesterov and weight decay, as torch.optim.SGD."""
from .optimizer import Optimizer, _check


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
