"""Tagging that needs the future: a unidirectional tagger is stuck at chance, a bidirectional one solves it.

    python examples/bidirectional_tagging.py            # 8 taggers, 2-4 minutes on a 2-core CPU
    python examples/bidirectional_tagging.py --quick    # a few seconds

The task: a sequence of T random tokens x_1..x_T, drawn uniformly from V symbols; the tag at
step t is the token k steps ahead, y_t = x_{t+k}. (The last k steps have no tag; they are
marked with ``ignore_index`` and count neither in the loss nor in the accuracy.)

A unidirectional tagger emits y_t having read only x_1..x_t, which are independent of x_{t+k}:
whatever it learns, its expected accuracy is exactly the chance level

    max_v P(x_{t+k} = v) = 1 / V,

which the script computes and draws as a line. A bidirectional tagger also sees x_T..x_t
through its backward direction, whose state at step t has just read x_{t+k}..x_{t+1}: it only
has to remember the last k tokens it read, and reaches 100%.

Second part: a bidirectional LSTM with a residual self-attention block on top
(``nn.ResidualSelfAttention``), against the bare biLSTM, at k = 3 and at k = 10. At k = 10 the
backward LSTM must hold the last 10 tokens in its state, and within the 300 steps it gets only
halfway (52.6% with seed 0); self-attention lets step t read position t + k directly from the
biLSTM's outputs, and reaches 100% by about step 120. At k = 3 there is nothing to gain (100% vs 99.7%).
"""
import numpy as np

import _common  # noqa: F401  (first: puts the source checkout on sys.path)
import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.nn import functional as F

IGNORE = -100


def make_batch(rng, batch_size, seq_len, vocab_size, k):
    """tokens (B, T) int64 and tags (B, T): tags[:, t] = tokens[:, t + k], IGNORE for the last k."""
    tokens = rng.integers(0, vocab_size, size=(batch_size, seq_len))
    tags = np.full_like(tokens, IGNORE)
    tags[:, :seq_len - k] = tokens[:, k:]
    return tokens, tags


def chance_accuracy(vocab_size):
    """Best expected accuracy without the future: guess the likeliest token, P = 1/V (uniform)."""
    return 1.0 / vocab_size


class Tagger(nn.Module):
    """tokens (B, T) -> tag logits (B, T, V): Embedding -> (bi)LSTM/GRU -> Linear at every step.
    With ``self_attention``, a residual self-attention block (nn.ResidualSelfAttention: y =
    LayerNorm(h + MultiheadAttention(h, h, h))) sits between the recurrent layer and the head:
    the lecture's "bidirectional LSTM with residual connections and self-attention"."""

    def __init__(self, cell, vocab_size, embed_size, hidden_size, bidirectional, self_attention=False):
        super().__init__()
        layer = {"LSTM": nn.LSTM, "GRU": nn.GRU}[cell]
        width = hidden_size * (2 if bidirectional else 1)
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = layer(embed_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.attend = nn.ResidualSelfAttention(width, num_heads=2) if self_attention else None
        self.head = nn.Linear(width, vocab_size)

    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        if self.attend is not None:
            out, _ = self.attend(out)
        return self.head(out)


def tag_accuracy(model, tokens, tags, device):
    """Fraction of tagged steps (tags != IGNORE) whose argmax is right."""
    model.eval()
    with tg.no_grad():
        predicted = model(_common.to_tensor(tokens, device, np.int64)).numpy().argmax(axis=-1)
    model.train()
    tagged = tags != IGNORE
    return float((predicted[tagged] == tags[tagged]).mean())


def train(cell, bidirectional, config, test_set, device, seed, self_attention=False):
    """Adam on fresh random batches; returns ([(step, test accuracy)], seconds)."""
    _common.seed_everything(seed)
    rng = _common.data_rng(seed)
    model = Tagger(cell, config["vocab"], 16, config["hidden"], bidirectional, self_attention).to(device)
    optimizer = optim.Adam(model.parameters(), lr=config["lr"])
    V = config["vocab"]
    curve = [(0, tag_accuracy(model, *test_set, device))]
    name = f"{'bi' if bidirectional else 'uni'}-{cell}{'+attn' if self_attention else ''}"
    with _common.Timer() as timer:
        bar = _common.progress(range(1, config["steps"] + 1), desc=name)
        for step in bar:
            tokens, tags = make_batch(rng, config["batch"], config["seq_len"], V, config["k"])
            logits = model(_common.to_tensor(tokens, device, np.int64))
            loss = F.cross_entropy(logits.reshape(-1, V), _common.to_tensor(tags.reshape(-1), device, np.int64),
                                   ignore_index=IGNORE)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % config["eval_every"] == 0 or step == config["steps"]:
                curve.append((step, tag_accuracy(model, *test_set, device)))
                _common.set_postfix(bar, loss=loss.item(), acc=curve[-1][1])
        _common.sync(device)
    return curve, timer.seconds


def main(argv=None):
    args = _common.parse_args("bidirectional_tagging", argv, __doc__)
    config = dict(vocab=8, seq_len=20, k=3, far_k=10, hidden=64, batch=64, lr=1e-2, steps=300, eval_every=10,
                  test_size=1000)
    if args.quick:
        config.update(hidden=16, steps=12, eval_every=6, test_size=100)
    test_set = make_batch(np.random.default_rng(args.seed + 999), config["test_size"], config["seq_len"],
                          config["vocab"], config["k"])
    chance = chance_accuracy(config["vocab"])
    print(f"task: T={config['seq_len']} tokens from V={config['vocab']} symbols, tag y_t = x_(t+{config['k']}); "
          f"a unidirectional tagger cannot beat 1/V = {100 * chance:.1f}%")

    rows, curves = [], {}
    for cell in ("LSTM", "GRU"):
        for bidirectional in (False, True):
            name = f"{'bidirectional' if bidirectional else 'unidirectional'} {cell}"
            curve, seconds = train(cell, bidirectional, config, test_set, args.device, args.seed)
            curves[name] = curve
            final = curve[-1][1]
            rows.append([name, config["steps"], f"{100 * final:.1f}%", f"{100 * chance:.1f}%",
                         "at chance" if final < chance + 0.03 else "above chance", f"{seconds:.1f}"])
    _common.print_table(rows, ["tagger", "steps", "test accuracy", "chance (1/V)", "verdict", "seconds"],
                        title=f"Tag = the token {config['k']} steps ahead: per-step test accuracy")

    def draw(fig, ax):
        for name, curve in curves.items():
            steps, acc = zip(*curve)
            ax.plot(steps, [100 * a for a in acc], label=name, linestyle="-" if "bi" in name else "--")
        ax.axhline(100 * chance, color="gray", linestyle=":", label=f"chance 1/V = {100 * chance:.1f}%")
        ax.set_xlabel("training step")
        ax.set_ylabel("test tag accuracy (%)")
        ax.set_ylim(0, 102)
        ax.legend(loc="center right")
        ax.grid(alpha=0.3)
    _common.save_plot(args.out / "accuracy.png", draw, title=f"y_t = x_(t+{config['k']}): only a bidirectional "
                                                              f"tagger can see it")
    attention = self_attention_gain(config, args, chance)
    return {"rows": rows, "curves": curves, "chance": chance, "self_attention": attention}


def self_attention_gain(config, args, chance):
    """The bidirectional LSTM with and without a residual self-attention block on top, at the
    near offset k and at a far one, where the backward LSTM must carry many more tokens."""
    rows, curves = [], {}
    for k in (config["k"], config["far_k"]):
        test_set = make_batch(np.random.default_rng(args.seed + 999), config["test_size"], config["seq_len"],
                              config["vocab"], k)
        for attend in (False, True):
            name = f"biLSTM{' + self-attention' if attend else ''}, k={k}"
            curve, seconds = train("LSTM", True, dict(config, k=k), test_set, args.device, args.seed, attend)
            curves[name] = curve
            rows.append([name, config["steps"], f"{100 * curve[-1][1]:.1f}%",
                         f"{100 * max(a for _, a in curve):.1f}%", f"{seconds:.1f}"])
    _common.print_table(rows, ["tagger", "steps", "final test accuracy", "best test accuracy", "seconds"],
                        title="Self-attention on top of the bidirectional LSTM (residual + LayerNorm)")
    for k, (plain, attended) in zip((config["k"], config["far_k"]), (rows[0:2], rows[2:4])):
        gain = float(attended[2][:-1]) - float(plain[2][:-1])
        print(f"k={k}: self-attention {'gains' if gain > 1 else 'loses' if gain < -1 else 'changes'} "
              f"{gain:+.1f} points of final accuracy ({plain[2]} -> {attended[2]})")

    def draw(fig, ax):
        for name, curve in curves.items():
            steps, acc = zip(*curve)
            ax.plot(steps, [100 * a for a in acc], label=name, linestyle="-" if "attention" in name else "--")
        ax.axhline(100 * chance, color="gray", linestyle=":", label="chance 1/V")
        ax.set_xlabel("training step")
        ax.set_ylabel("test tag accuracy (%)")
        ax.set_ylim(0, 102)
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
    _common.save_plot(args.out / "self_attention.png", draw, title="biLSTM with and without self-attention on top")
    return {"rows": rows, "curves": curves}


if __name__ == "__main__":
    main()
