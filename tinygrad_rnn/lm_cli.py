"""The language-model parts of the command line (issue 12), kept apart from cli.py's core:

    tinygrad-rnn ngram --order 5 [--tokens word] [--smoothing kn|addk] [--corpus FILE]
    tinygrad-rnn train --tokens word --vocab-size 10000 --tie-weights --embedding 256 --hidden 256
    tinygrad-rnn eval RUN_DIR --baselines 5         # n-gram orders 1..5 beside the model
    tinygrad-rnn explain RUN_DIR [--text FILE] [--out page.html]

cli.py calls ``add_train_options`` / ``add_sample_options`` / ``add_eval_options`` on its
subparsers and ``add_commands`` for the two new commands. Every figure printed names its unit
(nats/char, bits/word, perplexity/word...): per-word and per-character numbers never mix.
"""
import time

from .cli_types import float_in, int_in

TRAIN_KEYS = ("tokens", "vocab_size", "min_count", "tie_weights")
SMOOTHING_NAMES = {"kn": "Kneser-Ney", "addk": "add-k"}


def _token_options(p, default_tokens=None):
    p.add_argument("--tokens", choices=("char", "word"), default=default_tokens,
                   help="model characters, or words split at spaces and punctuation with <eos> at line ends "
                        "(default: char)")
    p.add_argument("--vocab-size", type=int_in(3), metavar="N",
                   help="word tokens: keep the N most common (rarer ones become <unk>; default: all)")
    p.add_argument("--min-count", type=int_in(1), metavar="K",
                   help="word tokens: keep words seen at least K times (default: 1)")


def add_train_options(t):
    """--tokens, --vocab-size, --min-count, --tie-weights for ``train``."""
    _token_options(t)
    t.add_argument("--tie-weights", action="store_true", default=None,
                   help="use the embedding matrix as the decoder weight (needs --embedding = --hidden)")


def add_sample_options(s):
    s.add_argument("--no-warmup", action="store_true",
                   help="start from the zero state instead of reading the run's warm-up text (the end of "
                        "a paragraph of its training text) before --prime")


def sample_warmup(meta, vocab, disabled=False):
    """The text ``sample`` reads before the prime: the run's saved warm-up (the end of a paragraph
    of its training text), else a paragraph break for runs saved without one, else nothing."""
    if disabled:
        return ""
    if isinstance(meta.get("warmup"), str):
        return meta["warmup"]
    return "\n\n" if vocab.kind == "word" or "\n" in vocab.tokens else ""


def add_eval_options(e):
    e.add_argument("--baselines", type=int_in(1, 10), nargs="?", const=5, metavar="N",
                   help="also report n-gram baselines (Kneser-Ney, orders 1..N, default N = 5) fitted on "
                        "the run's training split, with the model's vocabulary")


def add_commands(sub):
    """The ``ngram`` and ``explain`` subcommands."""
    n = sub.add_parser("ngram", help="train and evaluate a count-based n-gram baseline (seconds)",
                       description="Fit an n-gram model on the training split of a corpus and report its "
                                   "validation loss and perplexity, measured as the neural models are "
                                   "(same vocabulary rules, split and streams).")
    n.add_argument("--order", type=int_in(1, 10), default=3, metavar="N", help="n: context of N-1 tokens (default: 3)")
    n.add_argument("--smoothing", choices=("kn", "addk"), default="kn",
                   help="interpolated Kneser-Ney or add-k (default: kn)")
    n.add_argument("--k", type=float_in(0.0, low_open=True), default=1.0, metavar="K", help="add-k's k (default: 1)")
    n.add_argument("--corpus", metavar="PATH", help="UTF-8 text file (default: the bundled Tiny Shakespeare)")
    _token_options(n, default_tokens="char")
    n.add_argument("--val-fraction", type=float, default=0.1, metavar="F", help="validation share (default: 0.1)")
    n.add_argument("--batch-size", type=int_in(1), default=32, metavar="B",
                   help="validation streams, as in train (default: 32)")
    n.add_argument("--sample-length", type=int_in(0), default=0, metavar="N", help="tokens of sample text to print")
    n.add_argument("--seed", type=int_in(0), default=0, metavar="S", help="sampling seed (default: 0)")
    n.set_defaults(func=cmd_ngram)

    x = sub.add_parser("explain", help="which hidden/cell units track quotes, line position...: an HTML page",
                       description="Run a character model over a text, correlate every hidden and cell unit "
                                   "with simple properties of the text, and write a self-contained HTML page.")
    x.add_argument("dir", metavar="DIR", help="checkpoint directory (a character model)")
    x.add_argument("--text", metavar="PATH", help="UTF-8 text to run over (default: the run's validation text)")
    x.add_argument("--length", type=int_in(20), default=3000, metavar="N",
                   help="characters of the text to use (default: 3000)")
    x.add_argument("--out", metavar="PAGE", default=None, help="HTML file (default: DIR/explain.html)")
    x.add_argument("--top", type=int_in(1, 50), default=5, metavar="K", help="units listed per property (default: 5)")
    x.set_defaults(func=cmd_explain)


def _usage(message):
    from .train import UsageError
    return UsageError(message)


def cmd_ngram(args):
    from . import ngram
    from .data import make_vocab
    from .train import load_corpus
    text = load_corpus(args.corpus)
    if not 0 < args.val_fraction < 1:
        raise _usage(f"--val-fraction must be strictly between 0 and 1, got {args.val_fraction}")
    try:
        vocab = make_vocab(text, args.tokens, args.vocab_size, 1 if args.min_count is None else args.min_count)
        result = ngram.run(text, vocab, args.order, args.smoothing, args.k, args.val_fraction, args.batch_size)
    except ValueError as exc:
        raise _usage(f"corpus {args.corpus or '(default)'!r}: {exc}") from None
    print(f"{args.order}-gram {SMOOTHING_NAMES[args.smoothing]}, {vocab.unit} tokens ({len(vocab):,} in the "
          f"vocabulary): validation {format_figures(result, vocab.unit)}; fit + evaluate {result['seconds']:.2f} s")
    if args.sample_length:
        from .lm import warmup_text
        warm = warmup_text(text[:round(len(text) * (1 - args.val_fraction))])    # as train saves it
        print(ngram.sample(result["model"], vocab, args.sample_length, seed=args.seed, warmup=warm))
    return 0


def format_figures(result, unit):
    """loss, bits and perplexity of ``evaluate``'s result, each with its unit."""
    from .lm import format_result
    return format_result(result, unit)


def print_baselines(model_result, saved, ids, orders, batch_size, corpus=None):
    """The model's figure and n-gram baselines on ``ids``, fitted on the run's training split
    (its corpus found by checksum, at ``corpus`` if it moved)."""
    from . import ngram
    from .data import split_train_val
    from .train.inference import training_text
    vocab = saved.vocab
    train_ids, _ = split_train_val(vocab.encode(training_text(saved, corpus)), saved.config.val_fraction)
    unit = vocab.unit
    print(f"{'model':<22}{model_result['loss']:>9.4f} nats/{unit}  perplexity/{unit} {model_result['perplexity']:.3f}")
    for order in range(1, orders + 1):
        started = time.perf_counter()
        model = ngram.NGramLM(order, len(vocab), "kn").fit(train_ids)
        r = ngram.evaluate(model, ids, batch_size)
        print(f"{f'{order}-gram Kneser-Ney':<22}{r['loss']:>9.4f} nats/{unit}  perplexity/{unit} "
              f"{r['perplexity']:.3f}  ({time.perf_counter() - started:.1f} s)")


def cmd_explain(args):
    from .explain import explain_run
    out = explain_run(args.dir, text_path=args.text, length=args.length, out=args.out, top=args.top)
    print(f"wrote {out['page']}")
    for prop, info in out["ranking"].items():
        if info is None:
            print(f"  {prop:<24} not present in this text")
        else:
            unit, r = info["top"][0]
            print(f"  {prop:<24} best unit {unit:<10} r = {r:+.3f}   (chance level |r| {info['chance']:.3f})")
    return 0
