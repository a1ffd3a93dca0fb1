"""Helpers around modules, as ``torch.nn.utils``: gradient clipping and padded sequences."""
from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_
