"""Fused recurrent Functions: the raw-array kernels of ``rnn_kernels`` as autograd nodes.

Two granularities, both with hand-written BPTT:

* ``*Layer``: ONE graph node for a whole layer and direction over the sequence (the default,
  fast path). Its backward is the BPTT loop of ``rnn_kernels``.
* ``*CellStep``: one graph node per time step (``impl="cell"``): fewer nodes than the
  composite cell, and autograd still chains the steps, so BPTT is visible in the graph.

``trace`` (a dict, optional) receives ``trace["dh"]``, the per-step gradient dL/dh_t that the
layer backward computes anyway, so learners can plot it for the fused path too.
"""
from ..function import Function
from . import rnn_kernels as K


class LSTMLayer(Function):
    """Inputs (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr); outputs (y, h_n, c_n)."""

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths=None, checkpoint=0, trace=None):
        y, h_n, c_n, cache = K.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, checkpoint)
        self.save_for_backward(cache)
        self.trace = trace
        return y, h_n, c_n

    def backward(self, dy, dh_n, dc_n):
        (cache,) = self.saved
        return K.lstm_backward(cache, dy, dh_n, dc_n, trace=self.trace)


class GRULayer(Function):
    """Inputs (x, h0, w_ih, w_hh, b_ih, b_hh); outputs (y, h_n)."""

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, checkpoint=0, trace=None):
        y, h_n, cache = K.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, checkpoint)
        self.save_for_backward(cache)
        self.trace = trace
        return y, h_n

    def backward(self, dy, dh_n):
        (cache,) = self.saved
        return K.gru_backward(cache, dy, dh_n, trace=self.trace)


class RNNLayer(Function):
    """Inputs (x, h0, w_ih, w_hh, b_ih, b_hh); outputs (y, h_n)."""

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", lengths=None, checkpoint=0,
                trace=None):
        y, h_n, cache = K.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, lengths, checkpoint)
        self.save_for_backward(cache)
        self.trace = trace
        return y, h_n

    def backward(self, dy, dh_n):
        (cache,) = self.saved
        return K.rnn_backward(cache, dy, dh_n, trace=self.trace)


class LSTMCellStep(Function):
    """Inputs (x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr); outputs (h', c')."""

    def forward(self, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
        h_next, c_next, cache = K.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
        self.save_for_backward(cache)
        return h_next, c_next

    def backward(self, dh, dc):
        (cache,) = self.saved
        return K.lstm_cell_backward(cache, dh, dc)


class GRUCellStep(Function):
    """Inputs (x, h, w_ih, w_hh, b_ih, b_hh); output h'."""

    def forward(self, x, h, w_ih, w_hh, b_ih, b_hh):
        h_next, cache = K.gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
        self.save_for_backward(cache)
        return h_next

    def backward(self, dh):
        (cache,) = self.saved
        return K.gru_cell_backward(cache, dh)


class RNNCellStep(Function):
    """Inputs (x, h, w_ih, w_hh, b_ih, b_hh); output h'."""

    def forward(self, x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
        h_next, cache = K.rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
        self.save_for_backward(cache)
        return h_next

    def backward(self, dh):
        (cache,) = self.saved
        return K.rnn_cell_backward(cache, dh)
