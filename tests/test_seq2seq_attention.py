"""examples/seq2seq_attention.py: its --quick mode runs in seconds, says it is a smoke test and
saves its figures and results; its data are right; its attentive encoder-decoder ignores
whatever sits in the padded source positions (outputs and gradients), and its decoding step
gives the same log-probabilities as the teacher-forced forward."""
import importlib
import json
import pathlib
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

try:
    import matplotlib  # noqa: F401
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False


def test_quick_mode(device, tmp_path, capsys):
    example = importlib.import_module("seq2seq_attention")
    summary = example.main(["--quick", "--out", str(tmp_path), "--device", device])
    out = capsys.readouterr().out
    assert "SMOKE TEST" in out and "greedy against beam search" in out
    assert summary["smoke_test"] and set(summary["models"]) == {"plain", "reversed", "attention"}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["models"]["attention"]["accuracy"].keys() == summary["models"]["attention"]["accuracy"].keys()
    for row in summary["beam"]:
        assert 0 <= row["greedy"] <= 1 and 0 <= row["beam_not_worse"] <= 1
    for png in ("accuracy_vs_length.png", "attention_heatmaps.png"):
        if HAVE_MPL:
            assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_batches_are_reversals():
    example = importlib.import_module("seq2seq_attention")
    src, lengths, dec_in, target = example.make_batch(np.random.default_rng(0), 20, 2, 7)
    for b, n in enumerate(lengths):
        digits = src[b, :n]
        assert np.all(digits >= example.DIGIT0) and np.all(src[b, n:] == example.PAD)
        assert list(target[b, :n + 1]) == list(digits[::-1]) + [example.EOS]
        assert list(dec_in[b, :n + 1]) == [example.BOS] + list(digits[::-1])
        assert np.all(target[b, n + 1:] == example.IGNORE)
        assert list(example.reverse_source(src, lengths)[b, :n]) == list(digits[::-1])


@pytest.mark.parametrize("attention", ["general", "additive"])
def test_padded_source_changes_nothing(device, attention):
    """Replacing the padding of the source by random digits leaves the logits and every
    parameter's gradient unchanged: the encoder honours lengths, attention masks the padding."""
    example = importlib.import_module("seq2seq_attention")
    tg.manual_seed(0)
    model = example.Attentive(8, embed=6, attention=attention).double().to(device)
    rng = np.random.default_rng(1)
    src, lengths, dec_in, _ = example.make_batch(rng, 4, 2, 6)
    noisy = np.where(src == example.PAD, rng.integers(example.DIGIT0, example.VOCAB, size=src.shape), src)
    grads = []
    for source in (src, noisy):
        model.zero_grad()
        logits = model(source, lengths, dec_in, device)
        (logits * tg.Tensor(np.random.default_rng(2).standard_normal(logits.shape), device=device)).sum().backward()
        grads.append((logits.numpy(), [p.grad.numpy() for p in model.parameters()]))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(grads[0][1], grads[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_decoding_step_matches_teacher_forcing(device):
    example = importlib.import_module("seq2seq_attention")
    tg.manual_seed(0)
    for model in (example.Attentive(8, embed=6).double().to(device), example.Plain(8, embed=6).double().to(device)):
        src, lengths, dec_in, _ = example.make_batch(np.random.default_rng(3), 3, 2, 5)
        with tg.no_grad():
            expected = model(src, lengths, dec_in, device).log_softmax(-1).numpy()
            step, state = model.step(device), model.encode(src, lengths, device)
            for t in range(dec_in.shape[1]):
                logp, state = step(dec_in[:, t], state)
                np.testing.assert_allclose(logp.numpy(), expected[:, t], rtol=1e-10, atol=1e-12)
