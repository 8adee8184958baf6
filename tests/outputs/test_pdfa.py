"""What can be checked of PDF/A-3b here without veraPDF (docs/documents.md, "PDF/A"): the identification in the
XMP metadata, the sRGB output intent with its ICC profile, every font embedded, the document information
equal to the XMP, and nothing PDF/A forbids (encryption, JavaScript, embedded actions)."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
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


#: The document information's entries and their XMP equivalents (ISO 19005-3, 6.6.2.3.1).
_INFO_XMP = {"/Producer": "pdf:Producer", "/Keywords": "pdf:Keywords", "/Creator": "xmp:CreatorTool"}


def _xmp_value(xmp: str, name: str) -> str | None:
    """A simple XMP property, written as an attribute or as an element."""
    found = re.search(rf'{name}="([^"]*)"', xmp) or re.search(rf"<{name}>([^<]*)</{name}>", xmp)
    return html.unescape(found.group(1)) if found else None


def _get(dictionary: Any, key: str) -> Any:
    """An entry, resolved when it is a reference (pyHanko's ``get`` leaves references as they are)."""
    if key not in dictionary:
        return None
    return dictionary[key]


def _font_problems(resources: Any, seen: set[int], where: str) -> list[str]:
    """Fonts of a resource dictionary (and of its form XObjects, such as a print mark) without their program."""
    problems: list[str] = []
    if resources is None:
        return problems
    resources = resources.get_object()
    for name, ref in (_get(resources, "/Font") or {}).items():
        font = ref.get_object()
        if _get(font, "/Subtype") == "/Type3":  # glyphs drawn by content streams: nothing to embed
            continue
        described = font["/DescendantFonts"][0].get_object() if _get(font, "/Subtype") == "/Type0" else font
        descriptor = _get(described, "/FontDescriptor") or {}
        if not any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
            problems.append(f"font {name} ({font.get('/BaseFont')}) of {where} is not embedded")
    for name, ref in (_get(resources, "/XObject") or {}).items():
        xobject = ref.get_object()
        if _get(xobject, "/Subtype") == "/Form" and id(xobject) not in seen:
            seen.add(id(xobject))
            problems += _font_problems(_get(xobject, "/Resources"), seen, f"{where}, form {name}")
    return problems


def _pages(node: Any) -> list[Any]:
    if node.get("/Type") == "/Page":
        return [node]
    return [page for kid in node["/Kids"] for page in _pages(kid.get_object())]


def pdfa_problems(data: bytes) -> list[str]:
    """What a PDF/A-3b validator would check that can be read here, as a list of problems (empty: all hold).

    The identification in the XMP, one sRGB output intent with an ICC profile, every font's program embedded,
    no encryption, the document information equal to the XMP, every embedded file an associated file with its
    relationship (``/AFRelationship``), its MIME type and its ``/F`` and ``/UF``, and none of JavaScript or
    launch actions."""
    problems: list[str] = []
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    root = reader.root
    if not data.startswith(b"%PDF-1.") or data[9:10] != b"%" and data[10:11] != b"%":
        problems.append("no PDF 1.x header followed by a binary comment")
    if reader.encrypted or "/Encrypt" in reader.trailer:
        return [*problems, "the file is encrypted"]  # nothing else can be read without its password
    if "/ID" not in reader.trailer:
        problems.append("no file identifier")
    if "/Metadata" not in root:
        return [*problems, "no XMP metadata"]
    xmp = root["/Metadata"].get_object().data.decode("utf-8")
    if _xmp_value(xmp, "pdfaid:part") != "3" or _xmp_value(xmp, "pdfaid:conformance") != "B":
        problems.append("the XMP does not identify PDF/A-3B")
    intents = [i.get_object() for i in _get(root, "/OutputIntents") or []]
    pdfa = [i for i in intents if i.get("/S") == "/GTS_PDFA1"]
    if len(pdfa) != 1:
        problems.append(f"{len(pdfa)} PDF/A output intents, not one")
    else:
        stream = _get(pdfa[0], "/DestOutputProfile")
        if stream is None or stream.data[36:40] != b"acsp" or int(_get(stream, "/N") or 0) != 3:
            problems.append("the output intent has no RGB ICC profile")
    info = reader.trailer["/Info"].get_object() if "/Info" in reader.trailer else {}
    for key, name in _INFO_XMP.items():
        if key in info and str(info[key]) != _xmp_value(xmp, name):
            problems.append(f"{key} is {str(info[key])!r} in the document information, {_xmp_value(xmp, name)!r} "
                            "in the XMP")
    if "/Title" in info and f">{html.escape(str(info['/Title']), quote=False)}<" not in xmp:
        problems.append("the title differs between the document information and the XMP")
    seen: set[int] = set()
    for index, page in enumerate(_pages(root["/Pages"].get_object())):
        problems += _font_problems(_get(page, "/Resources"), seen, f"page {index + 1}")
    associated = [f.get_object() for f in _get(root, "/AF") or []]
    names = _get(root, "/Names")
    files = _get(names, "/EmbeddedFiles") if names is not None else None
    embedded = _get(files, "/Names") if files is not None else None
    for spec in [embedded[i] for i in range(1, len(embedded or []), 2)]:
        label = str(_get(spec, "/UF") or _get(spec, "/F"))
        if _get(spec, "/AFRelationship") not in ("/Source", "/Data", "/Alternative", "/Supplement",
                                               "/EncryptedPayload", "/FormData", "/Schema", "/Unspecified"):
            problems.append(f"the embedded file {label} has no AFRelationship")
        if not any(spec is a for a in associated):
            problems.append(f"the embedded file {label} is not in the catalog's /AF")
        if "/F" not in spec or "/UF" not in spec:
            problems.append(f"the embedded file {label} lacks /F or /UF")
        stream = spec["/EF"]["/F"].get_object()
        if not str(_get(stream, "/Subtype") or "").strip("/"):
            problems.append(f"the embedded file {label} has no MIME type")
        if "/ModDate" not in (_get(stream, "/Params") or {}):
            problems.append(f"the embedded file {label} has no modification date")
    if b"/JavaScript" in data or b"/Launch" in data:
        problems.append("JavaScript or a launch action")
    return problems


def _facts(data: bytes) -> dict[str, Any]:
    root = PdfFileReader(io.BytesIO(data)).root
    names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    [spec] = [names[i + 1] for i in range(0, len(names), 2) if names[i] == pdf.FACTS_FILE]
    assert spec["/AFRelationship"] == "/Data"
    stream = spec["/EF"]["/F"].get_object()
    assert str(stream["/Subtype"]).strip("/") in ("application/json", "application#2Fjson")
    facts: dict[str, Any] = json.loads(stream.data)
    return facts


def test_the_rendered_document_carries_what_pdf_a_3b_asks_for(tmp_path: Path) -> None:
    raw, _settings = _extract(tmp_path)
    assert raw.startswith(b"%PDF-1.7\n%") and raw[10:14] >= b"\x80\x80\x80\x80"  # a binary comment follows
    assert pdfa_problems(raw) == []
    reader = PdfFileReader(io.BytesIO(raw))
    xmp = reader.root["/Metadata"].get_object().data.decode("utf-8")
    info = reader.trailer["/Info"].get_object()
    assert f'pdf:Producer="{info["/Producer"]}"' in xmp
    assert str(info["/Title"]) in xmp and str(info["/Keywords"]) in xmp
    assert re.search(r"<xmp:CreatorTool>Shubbak</xmp:CreatorTool>", xmp)
    fonts = _fonts(raw, tmp_path)
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # the "emb" column
    # The associated file: what the frame prints, for a machine, and nothing else about the holder.
    facts = _facts(raw)
    assert facts["number"] == "D2026-TEST-TEST-TEST" and facts["tracking_number"] == "1234-5678-9012"
    assert facts["verify_url"] == "https://shubbak.example/verify/D2026-TEST-TEST-TEST"
    assert "29003141401234" not in json.dumps(facts) and "national_id" not in facts


def test_signing_keeps_the_file_pdf_a_and_the_producers_agree(tmp_path: Path) -> None:
    """pyHanko writes its own name as the XMP's producer; the document information says the same (it used to
    say "WeasyPrint 70.0; pyHanko 0.38.0", which PDF/A forbids)."""
    raw, settings = _extract(tmp_path)
    signed = seal.sign(raw, settings, reason="test", location="test")
    assert signed.startswith(raw)  # an incremental update: the PDF/A file is kept byte for byte
    assert pdfa_problems(signed) == []
    reader = PdfFileReader(io.BytesIO(signed))
    xmp = reader.root["/Metadata"].get_object().data.decode("utf-8")
    assert _xmp_value(xmp, "pdf:Producer") == str(reader.trailer["/Info"].get_object()["/Producer"])
    assert seal.check(signed, settings).ok
    fonts = _fonts(signed, tmp_path)
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts
    # A printed copy: the mark over each page (a form with its own fonts), then signed again.
    printed = seal.sign(seal.overlay(signed, pdf.print_mark("D2026-TEST-TEST-TEST", 2)), settings,
                        reason="print", location="test", field="Shubbak-print-2")
    assert pdfa_problems(printed) == [] and seal.check(printed, settings).ok


def test_a_certificate_of_an_authority_with_an_rsa_key_adds_no_pdf_2_version(tmp_path: Path) -> None:
    """With a configured RSA certificate the signed catalog keeps no ``/Version`` nor extension (the
    installation's own Ed25519 key makes pyHanko declare PDF 2.0: docs/documents.md, "PDF/A")."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test seal")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2070, 1, 1, tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    raw, _settings = _extract(tmp_path)
    settings = Settings(var_dir=tmp_path, public_url="https://shubbak.example",
                        document_certificate_file=tmp_path / "cert.pem", document_key_file=tmp_path / "key.pem")
    signed = seal.sign(raw, settings, reason="test", location="test")
    root = PdfFileReader(io.BytesIO(signed)).root
    assert "/Version" not in root and "/Extensions" not in root
    assert pdfa_problems(signed) == [] and seal.check(signed, settings).ok


def _changed(data: bytes, change: Any) -> bytes:
    """``data`` with ``change(writer)`` applied as an incremental update (the way a careless tool would)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _drop_intents(writer: IncrementalPdfFileWriter) -> None:
    del writer.root["/OutputIntents"]
    writer.update_root()


def _unlink_attachment(writer: IncrementalPdfFileWriter) -> None:
    names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
    del names[1]["/AFRelationship"]
    writer.mark_update(names.raw_get(1))


def _font_without_program(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    for ref in page["/Resources"]["/Font"].values():
        font = ref.get_object()
        descendant = font["/DescendantFonts"][0]
        for key in ("/FontFile", "/FontFile2", "/FontFile3"):
            descendant["/FontDescriptor"].pop(key, None)
        writer.mark_update(descendant.raw_get("/FontDescriptor"))
        break


@pytest.mark.parametrize(("change", "expected"), [
    pytest.param(_drop_intents, "PDF/A output intents", id="no_output_intent"),
    pytest.param(_unlink_attachment, "AFRelationship", id="attachment_without_relationship"),
    pytest.param(_font_without_program, "is not embedded", id="font_not_embedded"),
])
def test_the_checks_see_what_pdf_a_forbids(tmp_path: Path, change: Any, expected: str) -> None:
    """The checks are not empty words: a file that lost what PDF/A asks for is reported."""
    raw, _settings = _extract(tmp_path)
    problems = pdfa_problems(_changed(raw, change))
    assert any(expected in p for p in problems), problems


def test_the_checks_see_disagreeing_metadata_and_encryption(tmp_path: Path) -> None:
    raw, _settings = _extract(tmp_path)
    writer = IncrementalPdfFileWriter(io.BytesIO(raw))
    info_ref = writer.trailer.raw_get("/Info")
    info_ref.get_object()["/Producer"] = generic.TextStringObject("Some Tool 1.0")
    writer.mark_update(info_ref)
    writer.root["/Metadata"] = writer.add_object(generic.StreamObject(
        stream_data=PdfFileReader(io.BytesIO(raw)).root["/Metadata"].get_object().data))
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    assert any("/Producer" in p for p in pdfa_problems(out.getvalue()))
    # An encrypted copy of the document (any password): PDF/A forbids it.
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    locked = copy_into_new_writer(PdfFileReader(io.BytesIO(raw)))
    locked.encrypt("owner-secret", "")
    out = io.BytesIO()
    locked.write(out)
    assert "the file is encrypted" in pdfa_problems(out.getvalue())


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
    assert b"do-not-leak" not in leaked
    # The only embedded file is Shubbak's own associated file; no attachment annotation was made.
    root = PdfFileReader(io.BytesIO(leaked)).root
    names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    assert [str(names[i]) for i in range(0, len(names), 2)] == [pdf.FACTS_FILE]
    assert b"/FileAttachment" not in leaked
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
