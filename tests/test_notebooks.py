"""Every notebook in notebooks/ runs top to bottom without error, at small sizes."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb file"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, tmp_path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} is saved with outputs; clear them"
    # The kernel inherits this process's environment: small sizes, and the suite's strictness
    # stays in this process (the notebook runs as a user would run it).
    monkeypatch.setenv("MSIM_NOTEBOOK_SMALL", "1")
    client = NotebookClient(
        nb,
        kernel_name="python3",  # ipykernel's own kernel: the Python running the tests
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},  # run in a scratch folder
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
