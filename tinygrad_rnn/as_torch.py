"""Run a PyTorch program on tinygrad_rnn without editing it.

    python -m tinygrad_rnn.as_torch train.py --epochs 3      # the script's `import torch` gets us

An import hook answers every ``import torch`` / ``import torch.nn.functional as F`` / ``from
torch.utils... import`` with the module of the same dotted name under ``tinygrad_rnn``, so
``torch.nn.LSTM`` is ``tinygrad_rnn.nn.LSTM``. A name we do not have fails at its import or
attribute access with the usual ImportError / AttributeError, which is the honest answer:
docs/pytorch.md lists what is supported, what differs and what is absent.
"""
import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys


class TorchAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``torch`` and ``torch.*`` and loads ``tinygrad_rnn`` and ``tinygrad_rnn.*``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torch" or fullname.startswith("torch."):
            ours = "tinygrad_rnn" + fullname[len("torch"):]
            if importlib.util.find_spec(ours) is None:
                return None
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return importlib.import_module("tinygrad_rnn" + spec.name[len("torch"):])

    def exec_module(self, module):
        """The module was imported (and executed) under its own name by create_module."""


def install():
    """Route later ``import torch`` statements to tinygrad_rnn (refused if torch is loaded)."""
    if "torch" in sys.modules and not sys.modules["torch"].__name__.startswith("tinygrad_rnn"):
        raise RuntimeError("the real torch is already imported in this process; "
                           "install the alias before anything imports torch")
    if not any(isinstance(f, TorchAlias) for f in sys.meta_path):
        sys.meta_path.insert(0, TorchAlias())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[2].strip())
        return 0 if argv else 2
    script = argv[0]
    if not os.path.isfile(script):
        print(f"as_torch: no such script: {script}", file=sys.stderr)
        return 2
    install()
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python script.py` does
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
