"""Command line: ``tinygrad-rnn train | sample | eval | ngram | explain`` (also ``python -m tinygrad_rnn``).

    tinygrad-rnn train                          # 2-layer LSTM on Tiny Shakespeare -> runs/charlm
    tinygrad-rnn train --cell gru --hidden 128 --steps 300 --out runs/gru
    tinygrad-rnn train --resume runs/charlm --steps 2000     # continue up to step 2000
    tinygrad-rnn sample runs/charlm --prime "ROMEO:" --temperature 0.8 --length 400
    tinygrad-rnn eval runs/charlm --text some.txt

This module only parses arguments and prints; the work is in ``tinygrad_rnn.train``.

Exit codes: 0 success; 2 a usage problem (bad option, unreadable corpus, missing, damaged or
mismatched checkpoint, CUDA requested but absent, a model too big for memory); 1 training
diverged, a system error (disk full, ...) or a bug; 130 / 143 stopped by Ctrl-C / SIGTERM
(after saving a checkpoint); 141 the reader of stdout went away (``sample ... | head``). Every
failure is one ``error: ...`` line on stderr, never a traceback (``TINYGRAD_RNN_DEBUG=1``
shows it for a bug report).
"""
import argparse
import os
import sys

from . import lm_cli
from .cli_types import device, float_in, int_in
from .train import DEFAULT_STEPS, TrainingDiverged, TrainingInterrupted, UsageError

DEFAULT_OUT = "runs/charlm"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one ``error: ...`` line (exit code 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _add_train(sub):
    t = sub.add_parser("train", help="train a character language model",
                       description="Train a character-level language model (truncated BPTT, one optimizer step "
                                   "per chunk of batch-size x seq-len characters). Checkpoints go to --out at each "
                                   "evaluation and at the end; Ctrl-C (or SIGTERM) saves one and exits with 130 (143). "
                                   "With --resume, the run continues with its saved settings: only --steps, "
                                   "--eval-every, --eval-chars, --device and --sample-length may change, and "
                                   "--corpus may point at the moved corpus (same checksum).")
    pos, pos0, frac, nonneg = int_in(1), int_in(0), float_in(0.0, 1.0), float_in(0.0)
    t.add_argument("--corpus", metavar="PATH", help="UTF-8 text file to learn (default: the bundled Tiny Shakespeare)")
    t.add_argument("--cell", choices=("lstm", "gru", "rnn"), help="recurrent cell (default: lstm)")
    t.add_argument("--layers", type=pos, metavar="N", help="stacked recurrent layers (default: 2)")
    t.add_argument("--hidden", type=pos, metavar="N", help="hidden units per layer (default: 256)")
    t.add_argument("--embedding", type=pos, metavar="N", help="character embedding size (default: 64)")
    t.add_argument("--dropout", type=frac, metavar="P", help="dropout probability in [0, 1) (default: 0)")
    t.add_argument("--seq-len", type=pos, metavar="T", help="characters per chunk = BPTT length (default: 64)")
    t.add_argument("--batch-size", type=pos, metavar="B", help="parallel text streams (default: 32)")
    t.add_argument("--lr", type=float_in(0.0, low_open=True), metavar="LR", help="learning rate (default: 2e-3)")
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
    t.add_argument("--device", type=device, metavar="DEV", help="cpu, cuda or cuda:N (default: cpu)")
    t.add_argument("--dtype", choices=("float32", "float64"), help="parameter dtype (default: float32)")
    t.add_argument("--sample-length", type=pos0, metavar="N",
                   help="tokens of the sample printed at the end, 0 = none (default: 200)")
    t.add_argument("--out", metavar="DIR", help=f"output directory (default: {DEFAULT_OUT}, or the "
                                                f"--resume directory)")
    t.add_argument("--resume", metavar="DIR", help="continue the run whose checkpoint is in DIR")
    t.add_argument("--force", action="store_true", help="overwrite a checkpoint already in --out")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    lm_cli.add_train_options(t)
    t.set_defaults(func=cmd_train)


def build_parser():
    parser = _Parser(prog="tinygrad-rnn",
                     description="Recurrent language models (characters or words) on tinygrad_rnn: train one, "
                                 "sample text from it, evaluate it; n-gram baselines; explain its units.")
    sub = parser.add_subparsers(dest="command", metavar="{train,sample,eval,ngram,explain}", parser_class=_Parser)
    _add_train(sub)
    pos, pos0 = int_in(1), int_in(0)
    s = sub.add_parser("sample", help="generate text from a trained model",
                       description="Generate text from the checkpoint in DIR and print it.")
    s.add_argument("dir", metavar="DIR", help="checkpoint directory (the --out of train)")
    s.add_argument("--length", type=pos0, default=500, metavar="N",
                   help="tokens to generate: characters, or words for a word model (default: 500)")
    s.add_argument("--prime", default="", metavar="TEXT", help="text to start from (default: none)")
    s.add_argument("--temperature", type=float_in(0.0, low_open=True), default=1.0, metavar="T",
                   help="> 0; lower is more conservative (default: 1.0)")
    s.add_argument("--top-k", type=pos, default=None, metavar="K",
                   help="sample only among the K most likely tokens (default: all)")
    s.add_argument("--seed", type=pos0, default=None, metavar="S", help="random seed (default: random)")
    s.add_argument("--device", type=device, default="cpu", metavar="DEV", help="where to run (default: cpu)")
    lm_cli.add_sample_options(s)
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", help="loss, bits per character and perplexity of a trained model",
                       description="Evaluate the checkpoint in DIR on a text (default: the validation part "
                                   "of its training corpus).")
    e.add_argument("dir", metavar="DIR", help="checkpoint directory")
    e.add_argument("--text", metavar="PATH", help="UTF-8 text file to evaluate on")
    e.add_argument("--batch-size", type=pos, default=None, metavar="B", help="streams (default: the run's)")
    e.add_argument("--seq-len", type=pos, default=None, metavar="T", help="chunk length (default: the run's)")
    e.add_argument("--corpus", metavar="PATH", help="where the training corpus is now, if it moved (recognised "
                                                    "by its checksum)")
    e.add_argument("--device", type=device, default="cpu", metavar="DEV", help="where to run (default: cpu)")
    lm_cli.add_eval_options(e)
    e.set_defaults(func=cmd_eval)
    lm_cli.add_commands(sub)          # ngram and explain (tinygrad_rnn/lm_cli.py)
    return parser


TRAIN_KEYS = ("corpus", "cell", "layers", "hidden", "embedding", "dropout", "seq_len", "batch_size", "lr",
              "optimizer", "weight_decay", "schedule", "clip", "steps", "eval_every", "eval_chars", "seed",
              "device", "dtype", "sample_length") + lm_cli.TRAIN_KEYS


def _write(text):
    """Print ``text`` to stdout; characters the terminal's encoding lacks become replacements."""
    stream = sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    safe = text.encode(encoding, errors="replace").decode(encoding, errors="replace")
    stream.write(safe + "\n")
    stream.flush()


def cmd_train(args):
    from .train import train
    if args.out is not None and not args.out.strip():
        raise UsageError("--out must not be empty")
    given = {k: getattr(args, k) for k in TRAIN_KEYS if getattr(args, k) is not None}
    out = args.out or args.resume or DEFAULT_OUT
    train(given, out, resume=args.resume, progress=not args.no_progress, overwrite=args.force, log=_write)
    return 0


def cmd_sample(args):
    from .train import sample_checkpoint
    _write(sample_checkpoint(args.dir, args.length, prime=args.prime, temperature=args.temperature,
                             top_k=args.top_k, seed=args.seed, device=args.device, warmup=not args.no_warmup))
    return 0


def cmd_eval(args):
    from .train import evaluate_checkpoint
    what, result, saved, ids = evaluate_checkpoint(args.dir, text=args.text, corpus=args.corpus,
                                                   batch_size=args.batch_size, seq_len=args.seq_len,
                                                   device=args.device)
    _write(f"{what}: {lm_cli.format_figures(result, saved.vocab.unit)}, step {saved.step}")
    if args.baselines:
        lm_cli.print_baselines(result, saved, ids, args.baselines, args.batch_size or saved.config.batch_size,
                               corpus=args.corpus)
    return 0


def _one_line(message):
    return " ".join(str(message).split())


def _error(message, code):
    print(f"error: {_one_line(message)}", file=sys.stderr)
    return code


def _quiet_stdout():
    """The reader of stdout left: send what is still buffered nowhere, so exiting is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def run_command(args):
    """``args.func(args)`` with every failure turned into an exit code and one stderr line."""
    try:
        return args.func(args)
    except UsageError as exc:
        return _error(exc, 2)
    except TrainingDiverged as exc:
        return _error(exc, 1)
    except TrainingInterrupted as exc:
        print(f"\n{_one_line(exc)}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except MemoryError:
        return _error("out of memory (try a smaller --hidden, --layers, --batch-size or --seq-len)", 1)
    except OSError as exc:
        where = f" {exc.filename!r}" if isinstance(exc.filename, str) else ""
        return _error(f"system error{where}: {exc.strerror or exc}", 1)
    except Exception as exc:       # a bug: one line, the traceback only on request
        if os.environ.get("TINYGRAD_RNN_DEBUG"):
            raise
        return _error(f"internal error ({type(exc).__name__}: {exc}); rerun with TINYGRAD_RNN_DEBUG=1 "
                      f"for the traceback and please report it", 1)


def main(argv=None):
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # --help (0) or a bad command line (2, already reported)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        return _error(f"choose a command: train, sample, eval, ngram or explain (see {parser.prog} --help)", 2)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
