"""Neural-network modules, named and shaped as in ``torch.nn``."""
from . import functional, init, utils
from .modules import (GRU, LSTM, RNN, DenseStack, Dropout, Embedding, GRUCell, Highway, HighwayStack, Linear,
                      LSTMCell, Module, ModuleList, Parameter, Residual, ResidualStack, RNNCell, Sequential,
                      VariationalDropout)
from .modules import skip
from .modules import LayerNorm
from .modules import AdditiveAttention, LuongAttention, MultiheadAttention, ResidualSelfAttention
from .modules import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                      TransformerEncoderLayer)
from .utils.rnn import pad_sequence, sequence_lengths, unpad_sequence
