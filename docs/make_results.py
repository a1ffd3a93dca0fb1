"""Run every example, keep its headline table and wall time, and regenerate docs/results.md.

    python docs/make_results.py --quick                 # every example in its seconds-long mode:
                                                        # writes runs/make_results/quick.md only
    python docs/make_results.py                         # full mode (the defaults of each example)
    python docs/make_results.py --only clipping,char_lm --timeout 900
    python docs/make_results.py --render                # only rewrite results.md from saved runs

Each example runs as its own process, ``python examples/NAME.py [--quick] --out DIR``, with
``OMP_NUM_THREADS=1`` (the examples are small-matrix workloads that a multi-threaded BLAS only
slows down) and a time limit. Its stdout is kept in ``runs/make_results/{quick,full}/NAME.json``
together with the tables found in it (``_common.print_table`` output: a title, a header, a line
of dashes, rows of the dashes' width), the wall time and the exit status. A full run then
rewrites docs/results.md from the saved full runs (with each example's quick time next to it;
an example with no saved full run keeps its row and section from the published page);
a quick run writes ``runs/make_results/quick.md`` and never touches docs/: quick numbers are
smoke tests and must not replace the published ones. The PNGs of full runs are copied into docs/figures/ as ``NAME_PLOT.png``; quick-mode plots show
a handful of steps and are not kept. Tables the docs pages quote from a full run, between
``<!-- results NAME table K -->`` and ``<!-- end results -->``, are refreshed too (the prose
around them is not: reread it when the numbers move).

Headline figures are picked from the tables by column name (``HEADLINES``); when an example
changes its table so that a name no longer matches, the summary says "see below" and the full
table is still printed under it.
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
FIGURES = DOCS / "figures"
STORE = ROOT / "runs" / "make_results"
RESULTS = DOCS / "results.md"

# example -> (table title fragment ("" = the last table), label column, value columns)
HEADLINES = {
    "adding_problem": ("Adding problem", ("model", "T"), ("best MSE", "solved")),
    "vanishing_gradients": ("Part 1", ("model",), ("||dh_1||/||dh_T|| at init", "after training")),
    "clipping": ("clipping", ("method",), ("loss (last", "diverged at step")),
    "char_lm": ("perplexity", ("cell",), ("val perplexity", "val bpc")),
    "sequence_classification": ("", ("model",), ("test accuracy",)),
    "seq2seq": ("", ("encoder input",), ("exact match",)),
    "bidirectional_tagging": ("per-step", ("tagger",), ("test accuracy",)),
    "seq2seq_attention": ("Reversal", ("model",), ("exact (trained lengths)", "digits (longer)")),
    "deep_residual": ("Training", ("stack",), ("bottom/top grad ratio", "loss (last")),
    "custom_op": ("", ("cell",), ("loss (last 10%)",)),
}

DASHES = re.compile(r"^-+(  -+)*$")


# ----------------------------------------------------------------------------- reading stdout

def parse_tables(text):
    """The tables ``_common.print_table`` printed in ``text``: [{title, headers, rows}].

    A table is a header line, a line of dash runs separated by two spaces, and the rows that
    follow, which have exactly the dash line's width and spaces at its gaps (that is how
    print_table pads them). The line above the header is the title unless it is a row of a
    table just before."""
    lines = text.splitlines()
    tables, used = [], set()
    for i, line in enumerate(lines):
        if i == 0 or not DASHES.match(line):
            continue
        spans = [m.span() for m in re.finditer(r"-+", line)]
        width = len(line)

        def cut(row):
            return [row[a:b if k + 1 < len(spans) else width].strip() for k, (a, b) in enumerate(spans)]

        def is_row(row):
            return len(row) == width and all(row[b:b + 2] == "  " for a, b in spans[:-1])

        rows, j = [], i + 1
        while j < len(lines) and is_row(lines[j]) and not DASHES.match(lines[j]):
            rows.append(cut(lines[j]))
            used.add(j)
            j += 1
        title = ""
        if i >= 2 and (i - 2) not in used and lines[i - 2].strip() and not DASHES.match(lines[i - 2]):
            title = lines[i - 2].strip()
        tables.append({"title": title, "headers": cut(lines[i - 1].ljust(width)), "rows": rows})
    return tables


def find_table(tables, fragment):
    if not tables:
        return None
    if not fragment:
        return tables[-1]
    for table in tables:
        if fragment.lower() in table["title"].lower():
            return table
    return None


def column(headers, prefix):
    """Index of the first header that starts with ``prefix`` (column names may carry a number,
    as "loss (last 100)")."""
    for k, h in enumerate(headers):
        if h.startswith(prefix):
            return k
    raise KeyError(prefix)


def headline(name, tables):
    """One short line of the example's key numbers, or None if its table is not recognised."""
    spec = HEADLINES.get(name)
    table = find_table(tables, spec[0]) if spec else None
    if table is None or not table["rows"]:
        return None
    try:
        labels = [column(table["headers"], c) for c in spec[1]]
        values = [column(table["headers"], c) for c in spec[2]]
    except KeyError:
        return None
    parts = []
    for row in table["rows"]:
        label = " ".join(row[k] if table["headers"][k] != "T" else f"T={row[k]}" for k in labels)
        parts.append(f"{label}: " + " / ".join(row[k] for k in values))
    names = " / ".join(table["headers"][k] for k in values)
    return f"({names}) " + "; ".join(parts)


def markdown_table(table):
    def esc(cell):
        return cell.replace("|", "\\|")
    out = ["| " + " | ".join(esc(h) for h in table["headers"]) + " |",
           "|" + "|".join("---" for _ in table["headers"]) + "|"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in table["rows"]]
    return "\n".join(out)


# ----------------------------------------------------------------------------- running

def example_names():
    return sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_"))


def run_example(name, quick, timeout, extra=()):
    mode = "quick" if quick else "full"
    out_dir = STORE / mode / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    command = [sys.executable, f"examples/{name}.py", *(["--quick"] if quick else []), *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run(command + ["--out", str(out_dir)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
        stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr, rc = f"timed out after {timeout} s", "timeout"
    seconds = time.perf_counter() - start
    record = {"name": name, "mode": mode, "command": "python " + " ".join(command[1:]),
              "seconds": round(seconds, 1), "rc": rc, "stdout": stdout,
              "stderr_tail": _strip_bars(stderr)[-3000:], "tables": parse_tables(stdout),
              "pngs": sorted(p.name for p in out_dir.glob("*.png")),
              "date": datetime.date.today().isoformat()}
    (STORE / mode / f"{name}.json").write_text(json.dumps(record, indent=1))
    return record


def _strip_bars(stderr):
    """stderr without tqdm's progress-bar redraws (lines joined by carriage returns)."""
    lines = (line.split("\r")[-1] for line in stderr.split("\n"))
    return "\n".join(line for line in lines if line.strip() and not re.search(r"\d+%\|", line))


def load_records(mode):
    """{example: its saved run in ``mode`` ("full" or "quick")}; each record also gets
    ``quick_seconds``, the wall time of its quick run (None if there is none)."""
    records, quick = {}, {}
    for which in ("quick", "full"):
        for path in sorted((STORE / which).glob("*.json")):
            record = json.loads(path.read_text())
            if which == "quick" and record["rc"] == 0:
                quick[record["name"]] = record["seconds"]
            if which == mode:
                records[record["name"]] = record
    for name, record in records.items():
        record["quick_seconds"] = quick.get(name)
    return records


# ----------------------------------------------------------------------------- writing

def figure_links(record):
    """Copy a full run's PNGs into docs/figures/ and return markdown links to them."""
    if record["mode"] != "full" or record["rc"] != 0:
        return []
    links = []
    for png in record["pngs"]:
        source = STORE / "full" / record["name"] / png
        if not source.exists():
            continue
        target = FIGURES / f"{record['name']}_{png}"
        FIGURES.mkdir(exist_ok=True)
        shrink_png(source, target)
        size = target.stat().st_size
        if size > 200_000:
            print(f"warning: {target.relative_to(ROOT)} is {size // 1000} KB", file=sys.stderr)
        links.append(f"[{png}](figures/{target.name})")
    return links


def shrink_png(source, target):
    """Copy a plot, reduced to a 256-colour palette when Pillow is there (matplotlib brings it):
    line plots have few colours, so this looks the same at about a third of the size."""
    try:
        from PIL import Image
        with Image.open(source) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                                  dither=Image.Dither.NONE)
            small.save(target, optimize=True)
        if target.stat().st_size < source.stat().st_size:
            return
    except (ImportError, AttributeError, OSError):
        pass
    shutil.copyfile(source, target)


def status(record):
    if record["rc"] == 0:
        return None
    if record["rc"] == "timeout":
        return "**did not finish** within the time limit"
    return f"**failed** (exit status {record['rc']})"


def render(records, quick=False):
    names = [n for n in example_names() if n in records] + sorted(set(records) - set(example_names()))
    cpu = _cpu_name()
    lines = [
        "# Results of the examples" + (" (quick runs: smoke tests, not results)" if quick else ""),
        "",
        f"Generated by `python docs/make_results.py{' --quick' if quick else ''}` (do not edit by hand): every `examples/*.py` run as "
        "its own process with `OMP_NUM_THREADS=1` on a 2-core CPU "
        f"({cpu}) that was also running other jobs, so the times are indicative only. "
        "*quick* runs (`--quick`) are smoke tests of a few training steps: their numbers show "
        "that the script works, not what the method achieves; *full* runs use each example's defaults.",
        "",
        "| example | mode | headline figures | command | wall time | `--quick` time | plot |",
        "|---|---|---|---|---|---|---|",
    ]
    links = {name: figure_links(records[name]) for name in names}
    for name in names:
        r = records[name]
        head = status(r) or headline(name, r["tables"]) or "see its tables below"
        plot = ", ".join(links[name]) if links[name] else ("(quick run: not kept)" if r["mode"] == "quick" else "-")
        lines.append(f"| [{name}](#{name}) | {r['mode']} | {head.replace('|', chr(92) + '|')} | "
                     f"`{r['command']}` | {_duration(r['seconds'])} | "
                     f"{'-' if r.get('quick_seconds') is None else _duration(r['quick_seconds'])} | {plot} |")
    lines.append("")
    for name in names:
        r = records[name]
        lines += [f"## {name}", "",
                  f"`{r['command']}`: {r['mode']} mode, {_duration(r['seconds'])} wall time, run {r['date']}.", ""]
        if quick:                   # what each quick run says about itself (smoke test or not)
            lines += [f"> {line.removeprefix('NOTE ')}" for line in r["stdout"].splitlines()
                      if line.startswith(("NOTE --quick", "--quick"))] + [""]
        if status(r):
            lines += [status(r) + ". Last lines of its error output:", "", "```",
                      "\n".join(r["stderr_tail"].splitlines()[-15:]), "```", ""]
        for table in r["tables"]:
            if table["title"]:
                lines += [f"*{table['title']}*", ""]
            lines += [markdown_table(table), ""]
        if not r["tables"] and r["rc"] == 0:
            lines += ["(no table found in its output)", ""]
        for link in links[name]:
            target = link[link.index("(") + 1:-1]
            lines += [f"![{name}]({target})", ""]
    return "\n".join(lines).rstrip() + "\n"


def keep_previous(new, previous, records):
    """``new`` (a rendered results.md) plus the rows and sections of ``previous`` (the
    published one) for examples that have no saved full run here, so that a partial run
    (``--only``, or a fresh checkout whose runs/ is empty) does not drop the others."""
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| \[(\w+)\]\(#\w+\) \|.*$", previous, re.M)}
    sections = {m.group(1): m.group(0).rstrip("\n") for m in re.finditer(r"^## (\w+)\n.*?(?=^## |\Z)", previous, re.M | re.S)}
    missing = [name for name in rows if name not in records]
    if not missing:
        return new
    head, sep, body = new.partition("\n\n## ")
    head = head.rstrip("\n") + "\n" + "\n".join(rows[name] for name in missing)
    body = (sep + body).rstrip("\n")
    tail = "\n\n".join(sections[name] for name in missing if name in sections)
    return head + body + "\n\n" + tail + "\n"


QUOTE = re.compile(r"(<!-- results (\w+) table (\d+) -->\n)(.*?)(<!-- end results -->)", re.S)


def refresh_quotes(records):
    """Rewrite the example tables quoted in the docs pages between
    ``<!-- results NAME table K -->`` and ``<!-- end results -->`` (K counts from 1) with the
    latest *full* run of NAME; quick runs never replace them. Returns the pages changed."""
    changed = []
    for page in sorted(DOCS.glob("*.md")):
        if page == RESULTS:
            continue
        text = page.read_text()

        def replace(match):
            r = records.get(match.group(2))
            k = int(match.group(3)) - 1
            if r is None or r["mode"] != "full" or r["rc"] != 0 or k >= len(r["tables"]):
                return match.group(0)
            note = f"<sub>`{r['command']}`, {_duration(r['seconds'])}, {r['date']}</sub>"
            return match.group(1) + markdown_table(r["tables"][k]) + "\n\n" + note + "\n" + match.group(5)

        new = QUOTE.sub(replace, text)
        if new != text:
            page.write_text(new)
            changed.append(page.name)
    return changed


def _duration(seconds):
    seconds = float(seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _cpu_name():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every example")
    parser.add_argument("--only", default=None, help="comma-separated examples to run (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated examples not to run")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per example (default: 300 quick, 1800 full)")
    parser.add_argument("--render", action="store_true",
                        help="run nothing; rewrite results.md (with --quick: quick.md) from saved runs")
    args = parser.parse_args(argv)
    if not args.render:
        names = example_names() if args.only is None else [n.strip() for n in args.only.split(",")]
        skip = {n.strip() for n in args.skip.split(",") if n.strip()}
        unknown = [n for n in names if n not in example_names()]
        if unknown:
            parser.error(f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(example_names())}")
        timeout = args.timeout or (300 if args.quick else 1800)
        for name in names:
            if name in skip:
                continue
            print(f"{name} ({'quick' if args.quick else 'full'}) ...", end=" ", flush=True)
            r = run_example(name, args.quick, timeout)
            print(f"{r['seconds']:.1f} s, " + (status(r) or f"{len(r['tables'])} table(s)"), flush=True)
    write_pages(args.quick)


def write_pages(quick):
    """Quick: runs/make_results/quick.md only. Full: docs/results.md and the quoted tables."""
    records = load_records("quick" if quick else "full")
    if not records:
        raise SystemExit(f"no saved {'quick' if quick else 'full'} runs: run without --render first")
    target = STORE / "quick.md" if quick else RESULTS
    text = render(records, quick=quick)
    if not quick and RESULTS.exists():
        text = keep_previous(text, RESULTS.read_text(), records)
    target.write_text(text)
    print(f"wrote {target} ({len(records)} examples)")
    if quick:
        print("(docs/results.md is written by full runs only)")
        return
    for name in refresh_quotes(records):
        print(f"updated the quoted tables in docs/{name}")


if __name__ == "__main__":
    main()
