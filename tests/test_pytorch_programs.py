"""Well-known kinds of PyTorch RNN program, written as plain `import torch` scripts in
tests/pytorch_programs/, run unchanged through `python -m tinygrad_rnn.as_torch`: each must
finish and learn. Where torch is installed the same script also runs on torch, and the two runs
must reach comparable results.

Why the comparison is loose: `manual_seed` drives a different generator in each framework, so
the two runs start from different weights and see different random data; they differ as two
seeds of one framework do, never bit for bit. So the held-out metric must agree within 0.15 and
the final training losses within a factor of 4 (or 0.03 absolute near zero). A framework that
fails to learn (loss stuck near its start, metric near chance) is far outside both bounds.
"""
import functools
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "pytorch_programs"
HAVE_TORCH = importlib.util.find_spec("torch") is not None

# program: (largest last/first loss ratio, metric name, smallest metric); chance levels in comments
EXPECT = {
    "name_classifier": (0.5, "acc", 0.8),       # 3 classes: chance 0.33
    "seq2seq_attention": (0.75, "acc", 0.4),    # 7 tokens: chance 0.14
    "sentiment_bilstm": (0.5, "acc", 0.8),      # two classes, about balanced
    "timeseries_lstm": (0.1, "reloaded", None),  # test MSE, checked below against the series' variance
    "char_lm": (0.3, "greedy_acc", 0.8),        # 16 characters
    "cell_tagger": (0.2, "acc", 0.9),           # 6 tokens
    "dataloader_gru": (0.5, "acc", 0.75),       # 3 waveforms: chance 0.33
}
MAX_TEST_MSE = 0.05                             # the series' variance is about 0.63


@functools.lru_cache(maxsize=None)
def run(name, framework):
    """Run one program on "tinygrad_rnn" (through as_torch) or on "torch"; its RESULT fields."""
    script = str(PROGRAMS / f"{name}.py")
    command = [sys.executable, "-m", "tinygrad_rnn.as_torch", script] if framework == "tinygrad_rnn" \
        else [sys.executable, script]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, f"{name} failed on {framework}:\n{done.stderr[-3000:]}"
    line = [row for row in done.stdout.splitlines() if row.startswith("RESULT ")]
    assert len(line) == 1, done.stdout
    return {key: float(value) for key, value in re.findall(r"(\w+)=([-\d.e]+)", line[0])}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_program_runs_unchanged_and_learns(name):
    ratio, metric, least = EXPECT[name]
    result = run(name, "tinygrad_rnn")
    assert result["last"] < ratio * result["first"], result
    if least is None:
        assert result[metric] < MAX_TEST_MSE, result
    else:
        assert result[metric] >= least, result


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed (the oracle run)")
@pytest.mark.parametrize("name", sorted(EXPECT))
def test_program_matches_torch(name):
    _, metric, least = EXPECT[name]
    ours, theirs = run(name, "tinygrad_rnn"), run(name, "torch")
    assert theirs["last"] < theirs["first"], theirs      # the script itself is sound on torch
    low, high = sorted((ours["last"], theirs["last"]))
    assert high <= 4 * low or high - low < 0.03, (ours, theirs)
    if least is None:
        assert max(ours[metric], theirs[metric]) < MAX_TEST_MSE, (ours, theirs)
    else:
        assert abs(ours[metric] - theirs[metric]) <= 0.15, (ours, theirs)


def test_every_program_has_expectations():
    assert sorted(p.stem for p in PROGRAMS.glob("*.py")) == sorted(EXPECT)
