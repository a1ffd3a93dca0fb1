"""The command line as an attacker or an unlucky user meets it (issue 15): tampered and hostile
checkpoints, a moved corpus, an unwritable or empty --out, SIGTERM, absurd model sizes, a closed
pipe, an ASCII terminal, NaN models, tiny temperatures, and the progress line without tqdm.
Every failure must be one ``error:`` line and a non-zero exit code, never a traceback."""
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn import checkpoint as checkpoint_files
from tinygrad_rnn.checkpoint import load_checkpoint, save_checkpoint
from tinygrad_rnn.cli import main
from tinygrad_rnn.data import corpus as corpus_module
from tinygrad_rnn.train import progress as progress_module
from tinygrad_rnn.train import train

REPO = Path(__file__).resolve().parents[1]
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "Cítizen:\nYou are all resolved rather to die than to famish?\n") * 2
TINY = ["--steps", "3", "--hidden", "8", "--layers", "1", "--seq-len", "8", "--batch-size", "2",
        "--eval-every", "2", "--embedding", "6", "--no-progress", "--sample-length", "0"]
ENV = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments, exit_code=2):
    assert code == exit_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def trained(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY], capsys)
    assert code == 0, err
    return out


# ---- 4, 7, 10: every field of a checkpoint is validated -------------------------------------
def _set(path, value):
    def change(meta, arrays):
        *parents, last = path.split(".")
        target = meta
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return change


def _nan_weights(meta, arrays):
    arrays["model.decoder.weight"] = np.full_like(arrays["model.decoder.weight"], np.nan)


def _state_shape(meta, arrays):
    arrays["state.0"] = np.zeros((1, 5, 8), dtype=np.float32)


def _huge_consistent_model(meta, arrays):
    meta["config"]["hidden"] = meta["model"]["hidden_size"] = 10**7


TAMPERINGS = [
    (_set("config.dtype", "float16"), "config.dtype"),
    (_set("model.hidden_size", 10**7), "model.hidden_size"),
    (_huge_consistent_model, "the weights hold"),
    (_set("step", True), "'step'"),
    (_set("step", -1), "step must be a non-negative"),
    (_set("step", "3"), "'step'"),
    (_set("config.lr", KeyError), "lacks the field(s) lr"),
    (_set("config.extra", 1), "extra"),
    (_set("config.hidden", "8"), "config.hidden"),
    (_set("vocab.chars", 123), "vocab"),
    (_set("optimizer.steps", [1]), "optimizer.steps"),
    (_set("optimizer.type", "SGD"), "optimizer.type"),
    (_set("rng.numpy", {"bit_generator": "MT19937"}), "rng.numpy"),
    (_set("last_val", "x"), "'last_val'"),
    (_set("state_parts", 5), "state_parts"),
    (_set("corpus", {"sha256": 5}), "corpus"),
    (_set("version", 99), "version 99"),
    (_state_shape, "state.0"),
    (_nan_weights, "NaN"),
]


@pytest.mark.parametrize("tamper,fragment", TAMPERINGS, ids=[t[1] for t in TAMPERINGS])
def test_tampered_checkpoints_are_refused_naming_the_field(tamper, fragment, trained, capsys):
    arrays, meta = load_checkpoint(trained)
    tamper(meta, arrays)
    save_checkpoint(trained, arrays, meta)
    for command in (["sample", trained], ["eval", trained], ["train", "--resume", trained, "--steps", "5"]):
        code, _, err = run(command, capsys)
        assert_one_line_error(code, err, fragment)


def test_a_corpus_path_to_dev_zero_in_the_config_is_refused(trained, capsys):
    if not os.path.exists("/dev/zero"):
        pytest.skip("needs /dev/zero")
    arrays, meta = load_checkpoint(trained)
    meta["config"]["corpus"] = "/dev/zero"
    save_checkpoint(trained, arrays, meta)
    for command in (["eval", trained], ["train", "--resume", trained, "--steps", "5"]):
        code, _, err = run(command, capsys)
        assert_one_line_error(code, err, "/dev/zero", "not a regular file")


def test_hostile_checkpoint_files_and_oversized_corpus(trained, corpus, tmp_path, capsys, monkeypatch):
    code, _, err = run(["train", "--corpus", tmp_path, "--out", tmp_path / "dir", *TINY], capsys)
    assert_one_line_error(code, err, "is a directory")
    code, _, err = run(["eval", trained, "--text", tmp_path], capsys)
    assert_one_line_error(code, err, "is a directory")
    (trained / "checkpoint.npz").unlink()
    os.mkfifo(trained / "checkpoint.npz")
    code, _, err = run(["sample", trained], capsys)              # must not hang on the FIFO
    assert_one_line_error(code, err, "FIFO")
    monkeypatch.setattr(corpus_module, "MAX_CORPUS_BYTES", 100)
    code, _, err = run(["train", "--corpus", corpus, "--out", tmp_path / "big", *TINY], capsys)
    assert_one_line_error(code, err, "too large")


# ---- 5: a corpus is known by its checksum -------------------------------------------------
def test_a_moved_corpus_is_found_by_checksum(trained, corpus, tmp_path, capsys):
    moved = tmp_path / "elsewhere" / "moved.txt"
    moved.parent.mkdir()
    corpus.rename(moved)
    code, _, err = run(["train", "--resume", trained, "--steps", "5"], capsys)
    assert_one_line_error(code, err, "--corpus NEW_PATH")
    code, _, err = run(["eval", trained], capsys)
    assert_one_line_error(code, err, "--corpus NEW_PATH", "--text")
    code, report, err = run(["eval", trained, "--corpus", moved], capsys)
    assert code == 0 and "moved.txt" in report, err
    code, _, err = run(["train", "--resume", trained, "--corpus", moved, "--steps", "5"], capsys)
    assert code == 0, err
    assert load_checkpoint(trained)[1]["config"]["corpus"] == str(moved)
    impostor = tmp_path / "impostor.txt"
    impostor.write_text(TEXT.replace("speak", "spoke"), encoding="utf-8")
    code, _, err = run(["train", "--resume", trained, "--corpus", impostor, "--steps", "6"], capsys)
    assert_one_line_error(code, err, "checksum differs")


def test_resume_with_a_moved_corpus_is_still_exact(corpus, tmp_path):
    config = dict(corpus=str(corpus), steps=6, hidden=8, layers=2, seq_len=20, batch_size=2, embedding=6,
                  dropout=0.3, eval_every=3, sample_length=0)
    train(config, tmp_path / "straight", progress=False, log=None)
    train({**config, "steps": 3}, tmp_path / "split", progress=False, log=None)
    moved = corpus.rename(tmp_path / "moved.txt")
    train({"steps": 6, "corpus": str(moved)}, tmp_path / "split", resume=tmp_path / "split", progress=False,
          log=None)
    a, b = load_checkpoint(tmp_path / "straight")[0], load_checkpoint(tmp_path / "split")[0]
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# ---- 3, 6: the output directory -------------------------------------------------------------
def test_an_unwritable_out_is_refused_before_the_first_step(corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "readonly"
    out.mkdir()
    real = checkpoint_files.tempfile.mkstemp

    def refuse_in_out(*args, **kwargs):
        if Path(kwargs.get("dir", "")) == out:
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint_files.tempfile, "mkstemp", refuse_in_out)
    steps = []
    with pytest.raises(Exception, match="cannot write to the output directory"):
        train({"corpus": str(corpus), "steps": 3, "hidden": 8, "layers": 1, "seq_len": 8, "batch_size": 2},
              out, progress=False, log=None, on_step=lambda step, loss: steps.append(step))
    assert steps == []
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY], capsys)
    assert_one_line_error(code, err, "cannot write to the output directory", "Permission denied")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_out_directory(corpus, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir(mode=0o500)
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY], capsys)
    assert_one_line_error(code, err, "cannot write to the output directory")


def test_failed_runs_leave_no_empty_directory_and_no_temporary(corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "a" / "b" / "run"
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY, "--optimizer", "sgd", "--lr", "1e38",
                        "--clip", "0", "--eval-every", "100"], capsys)
    assert code == 1 and "diverged" in err
    assert not (tmp_path / "a").exists()
    code, _, err = run(["train", "--corpus", tmp_path / "missing.txt", "--out", out, *TINY], capsys)
    assert code == 2 and not (tmp_path / "a").exists()

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_files.os, "replace", disk_full)
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY], capsys)
    assert_one_line_error(code, err, "No space left on device", exit_code=1)
    assert not (tmp_path / "a").exists()                 # nothing left: no .tmp, no empty directories


@pytest.mark.parametrize("out", ["", "  "])
def test_empty_out_is_refused(out, corpus, capsys):
    code, _, err = run(["train", "--corpus", corpus, "--out", out, *TINY], capsys)
    assert_one_line_error(code, err, "--out")


def test_sigterm_saves_like_ctrl_c(corpus, tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "tinygrad_rnn", "train", "--corpus", str(corpus), "--out", str(out),
            *TINY[2:], "--steps", "100000"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "SIGTERM" in err and "checkpoint saved" in err
    step = load_checkpoint(out)[1]["step"]
    assert step >= 2 and f"step {step}" in err


# ---- 8: model size ------------------------------------------------------------------------
@pytest.mark.parametrize("option", [["--hidden", "10000000"], ["--layers", "1000000000"],
                                    ["--embedding", "100000000000"]])
def test_a_model_that_cannot_fit_is_refused_before_building(option, corpus, tmp_path, capsys):
    start = time.perf_counter()
    code, _, err = run(["train", "--corpus", corpus, "--out", tmp_path / "run", *TINY, *option], capsys)
    assert_one_line_error(code, err, "too large", "memory")
    assert time.perf_counter() - start < 10 and not (tmp_path / "run").exists()


# ---- 9: output --------------------------------------------------------------------------------
def test_sample_into_a_closed_pipe_exits_quietly(trained):
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn", "sample", str(trained), "--length", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    proc.stdout.close()                                   # as `| head` does once it has enough
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert err == "" and proc.returncode == 141


def test_unencodable_text_is_written_with_replacement(trained, monkeypatch, capsys):
    raw = io.BytesIO()
    with capsys.disabled():
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
        code = main(["sample", str(trained), "--prime", "Cít", "--length", "10", "--seed", "0"])
        sys.stdout.flush()
        written = raw.getvalue()
        monkeypatch.undo()
    assert code == 0 and written.startswith(b"C?t")


# ---- 10: sampling edge cases ----------------------------------------------------------------
def test_a_temperature_that_overflows_is_a_clear_error(trained, capsys):
    code, _, err = run(["sample", trained, "--temperature", "1e-320", "--length", "5"], capsys)
    assert_one_line_error(code, err, "temperature", "too small")


def test_library_sample_of_a_nan_model_raises():
    import tinygrad_rnn as tg
    from tinygrad_rnn.data import CharVocab
    from tinygrad_rnn.lm import CharLM, sample
    vocab = CharVocab.from_text("abc")
    model = CharLM(len(vocab), 4, 5, 1)
    model.decoder.bias.data[:] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite logits"):
        sample(model, vocab, 5, seed=0)
    assert isinstance(tg, object)


def test_eval_of_a_model_with_a_nan_loss_exits_non_zero(trained, capsys, monkeypatch):
    from tinygrad_rnn.train import inference
    monkeypatch.setattr(inference, "evaluate", lambda *a, **k: {"loss": float("nan"), "bpc": float("nan"),
                                                                "perplexity": float("nan"), "chars": 10})
    code, out, err = run(["eval", trained], capsys)
    assert_one_line_error(code, err, "nan")
    assert out == ""


# ---- 12: progress without tqdm, the plot hint, no bar into a file ----------------------------
def test_builtin_progress_line_and_one_plot_hint_without_tqdm_and_matplotlib(corpus, tmp_path, monkeypatch):
    for name in ("tqdm", "tqdm.auto", "matplotlib", "matplotlib.backends.backend_agg", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    lines = []
    train({"corpus": str(corpus), "steps": 4, "hidden": 8, "layers": 1, "seq_len": 8, "batch_size": 2,
           "eval_every": 1, "sample_length": 0}, tmp_path / "run", progress=True, log=lines.append)
    progress = [line for line in lines if "chars/s" in line]
    assert progress and all("ETA" in line and "loss" in line for line in progress)
    assert progress[0].startswith("step 1/4") and progress[-1].startswith("step 4/4")
    hints = [line for line in lines if 'pip install "tinygrad-rnn[examples]"' in line]
    assert len(hints) == 1 and not (tmp_path / "run" / "loss.png").exists()


def test_no_tqdm_bar_when_stdout_is_not_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    bar = progress_module.Progress(True, 10, 0, print, 16)
    assert bar.bar is None and bar.lines
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    bar = progress_module.Progress(True, 10, 0, print, 16)
    assert bar.bar is not None
    bar.close()


# ---- no traceback, whatever happens -------------------------------------------------------------
def test_an_unexpected_error_is_one_line(trained, capsys, monkeypatch):
    from tinygrad_rnn.train import inference

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(inference, "sample", broken)
    code, _, err = run(["sample", trained], capsys)
    assert_one_line_error(code, err, "internal error", "something nobody expected", exit_code=1)


# ---- migration ----------------------------------------------------------------------------------
def test_a_version_1_checkpoint_is_read_and_resumed(trained, corpus, capsys):
    """The two-file layout with a CRC-32 corpus identity, as the first release wrote it."""
    import json
    import zlib
    arrays, meta = load_checkpoint(trained)
    meta.pop("version")
    meta.pop("corpus")
    meta["rng"].pop("cuda")
    meta["data"] = {"next_chunk": meta["step"], "corpus_chars": len(TEXT),
                    "corpus_crc32": zlib.crc32(TEXT.encode("utf-8"))}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    blob = buffer.getvalue()
    (trained / "checkpoint.npz").unlink()
    (trained / "arrays.npz").write_bytes(blob)
    (trained / "meta.json").write_text(json.dumps({"format": "tinygrad_rnn.checkpoint/1", "arrays": sorted(arrays),
                                                   "npz_crc32": zlib.crc32(blob), "meta": meta}))
    code, report, err = run(["eval", trained], capsys)
    assert code == 0 and "step 3" in report, err
    code, _, err = run(["train", "--resume", trained, "--steps", "5"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in trained.iterdir()) == ["checkpoint.npz", "loss.png"]
    assert load_checkpoint(trained)[1]["version"] == 3
