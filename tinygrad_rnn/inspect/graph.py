"""The recorded graph behind a tensor, as plain data (``build_graph``) and as Graphviz DOT
text (``to_dot``). Works for any graph, not only RNNs: it walks ``Tensor.creator`` links."""
from ..tensor import Tensor


def build_graph(tensor, params=None, max_nodes=500):
    """The recorded graph behind ``tensor`` as plain data: ``(nodes, edges)``.

    ``nodes``: {node id: dict(kind, label, op, shape, name)} with kind ``"op"`` (a Function,
    ``op`` its class name, ``shape`` its output shape(s)), ``"param"`` (a leaf named in
    ``params``), ``"leaf"`` (another leaf that requires grad) or ``"input"`` (a tensor that
    needs no gradient: data, or a constant). ``edges``: list of (source id, target id) in the
    direction data flows, one per use (a weight used by T matmuls has T out-edges).
    ``params`` maps names to tensors (``dict(model.named_parameters())``); a non-leaf tensor
    named there labels its op (``{"h_3": h3}``). At most ``max_nodes`` nodes are expanded; the
    rest is cut and the ops at the edge are marked ``truncated``.

    The graph must not have been consumed by ``backward()`` (use ``retain_graph=True``)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"build_graph needs a Tensor, got {type(tensor).__name__}")
    walk = _Walk({id(t): name for name, t in (params or {}).items() if isinstance(t, Tensor)})
    if tensor.creator is None:
        walk.leaf_node(tensor)
        return walk.nodes, walk.edges
    if tensor.creator.released:
        raise RuntimeError("this graph was freed by backward(); build it again, or call "
                           "backward(retain_graph=True) before drawing it")
    walk.run(tensor, max_nodes)
    known = set(walk.nodes)
    return walk.nodes, [(a, b) for a, b in walk.edges if a in known and b in known]


class _Walk:
    """Breadth-first walk from the root op over ``Function.parents``, collecting nodes and edges."""

    def __init__(self, names):
        self.names, self.nodes, self.edges = names, {}, []
        self.out_shapes, self.op_names = {}, {}

    def leaf_node(self, t):
        key = f"t{id(t)}"
        if key not in self.nodes:
            name = self.names.get(id(t))
            kind = "param" if name is not None else ("leaf" if t.requires_grad else "input")
            self.nodes[key] = {"kind": kind, "label": name or ("leaf" if kind == "leaf" else "input"),
                               "op": None, "shape": tuple(t.shape), "name": name}
        return key

    def _note_output(self, t):
        """Remember the shape (and a name given in ``params``) of an op's output ``t``."""
        self.out_shapes.setdefault(id(t.creator), {})[t.index] = tuple(t.shape)
        if id(t) in self.names:
            self.op_names[id(t.creator)] = self.names[id(t)]

    def run(self, tensor, max_nodes):
        root = tensor.creator
        self._note_output(tensor)
        queue, seen, truncated = [root], {id(root)}, set()
        for node in queue:                      # the queue grows while we walk it
            if len(seen) + len(self.nodes) > max_nodes:   # ops found + leaves found
                truncated.add(id(node))
                continue
            for p in getattr(node, "parents", ()):
                if not isinstance(p, Tensor):
                    continue
                if p.creator is None:
                    self.edges.append((self.leaf_node(p), f"f{id(node)}"))
                    continue
                self._note_output(p)
                self.edges.append((f"f{id(p.creator)}", f"f{id(node)}"))
                if id(p.creator) not in seen:
                    seen.add(id(p.creator))
                    queue.append(p.creator)
        for node in queue:
            self._op_node(node, truncated, root)

    def _op_node(self, node, truncated, root):
        declared = getattr(node, "output_shapes", None)
        shape = [tuple(s) for s in declared] if declared else self.out_shapes.get(id(node), {}).get(0)
        op, name = type(node).__name__, self.op_names.get(id(node))
        self.nodes[f"f{id(node)}"] = {"kind": "op", "op": op, "shape": shape, "name": name,
                                      "label": op if name is None else f"{name} = {op}",
                                      "truncated": id(node) in truncated, "root": node is root}


def _shape_text(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join(map(str, shape)) + ")"


def _escape(text):
    return text.replace('"', '\\"')


_LEAF_STYLE = {"param": 'shape=box, style="filled", fillcolor="lightblue"',
               "leaf": 'shape=box, style="filled", fillcolor="lightyellow"',
               "input": 'shape=ellipse, style="filled", fillcolor="grey90", color="grey50"'}


def to_dot(tensor, params=None, max_nodes=500, rankdir="LR", title=None):
    """Graphviz DOT text of the graph that produced ``tensor`` (no Graphviz needed to make it;
    render with ``dot -Tsvg graph.dot > graph.svg`` or paste into an online viewer).

    Ops are rounded boxes labelled with their Function's name and output shape; parameters
    (named by ``params=dict(model.named_parameters())``) are filled boxes, other leaves that
    need gradients plain boxes, inputs and constants grey ellipses. Edges follow the data, one
    per use: in an unrolled RNN the weight ``weight_hh_l0`` is one node with T out-edges, and
    backward will add the T gradients coming back along them. See ``build_graph``."""
    nodes, edges = build_graph(tensor, params, max_nodes)
    lines = ["digraph autograd {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10];']
    if title:
        lines.append(f'  labelloc="t"; label="{_escape(title)}";')
    for key, n in nodes.items():
        label = f"{n['label']}\\n{_shape_text(n['shape'])}"
        if n["kind"] == "op":
            attrs = 'shape=box, style="rounded"'
            if n.get("root"):
                attrs = 'shape=box, style="rounded,bold", peripheries=2'
            if n.get("truncated"):
                attrs = 'shape=box, style="rounded,dashed"'
                label += "\\n(inputs not drawn)"
        else:
            attrs = _LEAF_STYLE[n["kind"]]
        lines.append(f'  {key} [label="{_escape(label)}", {attrs}];')
    lines.extend(f"  {a} -> {b};" for a, b in edges)
    lines.append("}")
    return "\n".join(lines) + "\n"
