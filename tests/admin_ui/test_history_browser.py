"""An auditor steps through a returned-and-resubmitted building permit in headless Chromium: at each event
the page says which step it is and what happened, the diff shows the corrected area, and the diagram marks
the steps done and the one waiting.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from api.app import create_app
from engine.core.settings import Settings
from harness import journey
from harness.api import Api
from harness.pages import add_user
from harness.scans import pdf
from tests.services.paths import find_path, take
from tests.support.browser import signed_in


def _walk_the_case(settings: Settings, found: dict[str, Any]) -> None:
    """register → review (returned) → correct → review (approved) → the fee paid → hand over, through the API."""
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        people = {lane: api.user(lane) for lane in ("front_desk", "engineering")}
        r = api.open_case("building_permit", people["front_desk"], citizen=journey.CITIZEN)
        assert r.status_code == 201, r.text
        case = r.json()
        for kind, _name in journey.papers_of(settings):
            r = client.post(f"/api/cases/{case['id']}/documents", data={"kind": kind},
                            files={"file": (f"{kind}.pdf", pdf(kind), "application/pdf")},
                            headers=people["front_desk"])
            assert r.status_code == 201, r.text
        for step in find_path("building_permit", "returned_then_approved").steps:
            if step.is_task:
                assert [t["name"] for t in case["tasks"]] == [step.task], case["tasks"]
            case = take(api, case, step, people.get(step.lane))  # the fee is paid at the counter in between
        assert case["status"] == "completed", case
        found["id"] = case["id"]
    add_user(settings, "auditor", username="auditor", full_name="منى فؤاد")


@pytest.mark.slow
def test_an_auditor_steps_through_a_returned_and_resubmitted_case(sqlite_settings: Settings,
                                                                  tmp_path: Path) -> None:
    found: dict[str, Any] = {}
    with signed_in(sqlite_settings, tmp_path / "history", lambda s: _walk_the_case(s, found),
                   "auditor") as (walk, page):
        page.goto(f"/cases/{found['id']}")
        page.get_by_role("link", name="تتبّع تاريخ الطلب خطوة بخطوة").click()
        expect(page.locator("#verdict")).to_have_class(re.compile(r"\bconsistent\b"))
        papers = len(journey.papers_of(sqlite_settings))
        total = page.locator("#steps li").count()
        # opened, the scans, five completed tasks, the bill issued, paid and its message delivered, the case closed
        assert total == 10 + papers
        corrected = 4 + papers
        seen: list[tuple[str, list[str], list[str]]] = []
        for number in range(1, total + 1):
            expect(page.locator("#step-number")).to_have_text(f"الخطوة {number} من {total}")
            expect(page.locator("#steps li.current a")).to_have_attribute("aria-current", "step")
            expect(page.locator("#diagram")).to_have_attribute("data-ready", "true")
            event = page.locator("#event-text").inner_text()
            seen.append((event, journey.marked(page, "done"), journey.marked(page, "current")))
            if number == corrected:  # the clerk's correction: the area went from 320 to 295
                row = page.locator('#diff tr[data-key="plot_area_m2"]')
                expect(row).to_have_class("changed")
                expect(row.locator("td.before")).to_have_text("320")
                expect(row.locator("td.after")).to_have_text("295")
                expect(page.locator('#diff tr[data-key="corrections_made"]')).to_have_class("added")
            walk.shot(page, f"{number:02d}-step", full_page=True)
            if number < total:
                page.locator("#next").focus()
                page.keyboard.press("Enter")
        expect(page.locator("#next")).to_have_count(0)
    events = [e for e, _done, _current in seen]
    assert events[0].endswith("سجّل الطلب") and events[-1] == "أُغلق الطلب"
    assert [current for _e, _done, current in seen] == [["register_request"]] * (1 + papers) + [
        ["engineering_review"], ["correct_request"], ["engineering_review"], [], [], [], ["hand_over"], [], []]
    assert "register_request" not in seen[papers][1] and "register_request" in seen[papers + 1][1]
    assert "engineering_review" in seen[papers + 2][1] and "correct_request" in seen[papers + 3][1]
    assert [e.split(" ", 1)[1] for e in events[papers + 1:] if "أنجز" in e] == [
        "أنجز «تسجيل الطلب»", "أنجز «المراجعة الهندسية»", "أنجز «استيفاء الطلب»", "أنجز «المراجعة الهندسية»",
        "أنجز «تسليم الترخيص»"]
    assert "صدرت فاتورة بمبلغ 6000.00 EGP" in events and "سُددت الرسوم وتقدم الطلب" in events
    assert "permit_issued" in seen[-1][1]
    assert [p.name for p in walk.saved] == [f"{n:02d}-step.png" for n in range(1, total + 1)]
    assert all(p.stat().st_size > 10_000 for p in walk.saved)
