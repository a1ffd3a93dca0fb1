"""Deep recurrent stacks: residual connections keep the gradient alive through 8 layers.

An 8-layer LSTM (or tanh RNN) learns a delayed recall: the input is a stream of N(0, 1)
numbers and the target at step t is the input at step t - d. Every layer sits between the
loss and the first layer, so in a plain stack the gradient reaching layer k has been shrunk by
the Jacobians of all the layers above it. With residual connections
(x_{k+1} = layer_k(x_k) + x_k) each layer's Jacobian is I + (something small), and the gradient
reaches the bottom layers about as large as the top ones (He et al. 2016; Wu et al. 2016, GNMT).

Printed: per-layer gradient norms at initialisation (||dL/dW|| over each layer's weights) and
the training loss of both stacks, with the step where each first gets below 0.01.

    python examples/deep_residual.py                      # LSTM, residual=True of nn.LSTM
    python examples/deep_residual.py --cell rnn --skip stack   # tanh RNN in nn.skip.ResidualStack
    python examples/deep_residual.py --quick
"""
import re

import numpy as np

import _common as C

from tinygrad_rnn import nn, optim
from tinygrad_rnn.nn import functional as F


def delayed_batch(rng, batch, T, delay):
    """x (T, B, 1) ~ N(0, 1); y[t] = x[t - delay] (zero for the first ``delay`` steps)."""
    x = rng.normal(size=(T, batch, 1)).astype(np.float32)
    y = np.zeros_like(x)
    y[delay:] = x[:-delay]
    return x, y


def make_stack(cell, layers, hidden, residual, skip):
    """An L-layer stack: one nn.LSTM/nn.RNN with num_layers=L (``residual=`` its own skip
    connections), or, with skip="stack", L single layers in nn.skip.ResidualStack (plain: the
    same layers chained, no skips)."""
    cls = nn.LSTM if cell == "lstm" else nn.RNN
    if skip == "layer":
        return cls(1, hidden, num_layers=layers, residual=residual)
    single = [cls(1 if k == 0 else hidden, hidden) for k in range(layers)]
    if residual:
        return nn.skip.ResidualStack(single)
    return _Chain(single)


class _Chain(nn.Module):
    """Sequence layers one after the other, no skips (the plain counterpart of ResidualStack)."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        states = []
        for layer in self.layers:
            x, state = layer(x)
            states.append(state)
        return x, states


class Model(nn.Module):
    def __init__(self, stack, hidden):
        super().__init__()
        self.stack = stack
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        y, _ = self.stack(x)
        return self.head(y)


def layer_index(name):
    """Which layer of the stack a parameter belongs to: '..._l3' (nn.LSTM) or 'layers.3.' (a
    stack of single layers); None for the head."""
    m = re.search(r"_l(\d+)$", name) if name.startswith("stack.weight") or name.startswith("stack.bias") \
        else re.match(r"stack\.layers\.(\d+)\.", name)
    return int(m.group(1)) if m else None


def per_layer_grad_norms(model, layers):
    sq = np.zeros(layers)
    for name, p in model.named_parameters():
        k = layer_index(name)
        if k is not None and p.grad is not None:
            sq[k] += float((p.grad.numpy().astype(np.float64) ** 2).sum())
    return np.sqrt(sq)


def train(residual, args):
    C.seed_everything(args.seed)
    model = Model(make_stack(args.cell, args.layers, args.hidden, residual, args.skip), args.hidden)
    model.to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    rng = C.data_rng(args.seed)
    d = args.delay
    losses, init_norms, first_below = [], None, None
    name = "residual" if residual else "plain"
    with C.Timer() as timer:
        for step in C.progress(range(1, args.steps + 1), desc=name):
            x, y = delayed_batch(rng, args.batch, args.T, d)
            pred = model(C.to_tensor(x, args.device))
            loss = F.mse_loss(pred[d:], C.to_tensor(y[d:], args.device))
            opt.zero_grad()
            loss.backward()
            if init_norms is None:
                init_norms = per_layer_grad_norms(model, args.layers)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.item()))
            if first_below is None and np.mean(losses[-20:]) < 0.01 and step >= 20:
                first_below = step
        C.sync(args.device)
    return {"name": name, "losses": losses, "init_norms": init_norms.tolist(), "first_below": first_below,
            "final_loss": float(np.mean(losses[-args.tail:])), "seconds": timer.seconds}


def main(argv=None):
    def extra(p):
        p.add_argument("--cell", default="lstm", choices=["lstm", "rnn"])
        p.add_argument("--skip", default="layer", choices=["layer", "stack"],
                       help="residual=True of the layer, or nn.skip.ResidualStack of single layers")
        p.add_argument("--layers", type=int, default=8)
        p.add_argument("--hidden", type=int, default=32)
        p.add_argument("--T", type=int, default=30)
        p.add_argument("--delay", type=int, default=3)
        p.add_argument("--batch", type=int, default=32)
        p.add_argument("--steps", type=int, default=400)
        p.add_argument("--lr", type=float, default=3e-3)

    args = C.parse_args("deep_residual", argv, __doc__, extra)
    if args.quick:
        args.hidden, args.T, args.batch, args.steps = 8, 10, 8, 8
    args.tail = max(1, min(50, args.steps // 10))
    print(f"{args.layers}-layer {args.cell.upper()} stacks (hidden {args.hidden}), delayed recall "
          f"y_t = x_(t-{args.delay}), T = {args.T}, batch {args.batch}, Adam lr {args.lr}, {args.steps} steps")
    with C.blas_threads(args.threads):
        results = [train(False, args), train(True, args)]

    plain, res = results
    rows = [[k, plain["init_norms"][k], res["init_norms"][k]] for k in range(args.layers)]
    C.print_table(rows, ["layer", "plain ||dL/dW||", "residual ||dL/dW||"],
                  title="Gradient norm of each layer's weights at initialisation (layer 0 = bottom)")
    rows = [[r["name"], r["init_norms"][0] / r["init_norms"][-1], r["final_loss"],
             r["first_below"] or "-", r["seconds"]] for r in results]
    C.print_table(rows, ["stack", "bottom/top grad ratio", f"loss (last {args.tail})", "step <0.01", "time s"],
                  title="Training")

    def draw(fig, axes):
        ax_loss, ax_norm = axes
        for r in results:
            ax_loss.plot(np.arange(1, len(r["losses"]) + 1), C.smooth(r["losses"], 10), label=r["name"])
            ax_norm.plot(np.arange(args.layers), r["init_norms"], marker="o", label=r["name"])
        ax_loss.set_yscale("log")
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("training MSE (running mean of 10)")
        ax_loss.set_title(f"{args.layers}-layer {args.cell.upper()}: loss")
        ax_loss.legend()
        ax_norm.set_yscale("log")
        ax_norm.set_xlabel("layer (0 = bottom, next to the input)")
        ax_norm.set_ylabel("||dL/dW|| at initialisation")
        ax_norm.set_title("per-layer gradient norm at init")
        ax_norm.legend()

    C.save_plot(args.out / "deep_residual.png", draw, ncols=2)
    C.save_results(args.out / "results.json", results)
    C.print_elapsed(args)
    return results


if __name__ == "__main__":
    main()
