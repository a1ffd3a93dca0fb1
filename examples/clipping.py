"""Gradient clipping against exploding gradients (Pascanu, Mikolov & Bengio 2013).

A tanh RNN whose recurrent matrix starts with spectral radius 1.5 (instead of ~0.6 for the
default init) is trained with plain SGD on the adding problem (see adding_problem.py). Its
backward pass multiplies gradients by Jacobians that can stretch them, so now and then a batch
gives a gradient tens of times larger than usual. SGD takes a step proportional to it, lands
far away on the loss surface, and without clipping the run diverges (the loss becomes inf/NaN).

Three runs from the same initial weights and the same batches:
  none   the raw gradient
  norm   clip_grad_norm_(params, max_norm): if the norm of all gradients together exceeds
         max_norm, scale them all down to it (direction kept)
  value  clip_grad_value_(params, clip_value): clamp each element into [-v, v] (direction
         changes when some elements are clamped)
The table gives the final loss, the step where a run diverged, and the fraction of steps on
which clipping changed the gradient.

    python examples/clipping.py
    python examples/clipping.py --quick
"""

import numpy as np

import _common as C
from adding_problem import BASELINE, adding_batch

from tinygrad_rnn import nn, optim
from tinygrad_rnn.nn import functional as F

METHODS = ("none", "norm", "value")


class Model(nn.Module):
    def __init__(self, hidden, radius, seed):
        super().__init__()
        self.rnn = nn.RNN(2, hidden)
        self.head = nn.Linear(hidden, 1)
        W = np.random.default_rng(seed).normal(size=(hidden, hidden))
        W *= radius / np.max(np.abs(np.linalg.eigvals(W)))
        self.rnn.load_state_dict({"weight_hh_l0": W}, strict=False)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[-1]).reshape(-1)


def grad_stats(params):
    """(global L2 norm, largest |element|) of the gradients, before any clipping."""
    norm_sq, biggest = 0.0, 0.0
    for p in params:
        if p.grad is not None:
            g = p.grad.numpy().astype(np.float64)
            norm_sq += float((g * g).sum())
            biggest = max(biggest, float(np.abs(g).max()))
    return float(np.sqrt(norm_sq)), biggest


def train(method, args):
    C.seed_everything(args.seed)
    model = Model(args.hidden, args.radius, args.seed).to(args.device)
    params = list(model.parameters())   # a generator, as in torch: kept for grad_stats
    opt = optim.SGD(params, lr=args.lr)
    rng = C.data_rng(args.seed)
    losses, norms, clipped, diverged = [], [], [], None
    with C.Timer() as timer:
        for step in C.progress(range(1, args.steps + 1), desc=method):
            x, y = adding_batch(rng, args.batch, args.T)
            loss = F.mse_loss(model(C.to_tensor(x, args.device)), C.to_tensor(y, args.device))
            value = float(loss.item())
            if not np.isfinite(value):
                diverged = step
                break
            opt.zero_grad()
            loss.backward()
            norm, biggest = grad_stats(params)
            if method == "norm":
                nn.utils.clip_grad_norm_(params, args.max_norm)
                clipped.append(norm > args.max_norm)
            elif method == "value":
                nn.utils.clip_grad_value_(params, args.clip_value)
                clipped.append(biggest > args.clip_value)
            else:
                clipped.append(False)
            losses.append(value)
            norms.append(norm)
            if not np.isfinite(norm):
                diverged = step
                break
            opt.step()
    tail = losses[-args.tail:] if diverged is None else []
    return {"method": method, "losses": losses, "norms": norms, "diverged_at": diverged,
            "final_loss": float(np.mean(tail)) if tail else float("nan"),
            "best_loss": float(np.min(C.smooth(losses, args.tail))) if losses else float("nan"),
            "clipped_fraction": float(np.mean(clipped)) if clipped else 0.0,
            "median_norm": float(np.median(norms)) if norms else float("nan"),
            "max_norm": float(np.max(norms)) if norms else float("nan"), "seconds": timer.seconds}


def main(argv=None):
    def extra(p):
        p.add_argument("--T", type=int, default=20, help="sequence length (default 20)")
        p.add_argument("--hidden", type=int, default=32)
        p.add_argument("--batch", type=int, default=32)
        p.add_argument("--steps", type=int, default=2000)
        p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
        p.add_argument("--radius", type=float, default=1.5, help="spectral radius of W_hh at init")
        p.add_argument("--max-norm", type=float, default=1.0, help="clip_grad_norm_ threshold")
        p.add_argument("--clip-value", type=float, default=0.1, help="clip_grad_value_ threshold")

    args = C.parse_args("clipping", argv, __doc__, extra)
    if args.quick:   # the full-size model: a smaller one does not blow up in so few steps
        args.batch, args.steps = 16, 60
        print("--quick: 60 steps, enough for the unclipped run to diverge and the clipped ones to stay "
              "finite; the full run (2000 steps) also shows the clipped runs going below the baseline.")
    args.tail = max(1, min(100, args.steps // 10))     # steps averaged for the "final" loss
    print(f"tanh RNN (hidden {args.hidden}, W_hh spectral radius {args.radius}), SGD lr {args.lr}, "
          f"adding problem T = {args.T}, batch {args.batch}, {args.steps} steps; baseline MSE {BASELINE:.3f}")
    with C.blas_threads(args.threads), np.errstate(over="ignore", invalid="ignore"):
        results = [train(m, args) for m in METHODS]

    names = {"none": "no clipping", "norm": f"clip_grad_norm_({args.max_norm})",
             "value": f"clip_grad_value_({args.clip_value})"}
    rows = [[names[r["method"]], r["final_loss"], r["best_loss"], r["diverged_at"] or "-",
             r["clipped_fraction"], r["median_norm"], r["max_norm"], r["seconds"]] for r in results]
    C.print_table(rows, ["method", f"loss (last {args.tail})", "best smoothed", "diverged at step",
                         "steps clipped", "median grad norm", "max grad norm", "time s"],
                  title="Exploding gradients and clipping")

    finite = [v for r in results for v in C.smooth(r["losses"], 20) if np.isfinite(v)]
    bottom, top = 0.8 * min(finite + [BASELINE]), 10 * BASELINE   # divergence goes off the top

    def draw(fig, axes):
        ax_loss, ax_norm = axes
        for r in results:
            steps = np.arange(1, len(r["losses"]) + 1)
            label = names[r["method"]] + (f" (diverged at {r['diverged_at']})" if r["diverged_at"] else "")
            line, = ax_loss.plot(steps, C.smooth(r["losses"], 20), label=label)
            if r["diverged_at"]:   # the curve leaves the plot: mark where
                ax_loss.plot([r["diverged_at"]], [top], marker="x", ms=10, color=line.get_color(), clip_on=False)
            ax_norm.plot(steps, r["norms"], lw=0.7, label=names[r["method"]])
        ax_loss.axhline(BASELINE, color="grey", ls="--", lw=1, label="baseline")
        ax_loss.set_yscale("log")
        ax_loss.set_ylim(bottom, top)
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("training MSE (running mean of 20)")
        ax_loss.set_title("loss")
        ax_loss.legend(fontsize=8)
        ax_norm.axhline(args.max_norm, color="grey", ls=":", lw=1, label="max_norm")
        ax_norm.set_yscale("log")
        ax_norm.set_xlabel("step")
        ax_norm.set_ylabel("gradient norm before clipping")
        ax_norm.set_title("global gradient norm")
        ax_norm.legend(fontsize=8)

    C.save_plot(args.out / "clipping.png", draw, ncols=2)
    C.save_results(args.out / "results.json", results)
    C.print_elapsed(args)
    return results


if __name__ == "__main__":
    main()
