"""The supervisors' bulk operations page (admin_ui/routes/bulk.py): a filter, a preview that writes nothing, a
confirmation (CSRF) that changes exactly the tasks previewed. From the side of those who would break it: a task
of another center slipped into the confirmation is refused on its own line and left alone, the same
confirmation sent again changes nothing more, Arabic digits are read, a bad number is refused, officers are
kept out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.api import Api
from harness.pages import Pages
from tests.support.assignment import Place, review


@pytest.fixture
def place(sqlite_api: Api) -> Place:
    return Place(sqlite_api)


def _assigned(place: Place, task_id: str) -> Any:
    return place.api.client.get(f"/api/tasks/{task_id}", headers=place.supervisor).json()["assigned_to"]


def test_preview_then_confirm_changes_exactly_the_tasks_previewed(place: Place) -> None:
    leaving = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    ours = [review(place.register()) for _ in range(3)]
    for task in ours:
        assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=leaving).status_code == 200
    clerk_b = place.user("clerk_b", "front_desk", center="CITY-B")
    place.user("rev_far", "reviewer", center="CITY-B")
    theirs = review(place.register(clerk_b))
    far = place.user("rev_far2", "reviewer", center="CITY-B")
    assert place.api.client.post(f"/api/tasks/{theirs['id']}/claim", headers=far).status_code == 200
    with TestClient(place.api.client.app, follow_redirects=False) as browser:
        pages = Pages(browser, place.api.settings)
        assert pages.sign_in("rev_a").status_code == 303
        assert pages.client.get("/supervisor/bulk").status_code == 403  # officers: no
        pages.sign_out()
        assert pages.sign_in("sup_a").status_code == 303
        menu = pages.client.get("/supervisor/workload").text
        assert 'href="/supervisor/bulk"' in menu
        query = "/supervisor/bulk?preview=1&action=reassign&officer=rev_a&to=rev_b&older=%D9%A0"  # older: "٠"
        page = pages.client.get(query)
        assert page.status_code == 200, page.text
        assert "العمليات الجماعية" in page.text and 'data-bulk="preview"' in page.text
        assert page.text.count('data-ok="yes"') == 3 and theirs["tracking_number"] not in page.text
        assert {_assigned(place, t["id"]) for t in ours} == {"rev_a"}  # the preview wrote nothing
        assert pages.client.get("/supervisor/bulk?preview=1&older=abc").status_code == 422
        assert pages.client.get("/supervisor/bulk?preview=1&action=delete").status_code == 422
        # The confirmation without its token is refused; with it, and another center's task slipped in, the
        # three are changed and the fourth refused on its line.
        form = {"action": "reassign", "to": "rev_b", "task_id": [t["id"] for t in ours] + [theirs["id"]]}
        assert pages.client.post("/supervisor/bulk", data=form).status_code == 403
        done = pages.post("/supervisor/bulk", form, token_from=query)
        assert done.status_code == 200, done.text
        assert done.text.count('data-ok="yes"') == 3 and done.text.count('data-ok="no"') == 1
        assert "ليست مهمة منتظرة في مراكزك" in done.text and theirs["tracking_number"] not in done.text
        assert {_assigned(place, t["id"]) for t in ours} == {"rev_b"}
        assert place.api.client.get(f"/api/tasks/{theirs['id']}", headers=far).json()["assigned_to"] == "rev_far2"
        # Sent again (a double click, a retried request): nothing more is written.
        again = pages.post("/supervisor/bulk", form, token_from=query)
        assert again.status_code == 200 and again.text.count("كما هي بالفعل") == 3
        for task in ours:
            kinds = [e.kind for e in place.events(task["case_id"])]
            assert kinds.count("task_reassigned") == 1, kinds
        assert pages.post("/supervisor/bulk", {"action": "reassign", "to": "rev_b"},
                          token_from=query).status_code == 422  # nothing chosen
