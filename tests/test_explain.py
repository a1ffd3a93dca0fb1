"""explain: text properties, correlation ranking (a planted unit is found, chance stays low),
the recorded units, the HTML page's content in plain pytest, the CLI, and the page in a real
headless Chromium (its script recolours the text for the unit in the URL and adds the hover
information), skipped only where no Chromium binary exists."""
import html.parser
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from tinygrad_rnn.cli import main
from tinygrad_rnn.data import CharVocab
from tinygrad_rnn.explain import (colour, correlations, explain_text, quantise, rank_units, record,
                                  text_properties)
from tinygrad_rnn.lm import CharLM

TEXT = ('ROMEO:\nShe said "go (now) home" and left.\n\nJULIET:\n"Stay (a while)," she said.\n') * 3
VOCAB = CharVocab.from_text(TEXT)


def test_properties():
    props = text_properties('a "b" (c)\nxy')
    np.testing.assert_array_equal(props["inside double quotes"], [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(props["inside parentheses"], [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(props["position in line"], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
    assert props["characters to line end"][0] == 9 and props["characters to line end"][9] == 0
    np.testing.assert_array_equal(text_properties("ab ea")["vowel next"], [0, np.nan, 1, 1, np.nan])
    speaker = text_properties("ROMEO:\nhi\n")["speaker name line"]
    np.testing.assert_array_equal(speaker, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0])


def test_a_planted_unit_is_found_and_chance_is_low():
    rng = np.random.default_rng(0)
    # lines of random lengths (a periodic text could line up with its own shifted copy)
    text = "".join("x" * int(n) + "\n" for n in rng.integers(3, 60, size=40))
    props = text_properties(text)
    acts = rng.standard_normal((len(text), 20))
    acts[:, 7] = props["position in line"] + 0.1 * rng.standard_normal(len(text))
    names = [f"L0.h{j}" for j in range(20)]
    ranking = rank_units(acts, names, text, top=3)
    info = ranking["position in line"]
    assert info["top"][0][0] == "L0.h7" and info["top"][0][1] > 0.99 and info["chance"] < 0.5
    r = correlations(acts[:len(TEXT)], text_properties(TEXT)["inside parentheses"])
    assert r.shape == (20,) and np.all(np.abs(r) <= 1 + 1e-12)
    assert correlations(acts, np.zeros(len(text))) is None                   # a constant property
    assert rank_units(acts[:12], names, "abcdefghijkl")["inside double quotes"] is None


def test_record_names_every_unit_and_distributions():
    model = CharLM(len(VOCAB), embedding_dim=4, hidden_size=6, num_layers=2, cell="lstm")
    acts, names, probs = record(model, VOCAB, TEXT[:30], warmup="\n\n")
    assert acts.shape == (30, 24) and len(names) == 24 and names[0] == "L0.h0" and names[-1] == "L1.c5"
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    gru_acts, gru_names, _ = record(CharLM(len(VOCAB), 4, 6, 1, cell="gru"), VOCAB, TEXT[:10])
    assert gru_acts.shape == (10, 6) and all(".h" in n for n in gru_names)


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.spans = [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.spans += tag == "span" and any(k == "style" for k, _ in attrs)


class _TextSpans(html.parser.HTMLParser):
    """(style, title) of each span inside <pre id="text"> of a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.inside, self.spans = False, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "pre" and attrs.get("id") == "text":
            self.inside = True
        elif tag == "span" and self.inside:
            self.spans.append((attrs.get("style", ""), attrs.get("title", "")))

    def handle_endtag(self, tag):
        if tag == "pre":
            self.inside = False


def make_page(tmp_path):
    model = CharLM(len(VOCAB), embedding_dim=4, hidden_size=6, num_layers=1, cell="lstm")
    page, ranking, names, acts = explain_text(model, VOCAB, TEXT, title="t<e>st", warmup="\n\n", top=3)
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    return path, page, ranking, names, acts


def test_page_content(tmp_path):
    _, page, ranking, names, acts = make_page(tmp_path)
    parser = _Collector()
    parser.feed(page)
    assert parser.tags[0] == "html" and "script" in parser.tags and "t&lt;e&gt;st" in page
    assert parser.spans >= len(TEXT)                                      # one coloured span per character
    for prop in ("inside double quotes", "inside parentheses", "position in line"):
        info = ranking[prop]
        assert prop in page and info is not None
        for unit, r in info["top"]:
            assert f'href="#unit={unit}"' in page and f"{r:+.3f}" in page
    assert re.search(r"background:rgb\(\d+, \d+, 255\)", page)                    # positive: blue
    assert re.search(r"background:rgb\(255, \d+, \d+\)", page)                    # negative: red
    assert "http://" not in page and "https://" not in page and "<script src" not in page   # self-contained


def test_colour_scale():
    assert colour(0) == "rgb(255, 255, 255)"
    assert colour(100) == "rgb(75, 165, 255)" and colour(-100) == "rgb(255, 75, 75)"
    q = quantise(np.array([-2.0, 0.0, 1.0, 0.5]))
    assert list(q) == [-100, 0, 50, 25]


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(*args):
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary (apt-get install chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run"]
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([binary, *flags, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_page_in_headless_chromium(tmp_path):
    path, page, ranking, names, acts = make_page(tmp_path)
    chosen = ranking["inside parentheses"]["top"][1][0]                   # not the default unit
    dom = run_chromium("--dump-dom", path.as_uri() + f"#unit={chosen}")
    assert 'data-ready="1"' in dom and f'data-unit="{chosen}"' in dom      # the script ran to the end
    assert f"showing unit {chosen}" in dom
    parser = _TextSpans()
    parser.feed(dom)
    assert len(parser.spans) == len(TEXT)
    assert all(title.startswith("next: ") for _, title in parser.spans)      # hover text added by the script
    colours = [re.search(r"rgb\([^)]*\)", style).group() for style, _ in parser.spans]
    expected = [colour(q) for q in quantise(acts[:, names.index(chosen)])]
    assert colours == expected                                            # recoloured for the chosen unit
    static = _TextSpans()
    static.feed(page)
    assert [re.search(r"rgb\([^)]*\)", st).group() for st, _ in static.spans] != expected   # not as served


def test_page_screenshot(tmp_path):
    path = make_page(tmp_path)[0]
    shot = tmp_path / "shot.png"
    run_chromium(f"--screenshot={shot}", "--window-size=900,700", path.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_explain_cli(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT * 4, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), "--out", str(out), "--steps", "2", "--hidden", "6",
                 "--embedding", "4", "--layers", "1", "--seq-len", "8", "--batch-size", "2",
                 "--no-progress", "--sample-length", "0"]) == 0
    capsys.readouterr()
    assert main(["explain", str(out), "--length", "200"]) == 0
    report = capsys.readouterr().out
    assert "position in line" in report and "chance level" in report and (out / "explain.html").exists()
    assert main(["explain", str(out), "--text", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "cannot read" in err[0]
    assert os.path.getsize(out / "explain.html") > 1000
