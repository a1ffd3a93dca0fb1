"""Pictures of a recorded graph, micrograd-style: every node with its value and its gradient.

    nodes, edges = graph_values(loss, params=dict(cell.named_parameters()))   # runs backward
    svg = graph_svg(nodes, edges)              # Graphviz `dot` if installed, else the layout here
    save_graph_svg(loss, "graph.svg", params=...)

``graph_values`` keeps the tensors that ``build_graph`` finds, asks each intermediate one to
``retain_grad()``, runs ``loss.backward()`` and adds ``value`` and ``grad`` to every node.
``graph_svg`` draws the result. Graphviz lays out big graphs better, but it is an extra
program; the small layered layout in this module needs nothing, so the picture always exists
(and is byte-for-byte reproducible, which is how docs/figures/ keeps it from drifting).
"""
import html
import shutil
import subprocess

import numpy as np

from .graph import build_graph
from tinygrad_rnn.tensor import Tensor

FILL = {"param": "#cfe8fc", "leaf": "#fffbd6", "input": "#eeeeee", "op": "#ffffff"}
CHAR_W, LINE_H, PAD, GAP_X, GAP_Y = 6.6, 14, 6, 46, 16


def graph_values(loss, params=None, max_nodes=500):
    """``build_graph(loss, params)`` with ``value`` and ``grad`` (NumPy arrays, or None where
    there is no gradient) on every node. Runs ``loss.backward()`` (so zero the parameters'
    gradients first if they must start from zero); ``loss`` must have one element."""
    nodes, edges = build_graph(loss, params, max_nodes)
    outputs = _node_tensors(loss)
    for tensors in outputs.values():
        for t in tensors.values():
            if t.creator is not None:
                t.retain_grad()
    loss.backward()
    for key, node in nodes.items():
        tensors = [t for _, t in sorted(outputs.get(key, {}).items())]
        node["value"] = _flat([t.numpy() for t in tensors])
        grads = [t.grad.numpy() for t in tensors if t.grad is not None]
        node["grad"] = _flat(grads) if grads and len(grads) == len(tensors) else None
    return nodes, edges


def _node_tensors(loss):
    """{node key as in build_graph: {output index: tensor}}, found by the same walk."""
    found = {}
    if loss.creator is None:
        return {f"t{id(loss)}": {0: loss}}
    found[f"f{id(loss.creator)}"] = {loss.index: loss}
    queue, seen = [loss.creator], {id(loss.creator)}
    while queue:
        node = queue.pop()
        for p in getattr(node, "parents", ()):
            if not isinstance(p, Tensor):
                continue
            if p.creator is None:
                found[f"t{id(p)}"] = {0: p}
                continue
            found.setdefault(f"f{id(p.creator)}", {})[p.index] = p
            if id(p.creator) not in seen:
                seen.add(id(p.creator))
                queue.append(p.creator)
    return found


def _flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays]) if arrays else None


def format_numbers(values):
    """A short text for a node's numbers: all of them up to four, else the norm."""
    if values is None:
        return "-"
    if values.size <= 4:
        text = ", ".join(f"{v:.4f}" for v in values)
        return text if values.size == 1 else f"[{text}]"
    return f"|.| {np.linalg.norm(values):.4f}"


def node_lines(node):
    """The text lines of one box: name/op, shape, data, grad."""
    shape = node["shape"]
    shape_text = "; ".join(map(str, shape)) if isinstance(shape, list) else str(shape)
    lines = [node["label"], f"shape {shape_text}"]
    if "value" in node:
        lines += [f"data {format_numbers(node['value'])}", f"grad {format_numbers(node['grad'])}"]
    return lines


# ----------------------------------------------------------------------------- layout

def layered_layout(nodes, edges, sweeps=8):
    """{key: (column, row)}: columns by longest path along the data flow, each node then moved
    right to just before its first use (so a step's input sits next to its step), rows ordered by the mean row of the neighbours (barycentre sweeps,
    alternately from the left and from the right) so that edges cross less."""
    preds = {k: [] for k in nodes}
    succs = {k: [] for k in nodes}
    for a, b in edges:
        succs[a].append(b)
        preds[b].append(a)
    column, order = {}, _topological(nodes, preds, succs)
    for key in order:
        column[key] = 1 + max((column[p] for p in preds[key]), default=-1)
    for key in reversed(order):             # then as late as possible: next to the first use
        if succs[key]:
            column[key] = min(column[s] for s in succs[key]) - 1
    shift = min(column.values(), default=0)
    columns = {}
    for key in nodes:                       # the insertion order breaks ties: deterministic
        columns.setdefault(column[key] - shift, []).append(key)
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        neighbours = preds if forward else succs
        for c in sorted(columns, reverse=not forward):
            row = {k: i for col in columns.values() for i, k in enumerate(col)}
            keyed = []
            for i, k in enumerate(columns[c]):
                near = [row[n] for n in neighbours[k]]
                keyed.append((sum(near) / len(near) if near else i, i, k))
            columns[c] = [k for _, _, k in sorted(keyed)]
    return {k: (c, i) for c, col in columns.items() for i, k in enumerate(col)}


def _topological(nodes, preds, succs):
    """Kahn's algorithm over the data flow, ties in insertion order."""
    waiting = {k: len(preds[k]) for k in nodes}
    ready = [k for k in nodes if waiting[k] == 0]
    order = []
    while ready:
        key = ready.pop(0)
        order.append(key)
        for s in succs[key]:
            waiting[s] -= 1
            if waiting[s] == 0:
                ready.append(s)
    return order


def python_svg(nodes, edges, title=None, direction="TB"):
    """An SVG of the graph with the layered layout above: boxes with their lines of text,
    curved edges in the direction of the data, the loss (the root) with a double border.
    ``direction``: "TB" (layers top to bottom: long unrolls stay readable on a web page,
    which scales wide pictures down) or "LR" (left to right)."""
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR', got {direction!r}")
    lines = {k: node_lines(n) for k, n in nodes.items()}
    size = {k: (max(len(s) for s in ls) * CHAR_W + 2 * PAD, len(ls) * LINE_H + 2 * PAD) for k, ls in lines.items()}
    top = 30 if title else 10
    xy, width, height = _positions(layered_layout(nodes, edges), size, direction, top)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="11">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>']
    if title:
        out.append(f'<text x="10" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>')
    for a, b in edges:
        (xa, ya), (xb, yb), (wa, ha), (wb, hb) = xy[a], xy[b], size[a], size[b]
        if direction == "LR":           # from the right side of a to the left side of b
            x1, y1, x2, y2 = xa + wa, ya + ha / 2, xb, yb + hb / 2
            bend = max(20.0, (x2 - x1) / 2)
            c1, c2 = (x1 + bend, y1), (x2 - bend, y2)
        else:                           # from the bottom of a to the top of b
            x1, y1, x2, y2 = xa + wa / 2, ya + ha, xb + wb / 2, yb
            bend = max(20.0, (y2 - y1) / 2)
            c1, c2 = (x1, y1 + bend), (x2, y2 - bend)
        out.append(f'<path d="M{x1:.1f},{y1:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} '
                   f'{x2:.1f},{y2:.1f}" fill="none" stroke="#888" marker-end="url(#arrow)"/>')
    for k, node in nodes.items():
        out += _box(node, lines[k], xy[k], size[k])
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _positions(place, size, direction, top):
    """Top-left corners of the boxes, and the picture's width and height. Layers follow the
    data ("LR": columns, "TB": rows); the boxes of a layer are centred across it."""
    by_layer = {}
    for k, (layer, _) in sorted(place.items(), key=lambda item: item[1]):
        by_layer.setdefault(layer, []).append(k)
    layers = [by_layer[layer] for layer in sorted(by_layer)]
    across, along = (1, 0) if direction == "LR" else (0, 1)     # size index across / along the flow
    gap = GAP_Y if direction == "LR" else GAP_Y / 2
    depth = [max(size[k][along] for k in keys) for keys in layers]
    span = [sum(size[k][across] for k in keys) + gap * (len(keys) - 1) for keys in layers]
    xy = {}
    for n, keys in enumerate(layers):
        offset = (max(span) - span[n]) / 2
        for k in keys:
            a = sum(depth[:n]) + GAP_X * n + (depth[n] - size[k][along]) / 2
            xy[k] = (10 + a, top + offset) if direction == "LR" else (10 + offset, top + a)
            offset += size[k][across] + gap
    extent = sum(depth) + GAP_X * (len(layers) - 1)
    if direction == "LR":
        return xy, 20 + extent, top + max(span) + 10
    return xy, 20 + max(span), top + extent + 10


def _box(node, lines, xy, size):
    (x, y), (w, h) = xy, size
    radius = 6 if node["kind"] == "op" else 0
    border = 2 if node.get("root") else 1
    out = [f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{radius}" '
           f'fill="{FILL[node["kind"]]}" stroke="#333" stroke-width="{border}"/>']
    for i, text in enumerate(lines):
        weight = ' font-weight="bold"' if i == 0 else ""
        out.append(f'<text x="{x + PAD:.1f}" y="{y + PAD + (i + 0.8) * LINE_H:.1f}"{weight}>{html.escape(text)}</text>')
    return out


# ----------------------------------------------------------------------------- Graphviz

def dot_text(nodes, edges, title=None, direction="TB"):
    """The same picture as Graphviz DOT text (one box per node)."""
    out = ["digraph autograd {", f"  rankdir={direction};", '  node [fontname="monospace", fontsize=10, shape=box];']
    if title:
        out.append(f'  labelloc="t"; label="{_dot_escape(title)}";')
    names = {k: f"n{i}" for i, k in enumerate(nodes)}
    for k, node in nodes.items():
        label = "\\l".join(_dot_escape(s) for s in node_lines(node)) + "\\l"
        style = "rounded,filled" if node["kind"] == "op" else "filled"
        extra = ", peripheries=2" if node.get("root") else ""
        out.append(f'  {names[k]} [label="{label}", style="{style}", fillcolor="{FILL[node["kind"]]}"{extra}];')
    out += [f"  {names[a]} -> {names[b]};" for a, b in edges]
    return "\n".join(out + ["}"]) + "\n"


def _dot_escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')


def graph_svg(nodes, edges, title=None, engine="auto", direction="TB"):
    """SVG text of a graph from ``graph_values`` (or ``build_graph``). ``engine``: "dot"
    (Graphviz, must be installed), "python" (the layout in this module) or "auto" (dot when
    the ``dot`` program is on the PATH, else python). ``direction``: "TB" or "LR"."""
    if engine not in ("auto", "dot", "python"):
        raise ValueError(f"engine must be 'auto', 'dot' or 'python', got {engine!r}")
    if engine == "dot" or (engine == "auto" and shutil.which("dot")):
        if not shutil.which("dot"):
            raise RuntimeError("engine='dot' needs Graphviz's dot program on the PATH; use engine='python'")
        done = subprocess.run(["dot", "-Tsvg"], input=dot_text(nodes, edges, title, direction),
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout
    return python_svg(nodes, edges, title, direction)


def save_graph_svg(loss, path, params=None, title=None, engine="auto", direction="TB"):
    """Run backward on ``loss`` and write the picture of its graph, values and gradients to
    ``path``. Returns the (nodes, edges) drawn."""
    nodes, edges = graph_values(loss, params)
    with open(path, "w", encoding="utf-8") as f:
        f.write(graph_svg(nodes, edges, title, engine, direction))
    return nodes, edges
