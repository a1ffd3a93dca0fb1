"""Progress display: tqdm's bar when it is installed and stdout is a terminal, otherwise a
plain line every few seconds (steps, loss, chars/s, ETA), so a run never looks stuck."""
import sys
import time


def fmt(x):
    """4 decimals for ordinary numbers, scientific notation for the huge ones of a bad run."""
    return f"{x:.4f}" if abs(x) < 1e5 else f"{x:.3e}"


def _duration(seconds):
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _tqdm_bar(total, initial):
    if not sys.stdout.isatty():           # a log file or a pipe gets lines, not a redrawn bar
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)


class Progress:
    """``update(step, loss)`` after each step; ``write(line)`` prints a line either way.

    ``enabled=False`` shows no progress (lines from ``write`` still go to ``log``; ``log=None``
    silences everything). ``interval`` is the seconds between two built-in progress lines."""

    def __init__(self, enabled, total, initial, log, chars_per_step, interval=10.0, clock=time.perf_counter):
        self.log, self.total, self.first = log, total, initial
        self.chars_per_step, self.interval, self.clock = chars_per_step, interval, clock
        self.bar = _tqdm_bar(total, initial) if enabled and log is not None else None
        self.lines = enabled and log is not None and self.bar is None
        self.started = clock()
        self.last_line = None

    def update(self, step, loss):
        now = self.clock()
        elapsed = max(now - self.started, 1e-9)
        speed = (step - self.first) * self.chars_per_step / elapsed
        if self.bar is not None:
            self.bar.set_postfix(loss=fmt(loss), chars_s=f"{speed:,.0f}", refresh=False)
            self.bar.update(1)
        elif self.lines and (self.last_line is None or now - self.last_line >= self.interval or step == self.total):
            self.last_line = now
            eta = (self.total - step) * elapsed / max(step - self.first, 1)
            self.log(f"step {step}/{self.total}  loss {fmt(loss)}  {speed:,.0f} chars/s  ETA {_duration(eta)}")

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
            self.bar = None
