"""Batches of sequences of different lengths: padding them into one tensor, and the helpers
the sequence layers use to respect each sequence's length.

    seqs = [tg.randn(5, 8), tg.randn(3, 8), tg.randn(4, 8)]   # (L_i, features) each
    x = pad_sequence(seqs)                  # (T=5, B=3, 8), zeros after each sequence's end
    lengths = sequence_lengths(seqs)        # [5, 3, 4]
    out, h_n = rnn(x, lengths=lengths)      # out is zero past each length; h_n at the last real step

Lengths are kept on the host as a NumPy int64 array (B,): they decide which time steps are
real, which is control flow, not data, so they never need a gradient or a GPU.
"""
import numpy as np

from ..._validation import check_lengths, step_mask  # noqa: F401  (check_lengths: public here too)
from ...tensor import Tensor, stack


def sequence_lengths(sequences):
    """The length (first dimension) of each sequence in a list, as Python ints: the ``lengths=``
    to pass with ``pad_sequence(sequences)``."""
    return [int(s.shape[0]) for s in sequences]


def pad_sequence(sequences, batch_first=False, padding_value=0.0):
    """Pad a list of B tensors of shapes (L_i, *) to one tensor, as ``torch.nn.utils.rnn.pad_sequence``.

    Returns (T, B, *) with T = max L_i, or (B, T, *) when ``batch_first``. Entry [t, b] is
    ``sequences[b][t]`` for t < L_b and ``padding_value`` after. Differentiable: the gradient of
    each sequence is its slice of the padded tensor's gradient. Get the lengths with
    ``sequence_lengths(sequences)`` (or ``[len(s) for s in sequences]``).
    """
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence needs at least one sequence, got an empty list")
    sequences = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    first = sequences[0]
    for i, s in enumerate(sequences):
        if s.ndim < 1:
            raise ValueError(f"pad_sequence: sequence {i} is a scalar; each needs a time axis, shape (L, *)")
        if s.shape[1:] != first.shape[1:]:
            raise ValueError(f"pad_sequence: sequences must share their trailing shape; sequence 0 has "
                             f"shape {first.shape}, sequence {i} has shape {s.shape}")
        if s.device != first.device or s.dtype != first.dtype:
            raise TypeError(f"pad_sequence: sequence 0 is {first.dtype} on {first.device}, "
                            f"sequence {i} is {s.dtype} on {s.device}")
    T = max(s.shape[0] for s in sequences)
    padded = [s.pad([(0, T - s.shape[0])] + [(0, 0)] * (s.ndim - 1), value=padding_value)
              for s in sequences]
    return stack(padded, axis=0 if batch_first else 1)


def unpad_sequence(padded, lengths, batch_first=False):
    """The inverse of ``pad_sequence``: a list of B tensors, sequence b of shape (lengths[b], *)."""
    time_axis = 0 if not batch_first else 1
    lengths = check_lengths(lengths, padded.shape[time_axis], padded.shape[1 - time_axis])
    if lengths is None:
        lengths = np.full(padded.shape[1 - time_axis], padded.shape[time_axis])
    if batch_first:
        return [padded[b, :n] for b, n in enumerate(lengths.tolist())]
    return [padded[:n, b] for b, n in enumerate(lengths.tolist())]


def length_mask(lengths, T, batch_first=False, device=None):
    """Boolean Tensor, True at real steps: (T, B), or (B, T) when ``batch_first``. Handy to mask
    a loss over a padded batch."""
    mask = step_mask(lengths, T)
    return Tensor(mask.T if batch_first else mask, device=device)


def reverse_padded(x, lengths=None):
    """Reverse each sequence of the time-major x (T, B, *) within its own length, leaving the
    padding where it is: [a b c pad] -> [c b a pad]. Without lengths this is ``x.flip(0)``.

    Applying it twice gives x back, so the same call turns a backward-in-time result into
    time order. Differentiable (a permutation: its gradient is the same permutation)."""
    if lengths is None:
        return x.flip(0)
    T, B = x.shape[0], x.shape[1]
    lengths = np.asarray(lengths)
    t = np.arange(T)[:, None]
    source_t = np.where(step_mask(lengths, T), lengths[None, :] - 1 - t, t)   # (T, B)
    return x[source_t, np.arange(B)[None, :]]
