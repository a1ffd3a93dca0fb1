"""Command line: ``tinygrad-rnn train | sample | eval`` (also ``python -m tinygrad_rnn``).

    tinygrad-rnn train                          # 2-layer LSTM on Tiny Shakespeare -> runs/charlm
    tinygrad-rnn train --cell gru --hidden 128 --steps 300 --out runs/gru
    tinygrad-rnn train --resume runs/charlm --steps 2000     # continue up to step 2000
    tinygrad-rnn sample runs/charlm --prime "ROMEO:" --temperature 0.8 --length 400
    tinygrad-rnn eval runs/charlm --text some.txt

Exit codes: 0 success; 2 a usage problem (bad option, unreadable corpus, missing or mismatched
checkpoint, CUDA requested but absent), reported as one ``error: ...`` line on stderr without a
traceback; 1 training diverged (NaN/inf loss); 130 interrupted by Ctrl-C (after saving a
checkpoint). Anything else that goes wrong is a bug and shows its traceback.
"""
import argparse
import math
import sys

from . import backend
from . import lm_cli
from .train import DEFAULT_STEPS, TrainingDiverged, UsageError

DEFAULT_OUT = "runs/charlm"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one ``error: ...`` line (exit code 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def _float_in(low, high=None, low_open=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and (high is None or value < high)
        if not ok:
            where = (f"in [{low}, {high})" if high is not None else (f"> {low}" if low_open else f">= {low}"))
            raise argparse.ArgumentTypeError(f"must be {where}, got {text}")
        return value
    return parse


def build_parser():
    parser = _Parser(prog="tinygrad-rnn",
                     description="Recurrent language models (characters or words) on tinygrad_rnn: train one, "
                                 "sample text from it, evaluate it; n-gram baselines; explain its units.")
    sub = parser.add_subparsers(dest="command", metavar="{train,sample,eval,ngram,explain}", parser_class=_Parser)

    t = sub.add_parser("train", help="train a character language model",
                       description="Train a character-level language model (truncated BPTT, one optimizer step "
                                   "per chunk of batch-size x seq-len characters). Checkpoints go to --out at each "
                                   "evaluation and at the end; Ctrl-C saves one and exits with code 130. "
                                   "With --resume, the run continues with its saved settings: only --steps, "
                                   "--eval-every, --eval-chars, --device and --sample-length may change.")
    pos, pos0, frac, nonneg = _int_at_least(1), _int_at_least(0), _float_in(0.0, 1.0), _float_in(0.0)
    t.add_argument("--corpus", metavar="PATH", help="UTF-8 text file to learn (default: the bundled Tiny Shakespeare)")
    t.add_argument("--cell", choices=("lstm", "gru", "rnn"), help="recurrent cell (default: lstm)")
    t.add_argument("--layers", type=pos, metavar="N", help="stacked recurrent layers (default: 2)")
    t.add_argument("--hidden", type=pos, metavar="N", help="hidden units per layer (default: 256)")
    t.add_argument("--embedding", type=pos, metavar="N", help="character embedding size (default: 64)")
    t.add_argument("--dropout", type=frac, metavar="P", help="dropout probability in [0, 1) (default: 0)")
    t.add_argument("--seq-len", type=pos, metavar="T", help="characters per chunk = BPTT length (default: 64)")
    t.add_argument("--batch-size", type=pos, metavar="B", help="parallel text streams (default: 32)")
    t.add_argument("--lr", type=_float_in(0.0, low_open=True), metavar="LR", help="learning rate (default: 2e-3)")
    t.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), help="optimizer (default: adam)")
    t.add_argument("--weight-decay", type=nonneg, metavar="W",
                   help="weight decay (default: 0, AdamW 0.01)")
    t.add_argument("--schedule", choices=("constant", "cosine"),
                   help="learning-rate schedule; cosine decays to lr/10 at the last step (default: constant)")
    t.add_argument("--clip", type=nonneg, metavar="NORM", help="max gradient norm, 0 = no clipping (default: 5)")
    t.add_argument("--steps", type=pos, metavar="N", help=f"total optimizer steps (default: {DEFAULT_STEPS})")
    t.add_argument("--eval-every", type=pos, metavar="N",
                   help="validate and checkpoint every N steps (default: 200)")
    t.add_argument("--eval-chars", type=pos0, metavar="N",
                   help="validation characters used at each evaluation, 0 = all (default: 20000; the eval "
                        "command uses all)")
    t.add_argument("--seed", type=pos0, metavar="S", help="random seed (default: 0)")
    t.add_argument("--device", choices=("cpu", "cuda"), help="where to train (default: cpu)")
    t.add_argument("--dtype", choices=("float32", "float64"), help="parameter dtype (default: float32)")
    t.add_argument("--sample-length", type=pos0, metavar="N",
                   help="tokens of the sample printed at the end, 0 = none (default: 200)")
    t.add_argument("--out", metavar="DIR", help=f"output directory (default: {DEFAULT_OUT}, or the "
                                                f"--resume directory)")
    t.add_argument("--resume", metavar="DIR", help="continue the run whose checkpoint is in DIR")
    t.add_argument("--force", action="store_true", help="overwrite a checkpoint already in --out")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="generate text from a trained model",
                       description="Generate text from the checkpoint in DIR and print it.")
    s.add_argument("dir", metavar="DIR", help="checkpoint directory (the --out of train)")
    s.add_argument("--length", type=pos0, default=500, metavar="N",
                   help="tokens to generate: characters, or words for a word model (default: 500)")
    s.add_argument("--prime", default="", metavar="TEXT", help="text to start from (default: none)")
    s.add_argument("--temperature", type=_float_in(0.0, low_open=True), default=1.0, metavar="T",
                   help="> 0; lower is more conservative (default: 1.0)")
    s.add_argument("--top-k", type=pos, default=None, metavar="K",
                   help="sample only among the K most likely tokens (default: all)")
    s.add_argument("--seed", type=pos0, default=None, metavar="S", help="random seed (default: random)")
    s.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    lm_cli.add_sample_options(s)
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", help="loss, bits per character and perplexity of a trained model",
                       description="Evaluate the checkpoint in DIR on a text (default: the validation part "
                                   "of its training corpus).")
    e.add_argument("dir", metavar="DIR", help="checkpoint directory")
    e.add_argument("--text", metavar="PATH", help="UTF-8 text file to evaluate on")
    e.add_argument("--batch-size", type=pos, default=None, metavar="B", help="streams (default: the run's)")
    e.add_argument("--seq-len", type=pos, default=None, metavar="T", help="chunk length (default: the run's)")
    e.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    lm_cli.add_eval_options(e)
    e.set_defaults(func=cmd_eval)
    # ---- language-model options and commands (issue 12): tinygrad_rnn/lm_cli.py ----
    lm_cli.add_train_options(t)
    lm_cli.add_commands(sub)
    return parser


TRAIN_KEYS = ("corpus", "cell", "layers", "hidden", "embedding", "dropout", "seq_len", "batch_size", "lr",
              "optimizer", "weight_decay", "schedule", "clip", "steps", "eval_every", "eval_chars", "seed",
              "device", "dtype", "sample_length") + lm_cli.TRAIN_KEYS


def _check_device(device):
    try:
        backend.check_device(device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(str(exc)) from None


def cmd_train(args):
    from .train import train
    given = {k: getattr(args, k) for k in TRAIN_KEYS if getattr(args, k) is not None}
    if "device" in given:
        _check_device(given["device"])
    out = args.out or args.resume or DEFAULT_OUT
    train(given, out, resume=args.resume, progress=not args.no_progress, overwrite=args.force)
    return 0


def cmd_sample(args):
    from .lm import sample
    from .train import load_model
    _check_device(args.device)
    model, vocab, meta = load_model(args.dir, device=args.device)
    warmup = lm_cli.sample_warmup(meta, vocab, args.no_warmup)
    try:
        text = sample(model, vocab, args.length, prime=args.prime, temperature=args.temperature,
                      top_k=args.top_k, seed=args.seed, warmup=warmup)
    except ValueError as exc:
        raise UsageError(f"--prime: {exc}" if "prime" in str(exc) else str(exc)) from None
    print(text)
    return 0


def cmd_eval(args):
    from .lm import evaluate
    from .data import split_train_val
    from .train import _crc, load_corpus, load_model
    _check_device(args.device)
    model, vocab, meta = load_model(args.dir, device=args.device)
    config = meta["config"]
    if args.text is not None:
        text = load_corpus(args.text)
        what = args.text
    else:
        text = load_corpus(config.get("corpus"))
        if _crc(text) != meta.get("data", {}).get("corpus_crc32"):
            raise UsageError(f"the training corpus {config.get('corpus') or '(default)'!r} has changed since the "
                             f"checkpoint was written; pass --text PATH")
        what = "validation split of " + (config.get("corpus") or "the default corpus")
    try:
        ids = vocab.encode(text)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None
    if args.text is None:
        ids = split_train_val(ids, config.get("val_fraction", 0.1))[1]
    if len(ids) < 2:
        raise UsageError(f"{what}: at least 2 {vocab.unit}s are needed to evaluate")
    batch_size = args.batch_size or config.get("batch_size", 32)
    result = evaluate(model, ids, batch_size, args.seq_len or config.get("seq_len", 64))
    print(f"{what}: {lm_cli._format(result, vocab.unit)}, step {meta['step']}")
    if args.baselines:
        lm_cli.print_baselines(result, vocab, meta, ids, args.baselines, batch_size)
    return 0


def _one_line(message):
    return " ".join(str(message).split())


def main(argv=None):
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # --help (0) or a bad command line (2, already reported)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        print(f"error: choose a command: train, sample, eval, ngram or explain (see {parser.prog} --help)",
              file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"\n{_one_line(exc) or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
