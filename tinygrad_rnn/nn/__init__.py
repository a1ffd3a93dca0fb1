"""Neural-network modules, named and shaped as in ``torch.nn``."""
from . import functional, init, utils
from .modules import (ELU, GELU, GRU, LSTM, RNN, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DenseStack, Dropout,
                      Embedding, Flatten, GRUCell, Highway, HighwayStack, HuberLoss, Identity, L1Loss, LeakyReLU,
                      Linear, LogSoftmax, LSTMCell, Module, ModuleDict, ModuleList, MSELoss, NLLLoss, Parameter,
                      ParameterDict, ParameterList, ReLU, Residual, ResidualStack, RNNCell, Sequential, Sigmoid, SiLU,
                      SmoothL1Loss, Softmax, Softplus, Tanh, VariationalDropout)
from .modules import skip
from .modules import LayerNorm
from .modules import AdditiveAttention, LuongAttention, MultiheadAttention, ResidualSelfAttention
from .modules import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                      TransformerEncoderLayer)
from .utils.rnn import pad_sequence, sequence_lengths, unpad_sequence
