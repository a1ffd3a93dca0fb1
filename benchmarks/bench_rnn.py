"""Training-step time of one recurrent layer: our three impls, plain NumPy and torch.nn, side by side.

    python benchmarks/bench_rnn.py --threads 1                 # one BLAS / torch thread
    python benchmarks/bench_rnn.py                             # all cores (the default)
    python benchmarks/bench_rnn.py --sizes mid --cells lstm --repeat 9
    python benchmarks/bench_rnn.py --device cuda               # CuPy vs torch.nn with cuDNN

A step is forward + backward of ONE layer (1 layer, unidirectional, biases, zero initial state,
float32) for the loss sum(dy * y) with a fixed random dy, computing the gradients of x and of
every weight; our modules also clear ``.grad`` first, as a training loop does. Contenders, all
with the same weights and data, timed in this one process:

    numpy-ref   benchmarks/numpy_reference.py: textbook NumPy forward + BPTT, no autograd (the floor)
    fused       nn.LSTM/GRU/RNN(impl="fused"): one autograd node per layer (the default)
    fused+ckpt  impl="fused", checkpoint=K with K = round(sqrt(T)): activations of only ~2 sqrt(T) steps
    cell        impl="cell": one fused node per time step
    composite   impl="composite": primitive ops unrolled over time
    torch       torch.nn.LSTM/GRU/RNN on the CPU, or with cuDNN on "cuda" (skipped if torch does not import)

``--impls`` picks our contenders (default: all four on the CPU, fused and fused+ckpt on the GPU).

Sizes (those of issue 14): tiny T=200 B=8 I=16 H=64 (Python overhead dominates), small T=50
B=32 I=64 H=128, mid T=100 B=16 I=32 H=256, large T=32 B=64 I=256 H=512 (BLAS dominates), and
for the GPU xl T=200 B=256 I=H=1024 (the default there, with the others).

Timing: after two warm-up steps, each contender runs blocks of n steps (n chosen so a block
takes ~0.2 s); blocks of the contenders are interleaved, ``--repeat`` rounds, and the table shows
the median block's time per step (``--best`` for the least disturbed block instead). On a shared
machine, print ``uptime`` beside the figures: ratios of contenders timed in the same rounds hold
up under load far better than the times themselves.

Threads: ``--threads N`` is applied before NumPy is imported (OMP/OPENBLAS/MKL/... env vars),
again through threadpoolctl when it is installed, and to torch with ``torch.set_num_threads(N)``
(intra-op) and ``set_num_interop_threads(1)``, so both libraries use the same number of cores.

Memory: "peak MiB" is the peak of NumPy allocations during one step above what was allocated
before it, measured with tracemalloc (NumPy reports every array buffer to it) in a separate,
untimed step. It counts activations, gradients and temporaries, not the weights or inputs held
before the step. torch's CPU allocator is invisible to tracemalloc, so its column says "-";
``--rss`` adds a second table: it runs every contender in a fresh subprocess (Linux only) and
reports how far its first full-size step (after a warm-up on a tiny problem, for one-time library setup) raises
the peak resident set (VmHWM, reset through /proc/self/clear_refs) above the resident set before
it: this sees torch too, but also malloc's reuse of freed memory and page granularity, so it is
coarse (below ~1 MiB it is noise).
"""
import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
import tracemalloc

SIZES = {"tiny": dict(T=200, B=8, I=16, H=64),
         "small": dict(T=50, B=32, I=64, H=128),
         "mid": dict(T=100, B=16, I=32, H=256),
         "large": dict(T=32, B=64, I=256, H=512),
         "xl": dict(T=200, B=256, I=1024, H=1024)}
DEFAULT_SIZES = {"cpu": "tiny,small,mid,large", "cuda": "tiny,small,mid,large,xl"}
CELLS = ("lstm", "gru", "rnn")
IMPLS = ("fused", "fused+ckpt", "cell", "composite")
DEFAULT_IMPLS = {"cpu": ",".join(IMPLS), "cuda": "fused,fused+ckpt"}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="BLAS and torch threads (default: all cores, %(default)s here)")
    parser.add_argument("--sizes", default=None, help="comma list of " + ",".join(SIZES)
                        + " (default: " + "; ".join(f"{d}: {s}" for d, s in DEFAULT_SIZES.items()) + ")")
    parser.add_argument("--impls", default=None, help="comma list of " + ",".join(IMPLS)
                        + " (default: " + "; ".join(f"{d}: {s}" for d, s in DEFAULT_IMPLS.items()) + ")")
    parser.add_argument("--best", action="store_true", help="report the best round, not the median")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma list of " + ",".join(CELLS))
    parser.add_argument("--repeat", type=int, default=7, help="interleaved timing rounds (median shown)")
    parser.add_argument("--block", type=float, default=0.2, help="seconds per timed block of steps")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--no-torch", action="store_true", help="leave torch out")
    parser.add_argument("--rss", action="store_true",
                        help="also measure peak RSS growth in fresh subprocesses (sees torch too; Linux)")
    parser.add_argument("--rss-child", nargs=3, metavar=("CONTENDER", "CELL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sizes = [s for s in (args.sizes or DEFAULT_SIZES[args.device]).split(",") if s]
    args.impls = [i for i in (args.impls or DEFAULT_IMPLS[args.device]).split(",") if i]
    for i in args.impls:
        if i not in IMPLS:
            parser.error(f"unknown impl {i!r}; choose from {', '.join(IMPLS)}")
    args.cells = [c for c in args.cells.split(",") if c]
    for s in args.sizes:
        if s not in SIZES:
            parser.error(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    for c in args.cells:
        if c not in CELLS:
            parser.error(f"unknown cell {c!r}; choose from {', '.join(CELLS)}")
    return args


def set_threads(n):
    """Must run before NumPy (or torch) is imported: the BLAS reads these at load time."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)


# ----------------------------------------------------------------------------- contenders

class Problem:
    """Weights, input and upstream gradient of one (cell, size), as float32 NumPy arrays."""

    def __init__(self, cell, T, B, I, H, seed=0):
        import numpy as np
        from numpy_reference import init_params
        self.cell, self.T, self.B, self.I, self.H = cell, T, B, I, H
        self.params = init_params(cell, I, H, np.float32, seed)
        rng = np.random.default_rng(seed + 1)
        self.x = rng.standard_normal((T, B, I)).astype(np.float32)
        self.dy = rng.standard_normal((T, B, H)).astype(np.float32)

    def state_dict(self):
        p = self.params
        return {"weight_ih_l0": p["w_ih"], "weight_hh_l0": p["w_hh"], "bias_ih_l0": p["b_ih"],
                "bias_hh_l0": p["b_hh"]}


def numpy_ref(problem, device):
    """The plain-NumPy floor. Returns a step function giving {name: gradient}."""
    from numpy_reference import train_step

    def step():
        return train_step(problem.cell, problem.x, problem.params, problem.dy)
    return step


def ours(impl):
    def make(problem, device):
        import tinygrad_rnn as tg
        from tinygrad_rnn import nn
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[problem.cell]
        options = dict(impl="fused", checkpoint=max(1, round(problem.T ** 0.5))) if impl == "fused+ckpt" else dict(impl=impl)
        module = cls(problem.I, problem.H, **options)
        module.load_state_dict(problem.state_dict())   # returns the key report, as torch's
        module.to(device)
        x = tg.Tensor(problem.x, requires_grad=True, device=device)
        dy = tg.Tensor(problem.dy, device=device)
        names = {"weight_ih_l0": "w_ih", "weight_hh_l0": "w_hh", "bias_ih_l0": "b_ih", "bias_hh_l0": "b_hh"}
        params = dict(module.named_parameters())

        def step():
            module.zero_grad()
            x.grad = None
            out, _ = module(x)
            out.backward(dy)
            grads = {names[k]: p.grad.data for k, p in params.items()}
            grads["x"] = x.grad.data
            return grads
        return step
    return make


def torch_nn(problem, device):
    import torch
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[problem.cell]
    module = cls(problem.I, problem.H)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in problem.state_dict().items()})
    module.to(device)
    x = torch.from_numpy(problem.x).to(device).requires_grad_(True)
    dy = torch.from_numpy(problem.dy).to(device)
    names = {"weight_ih_l0": "w_ih", "weight_hh_l0": "w_hh", "bias_ih_l0": "b_ih", "bias_hh_l0": "b_hh"}

    def step():
        module.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = module(x)
        out.backward(dy)
        grads = {names[k]: p.grad for k, p in module.named_parameters()}
        grads["x"] = x.grad
        return grads
    return step


def contenders(args):
    """name -> factory(problem, device) -> step(), in table order."""
    table = {}
    if args.device == "cpu":
        table["numpy-ref"] = numpy_ref
    for impl in args.impls:
        table[impl] = ours(impl)
    if not args.no_torch:
        try:
            import torch  # noqa: F401
            table["torch"] = torch_nn
        except ImportError:
            pass
    return table


# ----------------------------------------------------------------------------- measuring

def synchronizer(device):
    """A function that waits for the device to finish queued work (a no-op on the CPU)."""
    if device == "cpu":
        return lambda: None
    from tinygrad_rnn import backend
    cupy = backend.cupy()
    waits = [cupy.cuda.Device().synchronize]
    try:
        import torch
        if torch.cuda.is_available():
            waits.append(torch.cuda.synchronize)
    except ImportError:
        pass
    return lambda: [w() for w in waits]


def to_numpy(a):
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    from tinygrad_rnn import backend
    return backend.to_numpy(a)


def check_agreement(grads):
    """Largest difference of each contender's gradients from the reference's, relative to the
    reference's largest entry (float32, so ~1e-6 is equal)."""
    import numpy as np
    reference = grads.get("numpy-ref", grads.get("fused"))
    worst = {}
    for name, g in grads.items():
        worst[name] = max(float(np.abs(to_numpy(g[k]) - to_numpy(reference[k])).max()) /
                          max(float(np.abs(to_numpy(reference[k])).max()), 1e-30) for k in reference)
    return worst


def time_contenders(steps, repeat, block, sync, best=False):
    """Median (or best) seconds per step of each step function; blocks interleaved across
    contenders, so every contender sees the same load."""
    number = {}
    for name, step in steps.items():
        for _ in range(2):
            step()                                     # warm-up: caches, allocator, lazy imports
        sync()
        start = time.perf_counter()
        step()
        sync()
        number[name] = max(1, int(block / max(time.perf_counter() - start, 1e-6)))
    times = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            gc.collect()
            sync()
            start = time.perf_counter()
            for _ in range(number[name]):
                step()
            sync()
            times[name].append((time.perf_counter() - start) / number[name])
    return {name: min(t) if best else statistics.median(t) for name, t in times.items()}


def tracemalloc_peak(step):
    """Peak MiB of traced (NumPy) allocations during one step, above what was live before it."""
    gc.collect()
    tracemalloc.start()
    try:
        step()                           # one untraced-quality step so .grad etc. exist (like steady state)
        gc.collect()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - before) / 2**20


def _rss_kib():
    """(current, peak) resident set of this process in KiB, from /proc/self/status."""
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def rss_child(args):
    """In a fresh process: warm the libraries up on a tiny problem, build one contender, reset the
    kernel's peak-RSS mark (``5 > /proc/self/clear_refs``) and print by how much its first step
    raises the peak resident set above the resident set before it (MiB). No full-size warm-up
    step: memory it freed would be reused by malloc and hide the step's own peak."""
    name, cell, size = args.rss_child
    factory = contenders(args)[name]
    factory(Problem(cell, T=2, B=1, I=4, H=4), args.device)()   # one-time library setup, tiny buffers
    step = factory(Problem(cell, **SIZES[size]), args.device)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before, _ = _rss_kib()
    step()
    _, peak = _rss_kib()
    print((peak - before) / 1024)


def rss_peak(name, cell, size, args):
    command = [sys.executable, os.path.abspath(__file__), "--threads", str(args.threads), "--device", args.device,
               "--rss-child", name, cell, size]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report

def environment(args):
    import numpy as np
    lines = [f"python {sys.version.split()[0]}, numpy {np.__version__}, device {args.device}, "
             f"threads {args.threads} (os.cpu_count() = {os.cpu_count()})"]
    blas_env = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "GOTO", "OMP_WAIT", "MKL_"))
                and not k.endswith("_NUM_THREADS")}
    if blas_env:
        lines.append("environment: " + " ".join(f"{k}={v}" for k, v in sorted(blas_env.items())))
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
        lines.append(f"cpu: {model}")
    except OSError:
        pass
    try:
        import threadpoolctl
        for info in threadpoolctl.threadpool_info():
            lines.append(f"threadpool: {info.get('internal_api')} {info.get('version')} "
                         f"({info.get('architecture', '')}) {info.get('num_threads')} threads, "
                         f"{os.path.basename(info.get('filepath', ''))}")
    except ImportError:
        lines.append("threadpoolctl not installed: threads set by environment variables only")
    if "torch" in sys.modules:
        import torch
        lines.append(f"torch {torch.__version__}: {torch.get_num_threads()} intra-op threads, "
                     f"{torch.get_num_interop_threads()} inter-op")
    return lines


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b and a == a and b == b else "-"


def main(argv=None):
    args = parse_args(argv)
    if args.device == "cuda":
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from tinygrad_rnn import backend
        if not backend.cuda_available():
            print("bench_rnn --device cuda: no CUDA device (or no CuPy) here; skipped")
            return
    set_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # numpy_reference
    limiter = None
    try:
        import threadpoolctl
        limiter = threadpoolctl.threadpool_limits(limits=args.threads)  # noqa: F841 (kept alive)
    except ImportError:
        pass
    table = contenders(args)
    if "torch" in table:
        import torch
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    # on "cuda" the package compiles its fused CuPy gate kernels on the first sequence (warm-up)
    if args.rss_child:
        rss_child(args)
        return
    sync = synchronizer(args.device)
    for line in environment(args):
        print(line)
    names = list(table)
    ratios = [(a, b) for a, b in (("fused", "numpy-ref"), ("fused", "torch"), ("fused+ckpt", "fused"),
                                  ("composite", "fused"), ("cell", "fused")) if a in table and b in table]
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"\nms per training step (forward + backward, float32, {'best' if args.best else 'median'} of "
          f"{args.repeat} interleaved rounds)")
    head = f"{'cell':5} {'size':6}" + "".join(f"{n:>11}" for n in names)
    head += "".join(f"{a.replace('numpy-', '') + '/' + b.replace('numpy-', ''):>17}" for a, b in ratios)
    print(head)
    memory, agreement = {}, 0.0
    for cell in args.cells:
        for size in args.sizes:
            problem = Problem(cell, **SIZES[size])
            steps = {name: factory(problem, args.device) for name, factory in table.items()}
            grads = {name: step() for name, step in steps.items()}
            worst = check_agreement(grads)
            del grads
            t = time_contenders(steps, args.repeat, args.block, sync, args.best)
            ms = {name: t[name] * 1e3 for name in names}
            row = f"{cell:5} {size:6}" + "".join(f"{ms[n]:11.2f}" for n in names)
            row += "".join(f"{ratio(ms[a], ms[b]):>17}" for a, b in ratios)
            agreement = max([agreement] + list(worst.values()))
            bad = {n: w for n, w in worst.items() if w > 1e-3}
            print(row + (f"   GRADIENTS DISAGREE: {bad}" if bad else ""), flush=True)
            if args.device == "cpu":
                memory.setdefault("tracemalloc peak of NumPy allocations during one step (torch: not visible)",
                                  {})[(cell, size)] = {n: tracemalloc_peak(steps[n]) if n != "torch" else None
                                                       for n in names}
            del steps
            if args.rss:
                memory.setdefault("peak RSS growth during the first full-size step, fresh process each",
                                  {})[(cell, size)] = {n: rss_peak(n, cell, size, args) for n in names}
    for kind, rows in memory.items():
        print(f"\npeak MiB ({kind})")
        print(f"{'cell':5} {'size':6}" + "".join(f"{n:>11}" for n in names))
        for (cell, size), row in rows.items():
            print(f"{cell:5} {size:6}" + "".join(f"{row[n]:11.1f}" if row[n] is not None else f"{'-':>11}"
                                               for n in names))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    print(f"gradients of every contender checked against the reference before timing: largest "
          f"difference {agreement:.1e} of the reference's largest entry (float32)")
    del limiter


if __name__ == "__main__":
    main()
