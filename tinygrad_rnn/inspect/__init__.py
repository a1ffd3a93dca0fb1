"""Backpropagation through time, made visible: tools for looking inside an unrolled RNN.

    from tinygrad_rnn import inspect
    trace = inspect.trace_hidden_grads(lstm, x, lambda out: out[0][-1].sum())
    trace["dh"]["l0"]                     # (T, B, Hout): dL/dh_t of layer 0 at every step
    trace["dh_norm"]["l0"]                # (T, B): ||dL/dh_t||
    inspect.step_jacobian_norms(cell, x, h0)   # (T,): ||dh_t / dh_{t-1}||, one per step
    print(inspect.to_dot(loss, params=dict(model.named_parameters())))   # Graphviz text
    inspect.shared_weight_demo()          # dL/dW_hh = sum over t of each step's share

One job per file:

- ``trace.py``: ``trace_hidden_grads``, the gradient reaching every hidden state h_t. Where a
  loss sits at the end of a sequence, ||dL/dh_t|| against T - t is the picture of vanishing
  (tanh RNN) or surviving (LSTM, GRU) gradients. It reads the layer's own loop
  (``layer.unroll`` with an ``on_step`` observer) or the fused kernel's record
  (``layer.trace``); there is no second implementation of the recurrence here.
- ``jacobians.py``: ``step_jacobians`` / ``step_jacobian_norms``, why gradients vanish:
  dL/dh_{t-1} = J_t^T dL/dh_t with the one-step Jacobian J_t = dh_t/dh_{t-1}.
- ``graph.py``: ``build_graph`` / ``to_dot``, the graph autograd records. One weight node with
  T out-edges is the "shared weight" of BPTT: backward sums the T gradients flowing into it.
- ``demo.py``: ``shared_weight_demo``, that sum checked step by step
  (``python -m tinygrad_rnn.inspect.demo`` prints it).
- ``svg.py``: ``save_graph_svg``, the same graph drawn micrograd-style with every node's value
  and gradient (Graphviz ``dot`` when installed, a small pure-Python layout otherwise).
- ``paths.py``: ``lstm_path_norms``, an LSTM's step Jacobian split into its two gradient paths
  (along c, scaled by f; along h, through W_hh).

Plots of these results are in ``tinygrad_rnn.viz`` (matplotlib, imported on use).
"""
from .demo import shared_weight_demo
from .graph import build_graph, to_dot
from .jacobians import step_jacobian_norms, step_jacobians
from .trace import trace_hidden_grads

__all__ = ["trace_hidden_grads", "step_jacobians", "step_jacobian_norms", "build_graph", "to_dot",
           "shared_weight_demo"]
