"""Executes notebooks/*.ipynb into docs/notebooks/, so the docs site shows them with outputs.

The notebooks are stored without outputs (tests/test_notebooks.py runs them and refuses saved
outputs). The docs build (mkdocs.yml, docs/hooks.py) shows docs/notebooks/NAME.ipynb, with its
outputs, where this script has written one, and the stored notebook without outputs otherwise.
docs/notebooks/ is not tracked (docs/.gitignore).

    python docs/render_notebooks.py            # small sizes (MSIM_NOTEBOOK_SMALL=1), ~3 min
    python docs/render_notebooks.py --full     # the notebooks' own sizes, ~10 min: publish these
    python docs/render_notebooks.py 01_quickstart   # only the notebooks whose name has this
    mkdocs build --strict                      # then build the site

(Times for the five notebooks on the 2-core development CPU. The small sizes are what the test
suite runs; some pictures need the full ones, such as the quickstart's spiral wave.)

Each notebook runs in a scratch folder (what it writes stays out of the repository), with
ipykernel's own kernel (the Python running this script); a cell that raises stops the script
with the cell and its traceback, and the previously rendered notebook is left as it was.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks"
RENDERED = ROOT / "docs" / "notebooks"


def render(path: pathlib.Path, out: pathlib.Path, *, small: bool, timeout: float) -> float:
    """Executes the notebook at `path` and writes it with its outputs to `out`.

    Args:
        path: a stored notebook (.ipynb).
        out: where the executed notebook is written (its folder is created).
        small: run at the notebooks' small sizes (sets MSIM_NOTEBOOK_SMALL=1 for the kernel).
        timeout: seconds one cell may run before the execution is stopped.

    Returns:
        The wall-clock seconds the execution took.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised; the message has its traceback.
    """
    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get("MSIM_NOTEBOOK_SMALL")
    if small:
        os.environ["MSIM_NOTEBOOK_SMALL"] = "1"
    else:
        os.environ.pop("MSIM_NOTEBOOK_SMALL", None)
    try:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            NotebookClient(
                nb,
                kernel_name="python3",
                timeout=int(timeout),
                resources={"metadata": {"path": scratch}},
            ).execute()
        seconds = time.perf_counter() - start
    finally:
        if previous is None:
            os.environ.pop("MSIM_NOTEBOOK_SMALL", None)
        else:
            os.environ["MSIM_NOTEBOOK_SMALL"] = previous
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".ipynb.partial")
    nbformat.write(nb, partial)
    partial.replace(out)  # a failed or killed run never leaves half a notebook
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help="render only notebooks whose file name contains one of these"
    )
    parser.add_argument(
        "--full", action="store_true", help="the notebooks' own sizes instead of the small ones"
    )
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="seconds one cell may run (default 1200)"
    )
    args = parser.parse_args(argv)
    paths = sorted(SOURCE.glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(name in p.name for name in args.names)]
        if not paths:
            parser.error(f"no notebook in {SOURCE} matches {args.names}")
    for path in paths:
        seconds = render(path, RENDERED / path.name, small=not args.full, timeout=args.timeout)
        print(f"{path.name}: {seconds:.1f} s -> {(RENDERED / path.name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
