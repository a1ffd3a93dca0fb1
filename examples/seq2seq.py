"""Sequence to sequence: an LSTM encoder-decoder learns to reverse strings, with and without reversing the source.

    python examples/seq2seq.py            # two models, about 2 minutes on a 2-core CPU
    python examples/seq2seq.py --quick    # a few seconds

Budget: 2500 Adam steps of 64 fresh strings per variant, LSTMs of 128 units, learning rate
3e-3 on a cosine schedule. With it the plain-source model reaches >= 99% exact match (99.9%
with seed 0, first above 99% at step 1400); the reversed-source one ends near 97%.

The task: given a string of 1 to 8 characters (digits and lowercase letters), output it reversed:
"a7k2" -> "2k7a". The model (Sutskever, Vinyals & Le 2014) is

    encoder  Embedding -> LSTM over the source; its final (h, c) is the whole "thought"
    decoder  Embedding -> LSTM started from that state, reading <bos> y_1 .. y_{n-1} and
             predicting y_1 .. y_n <eos> (teacher forcing: it reads the true previous token)
    decode   greedy: feed <bos>, take the argmax, feed it back, until <eos> (no teacher)

Sutskever et al. found that feeding the source *backwards* helps: it puts the first source
words next to the first target words, so the decoder gets short dependencies to start from.
Here the target is the source reversed, so the plain order already has that property (the
first output character is the last one read), and reversing the source turns the task into
copying, where the first output depends on the token read longest ago. Both variants train
on the same batches; the table reports greedy exact-match accuracy on 1000 held-out strings.

Padding: sources of different lengths are padded and the encoder gets ``lengths=``, so its
final state is the one after each string's last real character; padded target positions
are ``ignore_index`` in the loss.
"""
import numpy as np

import _common  # noqa: F401  (first: puts the source checkout on sys.path)
import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.utils import clip_grad_norm_

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")
IGNORE = -100


class Alphabet:
    """Characters <-> ids; ids 0, 1, 2 are <pad>, <bos>, <eos>."""

    def __init__(self, chars):
        self.chars = chars
        self.size = len(SPECIALS) + len(chars)
        self.index = {c: i + len(SPECIALS) for i, c in enumerate(chars)}

    def encode(self, text):
        return [self.index[c] for c in text]

    def decode(self, ids):
        out = []
        for i in ids:
            if i == EOS:
                break
            out.append(self.chars[i - len(SPECIALS)] if i >= len(SPECIALS) else "?")
        return "".join(out)


def random_strings(rng, alphabet, n, max_len):
    lengths = rng.integers(1, max_len + 1, size=n)
    return ["".join(rng.choice(list(alphabet.chars), size=k)) for k in lengths]


def make_batch(alphabet, strings, reverse_source):
    """Padded arrays for a list of strings: source (B, S) + lengths (B,), decoder input and
    target (B, S + 1). Target = string reversed + <eos>; decoder input = <bos> + target[:-1]."""
    B, S = len(strings), max(len(s) for s in strings)
    src = np.full((B, S), PAD, dtype=np.int64)
    dec_in = np.full((B, S + 1), PAD, dtype=np.int64)
    target = np.full((B, S + 1), IGNORE, dtype=np.int64)
    for b, s in enumerate(strings):
        ids = alphabet.encode(s)
        out = ids[::-1] + [EOS]
        src[b, :len(ids)] = ids[::-1] if reverse_source else ids
        target[b, :len(out)] = out
        dec_in[b, :len(out)] = [BOS] + out[:-1]
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    return src, lengths, dec_in, target


class Seq2Seq(nn.Module):
    """Encoder-decoder. src (B, S) + lengths (B,) and dec_in (B, T) -> logits (B, T, V)."""

    def __init__(self, vocab_size, embed_size, hidden_size):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)   # shared by encoder and decoder
        self.encoder = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.decoder = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)

    def encode(self, src, lengths):
        _, state = self.encoder(self.embed(src), lengths=lengths)
        return state                                          # (h_n, c_n), each (1, B, H)

    def forward(self, src, lengths, dec_in):
        out, _ = self.decoder(self.embed(dec_in), self.encode(src, lengths))
        return self.out(out)

    def greedy_decode(self, src, lengths, max_steps):
        """(B, max_steps) predicted ids: each step feeds back the previous step's argmax."""
        device = self.out.weight.device
        with tg.no_grad():
            state = self.encode(src, lengths)
            token = np.full((src.shape[0], 1), BOS, dtype=np.int64)
            predictions = []
            for _ in range(max_steps):
                out, state = self.decoder(self.embed(_common.to_tensor(token, device, np.int64)), state)
                token = self.out(out).numpy().argmax(axis=-1)    # (B, 1)
                predictions.append(token[:, 0])
        return np.stack(predictions, axis=1)


def exact_match(model, alphabet, strings, reverse_source, device, max_len, batch_size=500):
    """Fraction of strings whose greedy output is exactly the reversed string."""
    model.eval()
    correct = 0
    for start in range(0, len(strings), batch_size):
        chunk = strings[start:start + batch_size]
        src, lengths, _, _ = make_batch(alphabet, chunk, reverse_source)
        predicted = model.greedy_decode(_common.to_tensor(src, device, np.int64), lengths, max_len + 1)
        correct += sum(alphabet.decode(p) == s[::-1] for p, s in zip(predicted.tolist(), chunk))
    model.train()
    return correct / len(strings)


def train(reverse_source, alphabet, config, test_strings, device, seed):
    """Adam on fresh random strings; returns ([(step, exact match)], seconds)."""
    _common.seed_everything(seed)
    rng = _common.data_rng(seed)                # the same batches for both variants
    model = Seq2Seq(alphabet.size, config["embed"], config["hidden"]).to(device)
    optimizer = optim.Adam(model.parameters(), lr=config["lr"])
    schedule = optim.CosineAnnealingLR(optimizer, T_max=config["steps"])   # small steps at the end
    max_len = config["max_len"]
    curve = []
    name = "reversed source" if reverse_source else "plain source"
    with _common.Timer() as timer:
        bar = _common.progress(range(1, config["steps"] + 1), desc=name)
        for step in bar:
            strings = random_strings(rng, alphabet, config["batch"], max_len)
            src, lengths, dec_in, target = make_batch(alphabet, strings, reverse_source)
            src_t, dec_in_t = _common.to_tensor(src, device, np.int64), _common.to_tensor(dec_in, device, np.int64)
            logits = model(src_t, lengths, dec_in_t)
            loss = F.cross_entropy(logits.reshape(-1, alphabet.size),
                                   _common.to_tensor(target.reshape(-1), device, np.int64), ignore_index=IGNORE)
            optimizer.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            if step % config["eval_every"] == 0 or step == config["steps"]:
                curve.append((step, exact_match(model, alphabet, test_strings, reverse_source, device, max_len)))
                _common.set_postfix(bar, loss=loss.item(), exact=curve[-1][1])
        _common.sync(device)
    return curve, timer.seconds


def main(argv=None):
    def extra(parser):
        parser.add_argument("--steps", type=int, default=None, help="training steps per variant")
        parser.add_argument("--hidden", type=int, default=None, help="LSTM hidden size")
        parser.add_argument("--max-len", type=int, default=None, help="longest string")
        parser.add_argument("--chars", default=None, help="the alphabet of the strings")
    args = _common.parse_args("seq2seq", argv, __doc__, extra=extra)
    config = dict(chars="0123456789abcdefghijklmnopqrstuvwxyz", max_len=8, embed=32, hidden=128,
                  batch=64, lr=3e-3, steps=2500, eval_every=100, test_size=1000)
    if args.quick:
        config.update(max_len=4, hidden=32, steps=15, eval_every=5, test_size=100)
    for key in ("steps", "hidden", "max_len", "chars"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    _common.smoke_test_note(args, f"{config['steps']} steps, so neither variant learns anything yet. The full "
                                  "run (2500 steps) brings the source as is to 99.9% exact match (99% at step 1400) "
                                  "and the reversed source (a copy task) to about 97%.")
    alphabet = Alphabet(config["chars"])
    test_strings = random_strings(np.random.default_rng(args.seed + 999), alphabet, config["test_size"],
                                  config["max_len"])
    print(f"task: reverse strings of 1-{config['max_len']} characters from {len(alphabet.chars)} symbols; "
          f"budget {config['steps']} steps of {config['batch']} strings, LSTM hidden {config['hidden']}")

    rows, curves = [], {}
    for reverse_source in (False, True):
        name = "source reversed (= copy task)" if reverse_source else "source as is"
        curve, seconds = train(reverse_source, alphabet, config, test_strings, args.device, args.seed)
        curves[name] = curve
        reached = next((step for step, acc in curve if acc >= 0.99), None)
        rows.append([name, config["steps"], f"{100 * curve[-1][1]:.1f}%",
                     reached if reached is not None else "not reached", f"{seconds:.1f}"])
    _common.print_table(rows, ["encoder input", "steps", "exact match", "steps to 99%", "seconds"],
                        title=f"Greedy exact-match accuracy on {config['test_size']} held-out strings")

    def draw(fig, ax):
        for name, curve in curves.items():
            steps, acc = zip(*curve)
            ax.plot(steps, [100 * a for a in acc], marker="o", markersize=3, label=name)
        ax.axhline(99, color="gray", linestyle=":", label="99%")
        ax.set_xlabel("training step")
        ax.set_ylabel("exact match, greedy decoding (%)")
        ax.set_ylim(0, 101)
        ax.legend()
        ax.grid(alpha=0.3)
    _common.save_plot(args.out / "exact_match.png", draw, title="LSTM encoder-decoder: reverse a string",
                      note=args.note)
    return {"rows": rows, "curves": curves}


if __name__ == "__main__":
    main()
