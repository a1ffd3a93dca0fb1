"""``tg.cuda``: the few ``torch.cuda`` functions that programs call to pick a device and seed it.

CuPy is asked through ``backend`` (the only module that imports it), so this works without it.
"""
from . import backend


def is_available():
    """True when CuPy imports and sees a CUDA device."""
    return backend.cuda_available()


def device_count():
    """Number of CUDA devices (0 without CuPy). Tensors use the current one, device 0."""
    return backend.cupy().cuda.runtime.getDeviceCount() if backend.cuda_available() else 0


def current_device():
    if not backend.cuda_available():
        raise RuntimeError("no CUDA device: tg.cuda.is_available() is False")
    return 0


def manual_seed(seed):
    """Seed the generators (one seed drives CPU and GPU numbers here, as ``tg.manual_seed``)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def synchronize():
    """Wait for the GPU to finish queued work (a no-op without CUDA), e.g. before timing."""
    if backend.cuda_available():
        backend.cupy().cuda.runtime.deviceSynchronize()


def empty_cache():
    """Give cached GPU memory back to the driver (CuPy's memory pool); a no-op without CUDA."""
    if backend.cuda_available():
        backend.cupy().get_default_memory_pool().free_all_blocks()
