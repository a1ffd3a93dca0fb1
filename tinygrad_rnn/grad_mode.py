"""Switching graph recording on and off, with torch's names and forms.

Each of ``no_grad``, ``enable_grad``, ``inference_mode`` and ``set_grad_enabled`` is a context
manager and a decorator; ``no_grad`` also decorates bare (``@tg.no_grad``), and
``set_grad_enabled(False)`` called as a plain function switches recording off until switched back.
The switch itself is ``function._grad_enabled``, which ``Function.apply`` reads.
"""
import functools

from . import function


class _GradMode:
    """Sets recording to ``self.mode`` on enter and restores the previous state on exit."""
    mode = True

    def __enter__(self):
        self.previous = function._grad_enabled
        function._grad_enabled = self.mode

    def __exit__(self, *exc):
        function._grad_enabled = self.previous
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            previous = function._grad_enabled
            function._grad_enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                function._grad_enabled = previous
        return wrapper


class no_grad(_GradMode):
    """No graph is recorded inside: evaluation, sampling, parameter updates."""
    mode = False

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if callable(fn):            # bare @no_grad
            return self(fn)
        return self

    def __init__(self, fn=None):
        pass


class enable_grad(_GradMode):
    """Record the graph again inside a ``no_grad`` region."""
    mode = True


class inference_mode(_GradMode):
    """As ``no_grad`` (``inference_mode(False)`` records). Tensors made inside are ordinary ones."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode) and not isinstance(mode, bool):   # bare @inference_mode
            self.mode = False
            return self(mode)
        return self

    def __init__(self, mode=True):
        if not callable(mode) or isinstance(mode, bool):
            self.mode = not mode


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` switches recording off now; as a context manager or decorator
    it restores the previous state on exit."""

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
        self.previous, self.mode = function._grad_enabled, mode
        function._grad_enabled = mode

    def __enter__(self):
        function._grad_enabled = self.mode

    def __call__(self, fn):
        function._grad_enabled = self.previous   # decorating switches nothing until a call
        return super().__call__(fn)
