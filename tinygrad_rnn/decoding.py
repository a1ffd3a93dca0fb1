"""Decoding a conditional language model: greedy, sampling and beam search, for any model.

A model is seen only through one function,

    step(tokens, state) -> (log_probs, new_state)

``tokens`` a NumPy int64 array (N,) (the previous output of each of N hypotheses), ``log_probs``
(N, V) log-probabilities of the next token (a Tensor or an array), ``state`` anything the model
carries between steps (hidden states, encoder outputs, masks): a Tensor, an array, or tuples /
lists / dicts of them, each with the hypotheses along axis 0 (pass ``reorder=`` otherwise).
Decoding runs under ``no_grad``. Every function returns a ``DecodeResult``:

    tokens   (B, max_len) int64, the output of each input, ``eos`` included, then ``eos`` again
    scores   (B,) float64, the model's log-probability of those tokens up to the first eos
    lengths  (B,) int64, the number of tokens up to and including the first eos (max_len if none)

Beam search keeps, per input, the ``beam_size`` best-scoring partial outputs; each step
extends all of them by every token and keeps the best ``beam_size`` of the B*K*V candidates,
as one batched computation. A finished hypothesis (it emitted eos) stays in the beam with its
score frozen, so it competes with the unfinished ones. The final choice divides each score by
``length ** length_penalty`` (0: raw log-probability, which favours short outputs; 1: per-token
average). Beam size 1 is greedy decoding. A larger beam explores more but is *not* guaranteed
to find a better output than a smaller one: pruning is greedy at each step, so the wider beam
can drop the prefix that the narrower beam's winner came from (tests/test_decoding.py has a
three-step example); only a beam as large as the number of possible outputs is exact.
"""
from collections import namedtuple

import numpy as np

from . import backend
from .function import no_grad
from .tensor import Tensor

DecodeResult = namedtuple("DecodeResult", ["tokens", "scores", "lengths"])


def index_state(state, index):
    """``state`` with its hypotheses (axis 0 of every Tensor / array in it) picked by ``index``."""
    if state is None or isinstance(state, (int, float, str)):
        return state
    if isinstance(state, Tensor):
        return state[index]
    if isinstance(state, (tuple, list)):
        return type(state)(index_state(s, index) for s in state)
    if isinstance(state, dict):
        return {k: index_state(v, index) for k, v in state.items()}
    if hasattr(state, "shape"):
        return state[backend.to_device(index, backend.device_of(state))]
    raise TypeError(f"cannot reorder a decoder state of type {type(state).__name__}; pass reorder=")


def _batch_size(state, batch_size):
    if batch_size is not None:
        return int(batch_size)
    stack = [state]
    while stack:
        s = stack.pop()
        if isinstance(s, dict):
            stack.extend(s.values())
        elif isinstance(s, (tuple, list)):
            stack.extend(reversed(s))
        elif hasattr(s, "shape") and len(s.shape):
            return int(s.shape[0])
    raise ValueError("cannot tell the batch size from the state; pass batch_size=")


def _log_probs(out, rows):
    array = backend.to_numpy(out.data if isinstance(out, Tensor) else out).astype(np.float64)
    if array.ndim != 2 or array.shape[0] != rows:
        raise ValueError(f"step must return log_probs of shape (N, V) with N = {rows} hypotheses, "
                         f"got shape {array.shape}")
    return array


def _finish(history, scores, eos):
    """DecodeResult from histories (B, T): lengths up to the first eos, eos after it."""
    B, T = history.shape
    is_eos = history == eos
    lengths = np.where(is_eos.any(axis=1), is_eos.argmax(axis=1) + 1, T).astype(np.int64)
    tokens = np.where(np.arange(T)[None, :] < lengths[:, None], history, eos).astype(np.int64)
    return DecodeResult(tokens, np.asarray(scores, dtype=np.float64), lengths)


def _one_at_a_time(step, state, bos, eos, max_len, batch_size, choose):
    """Greedy and sampling: ``choose(log_probs)`` picks one token per row; finished rows emit
    eos at no cost. Stops when every row has finished or after ``max_len`` tokens."""
    B = _batch_size(state, batch_size)
    tokens = np.full(B, bos, dtype=np.int64)
    scores, finished, history = np.zeros(B), np.zeros(B, dtype=bool), []
    with no_grad():
        for _ in range(max_len):
            out, state = step(tokens, state)
            logp = _log_probs(out, B)
            tokens = np.where(finished, eos, choose(logp))
            scores += np.where(finished, 0.0, logp[np.arange(B), tokens])
            finished |= tokens == eos
            history.append(tokens)
            if finished.all():
                break
    history = np.stack(history, axis=1) if history else np.zeros((B, 0), np.int64)
    return _finish(np.pad(history, ((0, 0), (0, max_len - history.shape[1])), constant_values=eos), scores, eos)


def greedy(step, state, bos, eos, max_len, batch_size=None):
    """The most likely next token at every step (the first one on a tie)."""
    return _one_at_a_time(step, state, bos, eos, max_len, batch_size, lambda logp: logp.argmax(axis=1))


def sample(step, state, bos, eos, max_len, temperature=1.0, top_k=None, rng=None, batch_size=None):
    """Draw each token from softmax(log_probs / temperature), among the ``top_k`` most likely
    if given. ``rng`` a NumPy Generator (default: a fresh one seeded with 0, reproducible)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    rng = np.random.default_rng(0) if rng is None else rng

    def choose(logp):
        z = logp / temperature
        if top_k is not None:
            kth = -np.sort(-z, axis=1)[:, min(top_k, z.shape[1]) - 1:][:, :1]
            z = np.where(z >= kth, z, -np.inf)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        cumulative = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        return np.minimum((cumulative < rng.random((len(z), 1))).sum(axis=1), z.shape[1] - 1)
    return _one_at_a_time(step, state, bos, eos, max_len, batch_size, choose)


def beam_search(step, state, bos, eos, max_len, beam_size=4, length_penalty=0.0, batch_size=None,
                reorder=index_state):
    """The best of ``beam_size`` hypotheses kept per input (see the module doc). ``reorder(state,
    rows)`` picks the state rows of the surviving hypotheses (default: axis 0 of everything)."""
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    B, K = _batch_size(state, batch_size), beam_size
    state = reorder(state, np.repeat(np.arange(B), K))              # K copies of each input
    tokens = np.full(B * K, bos, dtype=np.int64)
    scores = np.tile(np.r_[0.0, np.full(K - 1, -np.inf)], B)        # start from one hypothesis
    finished = np.zeros(B * K, dtype=bool)
    history = np.zeros((B * K, 0), dtype=np.int64)
    with no_grad():
        for _ in range(max_len):
            out, state = step(tokens, state)
            logp = _log_probs(out, B * K)
            V = logp.shape[1]
            frozen = np.where(np.arange(V) == eos, 0.0, -np.inf)     # a finished one only repeats eos
            candidates = (scores[:, None] + np.where(finished[:, None], frozen, logp)).reshape(B, K * V)
            best = np.argsort(-candidates, axis=1, kind="stable")[:, :K]  # (B, K), ties: lowest index
            rows = (np.arange(B)[:, None] * K + best // V).reshape(-1)
            tokens, scores = (best % V).reshape(-1), np.take_along_axis(candidates, best, 1).reshape(-1)
            history = np.concatenate([history[rows], tokens[:, None]], axis=1)
            finished = finished[rows] | (tokens == eos)
            state = reorder(state, rows)
            if np.all(finished | np.isneginf(scores)):
                break
    history = np.pad(history, ((0, 0), (0, max_len - history.shape[1])), constant_values=eos)
    result = _finish(history, scores, eos)
    normalised = np.where(np.isneginf(scores), -np.inf, scores / result.lengths ** float(length_penalty))
    pick = np.arange(B) * K + normalised.reshape(B, K).argmax(axis=1)
    return DecodeResult(result.tokens[pick], result.scores[pick], result.lengths[pick])
