"""The language-model commands end to end on a tiny UTF-8 corpus: word training with tied
weights, word samples, eval with n-gram baselines (units named), the ngram command, the warm-up
that sample reads before a prime, a pickle-free checkpoint recording the vocabulary kind, and
one-line errors for bad input."""
import json

from tinygrad_rnn.checkpoint import load_checkpoint

import pytest

from tinygrad_rnn import lm
from tinygrad_rnn.cli import main

TEXT = ("Première Citoyenne:\nAvant d'aller plus loin, écoutez-moi.\n\nTous:\nParlez, parlez.\n\n"
        "Première Citoyenne:\nVous êtes tous résolus à mourir plutôt qu'à avoir faim?\n") * 3
TINY = ["--steps", "3", "--layers", "1", "--seq-len", "8", "--batch-size", "2", "--eval-every", "2",
        "--no-progress", "--sample-length", "12"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, fragment):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err


def test_word_model_train_sample_eval(tmp_path, corpus, capsys):
    out = tmp_path / "words"
    code, stdout, err = run(["train", "--corpus", corpus, "--out", out, "--tokens", "word", "--min-count", "2",
                             "--tie-weights", "--embedding", "8", "--hidden", "8", *TINY], capsys)
    assert code == 0, err
    assert "nats/word" in stdout and "perplexity/word" in stdout and "/char" not in stdout
    meta = load_checkpoint(out)[1]
    tokens = meta["vocab"]["tokens"]
    assert meta["vocab"]["kind"] == "word" and "<unk>" in tokens and "Parlez" in tokens
    assert meta["model"]["tie_weights"] is True and meta["warmup"].endswith("\n\n")
    code, text, err = run(["sample", out, "--prime", "Tous:", "--length", "8", "--seed", "0"], capsys)
    assert code == 0 and text.startswith("Tous:") and len(text.split()) >= 2, err
    code, report, err = run(["eval", out, "--baselines", "2"], capsys)
    assert code == 0, err
    assert "nats/word" in report and "2-gram Kneser-Ney" in report and "char" not in report


def test_char_eval_baselines_and_units(tmp_path, corpus, capsys):
    out = tmp_path / "chars"
    assert run(["train", "--corpus", corpus, "--out", out, "--hidden", "8", "--embedding", "6", *TINY], capsys)[0] == 0
    code, report, err = run(["eval", out, "--baselines", "3"], capsys)
    assert code == 0, err
    assert report.count("nats/char") == 5 and "3-gram Kneser-Ney" in report and "word" not in report


def test_sample_reads_the_saved_warmup(tmp_path, corpus, capsys, monkeypatch):
    out = tmp_path / "chars"
    assert run(["train", "--corpus", corpus, "--out", out, "--hidden", "8", "--embedding", "6", *TINY], capsys)[0] == 0
    seen = []
    from tinygrad_rnn.train import inference
    real = inference.sample
    monkeypatch.setattr(inference, "sample", lambda *a, **k: seen.append(k["warmup"]) or real(*a, **k))
    saved = load_checkpoint(out)[1]["warmup"]
    assert saved and saved.endswith("\n\n") and saved in TEXT
    assert run(["sample", out, "--prime", "Tous:", "--length", "5"], capsys)[0] == 0
    assert run(["sample", out, "--prime", "Tous:", "--length", "5", "--no-warmup"], capsys)[0] == 0
    assert seen == [saved, ""]


def test_ngram_command(corpus, capsys):
    code, out, err = run(["ngram", "--order", "3", "--corpus", corpus, "--batch-size", "4"], capsys)
    assert code == 0, err
    assert "3-gram Kneser-Ney, char tokens" in out and "nats/char" in out and "perplexity/char" in out
    code, out, err = run(["ngram", "--order", "2", "--tokens", "word", "--smoothing", "addk", "--k", "0.5",
                          "--corpus", corpus, "--batch-size", "2", "--sample-length", "5"], capsys)
    assert code == 0, err
    assert "2-gram add-k, word tokens" in out and "nats/word" in out and len(out.strip().splitlines()) >= 2


@pytest.mark.parametrize("argv, fragment", [
    (["ngram", "--order", "0"], "--order"),
    (["ngram", "--order", "11"], "--order"),
    (["ngram", "--smoothing", "witten-bell"], "--smoothing"),
    (["ngram", "--k", "0"], "--k"),
    (["ngram", "--corpus", "/no/such/file.txt"], "cannot read"),
    (["ngram", "--min-count", "3"], "word tokens"),
    (["ngram", "--tokens", "word", "--min-count", "1000000"], "no word occurs"),
    (["ngram", "--val-fraction", "1.5"], "val-fraction"),
    (["train", "--tie-weights", "--embedding", "6", "--hidden", "8", "--steps", "1"], "--tie-weights needs"),
    (["train", "--vocab-size", "100", "--steps", "1"], "--tokens word"),
    (["train", "--tokens", "word", "--vocab-size", "2", "--steps", "1"], "--vocab-size"),
    (["eval", "/no/such/run", "--baselines", "0"], "--baselines"),
])
def test_bad_inputs_one_line(argv, fragment, tmp_path, capsys):
    code, _, err = run(argv + (["--out", tmp_path / "o"] if argv[0] == "train" else []), capsys)
    one_line_error(code, err, fragment)


def test_word_run_resumes_and_older_checkpoints_still_load(tmp_path, corpus, capsys):
    out = tmp_path / "words"
    args = ["--corpus", corpus, "--tokens", "word", "--vocab-size", "20", "--embedding", "8", "--hidden", "8",
            "--layers", "1", "--seq-len", "4", "--batch-size", "2", "--eval-every", "2", "--no-progress",
            "--sample-length", "0"]
    assert run(["train", "--out", out, "--steps", "2", *args], capsys)[0] == 0
    code, _, err = run(["train", "--resume", out, "--steps", "3", "--no-progress"], capsys)
    assert code == 0, err
    assert load_checkpoint(out)[1]["step"] == 3
    # a checkpoint written before word models existed: no vocabulary kind, no new config keys
    chars = tmp_path / "chars"
    assert run(["train", "--corpus", corpus, "--out", chars, "--hidden", "8", "--embedding", "6", *TINY], capsys)[0] == 0
    from tinygrad_rnn.checkpoint import save_checkpoint
    arrays, meta = load_checkpoint(chars)
    meta["version"] = 2                      # the layout before word models and warm-up text
    meta["vocab"].pop("kind")
    meta.pop("warmup")
    for key in ("tokens", "vocab_size", "min_count", "tie_weights"):
        meta["config"].pop(key)
    meta["model"].pop("tie_weights")
    save_checkpoint(chars, arrays, meta)
    code, text, err = run(["sample", chars, "--prime", "Tous:", "--length", "5", "--seed", "0"], capsys)
    assert code == 0 and text.startswith("Tous:"), err
    code, _, err = run(["train", "--resume", chars, "--steps", "4", "--no-progress"], capsys)
    assert code == 0, err
