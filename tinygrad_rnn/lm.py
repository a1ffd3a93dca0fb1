"""Recurrent language model over characters or words: the model, its evaluation (nats, bits and
perplexity per token) and text generation.

    model = CharLM(len(vocab), embedding_dim=64, hidden_size=256, num_layers=2, cell="lstm")
    logits, state = model(ids)                       # ids (B, T) int -> logits (B, T, V)
    evaluate(model, val_ids, batch_size=32, seq_len=64)   # {"loss", "bpc", "perplexity"}
    sample(model, vocab, 200, prime="ROMEO:", temperature=0.8, top_k=10, seed=0)

The network is ``Embedding -> nn.LSTM / nn.GRU / nn.RNN (batch_first) -> Dropout -> Linear``:
the recurrent layer's ``dropout`` acts between its layers and the extra Dropout on the last
layer's output (before the decoder), so every non-recurrent connection is regularised
(Zaremba et al., 2014) and ``dropout`` does something even with one layer.

Units: ``loss`` is the mean cross-entropy in nats per token (a character, or a word with a
``WordVocab``); ``bits = loss / ln 2`` (``bpc`` for characters) and ``perplexity = exp(loss)``
(the effective number of equally likely next tokens: 1 is perfect, ``V`` is uniform guessing).
Per-word and per-character figures are not comparable: ``format_result`` always names the unit.

``tie_weights=True`` makes the decoder use the embedding matrix itself (Press & Wolf, 2017;
Inan et al., 2017): one ``V x E`` parameter instead of two, the usual trick for word models
with large vocabularies. It needs the recurrent output size (``hidden_size``, or an LSTM's
``proj_size``) to equal ``embedding_dim``.
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

__all__ = ["CharLM", "CELLS", "evaluate", "perplexity", "sample", "detach_state", "state_arrays", "state_from_arrays",
           "format_result", "warmup_text", "next_token_distribution"]

CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


class CharLM(nn.Module):
    """Embedding -> recurrent layer(s) -> dropout -> Linear to ``vocab_size`` logits.

    ``cell`` is "lstm", "gru" or "rnn" (Elman; ``nonlinearity="relu"`` may go in
    ``rnn_kwargs``). ``rnn_kwargs`` pass through to the recurrent layer (for instance
    ``impl=...``). ``config()`` returns the arguments, so ``CharLM(**model.config())`` rebuilds
    the architecture (weights come from ``load_state_dict``).
    """

    def __init__(self, vocab_size, embedding_dim=64, hidden_size=256, num_layers=2, cell="lstm",
                 dropout=0.0, tie_weights=False, **rnn_kwargs):
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
        out_size = getattr(self.rnn, "output_size", self.hidden_size) * getattr(self.rnn, "num_directions", 1)
        self.decoder = nn.Linear(out_size, self.vocab_size)
        self.tie_weights = bool(tie_weights)
        if self.tie_weights:
            if out_size != self.embedding_dim:
                raise ValueError(f"tie_weights needs the recurrent output size ({out_size}) to equal the embedding "
                                 f"size ({self.embedding_dim}): set hidden_size = embedding_dim (or an LSTM "
                                 f"proj_size = embedding_dim)")
            self.decoder.weight = self.embedding.weight      # the same Parameter object: one V x E matrix

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
                "dropout": self.dropout, "tie_weights": self.tie_weights, **self.rnn_kwargs}

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
    exp(loss), "chars": number of predicted characters}``, plus ``"bits"`` and ``"tokens"``, the
    same figures under names that do not say "character" (for word models; ``format_result``).
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
    return {"loss": loss, "bpc": loss / math.log(2), "perplexity": perplexity(loss), "chars": count,
            "bits": loss / math.log(2), "tokens": count}


def format_result(result, unit):
    """One line with the unit on every figure, e.g. ``loss 1.4900 nats/char  2.1496 bits/char
    perplexity/char 4.437 (111,488 chars)``; ``unit`` is "char" or "word" (a vocabulary's ``unit``)."""
    bits = result.get("bits", result.get("bpc"))
    count = result.get("tokens", result.get("chars"))
    return (f"loss {result['loss']:.4f} nats/{unit}  {bits:.4f} bits/{unit}  "
            f"perplexity/{unit} {result['perplexity']:.3f}"
            f"  ({count:,} {unit}s)")


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


def warmup_text(text, length=256):
    """Real text that ends where a paragraph starts: the ``length`` characters (at most) before
    the last blank line of ``text`` (else its last line break, else its end).

    Training almost never runs the model from a zero state: each chunk starts from the state the
    text before it left. Reading this before a prime (``sample(..., warmup=...)``) puts the model
    in such a state, at the start of a paragraph, which is what a prime like "ROMEO:" means."""
    end = text.rfind("\n\n")
    end = end + 2 if end >= 0 else (text.rfind("\n") + 1 or len(text))
    return text[max(0, end - length):end]


def _prime_ids(vocab, text, what):
    """Ids of ``text``; characters outside a CharVocab are an error (words map to <unk>)."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string, got {type(text).__name__}")
    if vocab.kind == "char" or vocab.unknown_id is None:
        unknown = sorted(set(vocab.tokenize(text)) - set(vocab.tokens))
        if unknown:
            shown = ", ".join(map(repr, unknown[:10])) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            unit = "character" if vocab.kind == "char" else "word"
            raise ValueError(f"{what} contains {len(unknown)} {unit}(s) not in the vocabulary: {shown}")
    return vocab.encode(text)


def _read(model, ids, state):
    """Run ``model`` over ``ids`` from ``state``: (last logits as NumPy, new state)."""
    logits, state = model(Tensor(np.asarray(ids, dtype=np.int64)[None, :], device=model.device), state)
    return backend.to_numpy(logits.data[0, -1]), state


def next_token_distribution(model, vocab, prime, warmup=""):
    """P(next token | warmup + prime) as a NumPy vector (eval mode, no graph); with an empty
    ``warmup`` the model starts from the zero state."""
    ids = np.concatenate([_prime_ids(vocab, warmup, "warmup"), _prime_ids(vocab, prime, "prime")])
    if len(ids) == 0:
        raise ValueError("warmup + prime is empty: nothing to condition on")
    with no_grad(), _eval_mode(model):
        logits, _ = _read(model, ids, None)
    return _next_char_distribution(logits, 1.0, None)


def _join(vocab, prime, ids):
    """The prime followed by the generated tokens (words get spaces as ``decode`` puts them)."""
    if vocab.kind == "word":
        from .data import detokenize_words
        return detokenize_words(vocab.tokenize(prime) + [vocab.tokens[i] for i in ids])
    return prime + vocab.decode(np.array(ids, dtype=np.int64))


def sample(model, vocab, length, prime="", temperature=1.0, top_k=None, seed=None, device=None, warmup=""):
    """Generate ``length`` tokens after ``prime``; returns ``prime`` + the new text.

    ``warmup`` (text, not returned) is read first, from a zero state, then the prime (see
    ``warmup_text``: a zero state is one the model never saw in training). Without either, the
    first token is drawn uniformly from the vocabulary. Each next token is drawn from
    ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when given
    (``top_k=1`` is greedy decoding; low temperature sharpens, high flattens). Draws come from
    a private ``np.random.Generator(seed)``: the same seed gives the same text, and the
    package's global generator is not touched. Runs in eval mode without a graph (the model's
    mode is restored after). ``device``, when given, moves the model there first (in place,
    as ``Module.to``); by default it runs where the model is. Works with a CharVocab
    (characters) or a WordVocab (words; unknown prime words read as ``<unk>``).
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
    context = np.concatenate([_prime_ids(vocab, warmup, "warmup"), _prime_ids(vocab, prime, "prime")])
    if len(vocab) != model.vocab_size:
        raise ValueError(f"vocabulary has {len(vocab)} tokens but the model predicts {model.vocab_size}")
    if device is not None and backend.check_device(device) != model.device:
        model.to(device)
    if length == 0:
        return prime
    rng = np.random.default_rng(seed)
    generated = []
    with no_grad(), _eval_mode(model):
        state = None
        if len(context):
            ids = context
        else:
            choices = [i for i in range(len(vocab)) if i != vocab.unknown_id]
            generated.append(int(choices[rng.integers(len(choices))]))
            ids = np.array(generated)
        while len(generated) < length:
            logits, state = _read(model, ids, state)
            p = _next_char_distribution(logits, temperature, top_k)
            # inverse-CDF draw: one uniform number per token
            cdf = np.cumsum(p)
            nxt = int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), p.size - 1))
            while p[nxt] == 0:       # rounding at the top of the CDF: step back to a real choice
                nxt -= 1
            generated.append(nxt)
            ids = np.array([nxt])
    return _join(vocab, prime, generated)
