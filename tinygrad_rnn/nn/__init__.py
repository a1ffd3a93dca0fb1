"""Neural-network modules, named and shaped as in ``torch.nn``."""
from . import functional
from .layers import Dropout, Embedding, Linear
from .module import Module, ModuleList, Parameter, Sequential
