"""Argument parsing shared by the ``msim`` sub-commands."""

import argparse
import math


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line (and exit status 2), pointing to ``--help``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
