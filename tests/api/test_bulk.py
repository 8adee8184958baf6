"""Supervisors' bulk operations (engine/cases/bulk.py): a preview that writes nothing, a run that takes each task
in its own transaction and says what failed, and nothing outside the supervisor's centers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, update

from harness.api import Api
from storage.db import engine_for
from storage.models.cases import Task
from tests.support.assignment import Place, review


@pytest.fixture
def place(api: Api) -> Place:
    return Place(api)


def _bulk(place: Place, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return place.api.client.post("/api/supervisor/bulk", json=body, headers=headers or place.supervisor)


def test_a_bulk_reassignment_of_200_tasks_previews_then_runs(place: Place) -> None:
    leaving = place.user("rev_leaving", "reviewer")
    place.user("rev_taking", "reviewer")
    for _ in range(200):
        task = review(place.register())
        assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=leaving).status_code == 200
    body = {"action": "reassign", "filter": {"lane": "reviewer", "officer": "rev_leaving"}, "to": "rev_taking"}
    preview = _bulk(place, **body)
    assert preview.status_code == 200, preview.text
    seen = preview.json()
    assert (seen["dry_run"], seen["matched"], seen["failed"]) == (True, 200, 0)
    assert {(i["before"], i["after"], i["ok"]) for i in seen["items"]} == {("rev_leaving", "rev_taking", True)}
    inbox = place.api.client.get("/api/tasks?limit=200", headers=leaving).json()
    assert sum(t["assigned_to"] == "rev_leaving" for t in inbox) == 200  # the preview wrote nothing
    done = _bulk(place, **body, dry_run=False, reason="rev_leaving moves to another department").json()
    assert (done["dry_run"], done["matched"], done["failed"]) == (False, 200, 0)
    assert [i["task_id"] for i in done["items"]] == [i["task_id"] for i in seen["items"]]
    inbox = place.api.client.get("/api/tasks?limit=200", headers=leaving).json()
    assert sum(t["assigned_to"] == "rev_taking" for t in inbox) == 200
    events = [e for e in place.events(done["items"][0]["case_id"]) if e.kind == "task_reassigned"]
    assert [(e.actor, e.data["to"], e.data["reason"]) for e in events] == [
        ("sup_a", "rev_taking", "rev_leaving moves to another department")]
    assert _bulk(place, **body).json()["matched"] == 0  # nothing left to match


def test_each_item_fails_on_its_own(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    place.user("rev_far", "reviewer", center="CITY-B")
    tasks = [review(place.register()) for _ in range(3)]
    clerk_b = place.user("clerk_b", "front_desk", center="CITY-B")
    elsewhere = review(place.register(clerk_b))
    ids = [t["id"] for t in tasks] + [elsewhere["id"]]
    # A task of another center is refused on its own line, telling nothing of it; an officer of another center
    # fails every item, and says why.
    r = _bulk(place, action="reassign", filter={"task_ids": ids}, to="rev_far", dry_run=False).json()
    assert r["matched"] == 4 and r["failed"] == 4
    assert all("center" in i["error"] for i in r["items"][:3])
    foreign = r["items"][3]
    assert (foreign["task_id"], foreign["error_id"], foreign["case_id"], foreign["tracking_number"]) == (
        elsewhere["id"], "bulk.not_yours", None, "")
    assert foreign["error_ar"] and elsewhere["tracking_number"] not in str(r)
    for action in ("reassign", "return", "cancel"):  # never touched, whatever the action, preview or not
        r = _bulk(place, action=action, filter={"task_ids": [elsewhere["id"], "no-such-task"]}, to="rev_b",
                  reason="x", dry_run=False).json()
        assert [(i["error_id"], i["ok"]) for i in r["items"]] == [("bulk.not_yours", False)] * 2, r
    sup_b = place.api.user("supervisor", username="sup_b", center_id=place.ids["CITY-B"])
    theirs = place.api.client.get(f"/api/tasks/{elsewhere['id']}", headers=sup_b)
    assert (theirs.status_code, theirs.json()["assigned_to"]) == (200, None), theirs.text
    assert place.api.client.get(f"/api/cases/{elsewhere['case_id']}", headers=sup_b).json()["status"] == "open"
    # Absent today: refused per item, the others go.
    assert place.api.client.put("/api/me/availability", json={"available": False}, headers=officer).status_code == 200
    r = _bulk(place, action="reassign", filter={"task_ids": ids}, to="rev_a").json()
    assert r["failed"] == 4 and r["items"][0]["error"] == "'rev_a' is absent or unavailable today"
    # Cancel needs a reason; a preview cancels nothing.
    assert _bulk(place, action="cancel", filter={"task_ids": ids[:1]}).status_code == 422
    r = _bulk(place, action="cancel", filter={"task_ids": ids[:2]}, reason="duplicate requests").json()
    assert r["matched"] == 2 and r["failed"] == 0
    r = _bulk(place, action="cancel", filter={"task_ids": ids[:2]}, reason="duplicate requests",
              dry_run=False).json()
    assert r["failed"] == 0
    case = place.api.client.get(f"/api/cases/{tasks[0]['case_id']}", headers=place.supervisor).json()
    assert case["status"] == "cancelled"
    # Not for officers; a bad request is a 422.
    assert _bulk(place, officer, action="return", filter={}).status_code == 403
    assert _bulk(place, action="reassign", filter={}).status_code == 422  # to whom?
    assert _bulk(place, action="delete", filter={}).status_code == 422
    assert _bulk(place, action="return", filter={"colour": "red"}).status_code == 422


def test_returning_to_an_automatic_lane_gives_by_the_rule(place: Place) -> None:
    holder = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    task = review(place.register())
    assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=holder).status_code == 200
    place.rule("reviewer", "round_robin")
    body = {"action": "return", "filter": {"task_ids": [task["id"]]}}
    preview = _bulk(place, **body).json()
    assert preview["items"][0]["rule"] == "round_robin" and preview["items"][0]["after"] is None
    done = _bulk(place, **body, dry_run=False).json()
    assert done["items"][0]["after"] == "rev_b"  # never back to the one who had it


def test_too_many_at_once(place: Place) -> None:
    place.api.settings.bulk_max_items = 2  # type: ignore[misc]
    try:
        for _ in range(3):
            place.register()
        r = _bulk(place, action="return", filter={"lane": "reviewer"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "filter"
    finally:
        place.api.settings.bulk_max_items = 500  # type: ignore[misc]


def test_a_retried_bulk_request_gets_the_first_answer(place: Place) -> None:
    holder = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    ids = []
    for _ in range(2):
        task = review(place.register())
        assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=holder).status_code == 200
        ids.append(task["id"])
    body = {"action": "reassign", "filter": {"task_ids": ids}, "to": "rev_b", "dry_run": False}
    headers = {**place.supervisor, "Idempotency-Key": "bulk-1"}
    first = place.api.client.post("/api/supervisor/bulk", json=body, headers=headers)
    again = place.api.client.post("/api/supervisor/bulk", json=body, headers=headers)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    case_id = first.json()["items"][0]["case_id"]
    assert [e.kind for e in place.events(case_id)].count("task_reassigned") == 1


def test_task_ids_with_arabic_digits_name_the_same_tasks(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    task = review(place.register())
    assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=officer).status_code == 200
    arabic = task["id"].upper().translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert arabic != task["id"]
    r = _bulk(place, action="reassign", filter={"task_ids": [arabic, arabic]}, to="rev_b", dry_run=False).json()
    assert [(i["task_id"], i["ok"], i["after"]) for i in r["items"]] == [(task["id"], True, "rev_b")], r


def test_the_filter_by_service_age_and_overdue_chooses_exactly_those(place: Place) -> None:
    """Three reviews: one waiting five days and past its due time, one waiting two days and not yet due, one
    fresh. Each condition of the filter, alone and together, previews exactly the tasks it names."""
    place.user("rev_a", "reviewer")
    ids = [review(place.register())["id"] for _ in range(3)]
    now = datetime.now(UTC)
    with Session(engine_for(place.api.settings.database_url)) as session:
        for task_id, waited, due in ((ids[0], 5, -1), (ids[1], 2, 3), (ids[2], 0, 10)):
            session.exec(update(Task).where(col(Task.id) == task_id)  # type: ignore[call-overload]
                         .values(created_at=now - timedelta(days=waited, minutes=1), due_at=now + timedelta(days=due)))
        session.commit()

    def chosen(**filter: Any) -> list[str]:
        r = _bulk(place, action="return", filter={"lane": "reviewer", **filter})
        assert r.status_code == 200, r.text
        return sorted(i["task_id"] for i in r.json()["items"])

    assert chosen() == sorted(ids)
    assert chosen(service_code="test_permit") == sorted(ids)
    assert chosen(service_code="building_permit") == []
    assert chosen(older_than_days=3) == [ids[0]]
    assert chosen(older_than_days=1) == sorted(ids[:2])
    assert chosen(overdue=True) == [ids[0]]
    assert chosen(overdue=False) == sorted(ids[1:])
    assert chosen(older_than_days=1, overdue=False) == [ids[1]]
    assert chosen(service_code="building_permit", overdue=True) == []
    assert _bulk(place, action="return", filter={"older_than_days": -1}).status_code == 422
    assert _bulk(place, action="return", filter={"overdue": "sometimes"}).status_code == 422
