"""The bulk operations page in headless Chromium: a supervisor chooses an officer's tasks, sees the preview,
confirms, and reads the outcome in Arabic.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from harness import journey
from harness.api import Api
from harness.server import serving
from harness.settings import TEST_PROCESSES
from tests.admin_ui.test_assignment_browser import _sign_in
from tests.support.assignment import REGISTER
from tests.support.browser import centers_app


@pytest.mark.slow
def test_a_supervisor_previews_and_applies_a_bulk_reassignment(sqlite_url: str, tmp_path: Path) -> None:
    app, settings, ids = centers_app(sqlite_url, tmp_path)
    with TestClient(app) as client:
        api = Api(client, settings)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
        api.user("supervisor", username="sup_a", center_id=ids["CITY-A"])
        clerk = api.user("front_desk", username="clerk_a", center_id=ids["CITY-A"])
        leaving = api.user("reviewer", username="rev_a", center_id=ids["CITY-A"])
        api.user("reviewer", username="rev_b", center_id=ids["CITY-A"])
        task_ids = []
        for _ in range(2):
            case = api.open_case("test_permit", clerk).json()
            done = api.complete(case["tasks"][0]["id"], REGISTER, clerk).json()
            review = next(t for t in done["tasks"] if t["name"] == "review")
            assert client.post(f"/api/tasks/{review['id']}/claim", headers=leaving).status_code == 200
            task_ids.append(review["id"])
    with serving(app) as url, journey.chromium() as browser:
        context = browser.new_context(base_url=url, locale="ar-EG")
        page = context.new_page()
        _sign_in(page, "sup_a")
        page.get_by_role("link", name="العمليات الجماعية").click()
        page.locator("#bulk-officer").select_option("rev_a")
        page.locator("#bulk-to").select_option("rev_b")
        page.locator("#bulk-older").fill("٠")
        page.get_by_role("button", name="اعرض ما سيتغير").click()
        expect(page.locator('[data-bulk="preview"]')).to_contain_text("ستتغير 2 مهمة")
        expect(page.locator('tr[data-ok="yes"]')).to_have_count(2)
        page.get_by_role("button", name="نفّذ على 2 مهمة").click()
        expect(page.locator('[data-bulk="done"]')).to_contain_text("تغيّرت 2 مهمة")
        for task_id in task_ids:
            expect(page.locator(f'tr[data-task="{task_id}"]')).to_contain_text("rev_b")
        context.close()
