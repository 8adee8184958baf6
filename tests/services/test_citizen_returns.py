"""The real services whose departments return a request to the citizen: each return loop waits in the
``citizen`` lane, and the signed-in citizen answers it from the phone (engine/citizen/returns.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from engine.citizen import signin
from harness.api import CITIZEN, Api
from storage.db import engine_for
from storage.models.messages import OutboxMessage
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, ServicePath, ready_task, service_paths, take
from tests.support.documents import JPEG

RETURNING = ["building_permit", "renovation_permit", "commercial_activity_license"]


def _at_the_return(api: Api, service: str) -> tuple[dict[str, Any], ServicePath, int]:
    """The service's path with a return to the citizen walked (deployed, opened for CITIZEN, its papers waived)
    up to that return: the case then, the path, and the index of the citizen's step in it."""
    path = next(p for p in service_paths(service) if any(s.lane == "citizen" for s in p.steps))
    assert api.deploy(PROCESSES / service, api.user("analyst")).status_code == 201
    case = api.open_case(service, api.user("front_desk"), data=path.case_data, citizen=CITIZEN).json()
    provide_papers(api, service, case["id"], "waive")
    number = next(i for i, s in enumerate(path.steps) if s.lane == "citizen")
    for step in path.steps[:number]:
        case = take(api, case, step)
    return case, path, number


@pytest.mark.parametrize("service", RETURNING)
def test_the_return_loop_waits_for_the_citizen_who_answers_from_the_phone(sqlite_api: Api, service: str) -> None:
    api = sqlite_api
    case, path, number = _at_the_return(api, service)
    me = {"Authorization": f"Bearer {signin.issue_token(CITIZEN['phone'], api.settings)}"}
    steps = list(path.steps)
    task = ready_task(case, steps[number])
    assert task["lane"] == "citizen"
    # The SMS of the return says where to answer it from the phone.
    with Session(engine_for(api.settings.database_url)) as session:
        sent = session.exec(select(OutboxMessage).where(OutboxMessage.case_id == case["id"],
                                                        OutboxMessage.stage == "returned")).all()
    assert sent and {m.recipient for m in sent} == {CITIZEN["phone"]}  # one per step waiting for the citizen
    assert all(m.body.endswith(f"{api.settings.public_base_url}/citizen") and "هاتفكم" in m.body for m in sent)
    mine = api.client.get(f"/api/citizen/cases/{case['id']}", headers=me).json()
    assert task["id"] in [r["id"] for r in mine["returns"]]
    assert mine["status"] == "open"  # a return is no resolved complaint
    kind = mine["returns"][0]["kinds"][0]["kind"]
    r = api.client.post(f"/api/citizen/tasks/{task['id']}/answer", headers=me,
                        data={"kind": kind, "note": steps[number].data["corrections_made"]},
                        files={"file": ("paper.jpg", JPEG, "image/jpeg")})
    assert r.status_code == 200, r.text
    after = api.client.get(f"/api/cases/{case['id']}", headers=api.user("auditor")).json()
    following = next(s for s in steps[number + 1:] if s.is_task)
    assert following.task in [t["name"] for t in after["tasks"]]
    assert after["data"]["returned_paper"]["kind"] == kind


@pytest.mark.parametrize("service", RETURNING)
def test_a_waiting_return_is_no_complaint_to_reopen_on_the_tracking_page(sqlite_api: Api, service: str) -> None:
    api = sqlite_api
    case, _path, _number = _at_the_return(api, service)
    track = api.client.get(f"/api/public/track/{case['tracking_number']}",
                           params={"phone_last4": CITIZEN["phone"][-4:]})
    assert track.status_code == 200, track.text
    assert track.json()["status"] == "open" and track.json()["reopen_until"] is None
    # Nor can the reopening form complete it.
    r = api.client.post(f"/api/public/track/{case['tracking_number']}/reopen",
                        json={"phone_last4": CITIZEN["phone"][-4:], "reason": "not solved at all"})
    assert r.status_code in (404, 409), r.text
