"""Devices: ``"cpu"`` arrays live in NumPy, ``"cuda"`` arrays in CuPy.

This is the only module that imports CuPy, and it does so lazily, so the package imports on a
machine without it. Everything else asks this module for the array module (``xp``) of an array
and writes its code once against that.
"""
import numpy as np

_cupy = None          # the cupy module once imported, False if it is not usable
_default_device = "cpu"
DEVICES = ("cpu", "cuda")


def _load_cupy():
    global _cupy
    if _cupy is None:
        try:
            import cupy
            _cupy = cupy if cupy.cuda.runtime.getDeviceCount() > 0 else False
        except Exception:  # no cupy, no driver or no GPU: all mean "no cuda here"
            _cupy = False
    return _cupy


def cuda_available():
    """True when CuPy imports and sees at least one CUDA device."""
    return bool(_load_cupy())


def cupy():
    """The CuPy module, for code that builds CUDA kernels; raises when there is none."""
    if not cuda_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available "
                           "(install the 'gpu' extra: cupy-cuda12x or cupy-cuda13x, and check the driver)")
    return _cupy


def check_device(device):
    """Normalise a device name (``"cpu"``, ``"cuda"``, ``"cuda:0"``) or raise a clear error."""
    if device is None:
        return _default_device
    name = str(device).split(":")[0]
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {DEVICES}")
    if name == "cuda":
        cupy()
    return name


def set_default_device(device):
    """Device that creation functions use when none is given (``"cpu"`` at start)."""
    global _default_device
    _default_device = check_device(device)


def default_device():
    return _default_device


def array_module(array):
    """NumPy or CuPy: whichever owns ``array``. Fast path for NumPy, which is the common case."""
    if type(array) is np.ndarray or _cupy is None or _cupy is False:
        return np
    return _cupy.get_array_module(array)


def device_of(array):
    return "cpu" if array_module(array) is np else "cuda"


def xp_for(device):
    return np if check_device(device) == "cpu" else _cupy


def to_device(array, device):
    """Copy ``array`` to ``device`` (no copy when it already lives there)."""
    device = check_device(device)
    if device == "cpu":
        return array if array_module(array) is np else _cupy.asnumpy(array)
    return _cupy.asarray(array)


def to_numpy(array):
    return to_device(array, "cpu")


# ---- random numbers ----------------------------------------------------------------------
# One NumPy generator serves both devices: numbers are drawn on the CPU and moved, so a seed
# gives the same weights on "cpu" and "cuda" (initialisation is not a hot path). Dropout masks
# on the GPU are drawn there for speed from a CuPy generator seeded from the same seed.
_rng = np.random.default_rng()
_cuda_rng = None


def manual_seed(seed):
    """Seed every generator the package uses."""
    global _rng, _cuda_rng
    _rng = np.random.default_rng(seed)
    _cuda_rng = _cupy.random.default_rng(seed) if cuda_available() else None


def rng():
    return _rng


def random_uniform(shape, device, dtype):
    """Uniform [0, 1) numbers on ``device``: the source of dropout masks."""
    if check_device(device) == "cuda":
        global _cuda_rng
        if _cuda_rng is None:
            _cuda_rng = _cupy.random.default_rng(int(_rng.integers(2**63)))
        return _cuda_rng.random(shape, dtype=dtype)
    return _rng.random(shape, dtype=dtype)


def get_rng_state():
    """JSON-safe state of the generators, so a resumed run draws the same numbers."""
    return {"numpy": _rng.bit_generator.state}


def set_rng_state(state):
    _rng.bit_generator.state = state["numpy"]
