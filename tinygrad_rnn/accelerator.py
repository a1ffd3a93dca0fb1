"""``tg.accelerator``: torch's device-neutral questions ("is there a GPU, which one"), answered
for the one accelerator this package knows, CUDA through CuPy."""
from . import backend
from .device import device


def is_available():
    return backend.cuda_available()


def current_accelerator(check_available=False):
    """``tg.device("cuda", 0)`` when CUDA is usable, else None (as torch without an accelerator)."""
    return device("cuda", 0) if backend.cuda_available() else None


def device_count():
    from . import cuda
    return cuda.device_count()
