"""CellML files that attack their XML reader: external entities (a local file, a URL), a
parameter entity, an external DTD, "billion laughs" and a quadratic blow-up are all refused
before Myokit parses them, quickly, reading nothing; a plain DOCTYPE and every real file pass."""

import http.server
import os
import pathlib
import resource
import threading
import time

import myokit
import myokit.formats.cellml
import pytest

from msim.cells import CellMLImportError, from_cellml
from msim.cells._cellml import _oxmeta, _read_xml

DATA = pathlib.Path(myokit.__file__).parent / "tests" / "data" / "formats" / "cellml"
CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"

BODY = (
    '<model xmlns="http://www.cellml.org/cellml/1.0#" name="m">'
    '<component name="c"><variable name="x" units="dimensionless" initial_value="1"/>'
    "<documentation>&e;</documentation></component></model>"
)


def _write(path: pathlib.Path, doctype: str, body: str = BODY) -> pathlib.Path:
    path.write_text(f'<?xml version="1.0"?>\n{doctype}\n{body}')
    return path


@pytest.fixture
def no_myokit(monkeypatch):
    """Fail the test if Myokit is asked to parse anything."""

    def model(self, path):
        raise AssertionError(f"Myokit was given {path}")

    monkeypatch.setattr(myokit.formats.cellml.CellMLImporter, "model", model)


@pytest.fixture
def server():
    """An HTTP server on localhost that records every request: ``(base URL, requests)``."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY e "fetched">')

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    thread.join()


def _refused(path: pathlib.Path, match: str) -> float:
    """Import ``path``, expect a refusal matching ``match``; the seconds it took."""
    start = time.perf_counter()
    with pytest.raises(CellMLImportError, match=match) as info:
        from_cellml(path)
    assert str(path) in str(info.value)
    return time.perf_counter() - start


def test_external_entity_file_is_refused(tmp_path, no_myokit):
    path = _write(
        tmp_path / "xxe.cellml", '<!DOCTYPE model [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    )
    assert _refused(path, r"declares the XML entities \['e'\].*remove the DOCTYPE") < 1.0


def test_external_entity_url_is_refused_without_a_request(tmp_path, no_myokit, server):
    url, requests = server
    cases = {
        "general": f'<!DOCTYPE model [<!ENTITY e SYSTEM "{url}/entity">]>',
        "parameter": f'<!DOCTYPE model [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>',
    }
    for name, doctype in cases.items():
        path = _write(tmp_path / f"{name}.cellml", doctype)
        _refused(path, r"declares the XML entities \['[ep]'\]")
    path = _write(tmp_path / "dtd.cellml", f'<!DOCTYPE model SYSTEM "{url}/model.dtd">', "<model/>")
    _refused(path, r"names the external DTD 'http://127\.0\.0\.1:\d+/model\.dtd'")
    assert requests == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_nothing_is_read_from_disk(tmp_path, no_myokit):
    """The entity names a named pipe, so that opening it shows: a writer thread notices a
    reader at once. lxml with entity resolution on does open it; msim does not."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    path = _write(
        tmp_path / "pipe.cellml", f'<!DOCTYPE model [<!ENTITY e SYSTEM "file://{fifo}">]>'
    )

    def opened_while(action) -> bool:
        done, opened = threading.Event(), threading.Event()

        def writer():
            while not done.is_set():
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # fails while no reader
                except OSError:
                    time.sleep(0.002)
                    continue
                opened.set()
                os.close(fd)
                return

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            action()
        finally:
            done.set()
            thread.join(5)
        return opened.is_set()

    from lxml import etree  # pyright: ignore[reportAttributeAccessIssue]

    assert opened_while(lambda: etree.parse(str(path), etree.XMLParser(resolve_entities=True)))
    assert not opened_while(lambda: _refused(path, "declares the XML entities"))


def test_billion_laughs_is_refused_quickly_and_small(tmp_path, no_myokit):
    nested = ['<!ENTITY e0 "lol">'] + [
        f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10)
    ]  # &e9; is 3 * 10^9 characters
    laughs = _write(
        tmp_path / "laughs.cellml",
        f"<!DOCTYPE model [{''.join(nested)}<!ENTITY e '&e9;'>]>",
    )
    wide = _write(  # a quadratic blow-up: one 10 kB entity used 10 000 times, 100 MB
        tmp_path / "wide.cellml",
        f'<!DOCTYPE model [<!ENTITY e "{"x" * 10_000}">]>',
        BODY.replace("&e;", "&e;" * 10_000),
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    # Even without resolving them, libxml2 checks an entity's text where it is first used,
    # and its amplification limit may stop the parse before msim's own check does.
    either = r"declares the XML entities \['e0', .*'e9', 'e'\]|does not parse \(.*entity"
    assert _refused(laughs, either) < 1.0
    assert _refused(wide, r"declares the XML entities \['e'\]|does not parse \(.*entity") < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000


def test_plain_doctype_is_accepted(tmp_path):
    """A DOCTYPE that declares nothing is harmless and imports as without it."""
    text = (DATA / "lr-1991-exported-1.cellml").read_text()
    head, rest = text.split("\n", 1) if text.startswith("<?xml") else ("", text)
    path = tmp_path / "lr.cellml"
    path.write_text(f"{head}\n<!DOCTYPE model>\n{rest}")
    cell = from_cellml(path)
    plain = from_cellml(DATA / "lr-1991-exported-1.cellml")
    assert cell.state_names == plain.state_names


def test_not_well_formed(tmp_path):
    path = tmp_path / "undefined.cellml"
    path.write_text(BODY)  # &e; without a declaration
    with pytest.raises(CellMLImportError, match=r"XML does not parse.*Entity 'e' not defined"):
        from_cellml(path)


def test_every_real_file_passes_the_xml_check():
    """Myokit's CellML files and, when present, the 79 curated ones: none is refused, and
    the annotations found are those of a plain parse."""
    from lxml import etree  # pyright: ignore[reportAttributeAccessIssue]

    files = sorted(DATA.glob("*.cellml")) + sorted(CELLML.glob("*.cellml"))
    assert len(files) >= 4
    for path in files:
        if "invalid" in path.name:  # Myokit's own broken examples
            continue
        root = _read_xml(path).getroot()
        assert _oxmeta(root) == _oxmeta(etree.parse(str(path)).getroot()), path.name
