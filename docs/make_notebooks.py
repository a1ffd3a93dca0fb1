"""Turn each tutorial page (docs/*.md) into a Jupyter notebook in docs/notebooks/: one source
of truth, the markdown, and plain JSON out (no Jupyter needed to convert).

    python docs/make_notebooks.py            # rewrite docs/notebooks/*.ipynb
    python docs/make_notebooks.py --check    # exit 1 if a committed notebook is out of date

The rules follow the ones tests/test_docs.py runs the pages by:

- a ```python block that the page runs becomes a code cell; a doctest block becomes a code
  cell of its statements (the ``>>>``/``...`` prompts and expected output dropped);
- blocks the page only shows (excerpts of examples, ``<!-- not run -->``, the fragments of
  ``SHOWN_ONLY`` pages) stay in the markdown as code, as do ``text`` blocks;
- ``<!-- output -->`` text blocks are dropped: running the cell above prints them;
- ``<details>``/``<summary>`` (the hidden exercise solutions) become a bold "Solution" line,
  since a notebook cell cannot hide part of itself; relative links get ``../``.

A first code cell puts the source checkout (and its examples/) on ``sys.path`` and moves into a
scratch directory, so the files a page writes do not land in the repository.
tests/test_notebooks.py checks that the committed notebooks are current and runs them with
nbclient where Jupyter is installed (the ``notebooks`` extra).
"""
import argparse
import json
import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
OUT = DOCS / "notebooks"
SKIP = {"README.md", "results.md"}                       # the index and the generated results
SHOWN_ONLY = {"adding_an_op.md"}                         # as in tests/test_docs.py
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$\n?", re.S | re.M)
MARKER = re.compile(r"<!--\s*(from examples/[\w./-]+|not run|run|output)[^>]*-->\s*$")

SETUP = '''# Setup: the source checkout (and examples/) on sys.path, and a scratch working directory
import os, pathlib, sys, tempfile
here = pathlib.Path.cwd()
root = next((p for p in (here, *here.parents) if (p / "examples" / "_common.py").exists()), None)
if root is not None:
    sys.path[:0] = [str(root), str(root / "examples")]
os.chdir(tempfile.mkdtemp(prefix="tinygrad_rnn_docs_"))'''


def classify(page_name, language, source, marker):
    """"code", "drop" or "markdown" for one fenced block (see the module docstring)."""
    if language == "text":
        return "drop" if marker == "output" else "markdown"
    if language != "python":
        return "markdown"
    if source.lstrip().startswith(">>>"):
        return "code"
    if marker and (marker.startswith("from ") or marker == "not run"):
        return "markdown"
    if page_name in SHOWN_ONLY and marker != "run":
        return "markdown"
    return "code"


def doctest_source(source):
    """The statements of a doctest block, prompts and expected output removed."""
    lines = [line[4:] if line.startswith((">>> ", "... ")) else line[3:]
             for line in source.splitlines() if line.startswith((">>>", "..."))]
    return "\n".join(lines)


def clean_markdown(text):
    text = re.sub(r"^<!--.*?-->[ \t]*\n?", "", text, flags=re.M)
    text = re.sub(r"^</?details>[ \t]*\n?", "", text, flags=re.M)
    text = re.sub(r"^<summary>(.*?)</summary>", r"**\1**", text, flags=re.M)
    text = re.sub(r"\]\((?![a-z]+:|#)([^)\s]+)\)", r"](../\1)", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def cells_of(page):
    """The notebook cells of one page, in order: [(cell type, source)]."""
    text = page.read_text()
    cells, markdown, pos = [("code", SETUP)], [], 0
    for match in FENCE.finditer(text):
        language, source = match.group(1), match.group(2)
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        kind = classify(page.name, language, source, marker.group(1) if marker else None)
        if kind == "markdown":
            markdown.append(text[pos:match.end()])
        else:
            markdown.append(text[pos:match.start()])
            if "".join(markdown).strip():
                cells.append(("markdown", clean_markdown("".join(markdown))))
            markdown = []
            if kind == "code":
                code = doctest_source(source) if source.lstrip().startswith(">>>") else source
                cells.append(("code", code.rstrip("\n")))
        pos = match.end()
    markdown.append(text[pos:])
    rest = clean_markdown("".join(markdown))
    if rest:
        cells.append(("markdown", rest))
    return [(kind, source) for kind, source in cells if source.strip()]


def notebook(page):
    """The notebook of one page as a JSON-ready dict (nbformat 4.5)."""
    cells = []
    for i, (kind, source) in enumerate(cells_of(page)):
        cell = {"cell_type": kind, "id": f"{page.stem}-{i}", "metadata": {},
                "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"},
                         "source": f"generated from docs/{page.name} by docs/make_notebooks.py; edit the page"}}


def render(page):
    return json.dumps(notebook(page), indent=1, ensure_ascii=False) + "\n"


def pages():
    return [p for p in sorted(DOCS.glob("*.md")) if p.name not in SKIP]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the notebooks are current")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    stale = []
    for page in pages():
        target = OUT / f"{page.stem}.ipynb"
        text = render(page)
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(DOCS.parent)}")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python docs/make_notebooks.py)")
        sys.exit(1)


if __name__ == "__main__":
    main()
