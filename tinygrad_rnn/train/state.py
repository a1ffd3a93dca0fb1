"""``RunState``: what changes as a run goes on, besides the model and optimizer."""
import dataclasses


@dataclasses.dataclass
class RunState:
    """The progress of a run. ``step`` optimizer steps are done, which is also the position in
    the data (one chunk per step); ``state`` is the hidden state carried into the next chunk
    (detached; None at the start of a pass over the text). ``train_losses`` has one loss per
    step, ``val_history`` one ``[step, loss, bpc]`` row per evaluation and ``last_val`` the
    latest ``{"loss", "bpc", "perplexity"}``. ``running`` (a smoothed loss for the display) and
    ``saved_step`` (the step of the checkpoint this run has on disk) are not saved."""
    step: int = 0
    state: object = None
    train_losses: list = dataclasses.field(default_factory=list)
    val_history: list = dataclasses.field(default_factory=list)
    last_val: dict = None
    running: float = None
    saved_step: int = None

    def record(self, loss):
        """Count one finished step whose mean loss was ``loss``."""
        self.step += 1
        self.train_losses.append(loss)
        self.running = loss if self.running is None else 0.95 * self.running + 0.05 * loss
