"""The perplexity table of docs/language_models.md: n-gram baselines (orders 1..6, Kneser-Ney and
add-k) against trained recurrent models, at character and at word level, with a sample of each.

    tinygrad-rnn train --cell lstm --steps 600 --eval-every 300 --out runs/char_lstm     # and gru, rnn
    tinygrad-rnn train --tokens word --vocab-size 10000 --tie-weights --embedding 256 --hidden 256 \\
        --layers 1 --seq-len 32 --dropout 0.2 --cell lstm --steps 600 --eval-every 300 --out runs/word_lstm
    python docs/lm_table.py runs/char_lstm runs/char_gru runs/char_rnn runs/word_lstm ...

Every figure is on the validation split of the runs' corpus (the last 10%), predicted on the same
32 streams by ``lm.evaluate`` and ``ngram.evaluate``; the word n-grams use the word runs'
vocabulary (same ``<unk>`` mapping), so the per-word numbers compare like for like.
"""
import argparse
import time

from tinygrad_rnn import ngram
from tinygrad_rnn.data import split_train_val
from tinygrad_rnn.lm import evaluate, sample
from tinygrad_rnn.lm_cli import sample_warmup
from tinygrad_rnn.train import load_corpus, load_model


def _row(name, unit, result, seconds, extra=""):
    bits = result.get("bits", result.get("bpc"))
    return (f"| {name} | {result['loss']:.3f} nats/{unit} | {bits:.3f} bits/{unit} | {result['perplexity']:.2f} | "
            f"{seconds:.1f} s{extra} |")


def _one_line(text):
    return text.replace("\n", " / ").replace("|", "\\|")[:160]


def neural_rows(runs):
    """{unit: [(row, sample)]} and {unit: (vocab, text)} from the runs' checkpoints."""
    rows, vocabs, warmups = {}, {}, {}
    for run in runs:
        model, vocab, meta = load_model(run)
        config = meta["config"]
        text = load_corpus(config.get("corpus"))
        ids = split_train_val(vocab.encode(text), config.get("val_fraction", 0.1))[1]
        started = time.perf_counter()
        result = evaluate(model, ids, config.get("batch_size", 32), config.get("seq_len", 64))
        name = (f"{meta['model']['cell'].upper()} {config['layers']}x{config['hidden']}"
                f"{' tied' if config.get('tie_weights') else ''}, {meta['step']} steps")
        length = 40 if vocab.unit == "word" else 160
        text_sample = sample(model, vocab, length, prime="", temperature=0.8, seed=0,
                             warmup=sample_warmup(meta, vocab))
        rows.setdefault(vocab.unit, []).append((_row(name, vocab.unit, result, time.perf_counter() - started,
                                                     " (eval)"), text_sample))
        vocabs.setdefault(vocab.unit, (vocab, text))
        warmups.setdefault(vocab.unit, sample_warmup(meta, vocab))
    return rows, vocabs, warmups


def ngram_rows(vocab, text, orders, samples_at, warmup):
    out = []
    train_ids, val_ids = split_train_val(vocab.encode(text))
    for smoothing in ("kn", "addk"):
        for order in orders:
            started = time.perf_counter()
            model = ngram.NGramLM(order, len(vocab), smoothing).fit(train_ids)
            result = ngram.evaluate(model, val_ids)
            name = f"{order}-gram {'Kneser-Ney' if smoothing == 'kn' else 'add-1'}"
            length = 40 if vocab.unit == "word" else 160
            wanted = smoothing == "kn" and order in samples_at
            text_sample = ngram.sample(model, vocab, length, seed=0, warmup=warmup) if wanted else ""
            out.append((_row(name, vocab.unit, result, time.perf_counter() - started, " (fit + eval)"), text_sample))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="checkpoint directories of trained models")
    parser.add_argument("--orders", type=int, default=6)
    args = parser.parse_args()
    rows, vocabs, warmups = neural_rows(args.runs)
    for unit, (vocab, text) in vocabs.items():
        print(f"\n### {unit} level ({len(vocab):,} tokens in the vocabulary)\n")
        print(f"| model | val loss | val bits | perplexity/{unit} | time |")
        print("|---|---|---|---|---|")
        table = ngram_rows(vocab, text, range(1, args.orders + 1), (3, args.orders),
                           warmups[unit]) + rows[unit]
        for row, _ in table:
            print(row)
        print("\nSamples (each starts after the same warm-up text, the end of a training paragraph; "
              "temperature 0.8 for the networks, seed 0):\n")
        for row, text_sample in table:
            if text_sample:
                print(f"- **{row.split(' | ')[0][2:]}**: `{_one_line(text_sample)}`")


if __name__ == "__main__":
    main()
