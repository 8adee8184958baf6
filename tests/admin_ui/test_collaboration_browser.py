"""The three-pool civil record correction in headless Chromium: the case page draws the whole collaboration,
with the steps done, the current task and the events waited at marked in the pools where they are; and the
service runs end to end through the pages, each party at its own inbox.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from admin_ui.i18n import ltr
from api.app import create_app
from engine.core.settings import Settings
from harness import journey
from harness.api import Api
from harness.pages import add_user, deploy
from harness.scans import pdf
from harness.settings import ROOT
from tests.support.browser import need_chromium, signed_in


def _open_the_case(settings: Settings, found: dict[str, Any]) -> None:
    deploy(settings, ROOT / "processes" / "civil_record_correction")
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        r = api.open_case("civil_record_correction", api.user("front_desk"), citizen=journey.CITIZEN)
        assert r.status_code == 201, r.text
        found["id"] = r.json()["id"]
    add_user(settings, "supervisor", username="boss", full_name="منى فؤاد")


@pytest.mark.slow
def test_the_case_page_marks_each_pool_of_a_collaboration(sqlite_settings: Settings, tmp_path: Path) -> None:
    found: dict[str, Any] = {}
    with signed_in(sqlite_settings, tmp_path / "collaboration", lambda s: _open_the_case(s, found),
                   "boss") as (walk, page):
        page.goto(f"/cases/{found['id']}")
        expect(page.locator("#diagram")).to_have_attribute("data-ready", "true")
        done, current, waiting = (journey.marked(page, marker) for marker in ("done", "current", "waiting"))
        walk.shot(page, "case", full_page=True)
    # The citizen's pool sent the request and waits for the decision; the center's pool was started by the
    # request and its clerk registers it now; the civil registry's pool has not started.
    assert done == ["citizen_start", "request_received", "send_request"]
    assert current == ["register_request"]
    assert waiting == ["decision_received"]
    assert not {"verification_requested", "verify_record"} & {*done, *current, *waiting}


NOTE = "مطابق لقيد الميلاد الأصلي"


def _three_parties(settings: Settings) -> None:
    deploy(settings, ROOT / "processes" / "civil_record_correction")
    add_user(settings, "civil_registry", username="registrar", full_name="هالة سمير")


def _task(page: Page, number: str, title: str) -> None:
    """From the signed-in officer's inbox: claim the case's task and open it."""
    page.goto("/inbox")
    row = page.locator("table.inbox tbody tr", has_text=number)
    expect(row).to_contain_text(title)
    claim = row.get_by_role("button", name="استلام")
    if claim.count():
        claim.click()
        expect(page.locator("p.flash[role=status]")).to_have_text(f"استلمت الطلب {ltr(number)}.")
    page.locator("table.inbox tbody tr", has_text=number).get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=re.compile(title))).to_be_visible()


@pytest.mark.slow
def test_a_three_pool_correction_runs_end_to_end_through_the_pages(sqlite_settings: Settings,
                                                                    tmp_path: Path) -> None:
    # The citizen's request reaches the center's clerk, who registers it at the window; the center's message
    # starts the civil registry's pool, whose officer verifies the record; the registry's answer brings the
    # hand-over back to the clerk; the center tells the citizen's pool, and the case ends. Every step through
    # the pages.
    need_chromium()
    with journey.chromium() as browser, journey.center(sqlite_settings, ROOT, _three_parties) as url:
        walk = journey.Walk(browser, url, tmp_path / "correction")
        clerk = walk.context().new_page()
        walk.sign_in(clerk, "clerk")
        clerk.get_by_label("الرقم القومي").fill(journey.CITIZEN["national_id"])
        clerk.get_by_label("الرقم القومي").press("Enter")
        clerk.get_by_label("ابحث عن الخدمة باسمها").fill("تصحيح")
        clerk.get_by_label("ابحث عن الخدمة باسمها").press("Enter")
        clerk.get_by_role("link", name=re.compile("تصحيح قيد مدني")).click()
        expect(clerk.get_by_role("heading", name="طلب جديد: تصحيح قيد مدني")).to_be_visible()
        clerk.get_by_label("الاسم بالكامل").fill(journey.CITIZEN["full_name"])
        clerk.get_by_label("رقم الهاتف المحمول").fill(journey.CITIZEN["phone"])
        clerk.get_by_label("البيان المطلوب تصحيحه").select_option(label="اسم الأم")
        clerk.get_by_label("القيمة الصحيحة").fill("فاطمة السيد علي")
        clerk.locator("#scan-national_id_copy").set_input_files(
            {"name": "id.pdf", "mimeType": "application/pdf", "buffer": pdf("National ID copy")})
        walk.shot(clerk, "01-intake", full_page=True)
        clerk.get_by_role("button", name="تسجيل الطلب", exact=True).click()
        expect(clerk.get_by_role("heading", name="إيصال استلام طلب")).to_be_visible()
        number = clerk.locator("#tracking-number").inner_text()  # registering completed the clerk's first step

        registrar = walk.context().new_page()
        walk.sign_in(registrar, "registrar")
        _task(registrar, number, "مطابقة القيد بالسجل")
        expect(registrar.get_by_text("فاطمة السيد علي").first).to_be_visible()  # what the center registered
        registrar.get_by_label("تم تصحيح القيد").check()
        registrar.get_by_label("ملاحظة السجل المدني").fill(NOTE)
        walk.shot(registrar, "02-registry", full_page=True)
        registrar.get_by_role("button", name="إنجاز هذه المرحلة").click()
        expect(registrar.locator("p.flash[role=status]")).to_have_text(
            f"تم: «مطابقة القيد بالسجل» للطلب {ltr(number)}.")

        _task(clerk, number, "تسليم القرار")
        clerk.get_by_label("تم تسليم القرار للمواطن").check()
        clerk.get_by_role("button", name="إنجاز هذه المرحلة").click()
        expect(clerk.locator("p.flash[role=status]")).to_have_text(f"تم: «تسليم القرار» للطلب {ltr(number)}.")
        clerk.goto(f"/cases?q={number}")
        clerk.get_by_role("link", name=number).click()
        expect(clerk.locator("#case-status")).to_have_text("مكتمل")
        timeline = clerk.locator("#timeline")
        expect(timeline).to_contain_text("هالة سمير أنجز «مطابقة القيد بالسجل»")
        expect(timeline).to_contain_text("أُغلق الطلب")
        expect(clerk.locator("#diagram")).to_have_attribute("data-ready", "true")
        done, current, waiting = (journey.marked(clerk, marker) for marker in ("done", "current", "waiting"))
        walk.shot(clerk, "03-case", full_page=True)
        case_id = int(clerk.url.rstrip("/").rsplit("/", 1)[-1])
    # Every pool went its whole way: the citizen's, the center's and the registry's ends are all done.
    assert {"citizen_informed", "center_done", "department_done", "verify_record", "hand_over",
            "register_request", "result_received", "decision_received"} <= set(done)
    assert current == [] and waiting == []
    with TestClient(create_app(sqlite_settings)) as client:
        api = Api(client, sqlite_settings)
        case = api.read_case(case_id)
        assert case["status"] == "completed" and case["data"]["decision"]["corrected"] is True
        api.assert_replays(case_id)
