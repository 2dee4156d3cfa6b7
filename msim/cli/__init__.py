"""The ``msim`` command: ``msim run`` (the main job: a spiral wave) and ``msim calibrate CONFIG``
(fit parameters of a problem to data). ``msim COMMAND --help`` explains each."""

import sys
from collections.abc import Sequence

from . import _calibrate, _run
from ._common import _Parser


def _parser() -> _Parser:
    parser = _Parser(
        prog="msim", description="msim: differentiable simulation of cardiac tissue in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run.add_parser(sub)
    _calibrate.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``msim`` command; returns the exit status (2 for bad arguments)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    return args.handler(args, argv)
