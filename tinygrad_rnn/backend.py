"""Devices: ``"cpu"`` arrays live in NumPy, ``"cuda"`` arrays in CuPy.

This is the only module that imports CuPy, and it does so lazily, so the package imports on a
machine without it. Everything else asks this module for the array module (``xp``) of an array
and writes its code once against that.
"""
import os

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
    """Normalise a device name (``"cpu"``, ``"cuda"``, ``"cuda:N"``) or raise a clear error.

    The package runs on one GPU, the current CuPy device: ``"cuda:N"`` is accepted when N is
    that device and refused otherwise (rather than silently running somewhere else)."""
    if device is None:
        return _default_device
    name, colon, index = str(device).partition(":")
    if name not in DEVICES or (colon and not index.isdigit()):
        raise ValueError(f"unknown device {device!r}: expected one of {DEVICES} (or 'cuda:N')")
    if name == "cpu" and colon and int(index) != 0:
        raise ValueError(f"unknown device {device!r}: there is only one CPU device, 'cpu'")
    if name == "cuda":
        cp = cupy()
        if colon:
            wanted, count = int(index), cp.cuda.runtime.getDeviceCount()
            current = cp.cuda.Device().id
            if wanted >= count:
                raise ValueError(f"device {device!r} does not exist: {count} CUDA device(s) visible")
            if wanted != current:
                raise ValueError(f"device {device!r}: tinygrad_rnn runs on the current GPU (cuda:{current}); "
                                 f"select GPU {wanted} with CUDA_VISIBLE_DEVICES={wanted} and pass 'cuda'")
    return name


def set_default_device(device):
    """Device that creation functions use when none is given (``"cpu"`` at start)."""
    global _default_device
    _default_device = check_device(device)


def default_device():
    return _default_device


def array_module(array):
    """NumPy or CuPy: whichever owns ``array``. Fast path for NumPy, which is the common case.

    A CuPy array made before this package touched CUDA is recognised by its type's module
    (CuPy is then loaded here), so ``Tensor(cupy_array)`` works as the first CUDA call."""
    if type(array) is np.ndarray:
        return np
    if _cupy is None and type(array).__module__.split(".")[0] == "cupy":
        _load_cupy()
    if not _cupy:
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


def memory_bytes(device):
    """Total memory of ``device`` in bytes (RAM for "cpu", the GPU's own for "cuda"), or None
    when it cannot be told: the yardstick of the model-size check before training."""
    try:
        if check_device(device) == "cuda":
            return int(_cupy.cuda.Device().mem_info[1])
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError, RuntimeError):
        return None


# ---- random numbers ----------------------------------------------------------------------
# One NumPy generator serves both devices: numbers are drawn on the CPU and moved, so a seed
# gives the same weights on "cpu" and "cuda" (initialisation is not a hot path). Dropout masks
# on the GPU are drawn there for speed from a CuPy generator seeded from the same seed; its
# state (CuPy keeps it on the GPU, a few MB) is part of ``get_rng_state`` so resume is exact
# on CUDA too, on the same GPU model (the state's size depends on the number of SMs).
_rng = np.random.default_rng()
_cuda_rng = None
_cuda_seed = None


def _new_cuda_rng(seed):
    global _cuda_rng, _cuda_seed
    _cuda_seed = int(seed)
    _cuda_rng = _cupy.random.default_rng(_cuda_seed)
    return _cuda_rng


def manual_seed(seed):
    """Seed every generator the package uses."""
    global _rng, _cuda_rng, _cuda_seed
    _rng = np.random.default_rng(seed)
    _cuda_rng = _cuda_seed = None
    if cuda_available():
        _new_cuda_rng(seed if seed is not None else _rng.integers(2**63))


def rng():
    return _rng


def random_uniform(shape, device, dtype):
    """Uniform [0, 1) numbers on ``device``: the source of dropout masks."""
    if check_device(device) == "cuda":
        generator = _cuda_rng if _cuda_rng is not None else _new_cuda_rng(_rng.integers(2**63))
        return generator.random(shape, dtype=dtype)
    return _rng.random(shape, dtype=dtype)


def get_rng_state():
    """The generators' state, so a resumed run draws the same numbers: ``{"numpy": a JSON-safe
    dict, "cuda": None (no CuPy generator yet) or {"seed": int, "state": uint8 NumPy array}}``."""
    cuda = None
    if _cuda_rng is not None:
        raw = _cuda_rng.bit_generator._state        # CuPy keeps the cuRAND states in this array
        cuda = {"seed": _cuda_seed, "state": _cupy.asnumpy(raw).view(np.uint8).copy()}
    return {"numpy": _rng.bit_generator.state, "cuda": cuda}


def rng_snapshot():
    """An in-memory copy of the generators' state (the CuPy one stays on the GPU), cheap enough
    to take before every training step; ``restore_rng_snapshot`` rewinds to it."""
    cuda = None if _cuda_rng is None else (_cuda_rng, _cuda_seed, _cuda_rng.bit_generator._state.copy())
    return _rng.bit_generator.state, cuda


def restore_rng_snapshot(snapshot):
    global _cuda_rng, _cuda_seed
    numpy_state, cuda = snapshot
    _rng.bit_generator.state = numpy_state
    if cuda is None:
        _cuda_rng = _cuda_seed = None
    else:
        _cuda_rng, _cuda_seed, raw = cuda
        _cuda_rng.bit_generator._state[...] = raw


def set_rng_state(state):
    """Put back what ``get_rng_state`` returned (a missing "cuda" entry means none yet)."""
    global _cuda_rng, _cuda_seed
    cuda = state.get("cuda")
    if cuda is not None:
        saved = np.asarray(cuda["state"], dtype=np.uint8)
        generator = _cupy.random.default_rng(int(cuda["seed"])) if cuda_available() else None
        if generator is None:
            raise ValueError("the random state holds a CUDA generator, but CUDA is not available here")
        raw = generator.bit_generator._state
        if raw.nbytes != saved.nbytes:
            raise ValueError(f"the saved CUDA generator state has {saved.nbytes} bytes, this GPU's "
                             f"{raw.nbytes}: exact resume needs the same GPU model")
        raw[...] = _cupy.asarray(saved).view(raw.dtype)
    _rng.bit_generator.state = state["numpy"]
    _cuda_rng, _cuda_seed = (generator, int(cuda["seed"])) if cuda is not None else (None, None)
