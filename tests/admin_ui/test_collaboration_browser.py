"""The case page of the three-pool civil record correction in headless Chromium: the whole collaboration drawn,
with the steps done, the current task and the events waited at marked in the pools where they are.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from api.app import create_app
from engine.core.settings import Settings
from harness import journey
from harness.api import Api
from harness.pages import add_user, deploy
from harness.settings import ROOT
from tests.support.browser import signed_in


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
