"""Backpropagation through time, made visible: tools for looking inside an unrolled RNN.

    from tinygrad_rnn import bptt
    trace = bptt.trace_hidden_grads(lstm, x, lambda out: out[0][-1].sum())
    trace["dh"]["l0"]                  # (T, B): ||dL/dh_t|| of layer 0 at every step
    bptt.step_jacobian_norms(cell, x, h0)   # (T,): ||dh_t / dh_{t-1}||, one per step
    print(bptt.to_dot(loss, params=dict(model.named_parameters())))   # Graphviz text
    bptt.shared_weight_demo()          # dL/dW_hh = sum over t of each step's share

What each tool shows:

- ``trace_hidden_grads``: the gradient reaching every hidden state h_t. Where a loss sits at
  the end of a sequence, ||dL/dh_t|| against T - t is the picture of vanishing (tanh RNN) or
  surviving (LSTM, GRU) gradients.
- ``step_jacobian_norms``: why they vanish: dL/dh_{t-1} = J_t^T dL/dh_t with the one-step
  Jacobian J_t = dh_t/dh_{t-1}; a product of Jacobians whose norms stay below 1 shrinks
  geometrically. For a tanh RNN J_t = diag(1 - h_t^2) W_hh.
- ``to_dot``: the graph autograd records for an unrolled network. One weight node with T
  out-edges is the "shared weight" of BPTT: backward sums the T gradients flowing into it.
- ``shared_weight_demo``: that sum, checked numerically step by step.

Two ways to get dL/dh_t, held equal by tests/test_bptt.py:

- the *composite unroll* (``unroll``): the layer's own step functions (``nn.modules.rnn.rnn_step``,
  ``lstm_step``, ``gru_step``: the textbook equations from primitive ops) looped here over time
  with the layer's own parameters, with ``retain_grad()`` on every h_t. It works for every
  layer whatever its ``impl``, because it only reads the parameters;
- the fused layers' own record (``impl="fused"``, the default): their hand-written BPTT loop
  computes dL/dh_t anyway and stores it when ``layer.trace`` is a dict.
"""
import numpy as np

from . import backend
from .function import Function
from .nn import functional as F
from .nn.modules import rnn as R
from .tensor import Tensor, cat, stack

__all__ = ["cell_step", "unroll", "trace_hidden_grads", "step_jacobians",
           "step_jacobian_norms", "build_graph", "to_dot", "shared_weight_demo", "plot_grad_norms"]


# ----------------------------------------------------------------------------- reading a layer

def _kind(module):
    """'lstm', 'gru' or 'rnn' for a torch-style cell or layer (by its ``mode`` or class name)."""
    mode = str(getattr(module, "mode", "") or type(module).__name__).upper()
    for kind in ("LSTM", "GRU"):
        if kind in mode:
            return kind.lower()
    if "RNN" in mode:
        return "rnn"
    raise TypeError(f"{type(module).__name__} is not an RNN, LSTM or GRU cell or layer")


def _layer_params(layer, k, direction=0):
    """(w_ih, w_hh, b_ih, b_hh, w_hr) of layer ``k`` and ``direction`` (1 = reverse), by
    PyTorch's names (weight_ih_l0, bias_hh_l1_reverse, weight_hr_l0, ...); absent ones None."""
    suffix = f"_l{k}" + ("_reverse" if direction else "")
    params = tuple(getattr(layer, name + suffix, None)
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))
    if params[0] is None or params[1] is None:
        raise AttributeError(f"{type(layer).__name__} has no weight_ih{suffix} / weight_hh{suffix}")
    return params


def cell_step(kind, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, nonlinearity="tanh"):
    """``step(x_t, state) -> state`` for one layer and direction, from the composite step
    functions of ``nn.rnn`` (``rnn_step``, ``lstm_step``, ``gru_step``: the equations written
    with primitive ops). x_t (B, I); state h (B, Hout), or (h, c) for ``kind="lstm"``."""
    if kind == "rnn":
        return lambda x_t, h: R.rnn_step(F.linear(x_t, w_ih, b_ih), h, w_hh, b_hh, nonlinearity)
    if kind == "gru":
        return lambda x_t, h: R.gru_step(F.linear(x_t, w_ih, b_ih), h, w_hh, b_hh)
    if kind == "lstm":
        return lambda x_t, s: R.lstm_step(F.linear(x_t, w_ih, b_ih), s[0], s[1], w_hh, b_hh, w_hr)
    raise ValueError(f"kind must be 'rnn', 'lstm' or 'gru', got {kind!r}")


def _layer_step(layer, k, direction=0):
    w_ih, w_hh, b_ih, b_hh, w_hr = _layer_params(layer, k, direction)
    return cell_step(_kind(layer), w_ih, w_hh, b_ih, b_hh, w_hr, getattr(layer, "nonlinearity", "tanh"))


def _as_tensor(x, like=None):
    if isinstance(x, Tensor):
        return x
    device = like.device if isinstance(like, Tensor) else None
    dtype = like.dtype if isinstance(like, Tensor) else None
    return Tensor(backend.to_numpy(x) if device is None else x, dtype=dtype, device=device)


def unroll(layer, x, hx=None, lengths=None):
    """Run a torch-style RNN/LSTM/GRU layer step by step from primitive ops, with its parameters.

    Returns ``(output, states)``: ``output`` is what ``layer(x, hx, lengths=lengths)`` returns
    (``(y, h_n)``, or ``(y, (h_n, c_n))`` for an LSTM) and ``states[key]`` is the list of the T
    hidden-state Tensors h_t of each layer and direction, in time order, keyed ``"l0"``,
    ``"l0_reverse"``, ``"l1"``, ... (PyTorch's parameter suffixes).

    Why not the layer itself: its composite path keeps the h_t inside its loop, so nothing
    outside can call ``retain_grad()`` on them; this runs the same step functions
    (``nn.modules.rnn.rnn_step`` / ``lstm_step`` / ``gru_step``) on the same Parameters, so the graph
    and the gradients are the layer's. Honoured: ``num_layers``, ``bidirectional``,
    ``batch_first``, ``proj_size``, ``residual``, ``bias``. Not applied: dropout between layers
    (trace in ``eval()`` mode, or with ``dropout=0``).

    Shapes as ``layer``: x (T, B, I) or (B, T, I) when ``layer.batch_first``; hx (L*D, B, Hout)
    (and c0 (L*D, B, H) for an LSTM) or None for zeros; ``lengths`` (B,) marks padded steps,
    which carry the state unchanged and output zeros (the reverse direction starts at each
    sequence's last real step, so before that its state is still h0).
    """
    kind = _kind(layer)
    L = int(getattr(layer, "num_layers", 1))
    D = 2 if getattr(layer, "bidirectional", False) else 1
    x = _as_tensor(x)
    if getattr(layer, "batch_first", False):
        x = x.transpose(0, 1)
    T, B = x.shape[0], x.shape[1]
    valid = None
    if lengths is not None:
        lengths = np.asarray(backend.to_numpy(lengths.data if isinstance(lengths, Tensor) else lengths))
        if not (lengths == T).all():
            valid = backend.to_device((np.arange(T)[:, None] < lengths[None, :])[:, :, None], x.device)
    h0, c0 = hx if isinstance(hx, (tuple, list)) else (hx, None)
    xp = backend.array_module(x.data)
    states, finals_h, finals_c = {}, [], []
    layer_input = x
    for k in range(L):
        outputs = []
        for d in range(D):
            w_ih, w_hh, _, _, w_hr = _layer_params(layer, k, d)
            step = _layer_step(layer, k, d)
            hout, H = w_hh.shape[1], (w_hr.shape[1] if w_hr is not None else w_hh.shape[1])
            h = Tensor(xp.zeros((B, hout), dtype=x.dtype)) if h0 is None else _as_tensor(h0, x)[k * D + d]
            c = None
            if kind == "lstm":
                c = Tensor(xp.zeros((B, H), dtype=x.dtype)) if c0 is None else _as_tensor(c0, x)[k * D + d]
            hs = [None] * T
            for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
                new_h, new_c = step(layer_input[t], (h, c)) if kind == "lstm" else (step(layer_input[t], h), None)
                if valid is not None:       # a padded step keeps the state
                    new_h = _where(valid[t], new_h, h)
                    new_c = None if c is None else _where(valid[t], new_c, c)
                h, c = new_h, new_c
                hs[t] = h
            states[f"l{k}" + ("_reverse" if d else "")] = hs
            y = stack(hs, axis=0)
            if valid is not None:
                y = _where(valid, y, 0.0)
            outputs.append(y)
            finals_h.append(h)
            finals_c.append(c)
        out = outputs[0] if D == 1 else cat(outputs, axis=-1)
        if getattr(layer, "residual", False) and k > 0:
            out = out + layer_input
        layer_input = out
    y = layer_input
    if getattr(layer, "batch_first", False):
        y = y.transpose(0, 1)
    h_n = stack(finals_h, axis=0)
    if kind == "lstm":
        return (y, (h_n, stack(finals_c, axis=0))), states
    return (y, h_n), states


def _where(cond, a, b):
    from .ops.elementwise import Where
    return Where.apply(cond, a, b)


# ----------------------------------------------------------------------------- dL/dh_t per step

def trace_hidden_grads(layer, x, loss_fn, hx=None, lengths=None, method="auto"):
    """The gradient dL/dh_t reaching every hidden state of every layer and direction.

    ``loss_fn(output) -> scalar Tensor`` receives what ``layer(x, hx)`` returns: ``(y, h_n)``,
    or ``(y, (h_n, c_n))`` for an LSTM. dL/dh_t is the *total* gradient of the state after step
    t: from the output y_t (and the layers above) plus from step t+1 (and from h_n at t = T).

    ``method``:
      ``"unroll"``  run the layer as a composite unroll (``unroll``) with the layer's own
                    parameters and call ``retain_grad()`` on every h_t. Works for every layer
                    whatever its ``impl``: the reference.
      ``"layer"``   run the layer itself and read its own per-step record: the fused layers
                    (``impl="fused"``, the default) store dL/dh_t from their hand-written BPTT
                    loop when ``layer.trace`` is a dict (see ``_trace_layer``); raises for
                    other impls ("composite" and "cell" keep the h_t inside their loop).
      ``"auto"``    ``"layer"`` where the layer offers it, else ``"unroll"``.

    With ``lengths``, dL/dh_t is reported as 0 at padded steps (t >= lengths[b]).

    Returns a dict: ``"dh"`` {key: (T, B) NumPy array of ||dL/dh_t||}, ``"grads"`` {key:
    (T, B, Hout) NumPy array of dL/dh_t}, ``"loss"`` (float) and ``"method"`` (the one used);
    keys are ``"l0"``, ``"l0_reverse"``, ``"l1"``, ... Time runs along axis 0 in every
    direction (entry t is the state after reading x_t). Parameter gradients are accumulated as
    a normal backward would.
    """
    if method not in ("auto", "unroll", "layer"):
        raise ValueError(f"method must be 'auto', 'unroll' or 'layer', got {method!r}")
    if method in ("auto", "layer"):
        grads, loss = _trace_layer(layer, x, loss_fn, hx, lengths, required=(method == "layer"))
        if grads is not None:
            return _trace_result(_zero_padding(grads, lengths), loss, "layer")
    output, states = unroll(layer, x, hx, lengths)
    for hs in states.values():
        for h in hs:
            if h.requires_grad:
                h.retain_grad()
    loss = loss_fn(output)
    loss.backward()
    grads = {}
    for key, hs in states.items():
        grads[key] = np.stack([backend.to_numpy(h.grad.data) if h.grad is not None
                               else np.zeros(h.shape, dtype=h.dtype) for h in hs])
    return _trace_result(_zero_padding(grads, lengths), float(loss.item()), "unroll")


def _trace_result(grads, loss, method):
    return {"dh": {k: np.linalg.norm(g, axis=-1) for k, g in grads.items()}, "grads": grads,
            "loss": loss, "method": method}


def _trace_layer(layer, x, loss_fn, hx, lengths, required):
    """Run the layer itself and collect the per-step gradients its fused backward records.

    The fused layers (``impl="fused"``) store dL/dh_t in ``layer.trace[(layer, direction)]
    ["dh"]`` when ``layer.trace`` is a dict (the BPTT loop computes it anyway), in the order the
    direction reads the sequence; here the reverse direction is put back in time order.
    Returns (grads dict, loss), or (None, None) when the layer keeps no such record."""
    if not _has_trace(layer):
        if required:
            raise NotImplementedError(f"{type(layer).__name__} with impl={getattr(layer, 'impl', None)!r} "
                                      f"does not record per-step gradients (only impl='fused' does); "
                                      f"use method='unroll'")
        return None, None
    previous, layer.trace = layer.trace, {}
    try:
        output = layer(x, hx) if lengths is None else layer(x, hx, lengths=lengths)
        loss = loss_fn(output)
        loss.backward()
        record = layer.trace
    finally:
        layer.trace = previous
    y = output[0]
    T, B = (y.shape[1], y.shape[0]) if getattr(layer, "batch_first", False) else (y.shape[0], y.shape[1])
    D = 2 if getattr(layer, "bidirectional", False) else 1
    hout = getattr(layer, "proj_size", 0) or layer.hidden_size
    lengths = None if lengths is None else np.asarray(
        backend.to_numpy(lengths.data if isinstance(lengths, Tensor) else lengths))
    grads = {}
    for k in range(int(getattr(layer, "num_layers", 1))):
        for d in range(D):
            dh = record.get((k, d), {}).get("dh")
            dh = np.zeros((T, B, hout), dtype=y.dtype) if dh is None else backend.to_numpy(dh).copy()
            if d == 1:                            # reading order -> time order, per sequence
                for b in range(B):
                    n = T if lengths is None else int(lengths[b])
                    dh[:n, b] = dh[:n, b][::-1].copy()
            grads[f"l{k}" + ("_reverse" if d else "")] = dh
    return grads, float(loss.item())


def _has_trace(layer):
    return getattr(layer, "impl", None) == "fused" and hasattr(layer, "trace")


def _zero_padding(grads, lengths):
    """Zero dL/dh_t at padded steps (t >= lengths[b]): no real state lives there, and the
    methods would otherwise disagree on what the carried state's gradient means."""
    if lengths is None:
        return grads
    lengths = np.asarray(backend.to_numpy(lengths.data if isinstance(lengths, Tensor) else lengths))
    for g in grads.values():
        T = g.shape[0]
        g[np.arange(T)[:, None] >= lengths[None, :]] = 0
    return grads


# ----------------------------------------------------------------------------- one-step Jacobians

def _step_callable(cell_or_layer):
    """(step(x_t, state) -> state, kind) for a cell module, a layer (its first layer, forward
    direction, through the composite step) or a plain function (kind from the state given)."""
    if hasattr(cell_or_layer, "weight_ih_l0"):
        layer, kind = cell_or_layer, _kind(cell_or_layer)
        if getattr(layer, "num_layers", 1) == 1 and not getattr(layer, "bidirectional", False) \
                and not getattr(layer, "batch_first", False):
            return _one_step_of(layer, kind), kind      # the layer itself, whatever its impl
        return _layer_step(layer, 0), kind
    if hasattr(cell_or_layer, "weight_ih"):
        kind = _kind(cell_or_layer)
        return cell_or_layer, kind
    if callable(cell_or_layer):
        return cell_or_layer, None
    raise TypeError(f"expected a cell, a layer or a function, got {type(cell_or_layer).__name__}")


def _one_step_of(layer, kind):
    """step(x_t, state) running a one-layer ``layer`` on a one-step sequence (T = 1)."""
    def step(x_t, state):
        if kind == "lstm":
            _, (h, c) = layer(x_t.unsqueeze(0), (state[0].unsqueeze(0), state[1].unsqueeze(0)))
            return h[0], c[0]
        _, h = layer(x_t.unsqueeze(0), state.unsqueeze(0))
        return h[0]
    return step


def step_jacobians(cell_or_layer, x, h0):
    """The exact Jacobians J_t = d s_t / d s_{t-1} along one sequence, by autograd.

    ``cell_or_layer``: a torch-style cell (``RNNCell``, ``LSTMCell``, ``GRUCell``: called as
    itself), a layer (``RNN``/``LSTM``/``GRU``: a one-layer, one-direction, time-major layer is
    run itself on one step at a time, so its ``impl`` is what gets differentiated; of a deeper
    or bidirectional layer, the first layer's forward direction via the composite step with its
    parameters), or a function
    ``step(x_t, state) -> state``. ``x``: (T, I) or (T, 1, I); ``h0``: (H,) or (1, H), or the
    pair (h0, c0) for an LSTM. The state s is h, or [h; c] for an LSTM (its Jacobian is
    (Hout + H) x (Hout + H): the cell state is half of what carries the gradient back).

    How: one backward per step, exact. The state is copied into n rows (n = state size) and the
    step is run on that batch of identical rows; seeding the backward with the identity, row i
    of the state's gradient is d s_t[i] / d s_{t-1}, i.e. row i of J_t (batch rows never mix in
    a recurrent cell). Returns a NumPy array (T, n, n).
    """
    step, kind = _step_callable(cell_or_layer)
    like = next(iter(cell_or_layer.parameters()), None) if hasattr(cell_or_layer, "parameters") else None
    x = _as_tensor(x, like)
    if x.ndim == 2:
        x = x.reshape(x.shape[0], 1, x.shape[1])
    if x.shape[1] != 1:
        raise ValueError(f"step_jacobians follows one sequence: x must be (T, I) or (T, 1, I), got {x.shape}")
    pair = isinstance(h0, (tuple, list))
    state = tuple(_as_tensor(s, x).reshape(1, -1).detach() for s in (h0 if pair else (h0,)))
    xp = backend.array_module(x.data)
    sizes = [s.shape[1] for s in state]
    n = sum(sizes)
    jacobians = []
    for t in range(x.shape[0]):
        x_t = Tensor(xp.repeat(x.data[t], n, axis=0))
        prev = tuple(Tensor(xp.repeat(s.data, n, axis=0), requires_grad=True) for s in state)
        new = step(x_t, prev if pair else prev[0])
        new = tuple(new) if pair else (new,)
        out = new[0] if len(new) == 1 else cat(list(new), axis=1)
        out.backward(xp.eye(n, dtype=out.dtype))
        rows = [p.grad.data if p.grad is not None else xp.zeros(p.shape, dtype=p.dtype) for p in prev]
        jacobians.append(backend.to_numpy(xp.concatenate(rows, axis=1)))
        state = tuple(s[0:1].detach() for s in new)
    return np.stack(jacobians)


def step_jacobian_norms(cell_or_layer, x, h0, ord="spectral"):
    """||d s_t / d s_{t-1}|| at each step t (T,), from ``step_jacobians`` (same arguments).

    ``ord="spectral"`` (default): the largest singular value, the most a step can stretch a
    gradient; ``"fro"``: the Frobenius norm (an upper bound of the spectral norm, cheaper to
    explain: the root of the sum of squared partial derivatives)."""
    J = step_jacobians(cell_or_layer, x, h0)
    if ord == "spectral":
        return np.array([np.linalg.norm(j, 2) for j in J])
    if ord == "fro":
        return np.array([np.linalg.norm(j, "fro") for j in J])
    raise ValueError(f"ord must be 'spectral' or 'fro', got {ord!r}")


# ----------------------------------------------------------------------------- the graph as DOT

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
    names = {id(t): name for name, t in (params or {}).items() if isinstance(t, Tensor)}
    nodes, edges = {}, []

    def leaf_node(t):
        key = f"t{id(t)}"
        if key not in nodes:
            name = names.get(id(t))
            kind = "param" if name is not None else ("leaf" if t.requires_grad else "input")
            nodes[key] = {"kind": kind, "label": name or ("leaf" if kind == "leaf" else "input"),
                          "op": None, "shape": tuple(t.shape), "name": name}
        return key

    if tensor.creator is None:
        leaf_node(tensor)
        return nodes, edges
    if tensor.creator.released:
        raise RuntimeError("this graph was freed by backward(); build it again, or call "
                           "backward(retain_graph=True) before drawing it")
    out_shapes, op_names = {}, {}
    root = tensor.creator
    out_shapes[id(root)] = {tensor.index: tuple(tensor.shape)}
    if id(tensor) in names:
        op_names[id(root)] = names[id(tensor)]
    queue, seen, head = [root], {id(root)}, 0
    truncated = set()
    while head < len(queue):
        node = queue[head]
        head += 1
        if len(seen) + len(nodes) > max_nodes:   # ops found + leaves found
            truncated.add(id(node))
            continue
        for p in getattr(node, "parents", ()):
            if not isinstance(p, Tensor):
                continue
            if p.creator is None:
                edges.append((leaf_node(p), f"f{id(node)}"))
                continue
            c = p.creator
            out_shapes.setdefault(id(c), {})[p.index] = tuple(p.shape)
            if id(p) in names:
                op_names[id(c)] = names[id(p)]
            edges.append((f"f{id(c)}", f"f{id(node)}"))
            if id(c) not in seen:
                seen.add(id(c))
                queue.append(c)
    for node in queue:
        shapes = out_shapes.get(id(node), {})
        declared = getattr(node, "output_shapes", None)
        if declared:
            shape = [tuple(s) for s in declared]
        else:
            shape = shapes.get(0)
        op = type(node).__name__
        name = op_names.get(id(node))
        nodes[f"f{id(node)}"] = {"kind": "op", "op": op, "shape": shape, "name": name,
                                 "label": op if name is None else f"{name} = {op}",
                                 "truncated": id(node) in truncated, "root": node is root}
    known = set(nodes)
    edges = [(a, b) for a, b in edges if a in known and b in known]
    return nodes, edges


def _shape_text(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join(map(str, shape)) + ")"


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
    style = {"param": 'shape=box, style="filled", fillcolor="lightblue"',
             "leaf": 'shape=box, style="filled", fillcolor="lightyellow"',
             "input": 'shape=ellipse, style="filled", fillcolor="grey90", color="grey50"'}
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
            attrs = style[n["kind"]]
        lines.append(f'  {key} [label="{_escape(label)}", {attrs}];')
    for a, b in edges:
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _escape(text):
    return text.replace('"', '\\"')


# ----------------------------------------------------------------------------- the shared weight

class StepUse(Function):
    """The identity, marking one time step's use of a shared weight: a hook on its output sees
    exactly that step's share of the weight's gradient."""

    def forward(self, w):
        return w

    def backward(self, g):
        return g


def shared_weight_demo(T=5, input_size=2, hidden_size=3, seed=0, verbose=False):
    """Show that the gradient of a shared weight is the sum of its per-step contributions.

    A tanh RNN h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b) runs T steps on random data (and a
    random h_0, so that step 1 has a share too: with h_0 = 0 it would have none), with
    the loss L = sum_t ||h_t - y_t||^2 / 2. Each step reads W_hh through its own ``StepUse``
    node, and a hook on it records that step's share G_t = dL/dW_hh|_step t. Autograd puts
    sum_t G_t into ``W_hh.grad``. The closed form G_t = delta_t^T h_{t-1}, with
    delta_t = dL/da_t the gradient of step t's pre-activation (read by ``retain_grad``), is a
    third, independent account. Everything is float64.

    Returns a dict: ``per_step`` (T, H, H) from the hooks, ``closed_form`` (T, H, H),
    ``sum`` (H, H) = per_step.sum(0), ``autograd`` (H, H) = W_hh.grad, ``max_abs_error``
    (largest |sum - autograd| and |per_step - closed_form|) and ``step_norms`` (T,) = ||G_t||.
    With ``verbose`` it also prints them.
    """
    rng = np.random.default_rng(seed)
    f64 = np.float64
    w_ih = Tensor(rng.normal(0, 0.8, (hidden_size, input_size)), dtype=f64, requires_grad=True)
    w_hh = Tensor(rng.normal(0, 0.8, (hidden_size, hidden_size)), dtype=f64, requires_grad=True)
    b = Tensor(rng.normal(0, 0.1, (hidden_size,)), dtype=f64, requires_grad=True)
    xs = rng.normal(size=(T, 1, input_size))
    ys = rng.normal(size=(T, 1, hidden_size))
    h = Tensor(rng.normal(0, 0.5, (1, hidden_size)), dtype=f64)   # h_0 != 0: step 1 counts too
    per_step = [None] * T
    prev_states, pre_activations = [], []
    loss = 0.0
    for t in range(T):
        w_t = StepUse.apply(w_hh)                         # this step's use of the shared weight
        w_t.register_hook(lambda g, t=t: per_step.__setitem__(t, g.numpy().copy()))
        prev_states.append(h)
        a = F.linear(Tensor(xs[t], dtype=f64), w_ih, b) + h @ w_t.T
        a.retain_grad()
        pre_activations.append(a)
        h = a.tanh()
        loss = loss + 0.5 * ((h - Tensor(ys[t], dtype=f64)) ** 2).sum()
    loss.backward()
    per_step = np.stack([np.zeros((hidden_size, hidden_size)) if g is None else g for g in per_step])
    closed = np.stack([a.grad.numpy().T @ hp.numpy() for a, hp in zip(pre_activations, prev_states)])
    total, autograd = per_step.sum(axis=0), w_hh.grad.numpy()
    error = max(np.abs(total - autograd).max(), np.abs(per_step - closed).max())
    result = {"per_step": per_step, "closed_form": closed, "sum": total, "autograd": autograd,
              "max_abs_error": float(error), "step_norms": np.linalg.norm(per_step, axis=(1, 2)),
              "loss": float(loss.item())}
    if verbose:
        _print_demo(result)
    return result


def _print_demo(r):
    T = len(r["per_step"])
    print(f"Shared weight W_hh of a tanh RNN, T = {T} steps, loss = {r['loss']:.6f}")
    print("Each step's share of dL/dW_hh (hook on that step's use of W_hh):")
    for t, (g, n) in enumerate(zip(r["per_step"], r["step_norms"])):
        print(f"  step {t + 1}: ||G_t|| = {n:.6f}   G_t[0] = {np.array2string(g[0], precision=5)}")
    print(f"sum_t G_t[0]      = {np.array2string(r['sum'][0], precision=8)}")
    print(f"W_hh.grad[0]      = {np.array2string(r['autograd'][0], precision=8)}")
    print(f"max |difference|  = {r['max_abs_error']:.2e}  (sum vs autograd, hooks vs delta_t^T h_(t-1))")


# ----------------------------------------------------------------------------- plotting

def plot_grad_norms(norms, path=None, ax=None, title=None, distance=False, logy=True, batch="mean"):
    """Plot ||dL/dh_t|| against t (or against the distance T - t with ``distance=True``).

    ``norms``: a ``trace_hidden_grads`` result, or {label: array (T,) or (T, B)} (the batch is
    averaged, or take ``batch=b`` for one sequence). Draws on ``ax`` if given and returns it;
    else makes a figure, saves it to ``path`` (if given) and returns the figure. Returns None,
    with a note, when matplotlib is not installed."""
    if isinstance(norms, dict) and "dh" in norms:
        norms = norms["dh"]
    try:
        import matplotlib
        if ax is None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed; no plot drawn")
        return None
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in norms.items():
        values = np.asarray(values, dtype=float)
        if values.ndim == 2:
            values = values.mean(axis=1) if batch == "mean" else values[:, batch]
        T = len(values)
        t = np.arange(1, T + 1)
        xs = T - t if distance else t
        ax.plot(xs, values, label=str(label))
    ax.set_xlabel("distance T - t (steps back from the loss)" if distance else "time step t")
    ax.set_ylabel("||dL/dh_t||")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    if fig is None:
        return ax
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


if __name__ == "__main__":
    shared_weight_demo(verbose=True)
    print()
    print("One-step Jacobian norms ||dh_t/dh_(t-1)|| of a 3-unit tanh RNN (spectral):")
    rng = np.random.default_rng(1)
    step = cell_step("rnn", Tensor(rng.normal(size=(3, 2))), Tensor(rng.normal(size=(3, 3)) * 0.5))
    print(" ", np.array2string(step_jacobian_norms(step, rng.normal(size=(6, 2)).astype(np.float32),
                                                   np.zeros(3, np.float32)), precision=4))
