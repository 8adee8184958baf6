"""What a printed document carries, read back the way a person or a phone reads it: the print number on the
paper (pdftotext), the QR code decoded from the rendered page (pdftoppm, then zxing-cpp) as the verification
link, a reprint told apart from the first print, the issued file never changed; and a document issued in
English."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session

from api.app import create_app
from engine.catalog.packages import read_package
from engine.core import chain
from engine.outputs import seal
from harness.api import Api
from harness.pages import center_tree
from harness.settings import make_settings
from storage.db import engine_for
from tests.outputs.conftest import World, need_poppler, pdf_text
from tests.services.paths import PROCESSES

BASE = "https://shubbak.example"


def qr_links(pdf: bytes, tmp: Path, page: int = 1) -> list[str]:
    """The QR codes a phone would read on page ``page`` of the PDF, rendered at 150 dpi like a scan."""
    need_poppler()
    source = tmp / f"qr-{page}.pdf"
    source.write_bytes(pdf)
    prefix = tmp / f"qr-{page}"
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", str(page), "-l", str(page), str(source), str(prefix)],
                   check=True, capture_output=True, timeout=60)
    [png] = sorted(tmp.glob(f"qr-{page}*.png"))
    with Image.open(png) as image:
        found = zxingcpp.read_barcodes(image.convert("L"))
    return [code.text for code in found if code.format == zxingcpp.BarcodeFormat.QRCode]


def test_the_qr_code_read_from_the_page_is_the_verification_link(world: World, permit: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    number = permit["output"]["number"]
    assert qr_links(world.pdf(number), tmp_path) == [f"{BASE}/verify/{number}"]
    # The link opens the public check of this very document.
    r = world.api.client.get(f"/api/public/documents/{number}")
    assert r.status_code == 200 and r.json()["status"] == "valid"


def test_each_print_carries_its_number_and_the_issued_file_is_untouched(world: World, permit: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    api, number = world.api, permit["output"]["number"]
    issued = world.pdf(number)
    assert "print 1" not in pdf_text(issued, tmp_path)  # the stored document itself carries no print number
    copies = []
    for copy in (1, 2):
        r = api.client.post(f"/api/outputs/{number}/print", headers=world.clerk)
        assert r.status_code == 200 and r.headers["X-Print-Copy"] == str(copy)
        copies.append(r.content)
        text = pdf_text(r.content, tmp_path)
        assert f"print {copy} of document {number}" in text
        assert f"نسخة مطبوعة رقم {copy}" in text
        assert f"print {3 - copy} of" not in text  # the first print does not read as the second
        # The issued bytes come first, unchanged; the mark is added after them and signed: intact, whole file.
        assert r.content.startswith(issued)
        checked = seal.check(r.content, api.settings)
        assert checked.ok and checked.number == number
        # The QR code of the printed page is still the verification link.
        assert qr_links(r.content, tmp_path) == [f"{BASE}/verify/{number}"]
    assert copies[0] != copies[1]
    # The stored file did not change; each print is on the case's record with its number.
    assert world.pdf(number) == issued
    with Session(engine_for(api.settings.database_url)) as session:
        prints = [e.data["copy"] for e in chain.events_of(session, permit["case"]["id"]) if e.kind == "output_printed"]
    assert prints == [1, 2]
    # A printed copy is not the issued file: the upload check refuses it (its hash is not the recorded one).
    check = api.client.post(f"/api/public/documents/{number}/check", content=copies[0],
                            headers={"Content-Type": "application/pdf"})
    assert check.status_code == 200 and check.json()["file_matches"] is False, check.text


def test_a_mark_added_without_the_signature_does_not_pass_for_a_print(world: World, permit: dict[str, Any]) -> None:
    """Someone draws "print 1" on a copy themselves: the file no longer checks (added to after the signature)."""
    from engine.outputs import pdf

    number = permit["output"]["number"]
    forged = seal.overlay(world.pdf(number), pdf.print_mark(number, 1))
    checked = seal.check(forged, world.api.settings)
    assert checked.signed and checked.intact and not checked.whole_file and not checked.ok


@pytest.fixture
def english(sqlite_url: str, tmp_path: Path) -> Iterator[World]:
    """The building permit with its permit issued in English (``language = "en"``, an English template)."""
    settings = make_settings(sqlite_url, tmp_path, public_url=BASE)
    files = read_package(PROCESSES / "building_permit")
    toml = files["service.toml"].decode("utf-8")
    toml = toml.replace('template = "permit.html"', 'template = "permit.html"\nlanguage = "en"', 1)
    files["service.toml"] = toml.encode("utf-8")
    files["permit.html"] = (b"<p>This permit allows {{ citizen.full_name }} to build as approved.</p>"
                                    b"<p>Plot: {{ plot_number | default('-') }}</p>")
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        with Session(engine_for(settings.database_url)) as session:
            ids = center_tree(session)
        r = client.post("/api/processes", files=[("files", (n, b)) for n, b in files.items()],
                        headers=api.user("analyst"))
        assert r.status_code == 201, r.text
        yield World(api=api, centers=ids, clerk=api.user("front_desk", center_id=ids["CITY-A"]),
                    engineer=api.user("engineering", center_id=ids["CITY-A"]))


def test_a_document_issued_in_english(english: World, tmp_path: Path) -> None:
    world = english
    case = world.walk("approved", until="hand_over")
    assert world.issue_all() == 1
    [output] = world.outputs(case["id"])
    assert output["status"] == "valid"
    issued = world.pdf(output["number"])
    text = pdf_text(issued, tmp_path)
    for words in ("Building permit", "Document number", "Issued on", "Request number", "Issued by",
                  "Engineering department", "To verify this document", "to build as approved"):
        assert words in text, (words, text)
    assert output["number"] in text and case["tracking_number"] in text
    assert "رقم المستند" not in text and "تاريخ الإصدار" not in text  # the frame is English, not Arabic
    assert qr_links(issued, tmp_path) == [f"{BASE}/verify/{output['number']}"]
    printed = world.api.client.post(f"/api/outputs/{output['number']}/print", headers=world.clerk)
    assert f"print 1 of document {output['number']}" in pdf_text(printed.content, tmp_path)
