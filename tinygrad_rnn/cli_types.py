"""Argument types shared by the command line's two halves (cli.py and lm_cli.py): each parses
one option's text or raises argparse's error, which the parser turns into one ``error:`` line."""
import argparse
import math
import re


def int_in(minimum, maximum=None):
    """An integer >= ``minimum`` (and <= ``maximum`` when given)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value
    return parse


def float_in(low, high=None, low_open=False):
    """A finite number >= ``low`` (> with ``low_open``) and < ``high`` when given."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and (high is None or value < high)
        if not ok:
            where = (f"in [{low}, {high})" if high is not None else (f"> {low}" if low_open else f">= {low}"))
            raise argparse.ArgumentTypeError(f"must be {where}, got {text}")
        return value
    return parse


def device(text):
    """cpu, cuda or cuda:N (whether it exists is checked when the device is used)."""
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    return text
