"""The ``msim`` command: ``msim run`` (the main job: a spiral wave), ``msim calibrate CONFIG``
(fit parameters of a problem to data), ``msim ensemble CONFIG`` (one problem or cell model
over many sampled parameter sets) and ``msim models`` (the built-in cell models).
``msim COMMAND --help`` explains each."""

import sys
from collections.abc import Sequence

from . import _calibrate, _ensemble, _run
from ._common import _Parser


def _parser() -> _Parser:
    parser = _Parser(
        prog="msim", description="msim: differentiable simulation of cardiac tissue in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run.add_parser(sub)
    _calibrate.add_parser(sub)
    _ensemble.add_parser(sub)
    models = sub.add_parser(
        "models",
        help="list the built-in cell models",
        description="List msim's hand-written cell models with a one-line description each "
        "(any CellML model is available through msim.cells.from_cellml).",
    )
    models.set_defaults(handler=_models)
    return parser


def _models(args, argv) -> int:
    import msim.cells

    models = msim.cells.available()
    width = max(map(len, models))
    for name, description in models.items():
        print(f"{name:<{width}}  {description}")
    print("\nAny CellML model: msim.cells.from_cellml(path) (see tests/test_cellml.py).")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``msim`` command; returns the exit status (2 for bad arguments)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    return args.handler(args, argv)
