"""Smoke tests of the examples char_lm, sequence_classification, seq2seq, bidirectional_tagging
and custom_op: each one's ``--quick`` mode runs in-process, prints its table and saves its
plots; plus the custom op's property test, and a check that docs/adding_an_op.md shows the
example's code word for word."""
import importlib
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))                     # examples/ (for `import custom_op`)
from custom_op import test_layer_norm_gradient  # noqa: E402,F401  (collected by pytest)

try:
    import matplotlib  # noqa: F401
    HAVE_MATPLOTLIB = True
except ImportError:
    HAVE_MATPLOTLIB = False

# example -> (a line its table prints, the plots it saves)
EXAMPLES_B = {
    "char_lm": ("validation perplexity", ["val_perplexity.png"]),
    "sequence_classification": ("test accuracy", ["accuracy.png"]),
    "seq2seq": ("exact-match accuracy", ["exact_match.png"]),
    "bidirectional_tagging": ("per-step test accuracy", ["accuracy.png"]),
    "custom_op": ("training loss", ["custom_op_loss.png"]),
}

SMOKE_TESTS = {"char_lm", "seq2seq", "custom_op"}


@pytest.mark.parametrize("name", sorted(EXAMPLES_B))
def test_quick_mode(name, device, tmp_path, capsys):
    title, plots = EXAMPLES_B[name]
    if name == "sequence_classification":
        pytest.importorskip("sklearn")      # its data set ships with scikit-learn
    module = importlib.import_module(name)
    result = module.main(["--quick", "--out", str(tmp_path), "--device", device])
    printed = capsys.readouterr().out
    assert title in printed, f"{name} did not print its table:\n{printed}"
    assert re.search(r"^-+(  -+)+$", printed, re.MULTILINE), f"{name}: no table rule line in:\n{printed}"
    if name == "sequence_classification":      # its quick run shows the lesson: every model learns
        assert all(curve[-1] > 0.6 for curve in result["curves"].values()), result["rows"]
    if name in SMOKE_TESTS:       # quick runs too short to show the lesson must say so
        assert "--quick is a smoke test" in printed, f"{name} --quick does not say it is a smoke test"
    if HAVE_MATPLOTLIB:
        for plot in plots:
            path = tmp_path / plot
            assert path.exists() and path.stat().st_size > 1000, f"{name} did not save {plot}"
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{plot} is not a PNG"


def test_adding_an_op_doc_shows_the_examples_code():
    """Every code block after '<!-- from examples/custom_op.py -->' is in the example verbatim."""
    doc = (ROOT / "docs" / "adding_an_op.md").read_text()
    source = (EXAMPLES / "custom_op.py").read_text()
    blocks = re.findall(r"<!-- from examples/custom_op.py -->\n```python\n(.*?)```", doc, re.DOTALL)
    assert len(blocks) >= 4
    for block in blocks:
        assert block in source, f"docs/adding_an_op.md shows code that is not in examples/custom_op.py:\n{block}"


def test_custom_op_plot_ends_at_the_table_number(tmp_path, monkeypatch):
    """The plotted running mean and the table's "loss (last 10%)" use the same window."""
    import _common
    import custom_op
    # the property test ran in test_quick_mode; Hypothesis refuses to decorate it twice
    monkeypatch.setattr(custom_op, "run_property_test", lambda max_examples: None)
    result = custom_op.main(["--quick", "--out", str(tmp_path)])
    for name, hidden, steps, first, last, seconds in result["rows"]:
        curve = result["curves"][name]
        assert abs(_common.smooth(curve, max(1, steps // 10))[-1] - last) < 1e-12
