"""``CharLMCheckpoint``: the one place that knows what a ``tinygrad-rnn train`` checkpoint holds.

It writes a run's checkpoint, reads one back, validates every field before anything is built
from it, and migrates older versions. ``train``, ``sample`` and ``eval`` all go through it.

Layout (version 3), in the single atomic file of ``tinygrad_rnn.checkpoint``::

    meta: kind, version, step, config (every TrainConfig field), model (CharLM arguments),
          vocab, optimizer (type, lr, hyperparameters, per-parameter steps), scheduler,
          rng (NumPy generator state, CuPy generator seed), corpus (sha256, chars),
          state_parts, last_val, warmup (the text sampling reads before a prime)
    arrays: model.NAME, optim.NAME, state.0/1 (carried h, c), history.train_loss,
            history.val (rows of step, loss, bpc), rng.cuda_state (when a CuPy generator ran)

Version 1 (two files, the corpus known by CRC-32 and its path) and version 2 (characters only,
no tied weights, no warm-up text) are read and migrated.
"""
import dataclasses
import math
import zlib
from pathlib import Path

import numpy as np

from .. import backend
from ..checkpoint import CHECKPOINT_FILE, LEGACY_FILES, load_checkpoint, save_checkpoint
from ..data import text_checksum, vocab_from_dict
from ..lm import state_arrays, state_from_arrays
from .build import OPTIMIZER_CLASSES, build_model, count_parameters, model_config
from .config import make_config
from .errors import UsageError
from .state import RunState

KIND = "tinygrad_rnn.charlm"
VERSION = 3
META_TYPES = {"step": int, "config": dict, "model": dict, "vocab": dict, "optimizer": dict,
              "scheduler": (dict, type(None)), "rng": dict, "corpus": dict, "state_parts": int,
              "last_val": (dict, type(None))}


def _is_int(value, low=0, high=None):
    return isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value < high)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass
class Saved:
    """A checkpoint read and validated: its arrays, meta, config, vocabulary and step."""
    directory: Path
    arrays: dict
    meta: dict
    config: object
    vocab: object

    @property
    def step(self):
        return self.meta["step"]

    def fail(self, message):
        return UsageError(f"checkpoint {str(self.directory)!r}: {message}")

    def corpus_matches(self, text):
        """Is ``text`` the corpus this run was trained on (same checksum, wherever it lives)?"""
        saved = self.meta["corpus"]
        if "sha256" in saved:
            return text_checksum(text) == saved["sha256"]
        return zlib.crc32(text.encode("utf-8", "surrogatepass")) == saved["crc32"]   # version 1

    def build_model(self, device=None, dtype=None):
        """The CharLM with the saved weights (training mode, on ``device``)."""
        model = build_model(self.config, len(self.vocab), device, dtype)
        weights = {k[len("model."):]: v for k, v in self.arrays.items() if k.startswith("model.")}
        try:
            model.load_state_dict(weights)
        except (KeyError, ValueError) as exc:
            raise self.fail(f"the weights do not fit its model: {exc.args[0] if exc.args else exc}") from None
        return model

    def restore(self, model, optimizer, scheduler):
        """Put the optimizer, schedule and random generators back; returns the RunState."""
        meta, arrays = self.meta, self.arrays
        try:
            optimizer.load_state_dict({**meta["optimizer"], "arrays": {
                k[len("optim."):]: v for k, v in arrays.items() if k.startswith("optim.")}})
        except (KeyError, ValueError, TypeError) as exc:
            raise self.fail(f"optimizer: {exc}") from None
        if scheduler is not None:
            fresh = scheduler.state_dict()
            saved = meta["scheduler"]
            if sorted(saved) != sorted(fresh) or any(type(saved[k]) is not type(fresh[k]) for k in fresh):
                raise self.fail(f"scheduler must have the fields {sorted(fresh)} with their types, got {saved!r}")
            scheduler.load_state_dict(saved)
        rng = dict(meta["rng"])
        if rng.get("cuda") is not None:
            rng["cuda"] = {**rng["cuda"], "state": arrays["rng.cuda_state"]}
        try:
            backend.set_rng_state(rng)
        except (KeyError, ValueError, TypeError) as exc:
            raise self.fail(f"rng: {exc}") from None
        parts = [arrays[f"state.{i}"] for i in range(meta["state_parts"])]
        state = state_from_arrays(parts, self.config.cell, model.device)
        if state is not None:
            state = tuple(s.to(dtype=model.dtype) for s in state) if isinstance(state, tuple) else \
                state.to(dtype=model.dtype)
        step = meta["step"]
        return RunState(step=step, state=state,
                        train_losses=[float(x) for x in arrays["history.train_loss"]][:step],
                        val_history=[list(map(float, row)) for row in arrays["history.val"]],
                        last_val=meta["last_val"], saved_step=None)


class CharLMCheckpoint:
    """The checkpoint of a character-LM run in ``directory``: ``write`` one, ``read`` it back
    (validated and migrated to the current version), or ask whether one ``exists``."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def exists(self):
        return any((self.directory / name).exists() for name in (CHECKPOINT_FILE, *LEGACY_FILES))

    def write(self, *, config, model, vocab, optimizer, scheduler, run, corpus):
        """Save everything the next step depends on (see the module docstring), atomically."""
        arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
        opt_state = optimizer.flat_state_dict()   # the arrays apart from the JSON-friendly rest
        arrays.update({f"optim.{k}": v for k, v in opt_state.pop("arrays").items()})
        parts = state_arrays(run.state)
        arrays.update({f"state.{i}": a for i, a in enumerate(parts)})
        arrays["history.train_loss"] = np.asarray(run.train_losses, dtype=np.float64)
        arrays["history.val"] = np.asarray(run.val_history, dtype=np.float64).reshape(-1, 3)
        rng = backend.get_rng_state()
        if rng["cuda"] is not None:
            arrays["rng.cuda_state"] = rng["cuda"]["state"]
            rng["cuda"] = {"seed": rng["cuda"]["seed"]}
        meta = {"kind": KIND, "version": VERSION, "step": run.step, "config": dataclasses.asdict(config),
                "model": model.config(), "vocab": vocab.to_dict(), "optimizer": opt_state,
                "scheduler": scheduler.state_dict() if scheduler is not None else None, "rng": rng,
                "corpus": {"sha256": corpus.checksum, "chars": corpus.chars},
                "state_parts": len(parts), "last_val": run.last_val, "warmup": corpus.warmup}
        save_checkpoint(self.directory, arrays, meta)

    def read(self):
        """The validated ``Saved`` checkpoint, or UsageError naming the file and the field."""
        try:
            arrays, meta = load_checkpoint(self.directory)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        where = f"checkpoint {str(self.directory)!r}"
        if not isinstance(meta, dict) or meta.get("kind") != KIND:
            raise UsageError(f"{where} was not written by tinygrad-rnn train "
                             f"(kind {meta.get('kind') if isinstance(meta, dict) else None!r})")
        meta = self.migrate(meta)
        return validate(self.directory, arrays, meta)

    @staticmethod
    def migrate(meta):
        """Bring an older version's meta to the current layout (a new dict)."""
        meta = dict(meta)
        version = meta.get("version", 1)
        if version == 1:
            data = meta.pop("data", None)
            if isinstance(data, dict):
                meta["corpus"] = {"crc32": data.get("corpus_crc32"), "chars": data.get("corpus_chars")}
            if isinstance(meta.get("rng"), dict):
                meta["rng"] = {"cuda": None, **meta["rng"]}
            version = 2
        if version == 2:                # before word tokens and tied weights: a character model
            if isinstance(meta.get("config"), dict):
                meta["config"] = {"tokens": "char", "vocab_size": None, "min_count": 1, "tie_weights": False,
                                  **meta["config"]}
            if isinstance(meta.get("model"), dict):
                meta["model"] = {"tie_weights": False, **meta["model"]}
            meta["version"] = version = VERSION
        if version != VERSION:
            raise UsageError(f"checkpoint version {version!r} is not known to this tinygrad_rnn "
                             f"(it reads versions 1 to {VERSION})")
        return meta


# ---- validation ---------------------------------------------------------------------------
def validate(directory, arrays, meta):
    """Check every field of ``meta`` and the arrays against it; returns ``Saved``."""
    def fail(message):
        return UsageError(f"checkpoint {str(directory)!r}: {message}")

    for key, kind in META_TYPES.items():
        if key not in meta:
            raise fail(f"field {key!r} is missing")
        if not isinstance(meta[key], kind) or (kind is int and isinstance(meta[key], bool)):
            raise fail(f"field {key!r} has the wrong type ({type(meta[key]).__name__})")
    if meta["step"] < 0:
        raise fail(f"step must be a non-negative integer, got {meta['step']}")
    try:
        config = make_config(meta["config"], strict=True, prefix="config.")
        vocab = vocab_from_dict(meta["vocab"])
    except (UsageError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    if len(vocab) > 2**21:
        raise fail(f"vocab has {len(vocab)} entries")
    if (vocab.kind == "word") != (config.tokens == "word"):
        raise fail(f"vocab holds {vocab.unit}s but config.tokens is {config.tokens!r}")
    if not isinstance(meta.get("warmup", ""), str):
        raise fail(f"field 'warmup' must be text, got {type(meta['warmup']).__name__}")
    _check_model(meta, arrays, config, len(vocab), fail)
    _check_training(meta, arrays, config, fail)
    return Saved(Path(directory), arrays, meta, config, vocab)


def _check_model(meta, arrays, config, vocab_size, fail):
    expected = model_config(config, vocab_size)
    if meta["model"] != expected:
        wrong = sorted(set(meta["model"]) ^ set(expected)) or \
            [k for k in expected if meta["model"][k] != expected[k]]
        raise fail(f"model.{wrong[0]} is {meta['model'].get(wrong[0])!r}, but config and vocab say "
                   f"{expected.get(wrong[0])!r}")
    weights = {k: v for k, v in arrays.items() if k.startswith("model.")}
    count = sum(int(v.size) for v in weights.values())
    if count != count_parameters(config, vocab_size):
        raise fail(f"the weights hold {count} numbers, but the model (config.hidden {config.hidden}, config.layers "
                   f"{config.layers}) has {count_parameters(config, vocab_size)}")
    for name, value in weights.items():
        if value.dtype.kind != "f":
            raise fail(f"array {name!r} has dtype {value.dtype}, expected floating point")
        if not np.isfinite(value).all():
            raise fail(f"array {name!r} holds NaN or infinite weights: the model is unusable")


def _check_training(meta, arrays, config, fail):
    step = meta["step"]
    opt = meta["optimizer"]
    if opt.get("type") != OPTIMIZER_CLASSES[config.optimizer]:
        raise fail(f"optimizer.type is {opt.get('type')!r}, config.optimizer {config.optimizer!r}")
    if not _is_number(opt.get("lr")) or opt["lr"] <= 0:
        raise fail(f"optimizer.lr must be a finite number > 0, got {opt.get('lr')!r}")
    steps = opt.get("steps")
    n_params = sum(1 for k in arrays if k.startswith("model.")) - config.tie_weights   # a tied weight: 2 names
    if not isinstance(steps, list) or len(steps) != n_params or not all(_is_int(s, 0, step + 1) for s in steps):
        raise fail(f"optimizer.steps must list {n_params} step counts in [0, {step}]")
    hyper = opt.get("hyperparameters")
    if not isinstance(hyper, dict) or not all(
            (_is_number(v) and v >= 0) or (isinstance(v, list) and all(_is_number(x) and x >= 0 for x in v))
            or isinstance(v, bool) or v is None for v in hyper.values()):
        raise fail(f"optimizer.hyperparameters must map names to non-negative numbers, flags or null, "
                   f"got {hyper!r}")
    if (meta["scheduler"] is None) != (config.schedule == "constant"):
        raise fail(f"scheduler {meta['scheduler']!r} does not fit config.schedule {config.schedule!r}")
    _check_rng(meta["rng"], arrays, fail)
    corpus = meta["corpus"]
    if not (_is_int(corpus.get("chars"), 2) and (
            (isinstance(corpus.get("sha256"), str) and len(corpus["sha256"]) == 64) or _is_int(corpus.get("crc32")))):
        raise fail(f"corpus must give a checksum and a length >= 2, got {corpus!r}")
    parts = 2 if config.cell == "lstm" else 1
    if meta["state_parts"] not in (0, parts):
        raise fail(f"state_parts must be 0 or {parts} for config.cell {config.cell!r}, got {meta['state_parts']}")
    for i in range(meta["state_parts"]):
        a = arrays.get(f"state.{i}")
        shape = (config.layers, config.batch_size, config.hidden)
        if a is None or a.shape != shape or a.dtype.kind != "f" or not np.isfinite(a).all():
            raise fail(f"array 'state.{i}' must be finite floats of shape {shape}, got "
                       f"{None if a is None else (a.shape, str(a.dtype))}")
    losses, val = arrays.get("history.train_loss"), arrays.get("history.val")
    if losses is None or losses.ndim != 1 or len(losses) < step:
        raise fail(f"array 'history.train_loss' must hold at least {step} losses")
    if val is None or val.ndim != 2 or val.shape[1] != 3:
        raise fail("array 'history.val' must have shape (n, 3)")
    last = meta["last_val"]
    if last is not None and (sorted(last) != ["bpc", "loss", "perplexity"] or
                             not all(isinstance(v, (int, float)) for v in last.values())):
        raise fail(f"last_val must be null or the numbers loss, bpc, perplexity, got {last!r}")


def _check_rng(rng, arrays, fail):
    numpy_state = rng.get("numpy")
    inner = numpy_state.get("state") if isinstance(numpy_state, dict) else None
    ok = (isinstance(inner, dict) and numpy_state.get("bit_generator") == "PCG64"
          and _is_int(inner.get("state"), 0, 2**128) and _is_int(inner.get("inc"), 0, 2**128)
          and _is_int(numpy_state.get("has_uint32"), 0, 2) and _is_int(numpy_state.get("uinteger"), 0, 2**32))
    if not ok:
        raise fail("rng.numpy is not the state of a NumPy PCG64 generator")
    cuda = rng.get("cuda")
    if cuda is not None and not (isinstance(cuda, dict) and _is_int(cuda.get("seed"), 0, 2**64)
                                 and "rng.cuda_state" in arrays and arrays["rng.cuda_state"].ndim == 1):
        raise fail("rng.cuda must be null or a seed with the array 'rng.cuda_state'")
