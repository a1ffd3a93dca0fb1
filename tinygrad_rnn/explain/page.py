"""The self-contained HTML page: the text coloured by one unit, the top units per property, and
the model's next-character distribution on hover. No server, no network, no framework: the
colours of the default unit are in the HTML itself, and a short inline script recolours the text
for another unit (menu, or ``page.html#unit=L1.c17``) and adds the hover information.
"""
import html
import json

import numpy as np

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 70em; }
#text { font-family: monospace; font-size: 14px; line-height: 1.5; white-space: pre-wrap;
        border: 1px solid #ccc; padding: 0.6em; }
#hover { font-family: monospace; min-height: 1.4em; background: #f4f4f4; padding: 0.3em; }
table { border-collapse: collapse; margin-top: 1em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; font-size: 13px; }
.key span { padding: 0 0.6em; }
"""

_SCRIPT = """
const colour = (q) => {
  const k = Math.abs(q), s = 255 - Math.floor(k * 18 / 10);
  return q >= 0 ? `rgb(${s}, ${255 - Math.floor(k * 9 / 10)}, 255)` : `rgb(255, ${s}, ${s})`;
};
const spans = document.querySelectorAll("#text span");
let current = DEFAULT;
const describe = (i) => NEXT[i].map(([c, p]) => JSON.stringify(c) + " " + p + "%").join(", ");
function show(name) {
  current = name;
  const q = UNITS[name];
  spans.forEach((s, i) => { s.style.background = colour(q[i]); });
  document.getElementById("unit").value = name;
  document.getElementById("status").textContent = "showing unit " + name;
  document.body.dataset.unit = name;
}
function fromHash() {
  const m = location.hash.match(/unit=([\\w.]+)/);
  show(m && UNITS[m[1]] ? m[1] : DEFAULT);
}
spans.forEach((s, i) => {
  s.title = "next: " + describe(i);
  s.addEventListener("mouseover", () => {
    document.getElementById("hover").textContent = "after " + JSON.stringify(s.textContent) + ": " +
      describe(i) + "  |  " + current + " = " + (UNITS[current][i] / 100).toFixed(2) + " of its max";
  });
});
document.getElementById("unit").addEventListener("change", (e) => { location.hash = "unit=" + e.target.value; });
window.addEventListener("hashchange", fromHash);
fromHash();
document.body.dataset.ready = "1";
"""


def quantise(column):
    """Activations of one unit as integers in [-100, 100] (100 = its largest magnitude here)."""
    scale = np.abs(column).max()
    scaled = column / scale * 100 if scale > 0 else np.zeros_like(column)
    return np.clip(np.floor(scaled + 0.5), -100, 100).astype(int)


def colour(q):
    """CSS colour of a quantised activation: white at 0, blue when positive, red when negative
    (the same integer formula as the page's script, so both give the same colours)."""
    k = abs(int(q))
    s = 255 - k * 18 // 10
    return f"rgb({s}, {255 - k * 9 // 10}, 255)" if q >= 0 else f"rgb(255, {s}, {s})"


def _json(value):
    """JSON that is safe inside a <script> element."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")


def _table(ranking):
    rows = ["<tr><th>property</th><th>chance level |r|</th><th>top units (Pearson r)</th></tr>"]
    for prop, info in ranking.items():
        if info is None:
            rows.append(f"<tr><td>{html.escape(prop)}</td><td colspan=2>not present in this text</td></tr>")
            continue
        units = " ".join(f'<a class="u" href="#unit={n}">{n}</a>&nbsp;{r:+.3f}' for n, r in info["top"])
        rows.append(f"<tr><td>{html.escape(prop)}</td><td>{info['chance']:.3f}</td><td>{units}</td></tr>")
    return "<table id=\"units\">" + "".join(rows) + "</table>"


def build_page(text, names, acts, probs, tokens, ranking, title, default=None, top_next=5):
    """The page as a string. ``acts`` (T x U) and ``names`` are the recorded units, ``probs``
    (T x V) the next-character distributions, ``tokens`` the vocabulary's characters,
    ``ranking`` the output of ``rank_units``. Only the listed units' activations are embedded."""
    listed = []
    for info in ranking.values():
        for name, _ in (info or {}).get("top", []):
            if name not in listed:
                listed.append(name)
    default = default or (listed[0] if listed else names[0])
    if default not in listed:
        listed.insert(0, default)
    column = {n: i for i, n in enumerate(names)}
    units = {n: quantise(acts[:, column[n]]).tolist() for n in listed}
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top_next]
    nxt = [[[tokens[j], int(np.floor(probs[t, j] * 100 + 0.5))] for j in row] for t, row in enumerate(order)]
    q = units[default]
    spans = "".join(f'<span style="background:{colour(q[t])}">{html.escape(ch)}</span>' for t, ch in enumerate(text))
    options = "".join(f'<option value="{n}"{" selected" if n == default else ""}>{n}</option>' for n in listed)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{len(text):,} characters, {len(names):,} units recorded (hidden <code>h</code> and, for an LSTM, cell
<code>c</code>, per layer). Colour: <span class="key"><span style="background:{colour(100)}">positive</span>
<span style="background:{colour(0)}">zero</span><span style="background:{colour(-100)}">negative</span></span>,
relative to the unit's largest magnitude. Hover a character for the model's next-character distribution.</p>
<p><label>Unit: <select id="unit">{options}</select></label> <span id="status">showing unit {default}</span></p>
<div id="hover">hover over the text</div>
<pre id="text">{spans}</pre>
<h2>Units that track each property</h2>
<p>Pearson correlation of each unit with the property over this text; the chance level is the best
|r| of any unit once the property is shifted in time (alignment broken).</p>
{_table(ranking)}
<script>
const UNITS = {_json(units)};
const NEXT = {_json(nxt)};
const DEFAULT = {_json(default)};
{_SCRIPT}</script>
</body></html>
"""
