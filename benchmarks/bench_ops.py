"""Per-op overhead of Tensor over raw NumPy on small arrays, and backward through a long chain.

    python benchmarks/bench_ops.py            # prints a table of ratios (ours / NumPy)

The ratio is what our bookkeeping costs on top of the array work; on small arrays that is
nearly all of it, which is the regime of a per-time-step Python loop.
"""
import argparse
import time

import numpy as np

import tinygrad_rnn as tg


def best_time(fn, repeat=5, number=2000):
    """Seconds per call: the best of ``repeat`` runs of ``number`` calls (least noisy)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def op_table(size):
    a_np = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    b_np = a_np + 1
    a, b = tg.tensor(a_np), tg.tensor(b_np)
    ag, bg = tg.tensor(a_np, requires_grad=True), tg.tensor(b_np, requires_grad=True)
    cases = [
        ("add", lambda: a_np + b_np, lambda: a + b, lambda: ag + bg),
        ("mul", lambda: a_np * b_np, lambda: a * b, lambda: ag * bg),
        ("matmul", lambda: a_np @ b_np, lambda: a @ b, lambda: ag @ bg),
        ("tanh", lambda: np.tanh(a_np), lambda: a.tanh(), lambda: ag.tanh()),
        ("sum", lambda: a_np.sum(), lambda: a.sum(), lambda: ag.sum()),
        ("getitem", lambda: a_np[1:], lambda: a[1:], lambda: ag[1:]),
    ]
    rows = []
    for name, raw, plain, graph in cases:
        t_np, t_plain, t_graph = best_time(raw), best_time(plain), best_time(graph)
        rows.append((name, t_np * 1e6, t_plain * 1e6, t_graph * 1e6, t_plain / t_np, t_graph / t_np))
    return rows


def chain_backward(n):
    """Seconds to build and to backward a chain of ``n`` multiplications."""
    x = tg.randn(8, requires_grad=True)
    start = time.perf_counter()
    y = x
    for _ in range(n):
        y = y * 1.0
    built = time.perf_counter()
    y.sum().backward()
    return built - start, time.perf_counter() - built


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8, help="side of the square test arrays")
    parser.add_argument("--chain", type=int, default=100_000, help="ops in the backward chain")
    args = parser.parse_args()
    print(f"per-op time on {args.size}x{args.size} float32 (microseconds)")
    print(f"{'op':8} {'numpy':>8} {'tensor':>8} {'+graph':>8} {'ratio':>7} {'ratio+graph':>12}")
    for name, t_np, t_plain, t_graph, r_plain, r_graph in op_table(args.size):
        print(f"{name:8} {t_np:8.2f} {t_plain:8.2f} {t_graph:8.2f} {r_plain:6.1f}x {r_graph:11.1f}x")
    built, backward = chain_backward(args.chain)
    print(f"\nchain of {args.chain:,} ops: forward {built:.2f} s, backward {backward:.2f} s "
          f"({backward / args.chain * 1e6:.1f} us per node)")
    built10, backward10 = chain_backward(args.chain // 10)
    print(f"chain of {args.chain // 10:,} ops: backward {backward10:.3f} s "
          f"(x10 length costs {backward / backward10:.1f}x: linear means ~10)")


if __name__ == "__main__":
    main()
