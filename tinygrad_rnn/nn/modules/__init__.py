"""The layers, one family per file as in ``torch.nn.modules``."""
from .container import ModuleList, Sequential
from .dropout import Dropout
from .linear import Linear
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN
from .rnn_cells import GRUCell, LSTMCell, RNNCell
from .skip import DenseStack, Highway, HighwayStack, Residual, ResidualStack, VariationalDropout
from .sparse import Embedding
from .normalization import LayerNorm
from .attention import AdditiveAttention, LuongAttention, MultiheadAttention, ResidualSelfAttention
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)
