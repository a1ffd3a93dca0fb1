"""The Transformer's layers, with torch.nn's arguments, shapes and parameter names.

An encoder layer is self-attention then a two-layer feed-forward network, each inside a
residual connection with LayerNorm, either after the sum (post-norm, the 2017 paper's and
torch's default) or before the sublayer (``norm_first=True``, pre-norm, easier to train deep):

    post-norm:  x = LN1(x + SA(x));        x = LN2(x + FF(x))
    pre-norm:   x = x + SA(LN1(x));        x = x + FF(LN2(x))
    FF(x) = linear2(dropout(activation(linear1(x))))

A decoder layer adds cross-attention to the encoder's output ("memory") between the two.
Everything is composed from MultiheadAttention, Linear, LayerNorm and Dropout, so autograd
gives the backward; tests/test_transformer.py holds outputs and gradients equal to torch's.
"""
import copy
import math

import numpy as np

from ... import backend
from ...function import Function
from ...tensor import Tensor
from .. import functional as F
from .. import init
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

_erf = np.vectorize(math.erf, otypes=[np.float64])


class _Gelu(Function):
    """x Phi(x), Phi the standard normal CDF, computed exactly with erf as torch's default gelu
    (not the tanh approximation). erf runs on the host: NumPy has no vectorised erf."""

    def forward(self, x):
        erf = backend.to_device(_erf(backend.to_numpy(x) / math.sqrt(2)).astype(x.dtype), backend.device_of(x))
        self.x, self.cdf = x, 0.5 * (1 + erf)
        return x * self.cdf

    def backward(self, g):
        xp = backend.array_module(g)
        pdf = xp.exp(-0.5 * self.x * self.x) / math.sqrt(2 * math.pi)
        return g * (self.cdf + self.x * pdf)


def _activation(activation):
    """"relu", "gelu" or a callable (a function or a Module)."""
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return _Gelu.apply
    if callable(activation):
        return activation
    raise ValueError(f"activation must be 'relu', 'gelu' or a callable, got {activation!r}")


class TransformerEncoderLayer(Module):
    """Self-attention + feed-forward, each with residual and LayerNorm (see the module doc).
    src (S, N, E), (N, S, E) if batch_first, or unbatched (S, E) -> the same shape."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self._feed_forward(d_model, dim_feedforward, dropout, activation, bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.to(device, dtype)

    def _feed_forward(self, d_model, dim_feedforward, dropout, activation, bias):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.activation = _activation(activation)

    def _ff_block(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        return self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                              need_weights=False, is_causal=is_causal)[0]

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self.dropout1(self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal))
            return x + self.dropout2(self._ff_block(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self._sa_block(x, src_mask, src_key_padding_mask, is_causal)))
        return self.norm2(x + self.dropout2(self._ff_block(x)))


class TransformerDecoderLayer(TransformerEncoderLayer):
    """Masked self-attention, cross-attention to ``memory`` (the encoder's output), feed-forward;
    each with residual and LayerNorm. tgt (T, N, E), memory (S, N, E) (batch_first: N first)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout3 = Dropout(dropout)
        self.to(device, dtype)

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        return self.multihead_attn(x, memory, memory, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                   need_weights=False, is_causal=is_causal)[0]

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self.dropout1(self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = x + self.dropout2(self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                                  memory_is_causal))
            return x + self.dropout3(self._ff_block(self.norm3(x)))
        x = self.norm1(x + self.dropout1(self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal)))
        x = self.norm2(x + self.dropout2(self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                                         memory_is_causal)))
        return self.norm3(x + self.dropout3(self._ff_block(x)))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (deep copies: same initial weights, as torch),
    then ``norm`` if given. Parameters: ``layers.0.*`` ... and ``norm.*``."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_layers))
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer``, then ``norm`` if given."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(decoder_layer) for _ in range(num_layers))
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=bool(tgt_is_causal),
                      memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """Encoder-decoder Transformer (torch.nn.Transformer): src (S, N, E), tgt (T, N, E) (N first
    if batch_first; unbatched (S, E), (T, E)) -> (T, N, E). Pass a causal ``tgt_mask``
    (``generate_square_subsequent_mask(T)``) so position t cannot see the targets after it."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        common = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                      layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias)
        self.encoder = custom_encoder or TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **common), num_encoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.decoder = custom_decoder or TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **common), num_decoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.to(device, dtype)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]:
            raise RuntimeError(f"Transformer: the batch sizes of src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                               f"must be equal (batch axis {batch_axis})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: src and tgt must have d_model = {self.d_model} features, got "
                               f"{src.shape[-1]} and {tgt.shape[-1]}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above (position i may attend
        to positions j <= i only)."""
        mask = np.triu(np.full((sz, sz), -np.inf, dtype=np.dtype(dtype or np.float32)), k=1)
        return Tensor(mask, device=device)
