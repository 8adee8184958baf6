"""Replay re-runs a case's recorded steps on its pinned version, writes nothing, and finds what was altered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session

from engine.cases import replay
from engine.cases.timers import tick
from engine.core import clock
from harness.api import Api
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from tests.support.audit import (
    APPROVE,
    REGISTER,
    People,
    as_json,
    deploy,
    dump,
    events,
    rehash,
    returned_and_resubmitted,
    rows,
    shift_events,
    sql,
    step,
)
from tests.support.clock import make_timers_due
from tests.support.versions import second_version


def _replay(api: Api, case_id: int) -> replay.ReplayResult:
    with Session(engine_for(api.settings.database_url)) as session:
        return replay.replay_case(session=session, case_id=case_id, settings=api.settings)


def _history(api: Api, case_id: int) -> replay.History:
    with Session(engine_for(api.settings.database_url)) as session:
        return replay.history(session=session, case_id=case_id, settings=api.settings)


@pytest.fixture
def people(api: Api) -> People:
    deploy(api)
    return People(api)


def test_returned_and_resubmitted_case_replays_consistently(api: Api, people: People) -> None:
    case = returned_and_resubmitted(api, people)
    kinds = [e["kind"] for e in events(api, case["id"], people.auditor)]
    assert kinds == ["case_opened", *["task_completed"] * 5, "case_completed"]
    result = _replay(api, case["id"])
    assert result.as_dict() == {"consistent": True, "events_replayed": 7, "divergence": None}


def test_replay_and_history_write_nothing(api: Api, people: People) -> None:
    case = returned_and_resubmitted(api, people, finish=False)
    before = dump(api)
    assert _replay(api, case["id"]).consistent
    assert len(_history(api, case["id"]).steps) == 5
    assert dump(api) == before


def test_scripts_dates_are_the_recorded_moments(api: Api, people: People) -> None:
    """``now()`` in a script is the step's moment, which its event records: replay computes the same value."""
    case = returned_and_resubmitted(api, people)
    recorded = events(api, case["id"], people.auditor)
    last_review = [e for e in recorded if e["task"] == "review"][-1]
    assert clock.parse(case["data"]["reviewed_at"]) == clock.parse(last_review["at"])
    assert case["data"]["submitted_on"] == recorded[3]["at"][:10]  # today() of the correction's moment
    assert _replay(api, case["id"]).consistent


def test_timers_fire_in_replay_as_they_fired(api: Api, people: People) -> None:
    api.deploy(TEST_PROCESSES / "timer_demo", api.user("analyst"))
    waiting = api.open_case("timer_demo", people.clerk).json()
    r = api.open_case("audit_case", people.clerk)
    case = step(api, r.json(), REGISTER, people.clerk)
    # Days pass (their due times are moved into the past), then the tick fires both cases' timers.
    make_timers_due(api.settings, waiting["id"])
    make_timers_due(api.settings, case["id"])
    with Session(engine_for(api.settings.database_url)) as session:
        assert tick(session=session, settings=api.settings) == 2
    fired = [e for e in events(api, case["id"], people.auditor) if e["kind"] == "timer_fired"]
    assert [e["data"] for e in fired] == [{"timers": ["review_overdue"]}]
    assert [e["data"] for e in events(api, waiting["id"], people.auditor)][1:] == [{"timers": ["t_wait"]}]
    case = api.client.get(f"/api/cases/{case['id']}", headers=people.clerk).json()
    case = step(api, case, APPROVE, people.reviewer)
    case = step(api, case, {}, people.clerk)
    assert "overdue_noted_at" in case["data"]

    assert _replay(api, waiting["id"]).as_dict() == {"consistent": True, "events_replayed": 2, "divergence": None}
    assert _replay(api, case["id"]).as_dict() == {"consistent": True, "events_replayed": 6, "divergence": None}
    noted = next(s for s in _history(api, case["id"]).steps if s.kind == "timer_fired")
    assert noted.ready == ["review"]  # the reminder does not interrupt the review
    assert list(noted.diff["added"]) == ["overdue_noted_at"]
    assert "review_overdue" in noted.completed and "note_overdue" in noted.completed


def test_history_shows_where_the_case_stood(api: Api, people: People) -> None:
    case = returned_and_resubmitted(api, people)
    found = _history(api, case["id"])
    assert found.result is not None and found.result.consistent
    steps = found.steps
    assert [(s.seq, s.kind, s.task, s.ready, s.status) for s in steps] == [
        (1, "case_opened", None, ["register"], "open"),
        (2, "task_completed", "register", ["review"], "open"),
        (3, "task_completed", "review", ["correct"], "open"),
        (4, "task_completed", "correct", ["review"], "open"),
        (5, "task_completed", "review", ["hand_over"], "open"),
        (6, "task_completed", "hand_over", [], "completed"),
        (7, "case_completed", None, [], "completed"),
    ]
    assert steps[0].data["citizen"]["national_id"] == "29001011234567"
    assert steps[1].waiting == ["review_overdue"] and steps[2].waiting == []
    assert {"register", "compute_fee", "review", "stamp_review", "decision"} <= set(steps[2].completed)
    assert "correct" not in steps[2].completed and "correct" in steps[3].completed
    assert steps[1].diff["added"]["fee"] == 300.0
    assert steps[3].diff["changed"]["area"] == {"from": 120, "to": 110}
    assert steps[3].diff["changed"]["fee"] == {"from": 300.0, "to": 275.0}
    assert steps[3].diff["added"]["corrections"] == "area corrected from the survey"
    assert steps[2].data["decision"] == "return" and steps[4].data["decision"] == "approve"
    assert all(s.process_version == 1 for s in steps)


def test_rewritten_history_diverges_where_it_was_rewritten(api: Api, people: People) -> None:
    """The chain holds after a full re-hash; replay does not: the returned review now says 'approve'."""
    case = returned_and_resubmitted(api, people)
    [(data,)] = rows(api, "SELECT data FROM audit_event WHERE case_id = :c AND seq = 3", c=case["id"])
    data = as_json(data)
    data["data"]["decision"] = "approve"
    sql(api, "UPDATE audit_event SET data = :d WHERE case_id = :c AND seq = 3", d=json.dumps(data), c=case["id"])
    rehash(api, case["id"])
    result = _replay(api, case["id"])
    assert not result.consistent
    assert result.events_replayed == 2
    assert result.divergence is not None
    assert result.divergence.seq == 3
    assert result.divergence.expected["ready"] == ["correct"]
    assert result.divergence.actual["ready"] == ["hand_over"]
    assert result.divergence.actual["data"]["decision"] == "approve"


@pytest.mark.parametrize("tamper, where, expected_key", [
    ("UPDATE case_file SET data = :d WHERE id = :c", 7, "stored"),
    ("UPDATE case_file SET outcome = 'end_rejected' WHERE id = :c", 7, "stored"),
    ("UPDATE case_file SET state = (SELECT state FROM case_file WHERE id = :other) WHERE id = :c", 7, "stored_state"),
    ("UPDATE process_version SET sha256 = :d", 1, "sha256"),
])
def test_stored_case_that_does_not_follow_from_its_events(api: Api, people: People, tamper: str, where: int,
                                                          expected_key: str) -> None:
    other = returned_and_resubmitted(api, people, finish=False)
    case = returned_and_resubmitted(api, people)
    sql(api, tamper, d='{"fee": 1}', c=case["id"], other=other["id"])
    result = _replay(api, case["id"])
    assert not result.consistent
    assert result.divergence is not None
    assert result.divergence.seq == where
    assert expected_key in result.divergence.expected


def test_task_table_that_does_not_follow_from_the_events(api: Api, people: People) -> None:
    case = returned_and_resubmitted(api, people, finish=False)
    sql(api, "UPDATE task SET state = 'cancelled' WHERE case_id = :c AND state = 'ready'", c=case["id"])
    result = _replay(api, case["id"])
    assert result.divergence is not None
    assert result.divergence.as_dict() == {"seq": 5, "expected": {"stored": {"ready_tasks": []}},
                                           "actual": {"ready": ["hand_over"]}}


def test_broken_chain_is_not_replayed(api: Api, people: People) -> None:
    case = returned_and_resubmitted(api, people)
    sql(api, "UPDATE audit_event SET actor = 'someone else' WHERE case_id = :c AND seq = 2", c=case["id"])
    assert _replay(api, case["id"]).as_dict() == {"consistent": False, "events_replayed": 0, "divergence": {
        "seq": 2, "expected": "an unbroken hash chain", "actual": "the event's content does not match its hash"}}


def test_migrated_case_replays_across_versions(api: Api, people: People, tmp_path: Any) -> None:
    r = api.open_case("audit_case", people.clerk)
    case = step(api, r.json(), REGISTER, people.clerk)
    second_version(api, tmp_path)
    moved = api.client.post("/api/services/audit_case/migrations", json={"to_version": 2, "dry_run": False},
                            headers=api.user("analyst"))
    assert moved.status_code == 200, moved.text
    case = api.client.get(f"/api/cases/{case['id']}", headers=people.clerk).json()
    assert case["process_version"] == 2
    case = step(api, case, APPROVE, people.reviewer)
    assert [t["name"] for t in case["tasks"]] == ["double_check"]
    case = step(api, case, {}, people.reviewer)
    case = step(api, case, {}, people.clerk)
    assert case["status"] == "completed"

    assert _replay(api, case["id"]).as_dict() == {"consistent": True, "events_replayed": 7, "divergence": None}
    found = _history(api, case["id"])
    assert [s.process_version for s in found.steps] == [1, 1, 2, 2, 2, 2, 2]
    assert found.steps[2].kind == "case_migrated"

    # Without its migration, the record cannot be replayed: v1 has no double-check.
    sql(api, "DELETE FROM audit_event WHERE case_id = :c AND seq = 3", c=case["id"])
    shift_events(api, case["id"], 4, -1)
    rehash(api, case["id"])
    result = _replay(api, case["id"])
    assert result.divergence is not None
    assert result.divergence.seq == 3
    assert result.divergence.expected == {"ready": ["double_check"]}
    assert result.divergence.actual == {"ready": ["hand_over"]}
