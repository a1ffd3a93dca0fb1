"""The three ways a training run ends other than success, each with a one-line message."""
import signal


class UsageError(ValueError):
    """A problem with what the user asked for (options, files, checkpoints): one-line message."""


class TrainingDiverged(RuntimeError):
    """The loss (or the gradient norm) became NaN or infinite; nothing was saved after it."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped the run after saving; ``signum`` says which, so the
    command line exits with 128 + signum as a shell expects."""

    def __init__(self, message, signum=signal.SIGINT):
        super().__init__(message)
        self.signum = int(signum)
