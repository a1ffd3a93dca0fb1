"""Attention: a weighted average of values, the weights a softmax of query-key scores.

    scores[t, j] = score(q_t, k_j)                       (one number per query and key)
    a[t, :]      = softmax(scores[t, :] + mask[t, :])    (mask: 0 where allowed, -inf where not)
    context[t]   = sum_j a[t, j] v_j

The score functions are the three of the encoder-decoder literature: additive (Bahdanau,
``v^T tanh(W_q q + W_k k)``), multiplicative (Luong: ``q^T k`` "dot", ``q^T W k`` "general",
``v^T tanh(W [q; k])`` "concat") and the scaled dot product of ``MultiheadAttention``
(``q^T k / sqrt(d)`` per head, as in ``torch.nn.MultiheadAttention``; that one is a single op
with a hand-written backward, ``ops/attention.py``).

Masks are applied to the scores, before the softmax: a masked score becomes -inf, so its
weight is exp(-inf) = 0 exactly and the other weights still sum to 1. (Zeroing weights after
the softmax would leave rows that no longer sum to 1, and let padded keys change the others
through the normaliser.) Convention as in torch: a bool mask is True where attention is NOT
allowed (padding, the future); a float mask is added to the scores.
"""
import numpy as np

from ... import backend
from ...ops.attention import ScaledDotProductAttention
from ...tensor import Tensor, cat
from .. import functional as F
from .. import init
from .dropout import Dropout
from .linear import Linear
from .module import Module, Parameter
from .normalization import LayerNorm


def key_padding_mask(lengths, max_len=None):
    """Bool mask (B, S), True at padded positions j >= lengths[b] (S = max_len or max(lengths))."""
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    max_len = int(lengths.max()) if max_len is None else int(max_len)
    return np.arange(max_len)[None, :] >= lengths[:, None]


def additive_mask(mask, like):
    """A bool mask (True = not allowed) as a float array of 0 / -inf; a float mask as is;
    in ``like``'s dtype and on its device. None stays None."""
    if mask is None:
        return None
    data = mask.data if isinstance(mask, Tensor) else mask
    data = backend.to_device(np.asarray(data) if isinstance(data, (list, tuple)) else data, like.device)
    xp = backend.array_module(data)
    if data.dtype == bool:
        return xp.where(data, like.dtype.type(-np.inf), like.dtype.type(0))
    if data.dtype.kind != "f":
        raise TypeError(f"attention masks must be bool or floating point, got dtype {data.dtype}")
    return data.astype(like.dtype, copy=False)


def masked_softmax(scores, mask=None, axis=-1):
    """softmax(scores + mask) along ``axis``; ``mask`` broadcasts against scores (see
    ``additive_mask``). Weights of masked positions are exactly 0."""
    mask = additive_mask(mask, scores)
    return (scores if mask is None else scores + mask).softmax(axis)


class _RNNAttention(Module):
    """Shared forward of the encoder-decoder attentions: ``score`` is the only difference."""

    def forward(self, query, keys, values=None, key_padding_mask=None):
        """query (B, Dq) for one decoder step, or (B, T, Dq) for T of them; keys (B, S, Dk);
        values (B, S, Dv), default keys; key_padding_mask (B, S) bool, True at padding.
        Returns (context (B, Dv) or (B, T, Dv), weights (B, S) or (B, T, S))."""
        values = keys if values is None else values
        one_step = query.ndim == 2
        if query.ndim not in (2, 3) or keys.ndim != 3 or values.ndim != 3:
            raise ValueError(f"{type(self).__name__}: expected query (B, Dq) or (B, T, Dq) and keys/values "
                             f"(B, S, D), got {tuple(query.shape)}, {tuple(keys.shape)}, {tuple(values.shape)}")
        if not query.shape[0] == keys.shape[0] == values.shape[0] or keys.shape[1] != values.shape[1]:
            raise ValueError(f"{type(self).__name__}: query {tuple(query.shape)}, keys {tuple(keys.shape)} and "
                             f"values {tuple(values.shape)} must share the batch size B, keys and values the length S")
        if one_step:
            query = query.unsqueeze(1)
        mask = None
        if key_padding_mask is not None:
            mask = key_padding_mask.data if isinstance(key_padding_mask, Tensor) else key_padding_mask
            if tuple(mask.shape) != tuple(keys.shape[:2]):
                raise ValueError(f"key_padding_mask must have shape (B, S) = {tuple(keys.shape[:2])}, "
                                 f"got {tuple(mask.shape)}")
            mask = mask[:, None, :]
        weights = masked_softmax(self.score(query, keys), mask)          # (B, T, S)
        context = weights @ values                                        # (B, T, Dv)
        return (context[:, 0], weights[:, 0]) if one_step else (context, weights)


class AdditiveAttention(_RNNAttention):
    """Bahdanau attention: score(q, k_j) = v^T tanh(W_q q + W_k k_j + b).

    Parameters: ``query_proj.weight`` (A, Dq), ``key_proj.weight`` (A, Dk) and ``key_proj.bias``
    (A,), ``v.weight`` (1, A), with A = ``hidden_size``."""

    def __init__(self, query_size, key_size, hidden_size, bias=True):
        super().__init__()
        self.query_proj = Linear(query_size, hidden_size, bias=False)
        self.key_proj = Linear(key_size, hidden_size, bias=bias)
        self.v = Linear(hidden_size, 1, bias=False)

    def score(self, query, keys):
        """(B, T, Dq), (B, S, Dk) -> (B, T, S)."""
        hidden = (self.query_proj(query).unsqueeze(2) + self.key_proj(keys).unsqueeze(1)).tanh()
        return self.v(hidden).squeeze(-1)


class LuongAttention(_RNNAttention):
    """Luong's multiplicative scores: ``method`` "dot" q^T k_j (needs Dq == Dk), "general"
    q^T W k_j (``weight.weight`` (Dq, Dk)), or "concat" v^T tanh(W [q; k_j]) (``weight.weight``
    (A, Dq + Dk), ``v.weight`` (1, A), A = ``hidden_size``, default Dq)."""

    def __init__(self, query_size, key_size, method="general", hidden_size=None):
        super().__init__()
        if method not in ("dot", "general", "concat"):
            raise ValueError(f"LuongAttention: method must be 'dot', 'general' or 'concat', got {method!r}")
        if method == "dot" and query_size != key_size:
            raise ValueError(f"LuongAttention: method='dot' needs query_size == key_size, got "
                             f"{query_size} and {key_size}; use 'general' to map between them")
        self.method, self.query_size = method, query_size
        if method == "general":
            self.weight = Linear(key_size, query_size, bias=False)
        elif method == "concat":
            hidden_size = hidden_size or query_size
            self.weight = Linear(query_size + key_size, hidden_size, bias=False)
            self.v = Linear(hidden_size, 1, bias=False)

    def score(self, query, keys):
        if self.method == "dot":
            return query @ keys.transpose(1, 2)
        if self.method == "general":
            return query @ self.weight(keys).transpose(1, 2)
        # W [q; k] = W_q q + W_k k: the concatenation without materialising T x S copies
        w = self.weight.weight
        hidden = (F.linear(query, w[:, :self.query_size]).unsqueeze(2)
                  + F.linear(keys, w[:, self.query_size:]).unsqueeze(1)).tanh()
        return self.v(hidden).squeeze(-1)


class MultiheadAttention(Module):
    """Scaled dot-product attention over ``num_heads`` heads, as ``torch.nn.MultiheadAttention``
    (same arguments, shapes, masks and parameter names, so state dicts load both ways).

    query (L, N, E), key (S, N, kdim), value (S, N, vdim); (N, L, E)... if batch_first;
    unbatched (L, E), (S, kdim), (S, vdim). For each head h (d = E / num_heads):

        Q_h = query W_q,h^T + b_q,h,  K_h = key W_k,h^T + b_k,h,  V_h = value W_v,h^T + b_v,h
        A_h = softmax(Q_h K_h^T / sqrt(d) + mask),   out = concat_h(A_h V_h) W_o^T + b_o

    ``key_padding_mask`` (N, S), ``attn_mask`` (L, S) or (N*num_heads, L, S): bool (True = not
    allowed) or float (added); a query whose keys are all masked gets NaN, as in torch.
    Returns (out, weights (N, L, S), averaged over heads unless ``average_attn_weights=False``:
    (N, num_heads, L, S); None if ``need_weights=False``)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads}), both positive")
        if not 0 <= dropout < 1:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.batch_first, self.add_zero_attn = dropout, batch_first, add_zero_attn
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.zeros((3 * E, E), np.float32))
        else:
            self.q_proj_weight = Parameter(np.zeros((E, E), np.float32))
            self.k_proj_weight = Parameter(np.zeros((E, self.kdim), np.float32))
            self.v_proj_weight = Parameter(np.zeros((E, self.vdim), np.float32))
        self.in_proj_bias = Parameter(np.zeros(3 * E, np.float32)) if bias else None
        self.bias_k = Parameter(np.zeros((1, 1, E), np.float32)) if add_bias_kv else None
        self.bias_v = Parameter(np.zeros((1, 1, E), np.float32)) if add_bias_kv else None
        self.out_proj = Linear(E, E, bias=bias)
        self._reset_parameters()
        self.to(device, dtype)

    def _reset_parameters(self):
        """Glorot-uniform projections, zero biases, Glorot-normal bias_k/bias_v (torch's choice)."""
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            if name in self._params:
                init.xavier_uniform_(self._params[name])
        for p in (self.in_proj_bias, self.out_proj.bias):
            if p is not None:
                init.zeros_(p)
        for p in (self.bias_k, self.bias_v):
            if p is not None:
                init.xavier_normal_(p)

    def _projections(self, query, key, value):
        """Q, K, V = the three input projections, each (..., E)."""
        E, b = self.embed_dim, self.in_proj_bias
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            weights = w[:E], w[E:2 * E], w[2 * E:]
        else:
            weights = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        biases = (None,) * 3 if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        return [F.linear(x, w, bias) for x, w, bias in zip((query, key, value), weights, biases)]

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = self._check(query, key, value)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal=True is a hint that attn_mask is causal; "
                               "pass the mask too (Transformer.generate_square_subsequent_mask(L))")
        if not batched:        # one sequence: a batch of one, time first
            query, key, value = (x.unsqueeze(1) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _data(key_padding_mask)[None]
        elif self.batch_first:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        L, N, E = query.shape
        q, k, v = self._projections(query, key, value)                 # (L, N, E), (S, N, E) x 2
        mask = self._mask(attn_mask, key_padding_mask, q, L, N, key.shape[0])
        if self.bias_k is not None:
            k, v = cat([k, self.bias_k.expand(1, N, E)]), cat([v, self.bias_v.expand(1, N, E)])
        H, d = self.num_heads, self.head_dim
        q, k, v = (x.reshape(x.shape[0], N, H, d).permute(1, 2, 0, 3) for x in (q, k, v))  # (N, H, ., d)
        if self.add_zero_attn:
            zeros = Tensor(backend.xp_for(k.device).zeros((N, H, 1, d), dtype=k.dtype))
            k, v = cat([k, zeros], axis=2), cat([v, zeros], axis=2)
        out, weights = ScaledDotProductAttention.apply(q, k, v, mask=mask, scale=float(np.sqrt(1.0 / d)),
                                                       dropout=self.dropout if self.training else 0.0)
        out = out.permute(2, 0, 1, 3).reshape(L, N, E)                  # (N, H, L, d) -> (L, N, E)
        out = self.out_proj(out)
        out = out.transpose(0, 1) if batched and self.batch_first else out if batched else out.squeeze(1)
        if not need_weights:
            return out, None
        weights = weights.mean(axis=1) if average_attn_weights else weights
        return out, weights if batched else weights.squeeze(0)

    def _check(self, query, key, value):
        """Ranks and sizes of the inputs; returns whether they are batched."""
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 3-D (batched) or all 2-D "
                             f"(unbatched), got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        for name, x, size in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if x.shape[-1] != size:
                raise ValueError(f"MultiheadAttention: {name} has {x.shape[-1]} features, expected {size}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention: key {tuple(key.shape)} and value {tuple(value.shape)} "
                             f"must have the same sequence length and batch size")
        batch_axis = 0 if self.batch_first else 1
        if query.ndim == 3 and query.shape[batch_axis] != key.shape[batch_axis]:
            raise ValueError(f"MultiheadAttention: query {tuple(query.shape)} and key {tuple(key.shape)} have "
                             f"different batch sizes (axis {batch_axis}, batch_first={self.batch_first})")
        return query.ndim == 3

    def _mask(self, attn_mask, key_padding_mask, like, L, N, S):
        """attn_mask and key_padding_mask merged into one additive array broadcasting against
        the scores (N, H, L, S'), S' = S plus the bias_k and zero-attention columns; or None."""
        extra = int(self.bias_k is not None) + int(self.add_zero_attn)
        mask = None
        if attn_mask is not None:
            m = additive_mask(attn_mask, like)
            if m.shape == (L, S):
                m = m[None, None]
            elif m.shape == (N * self.num_heads, L, S):
                m = m.reshape(N, self.num_heads, L, S)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask must have shape (L, S) = {(L, S)} or "
                                 f"(N*num_heads, L, S) = {(N * self.num_heads, L, S)}, got {tuple(m.shape)}")
            mask = m
        if key_padding_mask is not None:
            m = additive_mask(key_padding_mask, like)
            if m.shape != (N, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask must have shape (N, S) = {(N, S)}, "
                                 f"got {tuple(m.shape)}")
            m = m[:, None, None, :]
            mask = m if mask is None else mask + m
        if mask is not None and extra:
            xp = backend.array_module(mask)
            mask = xp.concatenate([mask, xp.zeros(mask.shape[:-1] + (extra,), mask.dtype)], axis=-1)
        return mask

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


def _data(mask):
    return mask.data if isinstance(mask, Tensor) else mask


class ResidualSelfAttention(Module):
    """Self-attention with a residual connection and LayerNorm, to put on top of a (bi)LSTM:

        y = LayerNorm(x + Dropout(MultiheadAttention(x, x, x)))

    x (B, T, D) (batch_first, as the taggers use) or (T, B, D); ``key_padding_mask`` (B, T) keeps
    padded steps from being attended to. Returns (y, weights (B, T, T))."""

    def __init__(self, embed_dim, num_heads=1, dropout=0.0, batch_first=True, norm=True):
        super().__init__()
        self.attn = MultiheadAttention(embed_dim, num_heads, dropout=dropout, batch_first=batch_first)
        self.drop = Dropout(dropout)
        self.norm = LayerNorm(embed_dim) if norm else None

    def forward(self, x, key_padding_mask=None, attn_mask=None):
        attended, weights = self.attn(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask)
        y = x + self.drop(attended)
        return (y if self.norm is None else self.norm(y)), weights
