"""The two gradient paths through an LSTM, measured.

Between two states s_{t-1} = [h_{t-1}; c_{t-1}] and s_t the exact step Jacobian
(``inspect.step_jacobians``) has four blocks. Two of them are the paths the docs talk about:
dc_t/dc_{t-1} = diag(f_t), the cell path, scaled by the forget gate only, and dh_t/dh_{t-1},
the path through W_hh and the gates' and tanh's derivatives. ``lstm_path_norms`` multiplies
each block along the sequence, and the full Jacobians too, so the three can be compared with
the distance travelled back.
"""
import numpy as np

from .jacobians import step_jacobians


def lstm_path_norms(cell, x, h0, c0):
    """For k = 1..T steps back from the last state: spectral norms of the products of the cell
    blocks (dc/dc), of the hidden blocks (dh/dh), and of the full Jacobians (ds_T/ds_{T-k}).

    ``cell``: an ``nn.LSTMCell`` or a one-layer ``nn.LSTM`` without projection; ``x`` (T, 1, I);
    ``h0``, ``c0`` (H,). Returns a dict of (T,) arrays ``cell_path``, ``hidden_path``, ``full``
    and ``forget`` (the mean forget gate of each step, which the cell path multiplies)."""
    J = step_jacobians(cell, x, (h0, c0))            # (T, 2H, 2H), rows and columns [h; c]
    T, H = J.shape[0], J.shape[1] // 2
    cell_path, hidden_path, full = np.eye(H), np.eye(H), np.eye(2 * H)
    norms = {"cell_path": [], "hidden_path": [], "full": []}
    for t in range(T - 1, -1, -1):                   # ds_T/ds_t = J_T ... J_{t+1}: multiply on the right
        cell_path = cell_path @ J[t, H:, H:]
        hidden_path = hidden_path @ J[t, :H, :H]
        full = full @ J[t]
        for name, m in (("cell_path", cell_path), ("hidden_path", hidden_path), ("full", full)):
            norms[name].append(np.linalg.norm(m, 2))
    out = {name: np.array(v) for name, v in norms.items()}
    out["forget"] = np.array([np.diag(J[t, H:, H:]).mean() for t in range(T)])
    return out
