"""The boundary timers of the real services, made due without waiting days for them.

A case is brought through the API to the task that carries the timer; the timer's computed due time
(``internal_data["event_value"]``, the ISO datetime SpiffWorkflow's DurationTimerEventDefinition stores
when it first evaluates "P10D", "P3D"...) is then moved into the past in the stored state, exactly as if the
days had passed. The periodic tick must fire it, leave the user task waiting (the timer does not
interrupt), and the case must still finish along its normal path. An interrupting timer (a deadline: unpaid
fee, vehicle not brought back) withdraws its task and ends the case at the lapse end event, and the case
still replays to its record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import update
from sqlmodel import Session, col

from engine.bpmn import runner
from engine.cases.timers import tick
from engine.cases.workflows import workflow_cache
from engine.catalog import processes
from engine.core.settings import Settings
from harness.api import Api
from storage.db import engine_for
from storage.models.cases import Case
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, ServicePath, find_path, take

# (service, path walked, task carrying the timer, boundary timer, the escalation end event it leads to)
TIMERS = [
    ("building_permit", "approved", "engineering_review", "review_overdue", "escalate_review"),
    ("complaint", "municipal_resolved", "resolve_municipal", "overdue_municipal", "escalate_municipal"),
    ("complaint", "utilities_not_resolvable", "resolve_utilities", "overdue_utilities", "escalate_utilities"),
    ("complaint", "licensing_resolved_email", "resolve_licensing", "overdue_licensing", "escalate_licensing"),
    # the municipal inspection, in the other parallel branch, waits beside it and is not touched
    ("commercial_activity_license", "violations_remedied_then_approved", "civil_defense_inspection",
     "civil_defense_overdue", "escalate_civil_defense"),
    ("marriage_certificate_extract", "archive_record_issued", "archive_retrieval", "archive_overdue",
     "escalate_archive"),
    ("vehicle_ownership_transfer", "transferred", "traffic_review", "traffic_overdue", "escalate_traffic"),
    ("utility_connection", "connected", "install_meter", "installation_overdue", "escalate_installation"),
    ("social_pension", "granted", "field_research", "research_overdue", "escalate_research"),
    ("inquiry_suggestion", "answered_by_supervisor", "answer_inquiry", "answer_overdue", "escalate_answer"),
]

# Interrupting timers: (service, path walked, task carrying the timer, boundary timer, end event it leads to).
# When one fires, the task is withdrawn and the case ends there. (The payment deadlines of the road occupancy
# permit, the utility connection and the building permit sit on a wait for the cash desk, not on a task: their
# paths.json let the days pass and the bill lapse, walked by test_walks.py.)
DEADLINES = [
    ("vehicle_license_renewal", "failed_repaired_renewed", "repair_vehicle", "repair_deadline", "request_lapsed"),
]


def _named(rows: list[tuple[str, str, str, str, str]]) -> list[Any]:
    """Each row as a test named by its service and its timer."""
    return [pytest.param(*row, id=f"{row[0]}-{row[3]}") for row in rows]


def _walk_to(api: Api, path: ServicePath, task_name: str) -> tuple[dict[str, Any], int]:
    """Open a case and complete its steps up to ``task_name``; returns the case and that step's index."""
    assert api.deploy(PROCESSES / path.service, api.user("analyst")).status_code == 201
    r = api.open_case(path.service, api.user("front_desk"), data=path.case_data)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    provide_papers(api, path.service, case["id"])
    index = [step.task for step in path.steps].index(task_name)
    for step in path.steps[:index]:
        case = take(api, case, step)  # a payment at the cash desk on the way, where the path has one
    assert task_name in [t["name"] for t in case["tasks"]]
    return case, index


def _waiting_timers(workflow: Any) -> list[SpiffTask]:
    return [t for t in workflow.get_tasks(state=TaskState.WAITING)
            if isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)]


def _make_timer_due(settings: Settings, case_id: int, timer_id: str) -> None:
    """Move the waiting timer's due time into the past in the stored state (same version).

    The warm copy of the workflow still holds the old due time, so it is dropped.
    """
    with Session(engine_for(settings.database_url)) as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.timer_due_at is not None
        process = processes.cache.get(session, case.process_version_id, settings)
        workflow = runner.load(process, case.state)
        timers = _waiting_timers(workflow)
        assert [t.task_spec.bpmn_id for t in timers] == [timer_id]
        due = datetime.fromisoformat(timers[0].internal_data["event_value"])
        assert due > datetime.now(UTC) + timedelta(days=2)  # armed days ahead (P3D is the shortest timer)
        past = datetime.now(UTC) - timedelta(minutes=1)
        timers[0].internal_data["event_value"] = past.isoformat()
        session.execute(update(Case).where(col(Case.id) == case_id)
                        .values(state=runner.dump(workflow), timer_due_at=past))
        session.commit()
    workflow_cache(settings).clear()


def _stored(settings: Settings, case_id: int) -> tuple[Case, Any]:
    """The case row and its workflow restored from the stored state."""
    with Session(engine_for(settings.database_url)) as session:
        case = session.get(Case, case_id)
        assert case is not None
        process = processes.cache.get(session, case.process_version_id, settings)
        return case, runner.load(process, case.state)


def _events(api: Api, case_id: int) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/cases/{case_id}/events", headers=api.user("auditor"))
    assert r.status_code == 200, r.text
    return list(r.json())


def _tick(settings: Settings) -> int:
    with Session(engine_for(settings.database_url)) as session:
        return tick(session=session, settings=settings)


@pytest.mark.parametrize(("service", "path_name", "task_name", "timer_id", "escalation"), _named(TIMERS))
def test_due_boundary_timer_fires_without_interrupting(sqlite_api: Api, service: str, path_name: str,
                                                       task_name: str, timer_id: str,
                                                       escalation: str) -> None:
    api, settings = sqlite_api, sqlite_api.settings
    path = find_path(service, path_name)
    case, index = _walk_to(api, path, task_name)
    waiting = [(t["id"], t["name"], t["state"]) for t in case["tasks"]]  # a parallel branch's task may wait too
    events_before = _events(api, case["id"])

    _make_timer_due(settings, case["id"], timer_id)
    assert _tick(settings) == 1

    events = _events(api, case["id"])
    assert [e["kind"] for e in events] == [*(e["kind"] for e in events_before), "timer_fired"]
    assert events[-1]["actor"] == "system"
    after = api.client.get(f"/api/cases/{case['id']}", headers=api.user("auditor")).json()
    assert after["status"] == "open"
    assert after["outcome"] is None
    assert after["data"] == case["data"]
    assert [(t["id"], t["name"], t["state"]) for t in after["tasks"]] == waiting
    stored, workflow = _stored(settings, case["id"])
    assert stored.timer_due_at is None
    completed = {t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)}
    assert {timer_id, escalation} <= completed
    assert sorted(t.name for t in runner.ready_user_tasks(workflow)) == sorted(name for _, name, _ in waiting)
    assert _tick(settings) == 0  # fired once; nothing more is due

    for step in path.steps[index:]:
        after = take(api, after, step)
    assert after["status"] == "completed"
    assert after["outcome"] == path.end_event
    assert {key: after["data"].get(key) for key in path.expected_data} == path.expected_data


@pytest.mark.parametrize(("service", "path_name", "task_name", "timer_id", "end_event"), _named(DEADLINES))
def test_due_deadline_withdraws_the_task_and_ends_the_case(sqlite_api: Api, service: str, path_name: str,
                                                           task_name: str, timer_id: str, end_event: str) -> None:
    api, settings = sqlite_api, sqlite_api.settings
    case, _ = _walk_to(api, find_path(service, path_name), task_name)
    events_before = _events(api, case["id"])

    _make_timer_due(settings, case["id"], timer_id)
    assert _tick(settings) == 1

    auditor = api.user("auditor")
    after = api.client.get(f"/api/cases/{case['id']}", headers=auditor).json()
    assert (after["status"], after["outcome"], after["tasks"]) == ("completed", end_event, [])
    assert after["data"]["outcome"] == "lapsed"
    events = _events(api, case["id"])
    assert [e["kind"] for e in events] == [*(e["kind"] for e in events_before), "timer_fired", "case_completed"]
    assert events[-2]["data"]["timers"] == [timer_id]
    stored, workflow = _stored(settings, case["id"])
    assert stored.timer_due_at is None
    assert runner.is_completed(workflow)
    withdrawn = api.complete(case["tasks"][0]["id"], {}, api.user("front_desk"))
    assert (withdrawn.status_code, withdrawn.json()["detail"]) == (409, "the task is already cancelled")
    replayed = api.client.get(f"/api/cases/{case['id']}/replay", headers=auditor).json()
    assert replayed == {"consistent": True, "events_replayed": len(events), "divergence": None}
    assert _tick(settings) == 0


@pytest.mark.parametrize(("service", "path_name", "task_name", "armed"), [
    pytest.param("building_permit", "approved", "engineering_review", True, id="timer_not_yet_due"),
    pytest.param("birth_certificate", "found_and_issued", "registry_check", False, id="no_timer"),
])
def test_tick_leaves_cases_without_due_timers_alone(sqlite_api: Api, service: str, path_name: str,
                                                    task_name: str, armed: bool) -> None:
    api, settings = sqlite_api, sqlite_api.settings
    case, _ = _walk_to(api, find_path(service, path_name), task_name)
    with Session(engine_for(settings.database_url)) as session:
        stored = session.get(Case, case["id"])
        assert stored is not None
        assert (stored.timer_due_at is not None) is armed
        before = (stored.version, stored.state, stored.updated_at)
    events_before = _events(api, case["id"])

    assert _tick(settings) == 0  # the warm copy
    workflow_cache(settings).clear()
    assert _tick(settings) == 0  # and a cold restore

    with Session(engine_for(settings.database_url)) as session:
        stored = session.get(Case, case["id"])
        assert stored is not None
        assert (stored.version, stored.state, stored.updated_at) == before
    assert _events(api, case["id"]) == events_before
