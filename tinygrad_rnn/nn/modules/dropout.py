"""Dropout as a module: active in training, the identity in eval mode."""
from ..._validation import check_probability
from .. import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training (scaling the rest by 1/(1-p))."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = check_probability(p)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
