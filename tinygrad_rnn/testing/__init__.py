"""Tools for checking gradients of your own ops.

    from tinygrad_rnn.testing import gradcheck
    from tinygrad_rnn.testing import strategies   # Hypothesis strategies (needs hypothesis)
"""
from .gradcheck import GradcheckError, gradcheck

__all__ = ["GradcheckError", "gradcheck"]
