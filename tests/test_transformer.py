"""Transformer layers: torch's weights loaded into ours give torch's outputs and gradients
(float64, 1e-10) over generated sizes, heads, masks, batch_first, norm_first and activations,
dropout off (skipped without torch); gradchecks of the layers and of the exact GELU; the
causal mask; argument errors."""
import warnings

import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn.modules.transformer import _Gelu
from tinygrad_rnn.testing import gradcheck

try:
    import torch
except ImportError:
    torch = None


def given(*args, **kwargs):
    """``hypothesis.given`` that accepts the function-scoped ``device`` fixture."""
    suppressed = [*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
    return lambda test: settings(suppress_health_check=suppressed)(hypothesis.given(*args, **kwargs)(test))


@st.composite
def transformer_case(draw):
    H = draw(st.integers(1, 3))
    cfg = dict(d_model=H * draw(st.integers(1, 3)), nhead=H, num_encoder_layers=draw(st.integers(1, 2)),
               num_decoder_layers=draw(st.integers(1, 2)), dim_feedforward=draw(st.integers(1, 6)), dropout=0.0,
               activation=draw(st.sampled_from(["relu", "gelu"])), batch_first=draw(st.booleans()),
               norm_first=draw(st.booleans()), bias=draw(st.booleans()))
    sizes = dict(S=draw(st.integers(1, 4)), T=draw(st.integers(1, 4)), N=draw(st.integers(1, 3)),
                 batched=draw(st.booleans()))
    masks = dict(tgt_mask=draw(st.sampled_from([None, "causal", "bool"])),
                 src_key_padding_mask=draw(st.booleans()), memory_mask=draw(st.booleans()),
                 tgt_key_padding_mask=draw(st.booleans()))
    return cfg, sizes, masks, draw(st.integers(0, 2 ** 16))


def make_masks(masks, sizes, rng):
    """NumPy masks; key 0 is never masked, so no row is fully masked."""
    S, T, N, out = sizes["S"], sizes["T"], sizes["N"], {}

    def padding(length):
        m = rng.random((N, length)) < 0.4
        m[:, 0] = False
        return m if sizes["batched"] else m[0]
    if masks["tgt_mask"] == "causal":
        out["tgt_mask"] = nn.Transformer.generate_square_subsequent_mask(T, dtype=np.float64).numpy()
    elif masks["tgt_mask"] == "bool":
        out["tgt_mask"] = np.triu(np.ones((T, T), bool), 1)
    if masks["memory_mask"]:
        m = rng.random((T, S)) < 0.4
        m[:, 0] = False
        out["memory_mask"] = m
    if masks["src_key_padding_mask"]:
        out["src_key_padding_mask"] = out["memory_key_padding_mask"] = padding(S)
    if masks["tgt_key_padding_mask"]:
        out["tgt_key_padding_mask"] = padding(T)
    return out


def inputs(cfg, sizes, rng):
    E, N = cfg["d_model"], sizes["N"]

    def seq(length):
        shape = ((N, length, E) if cfg["batch_first"] else (length, N, E)) if sizes["batched"] else (length, E)
        return rng.standard_normal(shape)
    return seq(sizes["S"]), seq(sizes["T"])


def assert_same(ours, ref, mine_inputs, ref_inputs, out, out_r, device, seed):
    np.testing.assert_allclose(out.numpy(), out_r.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg="output")
    upstream = np.random.default_rng(seed).standard_normal(out_r.shape)
    out.backward(tg.Tensor(upstream, device=device))
    out_r.backward(torch.tensor(upstream))
    for m, r in zip(mine_inputs, ref_inputs):
        np.testing.assert_allclose(m.grad.numpy(), r.grad.numpy(), rtol=1e-10, atol=1e-10)
    params = dict(ours.named_parameters())
    assert sorted(params) == sorted(n for n, _ in ref.named_parameters())
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@given(transformer_case())
def test_transformer_matches_torch(device, case):
    cfg, sizes, masks, seed = case
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torch's note about nested tensors
        ref = torch.nn.Transformer(**cfg, dtype=torch.float64)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn(p.shape, dtype=torch.float64))      # LayerNorm and biases off 1 / 0
    ours = nn.Transformer(**cfg).double()
    ours.load_state_dict(ref.state_dict())
    ours.to(device)
    rng = np.random.default_rng(seed)
    arrays, mask_arrays = inputs(cfg, sizes, rng), make_masks(masks, sizes, rng)
    mine = [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = ours(*mine, **{k: tg.Tensor(v, device=device) for k, v in mask_arrays.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torch's note about mixing bool and float masks
        out_r = ref(*theirs, **{k: torch.tensor(v) for k, v in mask_arrays.items()})
    assert_same(ours, ref, mine, theirs, out, out_r, device, seed)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@given(transformer_case())
def test_encoder_stack_without_norm_matches_torch(device, case):
    """A TransformerEncoder of standalone layers (no final norm), with a custom activation."""
    cfg, sizes, masks, seed = case
    torch.manual_seed(seed)
    layer_args = dict(d_model=cfg["d_model"], nhead=cfg["nhead"], dim_feedforward=cfg["dim_feedforward"], dropout=0.0,
                      batch_first=cfg["batch_first"], norm_first=cfg["norm_first"], bias=cfg["bias"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**layer_args, activation=torch.tanh,
                                                                           dtype=torch.float64), 2)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer_args, activation=lambda x: x.tanh()), 2).double()
    ours.load_state_dict(ref.state_dict())
    ours.to(device)
    src = inputs(cfg, sizes, np.random.default_rng(seed))[0]
    x, xr = tg.Tensor(src, requires_grad=True, device=device), torch.tensor(src, requires_grad=True)
    mask = nn.Transformer.generate_square_subsequent_mask(sizes["S"], dtype=np.float64)
    out = ours(x, mask=mask, is_causal=True)
    out_r = ref(xr, mask=torch.tensor(mask.numpy()), is_causal=True)
    assert_same(ours, ref, [x], [xr], out, out_r, device, seed)


def test_gelu_gradcheck(device):
    x = tg.Tensor(np.linspace(-4, 4, 17), requires_grad=True, device=device)
    gradcheck(_Gelu.apply, x)
    np.testing.assert_allclose(_Gelu.apply(tg.Tensor(np.array([0.0, 1.0]))).numpy(), [0.0, 0.8413447460685429])


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_gradcheck(device, norm_first):
    tg.manual_seed(0)
    layer = nn.TransformerDecoderLayer(4, 2, dim_feedforward=3, dropout=0.0, activation="gelu",
                                       norm_first=norm_first).double().to(device)
    rng = np.random.default_rng(0)
    tgt, memory = (tg.Tensor(rng.standard_normal(s), requires_grad=True, device=device) for s in ((3, 2, 4), (2, 2, 4)))
    causal = nn.Transformer.generate_square_subsequent_mask(3, dtype=np.float64)
    gradcheck(lambda t, m, *ps: layer(t, m, tgt_mask=causal), tgt, memory, *layer.parameters(), atol=1e-6, rtol=1e-4)


def test_square_subsequent_mask_and_errors():
    mask = nn.Transformer.generate_square_subsequent_mask(3).numpy()
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(mask, [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    model = nn.Transformer(8, 2, 1, 1, 16)
    assert all(p.numpy().std() > 0 for n, p in model.named_parameters() if p.ndim > 1)
    with pytest.raises(RuntimeError, match="batch sizes"):
        model(tg.randn(3, 2, 8), tg.randn(3, 4, 8))
    with pytest.raises(RuntimeError, match="d_model = 8"):
        model(tg.randn(3, 2, 8), tg.randn(3, 2, 6))
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 3)
    first, second = encoder.layers[0].linear1.weight, encoder.layers[1].linear1.weight
    assert first is not second and np.array_equal(first.numpy(), second.numpy())   # copies, as torch
    model.eval()
    out = model(tg.randn(5, 2, 8), tg.randn(4, 2, 8), tgt_mask=nn.Transformer.generate_square_subsequent_mask(4))
    assert out.shape == (4, 2, 8)


def test_encoder_layer_and_residual_self_attention_gradcheck(device):
    tg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=3, dropout=0.0, batch_first=True).double().to(device)
    block = nn.ResidualSelfAttention(4, num_heads=2).double().to(device)
    x = tg.Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True, device=device)
    pad = np.array([[False, False, False], [False, False, True]])
    gradcheck(lambda x, *ps: layer(x, src_key_padding_mask=pad), x, *layer.parameters(), atol=1e-6, rtol=1e-4)
    gradcheck(lambda x, *ps: block(x, key_padding_mask=pad)[0], x, *block.parameters(), atol=1e-6, rtol=1e-4)
