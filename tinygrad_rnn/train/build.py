"""What a run is made of: the corpus (text, vocabulary, batches, checksum), the model and the
optimizer, and the size check that refuses a model too big for the machine before building it."""
import dataclasses

import numpy as np

from .. import backend, optim
from ..data import (BPTTBatches, load_default_corpus, load_text, make_vocab, split_train_val, text_checksum)
from ..lm import CharLM, warmup_text
from .errors import UsageError

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
OPTIMIZER_BUFFERS = {"adam": 2, "adamw": 2, "sgd": 1}
OPTIMIZER_CLASSES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}


def load_corpus(path):
    """The text of ``path`` (None: the bundled corpus), or UsageError."""
    if path is None:
        return load_default_corpus()
    try:
        return load_text(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@dataclasses.dataclass
class Corpus:
    """A corpus cut for training: its text's identity (SHA-256 and length), the vocabulary
    (characters or words), the train/validation ids, the training batches, and the warm-up
    text that sampling reads before a prime (the end of a paragraph of the training text)."""
    checksum: str
    chars: int
    vocab: object
    train_ids: np.ndarray
    val_ids: np.ndarray
    batches: BPTTBatches
    warmup: str


def prepare_data(config, text):
    """A ``Corpus`` from ``text`` with the config's split, batch size and chunk length."""
    try:
        vocab = make_vocab(text, config.tokens, config.vocab_size, config.min_count)
    except ValueError as exc:
        raise UsageError(f"corpus {config.corpus or 'the default corpus'!r}: {exc}") from None
    ids = vocab.encode(text)
    try:
        train_ids, val_ids = split_train_val(ids, config.val_fraction)
        batches = BPTTBatches(train_ids, config.batch_size, config.seq_len)
    except ValueError as exc:
        where = config.corpus or "the default corpus"
        raise UsageError(f"corpus {where!r} ({len(text)} characters) is too short: {exc}") from None
    warmup = warmup_text(text[:round(len(text) * (1 - config.val_fraction))])
    return Corpus(text_checksum(text), len(text), vocab, train_ids, val_ids, batches, warmup)


def model_config(config, vocab_size):
    """CharLM's constructor arguments for a TrainConfig."""
    return {"vocab_size": vocab_size, "embedding_dim": config.embedding, "hidden_size": config.hidden,
            "num_layers": config.layers, "cell": config.cell, "dropout": config.dropout,
            "tie_weights": config.tie_weights}


def count_parameters(config, vocab_size):
    """The exact number of weights of the CharLM a config builds, without building it."""
    V, E, H, L, G = vocab_size, config.embedding, config.hidden, config.layers, GATES[config.cell]
    recurrent = G * H * (E + H) + (L - 1) * G * H * (H + H) + L * 2 * G * H
    return V * E + recurrent + H * V + V


def estimate_training_bytes(config, vocab_size):
    """A lower bound on the memory a training step needs: weights, gradients and optimizer
    buffers, plus the activations one chunk keeps for backward (gates, states and logits)."""
    itemsize = np.dtype(config.dtype).itemsize
    params = count_parameters(config, vocab_size)
    weights = params * (2 + OPTIMIZER_BUFFERS[config.optimizer])
    tokens = config.batch_size * config.seq_len
    activations = tokens * (config.embedding + config.layers * config.hidden * (GATES[config.cell] + 2)
                            + 3 * vocab_size)
    return (weights + activations) * itemsize, params


def _human(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{nbytes} B"
        nbytes /= 1024


def check_model_size(config, vocab_size):
    """UsageError (one line) when a run needs more memory than ``config.device`` has."""
    need, params = estimate_training_bytes(config, vocab_size)
    have = backend.memory_bytes(config.device)
    if have is not None and need > have:
        raise UsageError(f"the model is too large: --layers {config.layers} --hidden {config.hidden} "
                         f"--embedding {config.embedding} --batch-size {config.batch_size} --seq-len "
                         f"{config.seq_len} means {params:.3g} parameters and needs at least {_human(need)} to "
                         f"train, more than the {_human(have)} of {config.device} memory here")


def build_model(config, vocab_size, device=None, dtype=None):
    """The CharLM of ``config`` on ``device`` (default: the config's), after the size check."""
    check_model_size(config, vocab_size)
    try:
        model = CharLM(**model_config(config, vocab_size))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"cannot build the model: {exc}") from None
    return model.to(device=device or config.device, dtype=np.dtype(dtype or config.dtype))


def build_optimizer(config, model):
    """(optimizer, scheduler or None) for the model, as the config says."""
    params = model.parameters()
    extra = {} if config.weight_decay is None else {"weight_decay": config.weight_decay}
    if config.optimizer == "adam":
        opt = optim.Adam(params, lr=config.lr, **extra)
    elif config.optimizer == "adamw":
        opt = optim.AdamW(params, lr=config.lr, **extra)
    else:
        opt = optim.SGD(params, lr=config.lr, momentum=config.momentum, **extra)
    scheduler = None
    if config.schedule == "cosine":
        scheduler = optim.CosineAnnealingLR(opt, T_max=config.steps, eta_min=config.lr / 10)
    return opt, scheduler
