"""Train/validation split and truncated-BPTT batches over a 1-D id array.

Batches are plain NumPy int64 arrays, batch-first ``(batch_size, T)``;
moving them to a device is the caller's job.
"""

import operator

import numpy as np


def _as_ids(ids) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f"ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
    return ids.astype(np.int64, copy=False)


def _positive_int(name, value) -> int:
    value = operator.index(value)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def split_train_val(ids, val_fraction: float = 0.1):
    """Split ``ids`` into ``(train, val)``, validation taken from the end.

    Contiguous (not shuffled) so that validation text is unseen prose rather
    than sequences overlapping the training ones. Each part needs at least
    two ids to contain one (input, target) pair. Returns views of ``ids``.
    """
    ids = _as_ids(ids)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction}")
    n_val = round(len(ids) * val_fraction)
    n_train = len(ids) - n_val
    if n_val < 2 or n_train < 2:
        raise ValueError(
            f"{len(ids)} ids are too few to split with val_fraction={val_fraction}: "
            f"got {n_train} train and {n_val} validation ids, need at least 2 each"
        )
    return ids[:n_train], ids[n_train:]


class BPTTBatches:
    """Chunks of ``batch_size`` parallel streams for truncated BPTT.

    The ids are cut into ``batch_size`` contiguous streams (row ``b`` is
    ``ids[b*L:(b+1)*L]`` with ``L = len(ids) // batch_size``; the remainder
    is dropped). Chunk ``i`` holds stream positions ``[i*seq_len, i*seq_len+T)``
    as inputs and the next character of each as targets, so chunk ``i+1``
    starts exactly where chunk ``i`` stopped: a model may carry its hidden
    state from one chunk to the next and reset it when a new epoch begins.
    Only the last chunk may be shorter than ``seq_len``.
    """

    def __init__(self, ids, batch_size: int, seq_len: int):
        ids = _as_ids(ids)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.seq_len = _positive_int("seq_len", seq_len)
        self.stream_len = len(ids) // self.batch_size
        if self.stream_len < 2:
            raise ValueError(
                f"corpus of {len(ids)} characters is too short for batch_size={self.batch_size} "
                f"and seq_len={self.seq_len}: need at least {2 * self.batch_size} "
                f"(2 per stream, for one input/target pair)"
            )
        self._streams = ids[: self.batch_size * self.stream_len].reshape(self.batch_size, self.stream_len)
        # The final character of each stream is only ever a target.
        self._num_chunks = -(-(self.stream_len - 1) // self.seq_len)

    def __len__(self) -> int:
        """Chunks per epoch."""
        return self._num_chunks

    def chunk_at(self, i: int):
        """``(inputs, targets)`` of chunk ``i``, each an int64 ``(batch_size, T)`` copy."""
        i = operator.index(i)
        if not 0 <= i < self._num_chunks:
            raise IndexError(f"chunk index {i} out of range for {self._num_chunks} chunks")
        start = i * self.seq_len
        stop = min(start + self.seq_len, self.stream_len - 1)
        return self._streams[:, start:stop].copy(), self._streams[:, start + 1 : stop + 1].copy()

    def __iter__(self):
        """One epoch of ``(inputs, targets)`` chunks, in stream order."""
        for i in range(self._num_chunks):
            yield self.chunk_at(i)

    def cycle(self, start_chunk: int = 0):
        """Endless ``(epoch, chunk_index, inputs, targets)``, starting at a global position.

        ``start_chunk`` counts chunks across epochs (e.g. optimizer steps
        taken so far), so a resumed run continues from the same epoch and
        chunk. ``chunk_index == 0`` marks the start of an epoch.
        """
        step = operator.index(start_chunk)
        if step < 0:
            raise ValueError(f"start_chunk must be >= 0, got {step}")
        while True:
            epoch, index = divmod(step, self._num_chunks)
            yield (epoch, index, *self.chunk_at(index))
            step += 1
