"""What can be checked of PDF/A-3b here without veraPDF (docs/documents.md, "PDF/A"): the identification in the
XMP metadata, the sRGB output intent with its ICC profile, every font embedded, the document information
equal to the XMP, and nothing PDF/A forbids (encryption, JavaScript, embedded actions)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader

from engine.bpmn.compiler import compile_package
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from engine.outputs import issue, pdf, seal
from tests.conftest import missing
from tests.services.paths import PROCESSES, find_path


def _extract(tmp_path: Path) -> tuple[bytes, Settings]:
    process = compile_package(read_package(PROCESSES / "birth_certificate"), max_xml_bytes=5_000_000,
                              default_lane="front_desk")
    output = next(o for o in process.service.outputs if o.kind == "birth_certificate_extract")
    path = find_path("birth_certificate", "found_and_issued")
    data = dict(path.start_data)
    for step in path.steps:
        data.update(step.data)
    settings = Settings(var_dir=tmp_path, public_url="https://shubbak.example")
    page, body = issue.compose(process, output, number="D2026-TEST-TEST-TEST", data=data,
                               tracking_number="1234-5678-9012", center={"ar": "مركز الخدمات", "en": "Center"},
                               moment=datetime(2026, 12, 5, 10, tzinfo=UTC), outcome="hand_over", settings=settings)
    return pdf.render(page, body), settings


def _fonts(data: bytes, tmp_path: Path) -> list[str]:
    if shutil.which("pdffonts") is None:
        missing("poppler-utils (pdffonts) is not installed")
    source = tmp_path / "fonts.pdf"
    source.write_bytes(data)
    out = subprocess.run(["pdffonts", str(source)], capture_output=True, check=True, text=True).stdout
    return out.splitlines()[2:]


def test_the_rendered_document_carries_what_pdf_a_3b_asks_for(tmp_path: Path) -> None:
    raw, _settings = _extract(tmp_path)
    assert raw.startswith(b"%PDF-1.7\n%") and raw[10:14] >= b"\x80\x80\x80\x80"  # a binary comment follows
    reader = PdfFileReader(io.BytesIO(raw))
    root = reader.root
    xmp = root["/Metadata"].get_object().data.decode("utf-8")
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    [intent] = [i.get_object() for i in root["/OutputIntents"]]
    assert intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent
    assert not reader.encrypted and "/ID" in reader.trailer
    assert b"/JavaScript" not in raw and b"/Launch" not in raw and b"/EmbeddedFile" not in raw
    info = reader.trailer["/Info"].get_object()
    # Each entry of the document information is the same in the XMP (ISO 19005-3, 6.6.2.3.1).
    assert f'pdf:Producer="{info["/Producer"]}"' in xmp
    assert str(info["/Title"]) in xmp and str(info["/Keywords"]) in xmp
    assert re.search(r"<xmp:CreatorTool>Shubbak</xmp:CreatorTool>", xmp)
    fonts = _fonts(raw, tmp_path)
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # the "emb" column


def test_signing_keeps_the_identification_the_intent_and_the_fonts(tmp_path: Path) -> None:
    raw, settings = _extract(tmp_path)
    signed = seal.sign(raw, settings, reason="test", location="test")
    assert signed.startswith(raw)  # an incremental update: the PDF/A file is kept byte for byte
    root = PdfFileReader(io.BytesIO(signed)).root
    xmp = root["/Metadata"].get_object().data.decode("utf-8")
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    assert "/OutputIntents" in root
    fonts = _fonts(signed, tmp_path)
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts


def test_a_template_cannot_carry_the_servers_files_or_an_internal_address_into_the_pdf(tmp_path: Path) -> None:
    """An analyst's template is untrusted: WeasyPrint fetches only ``data:`` URLs here (engine/outputs/pdf.py)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SHUBBAK_SIGNING_SECRET=do-not-leak-" + "x" * 20)
    raw, _settings = _extract(tmp_path)
    from engine.outputs import issue as _issue  # the same page and body, with what an attacker would add
    process = compile_package(read_package(PROCESSES / "birth_certificate"), max_xml_bytes=5_000_000,
                              default_lane="front_desk")
    output = next(o for o in process.service.outputs if o.kind == "birth_certificate_extract")
    page, body = _issue.compose(process, output, number="D2026-TEST-TEST-TEST", data={},
                                tracking_number="1234-5678-9012", center={"ar": "مركز", "en": "Center"},
                                moment=datetime(2026, 12, 5, 10, tzinfo=UTC), outcome="hand_over",
                                settings=_settings)
    body += (f'<link rel="attachment" href="{secret.as_uri()}"><a rel="attachment" href="{secret.as_uri()}">a</a>'
             f'<img src="{secret.as_uri()}" alt="x"><img src="http://127.0.0.1:9/x.png" alt="y">'
             f'<style>@import url("{secret.as_uri()}");</style>')
    leaked = pdf.render(page, body)
    assert b"do-not-leak" not in leaked and b"/EmbeddedFile" not in leaked
    assert raw.startswith(b"%PDF") and leaked.startswith(b"%PDF")
    # The fetcher itself refuses file: and http:, and still reads data: (the QR code).
    from weasyprint.urls import URLFetchingError

    fetcher = pdf._fetcher()
    for url in (secret.as_uri(), "http://127.0.0.1:9/"):
        try:
            fetcher.fetch(url)
        except (URLFetchingError, ValueError, OSError):
            continue
        raise AssertionError(f"{url} was fetched")
    assert fetcher.fetch("data:text/plain;base64,b2s=") is not None
