"""The command line end to end on a tiny corpus: train -> sample -> eval in-process, a real
``python -m tinygrad_rnn --help``, exact resume (bit for bit), Ctrl-C, NaN loss, and every kind
of bad input giving exit code 2 and one ``error:`` line."""
import io
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import train as train_module
from tinygrad_rnn.checkpoint import load_checkpoint, save_checkpoint
from tinygrad_rnn.train import trainer as trainer_module
from tinygrad_rnn.cli import main

REPO = Path(__file__).resolve().parents[1]
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n") * 2
TINY = ["--steps", "3", "--hidden", "8", "--layers", "1", "--seq-len", "8", "--batch-size", "2",
        "--eval-every", "2", "--embedding", "6", "--no-progress", "--sample-length", "20"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def trained(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(["train", "--corpus", corpus, "--out", out, *TINY], capsys)
    assert code == 0, err
    return out, stdout


# ---- the happy path -------------------------------------------------------------------------
def test_train_sample_eval_end_to_end(trained, corpus, capsys):
    out, stdout = trained
    assert {p.name for p in out.iterdir()} == {"checkpoint.npz", "loss.png"}
    assert "step 2/3" in stdout and "step 3/3" in stdout and "perplexity" in stdout and "sample" in stdout
    _, meta = load_checkpoint(out)
    assert meta["step"] == 3 and meta["config"]["hidden"] == 8 and meta["model"]["cell"] == "lstm"

    code, text, err = run(["sample", out, "--length", "30", "--prime", "First", "--seed", "1",
                           "--temperature", "0.7", "--top-k", "5"], capsys)
    assert code == 0, err
    assert text.startswith("First") and len(text.rstrip("\n")) >= 35
    code, again, _ = run(["sample", out, "--length", "30", "--prime", "First", "--seed", "1",
                          "--temperature", "0.7", "--top-k", "5"], capsys)
    assert again == text

    code, report, err = run(["eval", out], capsys)
    assert code == 0, err
    assert "validation split" in report and "perplexity/char" in report and "bits/char" in report
    other = corpus.parent / "other.txt"
    other.write_text("Speak, speak. All resolved.\n", encoding="utf-8")
    code, report, err = run(["eval", out, "--text", other], capsys)
    assert code == 0, err
    assert "other.txt" in report


def test_default_settings():
    config = train_module.make_config({})
    assert (config.cell, config.layers, config.hidden, config.embedding) == ("lstm", 2, 256, 64)
    assert (config.batch_size, config.seq_len, config.optimizer, config.lr, config.clip) == (32, 64, "adam", 2e-3, 5.0)
    assert config.steps == train_module.DEFAULT_STEPS and config.corpus is None


def test_python_dash_m_help_in_a_subprocess():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "--help"], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout and "sample" in result.stdout and "eval" in result.stdout


@pytest.mark.parametrize("command", ["train", "sample", "eval"])
def test_subcommand_help(command, capsys):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0 and "usage: tinygrad-rnn " + command in out


# ---- exact resume ---------------------------------------------------------------------------
RESUME = ["--hidden", "8", "--layers", "2", "--seq-len", "20", "--batch-size", "2", "--embedding", "6",
          "--dropout", "0.3", "--eval-every", "3", "--no-progress", "--sample-length", "0"]


def final_arrays(directory):
    arrays, meta = load_checkpoint(directory)
    return {k: v for k, v in arrays.items() if not k.startswith("history.")}, meta


def assert_bit_identical(a_dir, b_dir):
    a, meta_a = final_arrays(a_dir)
    b, meta_b = final_arrays(b_dir)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert meta_a["step"] == meta_b["step"]
    assert meta_a["rng"] == meta_b["rng"] and meta_a["optimizer"] == meta_b["optimizer"]


def test_resume_is_bit_for_bit(tmp_path, corpus, capsys):
    # 9 steps straight vs 4 + 5 resumed; the tiny corpus wraps around (new epoch: state reset)
    # and dropout draws random numbers, so data position, state and RNG must all be restored
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run(["train", "--corpus", corpus, "--out", straight, "--steps", 9, *RESUME], capsys)[0] == 0
    assert run(["train", "--corpus", corpus, "--out", split, "--steps", 4, *RESUME], capsys)[0] == 0
    code, _, err = run(["train", "--resume", split, "--steps", 9, "--no-progress"], capsys)
    assert code == 0, err
    assert_bit_identical(straight, split)
    history = load_checkpoint(split)[0]["history.train_loss"]
    np.testing.assert_array_equal(history, load_checkpoint(straight)[0]["history.train_loss"])


def test_ctrl_c_saves_then_resume_is_exact(tmp_path, corpus):
    """SIGINT in the middle of a run: the step finishes, a checkpoint is saved, KeyboardInterrupt
    propagates; resuming gives the uninterrupted result (with a cosine schedule and AdamW)."""
    config = dict(corpus=str(corpus), steps=7, hidden=8, layers=2, seq_len=20, batch_size=2, embedding=6,
                  dropout=0.3, eval_every=100, optimizer="adamw", schedule="cosine", sample_length=0)
    train_module.train(config, tmp_path / "straight", progress=False, log=None)

    def press_ctrl_c(step, loss):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="step 3"):
        train_module.train(config, tmp_path / "split", progress=False, log=None, on_step=press_ctrl_c)
    assert load_checkpoint(tmp_path / "split")[1]["step"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler    # handler restored
    train_module.train({"steps": 7}, tmp_path / "split", resume=tmp_path / "split", progress=False, log=None)
    assert_bit_identical(tmp_path / "straight", tmp_path / "split")


def test_interrupt_inside_a_step_exits_130_and_keeps_a_consistent_checkpoint(tmp_path, corpus, capsys,
                                                                              monkeypatch):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run(["train", "--corpus", corpus, "--out", straight, "--steps", 6, *RESUME], capsys)[0] == 0
    real, calls = trainer_module.tbptt_step, []

    def interrupted_on_fifth_forward(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            args[0](args[2], args[4])        # a forward that draws dropout masks, then Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "tbptt_step", interrupted_on_fifth_forward)
    code, _, err = run(["train", "--corpus", corpus, "--out", split, "--steps", 6, *RESUME], capsys)
    assert code == 130 and "checkpoint saved" in err and "Traceback" not in err
    assert load_checkpoint(split)[1]["step"] == 4
    monkeypatch.setattr(trainer_module, "tbptt_step", real)
    assert run(["train", "--resume", split, "--no-progress"], capsys)[0] == 0
    assert_bit_identical(straight, split)


# ---- divergence ---------------------------------------------------------------------------
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, corpus, capsys, monkeypatch):
    real, calls = trainer_module.tbptt_step, []

    def nan_on_fourth_step(*args, **kwargs):
        calls.append(1)
        loss, state = real(*args, **kwargs)
        return (float("nan") if len(calls) == 4 else loss), state

    monkeypatch.setattr(trainer_module, "tbptt_step", nan_on_fourth_step)
    out = tmp_path / "run"
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY, "--steps", "6"], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "diverged" in lines[0] and "nan" in lines[0] and "step 4" in lines[0]
    assert "last good checkpoint (step 2)" in lines[0]
    arrays, meta = load_checkpoint(out)
    assert meta["step"] == 2 and all(np.isfinite(v).all() for k, v in arrays.items() if k.startswith("model."))
    monkeypatch.setattr(trainer_module, "tbptt_step", real)
    assert run(["sample", out, "--length", "5"], capsys)[0] == 0


def test_huge_learning_rate_diverges_with_a_message(tmp_path, corpus, capsys):
    code, _, err = run(["train", "--corpus", corpus, "--out", tmp_path / "run", *TINY, "--optimizer", "sgd",
                        "--lr", "1e38", "--clip", "0"], capsys)
    assert code == 1 and err.strip().startswith("error: training diverged") and len(err.strip().splitlines()) == 1


# ---- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("argv,fragment", [
    (["train", "--hidden", "-1"], "--hidden"),
    (["train", "--layers", "0"], "--layers"),
    (["train", "--dropout", "1.0"], "--dropout"),
    (["train", "--dropout", "-0.1"], "--dropout"),
    (["train", "--seq-len", "0"], "--seq-len"),
    (["train", "--batch-size", "abc"], "--batch-size"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--clip", "-1"], "--clip"),
    (["train", "--cell", "transformer"], "--cell"),
    (["train", "--optimizer", "rmsprop"], "--optimizer"),
    (["train", "--steps", "0"], "--steps"),
    (["train", "--device", "tpu"], "--device"),
    (["sample", "somewhere", "--temperature", "0"], "--temperature"),
    (["sample", "somewhere", "--top-k", "0"], "--top-k"),
    (["sample"], "DIR"),
    (["frobnicate"], "frobnicate"),
    ([], "choose a command"),
])
def test_invalid_options(argv, fragment, capsys):
    code, _, err = run(argv, capsys)
    assert_usage_error(code, err, fragment)


@pytest.mark.parametrize("content,fragment", [(b"", "empty"), (b"caf\xe9 \xff\xfe", "not valid UTF-8"),
                                              (b"abc", "too short")])
def test_bad_corpus(content, fragment, tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    code, _, err = run(["train", "--corpus", path, "--out", tmp_path / "run", *TINY], capsys)
    assert_usage_error(code, err, fragment)
    code, _, err = run(["train", "--corpus", tmp_path / "missing.txt", "--out", tmp_path / "run", *TINY], capsys)
    assert_usage_error(code, err, "missing.txt")


def test_unknown_prime_characters(trained, capsys):
    out, _ = trained
    code, _, err = run(["sample", out, "--prime", "Speak€§"], capsys)
    assert_usage_error(code, err, "--prime", "'§'", "'€'")


def test_missing_and_corrupted_checkpoints(trained, tmp_path, capsys):
    out, _ = trained
    for command in (["sample"], ["eval"], ["train", "--resume"]):
        code, _, err = run([*command, tmp_path / "nowhere"], capsys)
        assert_usage_error(code, err, "nowhere")
    blob = (out / "checkpoint.npz").read_bytes()
    (out / "checkpoint.npz").write_bytes(blob[: len(blob) // 2])
    code, _, err = run(["sample", out], capsys)
    assert_usage_error(code, err, "corrupted")
    damaged = bytearray(blob)
    member = zipfile.ZipFile(io.BytesIO(blob)).getinfo("model.decoder.weight.npy")
    data_start = member.header_offset + 30 + len(member.filename) + len(member.extra)
    damaged[data_start + member.compress_size // 2] ^= 0xFF   # one flipped weight byte: the zip CRC catches it
    (out / "checkpoint.npz").write_bytes(bytes(damaged))
    code, _, err = run(["eval", out], capsys)
    assert_usage_error(code, err, "corrupted")


def test_checkpoint_from_another_model(trained, tmp_path, capsys):
    out, _ = trained
    foreign = tmp_path / "foreign"
    save_checkpoint(foreign, {"w": np.zeros(3)}, {"step": 1})
    code, _, err = run(["sample", foreign], capsys)
    assert_usage_error(code, err, "not written by tinygrad-rnn train")
    # the right kind, but weights of another size than its config says
    arrays, meta = load_checkpoint(out)
    meta["model"]["hidden_size"] = 16
    save_checkpoint(tmp_path / "mismatch", arrays, meta)
    code, _, err = run(["eval", tmp_path / "mismatch"], capsys)
    assert_usage_error(code, err, "model.hidden_size is 16", "config and vocab say 8")


def test_resume_refuses_to_change_the_model_and_out_dir_is_protected(trained, corpus, capsys):
    out, _ = trained
    code, _, err = run(["train", "--resume", out, "--hidden", "16", "--steps", "5"], capsys)
    assert_usage_error(code, err, "hidden=16", "checkpoint: 8")
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY], capsys)
    assert_usage_error(code, err, "already holds a checkpoint", "--force")
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY, "--force"], capsys)
    assert code == 0, err
    corpus.write_text(TEXT + "more", encoding="utf-8")
    code, _, err = run(["train", "--resume", out, "--steps", "5"], capsys)
    assert_usage_error(code, err, "has changed")


def test_eval_text_with_unknown_characters(trained, tmp_path, capsys):
    out, _ = trained
    path = tmp_path / "greek.txt"
    path.write_text("αβγ speak", encoding="utf-8")
    code, _, err = run(["eval", out, "--text", path], capsys)
    assert_usage_error(code, err, "not in vocabulary")


@pytest.mark.skipif(tg.cuda_available(), reason="CUDA is available here")
@pytest.mark.parametrize("command", [["train"], ["sample", "x"], ["eval", "x"]])
def test_cuda_without_a_gpu(command, tmp_path, capsys):
    code, _, err = run([*command, "--device", "cuda"], capsys)
    assert_usage_error(code, err, "CUDA is not available")


def test_resume_with_a_damaged_training_state_or_a_changed_cosine_length(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    assert run(["train", "--corpus", corpus, "--out", out, *TINY, "--schedule", "cosine"], capsys)[0] == 0
    code, _, err = run(["train", "--resume", out, "--steps", "5"], capsys)
    assert_usage_error(code, err, "cosine", "same --steps")
    arrays, meta = load_checkpoint(out)
    del meta["optimizer"]
    save_checkpoint(out, arrays, meta)
    code, _, err = run(["train", "--resume", out, "--steps", "3"], capsys)
    assert_usage_error(code, err, "field 'optimizer' is missing")
