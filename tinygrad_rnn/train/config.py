"""What defines a training run: ``TrainConfig``, its validation, and what a resume may change."""
import dataclasses
import math
from pathlib import Path

import numpy as np

from .. import backend
from .errors import UsageError

DEFAULT_STEPS = 2000          # the default run: about 5 minutes on a 2-core CPU (1 BLAS thread), val ~1.50 nats/char
CELLS = ("lstm", "gru", "rnn")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
DTYPES = ("float32", "float64")
# what a resumed run may change; everything else must match the checkpoint (the corpus may move:
# it is recognised by its checksum, see ``build.Corpus``)
RESUME_OVERRIDES = ("steps", "eval_every", "eval_chars", "device", "sample_length")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (saved in each checkpoint)."""
    corpus: str = None            # path of a UTF-8 text file; None: the bundled Tiny Shakespeare
    cell: str = "lstm"            # lstm | gru | rnn
    layers: int = 2
    hidden: int = 256
    embedding: int = 64
    dropout: float = 0.0
    seq_len: int = 64             # characters per chunk = BPTT length
    batch_size: int = 32          # parallel streams
    lr: float = 2e-3
    optimizer: str = "adam"       # adam | adamw | sgd
    weight_decay: float = None    # None: the optimizer's default (0, AdamW 0.01)
    momentum: float = 0.9         # SGD only
    schedule: str = "constant"    # constant | cosine (down to lr/10 at the last step)
    clip: float = 5.0             # max gradient norm; 0 turns clipping off
    steps: int = DEFAULT_STEPS    # total optimizer steps (a resumed run continues up to it)
    eval_every: int = 200
    eval_chars: int = 20000       # validation characters used at each evaluation (0: all of them)
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    val_fraction: float = 0.1
    sample_length: int = 200      # tokens of the sample shown at the end (0: none)
    tokens: str = "char"          # char | word (words and punctuation, <eos> at line ends)
    vocab_size: int = None        # word tokens: keep the most common words (None: all)
    min_count: int = 1            # word tokens: drop words seen fewer times (-> <unk>)
    tie_weights: bool = False     # decoder weight = embedding weight (needs embedding == hidden)


FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _fail(message):
    raise UsageError(message)


def _integer(c, name, minimum, prefix):
    v = getattr(c, name)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        _fail(f"{prefix}{name.replace('_', '-')} must be an integer >= {minimum}, got {v!r}")
    setattr(c, name, int(v))


def _number(c, name, low, high=None, low_open=False, prefix=""):
    v = getattr(c, name)
    ok = not isinstance(v, bool) and isinstance(v, (int, float, np.floating)) and math.isfinite(v)
    ok = ok and (v > low if low_open else v >= low) and (high is None or v < high)
    if not ok:
        rng = f"in [{low}, {high})" if high is not None else (f"> {low}" if low_open else f">= {low}")
        _fail(f"{prefix}{name.replace('_', '-')} must be a number {rng}, got {v!r}")
    setattr(c, name, float(v))


def validate_config(config, prefix=""):
    """Check every field (types and ranges); returns the config with the corpus path resolved.
    ``prefix`` (e.g. "config.") names where the values came from in the error message."""
    c = config
    for name in ("layers", "hidden", "embedding", "seq_len", "batch_size", "steps", "eval_every"):
        _integer(c, name, 1, prefix)
    for name in ("sample_length", "eval_chars", "seed"):
        _integer(c, name, 0, prefix)
    _number(c, "dropout", 0.0, 1.0, prefix=prefix)
    _number(c, "lr", 0.0, low_open=True, prefix=prefix)
    _number(c, "clip", 0.0, prefix=prefix)
    _number(c, "momentum", 0.0, 1.0, prefix=prefix)
    _number(c, "val_fraction", 0.0, 1.0, low_open=True, prefix=prefix)
    if c.weight_decay is not None:
        _number(c, "weight_decay", 0.0, prefix=prefix)
    for name, options in (("cell", CELLS), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                          ("dtype", DTYPES)):
        if not isinstance(getattr(c, name), str) or getattr(c, name) not in options:
            _fail(f"{prefix}{name} must be one of {', '.join(options)}, got {getattr(c, name)!r}")
    _validate_lm_options(c, prefix)
    if not isinstance(c.device, str):
        _fail(f"{prefix}device must be a string, got {c.device!r}")
    try:
        c.device = backend.check_device(c.device)
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc))
    if c.corpus is not None:
        if not isinstance(c.corpus, str) or not c.corpus or "\0" in c.corpus:
            _fail(f"{prefix}corpus must be a file path or None, got {c.corpus!r}")
        c.corpus = str(Path(c.corpus).expanduser().resolve())
    return c


def _validate_lm_options(c, prefix):
    """The word-token and weight-tying options."""
    if not isinstance(c.tokens, str) or c.tokens not in ("char", "word"):
        _fail(f"{prefix}tokens must be one of char, word, got {c.tokens!r}")
    if c.vocab_size is not None:
        _integer(c, "vocab_size", 3, prefix)
    _integer(c, "min_count", 1, prefix)
    if not isinstance(c.tie_weights, (bool, np.bool_)):
        _fail(f"{prefix}tie-weights must be true or false, got {c.tie_weights!r}")
    c.tie_weights = bool(c.tie_weights)
    if c.tokens == "char" and (c.vocab_size is not None or c.min_count != 1):
        _fail("--vocab-size and --min-count apply to word tokens: add --tokens word")
    if c.tie_weights and c.embedding != c.hidden:
        _fail(f"--tie-weights needs --embedding equal to --hidden (the decoder reads the hidden state with "
              f"the embedding matrix), got embedding {c.embedding} and hidden {c.hidden}")


def make_config(values=None, strict=False, prefix=""):
    """A validated TrainConfig from a dict or a TrainConfig. Missing keys take the defaults,
    unless ``strict`` (a checkpoint's config must list every field)."""
    if isinstance(values, TrainConfig):
        values = dataclasses.asdict(values)
    if values is not None and not isinstance(values, dict):
        _fail(f"{prefix or 'training '}config must be a mapping, got {type(values).__name__}")
    values = dict(values or {})
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        _fail(f"unknown training option(s){' in ' + prefix[:-1] if prefix else ''}: {', '.join(map(str, unknown))}")
    missing = [name for name in FIELDS if name not in values]
    if strict and missing:
        _fail(f"{prefix[:-1] or 'config'} lacks the field(s) {', '.join(missing)}")
    return validate_config(TrainConfig(**values), prefix)


def resume_config(saved, overrides, directory):
    """The config of a resumed run: the checkpoint's ``saved`` one (a validated TrainConfig)
    with the ``overrides`` a resume may make. ``corpus`` may name a new path (checked later
    against the checkpoint's checksum)."""
    saved = dataclasses.asdict(saved)
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    conflicts = []
    for key, value in overrides.items():
        if key in RESUME_OVERRIDES or key == "corpus":
            continue
        if key not in saved:
            _fail(f"unknown training option: {key}")
        if value != saved[key]:
            conflicts.append(f"{key}={value!r} (checkpoint: {saved[key]!r})")
    if conflicts:
        _fail(f"cannot change {', '.join(conflicts)} when resuming {str(directory)!r}; only "
              f"{', '.join(RESUME_OVERRIDES)} may change (and --corpus may point at the moved corpus)")
    steps = overrides.get("steps")
    if saved["schedule"] == "cosine" and steps is not None and steps != saved["steps"]:
        _fail(f"the cosine learning-rate schedule of {str(directory)!r} spans its {saved['steps']} steps; "
              f"resume it with the same --steps")
    saved.update({k: v for k, v in overrides.items() if k in RESUME_OVERRIDES or k == "corpus"})
    return make_config(saved)
