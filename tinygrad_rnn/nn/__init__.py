"""Neural-network modules, named and shaped as in ``torch.nn``."""
from . import functional
from .layers import Dropout, Embedding, Linear
from .module import Module, ModuleList, Parameter, Sequential
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .utils_rnn import pad_sequence, sequence_lengths, unpad_sequence
from . import init, utils
from .skip import DenseStack, Highway, HighwayStack, Residual, ResidualStack, VariationalDropout
