"""Argument checks shared by the layers, the ops and the models: one home, one wording.

Each check raises the error PyTorch would (ValueError for a bad value, TypeError for a bad
type) with a message that names the argument, so bad input never ends in a NumPy traceback.
``owner`` (a class name) prefixes the message where it helps to know which layer complained.

Also here, because every recurrent path needs it exactly the same way: ``step_mask``, the one
builder of the padding mask (which time steps of which sequence are real), and
``output_size``, the size of h (``proj_size or hidden_size``).
"""
import warnings

import numpy as np

from . import backend


def _prefix(owner):
    return f"{owner}: " if owner else ""


def check_int(name, value, minimum=1, owner=None):
    """``value`` as a Python int, or ValueError unless it is an integer >= ``minimum`` (bools,
    floats such as 3.0 and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{_prefix(owner)}{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_probability(value, name="dropout probability", owner=None, allow_one=False):
    """``value`` as a float in [0, 1) (a dropout rate between recurrent layers: 1 would cut
    them apart), or in [0, 1] with ``allow_one`` (``nn.Dropout(p=1)`` zeroes, as in torch)."""
    number = not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
    if not number or not (0 <= value and (value <= 1 if allow_one else value < 1)):
        if allow_one:                                  # torch's words for nn.Dropout
            raise ValueError(f"{_prefix(owner)}{name} has to be between 0 and 1, but got {value!r}")
        raise ValueError(f"{_prefix(owner)}{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_nonlinearity(nonlinearity):
    """The Elman RNN's activation: "tanh" or "relu"."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


def check_lengths(lengths, T, B):
    """Validate ``lengths`` for a batch of B sequences padded to T steps, and return it as a
    NumPy int64 array (B,); ``None`` stays ``None``.

    Accepts a list/tuple of ints, a NumPy or CuPy integer array, or an integer Tensor. Raises
    TypeError for non-integers and ValueError for a wrong count or a length outside [1, T].
    Lengths live on the host: they decide which steps run (control flow, not data).
    """
    from .tensor import Tensor      # here, not at the top: the ops import this module
    if lengths is None:
        return None
    raw = lengths.data if isinstance(lengths, Tensor) else lengths
    if hasattr(raw, "__cuda_array_interface__"):
        raw = backend.to_numpy(raw)
    array = np.asarray(raw)
    if array.dtype.kind not in "iu":  # bool and float are refused, even 3.0
        raise TypeError(f"lengths must be integers, got {array.dtype} values {array.tolist()}")
    if array.shape != (B,):
        raise ValueError(f"lengths must hold one length per sequence: expected shape ({B},), "
                         f"got shape {array.shape}")
    if B and (array.min() < 1 or array.max() > T):
        raise ValueError(f"every length must be in [1, T={T}] (the padded sequence length), "
                         f"got {array.tolist()}")
    return array.astype(np.int64)


def step_mask(lengths, T):
    """The padding mask: a NumPy bool array (T, B), True where step t is a real step of
    sequence b (t < lengths[b]). ``lengths`` as returned by ``check_lengths``. Every masked
    path (the composite unroll, the fused kernels, ``length_mask``, the learning tools) builds
    its mask here, so they cannot disagree about which steps are padding."""
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


def unroll_masks(lengths, x):
    """``step_mask`` as the composite unroll uses it, per time step of the Tensor x (T, B, ...):
    None where every sequence is running, else (m, 1 - m), m (B, 1) of 1.0 for the sequences
    still running and 0.0 for those past their length (constant arrays on x's device)."""
    T = x.shape[0]
    if lengths is None:
        return [None] * T
    xp = backend.array_module(x.data)
    masks = []
    for running in step_mask(lengths, T):
        if running.all():
            masks.append(None)
        else:
            m = xp.asarray(running[:, None], dtype=x.dtype)
            masks.append((m, 1 - m))
    return masks


def output_size(hidden_size, proj_size=0):
    """Hout, the size of the hidden state h: ``proj_size`` for a projected LSTM, else hidden_size."""
    return proj_size or hidden_size


def check_rnn_input(module, x, ranks, layout):
    """x for a recurrent cell or layer: a Tensor of one of ``ranks`` with ``module.input_size``
    features, on the parameters' device and of their dtype. ``layout`` names the shapes."""
    from .tensor import Tensor
    name = type(module).__name__
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in ranks:
        raise ValueError(f"{name}: expected input of shape {layout}, got a {x.ndim}-D tensor of shape {x.shape}")
    if x.shape[-1] != module.input_size:
        raise ValueError(f"{name}: expected input with input_size={module.input_size} features "
                         f"(last axis), got shape {x.shape}")
    weight = module.weight_ih if hasattr(module, "weight_ih") else module.weight_ih_l0
    if x.device != weight.device:
        raise RuntimeError(f"{name}: input is on {x.device} but the parameters are on {weight.device}; "
                           f"move one with .to(device)")
    if x.dtype != weight.dtype:
        raise TypeError(f"{name}: input has dtype {x.dtype} but the parameters {weight.dtype}; "
                        f"convert the input (x.to(dtype=...)) or the module (.double() / .float())")


def check_rnn_state(module, state, what, expected, x, symbols=None):
    """A hidden/cell state given by the caller: a Tensor of shape ``expected`` like x.
    ``symbols`` names the axes in the message, e.g. "(L*D, B, Hout)"."""
    from .tensor import Tensor
    name = type(module).__name__
    if not isinstance(state, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(state).__name__}")
    if tuple(state.shape) != tuple(expected):
        wanted = f"{symbols} = {tuple(expected)}" if symbols else f"{tuple(expected)}"
        raise ValueError(f"{name}: {what} has the wrong shape: expected {wanted}, got {tuple(state.shape)}")
    if state.device != x.device:
        raise RuntimeError(f"{name}: {what} is on {state.device} but the input is on {x.device}")
    if state.dtype != x.dtype:
        raise TypeError(f"{name}: {what} has dtype {state.dtype} but the input {x.dtype}")


def check_rnn_layer_args(name, input_size, hidden_size, num_layers, dropout, bidirectional, proj_size,
                         residual, impl, checkpoint, impls):
    """The constructor arguments of ``nn.RNN/LSTM/GRU`` (``name``), all checked before anything
    is built."""
    check_int("input_size", input_size)
    check_int("hidden_size", hidden_size)
    check_int("num_layers", num_layers)
    if isinstance(proj_size, bool) or not isinstance(proj_size, int) or not 0 <= proj_size < hidden_size:
        raise ValueError(f"{name}: proj_size must be an integer in [0, hidden_size={hidden_size}) "
                         f"(0 = no projection), got {proj_size!r}")
    check_probability(dropout, "dropout", owner=name)
    if dropout > 0 and num_layers == 1:
        warnings.warn(f"{name}: dropout={dropout} acts between layers only, so with num_layers=1 "
                      f"it does nothing", stacklevel=4)
    if residual and num_layers < 2:
        raise ValueError(f"{name}: residual=True adds each layer's input to its output from the "
                         f"second layer on, so it needs num_layers >= 2, got {num_layers}; for a skip "
                         f"connection around a single layer (input_size {input_size} -> "
                         f"{(2 if bidirectional else 1) * output_size(hidden_size, proj_size)} outputs), "
                         f"use the nn.skip modules")
    if impl not in impls:
        raise ValueError(f"{name}: impl must be one of {impls}, got {impl!r}")
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 0:
        raise ValueError(f"{name}: checkpoint must be an integer >= 0 (0 = keep every step), got {checkpoint!r}")
    if checkpoint and impl != "fused":
        raise ValueError(f"{name}: checkpoint={checkpoint} needs impl='fused', got impl={impl!r}")
