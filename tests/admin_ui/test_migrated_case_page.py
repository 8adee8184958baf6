"""A case moved to a newer version says so on its timeline."""

from __future__ import annotations

from pathlib import Path

from harness.api import Api
from harness.pages import Pages
from tests.support.audit import REGISTER, People, deploy, step
from tests.support.versions import second_version


def test_the_timeline_tells_the_move(pages: Pages, tmp_path: Path) -> None:
    api = Api(pages.client, pages.settings)
    deploy(api)
    people = People(api)
    case = step(api, api.open_case("audit_case", people.clerk).json(), REGISTER, people.clerk)
    second_version(api, tmp_path)
    r = api.client.post("/api/services/audit_case/migrations", json={"to_version": 2, "dry_run": False},
                        headers=api.user("analyst"))
    assert r.json()["moved"] == 1, r.text
    pages.as_user("auditor", full_name="منى")
    page = pages.client.get(f"/cases/{case['id']}").text
    assert "نقل الطلب إلى الإصدار 2 من الخدمة" in page
