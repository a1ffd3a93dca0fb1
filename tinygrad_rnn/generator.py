"""``tg.Generator``: a random stream of its own, for the calls that take ``generator=``
(``random_split``, ``DataLoader``/``RandomSampler``), so
``random_split(ds, [0.8, 0.2], generator=tg.Generator().manual_seed(42))`` gives the same split
each run without touching the global stream. Its numbers are NumPy's, not torch's."""
import numpy as np

from . import backend


class Generator:
    def __init__(self, device="cpu"):
        self.device = device
        self.seed()

    def manual_seed(self, seed):
        """Restart the stream from ``seed``; returns the generator, as torch's does."""
        self._seed, self._rng = int(seed), np.random.default_rng(int(seed))
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        """Reseed from fresh entropy and return the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % 2**63))
        return self._seed


def rng_of(generator):
    """The NumPy generator to draw from: ``generator``'s own, or the package's global one."""
    return backend.rng() if generator is None else generator._rng
