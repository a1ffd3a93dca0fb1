"""Adam and AdamW, as torch.optim.Adam / AdamW."""
from .optimizer import Optimizer, _check


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
