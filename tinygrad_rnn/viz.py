"""Plotting helpers for the examples and the CLI (matplotlib, imported only when a plot is
drawn; nothing in the library imports this module)."""
import numpy as np


def plot_grad_norms(norms, path=None, ax=None, title=None, distance=False, logy=True, batch="mean"):
    """Plot ||dL/dh_t|| against t (or against the distance T - t with ``distance=True``).

    ``norms``: an ``inspect.trace_hidden_grads`` result, or {label: array (T,) or (T, B)} (the batch is
    averaged, or take ``batch=b`` for one sequence). Draws on ``ax`` if given and returns it;
    else makes a figure, saves it to ``path`` (if given) and returns the figure. Returns None,
    with a note, when matplotlib is not installed."""
    if isinstance(norms, dict) and "dh_norm" in norms:
        norms = norms["dh_norm"]
    try:
        import matplotlib
        if ax is None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed; no plot drawn")
        return None
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in norms.items():
        values = np.asarray(values, dtype=float)
        if values.ndim == 2:
            values = values.mean(axis=1) if batch == "mean" else values[:, batch]
        T = len(values)
        t = np.arange(1, T + 1)
        xs = T - t if distance else t
        ax.plot(xs, values, label=str(label))
    ax.set_xlabel("distance T - t (steps back from the loss)" if distance else "time step t")
    ax.set_ylabel("||dL/dh_t||")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    if fig is None:
        return ax
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
