"""``Trainer``: the training loop of ``tinygrad-rnn train`` as an object, and ``train()``.

One optimizer step per chunk of ``batch_size`` streams x ``seq_len`` characters; the hidden
state is carried from one chunk to the next and detached (truncated BPTT, ``tbptt_step`` with
k1 = k2 = seq_len), and reset to zero at each new pass over the text.

**Exact resume.** A checkpoint holds everything the next steps depend on (see
``checkpoint.py``), so training 2N steps gives bit for bit the same weights as training N,
stopping, and resuming for N more: on the CPU, and on CUDA on the same GPU model (the CuPy
generator's state is saved too). Evaluation and sampling draw no numbers from the package
generator.

**Stopping.** Ctrl-C or SIGTERM: the step in progress finishes, a checkpoint is saved, and
``TrainingInterrupted`` (a KeyboardInterrupt) propagates. A second signal interrupts the step
at once, except inside the parameter update, which always completes; ``step()`` rewinds the
random generator when a step is interrupted, so what is saved is always consistent. A loss that
becomes NaN or infinite stops with ``TrainingDiverged`` without saving.
"""
import contextlib
import math
import signal
import threading
from pathlib import Path

import numpy as np

from .. import backend
from ..checkpoint import probe_writable
from ..lm import evaluate, sample
from ..nn import functional as F
from ..nn.utils import clip_grad_norm_
from ..tbptt import tbptt_step
from ..tensor import Tensor
from .build import build_model, build_optimizer, check_model_size, load_corpus, prepare_data
from .checkpoint import CharLMCheckpoint
from .config import make_config, resume_config
from .errors import TrainingDiverged, TrainingInterrupted, UsageError
from .plot import PLOT_HINT, plot_losses
from .progress import Progress, fmt
from .state import RunState


class StopSignals:
    """While active (main thread only), the first SIGINT or SIGTERM only records ``signum``: the
    loop saves at the end of the step in progress. A second one interrupts at once, except
    inside ``shield()`` (the parameter update), after which it takes effect."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum, self.count, self.shielded, self.previous = None, 0, False, {}

    def _handler(self, signum, frame):
        self.count += 1
        self.signum = self.signum or signum
        if self.count > 1 and not self.shielded:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def shield(self):
        self.shielded = True
        try:
            yield
        finally:
            self.shielded = False
        if self.count > 1:
            raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                with contextlib.suppress(ValueError, OSError):
                    self.previous[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


class Trainer:
    """A run: ``step()`` trains on the next chunk, ``evaluate()`` measures the validation loss,
    ``save()`` writes the checkpoint, ``fit()`` loops until ``config.steps``. Build one with
    ``Trainer.start(config, out_dir, resume=...)``."""

    def __init__(self, config, corpus, model, optimizer, scheduler, out_dir, run=None, log=print, progress=True):
        self.config, self.corpus, self.model = config, corpus, model
        self.optimizer, self.scheduler, self.run = optimizer, scheduler, run or RunState()
        self.out_dir, self.checkpoint = Path(out_dir), CharLMCheckpoint(out_dir)
        self.log, self.show_progress, self.plot_hint_shown = log, progress, False
        self.progress = Progress(False, config.steps, self.run.step, log, 0)
        V = len(corpus.vocab)
        self.loss_fn = lambda logits, targets: F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))

    @classmethod
    def start(cls, config=None, out_dir="runs/charlm", resume=None, overwrite=False, log=print, progress=True):
        """A fresh run from ``config``, or the run in ``resume`` continued (``config`` may only
        change what ``config.RESUME_OVERRIDES`` lists, and ``corpus`` to a moved copy). Every
        check (options, corpus, checkpoint, model size, writable ``out_dir``) happens here,
        before the first step."""
        out_dir = Path(out_dir)
        saved = CharLMCheckpoint(resume).read() if resume is not None else None
        config = resume_config(saved.config, config, resume) if saved else make_config(config)
        same_dir = saved is not None and out_dir.resolve() == Path(resume).resolve()
        if CharLMCheckpoint(out_dir).exists() and not same_dir and not overwrite:
            raise UsageError(f"{str(out_dir)!r} already holds a checkpoint; resume it (--resume {out_dir}), "
                             f"choose another --out, or pass --force to overwrite it")
        corpus = prepare_data(config, _corpus_text(config, saved))
        check_model_size(config, len(corpus.vocab))
        backend.manual_seed(config.seed)
        if saved is None:
            model = build_model(config, len(corpus.vocab))
            optimizer, scheduler = build_optimizer(config, model)
            run = RunState()
        else:
            if saved.vocab != corpus.vocab:
                raise saved.fail("its vocabulary differs from the corpus's")
            model = saved.build_model(config.device, config.dtype)
            optimizer, scheduler = build_optimizer(config, model)
            run = saved.restore(model, optimizer, scheduler)
            run.saved_step = run.step if same_dir else None
        try:
            probe_writable(out_dir)
        except OSError as exc:
            raise UsageError(f"cannot write to the output directory {str(out_dir)!r}: "
                             f"{exc.strerror or exc}") from None
        return cls(config, corpus, model.train(), optimizer, scheduler, out_dir, run, log, progress)

    # ---- one step -------------------------------------------------------------------------
    def step(self, signals=None):
        """One optimizer step on the next chunk; returns its mean loss. A KeyboardInterrupt
        before the update leaves the run as it was (the random generators are rewound); the
        update runs under ``signals.shield()`` so it is never cut in half."""
        run = self.run
        before = backend.rng_snapshot()
        try:
            loss, new_state = self._forward_backward()
        except KeyboardInterrupt:
            backend.restore_rng_snapshot(before)
            raise
        with signals.shield() if signals is not None else contextlib.nullcontext():
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            run.state = new_state
            run.record(loss)
        return loss

    def _forward_backward(self):
        config, run, device = self.config, self.run, self.config.device
        batches = self.corpus.batches
        index = run.step % len(batches)
        inputs, targets = batches.chunk_at(index)
        state = None if index == 0 else run.state        # a new pass over the text: fresh state
        self.optimizer.zero_grad()
        loss, new_state = tbptt_step(self.model, self.loss_fn, Tensor(inputs, device=device),
                                     Tensor(targets, device=device), state)
        if not math.isfinite(loss):
            raise self._diverged(f"loss is {loss}")
        if config.clip > 0:
            norm = float(clip_grad_norm_(self.model.parameters(), config.clip))
            if not math.isfinite(norm):
                raise self._diverged(f"gradient norm is {norm}")
        return loss, new_state

    def _diverged(self, what):
        saved = self.run.saved_step
        kept = (f"the last good checkpoint (step {saved}) is in {str(self.out_dir)!r}" if saved is not None
                else "this run wrote no checkpoint before it")
        return TrainingDiverged(f"training diverged: {what} at step {self.run.step + 1}; stopped without "
                                f"saving, {kept}. Try a lower --lr or a --clip value")

    # ---- evaluation and saving ------------------------------------------------------------
    def evaluate(self):
        """Validation loss on the first ``eval_chars`` tokens; recorded and printed with its unit."""
        config, run, val_ids = self.config, self.run, self.corpus.val_ids
        ids = val_ids[:config.eval_chars] if config.eval_chars else val_ids
        result = evaluate(self.model, ids if len(ids) >= 2 else val_ids, config.batch_size, config.seq_len)
        run.val_history.append([run.step, result["loss"], result["bpc"]])
        run.last_val = {k: result[k] for k in ("loss", "bpc", "perplexity")}
        shown = run.running if run.running is not None else (run.train_losses or [float("nan")])[-1]
        u = self.corpus.vocab.unit
        self.progress.write(f"step {run.step}/{config.steps}  train loss {fmt(shown)} nats/{u}  |  val loss "
                            f"{fmt(result['loss'])} nats/{u}  {fmt(result['bits'])} bits/{u}  "
                            f"perplexity/{u} {fmt(result['perplexity'])}")
        return result

    def save(self):
        """Write the checkpoint (and ``loss.png`` when matplotlib is there) to ``out_dir``."""
        self.checkpoint.write(config=self.config, model=self.model, vocab=self.corpus.vocab,
                              optimizer=self.optimizer, scheduler=self.scheduler, run=self.run, corpus=self.corpus)
        if not plot_losses(self.out_dir / "loss.png", self.run.train_losses, self.run.val_history,
                           self.corpus.vocab.unit) \
                and not self.plot_hint_shown:
            self.progress.write(f"note: no loss.png (matplotlib is not installed); {PLOT_HINT}")
            self.plot_hint_shown = True
        self.run.saved_step = self.run.step

    # ---- the loop -------------------------------------------------------------------------
    def fit(self, on_step=None):
        """Train up to ``config.steps``, evaluating and saving every ``eval_every`` steps;
        returns ``{"step", "train_loss", "val", "sample", "out_dir"}``. ``on_step(step, loss)``
        is called after each step."""
        config, run = self.config, self.run
        self.progress = Progress(self.show_progress, config.steps, min(run.step, config.steps), self.log,
                                 config.batch_size * config.seq_len)
        signals = StopSignals()
        try:
            # overflow in a diverging run is detected and reported, not warned about per op
            with signals, np.errstate(over="ignore", invalid="ignore"):
                while run.step < config.steps:
                    loss = self.step(signals)
                    self.progress.update(run.step, run.running)
                    if on_step is not None:
                        on_step(run.step, loss)
                    if run.step % config.eval_every == 0 or run.step == config.steps:
                        self.evaluate()
                        self.save()
                    if signals.signum is not None:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.progress.close()
            if run.saved_step != run.step:
                self.save()
            signum = signals.signum or signal.SIGINT
            how = "by SIGTERM " if signum == signal.SIGTERM else ""
            raise TrainingInterrupted(f"interrupted {how}at step {run.step}; checkpoint saved in "
                                      f"{str(self.out_dir)!r}", signum) from None
        finally:
            self.progress.close()
        return self._finish()

    def _finish(self):
        run, config = self.run, self.config
        if run.saved_step != run.step:               # e.g. resumed at or past the requested steps
            if not run.val_history or run.val_history[-1][0] != run.step:
                self.evaluate()
            self.save()
        text = ""
        if config.sample_length:
            text = sample(self.model, self.corpus.vocab, config.sample_length, temperature=0.8, seed=config.seed,
                          warmup=self.corpus.warmup)
            self.progress.write(f"--- sample (temperature 0.8) ---\n{text}\n---")
        return {"step": run.step, "train_loss": run.train_losses[-1] if run.train_losses else None,
                "val": run.last_val, "sample": text, "out_dir": str(self.out_dir)}


def _corpus_text(config, saved):
    """The corpus of a run; for a resume, the checkpoint's text, recognised by its checksum
    wherever ``config.corpus`` now points."""
    if saved is None:
        return load_corpus(config.corpus)
    name = config.corpus or "(the bundled corpus)"
    try:
        text = load_corpus(config.corpus)
    except UsageError as exc:
        raise UsageError(f"{exc}; if the corpus has moved, pass --corpus NEW_PATH (it is recognised by "
                         f"its checksum)") from None
    if not saved.corpus_matches(text):
        raise saved.fail(f"the corpus {name!r} has changed since it was written (its checksum differs); "
                         f"resume needs the same text (pass --corpus PATH if it moved)")
    return text


def _new_directories(path):
    """The directories ``path`` needs that do not exist yet, deepest first."""
    missing, path = [], Path(path).absolute()
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def train(config=None, out_dir="runs/charlm", resume=None, progress=True, log=print, on_step=None,
          overwrite=False):
    """Train a CharLM; returns ``{"step", "train_loss", "val", "sample", "out_dir"}``.

    ``config``: a TrainConfig or a dict of its fields (missing ones take the defaults). With
    ``resume`` (a checkpoint directory) the run continues from it: its saved config is used,
    and ``config`` may only change ``steps`` (the total to reach), ``eval_every``, ``eval_chars``,
    ``device`` and ``sample_length``, and point ``corpus`` at a moved copy of the same text;
    anything else that differs from the checkpoint is a UsageError (with ``schedule="cosine"``,
    whose length is ``steps``, steps cannot change). ``out_dir`` receives the checkpoint and
    ``loss.png``; it must not already hold a checkpoint unless it is the one being resumed or
    ``overwrite=True``. A run that fails leaves no directory it created empty. ``log``
    (``print`` by default, None for silence) gets one line per evaluation and the final sample;
    ``progress`` shows a bar or progress lines. ``on_step(step, loss)`` is called after each
    optimizer step.
    """
    if out_dir is None or not str(out_dir).strip():
        raise UsageError("the output directory (--out) must not be empty")
    created = _new_directories(out_dir)
    try:
        trainer = Trainer.start(config, out_dir, resume, overwrite, log, progress)
        return trainer.fit(on_step)
    except BaseException:
        for directory in created:                 # deepest first; a directory with files stays
            try:
                directory.rmdir()
            except OSError:
                break
        raise
