"""`python -m tinygrad_rnn.as_torch script.py` runs an unmodified PyTorch-style script on us."""
import subprocess
import sys
import textwrap

SCRIPT = """
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import clip_grad_norm_

assert torch.__name__ == "tinygrad_rnn", torch.__name__
assert "torch" in sys.modules and sys.modules["torch"] is torch
model = nn.LSTM(3, 4, num_layers=2)
out, (h, c) = model(torch.randn(5, 2, 3))
loss = F.mse_loss(out, torch.zeros(5, 2, 4))
loss.backward()
print("norm", float(clip_grad_norm_(model.parameters(), 1.0)) > 0, tuple(out.shape), sys.argv[1:])
"""


def run(tmp_path, source, *args):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn.as_torch", str(script), *args],
                          capture_output=True, text=True, timeout=120)


def test_script_imports_torch_and_gets_tinygrad_rnn(tmp_path):
    result = run(tmp_path, SCRIPT, "--flag", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "norm True (5, 2, 4) ['--flag', '1']"


def test_script_directory_is_importable_as_for_python_script(tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 41\n")
    result = run(tmp_path, "import helper_mod\nprint(helper_mod.VALUE + 1)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_a_name_we_lack_is_an_import_error_not_a_silent_fallback(tmp_path):
    result = run(tmp_path, "import torch.no_such_module\n")
    assert result.returncode != 0
    assert "No module named 'torch.no_such_module'" in result.stderr


def test_missing_script_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tinygrad_rnn.as_torch", str(tmp_path / "nope.py")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"as_torch: no such script: {tmp_path / 'nope.py'}"]
