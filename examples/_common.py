"""Helpers shared by the examples: command line, device and seed, progress bars, plots, tables.

Every example's ``main(argv=None)`` starts with

    args = parse_args("adding_problem", argv, __doc__, extra=lambda p: p.add_argument(...))

which gives ``--quick`` (a few seconds: what the smoke tests run), ``--device cpu|cuda``,
``--seed``, ``--out DIR`` (default ``runs/<example>``, created) and ``--threads`` (BLAS threads,
default 1: see ``limit_blas_threads``), seeds every generator and checks that the device exists. tqdm and matplotlib are optional: without tqdm the loops run
silently, without matplotlib the plots are skipped with a note (the tables still print).
"""
import argparse
import io
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:   # run as `python examples/NAME.py` from a source checkout
    sys.path.insert(0, str(ROOT))

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn.checkpoint import atomic_write_bytes, atomic_write_text  # noqa: E402


# ----------------------------------------------------------------------------- command line

def parse_args(name, argv=None, description=None, extra=None):
    """Parse the common flags (plus those ``extra(parser)`` adds), seed, make ``--out``."""
    parser = argparse.ArgumentParser(prog=f"examples/{name}.py", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny budget: runs in a few seconds (smoke test)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where the model and the data live (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--out", default=None,
                        help=f"directory for plots and results (default: runs/{name})")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads on the CPU (default 1; 0 = the library's default)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not tg.cuda_available():
        parser.error("--device cuda: CUDA is not available here (install cupy-cuda12x or "
                     "cupy-cuda13x and check the driver), use --device cpu")
    args.started = time.perf_counter()
    args.note = None          # set by smoke_test_note; save_plot writes it on the figure
    args.out = pathlib.Path(args.out if args.out is not None else pathlib.Path("runs") / name)
    args.out.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    global _thread_limit
    if _thread_limit is None and args.threads > 0:    # for the whole process: see blas_threads
        _thread_limit = blas_threads(args.threads)
    return args


_thread_limit = None


def blas_threads(threads):
    """Context manager capping the BLAS thread pool to ``threads`` (0: leave it alone). Needs
    threadpoolctl (scikit-learn brings it); without it this does nothing.

    The matrices of one RNN step are small (batch x hidden), so a multi-threaded BLAS spends
    more time waking its threads than computing, and on a machine whose cores are busy with
    other work it can be 10-50x slower than one thread (measured: an LSTM step 0.1 s with one
    thread, 0.7-10 s with two on a loaded 2-core machine). So the examples default to 1;
    ``parse_args`` applies ``--threads`` to the whole process (threadpoolctl's limit also
    works without ``with``), and ``with blas_threads(n):`` limits one block.
    """
    import contextlib
    if threads <= 0:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def smoke_test_note(args, explanation):
    """In ``--quick`` mode, say plainly (on stdout, and on the figures via ``args.note``) that
    the run is a smoke test, what its numbers miss and what the full run shows
    (``explanation``). Does nothing in a full run."""
    if not args.quick:
        return
    args.note = f"--quick is a smoke test: {explanation}"
    print("NOTE " + args.note, flush=True)


def seed_everything(seed):
    tg.manual_seed(seed)
    np.random.seed(seed)


def data_rng(seed):
    """A NumPy generator for the example's data, separate from the weights' generator."""
    return np.random.default_rng(seed + 12345)


def to_tensor(array, device, dtype=np.float32):
    """A NumPy array as a Tensor on ``device`` (data never needs gradients here)."""
    return tg.Tensor(np.asarray(array, dtype=dtype), device=device)


def sync(device):
    """Wait for queued GPU work, so wall-clock times mean something."""
    if device == "cuda":
        from tinygrad_rnn import backend
        backend.cupy().cuda.Device().synchronize()


# ----------------------------------------------------------------------------- progress

def progress(iterable, desc=None, total=None, quiet=False, **kwargs):
    """``tqdm(iterable)`` when tqdm is installed, ``quiet`` is false and stdout is a terminal,
    else the iterable itself. The bar goes to stderr, so tables on stdout stay clean; it
    disappears once done. Piped or redirected output (a log file, ``make_results.py``) gets no
    bar: its redraws would only leave blank lines and carriage returns there."""
    if quiet or not sys.stdout.isatty():
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, **kwargs)


def set_postfix(bar, **values):
    """Show running numbers on a tqdm bar (no-op without tqdm)."""
    if hasattr(bar, "set_postfix"):
        bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in values.items()},
                        refresh=False)


def print_elapsed(args):
    """Print the wall time since ``parse_args``, and where the outputs went."""
    print(f"total wall time {time.perf_counter() - args.started:.1f} s; outputs in {args.out}")


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# ----------------------------------------------------------------------------- plots

def have_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


_warned = False


def save_plot(path, draw, nrows=1, ncols=1, figsize=None, title=None, note=None):
    """Make a figure with ``nrows x ncols`` axes, let ``draw(fig, axes)`` fill it, save it to
    ``path`` (PNG) and close it. ``axes`` is one Axes for 1x1, else a flat list. ``note`` (the
    smoke-test warning of a quick run) is written in red across the bottom of the figure.

    Uses the non-interactive Agg backend (no display needed). Without matplotlib, prints a note
    once and returns None; otherwise returns the path."""
    global _warned
    if not have_matplotlib():
        if not _warned:
            print("note: matplotlib is not installed, so no plots are saved "
                  "(pip install matplotlib, or the 'examples' extra)")
            _warned = True
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figsize = figsize or (5.5 * ncols, 4.0 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    flat = [ax for row in axes for ax in row]
    draw(fig, flat[0] if len(flat) == 1 else flat)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if note:                   # below the axes, in lines that fit the figure's width
        import textwrap
        lines = textwrap.wrap(note, int(fig.get_figwidth() * 14))
        fig.subplots_adjust(bottom=fig.subplotpars.bottom + (0.15 * len(lines) + 0.1) / fig.get_figheight())
        fig.text(0.5, 0.01, "\n".join(lines), ha="center", va="bottom", fontsize=8, color="firebrick")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, png.getvalue())   # never a half-written PNG
    print(f"saved {path}")
    return path


def save_results(path, results):
    """Write the example's figures as JSON, atomically."""
    atomic_write_text(path, json.dumps(results, indent=1))


def smooth(values, window=20):
    """Running mean (for noisy loss curves); shorter at the start, same length as the input."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0 or window <= 1:
        return values
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty_like(values)
    for i in range(len(values)):
        lo = max(0, i + 1 - window)
        out[i] = (cumsum[i + 1] - cumsum[lo]) / (i + 1 - lo)
    return out


# ----------------------------------------------------------------------------- tables

def format_cell(value):
    if isinstance(value, float):
        if value != value:                     # NaN
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def print_table(rows, headers, title=None):
    """Print rows (lists of values) under ``headers`` as an aligned text table; return the text."""
    cells = [[format_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = []
    if title:
        out.append(title)
    out.append("  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    out.append(line)
    for row in cells:
        out.append("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths)))
    text = "\n".join(out)
    print(text, flush=True)
    return text


def _numeric(text):
    try:
        float(text)
    except ValueError:
        return False
    return True
