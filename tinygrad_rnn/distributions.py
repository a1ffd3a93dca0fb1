"""``torch.distributions.Categorical``: the one distribution RNN programs reach for, to sample
the next token (``Categorical(logits=out).sample()``) or to score actions in REINFORCE
(``dist.log_prob(action)``, ``dist.entropy()``), both differentiable in the logits or probs."""
import numpy as np

from .tensor import Tensor
from .tensor_functions import multinomial


class Categorical:
    """A distribution over ``K`` classes per row of ``probs`` (non-negative, rescaled to sum
    to 1) or of ``logits`` (log-weights); give exactly one of the two."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            tiny = np.finfo(self.probs.dtype).eps
            self.logits = self.probs.clamp(min=tiny, max=1 - tiny).log()
        else:
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self.probs = self.logits.exp()
        self._num_events = self.probs.shape[-1]
        self.batch_shape, self.event_shape = tuple(self.probs.shape[:-1]), ()

    @property
    def param_shape(self):
        return tuple(self.probs.shape)

    def sample(self, sample_shape=()):
        """Class indices (int64) of shape ``sample_shape + batch_shape``, outside the graph."""
        sample_shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        n = int(np.prod(sample_shape, dtype=np.int64))
        rows = self.probs.detach().reshape(-1, self._num_events)
        draws = multinomial(rows, n, replacement=True)          # (rows, n)
        return draws.t().reshape(*sample_shape, *self.batch_shape)

    def log_prob(self, value):
        """log P(value) for class indices ``value`` (broadcast against the batch shape)."""
        value = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
        shape = np.broadcast_shapes(tuple(value.shape), self.batch_shape)
        logits = self.logits.expand(*shape, self._num_events)
        return logits.gather(-1, value.long().expand(*shape).unsqueeze(-1)).squeeze(-1)

    def entropy(self):
        """-sum p log p per row (a class of probability 0 adds 0)."""
        logits = self.logits.clamp(min=float(np.finfo(self.logits.dtype).min))
        return -(self.probs * logits).sum(-1)

    def __repr__(self):
        return f"Categorical(probs: {tuple(self.probs.shape)})"


__all__ = ["Categorical"]
