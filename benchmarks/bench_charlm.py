"""Training throughput and loss-in-a-budget of the default char LM: ours against PyTorch, one process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_charlm.py             # 300 s each
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_charlm.py --threads 1 --budget 120
    python benchmarks/bench_charlm.py --quick                                                     # smoke run
    python benchmarks/bench_charlm.py --device cuda                                               # CuPy vs torch CUDA

The model and loop are those of ``tinygrad-rnn train`` with its defaults (``TrainConfig()``:
2-layer LSTM, hidden 256, embedding 64, batch 32, seq-len 64, Adam lr 2e-3, clip 5, float32,
seed 0), built with the trainer's own helpers (``prepare_data``, ``build_model``,
``build_optimizer``) and stepped as its loop steps: ``zero_grad``, ``tbptt_step`` (k1 = k2 =
seq-len), ``clip_grad_norm_``, ``optimizer.step()``, state carried and detached, reset to zero at
each new pass over the text. Evaluation/checkpoints of the ``train`` command are NOT in the
timed loop (see its own timing for that).

The contender is the same network in PyTorch (``torch.nn.Embedding -> LSTM(batch_first) ->
Linear``), started from the SAME initial weights (copied from ours), fed the SAME batches
(``tinygrad_rnn.data.BPTTBatches``), trained the same way (truncated BPTT with the state carried
and detached, ``cross_entropy``, ``clip_grad_norm_``, ``torch.optim.Adam``, ``loss.item()`` each
step, as our loop reads its loss).

Fairness: both get ``--budget`` seconds of training wall time, in alternating slices of
``--slice`` seconds (ours, torch, ours, torch, ...) so a change in the machine's load hits both.
"chars/s" = steps x batch x seq-len / training seconds (the first, allocating steps included);
"median slice ratio" compares the rates of slices run back to back, the least load-sensitive
number. After each round both are evaluated (untimed) by the same code: their weights are loaded
into one CharLM and ``tinygrad_rnn.lm.evaluate`` runs on the first ``--val-chars`` characters of
the validation split (batch 32, seq-len 64, state carried). torch's own forward on the same slice
is printed at the end as a check that the weights transfer exactly.

Threads: ``--threads N`` limits NumPy's BLAS (threadpoolctl) and torch (``set_num_threads``);
default: all cores. The BLAS that NumPy uses (threadpoolctl's report) is printed: OpenBLAS with
``OPENBLAS_CORETYPE`` forced to an older core than the CPU (as some CI images do) is several
times slower, so benchmark with those variables unset.

Load: on a small machine shared with other jobs, multi-threaded BLAS collapses for this model
(hundreds of small (32 x 256) @ (256 x 1024) matmuls per step, each split across threads that
busy-wait for a descheduled partner: measured 20-50x slower per step with 2 threads on 2 cores
when one core is taken, for NumPy/OpenBLAS and torch alike). The "chars/cpu-s" column and the
load averages printed at the start and end show when that happened; ``--threads 1`` is the
robust comparison there.
"""
import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300.0,
                        help="training seconds for EACH contender (default: %(default)s)")
    parser.add_argument("--slice", type=float, default=None,
                        help="seconds per alternating slice (default: budget/20, at most 5)")
    parser.add_argument("--evals", type=int, default=10,
                        help="evaluations (untimed) spread over the budget (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="NumPy BLAS and torch threads (default: all cores, %s here)" % os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 s budget, 20k val chars")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--val-chars", type=int, default=100_000,
                        help="validation characters evaluated (from the start of the split; default %(default)s)")
    parser.add_argument("--no-torch", action="store_true", help="ours only")
    parser.add_argument("--torch-first", action="store_true", help="torch runs the first slice of each round")
    args = parser.parse_args(argv)
    if args.quick:
        args.budget, args.val_chars = 12.0, 20_000
    if args.slice is None:
        args.slice = min(5.0, args.budget / 20)
    if args.budget <= 0 or args.slice <= 0 or args.evals < 1:
        parser.error("--budget and --slice must be > 0, --evals >= 1")
    return args


def blas_report():
    """One line: the BLAS NumPy calls (after a matmul, so it is loaded) and its settings."""
    a = np.ones((64, 64), dtype=np.float32)
    a @ a
    try:
        import threadpoolctl
    except ImportError:
        return "threadpoolctl not installed"
    parts = []
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas":
            parts.append(f"{info.get('internal_api')} {info.get('version')} kernel={info.get('architecture')} "
                         f"threads={info.get('num_threads')}")
    forced = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    line = "; ".join(parts) or "no BLAS found"
    if forced:
        line += f"  [WARNING: {forced} set: OpenBLAS is slowed; unset them for a benchmark]"
    return line


def loadavg():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "n/a"


# ----------------------------------------------------------------------------- contenders

class Ours:
    """The default ``tinygrad-rnn train`` model, optimizer and step."""
    name = "ours"

    def __init__(self, config, vocab, batches):
        from tinygrad_rnn import backend
        from tinygrad_rnn.nn import functional as F
        from tinygrad_rnn.tbptt import tbptt_step
        from tinygrad_rnn.tensor import Tensor
        from tinygrad_rnn.nn.utils import clip_grad_norm_
        from tinygrad_rnn.train import build_model, build_optimizer
        backend.manual_seed(config.seed)
        self.model = build_model(config, len(vocab))
        self.optimizer, self.scheduler = build_optimizer(config, self.model)
        self.model.train()
        self.config, self.chunks, self.state, self.steps = config, batches.cycle(0), None, 0
        V, device = len(vocab), config.device
        self._Tensor, self._tbptt, self._clip = Tensor, tbptt_step, clip_grad_norm_

        def loss_fn(logits, targets):
            return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        self.loss_fn, self.device = loss_fn, device

    def initial_weights(self):
        return self.model.state_dict()

    def step(self):
        _, index, inputs, targets = next(self.chunks)
        if index == 0:
            self.state = None
        self.optimizer.zero_grad()
        loss, new_state = self._tbptt(self.model, self.loss_fn, self._Tensor(inputs, device=self.device),
                                      self._Tensor(targets, device=self.device), self.state)
        if self.config.clip > 0:
            float(self._clip(self.model.parameters(), self.config.clip))
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.state, self.steps = new_state, self.steps + 1
        return loss

    def weights(self):
        return self.model.state_dict()


class Torch:
    """The same network, data order and update in PyTorch."""
    name = "torch"

    def __init__(self, config, vocab, batches, init_weights):
        import torch
        from tinygrad_rnn.lm import CELLS
        if config.schedule != "constant" or config.optimizer != "adam" or config.dropout:
            raise SystemExit("the torch contender mirrors only the default recipe (adam, constant lr, no dropout)")
        self.torch = torch
        self.device = torch.device("cuda" if config.device == "cuda" else "cpu")
        V = len(vocab)

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = torch.nn.Embedding(V, config.embedding)
                self.rnn = getattr(torch.nn, CELLS[config.cell])(config.embedding, config.hidden,
                                                                 num_layers=config.layers, batch_first=True)
                self.decoder = torch.nn.Linear(config.hidden, V)

            def forward(self, ids, state=None):
                out, state = self.rnn(self.embedding(ids), state)
                return self.decoder(out), state

        self.model = Net()
        dtype = getattr(torch, config.dtype)
        self.model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in init_weights.items()})
        self.model.to(device=self.device, dtype=dtype).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay or 0.0)
        self.config, self.V, self.chunks, self.state, self.steps = config, V, batches.cycle(0), None, 0

    def step(self):
        torch = self.torch
        _, index, inputs, targets = next(self.chunks)
        if index == 0:
            self.state = None
        x = torch.from_numpy(inputs).to(self.device)
        y = torch.from_numpy(targets).to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        logits, new_state = self.model(x, self.state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, self.V), y.reshape(-1))
        loss.backward()
        if self.config.clip > 0:
            float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip))
        self.optimizer.step()
        self.state = tuple(s.detach() for s in new_state) if isinstance(new_state, tuple) else new_state.detach()
        self.steps += 1
        return loss.item()

    def weights(self):
        return {k: v.detach().cpu().numpy().copy() for k, v in self.model.state_dict().items()}

    def own_eval(self, val_ids, batch_size, seq_len):
        """torch's forward on the validation slice (a check of the weight transfer)."""
        from tinygrad_rnn.data import BPTTBatches
        torch = self.torch
        total, count, state = 0.0, 0, None
        self.model.eval()
        with torch.no_grad():
            for inputs, targets in BPTTBatches(val_ids, batch_size, seq_len):
                logits, state = self.model(torch.from_numpy(inputs).to(self.device), state)
                total += float(torch.nn.functional.cross_entropy(
                    logits.reshape(-1, self.V), torch.from_numpy(targets).to(self.device).reshape(-1),
                    reduction="sum"))
                count += targets.size
        self.model.train()
        return total / count


class Evaluator:
    """One CharLM that any contender's weights are loaded into, then ``lm.evaluate``."""

    def __init__(self, config, vocab, val_ids):
        from tinygrad_rnn.train import build_model
        self.model = build_model(config, len(vocab))
        self.val_ids, self.config = val_ids, config

    def __call__(self, weights):
        from tinygrad_rnn.lm import evaluate
        self.model.load_state_dict(weights)
        return evaluate(self.model, self.val_ids, self.config.batch_size, self.config.seq_len)["loss"]


# ----------------------------------------------------------------------------- main

def _quantile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def run_slice(contender, seconds, left, sync):
    """Steps until ``seconds`` (or the contender's remaining budget ``left``) have passed.
    Returns (steps, elapsed, last loss)."""
    limit = min(seconds, left)
    start, steps, loss = time.perf_counter(), 0, float("nan")
    while True:
        loss = contender.step()
        steps += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= limit:
            return steps, elapsed, loss


def main(argv=None):
    args = parse_args(argv)
    limiter = None
    if args.threads is not None:
        try:
            import threadpoolctl
            limiter = threadpoolctl.threadpool_limits(limits=args.threads, user_api="blas")  # noqa: F841 (kept)
        except ImportError:
            print("threadpoolctl is not installed: NumPy's BLAS threads are not limited", file=sys.stderr)
    from tinygrad_rnn import backend
    from tinygrad_rnn.train import TrainConfig, UsageError, load_corpus, make_config, prepare_data

    try:
        config = make_config({"device": args.device})
    except UsageError as exc:
        raise SystemExit(f"error: {exc}") from None
    text = load_corpus(config.corpus)
    corpus = prepare_data(config, text)
    vocab, train_ids, val_ids, batches = corpus.vocab, corpus.train_ids, corpus.val_ids, corpus.batches
    val_slice = val_ids[:args.val_chars] if args.val_chars else val_ids
    chars_per_step = config.batch_size * config.seq_len

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("torch does not import: ours only", file=sys.stderr)
    if torch is not None and args.threads is not None:
        torch.set_num_threads(args.threads)
    if torch is not None and args.device == "cuda" and not torch.cuda.is_available():
        print("torch has no CUDA here: ours only", file=sys.stderr)
        torch = None

    syncs = []
    if args.device == "cuda":
        syncs.append(backend.cupy().cuda.Device().synchronize)
        if torch is not None:
            syncs.append(torch.cuda.synchronize)
    sync = (lambda: [s() for s in syncs]) if syncs else (lambda: None)

    ours = Ours(config, vocab, batches)
    contenders = [ours]
    if torch is not None:
        from tinygrad_rnn.data import BPTTBatches
        same_batches = BPTTBatches(train_ids, config.batch_size, config.seq_len)
        contenders.append(Torch(config, vocab, same_batches, ours.initial_weights()))
        if args.torch_first:
            contenders.reverse()
    evaluator = Evaluator(config, vocab, val_slice)

    defaults = TrainConfig()
    print(f"model: {config.layers}-layer {config.cell.upper()} hidden {config.hidden} embedding {config.embedding}, "
          f"vocab {len(vocab)}, batch {config.batch_size} x seq-len {config.seq_len} = {chars_per_step} chars/step, "
          f"{config.optimizer} lr {config.lr:g}, clip {config.clip:g}, {config.dtype}, device {config.device}")
    print(f"train.py defaults: steps {defaults.steps}, eval_every {defaults.eval_every}, eval_chars {defaults.eval_chars}")
    print(f"numpy {np.__version__}: {blas_report()}")
    if torch is not None:
        print(f"torch {torch.__version__}: {torch.get_num_threads()} intra-op threads")
    print(f"budget {args.budget:g} s each, slices of {args.slice:g} s, alternating "
          f"{' / '.join(c.name for c in contenders)}; validation: first {len(val_slice):,} chars of the split")
    load_start = loadavg()
    print(f"load average at start: {load_start}  (cores: {os.cpu_count()})\n")

    used = {c.name: 0.0 for c in contenders}      # training wall seconds
    cpu = {c.name: 0.0 for c in contenders}       # process CPU seconds during training (all threads)
    rates = {c.name: [] for c in contenders}      # chars/s of each slice
    start_val = evaluator(ours.initial_weights())
    next_eval = [args.budget * k / args.evals for k in range(1, args.evals + 1)]
    header = " ".join(f"{c.name + ' t(s)':>10} {c.name + ' steps':>11} {c.name + ' chars/s':>13} {c.name + ' val':>10}"
                      for c in contenders)
    print(f"{'rounds':>6} {header}")
    last = {c.name: (0.0, 0) for c in contenders}
    rnd, final = 0, None
    while any(used[c.name] < args.budget - 1e-9 for c in contenders):
        rnd += 1
        for c in contenders:
            left = args.budget - used[c.name]
            if left <= 1e-9:
                continue
            cpu0 = time.process_time()
            steps, elapsed, _ = run_slice(c, args.slice, left, sync)
            cpu[c.name] += time.process_time() - cpu0
            used[c.name] += elapsed
            rates[c.name].append(steps * chars_per_step / elapsed)
        done = all(used[c.name] >= args.budget - 1e-9 for c in contenders)
        if done or min(used.values()) >= next_eval[0]:
            while next_eval and min(used.values()) >= next_eval[0]:
                next_eval.pop(0)
            final = {c.name: (used[c.name], c.steps, evaluator(c.weights())) for c in contenders}
            cols = []
            for c in contenders:
                t, steps, val = final[c.name]
                t0, s0 = last[c.name]
                cols.append(f"{t:>10.1f} {steps:>11,} {(steps - s0) * chars_per_step / max(t - t0, 1e-9):>13,.0f} "
                            f"{val:>10.4f}")
                last[c.name] = (t, steps)
            print(f"{rnd:>6} " + " ".join(cols), flush=True)
    load_end = loadavg()

    print(f"\nload average at end: {load_end}")
    print(f"validation loss of the initial weights: {start_val:.4f} nats/char (uniform: {math.log(len(vocab)):.4f})\n")
    print(f"{'':8} {'steps':>8} {'train s':>9} {'chars/s':>10} {'best slice':>11} {'chars/cpu-s':>12} "
          f"{'val nats/char':>14} {'val bpc':>8}")
    for c in contenders:
        t, steps, val = final[c.name]
        print(f"{c.name:8} {steps:>8,} {t:>9.1f} {steps * chars_per_step / t:>10,.0f} {max(rates[c.name]):>11,.0f} "
              f"{steps * chars_per_step / max(cpu[c.name], 1e-9):>12,.0f} {val:>14.4f} {val / math.log(2):>8.4f}")
    if len(contenders) == 2:
        o, p = final["ours"], final["torch"]
        overall = (o[1] / o[0]) / (p[1] / p[0])
        paired = [a / b for a, b in zip(rates["ours"], rates["torch"])]
        per_cpu = (o[1] / cpu["ours"]) / (p[1] / cpu["torch"])
        print(f"\nthroughput ours/torch: {overall:.3f}x overall; median of {len(paired)} back-to-back slice ratios "
              f"{statistics.median(paired):.3f}x (quartiles {_quantile(paired, 0.25):.3f}..{_quantile(paired, 0.75):.3f}); "
              f"per CPU-second {per_cpu:.3f}x")
        print(f"val loss ours - torch after {args.budget:g} s each: {o[2] - p[2]:+.4f} nats/char")
        torch_c = contenders[[c.name for c in contenders].index("torch")]
        print(f"check: torch's own forward on the same slice gives "
              f"{torch_c.own_eval(val_slice, config.batch_size, config.seq_len):.4f}"
              f" (ours-evaluator on torch's weights: {p[2]:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
