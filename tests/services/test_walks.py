"""Every documented path of every real service, walked through the API by the lanes owning each step."""

from __future__ import annotations

from typing import Any

import pytest

from harness.api import CITIZEN, Api
from tests.services.papers import provide_papers, required_kinds
from tests.services.paths import (
    PATHS,
    PROCESSES,
    SERVICES,
    ServicePath,
    all_paths,
    lanes_of,
    ready_task,
    service_paths,
    take,
)


def test_every_service_documents_its_paths() -> None:
    assert {path.service for path in all_paths()} == set(SERVICES)
    assert len({path.id for path in all_paths()}) == len(all_paths())


def _inbox_ids(api: Api, headers: dict[str, str]) -> list[str]:
    r = api.client.get("/api/tasks", headers=headers)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()]


@pytest.mark.parametrize("path", PATHS)
def test_walk(sqlite_api: Api, path: ServicePath) -> None:
    api = sqlite_api
    # Alternate paths of a service scan their papers or have them waived, so both ways are walked.
    how = "waive" if service_paths(path.service).index(path) % 2 else "scan"
    required = required_kinds(path.service)
    assert required
    assert api.deploy(PROCESSES / path.service, api.user("analyst")).status_code == 201
    r = api.open_case(path.service, api.user("front_desk"), data=path.case_data, citizen=CITIZEN)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    assert case["status"] == "open"
    assert case["data"]["citizen"] == CITIZEN

    for number, step in enumerate(path.steps):
        if not step.is_task:  # the cashier pays the bill, or days pass (tests/api/test_payments.py)
            case = take(api, case, step)
            continue
        task = ready_task(case, step)
        assert task["lane"] == step.lane, f"step {number}"
        owner = api.user(step.lane)
        stranger = api.user(sorted(lanes_of(path.service) - {step.lane})[0])
        assert task["id"] in _inbox_ids(api, owner)
        assert task["id"] not in _inbox_ids(api, stranger)
        if number == 0:
            assert api.complete(task["id"], step.data, stranger).status_code == 403
            # The document gate: intake needs every required paper, scanned or waived by a supervisor.
            refused = api.complete(task["id"], step.data, owner)
            assert refused.status_code == 422
            assert [d["kind"] for d in refused.json()["detail"]] == required
            provide_papers(api, path.service, case["id"], how)
        r = api.complete(task["id"], step.data, owner)
        assert r.status_code == 200, r.text
        case = r.json()

    assert case["status"] == "completed"
    assert case["outcome"] == path.end_event
    assert case["tasks"] == []
    assert case["completed_at"] is not None
    assert {key: case["data"].get(key) for key in path.expected_data} == path.expected_data
    assert (case["data"]["documents_complete"], case["data"]["documents_missing"]) == (
        (True, []) if how == "scan" else (False, required))

    events = api.client.get(f"/api/cases/{case['id']}/events", headers=api.user("auditor")).json()
    money = {"bill_issued", "bill_lapsed", "payment_taken", "message_received", "timer_fired"}
    assert [e["kind"] for e in events if e["kind"] in money] == [
        kind for step in path.steps if not step.is_task
        for kind in (("bill_issued", "payment_taken", "message_received") if step.pay is not None
                     else ("bill_issued", "timer_fired", "bill_lapsed"))]
    # Messages the engine passed between a collaboration's pools: tests/api/test_collaborations.py.
    passed = {"message_delivered"}
    assert [(e["kind"], e["task"]) for e in events if e["kind"] not in money | passed] == [
        ("case_opened", None),
        *[("document_uploaded" if how == "scan" else "document_waived", None) for _ in required],
        *[("task_completed", step.task) for step in path.steps if step.is_task],
        ("case_completed", None),
    ]
    assert events[-1]["data"] == {"end_event": path.end_event}
