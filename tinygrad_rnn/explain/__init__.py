"""What did the cells learn? Record every hidden/cell unit of a character model over a text,
rank the units by how well they track simple properties of the text (inside quotes, position in
the line, speaker names, vowel next...), and write a self-contained HTML page.

    from tinygrad_rnn.explain import explain_run
    explain_run("runs/charlm", out="explain.html")     # {"page", "best", "chance", "ranking"}

    tinygrad-rnn explain runs/charlm --out explain.html
"""
from pathlib import Path

from .page import build_page, colour, quantise
from .properties import chance_level, correlations, rank_units, text_properties
from .record import record

__all__ = ["explain_run", "explain_text", "record", "rank_units", "text_properties", "correlations",
           "chance_level", "build_page", "colour", "quantise"]


def explain_text(model, vocab, text, title="What the cells learned", warmup="", top=5):
    """``(html, ranking, names, acts)`` for ``text`` (characters of the model's vocabulary)."""
    acts, names, probs = record(model, vocab, text, warmup=warmup)
    ranking = rank_units(acts, names, text, top=top)
    present = {p: info for p, info in ranking.items() if info is not None}
    best = max(present, key=lambda p: abs(present[p]["top"][0][1]) - present[p]["chance"], default=None)
    default = present[best]["top"][0][0] if best else None
    page = build_page(text, names, acts, probs, vocab.tokens, ranking, title, default=default)
    return page, ranking, names, acts


def _default_text(saved, length):
    """The run's validation text from its first paragraph start, ``length`` characters (the
    training corpus is found by the checkpoint's checksum, as ``eval`` finds it)."""
    from ..data import split_train_val
    from ..train.inference import training_text
    text = training_text(saved, None)
    n_val = len(split_train_val(range(len(text)), saved.config.val_fraction)[1])
    val = text[len(text) - n_val:]
    start = val.find("\n\n")
    return val[start + 2 if 0 <= start < len(val) // 2 else 0:][:length]


def explain_run(directory, text_path=None, length=3000, out=None, top=5):
    """Explain the checkpoint in ``directory`` on ``text_path`` (default: its validation text)
    and write the page (default ``directory/explain.html``); raises UsageError for bad input."""
    from ..checkpoint import atomic_write_text
    from ..lm_cli import sample_warmup
    from ..train import CharLMCheckpoint, UsageError, load_corpus
    saved = CharLMCheckpoint(directory).read()
    model, vocab, meta = saved.build_model().eval(), saved.vocab, saved.meta
    if vocab.kind != "char":
        raise UsageError(f"explain reads characters; {str(directory)!r} is a {vocab.kind}-level model")
    try:
        text = (load_corpus(text_path) if text_path else _default_text(saved, length))[:length]
        vocab.encode(text)
    except ValueError as exc:
        raise UsageError(f"{text_path or 'validation text'}: {exc}") from None
    if len(text) < 20:
        raise UsageError(f"{text_path or 'validation text'}: at least 20 characters are needed, got {len(text)}")
    title = f"What the cells learned: {Path(directory).name} ({meta['model'].get('cell', '?').upper()})"
    page, ranking, _, _ = explain_text(model, vocab, text, title, sample_warmup(meta, vocab), top)
    out = Path(out) if out else Path(directory) / "explain.html"
    try:
        atomic_write_text(out, page)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    present = {p: info for p, info in ranking.items() if info is not None}
    return {"page": str(out), "ranking": ranking,
            "best": {p: info["top"][0] for p, info in present.items()},
            "chance": {p: info["chance"] for p, info in present.items()}}
