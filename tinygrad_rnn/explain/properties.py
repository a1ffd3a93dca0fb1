"""Simple properties of a text, one number per character, and how well each unit tracks them.

Each property is the value *after reading* character ``t`` (what the model's state at ``t``
could know), or NaN where it is undefined (e.g. "a vowel comes next" when no letter comes
next). A property that does not vary in the text (Tiny Shakespeare has no double quotes and no
parentheses) cannot be correlated and is reported as absent.
"""
import re

import numpy as np

VOWELS = set("aeiouAEIOU")
_SPEAKER = re.compile(r"^[A-Z][A-Za-z' ]*:$")


def _toggle(text, opening, closing):
    """1 while inside an ``opening ... closing`` pair (nesting counted), else 0."""
    depth, out = 0, np.zeros(len(text))
    for t, ch in enumerate(text):
        if ch == opening and (opening != closing or depth == 0):
            depth += 1
        elif ch == closing and depth > 0:
            depth -= 1
        out[t] = depth > 0
    return out


def _lines(text):
    """(line start, line end) for each character's line (end: index of its newline or len)."""
    starts, ends = np.zeros(len(text), dtype=np.int64), np.zeros(len(text), dtype=np.int64)
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        starts[pos:end + 1], ends[pos:end + 1] = pos, end
        pos = end + 1
    return starts, ends


def text_properties(text):
    """name -> float array (len(text)), NaN where undefined."""
    n = len(text)
    idx = np.arange(n)
    starts, ends = _lines(text)
    speaker = np.zeros(n)
    for m in re.finditer(r"[^\n]*", text):
        if m.group() and _SPEAKER.match(m.group()):
            speaker[m.start():m.end()] = 1.0
    nxt = text[1:] + " "
    vowel_next = np.array([1.0 if c in VOWELS else (0.0 if c.isalpha() else np.nan) for c in nxt])
    in_word = np.array([1.0 if c.isalpha() else 0.0 for c in text])
    word_pos = np.zeros(n)
    for t in range(n):
        word_pos[t] = word_pos[t - 1] + 1 if t and in_word[t] and in_word[t - 1] else in_word[t]
    return {
        "inside double quotes": _toggle(text, '"', '"'),
        "inside parentheses": _toggle(text, "(", ")"),
        "position in line": (idx - starts).astype(float),
        "characters to line end": (ends - idx).astype(float),
        "speaker name line": speaker,
        "vowel next": vowel_next,
        "inside a word": in_word,
        "position in word": word_pos,
    }


def correlations(acts, prop):
    """Pearson r of every unit (columns of ``acts``, T x U) with ``prop`` over its defined
    positions; 0 for a unit that does not vary; None when ``prop`` itself does not vary."""
    ok = ~np.isnan(prop)
    if ok.sum() < 3:
        return None
    p = prop[ok] - prop[ok].mean()
    if not np.any(p):
        return None
    a = acts[ok] - acts[ok].mean(axis=0)
    norm = np.sqrt((a * a).sum(axis=0)) * np.sqrt((p * p).sum())
    return np.where(norm > 0, (a.T @ p) / np.where(norm > 0, norm, 1.0), 0.0)


def chance_level(acts, prop, shifts=5, seed=0):
    """The best |r| that any unit reaches with the property shifted in time by a random amount
    (same statistics, alignment broken): what "better than chance" must beat."""
    rng = np.random.default_rng(seed)
    best = 0.0
    for shift in rng.integers(len(prop) // 4, 3 * len(prop) // 4, size=shifts):
        r = correlations(acts, np.roll(prop, int(shift)))
        if r is not None:
            best = max(best, float(np.abs(r).max()))
    return best


def rank_units(acts, names, text, top=5):
    """For each property: its top units [(name, r)] by |r|, its chance level, and the full r
    vector; absent properties map to None."""
    out = {}
    for prop_name, prop in text_properties(text).items():
        r = correlations(acts, prop)
        if r is None:
            out[prop_name] = None
            continue
        order = np.argsort(-np.abs(r), kind="stable")[:top]
        out[prop_name] = {"top": [(names[i], float(r[i])) for i in order],
                          "chance": chance_level(acts, prop), "r": r}
    return out
