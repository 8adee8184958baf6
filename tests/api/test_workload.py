"""The supervisors' workload view (engine/cases/distribution.py ``workload``): per officer of their centers and
per lane, and nothing of another center."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, update

from engine.people.presence import today
from harness.api import Api
from storage.db import engine_for
from storage.models.cases import Task
from tests.support.assignment import Place, review


@pytest.fixture
def place(api: Api) -> Place:
    return Place(api)


def test_workload_per_officer_and_lane(place: Place) -> None:
    rev_a = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    place.user("rev_sibling", "reviewer", center="CITY-B")
    clerk_b = place.user("clerk_b", "front_desk", center="CITY-B")
    place.register(clerk_b)  # a review waiting at CITY-B: not the CITY-A supervisor's
    waiting = review(place.register())  # under pick: waits for nobody
    place.rule("reviewer", "round_robin")
    given = [review(place.register()) for _ in range(4)]
    done = next(t for t in given if t["assigned_to"] == "rev_a")
    assert place.api.complete(done["id"], {"decision": "approve"}, rev_a).status_code == 200
    late = next(t for t in given if t["assigned_to"] == "rev_a" and t["id"] != done["id"])
    with Session(engine_for(place.api.settings.database_url)) as session:  # rev_a's other review is past due
        session.exec(update(Task).where(col(Task.id) == late["id"])  # type: ignore[call-overload]
                     .values(due_at=datetime.now(UTC) - timedelta(hours=1)))
        session.commit()
    later = str(today(place.api.settings) + timedelta(days=3))
    r = place.api.client.post("/api/users/rev_b/absences", json={"from": later, "to": later},
                              headers=place.supervisor)
    assert r.status_code == 201
    view = place.api.client.get("/api/supervisor/workload", headers=place.supervisor)
    assert view.status_code == 200, view.text
    officers = {o["username"]: o for o in view.json()["officers"]}
    assert "rev_sibling" not in officers and "clerk_b" not in officers and "sup_a" not in officers
    assert (officers["rev_a"]["open_assigned"], officers["rev_a"]["completed_today"], officers["rev_a"]["overdue"]) == (
        1, 1, 1)
    assert (officers["rev_b"]["open_assigned"], officers["rev_b"]["completed_today"], officers["rev_b"]["overdue"]) == (
        2, 0, 0)
    assert [a["from"] for a in officers["rev_b"]["absences"]] == [later]
    assert officers["clerk_a"]["completed_today"] == 5 and officers["clerk_a"]["overdue"] == 0
    lanes = {(lane["lane"], lane["center_id"]): lane for lane in view.json()["lanes"]}
    reviewer = lanes["reviewer", place.ids["CITY-A"]]
    assert (reviewer["waiting"], reviewer["open"], reviewer["rule"]) == (1, 4, "round_robin")
    assert reviewer["oldest"] is not None and reviewer["oldest"][:19] == waiting["created_at"][:19]
    assert ("reviewer", place.ids["CITY-B"]) not in lanes
    # The sibling's supervisor sees their own center only; officers see nothing.
    sibling = place.api.user("supervisor", username="sup_b", center_id=place.ids["CITY-B"])
    theirs = place.api.client.get("/api/supervisor/workload", headers=sibling).json()
    assert {o["username"] for o in theirs["officers"]} == {"rev_sibling", "clerk_b"}
    assert place.api.client.get("/api/supervisor/workload", headers=rev_a).status_code == 403
