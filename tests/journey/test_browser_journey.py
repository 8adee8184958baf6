"""The citizen's journey in headless Chromium, through the pages each person uses: the kiosk issues a ticket,
the clerk calls it at the counter and registers the request from it at the front desk, the engineer approves
it from the department's task page, the clerk hands it over; a message is written at each stage and sent by
the log gateway; the citizen opens the rating link of the last message on a phone and rates the service.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; a failure under CI=true.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from engine.core.settings import Settings
from engine.messages import outbox, send
from harness.journey import CITIZEN, PERMIT, Walk, center, chromium, papers_of
from harness.scans import pdf
from harness.settings import ROOT
from storage.db import engine_for
from storage.models.cases import Case
from storage.models.ratings import Rating
from tests.support.browser import need_chromium

PHONE = {"width": 390, "height": 844}


def _stages(settings: Settings, number: str) -> list[tuple[str, str]]:
    """(stage, status) of the case's messages, oldest first, as staff see them."""
    with Session(engine_for(settings.database_url)) as session:
        case = session.exec(select(Case).where(Case.tracking_number == number)).one()
        return [(m.stage, m.status) for m in outbox.for_case(session.connection(), case.id)]


def _bodies(settings: Settings, number: str) -> list[Any]:
    with Session(engine_for(settings.database_url)) as session:
        case = session.exec(select(Case).where(Case.tracking_number == number)).one()
        return [m.body for m in outbox.for_case(session.connection(), case.id)]


def _take_ticket(walk: Walk) -> str:
    kiosk = walk.context()
    page = kiosk.new_page()
    page.goto("/queue/kiosk")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.get_by_label("كبار السن").check()
    page.locator("#kiosk-permits").click()
    expect(page.get_by_role("heading", name="تذكرتك")).to_be_visible()
    number = page.locator("#ticket-number").inner_text()
    assert re.fullmatch(r"P-\d{3}", number), number
    walk.shot(page, "j1-kiosk-ticket")
    kiosk.close()
    return number


def _call_and_register(walk: Walk, ticket: str, papers: list[tuple[str, str]]) -> Page:
    clerk = walk.context()
    page = clerk.new_page()
    walk.sign_in(page, "clerk")
    page.goto("/queue/counter?counter=1")
    page.locator("#call-next").click()
    expect(page.locator("#current-ticket")).to_have_text(ticket)
    walk.shot(page, "j2-counter")
    page.locator("#open-case").click()
    expect(page.locator("#desk-ticket")).to_contain_text(ticket)
    page.get_by_role("link", name=re.compile("ترخيص بناء")).click()
    page.get_by_role("textbox", name="الرقم القومي", exact=True).fill(CITIZEN["national_id"])
    page.get_by_label("الاسم بالكامل").fill(CITIZEN["full_name"])
    page.get_by_label("رقم الهاتف المحمول").fill(CITIZEN["phone"])
    for label, value in PERMIT.items():
        page.get_by_role("textbox", name=label).fill(value)
    page.get_by_label("سكني").check()
    for kind, label in papers:
        page.locator(f"#scan-{kind}").set_input_files(
            {"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": pdf(label)})
    page.get_by_role("button", name="تسجيل الطلب", exact=True).click()
    expect(page.get_by_role("heading", name="إيصال استلام طلب")).to_be_visible()
    walk.number = page.locator("#tracking-number").inner_text()
    walk.shot(page, "j3-receipt")
    # Back at the counter, the ticket now leads to its case; the clerk finishes it.
    page.goto("/queue/counter?counter=1")
    expect(page.get_by_role("link", name="فتح الطلب")).to_be_visible()
    page.locator("#action-done").click()
    expect(page.get_by_text("لا توجد تذكرة على هذا الشباك.")).to_be_visible()
    return page


def _approve(walk: Walk) -> None:
    context = walk.context()
    page = context.new_page()
    walk.sign_in(page, "engineer")
    row = page.locator("table.inbox tbody tr", has_text=walk.number)
    expect(row).to_contain_text("المراجعة الهندسية")
    row.get_by_role("link", name=walk.number).click()
    expect(page.get_by_role("heading", name=re.compile("المراجعة الهندسية"))).to_be_visible()
    page.get_by_label("موافقة").check()
    page.get_by_label("ملاحظات المراجعة").fill("الرسومات مطابقة لاشتراطات الارتفاع والردود")
    walk.shot(page, "j4-department-task")
    page.get_by_role("button", name="إنجاز هذه المرحلة").click()
    expect(page.locator("p.flash[role=status]")).to_have_text(re.compile("المراجعة الهندسية"))
    context.close()


def _hand_over(page: Page, walk: Walk) -> None:
    walk.complete_hand_over(page)
    expect(page.locator("p.flash[role=status]")).to_contain_text("تسليم الترخيص")


def _rate(walk: Walk, link: str) -> None:
    phone = walk.context(PHONE)
    page = phone.new_page()
    parts = urlsplit(link)
    page.goto(f"{parts.path}?{parts.query}")
    expect(page.get_by_role("heading", name="قيّم خدمتنا")).to_be_visible()
    expect(page.locator("#rate-case")).to_contain_text("ترخيص بناء")
    expect(page.locator(".face")).to_have_count(3)
    page.locator("label.face.happy").click()
    page.get_by_label("سرعة الخدمة").check()
    page.get_by_label("هل تريد إضافة شيء؟ (اختياري)").fill("خدمة ممتازة وسريعة")
    walk.shot(page, "j5-rating")
    page.get_by_role("button", name="أرسل تقييمي").click()
    expect(page.locator("#rate-done")).to_contain_text("شكرًا لك!")
    page.goto(f"{parts.path}?{parts.query}")  # the same link again: rated once
    expect(page.locator("#rate-error")).to_have_text("تم تقييم هذا الطلب من قبل. شكرًا لك!")
    phone.close()


@pytest.mark.slow
def test_ticket_case_messages_and_rating_in_a_real_browser(sqlite_settings: Settings, tmp_path: Path) -> None:
    need_chromium()
    settings = sqlite_settings
    with chromium() as browser, center(settings, ROOT) as url:
        walk = Walk(browser, url, tmp_path / "screenshots")
        ticket = _take_ticket(walk)
        clerk_page = _call_and_register(walk, ticket, papers_of(settings))
        assert _stages(settings, walk.number) == [("received", "pending"), ("department", "pending")]
        assert [a.status for a in send.drain(settings=settings)] == ["sent", "sent"]
        _approve(walk)
        receipt = walk.pay_at_counter()  # the approval billed the fee; the cashier takes it in cash
        assert receipt.endswith("-000001")
        _hand_over(clerk_page, walk)
        # The bill and its payment are told too (engine/messages: bill_issued, bill_paid).
        assert [a.status for a in send.drain(settings=settings)] == ["sent"] * 4
        assert _stages(settings, walk.number) == [
            ("received", "sent"), ("department", "sent"), ("bill_issued", "sent"), ("bill_paid", "sent"),
            ("ready_for_pickup", "sent"), ("completed", "sent")]
        found = re.search(r"(\S*/rate/[0-9-]+\?t=[A-Za-z0-9_-]+)", _bodies(settings, walk.number)[-1])
        assert found is not None
        _rate(walk, found.group(1))
    with Session(engine_for(settings.database_url)) as session:
        rating = session.exec(select(Rating)).one()
    assert (rating.score, rating.reason_code, rating.reason, rating.clerk, rating.channel) == (
        "happy", "speed", "خدمة ممتازة وسريعة", "clerk", "link")
    assert [p.name for p in walk.saved] == ["j1-kiosk-ticket.png", "j2-counter.png", "j3-receipt.png",
                                            "j4-department-task.png", "j5-rating.png"]
