"""Argument parsing shared by the ``msim`` sub-commands."""

import argparse
import math
import pathlib
from typing import NoReturn


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text}")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _folder(text: str) -> pathlib.Path:
    # An empty name would be the current folder: more likely an unset shell variable.
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty string")
    return pathlib.Path(text)


def _one_line(message: str) -> str:
    return " ".join(message.split())


class _Parser(argparse.ArgumentParser):
    """Reports a user's mistake in one line on stderr, with exit status 2, never a traceback."""

    def error(self, message: str) -> NoReturn:
        """A bad argument: the line points to ``--help``."""
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")

    def fail(self, message: str) -> NoReturn:
        """A bad input found after parsing (a configuration, a data file, the output folder)."""
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")
