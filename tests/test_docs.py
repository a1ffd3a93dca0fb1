"""The docs run: every ```python block of every docs/*.md page is executed, so the pages cannot
drift from the code.

Rules, per page (blocks run in page order, in one namespace per page, so a block may use the
names an earlier one defined; the working directory is a temporary one):

- a block whose first line starts with ``>>>`` is a doctest: its printed output must match. It
  runs in the page's namespace, which holds only what the page itself imported;
- a block right after ``<!-- from examples/NAME.py -->`` is a verbatim excerpt of that example,
  checked word for word (tests/test_examples_b.py checks them as well), not executed;
- a block right after ``<!-- not run -->`` is only shown (say why in the text);
- a ```text block right after ``<!-- output -->`` is what the python block before it prints:
  the test compares them, so quoted numbers and excerpts (a DOT graph) cannot drift;
- every other block is executed, and its ``assert``s are the page's claims. Exercise
  solutions sit in ``<details>`` blocks and run like any other block.

Pages listed in ``SHOWN_ONLY`` keep their non-doctest blocks as illustrations (fragments of a
class, a CUDA-only snippet, a test sketch); their doctests, excerpts, and blocks marked
``<!-- run -->`` are still checked.

Also checked: every page is linked from docs/README.md, relative links resolve, the figures
are small, and the committed SVG graph pictures are what docs/make_figures.py draws now.
"""
import contextlib
import doctest
import io
import pathlib
import re
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

SHOWN_ONLY = {
    # page: why its plain blocks are not executed
    "adding_an_op.md": "fragments of examples/custom_op.py (checked verbatim), a CUDA-only snippet and a "
                       "test sketch for tests/test_ops.py",
}

NO_CODE = {"README.md", "results.md"}     # the index, and the generated table of example results

FENCE = re.compile(r"^```(python|text)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*(from (examples/[\w./-]+)|not run|run|output)[^>]*-->\s*$")


def blocks(page, text=None):
    """[(kind, source, line, target)] of the page's blocks (or of ``text``, a part of it): kind
    is "doctest", "excerpt" (target: the example file), "shown", "exec" or "output" (a text
    block to compare with what the python block before it printed); unmarked text blocks are
    left out."""
    text = page.read_text() if text is None else text
    out = []
    for match in FENCE.finditer(text):
        language, source = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        tag = marker.group(1) if marker else None
        if language == "text":
            if tag == "output":
                out.append(("output", source, line, None))
        elif source.lstrip().startswith(">>>"):
            out.append(("doctest", source, line, None))
        elif marker and marker.group(2):
            out.append(("excerpt", source, line, marker.group(2)))
        elif tag == "not run" or (page.name in SHOWN_ONLY and tag != "run"):
            out.append(("shown", source, line, None))
        else:
            out.append(("exec", source, line, None))
    return out


def _lines(text):
    return [line.rstrip() for line in text.strip("\n").splitlines()]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Run in a scratch directory, with a display-less matplotlib and examples/ importable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    return tmp_path


def run_page(page):
    """Run the page's blocks in order; returns (how many ran, the page's namespace). Raises on
    the first failure."""
    namespace = {"__name__": f"docs_{page.stem}"}
    ran, printed = 0, None
    for kind, source, line, target in blocks(page):
        where = f"docs/{page.name}, block at line {line}"
        if kind == "exec":
            code = compile(source, f"<{where}>", "exec")
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(code, namespace)   # noqa: S102  (the docs' own code)
            sys.stdout.write(buffer.getvalue())
            printed = buffer.getvalue()
            ran += 1
        elif kind == "output":
            assert printed is not None, f"{where}: an output block with no python block before it"
            assert _lines(source) == _lines(printed), \
                f"{where}: the block above now prints\n{printed}\ninstead of\n{source}"
            printed = None
        elif kind == "doctest":
            test = doctest.DocTestParser().get_doctest(source, namespace, where, str(page), line)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
            report = []
            runner.run(test, out=report.append, clear_globs=False)
            assert runner.failures == 0, f"doctest failed in {where}:\n" + "".join(report)
            ran += 1
        elif kind == "excerpt":
            example = (ROOT / target).read_text()
            assert source in example, f"{where}: this block no longer appears verbatim in {target}"
    return ran, namespace


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_runs(page, sandbox):
    ran, _ = run_page(page)
    if page.name not in set(SHOWN_ONLY) | NO_CODE:
        assert ran > 0, f"docs/{page.name} has no runnable python block"


def test_every_page_is_indexed():
    index = (DOCS / "README.md").read_text()
    missing = [p.name for p in PAGES if p.name != "README.md" and f"({p.name})" not in index]
    assert not missing, f"docs/README.md does not link {missing}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page):
    text = FENCE.sub("", page.read_text())
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"docs/{page.name} links to missing files: {broken}"


def test_figures_are_small():
    for png in (DOCS / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png.name
        assert png.stat().st_size < 200_000, f"{png.name} is {png.stat().st_size // 1000} KB"


def test_make_results_reads_print_table_output():
    """docs/make_results.py finds the tables that examples/_common.print_table prints."""
    sys.path.insert(0, str(ROOT / "examples"))
    sys.path.insert(0, str(DOCS))
    try:
        import _common
        import make_results
    finally:
        sys.path.remove(str(ROOT / "examples"))
        sys.path.remove(str(DOCS))
    first = _common.print_table([["LSTM", 0.0123, "yes"], ["tanh RNN", 0.17, "no"]],
                                ["model", "best MSE", "solved"], title="Part 1: a title")
    second = _common.print_table([[0.5, 1e-7]], ["radius", "ratio"], title="Part 2")
    tables = make_results.parse_tables("saved x.png\n" + first + "\n" + second + "\nsaved y.png\n")
    assert [t["title"] for t in tables] == ["Part 1: a title", "Part 2"]
    assert tables[0]["headers"] == ["model", "best MSE", "solved"]
    assert tables[0]["rows"] == [["LSTM", "0.0123", "yes"], ["tanh RNN", "0.1700", "no"]]
    assert tables[1]["rows"] == [["0.5000", "1.000e-07"]]
    make_results.HEADLINES["demo"] = ("Part 1", ("model",), ("best MSE",))
    try:
        assert make_results.headline("demo", tables) == "(best MSE) LSTM: 0.0123; tanh RNN: 0.1700"
    finally:
        del make_results.HEADLINES["demo"]


def test_make_results_quick_never_writes_the_published_results(tmp_path, monkeypatch):
    """``make_results.py --quick`` (docs/README.md tells readers to run it) writes quick.md in
    its store, and leaves docs/results.md and the tables quoted in the pages alone."""
    sys.path.insert(0, str(DOCS))
    try:
        import make_results
    finally:
        sys.path.remove(str(DOCS))
    published = tmp_path / "results.md"
    published.write_text("the published full-run results\n")
    monkeypatch.setattr(make_results, "STORE", tmp_path / "store")
    monkeypatch.setattr(make_results, "RESULTS", published)
    monkeypatch.setattr(make_results, "DOCS", tmp_path)        # refresh_quotes would look here
    quoted = tmp_path / "page.md"
    quoted.write_text("<!-- results clipping table 1 -->\nfull numbers\n<!-- end results -->\n")
    make_results.main(["--quick", "--only", "clipping"])
    assert published.read_text() == "the published full-run results\n"
    assert "full numbers" in quoted.read_text()
    quick_page = (tmp_path / "store" / "quick.md").read_text()
    assert "smoke tests, not results" in quick_page and "clipping" in quick_page
    assert "> --quick: 60 steps, enough for the unclipped run to diverge" in quick_page
    with pytest.raises(SystemExit):                # no saved full run: nothing to publish
        make_results.main(["--render"])
    assert published.read_text() == "the published full-run results\n"


def _make_figures():
    sys.path.insert(0, str(DOCS))
    try:
        import make_figures
    finally:
        sys.path.remove(str(DOCS))
    return make_figures


def test_make_results_partial_full_run_keeps_the_other_examples():
    """A full run of some examples rewrites their rows and sections and keeps the others."""
    sys.path.insert(0, str(DOCS))
    try:
        import make_results
    finally:
        sys.path.remove(str(DOCS))
    previous = ("# Results\n\n| example | mode |\n|---|---|\n| [a](#a) | full |\n| [b](#b) | full |\n\n"
                "## a\n\nold a\n\n## b\n\nold b\n")
    new = "# Results\n\n| example | mode |\n|---|---|\n| [a](#a) | full |\n\n## a\n\nnew a\n"
    merged = make_results.keep_previous(new, previous, {"a": {}})
    assert merged == ("# Results\n\n| example | mode |\n|---|---|\n| [a](#a) | full |\n| [b](#b) | full |\n\n"
                      "## a\n\nnew a\n\n## b\n\nold b\n")
    assert make_results.keep_previous(new, previous, {"a": {}, "b": {}}) == new


@pytest.mark.parametrize("kind, steps", [("rnn", 3), ("lstm", 2)])
def test_committed_graph_pictures_are_current(kind, steps):
    """docs/figures/graph_*.svg are what docs/make_figures.py draws now (pure-Python layout)."""
    committed = (DOCS / "figures" / f"graph_{kind}_{steps}steps.svg").read_text()
    assert _make_figures().unrolled_graph(kind, steps, engine="python") == committed, \
        f"run python docs/make_figures.py to redraw graph_{kind}_{steps}steps.svg"


def test_graph_pictures_draw_the_by_hand_networks(sandbox):
    """The pictures bptt.md and by_hand.md point to show the networks by_hand.md works out."""
    figures = _make_figures()
    _, page = run_page(DOCS / "by_hand.md")
    assert figures.TARGET == page["y"] and figures.INPUTS[:2] == (page["x1"], page["x2"])
    assert figures.RNN_WEIGHTS == {"weight_ih": [[page["w_x"]]], "weight_hh": [[page["w_h"]]],
                                   "bias_ih": [page["b"]], "bias_hh": [0.0]}
    assert figures.LSTM_WEIGHTS["weight_ih"] == [[page["W_x"][k]] for k in "ifgo"]
    assert figures.LSTM_WEIGHTS["weight_hh"] == [[page["W_h"][k]] for k in "ifgo"]
    assert figures.LSTM_WEIGHTS["bias_ih"] == [page["B"][k] for k in "ifgo"]
    assert f"data {page['h2']:.4f}" in (DOCS / "figures" / "graph_rnn_3steps.svg").read_text()


def test_graph_picture_values_are_the_tensors():
    """Every node of the picture carries its tensor's value and gradient: the loss has grad 1,
    the weight's grad is autograd's, the inputs have none; and every node and edge is drawn."""
    from tinygrad_rnn.inspect import svg
    cell = _make_figures().one_unit(tg.nn.RNNCell, _make_figures().RNN_WEIGHTS)
    h = tg.zeros(1, 1, dtype=tg.float64)
    for x_t in (1.0, 2.0):
        h = cell(tg.Tensor([[x_t]], dtype=tg.float64), h)
    loss = (h * h).sum()
    nodes, edges = svg.graph_values(loss, params=dict(cell.named_parameters()))
    root = next(n for n in nodes.values() if n.get("root"))
    assert root["grad"].tolist() == [1.0] and np.allclose(root["value"], loss.numpy())
    w_hh = next(n for n in nodes.values() if n["name"] == "weight_hh")
    assert np.allclose(w_hh["grad"], cell.weight_hh.grad.numpy().ravel())
    assert all(n["grad"] is None for n in nodes.values() if n["kind"] == "input")
    for direction in ("TB", "LR"):
        picture = svg.python_svg(nodes, edges, direction=direction)
        assert picture.count("<rect x=") == len(nodes) and picture.count("marker-end") == len(edges)
    with pytest.raises(ValueError):
        svg.python_svg(nodes, edges, direction="BT")
    place = svg.layered_layout(nodes, edges)
    assert all(place[a][0] < place[b][0] for a, b in edges)       # edges go left to right
    with pytest.raises(ValueError):
        svg.graph_svg(nodes, edges, engine="neato")


def test_graph_picture_through_graphviz(monkeypatch):
    """engine="auto" uses Graphviz when `dot` is on the PATH (faked here), else the layout."""
    from tinygrad_rnn.inspect import svg
    nodes = {"a": {"kind": "param", "label": "w", "shape": (1,), "name": "w", "value": np.ones(1), "grad": None}}
    assert "<svg" in svg.graph_svg(nodes, [], engine="auto" if svg.shutil.which("dot") is None else "python")
    calls = []

    class Done:
        stdout = "<svg>from dot</svg>"

    monkeypatch.setattr(svg.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(svg.subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw["input"])) or Done())
    assert svg.graph_svg(nodes, [], engine="auto") == "<svg>from dot</svg>"
    assert calls[0][0] == ["dot", "-Tsvg"] and 'label="w\\lshape (1,)\\ldata 1.0000\\lgrad -\\l"' in calls[0][1]


# Numbers the prose quotes from the example tables embedded in the same page (refreshed by
# make_results.py): (page, "NAME table K", leading cells of the row, column, text in the prose).
# A value written "60%" stands for 0.60. When a refresh moves a number, this test fails until
# the prose (and this list) are reread.
PROSE_NUMBERS = [
    ("vanishing_and_clipping.md", "clipping table 1", ("no clipping",), "diverged at step", "step 30"),
    ("vanishing_and_clipping.md", "clipping table 1", ("clip_grad_norm_(1.0)",), "max grad norm", "10.28"),
    ("vanishing_and_clipping.md", "clipping table 1", ("clip_grad_value_(0.1)",), "max grad norm", "10.28"),
    ("vanishing_and_clipping.md", "clipping table 1", ("clip_grad_norm_(1.0)",), "steps clipped", "60%"),
    ("vanishing_and_clipping.md", "clipping table 1", ("clip_grad_value_(0.1)",), "steps clipped", "87%"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 1", ("LSTM",), "after training", "7%"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 1", ("GRU",), "after training", "36%"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 1", ("tanh RNN",), "train MSE", "0.164"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 1", ("IRNN",), "train MSE", "0.0086"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 2", ("0.5000",), "per-step factor", "0.49"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 2", ("0.9000",), "per-step factor", "0.88"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 2", ("1.0000",), "per-step factor", "0.97"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 2", ("1.1000",), "||dh_1||", "3.5"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 2", ("1.5000",), "||dh_1||", "461×"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 1", ("LSTM",), "||dh_1||/||dh_T|| at init", "about 10⁻²⁰"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 1", ("GRU",), "||dh_1||/||dh_T|| at init", "about 10⁻²⁰"),
    ("vanishing_and_clipping.md", "vanishing_gradients table 1", ("tanh RNN",), "after training", "is at 10⁻²⁶"),
    ("lstm_vs_gru.md", "vanishing_gradients table 1", ("tanh RNN",), "||dh_1||/||dh_T|| at init", "about 10⁻²¹"),
    ("lstm_vs_gru.md", "vanishing_gradients table 1", ("tanh RNN",), "after training", "and 10⁻²⁶ after"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("tanh RNN", "100"), "test MSE", "0.164"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("tanh RNN", "200"), "test MSE", "0.173"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("LSTM", "100"), "step <0.01", "step 1300"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("LSTM", "200"), "step <0.01", "step 2100"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("GRU", "100"), "step <0.01", "600"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("GRU", "200"), "step <0.01", "800"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("GRU", "100"), "time s", "21 s"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("GRU", "200"), "time s", "75 s"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("LSTM", "100"), "time s", "56 s"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("LSTM", "200"), "time s", "154 s"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("GRU", "200"), "ms/step", "74.8"),
    ("lstm_vs_gru.md", "adding_problem table 1", ("LSTM", "200"), "ms/step", "69.8"),
    ("adding_an_op.md", "custom_op table 1", ("LN-LSTM",), "loss (last", "at 1.67"),
    ("adding_an_op.md", "custom_op table 1", ("LSTM",), "loss (last", "LSTM at 1.95"),
    ("lstm_vs_gru.md", "char_lm table 1", ("GRU",), "val perplexity", "GRU 4.77"),
    ("lstm_vs_gru.md", "char_lm table 1", ("LSTM",), "val perplexity", "LSTM 4.97"),
    ("lstm_vs_gru.md", "char_lm table 1", ("tanh RNN",), "val perplexity", "tanh RNN 5.04"),
]


def quoted_table(name):
    """The markdown table between <!-- results NAME --> and <!-- end results --> on whichever
    page quotes it: (headers, rows)."""
    page_text = next(t for t in (p.read_text() for p in PAGES) if f"<!-- results {name} -->" in t)
    start = page_text.index(f"<!-- results {name} -->")
    body = page_text[start:page_text.index("<!-- end results -->", start)]
    rows = [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            for line in body.splitlines() if line.startswith("|")]
    return rows[0], rows[2:]


SUPERSCRIPT = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


@pytest.mark.parametrize("page, table, row, column, prose", PROSE_NUMBERS)
def test_prose_numbers_match_quoted_tables(page, table, row, column, prose):
    text = (DOCS / page).read_text()
    assert prose in FENCE.sub("", text), f"docs/{page} no longer says {prose!r}: update PROSE_NUMBERS"
    headers, rows = quoted_table(table)
    col = next(i for i, h in enumerate(headers) if h.startswith(column))
    cells = next(r for r in rows if all(r[i].startswith(v) for i, v in enumerate(row)))
    power = re.search(r"10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", prose)
    if power:                      # "10⁻²⁶": the order of magnitude, within a factor of 7
        exponent = int(power.group(1).translate(SUPERSCRIPT))
        assert abs(np.log10(float(cells[col])) - exponent) < 0.85, \
            f"docs/{page} says {prose!r} but its {table} has {column} = {cells[col]} for {row}"
        return
    number = re.search(r"[\d.]+", prose).group(0)
    value, decimals = float(number), len(number.split(".")[1]) if "." in number else 0
    if prose.endswith("%"):
        value, decimals = value / 100, decimals + 2
    assert abs(float(cells[col]) - value) <= 0.5 * 10 ** -decimals + 1e-12, \
        f"docs/{page} says {prose!r} but its {table} has {column} = {cells[col]} for {row}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in NO_CODE], ids=lambda p: p.name)
def test_every_tutorial_page_ends_with_checked_exercises(page):
    """An "Exercise(s)" section, each solution folded in <details> with a block that runs."""
    text = page.read_text()
    assert re.search(r"^## Exercises?$", text, re.M), f"docs/{page.name} has no exercises"
    exercises = text[re.search(r"^## Exercises?$", text, re.M).start():]
    solutions = re.findall(r"<details>(.*?)</details>", exercises, re.S)
    assert solutions, f"docs/{page.name}: no solution in a <details> block"
    for solution in solutions:
        inner = [kind for kind, *_ in blocks(page, text=solution)]
        assert "exec" in inner, f"docs/{page.name}: a solution without a block that runs"



def test_char_lm_prose_ratios_match_its_table():
    """The ratios lstm_vs_gru.md derives from the char_lm table are the table's."""
    text = FENCE.sub("", (DOCS / "lstm_vs_gru.md").read_text())
    headers, rows = quoted_table("char_lm table 1")
    by_cell = {r[0]: dict(zip(headers, r)) for r in rows}
    steps = {cell: int(r["steps"]) for cell, r in by_cell.items()}
    chars = {cell: int(r["chars seen"]) for cell, r in by_cell.items()}
    assert f"{steps['tanh RNN'] / steps['LSTM']:.1f} times as many steps" in text
    assert f"{100 * (steps['GRU'] / steps['LSTM'] - 1):.0f}% more steps" in text
    assert f"{chars['LSTM'] / 1e6:.1f} M characters" in text and f"{chars['tanh RNN'] / 1e6:.1f} M." in text
