"""Verification by anyone, tried from the forger's side: a changed byte, another document's file, a walk of
the number space, and a public answer that must say nothing personal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from cli.main import main as cli_main
from engine.outputs import certificate, seal
from harness.api import CITIZEN
from harness.pages import Pages
from tests.outputs.conftest import World

PUBLIC_KEYS = {"number", "type", "issued_at", "issuing_center", "status", "status_at", "superseded_by", "holder"}


def _flip(pdf: bytes, at: int) -> bytes:
    changed = bytearray(pdf)
    changed[at] ^= 0x01
    return bytes(changed)


def test_one_changed_byte_fails_the_pdf_signature_and_the_command(world: World, permit: dict[str, Any],
                                                                  tmp_path: Path, monkeypatch: Any,
                                                                  capsys: Any) -> None:
    settings = world.api.settings
    pdf = world.pdf(permit["output"]["number"])
    original = tmp_path / "permit.pdf"
    original.write_bytes(pdf)
    monkeypatch.setattr("cli.main.get_settings", lambda: settings)
    assert cli_main(["documents", "verify", str(original)]) == 0
    assert cli_main(["documents", "verify", "--record", str(original)]) == 0
    # A byte inside the signed content (the page's text and drawing), and one in the last bytes of the file.
    for at in (len(pdf) // 4, len(pdf) // 2, len(pdf) - 40):
        forged = _flip(pdf, at)
        assert not seal.check(forged, settings).ok, at
        path = tmp_path / f"forged-{at}.pdf"
        path.write_bytes(forged)
        capsys.readouterr()
        assert cli_main(["documents", "verify", str(path)]) == 1, at
        assert "NOT VALID" in capsys.readouterr().out


def test_offline_verification_needs_only_the_published_certificate(world: World, permit: dict[str, Any],
                                                                    tmp_path: Path, monkeypatch: Any) -> None:
    settings = world.api.settings
    cert = tmp_path / "shubbak.pem"
    cert.write_text(certificate.certificate_pem(settings))
    pdf = tmp_path / "permit.pdf"
    pdf.write_bytes(world.pdf(permit["output"]["number"]))
    monkeypatch.setattr("cli.main.get_settings", lambda: settings)
    assert cli_main(["documents", "verify", "--certificate", str(cert), str(pdf)]) == 0
    # Another installation's certificate does not vouch for this document.
    other = tmp_path / "other"
    other_settings = settings.model_copy(update={"var_dir": other})
    other.mkdir()
    (tmp_path / "other.pem").write_text(certificate.certificate_pem(other_settings))
    assert cli_main(["documents", "verify", "--certificate", str(tmp_path / "other.pem"), str(pdf)]) == 1


def test_a_pdf_appended_to_after_signing_is_not_valid(world: World, permit: dict[str, Any]) -> None:
    """An incremental update after the signature (a changed page added at the end) leaves the signed bytes
    intact; the check still refuses it, since the signature no longer covers the whole file."""
    pdf = world.pdf(permit["output"]["number"])
    checked = seal.check(pdf + b"\n% appended\n", world.api.settings)
    assert not checked.ok


def test_the_public_answer_names_the_document_and_nothing_personal(world: World, permit: dict[str, Any]) -> None:
    number, case = permit["output"]["number"], permit["case"]
    r = world.api.client.get(f"/api/public/documents/{number}")
    assert r.status_code == 200, r.text
    found = r.json()
    assert set(found) == PUBLIC_KEYS
    assert found["status"] == "valid" and found["status_at"] is None
    assert found["type"] == {"kind": "building_permit", "ar": "ترخيص بناء", "en": "Building permit"}
    assert found["issuing_center"] == {"ar": "CITY-A", "en": "CITY-A"}
    assert found["holder"] == "سارة أ. م."  # first name and initials
    text = r.text
    for personal in (CITIZEN["full_name"], "أحمد", CITIZEN["national_id"], CITIZEN["phone"][-7:],
                     case["tracking_number"], "شارع التحرير", "1532/2019", "eng_mostafa", permit["output"]["sha256"]):
        assert personal not in text, personal
    # Lower case, spaces around: the number as someone types it from paper.
    assert world.api.client.get(f"/api/public/documents/ {number.lower()} ").status_code == 200


def test_pending_documents_do_not_exist_publicly(world: World) -> None:
    case = world.walk("approved", until="hand_over")
    [owed] = world.outputs(case["id"])
    assert owed["status"] == "pending"
    assert world.api.client.get(f"/api/public/documents/{owed['number']}").status_code == 404


def test_walking_the_numbers_is_throttled_per_address(world: World, permit: dict[str, Any]) -> None:
    client = world.api.client
    for guess in ("D2026-0000-0000-0001", "D2026-0000-0000-0002", "D2026-0000-0000-0003"):
        assert client.get(f"/api/public/documents/{guess}").status_code == 404
    r = client.get("/api/public/documents/D2026-0000-0000-0004")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # Even a real number waits now, from this address: the page cannot be used to confirm guesses.
    assert client.get(f"/api/public/documents/{permit['output']['number']}").status_code == 429


def test_uploading_the_pdf_checks_its_hash(world: World, permit: dict[str, Any]) -> None:
    number, client = permit["output"]["number"], world.api.client
    pdf = world.pdf(number)
    r = client.post(f"/api/public/documents/{number}/check", content=pdf,
                    headers={"Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    assert r.json()["file_matches"] is True and r.json()["signature_valid"] is True
    forged = client.post(f"/api/public/documents/{number}/check", content=_flip(pdf, len(pdf) // 2),
                         headers={"Content-Type": "application/pdf"})
    assert forged.status_code == 200 and forged.json()["file_matches"] is False
    big = client.post(f"/api/public/documents/{number}/check", content=b"%PDF" + b"0" * (11 * 1024 * 1024),
                      headers={"Content-Type": "application/pdf"})
    assert big.status_code == 413


def test_another_documents_valid_pdf_does_not_pass_for_this_one(world: World, permit: dict[str, Any]) -> None:
    """A genuine, signed PDF of another case, presented under this number: the hash tells them apart."""
    other = world.walk("approved", until="hand_over")
    world.issue_all()
    [other_output] = world.outputs(other["id"])
    r = world.api.client.post(f"/api/public/documents/{permit['output']['number']}/check",
                              content=world.pdf(other_output["number"]), headers={"Content-Type": "application/pdf"})
    assert r.status_code == 200 and r.json()["file_matches"] is False


def test_the_verification_page_shows_the_status_and_checks_an_upload(world: World, permit: dict[str, Any]) -> None:
    number = permit["output"]["number"]
    visitor = Pages(TestClient(world.api.client.app), world.api.settings)
    page = visitor.client.get(f"/verify/{number}")
    assert page.status_code == 200
    assert 'data-status="valid"' in page.text and "سارة أ. م." in page.text
    assert CITIZEN["national_id"] not in page.text and CITIZEN["full_name"] not in page.text
    token = visitor.token(f"/verify/{number}")
    checked = visitor.client.post(f"/verify/{number}", data={"csrf_token": token},
                                  files={"pdf": ("permit.pdf", world.pdf(number), "application/pdf")})
    assert checked.status_code == 200 and 'id="verify-file-ok"' in checked.text
    assert visitor.client.get("/verify/D2026-NOPE-NOPE-NOPE").status_code == 404


def test_the_tracking_page_offers_the_verification_link_not_the_pdf(world: World, permit: dict[str, Any]) -> None:
    number, case = permit["output"]["number"], permit["case"]
    r = world.api.client.get(f"/api/public/track/{case['tracking_number']}",
                             params={"phone_last4": CITIZEN["phone"][-4:]})
    assert r.status_code == 200, r.text
    assert r.json()["documents"] == [{"number": number, "title": {"ar": "ترخيص بناء", "en": "Building permit"},
                                      "status": "valid", "verify_url": f"https://shubbak.example/verify/{number}"}]
    assert "/pdf" not in r.text
    visitor = Pages(TestClient(world.api.client.app), world.api.settings)
    page = visitor.post("/track", {"number": case["tracking_number"], "phone_last4": CITIZEN["phone"][-4:]},
                        token_from="/track")
    assert f'href="/verify/{number}"' in page.text and "/pdf" not in page.text
