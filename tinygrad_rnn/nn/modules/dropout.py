"""Dropout as a module: active in training, the identity in eval mode."""
from ..._validation import check_probability
from .. import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training (scaling the rest by 1/(1-p));
    p = 1 zeroes everything, as in PyTorch."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        self.p, self.inplace = check_probability(p, allow_one=True), inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
