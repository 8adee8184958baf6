"""A step that reaches the hand-over owes the permit; issued after commit, it is a real Arabic PDF, signed,
stored, and its SHA-256 is an event of the case's chain."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from PIL import Image
from sqlmodel import Session, select

from engine.core import chain
from engine.outputs import seal
from harness.api import CITIZEN
from storage.db import engine_for
from storage.models.cases import Case
from storage.models.outputs import IssuedOutput
from tests.outputs.conftest import World, need_poppler, pdf_text


def test_the_permit_is_arabic_text_in_logical_order(world: World, permit: dict[str, Any], tmp_path: Path) -> None:
    output = permit["output"]
    assert output["status"] == "valid" and output["kind"] == "building_permit"
    pdf = world.pdf(output["number"])
    assert hashlib.sha256(pdf).hexdigest() == output["sha256"]
    text = pdf_text(pdf, tmp_path)
    assert CITIZEN["full_name"] in text  # "سارة أحمد محمود", shaped and in reading order
    assert "ترخيص بناء" in text  # the service's Arabic title
    assert "الإدارة الهندسية" in text  # the department that decided
    assert output["number"] in text and permit["case"]["tracking_number"] in text
    assert "هـ" in text  # the issue date in the Hijri calendar too
    # the case's own data, from the template (pdftotext spaces the Arabic comma as it likes)
    assert "شارع التحرير" in text and "الدقي" in text and "1532/2019" in text
    assert "eng_mostafa" not in text.lower()  # never the officer
    # Beside the QR code (the same link, drawn as its code: engine/outputs/pdf.py), on every page.
    assert f"https://shubbak.example/verify/{output['number']}" in text


def test_page_one_renders_to_a_picture_that_is_not_blank(world: World, permit: dict[str, Any],
                                                         tmp_path: Path) -> None:
    need_poppler()
    source = tmp_path / "permit.pdf"
    source.write_bytes(world.pdf(permit["output"]["number"]))
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
                   check=True)
    [png] = list(tmp_path.glob("page*.png"))
    with Image.open(png) as image:
        grey = image.convert("L")
        histogram = grey.histogram()  # pixels per grey level, 0 (black) to 255 (white)
        dark = sum(histogram[:128])
        assert grey.size[0] > 300 and grey.size[1] > 400
    assert dark > 2000  # text, the table's lines and the QR code: not an empty page


def test_the_pdf_is_signed_and_its_hash_is_in_the_case_chain(world: World, permit: dict[str, Any]) -> None:
    output, settings = permit["output"], world.api.settings
    pdf = world.pdf(output["number"])
    checked = seal.check(pdf, settings)
    assert checked.ok and checked.number == output["number"]
    with Session(engine_for(settings.database_url)) as session:
        case = session.get(Case, permit["case"]["id"])
        assert case is not None
        events = chain.events_of(session, case.id or 0)
        assert chain.verify_chain(case, events) is None
    issued = [e for e in events if e.kind == "output_issued"]
    assert [(e.data["number"], e.data["sha256"]) for e in issued] == [(output["number"], output["sha256"])]


def test_a_document_is_owed_once_and_the_issue_is_not_repeated(world: World, permit: dict[str, Any]) -> None:
    assert world.issue_all() == 0  # nothing pending any more
    with Session(engine_for(world.api.settings.database_url)) as session:
        rows = session.exec(select(IssuedOutput)).all()
    assert len(rows) == 1 and rows[0].storage_key is not None


def test_rejection_issues_the_decision_letter_with_the_department_reasons(world: World, tmp_path: Path) -> None:
    case = world.walk("rejected", until="notify_rejection")
    assert world.issue_all() == 1
    [letter] = world.outputs(case["id"])
    assert letter["kind"] == "rejection_decision" and letter["status"] == "valid"
    text = pdf_text(world.pdf(letter["number"]), tmp_path)
    assert "قرار برفض طلب ترخيص بناء" in text
    assert CITIZEN["full_name"] in text
    reasons = next(step for step in _rejected_steps() if step["task"] == "engineering_review")["data"]["review_notes"]
    assert " ".join(reasons.split()) in text
    assert "eng_mostafa" not in text.lower()


def _rejected_steps() -> list[dict[str, Any]]:
    from tests.services.paths import find_path

    return [{"task": s.task, "data": s.data} for s in find_path("building_permit", "rejected").steps]


def test_a_document_that_cannot_be_made_is_retried_then_marked_failed_with_its_reason(
        world: World, monkeypatch: Any) -> None:
    case = world.walk("approved", until="hand_over")

    def broken(*_args: Any, **_kw: Any) -> str:
        raise ValueError("the template met data it did not expect")

    monkeypatch.setattr("engine.catalog.output_templates.render", broken)
    attempts = world.api.settings.document_issue_attempts
    for _ in range(attempts):
        assert world.issue_all() == 0
    [owed] = world.outputs(case["id"])
    assert owed["status"] == "failed"
    with Session(engine_for(world.api.settings.database_url)) as session:
        row = session.exec(select(IssuedOutput)).one()
        events = chain.events_of(session, case["id"])
    assert row.attempts == attempts and "did not expect" in (row.error or "")
    assert row.storage_key is None and not [e for e in events if e.kind == "output_issued"]
    assert world.api.client.get(f"/api/public/documents/{owed['number']}").status_code == 404
