"""Adding a new op end to end: a fused LayerNorm, checked, then used in a LayerNorm-LSTM.

    python examples/custom_op.py            # property test, gradcheck, then train LN-LSTM vs LSTM
    python examples/custom_op.py --quick    # the same in a few seconds

The walk-through that goes with this file is docs/adding_an_op.md. Four steps:

1. ``LayerNorm``: one ``Function`` with ``forward``/``backward`` on raw arrays. The array module
   ``xp`` comes from the inputs (NumPy or CuPy), so the same code runs on both devices.
2. ``layer_norm``: the lowercase functional wrapper that users call on Tensors.
3. ``test_layer_norm_gradient``: a Hypothesis property test. It draws broadcastable shapes and
   values with ``tinygrad_rnn.testing.strategies``, compares autograd with finite differences
   (``tinygrad_rnn.testing.gradcheck``) and with the same formula composed from primitive ops.
   tests/test_examples_b.py imports and runs it; this script runs it too, with few examples.
4. ``LayerNormLSTMCell``: a cell that uses the op (Ba, Kiros & Hinton 2016), trained as a tiny
   character language model for a few hundred steps next to the same cell without the norm.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import _common  # noqa: F401  (first: puts the source checkout on sys.path)
import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.backend import array_module
from tinygrad_rnn.data import CharVocab, load_default_corpus
from tinygrad_rnn.function import Function, unbroadcast
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.utils import clip_grad_norm_
from tinygrad_rnn.testing import gradcheck, strategies


# ---- 1. the op: forward and backward on raw arrays ----------------------------------------
class LayerNorm(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, mean and var over the last axis.

    Shapes: x (..., D); gamma and beta broadcast against x (usually (D,)); y has the broadcast
    shape. With x_hat the normalised input and s = 1 / sqrt(var + eps), the backward is

        dgamma = sum over broadcast axes of g * x_hat          (unbroadcast)
        dbeta  = sum over broadcast axes of g                  (unbroadcast)
        dx_hat = g * gamma, summed back to x's shape           (unbroadcast)
        dx     = s * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))

    One node in the graph instead of the ~8 that ``mean``, ``-``, ``var``, ``sqrt``, ``/``, ``*``
    and ``+`` would record, and the backward reuses x_hat and s instead of each primitive
    saving its own copy.
    """

    def forward(self, x, gamma, beta, eps=1e-5):
        xp = array_module(x)
        centred = x - x.mean(axis=-1, keepdims=True)
        inv_std = 1 / xp.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)
        x_hat = centred * inv_std
        self.save_for_backward(x_hat, inv_std, gamma)
        self.shapes = x.shape, gamma.shape, beta.shape
        return gamma * x_hat + beta

    def backward(self, g):
        x_hat, inv_std, gamma = self.saved
        x_shape, gamma_shape, beta_shape = self.shapes
        need_x, need_gamma, need_beta = self.needs_input_grad
        dgamma = unbroadcast(g * x_hat, gamma_shape) if need_gamma else None
        dbeta = unbroadcast(g, beta_shape) if need_beta else None
        dx = None
        if need_x:
            dx_hat = unbroadcast(g * gamma, x_shape)
            dx = inv_std * (dx_hat - dx_hat.mean(axis=-1, keepdims=True)
                            - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True))
        return dx, dgamma, dbeta


# ---- 2. the functional wrapper ---------------------------------------------------------------
def layer_norm(x, weight, bias, eps=1e-5):
    """Layer normalisation over the last axis of ``x``: one fused op (see ``LayerNorm``)."""
    return LayerNorm.apply(x, weight, bias, eps=eps)


def layer_norm_composed(x, weight, bias, eps=1e-5):
    """The same formula from primitive ops: the reference the fused op must equal."""
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / ((centred * centred).mean(axis=-1, keepdims=True) + eps).sqrt() * weight + bias


# ---- 3. the property test --------------------------------------------------------------------
@given(data=st.data())
def test_layer_norm_gradient(data):
    """Fused layer norm: gradients = finite differences, output = the composed formula."""
    x_shape, w_shape, b_shape = data.draw(
        strategies.broadcastable_shapes(num_shapes=3, min_dims=1).filter(lambda s: s[0][-1] >= 2),
        label="shapes of x, weight, bias")
    # distinct values: a row of equal x has variance ~0, where finite differences are useless
    x = data.draw(strategies.distinct_arrays(x_shape), label="x")
    w = data.draw(strategies.arrays(w_shape), label="weight")
    b = data.draw(strategies.arrays(b_shape), label="bias")
    before = [a.copy() for a in (x, w, b)]
    X, W, B = (tg.Tensor(a, requires_grad=True) for a in (x, w, b))

    gradcheck(layer_norm, X, W, B)

    for original, tensor in zip(before, (X, W, B)):
        np.testing.assert_array_equal(tensor.data, original, err_msg="LayerNorm modified an input")
    grads = [X.grad.data, W.grad.data, B.grad.data]
    assert not any(np.shares_memory(a, b) for i, a in enumerate(grads) for b in grads[i + 1:]), \
        "LayerNorm returned gradients that share memory"
    np.testing.assert_allclose(layer_norm(X, W, B).data, layer_norm_composed(X, W, B).data,
                               rtol=1e-10, atol=1e-10, err_msg="fused != composed")


# ---- 4. using it: a LayerNorm-LSTM cell --------------------------------------------------------
def _constant_parameter(size, value):
    return nn.Parameter(np.full(size, value, dtype=np.float32))


class LayerNormLSTMCell(nn.Module):
    """LSTM cell with layer normalisation (Ba et al. 2016), composed from ops including ours.

    Shapes: x (B, input_size), h and c (B, hidden_size) -> h', c' (B, hidden_size).

        i, f, g, o = split(LN(W_ih x) + LN(W_hh h) + b)       (LN over the 4H gate vector)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(LN(c'))

    ``normalize=False`` drops the three norms: a plain LSTM cell, for comparison.
    """

    def __init__(self, input_size, hidden_size, normalize=True):
        super().__init__()
        H, bound = hidden_size, 1 / np.sqrt(hidden_size)
        self.hidden_size, self.normalize = H, normalize
        self.weight_ih = nn.Parameter(nn.init.uniform_array((4 * H, input_size), bound))
        self.weight_hh = nn.Parameter(nn.init.uniform_array((4 * H, H), bound))
        bias = np.zeros(4 * H, dtype=np.float32)
        bias[H:2 * H] = 1.0  # forget gate starts open
        self.bias = nn.Parameter(bias)
        if normalize:   # each norm starts as the identity map: scale 1, shift 0
            self.ln_ih_weight, self.ln_ih_bias = _constant_parameter(4 * H, 1.0), _constant_parameter(4 * H, 0.0)
            self.ln_hh_weight, self.ln_hh_bias = _constant_parameter(4 * H, 1.0), _constant_parameter(4 * H, 0.0)
            self.ln_c_weight, self.ln_c_bias = _constant_parameter(H, 1.0), _constant_parameter(H, 0.0)

    def forward(self, x, state):
        h, c = state
        gx, gh = F.linear(x, self.weight_ih), F.linear(h, self.weight_hh)
        if self.normalize:
            gx = layer_norm(gx, self.ln_ih_weight, self.ln_ih_bias)
            gh = layer_norm(gh, self.ln_hh_weight, self.ln_hh_bias)
        i, f, g, o = (gx + gh + self.bias).chunk(4, axis=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        c_out = layer_norm(c, self.ln_c_weight, self.ln_c_bias) if self.normalize else c
        return o.sigmoid() * c_out.tanh(), c


class CharModel(nn.Module):
    """Embedding -> one (LN-)LSTM cell unrolled over time -> Linear. ids (B, T) -> logits (B, T, V)."""

    def __init__(self, vocab_size, hidden_size, normalize):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 32)
        self.cell = LayerNormLSTMCell(32, hidden_size, normalize)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids):
        B, T = ids.shape
        x = self.embed(ids)
        h = tg.zeros(B, self.cell.hidden_size, device=x.device)
        c = tg.zeros(B, self.cell.hidden_size, device=x.device)
        outputs = []
        for t in range(T):
            h, c = self.cell(x[:, t], (h, c))
            outputs.append(h)
        return self.head(tg.stack(outputs, axis=1))


def train_char_model(normalize, text_ids, vocab_size, steps, device, seed, hidden=64, batch=32, seq_len=32, lr=3e-3):
    """Train on random windows of the text; returns the list of per-step losses (nats/char)."""
    _common.seed_everything(seed)
    rng = _common.data_rng(seed)
    model = CharModel(vocab_size, hidden, normalize).to(device)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    losses = []
    name = "LN-LSTM" if normalize else "LSTM"
    for _ in _common.progress(range(steps), desc=name):
        starts = rng.integers(0, len(text_ids) - seq_len - 1, size=batch)
        window = np.stack([text_ids[s:s + seq_len + 1] for s in starts])
        inputs = _common.to_tensor(window[:, :-1], device, np.int64)
        targets = _common.to_tensor(window[:, 1:], device, np.int64)
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


def run_property_test(max_examples):
    """Run the Hypothesis test above with ``max_examples`` examples (raises if it fails)."""
    settings(max_examples=max_examples, deadline=None)(test_layer_norm_gradient)()


def main(argv=None):
    args = _common.parse_args("custom_op", argv, __doc__)
    device = args.device

    # a) property test: autograd = finite differences = composed formula, over random shapes
    examples = 10 if args.quick else 100
    with _common.Timer() as timer:
        run_property_test(examples)
    print(f"property test: {examples} Hypothesis examples passed ({timer.seconds:.1f} s)")

    # b) one explicit gradcheck on the chosen device, with (D,)-shaped weight and bias
    x = tg.randn(3, 5, 8, dtype=np.float64, device=device, requires_grad=True)
    w = tg.randn(8, dtype=np.float64, device=device, requires_grad=True)
    b = tg.randn(8, dtype=np.float64, device=device, requires_grad=True)
    errors = gradcheck(layer_norm, x, w, b)
    print(f"gradcheck on {device}: worst abs error {errors['abs_error']:.2e}, "
          f"worst rel error {errors['rel_error']:.2e}")

    # c) use it: LN-LSTM vs LSTM as character LMs on Tiny Shakespeare, same steps and seed
    text = load_default_corpus()[:200_000]
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    steps, hidden = (15, 32) if args.quick else (400, 128)
    _common.smoke_test_note(args, "15 training steps, too few for the two cells to differ by more than noise. "
                                  "The full run (400 steps) ends with the LN-LSTM well below the LSTM.")
    tail = max(1, steps // 10)      # the table's "last 10%" and the plot's running mean: same window
    curves, rows = {}, []
    for normalize in (True, False):
        name = "LN-LSTM" if normalize else "LSTM"
        with _common.Timer() as timer:
            losses = train_char_model(normalize, ids, len(vocab), steps, device, args.seed, hidden=hidden)
        curves[name] = losses
        last = float(np.mean(losses[-tail:]))
        rows.append([name, hidden, steps, losses[0], last, f"{timer.seconds:.1f}"])
    _common.print_table(rows, ["cell", "hidden", "steps", "first loss", "loss (last 10%)", "seconds"],
                        title="A new op in use: character LM training loss (nats/char), same seed and batches")

    def draw(fig, ax):
        for name, losses in curves.items():
            ax.plot(_common.smooth(losses, tail), label=name)   # its last point is the table's number
        ax.set_xlabel("step")
        ax.set_ylabel(f"training loss (nats/char, running mean of {tail})")
        ax.legend()
        ax.grid(alpha=0.3)
    _common.save_plot(args.out / "custom_op_loss.png", draw, title="LayerNorm-LSTM (fused LayerNorm op) vs LSTM",
                      note=args.note)
    return {"curves": curves, "rows": rows}


if __name__ == "__main__":
    main()
