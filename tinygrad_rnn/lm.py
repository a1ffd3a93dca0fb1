"""Character-level language model: the model, its evaluation (bits per character, perplexity)
and text generation.

    model = CharLM(len(vocab), embedding_dim=64, hidden_size=256, num_layers=2, cell="lstm")
    logits, state = model(ids)                       # ids (B, T) int -> logits (B, T, V)
    evaluate(model, val_ids, batch_size=32, seq_len=64)   # {"loss", "bpc", "perplexity"}
    sample(model, vocab, 200, prime="ROMEO:", temperature=0.8, top_k=10, seed=0)

The network is ``Embedding -> nn.LSTM / nn.GRU / nn.RNN (batch_first) -> Dropout -> Linear``:
the recurrent layer's ``dropout`` acts between its layers and the extra Dropout on the last
layer's output (before the decoder), so every non-recurrent connection is regularised
(Zaremba et al., 2014) and ``dropout`` does something even with one layer.

Units: ``loss`` is the mean cross-entropy in nats per character; ``bpc = loss / ln 2`` (bits
per character) and ``perplexity = exp(loss)`` (the effective number of equally likely next
characters: 1 is perfect, ``V`` is uniform guessing).
"""
import math

import numpy as np

from . import backend
from ._validation import check_int, check_probability
from .function import no_grad
from .tensor import Tensor
from . import nn
from .nn import functional as F
from .tbptt import detach_state

__all__ = ["CharLM", "CELLS", "evaluate", "perplexity", "sample", "detach_state", "state_arrays", "state_from_arrays"]

CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


class CharLM(nn.Module):
    """Embedding -> recurrent layer(s) -> dropout -> Linear to ``vocab_size`` logits.

    ``cell`` is "lstm", "gru" or "rnn" (Elman; ``nonlinearity="relu"`` may go in
    ``rnn_kwargs``). ``rnn_kwargs`` pass through to the recurrent layer (for instance
    ``impl=...``). ``config()`` returns the arguments, so ``CharLM(**model.config())`` rebuilds
    the architecture (weights come from ``load_state_dict``).
    """

    def __init__(self, vocab_size, embedding_dim=64, hidden_size=256, num_layers=2, cell="lstm",
                 dropout=0.0, **rnn_kwargs):
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size)
        self.embedding_dim = check_int("embedding_dim", embedding_dim)
        self.hidden_size = check_int("hidden_size", hidden_size)
        self.num_layers = check_int("num_layers", num_layers)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        check_probability(dropout, "dropout")
        for key in ("batch_first", "input_size", "hidden_size", "num_layers", "dropout"):
            if key in rnn_kwargs:
                raise ValueError(f"CharLM sets the recurrent layer's {key!r} itself")
        if rnn_kwargs.get("bidirectional"):
            raise ValueError("a language model cannot be bidirectional: the backward direction would read "
                             "the very characters it is asked to predict")
        self.cell, self.dropout, self.rnn_kwargs = cell, float(dropout), dict(rnn_kwargs)
        self.embedding = nn.Embedding(self.vocab_size, self.embedding_dim)
        rnn_class = getattr(nn, CELLS[cell])
        # between-layer dropout only where there is more than one layer (else nn warns: no-op)
        self.rnn = rnn_class(self.embedding_dim, self.hidden_size, num_layers=self.num_layers, batch_first=True,
                             dropout=self.dropout if self.num_layers > 1 else 0.0, **rnn_kwargs)
        self.drop = nn.Dropout(self.dropout)
        self.decoder = nn.Linear(getattr(self.rnn, "output_size", self.hidden_size) *
                                 getattr(self.rnn, "num_directions", 1), self.vocab_size)

    def forward(self, ids, state=None):
        """ids (B, T) integer Tensor or array -> (logits (B, T, vocab_size), state).

        ``state`` is the recurrent layer's: h (L, B, H), or (h, c) for the LSTM; None = zeros.
        Pass the returned state (detached, see ``detach_state``) to continue a text."""
        if not isinstance(ids, Tensor):
            ids = Tensor(np.asarray(ids), device=self.device)
        x = self.embedding(ids)
        out, state = self.rnn(x, state)
        return self.decoder(self.drop(out)), state

    @property
    def device(self):
        return self.decoder.weight.device

    @property
    def dtype(self):
        return self.decoder.weight.dtype

    def config(self):
        """JSON-safe constructor arguments: ``CharLM(**config)`` builds the same architecture."""
        return {"vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers, "cell": self.cell,
                "dropout": self.dropout, **self.rnn_kwargs}

    def extra_repr(self):
        return f"cell={self.cell!r}, vocab_size={self.vocab_size}"


# ---- hidden state helpers (detach_state lives with truncated BPTT, re-exported here) ------
def state_arrays(state):
    """A state as a list of NumPy arrays (for checkpoints): [] for None, [h] or [h, c]."""
    if state is None:
        return []
    parts = state if isinstance(state, (tuple, list)) else (state,)
    return [p.numpy().copy() for p in parts]


def state_from_arrays(arrays, cell, device=None):
    """Inverse of ``state_arrays`` for a model with this ``cell``: None, h, or (h, c)."""
    if not arrays:
        return None
    tensors = [Tensor(backend.to_device(np.asarray(a), backend.check_device(device))) for a in arrays]
    if cell == "lstm":
        if len(tensors) != 2:
            raise ValueError(f"an LSTM state needs 2 arrays (h, c), got {len(tensors)}")
        return tuple(tensors)
    if len(tensors) != 1:
        raise ValueError(f"a {cell.upper()} state needs 1 array, got {len(tensors)}")
    return tensors[0]


class _eval_mode:
    """Switch a module to eval() for a block and restore its previous mode afterwards."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


# ---- evaluation --------------------------------------------------------------------------
def evaluate(model, ids, batch_size=32, seq_len=64):
    """Mean next-character loss of ``model`` on the 1-D id array ``ids``.

    The text is cut into ``batch_size`` contiguous streams read ``seq_len`` characters at a
    time, carrying the hidden state across chunks (as in training), in eval mode (no dropout)
    and without recording a graph. ``batch_size`` shrinks to fit a short text (each stream
    needs 2 characters). Returns ``{"loss": nats/char, "bpc": bits/char, "perplexity":
    exp(loss), "chars": number of predicted characters}``.
    """
    from .data import BPTTBatches
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"evaluation needs at least 2 characters of text, got {ids.size}")
    batch_size = max(1, min(check_int("batch_size", batch_size), len(ids) // 2))
    batches = BPTTBatches(ids, batch_size, check_int("seq_len", seq_len))
    device = model.device
    total, count, state = 0.0, 0, None
    with no_grad(), _eval_mode(model):
        for inputs, targets in batches:
            logits, state = model(Tensor(inputs, device=device), state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Tensor(targets.reshape(-1), device=device),
                                   reduction="sum")
            total += float(loss.item())
            count += targets.size
    loss = total / count
    return {"loss": loss, "bpc": loss / math.log(2), "perplexity": perplexity(loss), "chars": count}


def perplexity(loss):
    """exp(loss), infinite rather than an OverflowError for a huge (diverged) loss."""
    return math.exp(loss) if loss < 709.0 else math.inf


# ---- generation --------------------------------------------------------------------------
def _next_char_distribution(logits, temperature, top_k):
    """Probabilities (float64, NumPy) from one row of logits, after temperature and top-k."""
    z = np.asarray(logits, dtype=np.float64)
    if not np.isfinite(z).all():
        raise ValueError("the model gives NaN or infinite logits: its weights are not finite (diverged or damaged)")
    with np.errstate(over="ignore"):
        z = z / temperature
    if not np.isfinite(z).all():
        raise ValueError(f"temperature {temperature:g} is too small: logits / temperature overflow; use a larger "
                         f"temperature, or top_k=1 for greedy decoding")
    if top_k is not None and top_k < z.size:
        keep = np.argsort(-z, kind="stable")[:top_k]
        masked = np.full_like(z, -np.inf)
        masked[keep] = z[keep]
        z = masked
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def sample(model, vocab, length, prime="", temperature=1.0, top_k=None, seed=None, device=None):
    """Generate ``length`` characters after ``prime``; returns ``prime`` + the new text.

    The prime is read first (one forward over it) to set the hidden state. Without a prime the
    first character is drawn uniformly from the vocabulary. Each next character is drawn from
    ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when given
    (``top_k=1`` is greedy decoding; low temperature sharpens, high flattens). Draws come from
    a private ``np.random.Generator(seed)``: the same seed gives the same text, and the
    package's global generator is not touched. Runs in eval mode without a graph (the model's
    mode is restored after). ``device``, when given, moves the model there first (in place,
    as ``Module.to``); by default it runs where the model is.
    """
    length = check_int("length", length, minimum=0)
    try:
        temperature = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}") from None
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    if top_k is not None:
        top_k = check_int("top_k", top_k)
    if not isinstance(prime, str):
        raise ValueError(f"prime must be a string, got {type(prime).__name__}")
    unknown = sorted(set(prime) - set(vocab.chars))
    if unknown:
        shown = ", ".join(map(repr, unknown[:10])) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise ValueError(f"prime contains {len(unknown)} character(s) not in the vocabulary: {shown}")
    if len(vocab) != model.vocab_size:
        raise ValueError(f"vocabulary has {len(vocab)} characters but the model predicts {model.vocab_size}")
    if device is not None and backend.check_device(device) != model.device:
        model.to(device)
    if length == 0:
        return prime
    rng = np.random.default_rng(seed)
    device = model.device
    generated = []
    with no_grad(), _eval_mode(model):
        state = None
        if prime:
            ids = vocab.encode(prime)[None, :]
        else:
            choices = [i for i in range(len(vocab)) if i != vocab.unknown_id]
            generated.append(int(choices[rng.integers(len(choices))]))
            ids = np.array([generated])
        while len(generated) < length:
            logits, state = model(Tensor(ids, device=device), state)
            p = _next_char_distribution(backend.to_numpy(logits.data[0, -1]), temperature, top_k)
            # inverse-CDF draw: one uniform number per character
            cdf = np.cumsum(p)
            nxt = int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), p.size - 1))
            while p[nxt] == 0:       # rounding at the top of the CDF: step back to a real choice
                nxt -= 1
            generated.append(nxt)
            ids = np.array([[nxt]])
    return prime + vocab.decode(np.array(generated, dtype=np.int64))
