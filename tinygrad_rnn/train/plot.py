"""The loss curve as a PNG; matplotlib is optional and imported only here, when a plot is made."""
import io

import numpy as np

from ..checkpoint import atomic_write_bytes

PLOT_HINT = 'pip install "tinygrad-rnn[examples]" adds the loss plot and a progress bar'


def plot_losses(path, train_losses, val_history, unit="char"):
    """Write the loss curve (training loss per step, its running mean, validation loss) as a
    PNG, atomically. Uses matplotlib's Agg canvas directly (no pyplot, no global backend
    change). Returns False when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    losses = np.asarray(train_losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    if len(losses):
        ax.plot(steps, losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="train (per step)")
        window = max(1, min(50, len(losses) // 10))
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color="tab:blue", label=f"train (mean of {window})")
    val = np.asarray(val_history, dtype=np.float64).reshape(-1, 3)
    if len(val):
        ax.plot(val[:, 0], val[:, 1], "o-", color="tab:orange", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (nats / {unit})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True
