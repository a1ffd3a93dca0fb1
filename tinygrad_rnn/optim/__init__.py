"""Optimizers and learning-rate schedules, named and shaped as in ``torch.optim``."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .lr_scheduler import (CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler, MultiStepLR, OneCycleLR,
                           ReduceLROnPlateau, StepLR)
from .optimizer import Optimizer
from .rmsprop import Adagrad, RMSprop
from .sgd import SGD
