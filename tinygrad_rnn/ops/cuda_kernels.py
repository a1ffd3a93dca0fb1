"""Fused CUDA versions of the per-step LSTM and GRU gate math, as CuPy ElementwiseKernels.

The generic gate functions in ``rnn_kernels`` take ~15 array operations per step, each a kernel
launch on the GPU; these do the same arithmetic in one launch. Each body is a line-by-line copy
of the generic math. CuPy is passed in, never imported here, so this module imports anywhere:

    from tinygrad_rnn.ops import cuda_kernels, rnn_kernels
    rnn_kernels.GATE_KERNELS.update(cuda_kernels.build(cupy))

CuPy names an element of each argument by the parameter name; outputs can also be read, so the
forward kernels overwrite the gate pre-activations with the activations in place. (``i`` is
CuPy's loop index, hence the long gate names.)
"""

PREAMBLE = r"""
template <typename T> __device__ T stable_sigmoid(T a) {
    return (T)0.5 * tanh((T)0.5 * a) + (T)0.5;   // no exp: no overflow for large |a|
}
"""

LSTM_FORWARD = (
    "T c_prev",
    "T in_gate, T forget_gate, T cell_gate, T out_gate, T c, T m",
    r"""
    in_gate = stable_sigmoid(in_gate);
    forget_gate = stable_sigmoid(forget_gate);
    cell_gate = tanh(cell_gate);
    out_gate = stable_sigmoid(out_gate);
    c = forget_gate * c_prev + in_gate * cell_gate;
    m = out_gate * tanh(c);
    """,
)

LSTM_BACKWARD = (
    "T in_gate, T forget_gate, T cell_gate, T out_gate, T c_prev, T c, T dm, T dc",
    "T d_in, T d_forget, T d_cell, T d_out, T dc_prev",
    r"""
    T tanh_c = tanh(c);
    T dc_total = dm * out_gate * ((T)1 - tanh_c * tanh_c) + dc;
    d_in = dc_total * cell_gate * in_gate * ((T)1 - in_gate);
    d_forget = dc_total * c_prev * forget_gate * ((T)1 - forget_gate);
    d_cell = dc_total * in_gate * ((T)1 - cell_gate * cell_gate);
    d_out = dm * tanh_c * out_gate * ((T)1 - out_gate);
    dc_prev = dc_total * forget_gate;
    """,
)

GRU_FORWARD = (
    "T x_r, T x_z, T x_n, T h_r, T h_z, T h_n, T h_prev",
    "T reset, T update, T cand, T hn, T h",
    r"""
    reset = stable_sigmoid(x_r + h_r);
    update = stable_sigmoid(x_z + h_z);
    hn = h_n;
    cand = tanh(x_n + reset * h_n);
    h = cand + update * (h_prev - cand);
    """,
)

GRU_BACKWARD = (
    "T reset, T update, T cand, T hn, T h_prev, T dh",
    "T d_reset, T d_update, T d_hn, T d_cand, T dh_prev",
    r"""
    T d_cand_pre = dh * ((T)1 - update) * ((T)1 - cand * cand);
    d_cand = d_cand_pre;
    d_hn = d_cand_pre * reset;
    d_reset = d_cand_pre * hn * reset * ((T)1 - reset);
    d_update = dh * (h_prev - cand) * update * ((T)1 - update);
    dh_prev = dh * update;
    """,
)


def _blocks(a, n):
    size = a.shape[-1] // n
    return [a[..., k * size:(k + 1) * size] for k in range(n)]


def build(cupy):
    """Compile the kernels with ``cupy`` and return them as GATE_KERNELS entries: callables with
    the arguments of the generic functions in rnn_kernels."""
    def kernel(spec, name):
        in_params, out_params, body = spec
        return cupy.ElementwiseKernel(in_params, out_params, body, name, preamble=PREAMBLE)

    lstm_forward = kernel(LSTM_FORWARD, "tinygrad_rnn_lstm_forward")
    lstm_backward = kernel(LSTM_BACKWARD, "tinygrad_rnn_lstm_backward")
    gru_forward = kernel(GRU_FORWARD, "tinygrad_rnn_gru_forward")
    gru_backward = kernel(GRU_BACKWARD, "tinygrad_rnn_gru_backward")

    def lstm_gates_forward(xp, gates, c_prev, c, m):
        lstm_forward(c_prev, *_blocks(gates, 4), c, m)

    def lstm_gates_backward(xp, gates, c_prev, c, dm, dc, dgates, dc_prev):
        lstm_backward(*_blocks(gates, 4), c_prev, c, dm, dc, *_blocks(dgates, 4), dc_prev)

    def gru_gates_forward(xp, x_part, h_part, h_prev, gates, h):
        gru_forward(*_blocks(x_part, 3), *_blocks(h_part, 3), h_prev, *_blocks(gates, 4), h)

    def gru_gates_backward(xp, gates, h_prev, dh, dgates, dh_prev):
        gru_backward(*_blocks(gates, 4), h_prev, dh, *_blocks(dgates, 4), dh_prev)

    return {
        ("lstm_gates_forward", "cuda"): lstm_gates_forward,
        ("lstm_gates_backward", "cuda"): lstm_gates_backward,
        ("gru_gates_forward", "cuda"): gru_gates_forward,
        ("gru_gates_backward", "cuda"): gru_gates_backward,
    }
