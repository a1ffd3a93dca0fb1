"""The notebooks in docs/notebooks/ are generated from the docs pages by docs/make_notebooks.py:
check that the committed ones are current, that each keeps every runnable block of its page
as a code cell, and run them with nbclient (skipped where Jupyter is not installed: the
``notebooks`` extra)."""
import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
import make_notebooks  # noqa: E402
sys.path.remove(str(DOCS))
sys.path.insert(0, str(ROOT / "tests"))
import test_docs  # noqa: E402

PAGES = make_notebooks.pages()


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_committed_notebook_is_current(page):
    target = make_notebooks.OUT / f"{page.stem}.ipynb"
    assert target.exists() and target.read_text() == make_notebooks.render(page), \
        f"{target.name} is out of date: run python docs/make_notebooks.py"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_notebook_has_every_runnable_block(page):
    """One code cell per block that tests/test_docs.py runs, in the same order, plus the setup."""
    cells = json.loads(make_notebooks.render(page))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"][1:]
    runnable = [(kind, source) for kind, source, _, _ in test_docs.blocks(page) if kind in ("exec", "doctest")]
    assert len(code) == len(runnable)
    for cell, (kind, source) in zip(code, runnable):
        expected = make_notebooks.doctest_source(source) if kind == "doctest" else source.rstrip("\n")
        assert cell == expected
    text = "".join("".join(c["source"]) for c in cells)
    assert "<details>" not in text and "<!--" not in text


def test_converter_rules(tmp_path, monkeypatch):
    page = tmp_path / "demo.md"
    page.write_text("# Demo\n\nSee [x](x.md) and ![f](figures/f.svg).\n\n```python\nv = 1\nprint(v)\n```\n\n"
                    "<!-- output -->\n```text\n1\n```\n\n<!-- not run -->\n```python\nshown()\n```\n\n"
                    "```python\n>>> v + 1\n2\n```\n\n<details>\n<summary>Solution</summary>\n\n"
                    "```python\nassert v == 1\n```\n\n</details>\n")
    cells = make_notebooks.cells_of(page)
    assert [k for k, _ in cells] == ["code", "markdown", "code", "markdown", "code", "markdown", "code"]
    assert cells[1][1] == "# Demo\n\nSee [x](../x.md) and ![f](../figures/f.svg)."
    assert cells[2][1] == "v = 1\nprint(v)" and cells[4][1] == "v + 1"
    assert "shown()" in cells[3][1] and "1\n```" not in cells[3][1]          # output block dropped
    assert cells[5][1] == "**Solution**" and cells[6][1] == "assert v == 1"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_notebook_runs(page):
    nbclient = pytest.importorskip("nbclient", reason="Jupyter is not installed (the 'notebooks' extra)")
    pytest.importorskip("ipykernel", reason="Jupyter is not installed (the 'notebooks' extra)")
    import nbformat
    nb = nbformat.reads(make_notebooks.render(page), as_version=4)
    nbformat.validate(nb)                  # well-formed nbformat 4.5 JSON
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(make_notebooks.OUT)}})
    client.execute()                       # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
