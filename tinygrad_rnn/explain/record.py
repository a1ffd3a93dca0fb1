"""Run a character model over a text one step at a time and keep every unit's activation.

Units are named ``L{layer}.h{j}`` (hidden state) and, for an LSTM, ``L{layer}.c{j}`` (cell);
each is recorded after the model reads each character, together with the model's next-character
distribution there.
"""
import numpy as np

from .. import backend
from ..function import no_grad
from ..tensor import Tensor


def _parts(state):
    return state if isinstance(state, (tuple, list)) else (state,)


def record(model, vocab, text, warmup=""):
    """``(acts (T x U) float64, unit names, probs (T x V))`` for ``text``; ``warmup`` is read
    first (not recorded) so the model starts from a state like those it saw in training."""
    ids = vocab.encode(text)
    state = None
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            if warmup:
                _, state = model(Tensor(vocab.encode(warmup)[None, :], device=model.device), None)
            rows, probs = [], []
            for i in ids:
                logits, state = model(Tensor(np.array([[i]]), device=model.device), state)
                z = backend.to_numpy(logits.data[0, -1]).astype(np.float64)
                e = np.exp(z - z.max())
                probs.append(e / e.sum())
                rows.append(np.concatenate([backend.to_numpy(p.data[:, 0, :]).astype(np.float64).ravel()
                                            for p in _parts(state)]))
    finally:
        model.train(was_training)
    names = [f"L{layer}.{kind}{j}" for kind, part in zip("hc", _parts(state))
             for layer in range(part.shape[0]) for j in range(part.shape[2])]
    return np.array(rows), names, np.array(probs)
