"""Attention modules: gradients against finite differences (float64), padding masks (weights of
padded keys exactly 0, padded keys and values change nothing), the fused scaled dot-product
attention op equal to its composite version, and nn.MultiheadAttention against
torch.nn.MultiheadAttention with the same weights over generated configurations and masks
(outputs, weights and every gradient to 1e-10; skipped without torch)."""
import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn.modules.attention import key_padding_mask, masked_softmax
from tinygrad_rnn.ops.attention import ScaledDotProductAttention
from tinygrad_rnn.testing import gradcheck

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def given(*args, **kwargs):
    """``hypothesis.given`` that accepts the function-scoped ``device`` fixture."""
    suppressed = [*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
    return lambda test: settings(suppress_health_check=suppressed)(hypothesis.given(*args, **kwargs)(test))


def rnn_attention(kind, Dq, Dk):
    if kind == "additive":
        return nn.AdditiveAttention(Dq, Dk, 3)
    method = kind.split("-")[1]
    return nn.LuongAttention(Dq, Dq if method == "dot" else Dk, method=method, hidden_size=3)


KINDS = ["additive", "luong-dot", "luong-general", "luong-concat"]


@st.composite
def rnn_attention_case(draw):
    kind = draw(st.sampled_from(KINDS))
    B, S, T = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    Dq, Dk, Dv = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if kind == "luong-dot":
        Dk = Dq
    lengths = draw(st.lists(st.integers(1, S), min_size=B, max_size=B))
    one_step = draw(st.booleans())
    seed = draw(st.integers(0, 2 ** 16))
    return kind, B, S, T, Dq, Dk, Dv, lengths, one_step, seed


def make_inputs(case):
    """NumPy query, keys, values and the padding mask (True at padding)."""
    kind, B, S, T, Dq, Dk, Dv, lengths, one_step, seed = case
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, Dq) if one_step else (B, T, Dq))
    return [q, rng.standard_normal((B, S, Dk)), rng.standard_normal((B, S, Dv))], key_padding_mask(lengths, S)


def leaves(arrays, device):
    return [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]


@given(rnn_attention_case())
def test_rnn_attention_gradcheck(device, case):
    tg.manual_seed(case[-1])
    module = rnn_attention(case[0], case[4], case[5]).double().to(device)
    arrays, mask = make_inputs(case)
    q, k, v = leaves(arrays, device)
    gradcheck(lambda q, k, v, *params: module(q, k, v, key_padding_mask=mask), q, k, v, *module.parameters(),
              atol=1e-6, rtol=1e-4)


@given(rnn_attention_case())
def test_padded_keys_get_zero_weight_and_change_nothing(device, case):
    """Weights of padded positions are exactly 0, the rest sum to 1; replacing padded keys and
    values by other numbers changes neither the outputs nor the gradients of the real inputs,
    and the padded inputs get zero gradient."""
    tg.manual_seed(case[-1])
    module = rnn_attention(case[0], case[4], case[5]).double().to(device)
    (q, k, v), mask = make_inputs(case)
    pad = mask[:, :, None]
    changed = [q, np.where(pad, 100 * k + 3, k), np.where(pad, -7 * v, v)]
    (q, k, v), (q2, k2, v2) = leaves((q, k, v), device), leaves(changed, device)
    outs = [module(*inputs, key_padding_mask=mask) for inputs in ((q, k, v), (q2, k2, v2))]
    weights = outs[0][1].numpy()
    padded = mask if case[8] else np.broadcast_to(mask[:, None, :], weights.shape)
    assert np.all(weights[padded] == 0.0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-12)
    upstream = np.random.default_rng(0).standard_normal(outs[0][0].shape)
    for (context, w), other in zip(outs, outs[1:] + outs[:1]):
        np.testing.assert_allclose(context.numpy(), other[0].numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(w.numpy(), other[1].numpy())
        context.backward(tg.Tensor(upstream, device=device))
    real = ~mask[:, :, None]
    for a, b in ((k, k2), (v, v2)):
        np.testing.assert_allclose(a.grad.numpy() * real, b.grad.numpy() * real, rtol=1e-10, atol=1e-12)
        assert np.all(a.grad.numpy()[np.broadcast_to(~real, a.shape)] == 0)
    np.testing.assert_allclose(q.grad.numpy(), q2.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_mask_before_softmax_not_after():
    """Masking after the softmax leaves rows that do not sum to 1 and still depend on the
    padded scores; masking before gives a proper distribution over the real keys only."""
    scores = tg.Tensor(np.array([[1.0, 2.0, 5.0]]))
    pad = np.array([[False, False, True]])
    before = masked_softmax(scores, pad).numpy()
    after = scores.softmax(-1).numpy() * ~pad
    np.testing.assert_allclose(before, [[np.exp(1) / (np.exp(1) + np.e ** 2), np.e ** 2 / (np.exp(1) + np.e ** 2), 0]])
    assert after.sum() < 0.1 and before.sum() == pytest.approx(1.0)


def test_rnn_attention_shapes_and_errors():
    att = nn.AdditiveAttention(4, 6, 5)
    assert [n for n, _ in att.named_parameters()] == ["query_proj.weight", "key_proj.weight", "key_proj.bias",
                                                       "v.weight"]
    context, weights = att(tg.randn(2, 4), tg.randn(2, 7, 6), tg.randn(2, 7, 3))
    assert context.shape == (2, 3) and weights.shape == (2, 7)
    context, weights = att(tg.randn(2, 5, 4), tg.randn(2, 7, 6))
    assert context.shape == (2, 5, 6) and weights.shape == (2, 5, 7)
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        att(tg.randn(2, 4), tg.randn(2, 7, 6), key_padding_mask=np.zeros((2, 6), bool))
    with pytest.raises(ValueError, match="share the batch size"):
        att(tg.randn(3, 4), tg.randn(2, 7, 6))
    with pytest.raises(ValueError, match="share the batch size"):
        att(tg.randn(2, 4), tg.randn(2, 7, 6), tg.randn(2, 6, 3))
    with pytest.raises(ValueError, match="expected query"):
        att(tg.randn(4), tg.randn(2, 7, 6))
    with pytest.raises(ValueError, match="method"):
        nn.LuongAttention(3, 3, method="cosine")
    with pytest.raises(ValueError, match="query_size == key_size"):
        nn.LuongAttention(3, 4, method="dot")
    np.testing.assert_array_equal(key_padding_mask([1, 3], 4), [[0, 1, 1, 1], [0, 0, 0, 1]])


# ----------------------------------------------------------------------------- MultiheadAttention

@st.composite
def mha_case(draw):
    H = draw(st.integers(1, 3))
    E = H * draw(st.integers(1, 3))
    L, S, N = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    kdim = draw(st.sampled_from([None, 2, E]))
    vdim = draw(st.sampled_from([None, 3]))
    cfg = dict(embed_dim=E, num_heads=H, kdim=kdim, vdim=vdim, bias=draw(st.booleans()),
               batch_first=draw(st.booleans()), add_bias_kv=draw(st.booleans()), add_zero_attn=draw(st.booleans()))
    call = dict(batched=draw(st.booleans()), need_weights=draw(st.booleans()),
                average_attn_weights=draw(st.booleans()),
                attn_mask=draw(st.sampled_from([None, "bool", "float", "bool3d", "float3d"])),
                key_padding_mask=draw(st.sampled_from([None, "bool", "float"])))
    return cfg, call, (L, S, N), draw(st.integers(0, 2 ** 16))


def mha_inputs(cfg, call, sizes, seed):
    """NumPy query, key, value and masks; no row is fully masked (key 0 is always allowed)."""
    (L, S, N), rng = sizes, np.random.default_rng(seed)
    E, kdim, vdim, H = cfg["embed_dim"], cfg["kdim"] or cfg["embed_dim"], cfg["vdim"] or cfg["embed_dim"], cfg["num_heads"]
    n = N if call["batched"] else 1

    def layout(T, D):
        shape = (n, T, D) if cfg["batch_first"] else (T, n, D)
        return rng.standard_normal(shape if call["batched"] else (T, D))
    arrays = [layout(L, E), layout(S, kdim), layout(S, vdim)]
    masks = {}
    kind = call["attn_mask"]
    if kind is not None:
        shape = (n * H, L, S) if kind.endswith("3d") else (L, S)
        banned = rng.random(shape) < 0.4
        banned[..., 0] = False
        masks["attn_mask"] = banned if kind.startswith("bool") else np.where(banned, -np.inf, rng.standard_normal(shape))
    kind = call["key_padding_mask"]
    if kind is not None:
        banned = rng.random((n, S)) < 0.4
        banned[:, 0] = False
        banned = banned if call["batched"] else banned[0]
        masks["key_padding_mask"] = banned if kind == "bool" else np.where(banned, -np.inf, 0.5 * rng.standard_normal(banned.shape))
    return arrays, masks


@needs_torch
@given(mha_case())
def test_multihead_attention_matches_torch(device, case):
    cfg, call, sizes, seed = case
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(**cfg, dtype=torch.float64)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn(p.shape, dtype=torch.float64))     # non-zero biases too
    ours = nn.MultiheadAttention(**cfg).double()
    ours.load_state_dict(ref.state_dict())
    ours.to(device)
    arrays, masks = mha_inputs(cfg, call, sizes, seed)
    if call["attn_mask"] and call["key_padding_mask"] and call["attn_mask"][:4] != call["key_padding_mask"][:4]:
        masks["attn_mask"] = masks["attn_mask"].astype(np.float64) if masks["attn_mask"].dtype == bool else masks["attn_mask"]
        masks["key_padding_mask"] = np.where(masks["key_padding_mask"], -np.inf, 0.0) \
            if masks["key_padding_mask"].dtype == bool else masks["key_padding_mask"]   # torch wants one kind
    mine = [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    kwargs = dict(need_weights=call["need_weights"], average_attn_weights=call["average_attn_weights"])
    out, w = ours(*mine, **kwargs, **{k: tg.Tensor(m, device=device) for k, m in masks.items()})
    out_r, w_r = ref(*theirs, **kwargs, **{k: torch.tensor(m) for k, m in masks.items()})
    np.testing.assert_allclose(out.numpy(), out_r.detach().numpy(), rtol=1e-10, atol=1e-10)
    assert (w is None) == (w_r is None)
    if w is not None:
        np.testing.assert_allclose(w.numpy(), w_r.detach().numpy(), rtol=1e-10, atol=1e-10)
    upstream = np.random.default_rng(seed).standard_normal(out_r.shape)
    out.backward(tg.Tensor(upstream, device=device))
    out_r.backward(torch.tensor(upstream))
    for m, r in zip(mine, theirs):
        np.testing.assert_allclose(m.grad.numpy(), r.grad.numpy(), rtol=1e-10, atol=1e-10)
    params = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_multihead_attention_gradcheck(device):
    tg.manual_seed(1)
    mha = nn.MultiheadAttention(4, 2, kdim=3, add_bias_kv=True, batch_first=True).double().to(device)
    rng = np.random.default_rng(0)
    q, k, v = (tg.Tensor(rng.standard_normal(s), requires_grad=True, device=device) for s in ((2, 3, 4), (2, 5, 3), (2, 5, 4)))
    pad = np.array([[False] * 5, [False, False, True, True, True]])
    causal = np.triu(np.ones((3, 5), bool), 1)
    gradcheck(lambda *ts: mha(*ts[:3], key_padding_mask=pad, attn_mask=causal)[0], q, k, v, *mha.parameters(),
              atol=1e-6, rtol=1e-4)


def test_multihead_attention_state_dict_and_errors():
    assert list(nn.MultiheadAttention(6, 3).state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                             "out_proj.bias"]
    assert list(nn.MultiheadAttention(6, 3, bias=False).state_dict()) == ["in_proj_weight", "out_proj.weight"]
    mha = nn.MultiheadAttention(6, 3)
    assert mha.in_proj_bias.numpy().max() == 0 and mha.in_proj_weight.numpy().std() > 0
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(5, 2)
    x = tg.randn(4, 2, 6)
    with pytest.raises(ValueError, match="all be 3-D"):
        mha(x, x, tg.randn(4, 6))
    with pytest.raises(ValueError, match="query has 5 features"):
        mha(tg.randn(4, 2, 5), x, x)
    with pytest.raises(ValueError, match="different batch sizes"):
        mha(x, tg.randn(4, 3, 6), tg.randn(4, 3, 6))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        mha(x, x, x, attn_mask=np.zeros((3, 4), bool))
    with pytest.raises(RuntimeError, match="is_causal"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(TypeError, match="bool or floating"):
        mha(x, x, x, attn_mask=np.zeros((4, 4), np.int64))


def test_residual_self_attention_on_a_bilstm():
    """biLSTM -> self-attention with residual + LayerNorm: shapes, and padding gets no weight."""
    lstm = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    block = nn.ResidualSelfAttention(8, num_heads=2)
    out, _ = lstm(tg.randn(2, 5, 3), lengths=[5, 3])
    y, weights = block(out, key_padding_mask=key_padding_mask([5, 3]))
    assert y.shape == (2, 5, 8) and weights.shape == (2, 5, 5)
    assert np.all(weights.numpy()[1, :, 3:] == 0)
    y.sum().backward()
    assert all(p.grad is not None for p in block.parameters())


# ----------------------------------------------------------------------------- the fused op

@st.composite
def sdpa_case(draw):
    lead = tuple(draw(st.lists(st.integers(1, 2), min_size=0, max_size=2)))
    L, S, d, dv = (draw(st.integers(1, 4)) for _ in range(4))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    banned = rng.random(lead + (L, S)) < 0.4
    banned[..., 0] = False
    mask = draw(st.sampled_from([None, "bool", "float"]))
    mask = None if mask is None else np.where(banned, -np.inf, 0.0 if mask == "bool" else rng.standard_normal(banned.shape))
    arrays = [rng.standard_normal(lead + s) for s in ((L, d), (S, d), (S, dv))]
    return arrays, mask, draw(st.sampled_from([1.0, 0.5])), draw(st.booleans()), rng.standard_normal(lead + (L, S))


@given(sdpa_case())
def test_fused_attention_gradcheck(device, case):
    arrays, mask, scale, use_weights, weight_grad = case
    mask = None if mask is None else tg.Tensor(mask, device=device).data
    gradcheck(lambda q, k, v: ScaledDotProductAttention.apply(q, k, v, mask=mask, scale=scale)[:1 + use_weights],
              *leaves(arrays, device), atol=1e-6, rtol=1e-4)


@given(sdpa_case())
def test_fused_attention_equals_composite(device, case):
    """Values and gradients (through the context and the weights) equal the composite
    matmul -> mask -> softmax -> matmul, also with dropout (same random draws)."""
    arrays, mask, scale, use_weights, weight_grad = case
    dropout = 0.3 if use_weights else 0.0
    fused_in, comp_in = leaves(arrays, device), leaves(arrays, device)
    tg.manual_seed(5)
    context, weights = ScaledDotProductAttention.apply(*fused_in, mask=None if mask is None else
                                                      tg.Tensor(mask, device=device).data, scale=scale, dropout=dropout)
    tg.manual_seed(5)
    q, k, v = comp_in
    w = tg.nn.functional.dropout(masked_softmax((q @ k.transpose(-1, -2)) * scale, mask), dropout)
    c = w @ v
    np.testing.assert_allclose(context.numpy(), c.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weights.numpy(), w.numpy(), rtol=1e-12, atol=1e-12)
    upstream = np.random.default_rng(0).standard_normal(c.shape)
    for out, ws in ((context, weights), (c, w)):
        ((out * tg.Tensor(upstream, device=device)).sum() + (ws * tg.Tensor(weight_grad, device=device)).sum()).backward()
    for a, b in zip(fused_in, comp_in):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
