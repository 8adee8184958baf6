"""The inbox and the work on tasks: claim, release, complete, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest

from harness.api import Api


@pytest.fixture
def permit(api: Api) -> Api:
    return api.deployed("test_permit")


def _registered(api: Api, clerk: dict[str, str]) -> dict[str, Any]:
    return api.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, clerk)


def test_walk_approve_path(permit: Api) -> None:
    clerk, reviewer = permit.user("front_desk"), permit.user("reviewer")
    case = _registered(permit, clerk)
    assert case["data"]["fee"] == 300.0
    inbox = permit.client.get("/api/tasks", headers=reviewer).json()
    assert [(t["name"], t["tracking_number"], t["lane"]) for t in inbox] == [
        ("review", case["tracking_number"], "reviewer")]
    assert set(inbox[0]) >= {"id", "case_id", "tracking_number", "name", "title", "lane", "claimed_by",
                             "created_at", "due_at", "form"}
    assert inbox[0]["due_at"] is not None  # the review task has its own SLA of 3 days
    r = permit.complete(inbox[0]["id"], {"decision": "approve", "notes": "ok"}, reviewer)
    assert r.status_code == 200
    assert [t["name"] for t in r.json()["tasks"]] == ["hand_over"]
    r = permit.complete(r.json()["tasks"][0]["id"], {}, clerk)
    assert r.json()["status"] == "completed" and r.json()["outcome"] == "end_approved"
    assert r.json()["completed_at"] is not None


def test_walk_reject_path(permit: Api) -> None:
    clerk, reviewer = permit.user("front_desk"), permit.user("reviewer")
    case = _registered(permit, clerk)
    r = permit.complete(case["tasks"][0]["id"], {"decision": "reject"}, reviewer)
    assert r.json()["status"] == "completed" and r.json()["outcome"] == "end_rejected"


def test_a_user_never_sees_another_lanes_tasks(permit: Api) -> None:
    clerk = permit.user("front_desk")
    _registered(permit, clerk)
    assert permit.client.get("/api/tasks", headers=clerk).json() == []
    assert permit.client.get("/api/tasks", headers=permit.user("admin")).json() == []
    assert len(permit.client.get("/api/tasks", headers=permit.user("reviewer", "front_desk")).json()) == 1
    assert permit.client.get("/api/tasks", params={"lane": "reviewer"}, headers=clerk).json() == []


def test_other_lane_is_403(permit: Api) -> None:
    clerk = permit.user("front_desk")
    case = _registered(permit, clerk)
    task_id = case["tasks"][0]["id"]
    for action in ("claim", "unclaim"):
        assert permit.client.post(f"/api/tasks/{task_id}/{action}", headers=clerk).status_code == 403
    assert permit.complete(task_id, {"decision": "approve"}, clerk).status_code == 403
    assert permit.client.post("/api/tasks/no-such-task/claim", headers=clerk).status_code == 404


def test_claim_blocks_others_until_released(permit: Api) -> None:
    case = _registered(permit, permit.user("front_desk"))
    task_id = case["tasks"][0]["id"]
    ali, huda = permit.user("reviewer", username="ali"), permit.user("reviewer", username="huda")
    r = permit.client.post(f"/api/tasks/{task_id}/claim", headers=ali)
    assert r.status_code == 200 and r.json()["claimed_by"] == "ali"
    assert permit.client.post(f"/api/tasks/{task_id}/claim", headers=ali).status_code == 200  # idempotent
    assert permit.client.post(f"/api/tasks/{task_id}/claim", headers=huda).status_code == 409
    assert permit.complete(task_id, {"decision": "approve"}, huda).status_code == 409
    assert permit.client.post(f"/api/tasks/{task_id}/unclaim", headers=huda).status_code == 409
    r = permit.client.post(f"/api/tasks/{task_id}/unclaim", headers=ali)
    assert r.status_code == 200 and r.json()["claimed_by"] is None
    assert permit.complete(task_id, {"decision": "approve"}, huda).status_code == 200
    kinds = [e["kind"] for e in permit.client.get(f"/api/cases/{case['id']}/events", headers=ali).json()]
    assert kinds == ["case_opened", "task_completed", "task_claimed", "task_released", "task_completed"]


def test_completed_task_is_409(permit: Api) -> None:
    clerk = permit.user("front_desk")
    case = permit.open_case("test_permit", clerk).json()
    task_id = case["tasks"][0]["id"]
    assert permit.complete(task_id, {"area": 50, "purpose": "shop"}, clerk).status_code == 200
    r = permit.complete(task_id, {"area": 50, "purpose": "shop"}, clerk)
    assert r.status_code == 409
    assert permit.client.post(f"/api/tasks/{task_id}/claim", headers=clerk).status_code == 409


def test_form_violations_are_422_per_field_with_labels(permit: Api) -> None:
    clerk = permit.user("front_desk")
    case = permit.open_case("test_permit", clerk).json()
    task_id = case["tasks"][0]["id"]
    r = permit.complete(task_id, {"area": -5}, clerk)
    assert r.status_code == 422
    detail = {d["field"]: d for d in r.json()["detail"]}
    assert set(detail) == {"area", "purpose"}
    assert detail["purpose"]["msg"] == "this field is required"
    assert detail["area"]["label"] == {"en": "Area (m²)", "ar": "المساحة (م²)"}
    assert permit.complete(task_id, {"area": "big", "purpose": "x" * 3}, clerk).status_code == 422
    # Nothing was lost: the task is still there and takes valid data.
    assert permit.complete(task_id, {"area": 5, "purpose": "kiosk"}, clerk).status_code == 200


def test_task_detail_carries_form_schema(permit: Api) -> None:
    clerk = permit.user("front_desk")
    case = permit.open_case("test_permit", clerk).json()
    r = permit.client.get(f"/api/tasks/{case['tasks'][0]['id']}", headers=clerk)
    assert r.status_code == 200
    assert r.json()["form_schema"]["properties"]["area"]["x-title-ar"] == "المساحة (م²)"
    assert permit.client.get(f"/api/tasks/{case['tasks'][0]['id']}",
                             headers=permit.user("reviewer")).status_code == 403


def test_events_form_a_hash_chain(permit: Api) -> None:
    import hashlib
    import json

    clerk = permit.user("front_desk")
    case = _registered(permit, clerk)
    events = permit.client.get(f"/api/cases/{case['id']}/events", headers=permit.user("auditor")).json()
    assert [e["seq"] for e in events] == [1, 2]
    assert events[0]["prev_hash"] == "0" * 64
    assert events[1]["prev_hash"] == events[0]["hash"]
    for ev in events:
        content = {"case_id": case["id"], "seq": ev["seq"], "at": ev["at"], "actor": ev["actor"],
                   "kind": ev["kind"], "task": ev["task"], "data": ev["data"]}
        assert ev["after"] is not None  # each of these events is the last one its command wrote
        content["after"] = ev["after"]
        body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256((ev["prev_hash"] + body).encode()).hexdigest() == ev["hash"]
    assert events[1]["data"]["data"] == {"area": 120, "purpose": "family house"}
