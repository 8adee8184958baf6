"""A command's answer is what a fresh read would say: opening, claiming and completing return the case, its
ready tasks and its version as the command wrote them (engine/cases/lifecycle.py ``Outcome``), without reading them
again, and a client that reads the case afterwards finds exactly that. Walked over a service with a parallel
split, where one task is claimed by its officer while the other is completed (a task kept across the step)."""

from __future__ import annotations

from typing import Any

from harness.api import CITIZEN, Api
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, find_path, ready_task, take

SERVICE = "driving_license_renewal"


def _as_read(api: Api, case_id: int) -> dict[str, Any]:
    return api.read_case(case_id, api.user("supervisor"))


def test_every_answer_is_what_a_fresh_read_says(sqlite_api: Api) -> None:
    api = sqlite_api
    path = find_path(SERVICE, "renewed_after_fines")
    assert api.deploy(PROCESSES / SERVICE, api.user("analyst")).status_code == 201
    opened = api.open_case(SERVICE, api.user("front_desk"), data=path.case_data, citizen=CITIZEN)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case == _as_read(api, case["id"])
    provide_papers(api, SERVICE, case["id"])
    case = _as_read(api, case["id"])
    kept_claims = 0
    officers: dict[str, dict[str, str]] = {}

    def officer(lane: str) -> dict[str, str]:
        return officers.setdefault(lane, api.user(lane))

    for step in path.steps:
        if not step.is_task:  # the bill paid at the counter: the payment's own answers are tested with payments
            case = take(api, case, step)
            assert case == _as_read(api, case["id"]), step.task
            continue
        task = ready_task(case, step)
        owner = officer(step.lane)
        others = [t for t in case["tasks"] if t["id"] != task["id"] and t["claimed_by"] is None]
        for other in others:  # a task that stays ready across this step, taken by its own officer meanwhile
            claimed = api.client.post(f"/api/tasks/{other['id']}/claim", headers=officer(other["lane"]))
            assert claimed.status_code == 200, claimed.text
            shown = api.client.get(f"/api/tasks/{other['id']}", headers=api.user("supervisor")).json()
            assert claimed.json() == {k: v for k, v in shown.items() if k != "form_schema"}
            assert claimed.json()["claimed_by"] is not None
            kept_claims += 1
        r = api.complete(task["id"], step.data, owner)
        assert r.status_code == 200, r.text
        case = r.json()
        assert case == _as_read(api, case["id"]), step.task
        assert all(t["claimed_by"] is not None for t in case["tasks"] if t["id"] in {o["id"] for o in others})
    assert kept_claims >= 1  # the parallel split was walked with a task kept across a step
    assert case["status"] == "completed" and case["tasks"] == []
