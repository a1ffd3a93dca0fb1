"""L-BFGS, as torch.optim.LBFGS with its default fixed step (no line search).

L-BFGS approximates Newton's method: from the last ``history_size`` pairs (s = step taken,
y = change of gradient) it builds the product of an inverse-Hessian estimate with the gradient
(the "two-loop recursion") and steps along it. One ``step(closure)`` runs up to ``max_iter``
such iterations, calling ``closure`` (which zeroes the gradients, computes the loss, calls
backward and returns the loss) to re-evaluate after each. All parameters are treated as one
flat vector.
"""
import numpy as np

from .. import backend
from ..function import enable_grad
from .optimizer import Optimizer


class LBFGS(Optimizer):
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if line_search_fn is not None:
            raise NotImplementedError("LBFGS: line_search_fn='strong_wolfe' is not supported by tinygrad_rnn; "
                                      "use line_search_fn=None (a fixed step of lr)")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    def _flat_grad(self):
        parts = [np.zeros(p.numel(), dtype=p.dtype) if p.grad is None else backend.to_numpy(p.grad.data).ravel()
                 for p in self.params]
        return np.concatenate(parts)

    def _add(self, t, d):
        """p += t * d, d the flat direction cut into the parameters' shapes."""
        offset = 0
        for p in self.params:
            n = p.numel()
            step = backend.to_device(d[offset:offset + n].reshape(p.shape), p.device)
            p.data += t * step
            offset += n

    @staticmethod
    def _direction(g, state):
        """-H g by the two-loop recursion over the stored (s, y) pairs."""
        dirs, stps, ro = state["old_dirs"], state["old_stps"], state["ro"]
        al = [0.0] * len(dirs)
        q = -g
        for i in range(len(dirs) - 1, -1, -1):
            al[i] = stps[i].dot(q) * ro[i]
            q = q - al[i] * dirs[i]
        r = q * state["H_diag"]
        for i in range(len(dirs)):
            be_i = dirs[i].dot(r) * ro[i]
            r = r + (al[i] - be_i) * stps[i]
        return r

    def _remember(self, g, state, history_size):
        """Store the newest (s, y) pair if it keeps the estimate positive definite."""
        y = g - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = y.dot(s)
        if ys > 1e-10:
            if len(state["old_dirs"]) == history_size:
                for key in ("old_dirs", "old_stps", "ro"):
                    state[key].pop(0)
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / y.dot(y)

    def step(self, closure):
        """Up to ``max_iter`` iterations; returns the loss ``closure`` gave before the first."""
        group = self.param_groups[0]
        lr, max_iter, tol_change = group["lr"], group["max_iter"], group["tolerance_change"]
        state = self.state[self.params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss, evals = float(orig_loss), 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if np.abs(g).max() <= group["tolerance_grad"]:
            return orig_loss
        for n_iter in range(1, max_iter + 1):
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1.0)
                state["d"] = -g
            else:
                self._remember(g, state, group["history_size"])
                state["d"] = self._direction(g, state)
            state["prev_flat_grad"], prev_loss = g.copy(), loss
            d = state["d"]
            state["t"] = t = min(1.0, 1.0 / np.abs(g).sum()) * lr if state["n_iter"] == 1 else lr
            if g.dot(d) > -tol_change:          # not a descent direction any more
                break
            self._add(t, d)
            converged = False
            if n_iter != max_iter:
                with enable_grad():
                    loss = float(closure())
                g = self._flat_grad()
                converged = np.abs(g).max() <= group["tolerance_grad"]
                evals += 1
                state["func_evals"] += 1
            if n_iter == max_iter or evals >= group["max_eval"] or converged:
                break
            if np.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        return orig_loss

    def state_dict(self):
        raise NotImplementedError("LBFGS state_dict is not supported by tinygrad_rnn (its history is "
                                  "a list of flat vectors); rebuild the optimizer when you resume")
