"""MkDocs hooks (mkdocs.yml `hooks:`): the site shows the repository's own reports and notebooks.

Nothing is copied by hand into docs/: the validation reports (validation/*.md), the benchmark
results (benchmarks/RESULTS.md, benchmarks/README.md, benchmarks/peers/README.md) and the
notebooks (notebooks/*.ipynb) are added to the build from where they live, at the same paths
in the site as in the repository, together with the local files they link to (figures, JSON
lines), so their relative links work unchanged. A report added to validation/ or a notebook
added to notebooks/ appears in the navigation by itself.

- Notebooks: docs/notebooks/NAME.ipynb, written with outputs by docs/render_notebooks.py (not
  tracked), is shown where it exists and its code equals notebooks/NAME.ipynb; otherwise the
  stored notebook, without outputs (the test build, tests/test_docs.py, needs no execution).
- A link in an included report to a file that is not part of the site (a folder, a test) is
  replaced by its repository path in code, so that `mkdocs build --strict` holds.

Placeholders that pages use, each replaced by what it names when the page is built, so that
the page cannot drift from it:

- `<!-- readme: commands -->`: the README's first two ```bash blocks (install and run, and
  the test command), on the home page;
- `<!-- msim help: COMMAND -->`: `msim COMMAND --help` as the command prints it;
- `<!-- msim: top-level names -->`: msim's top-level names, linked to their packages' pages;
- `<!-- msim: validation reports -->`: the table of validation reports.
"""

import argparse
import ast
import json
import logging
import os
import pathlib
import posixpath
import re

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.msim")

ROOT = pathlib.Path(__file__).resolve().parents[1]
REPORTS = "validation/*.md"
PERFORMANCE = ["benchmarks/README.md", "benchmarks/RESULTS.md", "benchmarks/peers/README.md"]
NOTEBOOKS = "notebooks/*.ipynb"
RENDERED = ROOT / "docs" / "notebooks"
README_COMMANDS = "<!-- readme: commands -->"
TOP_LEVEL = "<!-- msim: top-level names -->"
REPORT_LIST = "<!-- msim: validation reports -->"
HELP = re.compile(r"<!-- msim help: ?([\w-]*) -->")

# Markdown links and images with a relative target: [text](target) / ![alt](target).
_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*([^)\s]+)(\s+\"[^\"]*\")?\s*\)")
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)


def _is_relative(target: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.I)


def _linked_files(md: pathlib.Path) -> list[str]:
    """Repository paths of the local files that the Markdown file `md` links to."""
    found = []
    for _, _, target, _ in _LINK.findall(md.read_text(encoding="utf-8")):
        if not _is_relative(target):
            continue
        path = (md.parent / target.split("#")[0]).resolve()
        if path.is_file() and path.is_relative_to(ROOT):
            found.append(path.relative_to(ROOT).as_posix())
    return found


def _included_pages() -> list[str]:
    """Repository paths of the Markdown pages taken into the site as they are."""
    reports = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(REPORTS))
    return reports + [p for p in PERFORMANCE if (ROOT / p).is_file()]


def _title(path: pathlib.Path) -> str:
    match = _H1.search(path.read_text(encoding="utf-8"))
    return match.group(1) if match else path.stem.replace("_", " ")


def _nav_entries(paths: list[str]) -> list[dict[str, str]]:
    """Navigation entries titled by each page's first heading; equal titles get the file name."""
    titles = [_title(ROOT / p) for p in paths]
    return [
        {f"{t} ({pathlib.Path(p).stem})" if titles.count(t) > 1 else t: p}
        for t, p in zip(titles, paths, strict=True)
    ]


def _code_cells(path: pathlib.Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _notebook_source(stored: pathlib.Path) -> pathlib.Path:
    """The rendered notebook when it is up to date with `stored`, else `stored` itself."""
    rendered = RENDERED / stored.name
    if not rendered.is_file():
        return stored
    if _code_cells(rendered) != _code_cells(stored):
        log.info(
            "docs/notebooks/%s is older than notebooks/%s: showing the stored notebook "
            "without outputs (python docs/render_notebooks.py renders it again)",
            stored.name,
            stored.name,
        )
        return stored
    return rendered


def _fill(nav: list, section: str, entries: list) -> None:
    for item in nav:
        if isinstance(item, dict) and section in item:
            item[section] = [*(item[section] or []), *entries]
            return
    raise ValueError(f"mkdocs.yml: the nav has no section {section!r} for docs/hooks.py to fill")


def _notebook_entries(paths: list[str]) -> list[dict[str, str]]:
    """Navigation entries titled by each notebook's first Markdown heading."""
    entries = []
    for p in paths:
        cells = json.loads((ROOT / p).read_text(encoding="utf-8"))["cells"]
        heading = next(
            (
                m.group(1)
                for c in cells
                if c["cell_type"] == "markdown"
                for m in [_H1.search("".join(c["source"]))]
                if m
            ),
            pathlib.Path(p).stem,
        )
        entries.append({heading: p})
    return entries


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    reports = [p for p in _included_pages() if p.startswith("validation/")]
    notebooks = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(NOTEBOOKS))
    _fill(config.nav, "Validation", _nav_entries(reports))
    _fill(config.nav, "Notebooks", _notebook_entries(notebooks))
    _fill(config.nav, "Performance", _nav_entries([p for p in PERFORMANCE if (ROOT / p).is_file()]))
    return config


def _report_table(page: Page) -> str:
    """A table of the validation reports: title (linked), and the script that writes it."""
    rows = ["| report | written by |", "| --- | --- |"]
    for entry in _nav_entries([p for p in _included_pages() if p.startswith("validation/")]):
        ((title, path),) = entry.items()
        script = pathlib.Path(path).with_suffix(".py")
        by = f"`{script.as_posix()}`" if (ROOT / script).is_file() else ""
        link = posixpath.relpath(path, posixpath.dirname(page.file.src_uri))
        rows.append(f"| [{title}]({link}) | {by} |")
    return "\n".join(rows)


def _help(command: str) -> str:
    """``msim COMMAND --help`` as the command prints it (80 columns), in a code block."""
    from msim.cli import _parser  # imported here: only the CLI page needs msim itself

    parser = _parser()
    if command:
        (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if command not in sub.choices:
            raise ValueError(f"<!-- msim help: {command} -->: msim has no command {command!r}")
        parser = sub.choices[command]
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        text = parser.format_help()
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    line = " ".join(["$ msim", *([command] if command else []), "--help"])
    return f"```text\n{line}\n{text.rstrip()}\n```"


def _top_level_names() -> str:
    """A table of msim's top-level names, each linked to where its package documents it; a
    name defined in a private module (``msim._units``) is documented right here."""
    tree = ast.parse((ROOT / "msim" / "__init__.py").read_text(encoding="utf-8"))
    rows, here = [], []
    for node in tree.body:
        if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 1):
            continue
        for alias in node.names:
            if alias.asname != alias.name:
                continue
            if node.module.startswith("_"):
                here.append(alias.name)
                rows.append(f"| [`msim.{alias.name}`][msim.{alias.name}] | this page |")
            else:
                home = f"msim.{node.module}"
                rows.append(
                    f"| [`msim.{alias.name}`][{home}.{alias.name}] | [`{home}`](../api/"
                    f"{node.module}.md) |"
                )
    table = "| name | documented in |\n| --- | --- |\n" + "\n".join(rows)
    options = "    options:\n      show_root_heading: true\n      show_root_toc_entry: true\n"
    return table + "".join(f"\n\n::: msim.{name}\n{options}" for name in here)


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns .ipynb files into pages
def on_files(files: Files, config: MkDocsConfig) -> Files:
    def add(src_uri: str, abs_src_path: pathlib.Path) -> None:
        existing = files.get_file_from_path(src_uri)
        if existing is not None:
            files.remove(existing)
        # A file of src_dir rather than File.generated: mkdocs-jupyter finds a notebook's path
        # from src_dir, which a generated file lacks.
        src_dir = str(abs_src_path)[: -len(src_uri)]
        assert pathlib.Path(src_dir, src_uri) == abs_src_path, (src_dir, src_uri, abs_src_path)
        files.append(
            File(
                src_uri,
                src_dir=src_dir,
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )

    for stored in sorted(ROOT.glob(NOTEBOOKS)):
        add(f"notebooks/{stored.name}", _notebook_source(stored))
    for page in _included_pages():
        add(page, ROOT / page)
        for linked in _linked_files(ROOT / page):
            if files.get_file_from_path(linked) is None:
                add(linked, ROOT / linked)
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if README_COMMANDS in markdown:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        blocks = re.findall(r"```bash\n.*?```", readme, flags=re.S)[:2]
        if len(blocks) < 2:
            raise ValueError("README.md no longer starts with two ```bash blocks for the home page")
        markdown = markdown.replace(README_COMMANDS, "\n\n".join(blocks))
    markdown = HELP.sub(lambda m: _help(m.group(1)), markdown)
    if REPORT_LIST in markdown:
        markdown = markdown.replace(REPORT_LIST, _report_table(page))
    if TOP_LEVEL in markdown:
        markdown = markdown.replace(TOP_LEVEL, _top_level_names())
    if page.file.src_uri not in _included_pages():
        return markdown

    here = posixpath.dirname(page.file.src_uri)

    def relink(match: re.Match) -> str:
        bang, text, target, _title = match.groups()
        if not _is_relative(target):
            return match.group(0)
        path = posixpath.normpath(posixpath.join(here, target.split("#")[0]))
        if files.get_file_from_path(path) is not None:
            return match.group(0)
        # Not part of the site (a folder of results, a script): say where it is instead.
        where = f"`{path.rstrip('/')}{'/' if target.endswith('/') else ''}`"
        return f"{text} ({where} in the repository)" if not bang else f"{text} ({where})"

    return _LINK.sub(relink, markdown)
