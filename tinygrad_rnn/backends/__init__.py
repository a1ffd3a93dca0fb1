"""``torch.backends`` and the thread-count calls, as seeding and setup code uses them.

There is no cuDNN or MPS here: the flags exist so ``torch.backends.cudnn.deterministic = True``
runs, and they change nothing (our kernels are deterministic already). NumPy's BLAS picks its
thread count when it loads, so ``set_num_threads`` is recorded but cannot change it; set
``OMP_NUM_THREADS`` before starting Python instead.
"""
import os

from . import cudnn, mps

_threads = None


def set_num_threads(num):
    """Record the thread count torch code asks for (see the module docstring)."""
    global _threads
    if not isinstance(num, int) or num < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {num!r}")
    _threads = num


def get_num_threads():
    return _threads if _threads is not None else int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))


__all__ = ["cudnn", "mps", "set_num_threads", "get_num_threads"]
