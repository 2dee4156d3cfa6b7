"""The documentation site builds with warnings as errors, and the code on its pages runs.

`mkdocs build --strict` fails on a broken link, a docstring that names a parameter its
function does not have, or a page that cannot be rendered; the build's own output is the
failure message. The notebooks are shown as stored (docs/render_notebooks.py executes them
for a published site; tests/test_notebooks.py runs them), so the build executes nothing and
takes about 15 s on the 2-core machine.

Marked slow (`pytest -m slow tests/test_docs.py`, a few minutes): the ```python blocks of the
hand-written pages (one namespace per page, in order; ```py blocks, such as the Finitewave
and Myokit scripts of docs/coming-from.md, are shown only) and the examples gallery's
scripts at their small sizes.
"""

import ast
import html
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Hand-written pages whose ```python blocks run, one namespace per page, in order. The
# examples gallery's scripts are run by test_examples_run_small instead.
CODE_PAGES = sorted(
    p
    for p in DOCS.rglob("*.md")
    if "```python" in p.read_text(encoding="utf-8") and p.parent.name != "examples"
)
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
PACKAGES = ["cells", "tissue", "stimulus", "solve", "observe", "protocols", "calibrate"]
PACKAGES += ["ensemble", "io", "viz"]


def _load(name: str, path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if build.returncode != 0:
        pytest.fail(
            f"mkdocs build --strict failed (exit {build.returncode}):\n"
            f"{build.stdout}\n{build.stderr}",
            pytrace=False,
        )
    return out


def _text(path: pathlib.Path) -> str:
    """The text of an HTML page, tags removed and entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def _public_names(package: str) -> list[str]:
    """Names a package re-exports as ``from ._x import Name as Name`` (STYLE.md rule 6)."""
    tree = ast.parse((ROOT / "msim" / package / "__init__.py").read_text(encoding="utf-8"))
    return [
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_api_page_documents_every_public_name(site, package):
    source = (site / "api" / package / "index.html").read_text(encoding="utf-8")
    missing = [n for n in _public_names(package) if f'id="msim.{package}.{n}"' not in source]
    assert not missing, f"api/{package}.md lacks public names of msim.{package}: {missing}"


def test_top_level_page_links_every_top_level_name(site):
    source = (site / "api" / "msim" / "index.html").read_text(encoding="utf-8")
    tree = ast.parse((ROOT / "msim" / "__init__.py").read_text(encoding="utf-8"))
    names = [
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
        if alias.asname == alias.name
    ]
    assert "simulate" in names and "Grid" in names
    missing = [n for n in names if f"<code>msim.{n}</code>" not in source]
    assert not missing, f"api/msim.md lists no link for {missing}"


def test_math_is_marked_for_mathjax(site):
    source = (site / "api" / "observe" / "index.html").read_text(encoding="utf-8")
    # The APD docstring's display equation, left for MathJax by arithmatex.
    assert re.search(r'<div class="arithmatex">\\\[.*APD', source, flags=re.S)
    assert '<span class="arithmatex">\\(' in source


def test_reports_and_notebooks_are_pages(site):
    for report in (ROOT / "validation").glob("*.md"):
        assert (site / "validation" / report.stem / "index.html").is_file(), report.name
    for figure in (ROOT / "validation").glob("*.png"):
        assert (site / "validation" / figure.name).is_file(), figure.name
    assert (site / "benchmarks" / "RESULTS" / "index.html").is_file()
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        page = site / "notebooks" / notebook.stem / "index.html"
        assert page.is_file(), notebook.name
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        first_code = next("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert first_code.strip().splitlines()[0] in _text(page), notebook.name


def test_home_page_shows_the_readme_commands(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install, tests = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)[:2]
    home = _text(site / "index.html")
    assert install.strip() in home and tests.strip() in home
    assert "readme: commands" not in home


def test_cli_page_shows_each_commands_help(site):
    page = _text(site / "guide" / "cli" / "index.html")
    for command in ("run", "calibrate", "ensemble"):
        assert f"$ msim {command} --help" in page and f"usage: msim {command}" in page


@pytest.mark.slow  # about 4 minutes on the 2-core machine: compiles a dozen programs
@pytest.mark.parametrize("page", CODE_PAGES, ids=[str(p.relative_to(DOCS)) for p in CODE_PAGES])
def test_page_code_runs(page, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    monkeypatch.chdir(tmp_path)  # pages write their figures and files here
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)


@pytest.mark.slow  # a TP06 sheet, a TP06 slab and a field fit: about 3 minutes
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_run_small(script, tmp_path):
    run = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")],
        cwd=tmp_path,
        env={**os.environ, "MSIM_DOCS_SMALL": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"{script.name} failed:\n{run.stdout}\n{run.stderr}"
    assert list((tmp_path / "out").glob("*.png")), f"{script.name} wrote no figure"


# --- the build's own machinery ---------------------------------------------------------------


def test_grouped_arguments_get_one_entry_per_name():
    extensions = _load("griffe_extensions", DOCS / "griffe_extensions.py")
    text = "S.\n\nArgs:\n    lo, hi: the bounds,\n        lo < hi.\n    log: log scale.\n\n"
    text += "Returns:\n    a, b: left alone.\n"
    out = extensions._split_grouped(text)
    assert "    lo: the bounds,\n        lo < hi.\n    hi: the bounds,\n        lo < hi.\n" in out
    assert "    log: log scale.\n\nReturns:\n    a, b: left alone." in out


def test_stale_rendered_notebook_is_not_shown(tmp_path, monkeypatch):
    hooks = _load("docs_hooks", DOCS / "hooks.py")
    stored = tmp_path / "n.ipynb"
    rendered_dir = tmp_path / "rendered"
    rendered_dir.mkdir()
    cell = {"cell_type": "code", "source": ["x = 1"], "outputs": [], "metadata": {}}
    stored.write_text(json.dumps({"cells": [cell]}))
    monkeypatch.setattr(hooks, "RENDERED", rendered_dir)
    assert hooks._notebook_source(stored) == stored  # nothing rendered
    rendered = rendered_dir / "n.ipynb"
    rendered.write_text(json.dumps({"cells": [{**cell, "outputs": [{"text": "1"}]}]}))
    assert hooks._notebook_source(stored) == rendered  # rendered, same code
    stored.write_text(json.dumps({"cells": [{**cell, "source": ["x = 2"]}]}))
    assert hooks._notebook_source(stored) == stored  # the code changed since


def test_nav_section_missing_is_an_error():
    hooks = _load("docs_hooks", DOCS / "hooks.py")
    with pytest.raises(ValueError, match="no section 'Validation'"):
        hooks._fill([{"Home": "index.md"}], "Validation", [])


def test_render_notebooks_refuses_an_unknown_name(capsys):
    render = _load("render_notebooks", DOCS / "render_notebooks.py")
    with pytest.raises(SystemExit) as exit_info:
        render.main(["no-such-notebook"])
    assert exit_info.value.code == 2
    assert "no notebook" in capsys.readouterr().err
