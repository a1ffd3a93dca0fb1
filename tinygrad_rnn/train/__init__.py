"""The training application behind ``tinygrad-rnn train | sample | eval``: a character language
model trained with truncated BPTT, evaluation, crash-safe checkpoints, exact resume.

    from tinygrad_rnn.train import train
    result = train({"steps": 500, "hidden": 128}, "runs/small")          # a fresh run
    result = train({"steps": 1000}, "runs/small", resume="runs/small")   # 500 more steps

The pieces, one job each:

    config.py      TrainConfig, its validation, what a resume may change
    build.py       corpus (text, vocabulary, batches, checksum), model, optimizer, size check
    state.py       RunState: step, carried hidden state, loss history
    trainer.py     Trainer (step, evaluate, save, fit) and train()
    checkpoint.py  CharLMCheckpoint: the checkpoint schema (write, read, validate, migrate)
    inference.py   load_model, sample_checkpoint, evaluate_checkpoint (the sample/eval commands)
    progress.py    tqdm bar or built-in progress lines;  plot.py  loss.png (matplotlib, optional)
    errors.py      UsageError, TrainingDiverged, TrainingInterrupted

Errors a user can fix (bad option values, unreadable corpus, missing or mismatched checkpoint,
CUDA requested but absent, a model too big for memory) raise ``UsageError``, a ``ValueError``
with a one-line message.
"""
from .build import (Corpus, build_model, build_optimizer, check_model_size, count_parameters, load_corpus,
                    model_config, prepare_data)
from .checkpoint import KIND as CHECKPOINT_KIND, CharLMCheckpoint, Saved
from .config import DEFAULT_STEPS, RESUME_OVERRIDES, TrainConfig, make_config, validate_config
from .errors import TrainingDiverged, TrainingInterrupted, UsageError
from .inference import evaluate_checkpoint, load_model, sample_checkpoint
from .plot import plot_losses
from .state import RunState
from .trainer import StopSignals, Trainer, train

__all__ = ["TrainConfig", "train", "Trainer", "RunState", "CharLMCheckpoint", "Saved", "load_model",
           "sample_checkpoint", "evaluate_checkpoint", "load_corpus", "prepare_data", "Corpus", "build_model",
           "build_optimizer", "check_model_size", "count_parameters", "model_config", "make_config",
           "validate_config", "plot_losses", "StopSignals", "UsageError", "TrainingDiverged",
           "TrainingInterrupted", "DEFAULT_STEPS", "RESUME_OVERRIDES", "CHECKPOINT_KIND"]
