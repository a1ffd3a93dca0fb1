"""The suite's own guards: with TINYGRAD_RNN_REQUIRE_TORCH=1 (as .ci/run sets it) a broken torch
fails the run instead of skipping the PyTorch oracle tests silently. A torch that cannot be
imported is simulated by a stand-in package on PYTHONPATH."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_oracle_tests(tmp_path, require):
    broken = tmp_path / "broken" / "torch"
    broken.mkdir(parents=True, exist_ok=True)
    # what a missing torch (or one whose dependency is missing) raises
    (broken / "__init__.py").write_text("raise ModuleNotFoundError('this torch is broken', name='torch')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(broken.parent), str(REPO)]))
    env.pop("TINYGRAD_RNN_REQUIRE_TORCH", None)
    if require:
        env["TINYGRAD_RNN_REQUIRE_TORCH"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                           "tests/test_torch_ops.py", "tests/test_init.py::test_calculate_gain_matches_torch"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


def test_a_broken_torch_only_skips_when_torch_is_not_required(tmp_path):
    relaxed = run_oracle_tests(tmp_path, require=False)
    assert relaxed.returncode == 0 and "skipped" in relaxed.stdout, relaxed.stdout + relaxed.stderr
    strict = run_oracle_tests(tmp_path, require=True)
    assert strict.returncode != 0 and "this torch is broken" in strict.stdout + strict.stderr
