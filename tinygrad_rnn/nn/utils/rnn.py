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
from ...tensor import Tensor, cat, stack


def sequence_lengths(sequences):
    """The length (first dimension) of each sequence in a list, as Python ints: the ``lengths=``
    to pass with ``pad_sequence(sequences)``."""
    return [int(s.shape[0]) for s in sequences]


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
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
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    widths = (lambda n: (0, T - n)) if padding_side == "right" else (lambda n: (T - n, 0))
    padded = [s.pad([widths(s.shape[0])] + [(0, 0)] * (s.ndim - 1), value=padding_value) for s in sequences]
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


# ---- packed sequences, as torch.nn.utils.rnn ---------------------------------------------
class PackedSequence(tuple):
    """A batch of sequences of different lengths stored without padding, as torch's:

        data              (sum of lengths, *): time step 0 of every sequence, then step 1 of
                          those still running, ... (sequences in order of decreasing length)
        batch_sizes       int64 Tensor (T,): how many sequences are running at each step
        sorted_indices    int64 Tensor (B,) or None: sequence k of the packed order is
                          sequence sorted_indices[k] of the caller's batch
        unsorted_indices  its inverse permutation (or None)

    ``RNN/LSTM/GRU`` accept one and return one (h_n in the caller's batch order). Here it is
    a view of the ``lengths=`` path the layers already have: they unpack to padding plus
    lengths, run, and pack again, so padding never costs a second implementation."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = Tensor(np.argsort(sorted_indices.numpy()).astype(np.int64))
        return super().__new__(cls, (data, batch_sizes, sorted_indices, unsorted_indices))

    data = property(lambda self: self[0])
    batch_sizes = property(lambda self: self[1])
    sorted_indices = property(lambda self: self[2])
    unsorted_indices = property(lambda self: self[3])
    is_cuda = property(lambda self: self.data.device == "cuda")

    def to(self, *args, **kwargs):
        return type(self)(self.data.to(*args, **kwargs), *self[1:])

    def __repr__(self):
        return (f"PackedSequence(data={self.data!r}, batch_sizes={self.batch_sizes!r}, "
                f"sorted_indices={self.sorted_indices!r}, unsorted_indices={self.unsorted_indices!r})")


def _lengths_array(lengths):
    raw = lengths.numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    if raw.dtype.kind not in "iu" or raw.ndim != 1:
        raise TypeError(f"lengths must be a 1-D list or tensor of integers, got {raw.dtype} of shape {raw.shape}")
    return raw.astype(np.int64)


def _pack(x, lengths, order):
    """Time-major x (T, B, *) -> PackedSequence with sequences taken in ``order`` (B,)."""
    sorted_lengths = lengths[order]
    T = int(sorted_lengths[0])
    batch_sizes = np.array([(sorted_lengths > t).sum() for t in range(T)], dtype=np.int64)
    t_idx = np.repeat(np.arange(T), batch_sizes)
    b_idx = np.concatenate([order[:n] for n in batch_sizes])
    data = x[t_idx, b_idx]
    identity = np.array_equal(order, np.arange(len(order)))
    sorted_indices = None if identity else Tensor(order.astype(np.int64))
    unsorted = None if identity else Tensor(np.argsort(order).astype(np.int64))
    return PackedSequence(data, Tensor(batch_sizes), sorted_indices, unsorted)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (or (B, T, *) with ``batch_first``) whose sequence b has
    ``lengths[b]`` real steps. ``enforce_sorted`` requires lengths in decreasing order;
    ``enforce_sorted=False`` sorts them (and records how to undo it)."""
    lengths = _lengths_array(lengths)
    T, B = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    if lengths.shape != (B,):
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                         f"(batch_size={B})")
    if B and (lengths.min() <= 0 or lengths.max() > T):
        raise RuntimeError(f"every length must be in [1, T={T}], got {lengths.tolist()}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                               "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                               "pack_sequence to sidestep this requirement.")
        order = np.arange(B)
    else:
        order = np.argsort(-lengths, kind="stable")
    x = input.transpose(0, 1) if batch_first else input
    return _pack(x, lengths, order)


def _packed_positions(sequence):
    """(lengths in the caller's order, index (T, B) into ``data`` or -1 at padding)."""
    batch_sizes = sequence.batch_sizes.numpy()
    B, T = int(batch_sizes[0]), len(batch_sizes)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    index = np.full((T, B), -1, dtype=np.int64)
    for t in range(T):
        index[t, :batch_sizes[t]] = offsets[t] + np.arange(batch_sizes[t])
    sorted_lengths = (index >= 0).sum(axis=0)
    if sequence.sorted_indices is not None:      # packed column k is the caller's sequence order[k]
        unsorted = sequence.unsorted_indices.numpy()
        index, sorted_lengths = index[:, unsorted], sorted_lengths[unsorted]
    return sorted_lengths.astype(np.int64), index


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of ``pack_padded_sequence``: (padded (T, B, *) or (B, T, *), lengths int64
    Tensor (B,)), in the caller's batch order. ``total_length`` pads to that many steps."""
    lengths, index = _packed_positions(sequence)
    T = index.shape[0]
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence "
                             f"({T}), got {total_length}")
        index = np.concatenate([index, np.full((total_length - T, index.shape[1]), -1, np.int64)])
    data = sequence.data
    pad_row = Tensor(np.full((1,) + data.shape[1:], padding_value, dtype=data.dtype), device=data.device)
    extended = cat([data, pad_row], axis=0)           # row -1 is the padding value
    padded = extended[np.where(index >= 0, index, data.shape[0])]
    return (padded.transpose(0, 1) if batch_first else padded), Tensor(lengths)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *) directly: ``pack_padded_sequence(pad_sequence(...))``."""
    lengths = sequence_lengths(sequences)
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The inverse of ``pack_sequence``: the list of tensors (L_i, *) in the caller's order."""
    padded, lengths = pad_packed_sequence(packed_sequences)
    return unpad_sequence(padded, lengths.numpy())


def packed_forward(layer, packed, hx, lengths):
    """Run a recurrent layer on a PackedSequence through its ``lengths=`` path: unpack, run,
    pack the output in the same order. Returns (PackedSequence, h_n, c_n) as ``_forward``."""
    if lengths is not None:
        raise ValueError("pass either a PackedSequence or lengths=, not both")
    padded, seq_lengths = pad_packed_sequence(packed, batch_first=layer.batch_first)
    out, h_n, c_n = layer._forward(padded, hx, seq_lengths.numpy())
    x = out.transpose(0, 1) if layer.batch_first else out
    order = np.arange(x.shape[1]) if packed.sorted_indices is None else packed.sorted_indices.numpy()
    return _pack(x, seq_lengths.numpy(), order), h_n, c_n
