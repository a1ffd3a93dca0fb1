"""Draw the pictures the docs pages show (seconds; no training):

    python docs/make_figures.py                  # all of them, into docs/figures/
    python docs/make_figures.py --engine dot     # the graphs laid out by Graphviz instead

- ``graph_rnn_3steps.svg``: the unrolled graph of a one-unit tanh RNN over 3 steps, every
  node with its value and its gradient (``tinygrad_rnn/inspect/svg.py``);
- ``graph_lstm_2steps.svg``: the same for a one-unit LSTM over 2 steps;
- ``lstm_gradient_paths.png``: how much of the gradient survives k steps back along the cell
  path (scaled by f) and along the hidden path (through W_hh), measured with
  ``tinygrad_rnn/inspect/paths.py``, with the default forget bias and with a forget bias of 3.

The one-unit networks have the weights of docs/by_hand.md, where the same numbers are worked
out by hand. The committed SVGs use the pure-Python layout (``--engine python``, the default
here), which is byte-for-byte reproducible: tests/test_docs.py draws them again and compares.
"""
import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import nn  # noqa: E402
from tinygrad_rnn.inspect.paths import lstm_path_norms  # noqa: E402
from tinygrad_rnn.inspect.svg import graph_svg, graph_values  # noqa: E402

FIGURES = ROOT / "docs" / "figures"
TARGET = 0.3                         # y: the loss is (h_T - y)^2 / 2, as on docs/by_hand.md
RNN_WEIGHTS = {"weight_ih": [[0.5]], "weight_hh": [[-0.8]], "bias_ih": [0.1], "bias_hh": [0.0]}
LSTM_WEIGHTS = {"weight_ih": [[0.5], [-0.3], [0.8], [0.2]], "weight_hh": [[0.4], [0.6], [-0.5], [0.3]],
                "bias_ih": [0.0, 1.0, 0.0, 0.0], "bias_hh": [0.0, 0.0, 0.0, 0.0]}
INPUTS = (1.0, 2.0, -1.0)


def one_unit(cell_class, weights):
    """A float64 cell with one input and one unit, loaded with ``weights``."""
    cell = cell_class(1, 1).double()
    cell.load_state_dict({name: np.array(value, dtype=np.float64) for name, value in weights.items()})
    return cell


def unrolled_graph(kind, steps, engine="python"):
    """SVG text of the one-unit ``kind`` ("rnn" or "lstm") unrolled ``steps`` steps, with values
    and gradients; x_t and h_t are named in the picture."""
    cell = one_unit(nn.RNNCell, RNN_WEIGHTS) if kind == "rnn" else one_unit(nn.LSTMCell, LSTM_WEIGHTS)
    names = dict(cell.named_parameters())
    h = tg.zeros(1, 1, dtype=tg.float64)
    c = tg.zeros(1, 1, dtype=tg.float64)
    names["h_0"] = h
    if kind == "lstm":
        names["c_0"] = c
    for t in range(steps):
        x_t = tg.Tensor([[INPUTS[t]]], dtype=tg.float64)
        names[f"x_{t + 1}"] = x_t
        if kind == "rnn":
            h = cell(x_t, h)
        else:
            h, c = cell(x_t, (h, c))
            names[f"c_{t + 1}"] = c
        names[f"h_{t + 1}"] = h
    loss = 0.5 * ((h - TARGET) ** 2).sum()
    names["L"] = loss
    nodes, edges = graph_values(loss, params=names)
    title = (f"{'tanh RNN' if kind == 'rnn' else 'LSTM'}, H = 1, {steps} steps, L = (h_{steps} - {TARGET})^2 / 2: "
             "each box shows its value (data) and dL/d(it) (grad)")
    return graph_svg(nodes, edges, title=title, engine=engine)


def gradient_paths(T=30, hidden=8, forget_biases=(0.0, 3.0)):
    """{forget bias: lstm_path_norms(...)} for an LSTM cell (seed 0) on T random inputs."""
    x = tg.Tensor(np.random.default_rng(0).normal(size=(T, 1, 2)))
    out = {}
    for bias in forget_biases:
        tg.manual_seed(0)
        cell = nn.LSTMCell(2, hidden).double()
        cell.bias_ih.data[hidden:2 * hidden] += bias             # rows H:2H are the forget gate
        out[bias] = lstm_path_norms(cell, x, np.zeros(hidden), np.zeros(hidden))
    return out


def draw_gradient_paths(paths, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(paths), figsize=(5.2 * len(paths), 3.8), sharey=True)
    for ax, (bias, r) in zip(np.atleast_1d(axes), paths.items()):
        k = np.arange(1, len(r["full"]) + 1)
        ax.semilogy(k, r["cell_path"], label="cell path: prod of diag(f)")
        ax.semilogy(k, r["hidden_path"], label="hidden path: through W_hh")
        ax.semilogy(k, r["full"], "k--", lw=1, label="full Jacobian")
        ax.set_title(f"forget bias {bias:g}: mean f = {r['forget'].mean():.2f}")
        ax.set_xlabel("steps back k")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("||d s_T / d s_(T-k)|| (spectral norm)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle("The two gradient paths through an LSTM (H = 8, T = 30), measured")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="python", choices=["python", "dot", "auto"],
                        help="graph layout: python (reproducible, committed), dot (Graphviz) or auto")
    args = parser.parse_args(argv)
    FIGURES.mkdir(exist_ok=True)
    for kind, steps in (("rnn", 3), ("lstm", 2)):
        target = FIGURES / f"graph_{kind}_{steps}steps.svg"
        target.write_text(unrolled_graph(kind, steps, args.engine))
        print(f"wrote {target.relative_to(ROOT)}")
    draw_gradient_paths(gradient_paths(), FIGURES / "lstm_gradient_paths.png")
    print(f"wrote {(FIGURES / 'lstm_gradient_paths.png').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
