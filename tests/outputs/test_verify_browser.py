"""In headless Chromium: someone shown a printed permit opens the link its QR code holds, sees it valid, checks
the PDF they were sent, and after a supervisor revokes it sees it revoked on the next look.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, col, select

from engine.cases import lifecycle as cases
from engine.cases import tasks
from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from engine.outputs import issue, manage
from engine.payments import drawer, pay
from engine.people.users import Actor
from harness import journey
from harness.settings import ROOT
from storage.db import engine_for
from storage.models.outputs import IssuedOutput
from storage.models.payments import Bill
from tests.outputs.conftest import pdf_text
from tests.services.paths import find_path
from tests.support.browser import need_chromium

CLERK = Actor("clerk", frozenset({"front_desk"}))
ENGINEER = Actor("engineer", frozenset({"engineering"}))
SUPERVISOR = Actor("boss", frozenset({"supervisor"}))
CASHIER = Actor("cashier", frozenset({"cashier"}))


def _issue_a_permit(settings: Settings, found: dict[str, Any]) -> None:
    files = read_package(ROOT / "processes" / "building_permit")
    files["service.toml"] = files["service.toml"].replace(b"required = true", b"required = false")
    path = find_path("building_permit", "approved")
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        processes.deploy(session=session, files=files, actor=Actor("t", frozenset({"admin"})), settings=settings)
        case = cases.open_case(session=session, service_code="building_permit", citizen=journey.CITIZEN,
                               data=path.case_data, actor=CLERK, settings=settings).case
        for step in path.steps[:2]:
            [ready] = cases.ready_tasks(session, case.id)
            tasks.complete(session=session, task_id=ready.id, data=step.data,
                           actor=CLERK if step.lane == "front_desk" else ENGINEER, settings=settings)
        # The approval billed the fee; the permit is issued at the hand-over, once the bill is paid.
        bill = session.exec(select(Bill).where(col(Bill.case_id) == case.id)).one()
        drawer.open_session(session=session, actor=CASHIER, opening={"cash": "0"}, settings=settings)
        amount = f"{bill.amount // 100}.{bill.amount % 100:02d}"
        pay.pay(session=session, bill_id=bill.id, method="cash", amount=amount, reference=None, actor=CASHIER,
                settings=settings)
        assert issue.issue_pending(session, settings) == 1
        row = session.exec(select(IssuedOutput)).one()
        found["number"] = row.number
        found["pdf"] = manage.pdf_of(session=session, number=row.number, actor=CLERK, settings=settings)[1]


@pytest.mark.slow
def test_a_printed_permit_is_verified_by_its_qr_link_and_turns_revoked(sqlite_settings: Settings,
                                                                        tmp_path: Path) -> None:
    need_chromium()
    found: dict[str, Any] = {}
    settings = sqlite_settings
    with journey.chromium() as browser, journey.center(settings, ROOT, lambda s: _issue_a_permit(s, found)) as url:
        number = found["number"]
        # The QR code on the paper holds the verification link (the PDF prints the same link beside it).
        assert f"/verify/{number}" in pdf_text(found["pdf"], tmp_path)
        walk = journey.Walk(browser, url, tmp_path / "verify")
        page = walk.context().new_page()  # a bank clerk's phone: nobody signed in
        page.goto(f"/verify/{number}")
        expect(page.locator("#verify-status")).to_have_attribute("data-status", "valid")
        expect(page.locator("#verify-status")).to_have_text("ساري")
        expect(page.locator("#verify-holder")).to_have_text("سارة أ. م.")
        assert journey.CITIZEN["national_id"] not in page.content()
        sent = tmp_path / "permit.pdf"
        sent.write_bytes(found["pdf"])
        page.set_input_files("#pdf", str(sent))
        page.locator("#verify-send").click()
        expect(page.locator("#verify-file-ok")).to_be_visible()
        walk.shot(page, "verify-valid")

        with Session(engine_for(settings.database_url)) as session:
            manage.revoke(session=session, number=number, reason="صدر بناءً على مستندات مزورة", actor=SUPERVISOR,
                          settings=settings)
        page.goto(f"/verify/{number}")
        expect(page.locator("#verify-status")).to_have_attribute("data-status", "revoked")
        expect(page.locator("#verify-status")).to_contain_text("ملغى")
        walk.shot(page, "verify-revoked")
