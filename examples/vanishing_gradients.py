"""Vanishing and exploding gradients, measured: ||dL/dh_t|| against the distance T - t.

The loss sits at the last step of an adding-problem batch (see adding_problem.py), so dL/dh_t
is the gradient that has travelled T - t steps back through the recurrence. BPTT multiplies it
by the transposed one-step Jacobian at each step, dL/dh_{t-1} = J_t^T dL/dh_t, so if the
Jacobians shrink vectors it decays geometrically with the distance (vanishing), and if they
stretch them it grows (exploding).

Part 1 compares a tanh RNN, an IRNN (ReLU with identity recurrence), an LSTM and a GRU at
initialisation and after training on the adding problem (until it is solved, or a step budget
runs out: the tanh RNN never solves it). Part 2 takes a tanh RNN,
rescales W_hh to spectral radius 0.5, 0.9, 1.0, 1.1 and 1.5 and shows the switch from vanishing
(< 1) to exploding (> 1). The printed ratio ||dL/dh_1|| / ||dL/dh_T|| summarises each curve:
far below 1 means the first steps get almost no learning signal. The per-step factor is its
(T-1)-th root, the average shrinking (< 1) or growth (> 1) per step back; mean ||J_t|| is the
spectral norm of the one-step Jacobian (inspect.step_jacobian_norms), an upper bound of it.

    python examples/vanishing_gradients.py            # T = 100, plots in runs/vanishing_gradients
    python examples/vanishing_gradients.py --quick
"""

import numpy as np

import _common as C
from adding_problem import DEFAULT_LR, LABELS, Regressor, adding_batch

from tinygrad_rnn import inspect, nn, optim, viz
from tinygrad_rnn.nn import functional as F

MODELS = ("tanh", "irnn", "lstm", "gru")
RADII = (0.5, 0.9, 1.0, 1.1, 1.5)


def hidden_grad_norms(model, x, y):
    """||dL/dh_t|| (T,), averaged over the batch, for the loss at the last step. Traced in
    float64 on a copy of the model, so tiny gradients do not underflow to 0."""
    model.double()                 # in place: float32 -> float64 -> float32 is exact
    try:
        x64, y64 = x.to(dtype=np.float64), y.to(dtype=np.float64)
        trace = inspect.trace_hidden_grads(
            model.rnn, x64, lambda out: F.mse_loss(model.head(out[0][-1]).reshape(-1), y64))
    finally:
        model.float()
        model.zero_grad()
    return trace["dh_norm"]["l0"].mean(axis=1)


def ratio(norms):
    """||dL/dh_1|| / ||dL/dh_T||."""
    return float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")


def train(model, kind, args, rng):
    """Adam on the adding problem (as adding_problem.py) for up to ``train_steps`` steps,
    stopping once the running training MSE is below ``stop_below``. Returns (loss, steps)."""
    opt = optim.Adam(model.parameters(), lr=DEFAULT_LR[kind])
    losses = []
    for step in C.progress(range(1, args.train_steps + 1), desc=f"train {kind}"):
        x, y = adding_batch(rng, args.batch, args.T)
        loss = F.mse_loss(model(C.to_tensor(x, args.device)), C.to_tensor(y, args.device))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.item()))
        if len(losses) >= 50 and np.mean(losses[-50:]) < args.stop_below:
            break
    return float(np.mean(losses[-50:])), step


def scaled_tanh_rnn(radius, hidden, device, seed):
    """A tanh RNN whose W_hh is a Gaussian matrix rescaled to the given spectral radius
    (largest |eigenvalue|); biases zero, so the radius alone sets the regime."""
    C.seed_everything(seed)
    model = Regressor("tanh", hidden)
    W = np.random.default_rng(seed).normal(size=(hidden, hidden))
    W *= radius / np.max(np.abs(np.linalg.eigvals(W)))
    model.rnn.load_state_dict({"weight_hh_l0": W, "bias_hh_l0": np.zeros(hidden),
                               "bias_ih_l0": np.zeros(hidden)}, strict=False)
    return model.to(device)


def main(argv=None):
    def extra(p):
        p.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
        p.add_argument("--hidden", type=int, default=64)
        p.add_argument("--batch", type=int, default=64)
        p.add_argument("--train-steps", type=int, default=2500,
                       help="most training steps in part 1 (default 2500)")
        p.add_argument("--stop-below", type=float, default=0.005,
                       help="part 1 stops training a model once its running MSE is below this")

    args = C.parse_args("vanishing_gradients", argv, __doc__, extra)
    if args.quick:   # T = 40 and hidden 32: the radius sweep is already monotone (T = 20 is not)
        args.T, args.hidden, args.batch, args.train_steps = 40, 32, 8, 5
    C.smoke_test_note(args, "part 1 trains 5 steps, so 'after training' is still the init, where "
                            "every cell vanishes. The full run trains until solved (T = 100): then the LSTM and "
                            "the GRU pass a large share of the gradient back to step 1, the tanh RNN almost "
                            "none. The radius sweep (part 2) shows its effect in both modes.")
    rng = C.data_rng(args.seed)
    x_np, y_np = adding_batch(rng, args.batch, args.T)
    x, y = C.to_tensor(x_np, args.device), C.to_tensor(y_np, args.device)

    at_init, trained, rows = {}, {}, []
    with C.blas_threads(args.threads):
        # ---- part 1: four cells, at init and after a short training -------------------
        for kind in MODELS:
            C.seed_everything(args.seed)
            model = Regressor(kind, args.hidden).to(args.device)
            at_init[kind] = hidden_grad_norms(model, x, y)
            loss, steps = train(model, kind, args, C.data_rng(args.seed + 1))
            trained[kind] = hidden_grad_norms(model, x, y)
            rows.append([LABELS[kind], ratio(at_init[kind]), ratio(trained[kind]), steps, loss])
        # ---- part 2: the spectral radius of W_hh decides -------------------------------
        sweep, sweep_rows = {}, []
        for radius in RADII:
            model = scaled_tanh_rnn(radius, args.hidden, args.device, args.seed)
            sweep[radius] = hidden_grad_norms(model, x, y)
            # mean one-step Jacobian norm along the first sequence, for the table
            J = inspect.step_jacobian_norms(model.rnn, x[:, 0], np.zeros(args.hidden, np.float32))
            r = ratio(sweep[radius])
            sweep_rows.append([radius, r, r ** (1 / (args.T - 1)), float(J.mean()),
                               "vanishing" if r < 0.1 else ("exploding" if r > 10 else "about steady")])

    C.print_table(rows, ["model", "||dh_1||/||dh_T|| at init", "after training", "steps", "train MSE"],
                  title=f"Part 1: gradient reaching the first step, T = {args.T} (training on the adding "
                        f"problem until MSE < {args.stop_below} or {args.train_steps} steps)")
    C.print_table(sweep_rows, ["spectral radius", "||dh_1||/||dh_T||", "per-step factor",
                               "mean ||J_t||", "regime"],
                  title="Part 2: tanh RNN with W_hh rescaled to a given spectral radius")

    def draw_models(fig, axes):
        for ax, norms, when in zip(axes, (at_init, trained), ("at initialisation", "after training")):
            viz.plot_grad_norms({LABELS[k]: v for k, v in norms.items()}, ax=ax, distance=True,
                                 title=f"||dL/dh_t||, {when}")

    def draw_sweep(fig, ax):
        viz.plot_grad_norms({f"radius {r}": v for r, v in sweep.items()}, ax=ax, distance=True,
                             title="tanh RNN: spectral radius of W_hh")

    C.save_plot(args.out / "vanishing_models.png", draw_models, ncols=2, note=args.note)
    C.save_plot(args.out / "vanishing_radius.png", draw_sweep)
    C.save_results(args.out / "results.json",
                   {"models": {k: {"init": at_init[k].tolist(), "trained": trained[k].tolist()} for k in MODELS},
                    "radius": {str(r): v.tolist() for r, v in sweep.items()}})
    C.print_elapsed(args)
    return {"init": at_init, "trained": trained, "radius": sweep}


if __name__ == "__main__":
    main()
