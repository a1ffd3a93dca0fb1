"""Adam and AdamW, as torch.optim.Adam / AdamW."""
from .optimizer import Optimizer, _check, _check_eps


def lerp_(xp, m, g, weight, tmp):
    """m = m + weight * (g - m) in place, in the two forms torch's ``lerp_`` picks by weight
    (so the rounding is the same)."""
    xp.subtract(g, m, out=tmp)
    if weight < 0.5:
        tmp *= weight
        m += tmp                                      # m + w (g - m)
    else:
        tmp *= 1 - weight
        xp.subtract(g, tmp, out=m)                    # g - (1 - w)(g - m)


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``, step t = 1, 2, ...::

        g = g + weight_decay * p                  (L2 penalty, coupled: AdamW decouples it)
        m = m + (1 - beta1) * (g - m)             (= beta1 m + (1 - beta1) g)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                     (amsgrad: the denominator never shrinks)
        p -= lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)

    eps is added after the bias correction of v, exactly where PyTorch adds it.
    """

    buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check(lr, f"Invalid learning rate: {lr}")
        _check_eps(eps)
        _check(betas[0], f"Invalid beta parameter at index 0: {betas[0]}", high=1.0)
        _check(betas[1], f"Invalid beta parameter at index 1: {betas[1]}", high=1.0)
        _check(weight_decay, f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _init_state(self, data, state, xp, group):
        state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(data), xp.zeros_like(data)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(data)

    def _buffer_optional(self, name, group):
        return name == "max_exp_avg_sq" and not group["amsgrad"]

    def _update(self, p, g, state, xp, group):
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        g = self._signed_grad(state, p, g, xp, group)
        tmp = self._scratch(state, p, xp)
        if weight_decay and group["decoupled_weight_decay"]:
            p *= 1 - lr * weight_decay                    # AdamW: decay the weights first
        else:                                             # Adam: an L2 term into the gradient
            g = self._with_weight_decay(p, g, state, xp, group)
        lerp_(xp, m, g, 1 - beta1, tmp)
        # v = beta2 * v + (1 - beta2) * g * g   (torch's addcmul_)
        v *= beta2
        xp.multiply(g, 1 - beta2, out=tmp)
        tmp *= g
        v += tmp
        if group["amsgrad"]:
            if state.get("max_exp_avg_sq") is None:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
            xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        bias_correction1 = 1 - beta1 ** t
        bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
        step_size = lr / bias_correction1
        # denom = sqrt(v) / sqrt(bc2) + eps;  p += (-step_size * m) / denom  (torch's addcdiv_)
        denom = self._scratch(state, p, xp, "_denom")
        xp.sqrt(v, out=denom)
        denom /= bias_correction2_sqrt
        denom += eps
        xp.multiply(m, -step_size, out=tmp)
        tmp /= denom
        p += tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:
    ``p *= 1 - lr * weight_decay`` first, then the Adam step on the plain gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
