"""The training loop behind ``tinygrad-rnn train``: a character language model with truncated
BPTT, evaluation, crash-safe checkpoints, exact resume, a progress bar and a loss plot.

    from tinygrad_rnn.train import train
    result = train({"steps": 500, "hidden": 128}, "runs/small")          # a fresh run
    result = train({"steps": 1000}, "runs/small", resume="runs/small")   # 500 more steps

One optimizer step per chunk of ``batch_size`` streams x ``seq_len`` characters; the hidden
state is carried from one chunk to the next and detached (truncated BPTT, ``tbptt_step`` with
k1 = k2 = seq_len), and reset to zero at each new pass over the text.

**Exact resume.** A checkpoint holds everything the next steps depend on: weights, optimizer
moments and step counts, the LR schedule, the package's random generator (dropout masks), the
position in the data (= the step: one chunk per step) and the carried hidden state. So training
2N steps gives bit for bit the same weights on the CPU as training N, stopping, and resuming
for N more (evaluation and sampling draw no numbers from the package generator).

**Checkpoints** (``tinygrad_rnn.checkpoint``: ``arrays.npz`` + ``meta.json``, atomic) are
written at every evaluation (each ``eval_every`` steps), at the end, and when the run is
interrupted (Ctrl-C: the step in progress finishes, the checkpoint is saved, then
``KeyboardInterrupt`` propagates; the CLI exits with 130). A loss that becomes NaN or infinite
stops training with ``TrainingDiverged`` *without* saving, so the last checkpoint on disk is
the last good one.

Errors a user can fix (bad option values, unreadable corpus, missing or mismatched checkpoint,
CUDA requested but absent) raise ``UsageError``, a ``ValueError`` with a one-line message.
"""
import dataclasses
import io
import math
import signal
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from . import backend, optim
from .checkpoint import META_FILE, atomic_write_bytes, load_checkpoint, save_checkpoint
from .data import BPTTBatches, load_default_corpus, load_text, make_vocab, split_train_val, vocab_from_dict
from .lm import CELLS, CharLM, evaluate, perplexity, sample, state_arrays, state_from_arrays, warmup_text
from .nn import functional as F
from .tbptt import tbptt_step
from .tensor import Tensor

__all__ = ["TrainConfig", "train", "load_model", "load_corpus", "UsageError", "TrainingDiverged",
           "DEFAULT_STEPS", "CHECKPOINT_KIND"]

DEFAULT_STEPS = 2000          # the default run: about 5 minutes on a 2-core CPU (1 BLAS thread), val ~1.50 nats/char
CHECKPOINT_KIND = "tinygrad_rnn.charlm"
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
DTYPES = ("float32", "float64")
# what a resumed run may change; everything else must match the checkpoint
RESUME_OVERRIDES = ("steps", "eval_every", "eval_chars", "device", "sample_length")


class UsageError(ValueError):
    """A problem with what the user asked for (options, files, checkpoints): one-line message."""


class TrainingDiverged(RuntimeError):
    """The loss (or the gradient norm) became NaN or infinite; nothing was saved after it."""


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
    sample_length: int = 200      # characters of the sample shown at the end (0: none)
    # -- language-model options (issue 12): word tokens and tied weights --
    tokens: str = "char"          # char | word
    vocab_size: int = None        # word tokens: keep the most common words (None: all)
    min_count: int = 1            # word tokens: drop words seen fewer times (-> <unk>)
    tie_weights: bool = False     # decoder weight = embedding weight (needs embedding == hidden)


def _fail(message):
    raise UsageError(message)


def validate_config(config):
    """Check every field (types and ranges); returns the config with the corpus path resolved."""
    c = config

    def integer(name, minimum):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            _fail(f"{name.replace('_', '-')} must be an integer >= {minimum}, got {v!r}")
        setattr(c, name, int(v))

    def number(name, low, high=None, low_open=False):
        v = getattr(c, name)
        ok = not isinstance(v, bool) and isinstance(v, (int, float, np.floating)) and math.isfinite(v)
        ok = ok and (v > low if low_open else v >= low) and (high is None or v < high)
        if not ok:
            rng = f"in [{low}, {high})" if high is not None else (f"> {low}" if low_open else f">= {low}")
            _fail(f"{name.replace('_', '-')} must be a number {rng}, got {v!r}")
        setattr(c, name, float(v))

    def choice(name, options):
        if getattr(c, name) not in options:
            _fail(f"{name} must be one of {', '.join(options)}, got {getattr(c, name)!r}")

    for name in ("layers", "hidden", "embedding", "seq_len", "batch_size", "steps", "eval_every"):
        integer(name, 1)
    integer("sample_length", 0)
    integer("eval_chars", 0)
    if isinstance(c.seed, bool) or not isinstance(c.seed, (int, np.integer)) or c.seed < 0:
        _fail(f"seed must be a non-negative integer, got {c.seed!r}")
    number("dropout", 0.0, 1.0)
    number("lr", 0.0, low_open=True)
    number("clip", 0.0)
    number("momentum", 0.0, 1.0)
    number("val_fraction", 0.0, 1.0, low_open=True)
    if c.weight_decay is not None:
        number("weight_decay", 0.0)
    choice("cell", tuple(CELLS))
    choice("optimizer", OPTIMIZERS)
    choice("schedule", SCHEDULES)
    choice("dtype", DTYPES)
    _validate_lm_options(c, integer, choice)
    try:
        c.device = backend.check_device(c.device)
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc))
    if c.corpus is not None:
        c.corpus = str(Path(c.corpus).expanduser().resolve())
    return c


def _validate_lm_options(c, integer, choice):
    """The word-token and weight-tying options (issue 12)."""
    choice("tokens", ("char", "word"))
    if c.vocab_size is not None:
        integer("vocab_size", 3)
    integer("min_count", 1)
    if not isinstance(c.tie_weights, (bool, np.bool_)):
        _fail(f"tie-weights must be true or false, got {c.tie_weights!r}")
    c.tie_weights = bool(c.tie_weights)
    if c.tokens == "char" and (c.vocab_size is not None or c.min_count != 1):
        _fail("--vocab-size and --min-count apply to word tokens: add --tokens word")
    if c.tie_weights and c.embedding != c.hidden:
        _fail(f"--tie-weights needs --embedding equal to --hidden (the decoder reads the hidden state with "
              f"the embedding matrix), got embedding {c.embedding} and hidden {c.hidden}")


def make_config(values=None):
    """A validated TrainConfig from a dict (missing keys take the defaults) or a TrainConfig."""
    if isinstance(values, TrainConfig):
        values = dataclasses.asdict(values)
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        _fail(f"unknown training option(s): {', '.join(unknown)}")
    return validate_config(TrainConfig(**values))


# ---- data ----------------------------------------------------------------------------------
def load_corpus(path):
    """The text of ``path`` (None: the bundled corpus), or UsageError."""
    if path is None:
        return load_default_corpus()
    try:
        return load_text(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _prepare_data(config, text):
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
    return vocab, train_ids, val_ids, batches


def _crc(text):
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


# ---- model and optimizer -------------------------------------------------------------------
def _build_model(model_config, device, dtype):
    try:
        model = CharLM(**model_config)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"cannot build the model: {exc}") from None
    return model.to(device=device, dtype=np.dtype(dtype))


def _build_optimizer(config, model):
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


def _model_config(config, vocab_size):
    return {"vocab_size": vocab_size, "embedding_dim": config.embedding, "hidden_size": config.hidden,
            "num_layers": config.layers, "cell": config.cell, "dropout": config.dropout,
            "tie_weights": config.tie_weights}


# ---- checkpoints ---------------------------------------------------------------------------
def _read_checkpoint(directory):
    """(arrays, meta) of a CharLM checkpoint, or UsageError saying what is wrong."""
    try:
        arrays, meta = load_checkpoint(directory)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(meta, dict) or meta.get("kind") != CHECKPOINT_KIND:
        raise UsageError(f"checkpoint {str(directory)!r} was not written by tinygrad-rnn train "
                         f"(kind {meta.get('kind') if isinstance(meta, dict) else None!r})")
    for key, kind in (("model", dict), ("vocab", dict), ("config", dict), ("data", dict), ("step", int)):
        if not isinstance(meta.get(key), kind):
            raise UsageError(f"checkpoint {str(directory)!r} is incomplete: no valid {key!r} in {META_FILE}")
    return arrays, meta


def _restore_model(directory, arrays, meta, device, dtype=None):
    try:
        vocab = vocab_from_dict(meta["vocab"])
    except ValueError as exc:
        raise UsageError(f"checkpoint {str(directory)!r}: bad vocabulary ({exc})") from None
    dtype = dtype or meta["config"].get("dtype", "float32")
    model = _build_model(meta["model"], device, dtype)
    weights = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else exc
        raise UsageError(f"checkpoint {str(directory)!r} does not fit its model: {message}") from None
    if model.vocab_size != len(vocab):
        raise UsageError(f"checkpoint {str(directory)!r}: vocabulary of {len(vocab)} tokens for a model "
                         f"predicting {model.vocab_size}")
    return model, vocab


def load_model(directory, device="cpu"):
    """``(model, vocab, meta)`` from a checkpoint written by ``train`` (model in eval mode)."""
    arrays, meta = _read_checkpoint(directory)
    try:
        device = backend.check_device(device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(str(exc)) from None
    model, vocab = _restore_model(directory, arrays, meta, device)
    return model.eval(), vocab, meta


def _save(out_dir, run):
    """Write the checkpoint of ``run`` (a dict of the loop's live objects) to ``out_dir``."""
    arrays = {f"model.{k}": v for k, v in run["model"].state_dict().items()}
    opt_state = run["optimizer"].state_dict()
    arrays.update({f"optim.{k}": v for k, v in opt_state.pop("arrays").items()})
    for i, a in enumerate(state_arrays(run["state"])):
        arrays[f"state.{i}"] = a
    arrays["history.train_loss"] = np.asarray(run["train_losses"], dtype=np.float64)
    arrays["history.val"] = np.asarray(run["val_history"], dtype=np.float64).reshape(-1, 3)
    meta = {
        "kind": CHECKPOINT_KIND,
        "step": run["step"],
        "config": dataclasses.asdict(run["config"]),
        "model": run["model"].config(),
        "vocab": run["vocab"].to_dict(),
        "optimizer": opt_state,
        "scheduler": run["scheduler"].state_dict() if run["scheduler"] is not None else None,
        "rng": run["rng_state"],
        "data": {"next_chunk": run["step"], "corpus_crc32": run["corpus_crc32"],
                 "corpus_chars": run["corpus_chars"]},
        "state_parts": len(state_arrays(run["state"])),
        "last_val": run["last_val"],
        "warmup": run.get("warmup", ""),      # text read before a prime when sampling (lm.warmup_text)
    }
    save_checkpoint(out_dir, arrays, meta)


# ---- plotting ------------------------------------------------------------------------------
def plot_losses(path, train_losses, val_history, unit="char"):
    """Write the loss curve (training loss per step, its running mean, validation loss) as a
    PNG, atomically. Uses matplotlib's Agg canvas directly (no pyplot, no global backend
    change). Returns False when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    losses = np.asarray(train_losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    if len(losses):
        ax.plot(steps, losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="train (per step)")
        window = max(1, min(50, len(losses) // 10))
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color="tab:blue", label=f"train (mean of {window})")
    val = np.asarray(val_history, dtype=np.float64).reshape(-1, 3)
    if len(val):
        ax.plot(val[:, 0], val[:, 1], "o-", color="tab:orange", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (nats / {unit})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True


# ---- progress ------------------------------------------------------------------------------
class _Progress:
    """tqdm bar when available and wanted; otherwise nothing. ``write`` prints a line either way."""

    def __init__(self, enabled, total, initial, log):
        self.bar, self.log = None, log
        if enabled:
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)
            except ImportError:
                pass

    def update(self, **postfix):
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)

    def write(self, line):
        if self.log is None:
            return
        if self.bar is not None:
            self.bar.write(line)
        else:
            self.log(line)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _InterruptFlag:
    """While active (main thread only), the first Ctrl-C only sets ``requested``: the loop saves
    at the end of the step in progress. A second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested, self.previous = False, None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self.previous = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):
                self.previous = None
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


# ---- the loop ------------------------------------------------------------------------------
def _resume_config(meta, overrides, directory):
    saved = dict(meta["config"])
    overrides = dict(overrides or {})
    conflicts = []
    for key, value in overrides.items():
        if key in RESUME_OVERRIDES or value is None:
            continue
        if key not in saved:
            _fail(f"unknown training option: {key}")
        mine = str(Path(value).expanduser().resolve()) if key == "corpus" and value is not None else value
        if mine != saved[key]:
            conflicts.append(f"{key}={value!r} (checkpoint: {saved[key]!r})")
    if conflicts:
        _fail(f"cannot change {', '.join(conflicts)} when resuming {str(directory)!r}; only "
              f"{', '.join(RESUME_OVERRIDES)} may change")
    steps = overrides.get("steps")
    if saved.get("schedule") == "cosine" and steps is not None and steps != saved["steps"]:
        _fail(f"the cosine learning-rate schedule of {str(directory)!r} spans its {saved['steps']} steps; "
              f"resume it with the same --steps")
    saved.update({k: v for k, v in overrides.items() if k in RESUME_OVERRIDES and v is not None})
    return make_config(saved)


def _restore_training_state(arrays, meta, config, model, optimizer, scheduler):
    """Put the optimizer, schedule and random generator back as the checkpoint left them;
    returns (step, carried state, train losses, validation history, last validation)."""
    step = int(meta["step"])
    if not 0 <= step:
        raise ValueError(f"step {step} is negative")
    parts = [arrays[f"state.{i}"] for i in range(int(meta.get("state_parts", 0)))]
    state = state_from_arrays(parts, config.cell, config.device)
    if state is not None:
        state = tuple(s.to(dtype=model.dtype) for s in state) if isinstance(state, tuple) else \
            state.to(dtype=model.dtype)
    optimizer.load_state_dict({**meta["optimizer"], "arrays": {k[len("optim."):]: v for k, v in arrays.items()
                                                               if k.startswith("optim.")}})
    if scheduler is not None:
        scheduler.load_state_dict(meta["scheduler"])
    backend.set_rng_state(meta["rng"])
    train_losses = [float(x) for x in arrays.get("history.train_loss", np.zeros(0))][:step]
    val_history = [list(map(float, row)) for row in arrays.get("history.val", np.zeros((0, 3)))]
    return step, state, train_losses, val_history, meta.get("last_val")


def train(config=None, out_dir="runs/charlm", resume=None, progress=True, log=print, on_step=None,
          overwrite=False):
    """Train a CharLM; returns ``{"step", "train_loss", "val", "sample", "out_dir"}``.

    ``config``: a TrainConfig or a dict of its fields (missing ones take the defaults). With
    ``resume`` (a checkpoint directory) the run continues from it: its saved config is used,
    and ``config`` may only change ``steps`` (the total to reach), ``eval_every``, ``eval_chars``,
    ``device`` and ``sample_length``; any other key that differs from the checkpoint is a
    UsageError (with ``schedule="cosine"``, whose length is ``steps``, steps cannot change).
    ``out_dir`` receives the checkpoints and ``loss.png``; it must not already hold a checkpoint
    unless it is the one being resumed or ``overwrite=True``. ``log`` (``print`` by default,
    None for silence) gets one line per evaluation and the final sample; ``progress`` shows a
    tqdm bar. ``on_step(step, loss)`` is called after each optimizer step.
    """
    out_dir = Path(out_dir)
    if resume is not None:
        resume = Path(resume)
        arrays, meta = _read_checkpoint(resume)
        config = _resume_config(meta, config, resume)
    else:
        arrays, meta = None, None
        config = make_config(config)
    same_dir = resume is not None and out_dir.resolve() == resume.resolve()
    if (out_dir / META_FILE).exists() and not same_dir and not overwrite:
        _fail(f"{str(out_dir)!r} already holds a checkpoint; resume it (--resume {out_dir}), "
              f"choose another --out, or pass --force to overwrite it")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create output directory {str(out_dir)!r}: {exc.strerror or exc}")

    text = load_corpus(config.corpus)
    vocab, train_ids, val_ids, batches = _prepare_data(config, text)
    corpus_crc32 = _crc(text)

    backend.manual_seed(config.seed)
    if meta is None:
        model = _build_model(_model_config(config, len(vocab)), config.device, config.dtype)
        optimizer, scheduler = _build_optimizer(config, model)
        step, state, train_losses, val_history, last_val = 0, None, [], [], None
    else:
        if meta["data"].get("corpus_crc32") != corpus_crc32:
            _fail(f"the corpus {config.corpus or '(default)'!r} has changed since checkpoint {str(resume)!r} was "
                  f"written; resume needs the same text")
        model, saved_vocab = _restore_model(resume, arrays, meta, config.device, config.dtype)
        if saved_vocab != vocab:
            _fail(f"checkpoint {str(resume)!r} has a different vocabulary from the corpus")
        optimizer, scheduler = _build_optimizer(config, model)
        try:
            step, state, train_losses, val_history, last_val = _restore_training_state(
                arrays, meta, config, model, optimizer, scheduler)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            _fail(f"checkpoint {str(resume)!r}: cannot restore the training state ({type(exc).__name__}: {exc})")
    model.train()

    V = len(vocab)

    def loss_fn(logits, targets):
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))

    run = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "config": config, "vocab": vocab,
           "corpus_crc32": corpus_crc32, "corpus_chars": len(text), "train_losses": train_losses,
           "val_history": val_history, "last_val": last_val,
           "warmup": warmup_text(text[:round(len(text) * (1 - config.val_fraction))])}
    saved_step = step if meta is not None and same_dir else None

    def checkpoint(at_step, carried, rng_state):
        nonlocal saved_step
        run.update(step=at_step, state=carried, rng_state=rng_state)
        _save(out_dir, run)
        plot_losses(out_dir / "loss.png", train_losses, val_history, vocab.unit)
        saved_step = at_step

    def validate_now(at_step, train_loss):
        ids = val_ids[:config.eval_chars] if config.eval_chars else val_ids
        result = evaluate(model, ids if len(ids) >= 2 else val_ids, config.batch_size, config.seq_len)
        val_history.append([at_step, result["loss"], result["bpc"]])
        run["last_val"] = {k: result[k] for k in ("loss", "bpc", "perplexity")}
        u = vocab.unit
        bar.write(f"step {at_step}/{config.steps}  train loss {_fmt(train_loss)} nats/{u}  |  val loss "
                  f"{_fmt(result['loss'])} nats/{u}  {_fmt(result['bits'])} bits/{u}  "
                  f"perplexity/{u} {_fmt(result['perplexity'])}")

    device, chars_per_step = config.device, config.batch_size * config.seq_len
    bar = _Progress(progress, config.steps, min(step, config.steps), log)
    started, first_step, running = time.perf_counter(), step, None
    rng_state, phase = backend.get_rng_state(), "between steps"
    try:
        # overflow in a diverging run is detected and reported below, not warned about per op
        with _InterruptFlag() as interrupt, np.errstate(over="ignore", invalid="ignore"):
            chunks = batches.cycle(step)
            while step < config.steps:
                rng_state, phase = backend.get_rng_state(), "forward"    # the generator as the step starts
                _, index, inputs, targets = next(chunks)
                if index == 0:
                    state = None                             # a new pass over the text: fresh state
                optimizer.zero_grad()
                loss, new_state = tbptt_step(model, loss_fn, Tensor(inputs, device=device),
                                             Tensor(targets, device=device), state)
                if not math.isfinite(loss):
                    raise _diverged(f"loss is {loss}", step + 1, saved_step, out_dir)
                if config.clip > 0:
                    norm = float(_clip_grad_norm(model.parameters(), config.clip))
                    if not math.isfinite(norm):
                        raise _diverged(f"gradient norm is {norm}", step + 1, saved_step, out_dir)
                phase = "update"
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                state, step = new_state, step + 1
                train_losses.append(loss)
                phase = "between steps"
                running = loss if running is None else 0.95 * running + 0.05 * loss
                elapsed = max(time.perf_counter() - started, 1e-9)
                bar.update(loss=_fmt(running), ppl=_fmt(perplexity(running)),
                           chars_s=f"{(step - first_step) * chars_per_step / elapsed:,.0f}")
                if on_step is not None:
                    on_step(step, loss)
                if step % config.eval_every == 0 or step == config.steps:
                    validate_now(step, running)
                    checkpoint(step, state, backend.get_rng_state())
                if interrupt.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        # Ctrl-C normally arrives as the flag, between steps: everything is consistent. A raw
        # interrupt inside a step's forward/backward changed nothing that is saved except the
        # random generator, rewound here to the step's start; only one inside the parameter
        # update itself leaves nothing consistent to save.
        bar.close()
        if phase == "update":
            kept = f"the last checkpoint (step {saved_step})" if saved_step is not None else "no checkpoint"
            raise KeyboardInterrupt(f"interrupted during a parameter update at step {step + 1}; not saved, "
                                    f"{kept} is in {str(out_dir)!r}") from None
        if saved_step != step:
            checkpoint(step, state, rng_state if phase == "forward" else backend.get_rng_state())
        raise KeyboardInterrupt(f"interrupted at step {step}; checkpoint saved in {str(out_dir)!r}") from None
    finally:
        bar.close()
    if saved_step != step:               # e.g. resumed at or past the requested steps
        if not val_history or val_history[-1][0] != step:
            validate_now(step, running if running is not None else (train_losses or [float("nan")])[-1])
        checkpoint(step, state, backend.get_rng_state())
    text_sample = ""
    if config.sample_length:
        text_sample = sample(model, vocab, config.sample_length, temperature=0.8, seed=config.seed,
                             warmup=run["warmup"])
        bar.write(f"--- sample (temperature 0.8) ---\n{text_sample}\n---")
    return {"step": step, "train_loss": train_losses[-1] if train_losses else None, "val": run["last_val"],
            "sample": text_sample, "out_dir": str(out_dir)}


def _fmt(x):
    """4 decimals for ordinary numbers, scientific notation for the huge ones of a bad run."""
    return f"{x:.4f}" if abs(x) < 1e5 else f"{x:.3e}"


def _clip_grad_norm(parameters, max_norm):
    from .nn.utils import clip_grad_norm_
    return clip_grad_norm_(parameters, max_norm)


def _diverged(what, step, saved_step, out_dir):
    kept = (f"the last good checkpoint (step {saved_step}) is in {str(out_dir)!r}" if saved_step is not None
            else "this run wrote no checkpoint before it")
    return TrainingDiverged(f"training diverged: {what} at step {step}; stopped without saving, {kept}. "
                            f"Try a lower --lr or a --clip value")
