"""argparse types shared by the subcommands."""

import argparse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}') from None


def positive(text: str) -> int:
    """A count: an integer > 0."""
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
    return value


def non_negative(text: str) -> int:
    """A seed or an index: an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {value}')
    return value


def positive_float(text: str) -> float:
    """A duration or a scale: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a number > 0, got {value}')
    return value
