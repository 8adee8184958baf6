"""Absences and availability (engine/people/presence.py, engine/cases/distribution.py): who may record them,
what a bad or retried request gets, and what happens to an absent officer's work at the absence's start."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.app import create_app
from engine.people.presence import today
from harness.api import Api
from harness.server import at_once, serving
from storage.db import engine_for
from storage.models.accounts import UserEvent
from storage.models.assignment import Absence
from storage.models.people import User
from tests.support.assignment import Place, refused, review


@pytest.fixture
def place(api: Api) -> Place:
    return Place(api)


ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _days(place: Place, first: int = 0, last: int = 0) -> dict[str, str]:
    now = today(place.api.settings)
    return {"from": str(now + timedelta(days=first)), "to": str(now + timedelta(days=last))}


def _given_to_rev_a(place: Place) -> tuple[dict[str, str], dict[str, Any]]:
    """Two reviewers under round robin, and the review of a registered case given to the first, rev_a: rev_a's
    headers and that task."""
    officer = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    place.rule("reviewer", "round_robin")
    task = review(place.register())
    assert task["assigned_to"] == "rev_a"
    return officer, task


def _absent(place: Place, who: str, headers: dict[str, str], **body: Any) -> Any:
    return place.api.client.post(f"/api/users/{who}/absences", json=body, headers=headers)


def test_who_may_record_an_absence(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    colleague = place.user("rev_b", "reviewer")
    sibling_supervisor = place.api.user("supervisor", username="sup_b", center_id=place.ids["CITY-B"])
    days = _days(place, 1, 2)
    assert _absent(place, "rev_a", colleague, **days).status_code == 403
    assert _absent(place, "rev_a", sibling_supervisor, **days).status_code == 403
    assert place.api.client.get("/api/users/rev_a/absences", headers=colleague).status_code == 403
    assert _absent(place, "nobody_here", officer, **days).status_code == 404
    r = _absent(place, "rev_a", place.supervisor, **days)
    assert r.status_code == 201 and r.json()["created_by"] == "sup_a" and r.json()["from"] == days["from"], r.text
    listed = place.api.client.get("/api/users/rev_a/absences", headers=officer).json()
    assert [a["id"] for a in listed] == [r.json()["id"]]
    assert place.api.client.delete(f"/api/users/rev_a/absences/{r.json()['id']}",
                                   headers=colleague).status_code == 403
    assert place.api.client.delete(f"/api/users/rev_a/absences/{r.json()['id']}", headers=officer).status_code == 204
    assert place.api.client.delete(f"/api/users/rev_a/absences/{r.json()['id']}", headers=officer).status_code == 404
    assert place.api.client.get("/api/users/rev_a/absences", headers=officer).json() == []
    with Session(engine_for(place.api.settings.database_url)) as session:
        user = session.exec(select(User).where(col(User.username) == "rev_a")).one()
        kinds = [e.kind for e in session.exec(select(UserEvent).where(col(UserEvent.user_id) == user.id)
                                              .order_by(col(UserEvent.seq))).all()]
    assert kinds == ["created", "absence_recorded", "absence_cancelled"]


def test_bad_and_retried_absences(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    place.user("rev_other_center", "reviewer", center="CITY-B")
    place.user("clerk_b", "front_desk")
    arabic = {k: v.translate(ARABIC) for k, v in _days(place, 3, 5).items()}
    first = _absent(place, "rev_a", officer, **arabic, delegate="rev_b")
    assert first.status_code == 201, first.text
    assert first.json()["from"] == _days(place, 3, 5)["from"]  # Arabic-Indic digits read as the same day
    again = _absent(place, "rev_a", officer, **arabic, delegate="rev_b")  # a retried request
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert len(place.api.client.get("/api/users/rev_a/absences", headers=officer).json()) == 1
    r = _absent(place, "rev_a", officer, **_days(place, 4, 9))
    assert refused(r, 409, "presence.overlaps", starts=_days(place, 3, 5)["from"], ends=_days(place, 3, 5)["to"])
    later = _days(place, 10, 11)
    r = _absent(place, "rev_a", officer, **later, delegate="clerk_b")
    assert refused(r, 422, "presence.delegate_invalid")
    assert r.json()["detail"][0]["field"] == "delegate" and r.json()["detail"][0]["msg_ar"]
    assert _absent(place, "rev_a", officer, **later, delegate="rev_other_center").status_code == 422
    assert _absent(place, "rev_a", officer, **later, delegate="rev_a").status_code == 422
    assert _absent(place, "rev_a", officer, **later, delegate="nobody_here").status_code == 422
    assert _absent(place, "rev_a", officer, **_days(place, 5, 2)).status_code == 422  # ends before it starts
    assert _absent(place, "rev_a", officer, **_days(place, -5, -2)).status_code == 422  # already over
    assert _absent(place, "rev_a", officer, **_days(place, 20, 20 + 400)).status_code == 422  # too long
    for bad in ({"from": "tomorrow", "to": later["to"]}, {"from": 1.5e-121, "to": later["to"]},
                {"from": later["from"]}, {**later, "reason": "holiday"}):
        assert _absent(place, "rev_a", officer, **bad).status_code == 422, bad


def test_at_the_absence_start_open_tasks_go_to_the_delegate(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    delegate = place.user("rev_b", "reviewer")
    place.user("rev_c", "reviewer")
    place.rule("reviewer", "round_robin")
    mine = [review(place.register()) for _ in range(3)]
    theirs = [t["id"] for t in mine if t["assigned_to"] == "rev_a"]
    assert len(theirs) == 1
    assert _absent(place, "rev_a", officer, **_days(place), delegate="rev_b").status_code == 201
    # While away: no new work, whatever the rule.
    assert {review(place.register())["assigned_to"] for _ in range(4)} == {"rev_b", "rev_c"}
    result = place.tick()
    assert result.handed_over == 1 and len(result.absences) == 1
    moved = place.api.client.get(f"/api/tasks/{theirs[0]}", headers=delegate).json()
    assert moved["assigned_to"] == "rev_b" and moved["delegated_from"] == "rev_a"
    inbox = place.api.client.get("/api/tasks", headers=delegate).json()
    assert [t["id"] for t in inbox if t["delegated_from"] == "rev_a"] == theirs  # shown apart
    events = [e for e in place.events(moved["case_id"]) if e.kind == "task_delegated"]
    assert [(e.data["from"], e.data["to"]) for e in events] == [("rev_a", "rev_b")]
    assert place.tick().handed_over == 0  # once per absence
    r = place.api.complete(theirs[0], {"decision": "approve"}, delegate)
    assert r.status_code == 200, r.text


def test_without_a_delegate_the_rule_or_the_lane_takes_them(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    task = review(place.register())  # under pick: rev_a claims it
    assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=officer).status_code == 200
    place.rule("reviewer", "round_robin")
    second = [review(place.register()) for _ in range(2)]
    theirs = [task["id"]] + [t["id"] for t in second if t["assigned_to"] == "rev_a"]
    assert _absent(place, "rev_a", officer, **_days(place)).status_code == 201
    assert place.tick().handed_over == len(theirs)
    for task_id in theirs:
        got = place.api.client.get(f"/api/tasks/{task_id}", headers=place.supervisor).json()
        assert got["assigned_to"] == "rev_b" and got["delegated_from"] is None
    # Under pick, an absent officer's claimed task goes back to the lane.
    place.rule("reviewer", "pick")
    other = place.user("rev_c", "reviewer")
    task = review(place.register())
    assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=other).status_code == 200
    assert _absent(place, "rev_c", other, **_days(place)).status_code == 201
    assert place.tick().handed_over == 1
    assert place.api.client.get(f"/api/tasks/{task['id']}", headers=other).json()["assigned_to"] is None


def test_a_future_absence_waits_for_its_day(place: Place) -> None:
    officer, task = _given_to_rev_a(place)
    assert _absent(place, "rev_a", officer, **_days(place, 1, 3), delegate="rev_b").status_code == 201
    assert place.tick().handed_over == 0
    assert place.api.client.get(f"/api/tasks/{task['id']}", headers=officer).json()["assigned_to"] == "rev_a"


def test_availability_for_the_day(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    client = place.api.client
    assert client.get("/api/me/availability", headers=officer).json() == {"available": True}
    for _ in range(2):  # a retried request changes nothing more
        assert client.put("/api/me/availability", json={"available": False}, headers=officer).status_code == 200
    assert client.get("/api/me/availability", headers=officer).json() == {"available": False}
    assert client.put("/api/me/availability", json={"available": "maybe"}, headers=officer).status_code == 422
    assert client.put("/api/me/availability", json={}, headers=officer).status_code == 422
    place.rule("reviewer", "round_robin")
    task = review(place.register())
    assert task["assigned_to"] is None  # nobody present
    supervisor = place.supervisor
    r = client.post(f"/api/supervisor/tasks/{task['id']}/reassign", json={"to": "rev_a"}, headers=supervisor)
    assert refused(r, 422, "assignment.officer_away", to="rev_a")
    assert client.put("/api/me/availability", json={"available": True}, headers=officer).json()["available"]
    assert place.tick().assigned == 1
    assert client.get(f"/api/tasks/{task['id']}", headers=officer).json()["assigned_to"] == "rev_a"
    assert date.fromisoformat(_days(place)["from"]) == today(place.api.settings)


def test_an_absent_or_unavailable_officer_still_signs_in(place: Place) -> None:
    """Presence decides who is given work, never who may sign in: away today, marked unavailable, both."""
    officer = place.user("rev_a", "reviewer")
    assert _absent(place, "rev_a", place.supervisor, **_days(place, 0, 1)).status_code == 201
    assert place.api.client.put("/api/me/availability", json={"available": False}, headers=officer).status_code == 200
    r = place.api.client.post("/api/auth/token", data={"username": "rev_a", "password": "correct horse"})
    assert r.status_code == 200, r.text
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert place.api.client.get("/api/me/availability", headers=fresh).json() == {"available": False}
    assert [a["created_by"] for a in place.api.client.get("/api/users/rev_a/absences", headers=fresh).json()] == [
        "sup_a"]


def test_an_absent_delegate_passes_the_tasks_to_the_rule_and_replay_follows(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    delegate = place.user("rev_b", "reviewer")
    place.user("rev_c", "reviewer")
    place.rule("reviewer", "round_robin")
    task = review(place.register())
    assert task["assigned_to"] == "rev_a"
    assert _absent(place, "rev_a", officer, **_days(place), delegate="rev_b").status_code == 201
    assert _absent(place, "rev_b", delegate, **_days(place)).status_code == 201
    assert place.tick().handed_over == 1
    got = place.api.client.get(f"/api/tasks/{task['id']}", headers=place.supervisor).json()
    assert got["assigned_to"] == "rev_c" and got["delegated_from"] is None
    auditor = place.api.user("auditor")
    replay = place.api.client.get(f"/api/cases/{task['case_id']}/replay", headers=auditor).json()
    assert replay["consistent"] is True, replay


CONTENDERS = 6


def test_absences_sent_at_the_same_moment_never_overlap(place: Place) -> None:
    """Officer and supervisor (and retries of both) post at once: one absence is recorded, never two that
    overlap; the retried copies of the winner are answered with it, the others are refused with 409."""
    officer = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    same = _days(place, 2, 4)
    with serving(create_app(place.api.settings)) as base:
        answers = at_once(base, [("/api/users/rev_a/absences", dict(same), officer)] * CONTENDERS)
        assert sorted(a.status_code for a in answers) == [200] * (CONTENDERS - 1) + [201], \
            [a.text for a in answers]
        assert len({a.json()["id"] for a in answers}) == 1
        # Overlapping but different absences of one officer, at once: one at most is kept, the rest are 409.
        other = place.user("rev_c", "reviewer")
        posts = [("/api/users/rev_c/absences", _days(place, 1 + i, 3 + i), other if i % 2 else place.supervisor)
                 for i in range(CONTENDERS)]
        answers = at_once(base, posts)
    codes = Counter(a.status_code for a in answers)
    assert codes[201] >= 1 and codes[201] + codes[409] == CONTENDERS, [a.text for a in answers]
    for refusal in (a for a in answers if a.status_code == 409):
        assert refusal.json()["message_id"] == "presence.overlaps" and refusal.json()["message_ar"], refusal.text
    with Session(engine_for(place.api.settings.database_url)) as session:
        kept = session.exec(select(Absence).where(col(Absence.username) == "rev_c")
                            .order_by(col(Absence.starts))).all()
        assert len(session.exec(select(Absence).where(col(Absence.username) == "rev_a")).all()) == 1
    for first, second in zip(kept, kept[1:], strict=False):
        assert first.ends < second.starts, (first, second)


def test_the_database_refuses_a_second_absence_from_the_same_day(place: Place) -> None:
    """Past the check (a writer in another process): the unique (officer, first day) index holds."""
    place.user("rev_a", "reviewer")
    day = today(place.api.settings) + timedelta(days=1)
    with Session(engine_for(place.api.settings.database_url)) as session:
        session.add(Absence(username="rev_a", starts=day, ends=day, created_by="rev_a"))
        session.commit()
        session.add(Absence(username="rev_a", starts=day, ends=day + timedelta(days=2), created_by="rev_a"))
        with pytest.raises(IntegrityError):
            session.commit()


def _task(place: Place, task_id: str) -> dict[str, Any]:
    return dict(place.api.client.get(f"/api/tasks/{task_id}", headers=place.supervisor).json())


def test_when_the_absence_ends_its_tasks_come_back(place: Place) -> None:
    """At the first round after the absence's last day (the test clock a day on), the tasks the absence moved
    away and that nobody moved since come back to their officer; a task a supervisor reassigned meanwhile, or
    one completed, stays; a second round changes nothing."""
    officer = place.user("rev_a", "reviewer")
    delegate = place.user("rev_b", "reviewer")
    place.user("rev_c", "reviewer")
    place.rule("reviewer", "round_robin")
    theirs = [t["id"] for t in (review(place.register()) for _ in range(9)) if t["assigned_to"] == "rev_a"]
    assert len(theirs) == 3
    assert _absent(place, "rev_a", officer, **_days(place), delegate="rev_b").status_code == 201
    assert place.tick().handed_over == 3
    assert place.tick(datetime.now(UTC)).given_back == 0  # not over yet
    kept, reassigned, done = theirs
    r = place.api.client.post(f"/api/supervisor/tasks/{reassigned}/reassign", json={"to": "rev_c"},
                              headers=place.supervisor)
    assert r.status_code == 200, r.text
    assert place.api.complete(done, {"decision": "approve"}, delegate).status_code == 200
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    result = place.tick(tomorrow)
    assert result.given_back == 1 and len(result.ended) == 1
    back = _task(place, kept)
    assert back["assigned_to"] == "rev_a" and back["delegated_from"] is None
    assert _task(place, reassigned)["assigned_to"] == "rev_c"
    events = [e for e in place.events(back["case_id"]) if e.kind == "task_back_to_officer"]
    assert [(e.data["from"], e.data["to"], e.actor) for e in events] == [("rev_b", "rev_a", "system")]
    again = place.tick(tomorrow + timedelta(hours=1))  # the next round (or a second process's) finds nothing
    assert (again.given_back, again.ended) == (0, [])
    assert place.api.complete(kept, {"decision": "approve"}, officer).status_code == 200
    replay = place.api.client.get(f"/api/cases/{back['case_id']}/replay", headers=place.api.user("auditor")).json()
    assert replay["consistent"] is True, replay


def test_tasks_sent_to_the_lane_come_back_unless_claimed_and_not_while_away_again(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    other = place.user("rev_b", "reviewer")
    claimed = [review(place.register()) for _ in range(3)]
    for task in claimed:  # under pick: rev_a claims them
        assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=officer).status_code == 200
    assert _absent(place, "rev_a", officer, **_days(place)).status_code == 201
    assert _absent(place, "rev_a", officer, **_days(place, 1, 2)).status_code == 201  # away again after it
    assert place.tick().handed_over == 3
    taken = claimed[0]["id"]  # another officer claimed it from the lane meanwhile: theirs now
    assert place.api.client.post(f"/api/tasks/{taken}/claim", headers=other).status_code == 200
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    # The first absence is over, but the second has begun: nothing comes back yet.
    result = place.tick(tomorrow)
    assert (result.handed_over, result.given_back, len(result.ended)) == (0, 0, 1)
    assert {_task(place, t["id"])["assigned_to"] for t in claimed[1:]} == {None}
    # Back after the second: the two nobody claimed come back, the claimed one stays.
    assert place.tick(tomorrow + timedelta(days=2)).given_back == 2
    assert _task(place, taken)["assigned_to"] == "rev_b"
    assert {_task(place, t["id"])["assigned_to"] for t in claimed[1:]} == {"rev_a"}
    assert place.tick(tomorrow + timedelta(days=3)).given_back == 0


def test_cancelling_an_absence_that_began_gives_the_tasks_back(place: Place) -> None:
    officer, task = _given_to_rev_a(place)
    r = _absent(place, "rev_a", officer, **_days(place), delegate="rev_b")
    assert place.tick().handed_over == 1
    assert _task(place, task["id"])["assigned_to"] == "rev_b"
    colleague = place.user("rev_x", "reviewer")
    assert place.api.client.delete(f"/api/users/rev_a/absences/{r.json()['id']}",
                                   headers=colleague).status_code == 403
    assert _task(place, task["id"])["assigned_to"] == "rev_b"
    assert place.api.client.delete(f"/api/users/rev_a/absences/{r.json()['id']}",
                                   headers=officer).status_code == 204
    assert _task(place, task["id"])["assigned_to"] == "rev_a"
    assert place.tick(datetime.now(UTC) + timedelta(days=1)).given_back == 0


def test_an_officer_who_moved_to_another_center_or_lane_gets_nothing_back(place: Place) -> None:
    officer = place.user("rev_a", "reviewer")
    mover = place.user("rev_m", "reviewer")
    place.user("rev_b", "reviewer")
    place.rule("reviewer", "round_robin")
    given = {t["assigned_to"]: t for t in (review(place.register()) for _ in range(3))}
    assert set(given) == {"rev_a", "rev_b", "rev_m"}
    for who, headers in (("rev_a", officer), ("rev_m", mover)):
        assert _absent(place, who, headers, **_days(place), delegate="rev_b").status_code == 201
    assert place.tick().handed_over == 2
    admin = place.api.user("admin")
    assert place.api.client.patch("/api/users/rev_a", json={"roles": ["front_desk"]},
                                  headers=admin).status_code == 200  # another lane now
    assert place.api.client.patch("/api/users/rev_m", json={"center": "CITY-B"},
                                  headers=admin).status_code == 200  # another center now
    result = place.tick(datetime.now(UTC) + timedelta(days=1))
    assert (result.given_back, len(result.ended)) == (0, 2)
    assert {_task(place, given[who]["id"])["assigned_to"] for who in ("rev_a", "rev_m")} == {"rev_b"}
