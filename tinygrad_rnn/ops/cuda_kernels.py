"""Fused CUDA versions of the per-step LSTM and GRU gate math, as CuPy ElementwiseKernels.

The generic gate functions in ``rnn_gates`` take 5-12 array operations per step, each a kernel
launch on the GPU; these do the same arithmetic in one launch, so a step is one GEMM plus one
fused kernel, forward and backward (the backward kernels also sum the parts of dL/dh_t). Each
body is a line-by-line copy of the generic math: the backward kernels, like the generic ones,
start from the factors that ``*_backward_factors`` computed for the whole segment. CuPy is passed in, never imported here (this module imports
anywhere); ``rnn_kernels.gate_kernel`` builds them on the first CuPy sequence:

    rnn_kernels.GATE_KERNELS.update(cuda_kernels.build(cupy))

CuPy names an element of each argument by the parameter name; outputs can also be read, so the
kernels update gate buffers in place. (``i`` is CuPy's loop index, hence the long gate names.)
"""
from .rnn_gates import blocks


PREAMBLE = r"""
template <typename T> __device__ T stable_sigmoid(T a) {
    return (T)0.5 * tanh((T)0.5 * a) + (T)0.5;   // no exp: no overflow for large |a|
}
"""

LSTM_FORWARD = (
    "T rec_i, T rec_f, T rec_g, T rec_o, T c_prev",
    "T in_gate, T forget_gate, T cell_gate, T out_gate, T c, T m",
    r"""
    in_gate = stable_sigmoid(in_gate + rec_i);
    forget_gate = stable_sigmoid(forget_gate + rec_f);
    cell_gate = tanh(cell_gate + rec_g);
    out_gate = stable_sigmoid(out_gate + rec_o);
    c = forget_gate * c_prev + in_gate * cell_gate;
    m = out_gate * tanh(c);
    """,
)

LSTM_BACKWARD = (      # d_* hold the factors of rnn_gates.lstm_backward_factors on entry
    "T forget_gate, T dc_dm, T dy, T dc",
    "T dm, T d_in, T d_forget, T d_cell, T d_out, T dc_prev",
    r"""
    dm = dm + dy;
    T dc_total = dm * dc_dm + dc;
    d_in = d_in * dc_total;
    d_forget = d_forget * dc_total;
    d_cell = d_cell * dc_total;
    d_out = d_out * dm;
    dc_prev = dc_total * forget_gate;
    """,
)

GRU_FORWARD = (
    "T x_r, T x_z, T x_n, T h_r, T h_z, T h_n, T b_hn, T h_prev",
    "T reset, T update, T cand, T hn, T h",
    r"""
    reset = stable_sigmoid(x_r + h_r);
    update = stable_sigmoid(x_z + h_z);
    hn = h_n + b_hn;
    cand = tanh(x_n + reset * hn);
    h = cand + update * (h_prev - cand);
    """,
)

GRU_BACKWARD = (       # d_* hold the factors of rnn_gates.gru_backward_factors on entry
    "T update, T recurrent, T dy",
    "T dh, T d_reset, T d_update, T d_hn, T d_cand, T dh_prev",
    r"""
    dh = dh + recurrent + dy;
    d_update = d_update * dh;
    d_cand = d_cand * dh;
    d_reset = d_reset * d_cand;
    d_hn = d_hn * d_cand;
    dh_prev = dh * update;
    """,
)


def build(cupy):
    """Compile the kernels with ``cupy`` and return them as GATE_KERNELS entries: callables with
    the arguments of the generic functions in rnn_kernels."""
    def kernel(spec, name):
        in_params, out_params, body = spec
        return cupy.ElementwiseKernel(in_params, out_params, body, name, preamble=PREAMBLE)

    zeros = {}

    def _or_zero(xp, dy, like):
        """An absent dy as a 0-d zero (broadcast by the kernel), made once per dtype."""
        if dy is not None:
            return dy
        if like.dtype not in zeros:
            zeros[like.dtype] = xp.zeros((), dtype=like.dtype)
        return zeros[like.dtype]

    lstm_forward = kernel(LSTM_FORWARD, "tinygrad_rnn_lstm_forward")
    lstm_backward = kernel(LSTM_BACKWARD, "tinygrad_rnn_lstm_backward")
    gru_forward = kernel(GRU_FORWARD, "tinygrad_rnn_gru_forward")
    gru_backward = kernel(GRU_BACKWARD, "tinygrad_rnn_gru_backward")

    def lstm_gates_forward(xp, gates, recurrent, c_prev, c, m):
        lstm_forward(*blocks(recurrent, 4), c_prev, *blocks(gates, 4), c, m)

    def lstm_gates_backward(xp, gates, a, dm, dy, dc, dgates, dc_prev):
        lstm_backward(blocks(gates, 4)[1], a, _or_zero(xp, dy, dm), dc, dm, *blocks(dgates, 4), dc_prev)

    def gru_gates_forward(xp, x_part, h_part, b_hn, h_prev, gates, h):
        gru_forward(*blocks(x_part, 3), *blocks(h_part, 3), b_hn, h_prev, *blocks(gates, 4), h)

    def gru_gates_backward(xp, gates, dh, recurrent, dy, dgates, dh_prev):
        gru_backward(blocks(gates, 4)[1], recurrent, _or_zero(xp, dy, dh), dh, *blocks(dgates, 4), dh_prev)

    return {
        ("lstm_gates_forward", "cuda"): lstm_gates_forward,
        ("lstm_gates_backward", "cuda"): lstm_gates_backward,
        ("gru_gates_forward", "cuda"): gru_gates_forward,
        ("gru_gates_backward", "cuda"): gru_gates_backward,
    }
