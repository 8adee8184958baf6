"""Opening, reading and searching cases."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core import tracking
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES


@pytest.fixture
def permit(api: Api) -> Api:
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
    return api


def test_open_case_returns_tracking_number_and_first_task(permit: Api) -> None:
    r = permit.open_case("test_permit", permit.user("front_desk"), data={"purpose": "a shop front"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "open" and case["service_code"] == "test_permit" and case["process_version"] == 1
    assert tracking.is_valid(case["tracking_number"])
    assert [(t["name"], t["lane"], t["title"], t["form"]) for t in case["tasks"]] == [
        ("register", "front_desk", "Register request", "register.json")]
    assert case["data"]["purpose"] == "a shop front"
    assert case["data"]["citizen"] == CITIZEN
    assert case["citizen"] == CITIZEN
    assert case["due_at"] is not None


def test_admin_may_open_but_other_lanes_may_not(permit: Api) -> None:
    assert permit.open_case("test_permit", permit.user("admin")).status_code == 201
    r = permit.open_case("test_permit", permit.user("reviewer"))
    assert r.status_code == 403
    assert "front_desk" in r.json()["detail"]


def test_unknown_service_is_404(permit: Api) -> None:
    r = permit.open_case("no_such_service", permit.user("front_desk"))
    assert r.status_code == 404


@pytest.mark.parametrize("citizen, field", [
    ({**CITIZEN, "national_id": "12345"}, "citizen.national_id"),
    ({**CITIZEN, "national_id": "29013401234567"}, "citizen.national_id"),  # month 13
    ({**CITIZEN, "national_id": "39901011234567"}, "citizen.national_id"),  # born in 2099
    ({**CITIZEN, "phone": "01001234567"}, "citizen.phone"),
    ({**CITIZEN, "full_name": "   "}, "citizen.full_name"),
])
def test_bad_citizen_fields_are_422(permit: Api, citizen: dict[str, str], field: str) -> None:
    r = permit.open_case("test_permit", permit.user("front_desk"), citizen=citizen)
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["detail"]] == [field]


def test_saudi_ten_digit_id_is_accepted(permit: Api) -> None:
    r = permit.open_case("test_permit", permit.user("front_desk"),
                         citizen={**CITIZEN, "national_id": "1012345678", "phone": "+966501234567"})
    assert r.status_code == 201


def test_missing_citizen_and_wrong_types_are_422(permit: Api) -> None:
    clerk = permit.user("front_desk")
    r = permit.client.post("/api/cases", json={"service_code": "test_permit"}, headers=clerk)
    assert r.status_code == 422
    r = permit.client.post("/api/cases", json={"service_code": "test_permit", "citizen": CITIZEN, "data": [1]},
                           headers=clerk)
    assert r.status_code == 422


def _case(api: Api, headers: dict[str, str], national_id: str = CITIZEN["national_id"]) -> dict[str, Any]:
    r = api.open_case("test_permit", headers, citizen={**CITIZEN, "national_id": national_id})
    assert r.status_code == 201
    return dict(r.json())


def test_read_permissions(permit: Api) -> None:
    case = _case(permit, permit.user("front_desk"))
    for roles in (["admin"], ["supervisor"], ["auditor"], ["reviewer"], ["front_desk"]):
        assert permit.client.get(f"/api/cases/{case['id']}", headers=permit.user(*roles)).status_code == 200
    assert permit.client.get(f"/api/cases/{case['id']}", headers=permit.user("licensing")).status_code == 403
    assert permit.client.get(f"/api/cases/{case['id']}/events",
                             headers=permit.user("licensing")).status_code == 403
    assert permit.client.get("/api/cases/999999", headers=permit.user("admin")).status_code == 404


def test_search_filters_and_pagination(permit: Api) -> None:
    clerk = permit.user("front_desk")
    first = _case(permit, clerk, "29001011234567")
    _case(permit, clerk, "29102021234561")
    _case(permit, clerk, "29102021234561")
    sup = permit.user("supervisor")
    everything = permit.client.get("/api/cases", headers=sup).json()
    assert everything["total"] == 3 and len(everything["items"]) == 3
    by_nid = permit.client.get("/api/cases", params={"national_id": "29102021234561"}, headers=sup).json()
    assert by_nid["total"] == 2
    by_tracking = permit.client.get("/api/cases", params={"tracking_number": first["tracking_number"]},
                                    headers=sup).json()
    assert [c["id"] for c in by_tracking["items"]] == [first["id"]]
    page = permit.client.get("/api/cases", params={"limit": 2, "offset": 2}, headers=sup).json()
    assert page["total"] == 3 and len(page["items"]) == 1 and page["limit"] == 2
    assert permit.client.get("/api/cases", params={"status": "completed"}, headers=sup).json()["total"] == 0
    assert permit.client.get("/api/cases", params={"status": "weird"}, headers=sup).status_code == 422
    assert permit.client.get("/api/cases", params={"limit": 0}, headers=sup).status_code == 422
    outsider = permit.client.get("/api/cases", headers=permit.user("licensing")).json()
    assert outsider["total"] == 0


def test_cancel_by_supervisor_withdraws_tasks(permit: Api) -> None:
    clerk = permit.user("front_desk")
    case = _case(permit, clerk)
    assert permit.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "duplicate"},
                              headers=clerk).status_code == 403
    sup = permit.user("supervisor")
    r = permit.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "duplicate request"}, headers=sup)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled" and r.json()["tasks"] == []
    assert permit.client.get("/api/tasks", headers=clerk).json() == []
    again = permit.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "again"}, headers=sup)
    assert again.status_code == 409
    kinds = [e["kind"] for e in permit.client.get(f"/api/cases/{case['id']}/events", headers=sup).json()]
    assert kinds == ["case_opened", "case_cancelled"]


def test_the_hot_routes_answer_the_bytes_of_their_response_model(permit: Api) -> None:
    """Opening, reading and completing answer from the route's thread (api/views.answer), not through FastAPI's
    response validation: the body must stay what FastAPI writes for the route's ``response_model``, and every
    field of that model must be there."""
    from pydantic import TypeAdapter

    from api.schemas import CasePublic, TaskPublic

    fastapi_writes = TypeAdapter(CasePublic)
    opened = permit.open_case("test_permit", permit.user("front_desk"), data={"purpose": "شباك 1"})
    read = permit.client.get(f"/api/cases/{opened.json()['id']}", headers=permit.user("front_desk"))
    inbox = permit.client.get("/api/tasks", headers=permit.user("front_desk"))
    completed = permit.complete(opened.json()["tasks"][0]["id"], {"area": 120, "purpose": "family house"},
                                permit.user("front_desk"))
    assert (opened.status_code, read.status_code, inbox.status_code, completed.status_code) == (201, 200, 200, 200)
    for r in (opened, read, completed):
        assert r.headers["content-type"] == "application/json"
        model = CasePublic.model_validate_json(r.content)
        assert r.content == fastapi_writes.dump_json(model, by_alias=True)
        assert set(r.json()) == set(CasePublic.model_fields)
    assert "شباك 1".encode() in opened.content  # UTF-8 as FastAPI writes it, not \\u escapes
    tasks = TypeAdapter(list[TaskPublic])
    assert inbox.content == tasks.dump_json(tasks.validate_json(inbox.content), by_alias=True)
    assert inbox.json() and set(inbox.json()[0]) == set(TaskPublic.model_fields)
