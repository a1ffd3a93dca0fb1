"""The shared weight of BPTT, checked step by step: the gradient of a weight used at every
time step is the sum of its per-step shares. ``python -m tinygrad_rnn.inspect.demo`` prints it,
and the one-step Jacobian norms of a small tanh RNN."""
import numpy as np

from ..function import Function
from ..nn import functional as F
from ..tensor import Tensor


class StepUse(Function):
    """The identity, marking one time step's use of a shared weight: a hook on its output sees
    exactly that step's share of the weight's gradient."""

    def forward(self, w):
        return w

    def backward(self, g):
        return g


def shared_weight_demo(T=5, input_size=2, hidden_size=3, seed=0, verbose=False):
    """Show that the gradient of a shared weight is the sum of its per-step contributions.

    A tanh RNN h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b) runs T steps on random data (and a
    random h_0, so that step 1 has a share too: with h_0 = 0 it would have none), with
    the loss L = sum_t ||h_t - y_t||^2 / 2. Each step reads W_hh through its own ``StepUse``
    node, and a hook on it records that step's share G_t = dL/dW_hh|_step t. Autograd puts
    sum_t G_t into ``W_hh.grad``. The closed form G_t = delta_t^T h_{t-1}, with
    delta_t = dL/da_t the gradient of step t's pre-activation (read by ``retain_grad``), is a
    third, independent account. Everything is float64.

    Returns a dict: ``per_step`` (T, H, H) from the hooks, ``closed_form`` (T, H, H),
    ``sum`` (H, H) = per_step.sum(0), ``autograd`` (H, H) = W_hh.grad, ``max_abs_error``
    (largest |sum - autograd| and |per_step - closed_form|) and ``step_norms`` (T,) = ||G_t||.
    With ``verbose`` it also prints them.
    """
    rng = np.random.default_rng(seed)
    f64 = np.float64
    w_ih = Tensor(rng.normal(0, 0.8, (hidden_size, input_size)), dtype=f64, requires_grad=True)
    w_hh = Tensor(rng.normal(0, 0.8, (hidden_size, hidden_size)), dtype=f64, requires_grad=True)
    b = Tensor(rng.normal(0, 0.1, (hidden_size,)), dtype=f64, requires_grad=True)
    xs = rng.normal(size=(T, 1, input_size))
    ys = rng.normal(size=(T, 1, hidden_size))
    h = Tensor(rng.normal(0, 0.5, (1, hidden_size)), dtype=f64)   # h_0 != 0: step 1 counts too
    per_step = [None] * T
    prev_states, pre_activations = [], []
    loss = 0.0
    for t in range(T):
        w_t = StepUse.apply(w_hh)                         # this step's use of the shared weight
        w_t.register_hook(lambda g, t=t: per_step.__setitem__(t, g.numpy().copy()))
        prev_states.append(h)
        a = F.linear(Tensor(xs[t], dtype=f64), w_ih, b) + h @ w_t.T
        a.retain_grad()
        pre_activations.append(a)
        h = a.tanh()
        loss = loss + 0.5 * ((h - Tensor(ys[t], dtype=f64)) ** 2).sum()
    loss.backward()
    per_step = np.stack([np.zeros((hidden_size, hidden_size)) if g is None else g for g in per_step])
    closed = np.stack([a.grad.numpy().T @ hp.numpy() for a, hp in zip(pre_activations, prev_states)])
    total, autograd = per_step.sum(axis=0), w_hh.grad.numpy()
    error = max(np.abs(total - autograd).max(), np.abs(per_step - closed).max())
    result = {"per_step": per_step, "closed_form": closed, "sum": total, "autograd": autograd,
              "max_abs_error": float(error), "step_norms": np.linalg.norm(per_step, axis=(1, 2)),
              "loss": float(loss.item())}
    if verbose:
        _print_demo(result)
    return result


def _print_demo(r):
    T = len(r["per_step"])
    print(f"Shared weight W_hh of a tanh RNN, T = {T} steps, loss = {r['loss']:.6f}")
    print("Each step's share of dL/dW_hh (hook on that step's use of W_hh):")
    for t, (g, n) in enumerate(zip(r["per_step"], r["step_norms"])):
        print(f"  step {t + 1}: ||G_t|| = {n:.6f}   G_t[0] = {np.array2string(g[0], precision=5)}")
    print(f"sum_t G_t[0]      = {np.array2string(r['sum'][0], precision=8)}")
    print(f"W_hh.grad[0]      = {np.array2string(r['autograd'][0], precision=8)}")
    print(f"max |difference|  = {r['max_abs_error']:.2e}  (sum vs autograd, hooks vs delta_t^T h_(t-1))")


def main():
    shared_weight_demo(verbose=True)
    print()
    print("One-step Jacobian norms ||dh_t/dh_(t-1)|| of a 3-unit tanh RNN cell (spectral):")
    from ..nn import RNNCell
    from .jacobians import step_jacobian_norms
    rng = np.random.default_rng(1)
    norms = step_jacobian_norms(RNNCell(2, 3), rng.normal(size=(6, 2)).astype(np.float32), np.zeros(3, np.float32))
    print(" ", np.array2string(norms, precision=4))


if __name__ == "__main__":
    main()
