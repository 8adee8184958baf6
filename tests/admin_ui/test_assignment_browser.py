"""Work distribution in headless Chromium: a reviewer's inbox shows the reviews the rule gave them and whose the
others are; they mark themselves unavailable from it; their supervisor records an absence from the workload page.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from engine.people.presence import today
from harness import journey
from harness.api import Api
from harness.pages import PASSWORD
from harness.server import serving
from harness.settings import TEST_PROCESSES
from tests.support.assignment import REGISTER
from tests.support.browser import centers_app


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("اسم المستخدم").fill(username)
    page.get_by_label("كلمة المرور").fill(PASSWORD)
    page.get_by_role("button", name="تسجيل الدخول").click()
    expect(page.get_by_role("button", name="تسجيل الخروج")).to_be_visible()


@pytest.mark.slow
def test_inbox_shows_the_assignment_and_the_workload_page_records_an_absence(sqlite_url: str,
                                                                              tmp_path: Path) -> None:
    app, settings, ids = centers_app(sqlite_url, tmp_path)
    with TestClient(app) as client:
        api = Api(client, settings)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
        supervisor = api.user("supervisor", username="sup_a", center_id=ids["CITY-A"])
        clerk = api.user("front_desk", username="clerk_a", center_id=ids["CITY-A"])
        for name in ("rev_a", "rev_b"):
            api.user("reviewer", username=name, center_id=ids["CITY-A"])
        r = client.put("/api/centers/CITY-A/assignment/reviewer", json={"rule": "round_robin"}, headers=supervisor)
        assert r.status_code == 200
        numbers = []
        for _ in range(2):
            case = api.open_case("test_permit", clerk).json()
            assert api.complete(case["tasks"][0]["id"], REGISTER, clerk).status_code == 200
            numbers.append(case["tracking_number"])
    with serving(app) as url, journey.chromium() as browser:
        context = browser.new_context(base_url=url, locale="ar-EG")
        page = context.new_page()
        _sign_in(page, "rev_a")
        page.goto("/inbox?status=mine")
        rows = page.locator("table.inbox tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(numbers[0])
        expect(rows.first).to_contain_text("rev_a")
        expect(rows.first.get_by_role("button", name="استلام")).to_have_count(0)  # nothing to take
        page.goto("/inbox")
        expect(page.locator("table.inbox tbody tr", has_text=numbers[1])).to_contain_text("rev_b")
        page.get_by_role("button", name="اجعلني غير متاح اليوم").click()
        expect(page.locator("#availability")).to_have_text(
            "أنت غير متاح اليوم: لن يُسند إليك عمل جديد.")
        context.close()
        context = browser.new_context(base_url=url, locale="ar-EG")
        page = context.new_page()
        _sign_in(page, "sup_a")
        page.goto("/supervisor/workload")
        officer = page.locator('tr[data-officer="rev_a"]')
        expect(officer).to_contain_text("غير متاح اليوم")
        page.get_by_label("الموظف", exact=True).select_option("rev_b")
        page.get_by_label("من", exact=True).fill(str(today(settings)))
        page.get_by_label("إلى", exact=True).fill(str(today(settings)))
        page.get_by_label("المفوَّض").select_option("rev_a")
        page.get_by_role("button", name="سجّل").click()
        expect(page.get_by_role("status").first).to_contain_text("سُجّل غياب rev_b")
        expect(page.locator('tr[data-officer="rev_b"]')).to_contain_text("المفوَّض: rev_a")
        context.close()
