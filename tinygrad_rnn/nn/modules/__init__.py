"""The layers, one family per file as in ``torch.nn.modules``."""
from .activation import ELU, GELU, Flatten, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .dropout import Dropout
from .linear import Identity, Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN
from .rnn_cells import GRUCell, LSTMCell, RNNCell
from .skip import DenseStack, Highway, HighwayStack, Residual, ResidualStack, VariationalDropout
from .sparse import Embedding
from .normalization import LayerNorm
from .attention import AdditiveAttention, LuongAttention, MultiheadAttention, ResidualSelfAttention
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)
