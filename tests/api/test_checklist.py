"""Required papers: the checklist, the intake gate, supervisors' waivers, and gateways that read them."""

from __future__ import annotations

from typing import Any

import pytest

from harness.api import Api
from harness.settings import TEST_PROCESSES
from tests.support.documents import PDF, open_papers_case

REQUIRED = ["national_id_copy", "site_plan"]


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    return open_papers_case(api)


def scan(api: Api, case_id: int, kind: str) -> dict[str, Any]:
    r = api.client.post(f"/api/cases/{case_id}/documents", data={"kind": kind},
                        files={"file": (f"{kind}.pdf", PDF, "application/pdf")}, headers=api.user("front_desk"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def waive(api: Api, case_id: int, kind: str, headers: dict[str, str] | None = None,
          reason: str = "the citizen brings it at the review") -> Any:
    return api.client.post(f"/api/cases/{case_id}/waivers", json={"kind": kind, "reason": reason},
                           headers=api.user("supervisor") if headers is None else headers)


def checklist(api: Api, case_id: int) -> dict[str, Any]:
    r = api.client.get(f"/api/cases/{case_id}/checklist", headers=api.user("front_desk"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def complete_intake(api: Api, case: dict[str, Any]) -> Any:
    return api.complete(case["tasks"][0]["id"], {}, api.user("front_desk"))


def test_a_new_case_shows_every_paper_missing(api: Api, case: dict[str, Any]) -> None:
    found = checklist(api, case["id"])
    assert (found["complete"], found["missing"], found["blocking"]) == (False, REQUIRED, REQUIRED)
    assert [(i["kind"], i["required"], i["present"], i["en"]) for i in found["items"]] == [
        ("national_id_copy", True, False, "Copy of national ID"), ("site_plan", True, False, "Site plan"),
        ("photo", False, False, "Photos of the site")]
    assert found["items"][0]["ar"] == "صورة بطاقة الرقم القومي"


def test_intake_is_refused_naming_each_missing_paper(api: Api, case: dict[str, Any]) -> None:
    r = complete_intake(api, case)
    assert r.status_code == 422
    assert [d["kind"] for d in r.json()["detail"]] == REQUIRED
    assert "national_id_copy, site_plan" in r.json()["message"]
    assert r.json()["detail"][1]["msg_ar"].startswith("الرسم المساحي للموقع")
    scan(api, case["id"], "national_id_copy")
    r = complete_intake(api, case)
    assert r.status_code == 422
    assert [d["kind"] for d in r.json()["detail"]] == ["site_plan"]
    events = api.client.get(f"/api/cases/{case['id']}/events", headers=api.user("auditor")).json()
    assert "task_completed" not in [e["kind"] for e in events]


def test_with_every_paper_scanned_intake_goes_on_and_the_gateway_sees_them(api: Api, case: dict[str, Any]) -> None:
    for kind in REQUIRED:
        scan(api, case["id"], kind)
    found = checklist(api, case["id"])
    assert (found["complete"], found["missing"]) == (True, [])
    assert found["items"][0]["latest"]["kind"] == "national_id_copy"
    r = complete_intake(api, case)
    assert r.status_code == 200, r.text
    after = r.json()
    assert (after["data"]["documents_complete"], after["data"]["documents_missing"]) == (True, [])
    assert [t["name"] for t in after["tasks"]] == ["review"]


def test_a_supervisors_waiver_lets_intake_go_on_and_the_gateway_sees_what_is_missing(api: Api,
                                                                                       case: dict[str, Any]) -> None:
    scan(api, case["id"], "national_id_copy")
    r = waive(api, case["id"], "site_plan")
    assert r.status_code == 201, r.text
    assert (r.json()["kind"], r.json()["reason"]) == ("site_plan", "the citizen brings it at the review")
    found = checklist(api, case["id"])
    assert (found["complete"], found["missing"], found["blocking"]) == (False, ["site_plan"], [])
    assert found["items"][1]["waiver"]["waived_by"] == r.json()["waived_by"]
    r = complete_intake(api, case)
    assert r.status_code == 200, r.text
    after = r.json()
    assert (after["data"]["documents_complete"], after["data"]["documents_missing"]) == (False, ["site_plan"])
    assert [t["name"] for t in after["tasks"]] == ["review_without_papers"]
    events = api.client.get(f"/api/cases/{case['id']}/events", headers=api.user("auditor")).json()
    waived = [e for e in events if e["kind"] == "document_waived"]
    supervisor = found["items"][1]["waiver"]["waived_by"]
    assert [(e["data"], e["actor"]) for e in waived] == [
        ({"kind": "site_plan", "reason": "the citizen brings it at the review"}, supervisor)]


def test_later_tasks_see_papers_scanned_after_intake(api: Api, case: dict[str, Any]) -> None:
    scan(api, case["id"], "national_id_copy")
    assert waive(api, case["id"], "site_plan").status_code == 201
    after = complete_intake(api, case).json()
    scan(api, case["id"], "site_plan")  # the citizen brought it after all
    r = api.complete(after["tasks"][0]["id"], {}, api.user("reviewer"))
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["documents_complete"], r.json()["data"]["documents_missing"]) == (True, [])
    assert r.json()["outcome"] == "end_reviewed_without_papers"


def test_waiving_is_for_supervisors(api: Api, case: dict[str, Any]) -> None:
    for roles in [("front_desk",), ("reviewer",), ("admin",), ("auditor",)]:
        assert (roles, waive(api, case["id"], "site_plan", api.user(*roles)).status_code) == (roles, 403)
    assert waive(api, case["id"], "site_plan", {}).status_code == 401
    assert checklist(api, case["id"])["blocking"] == REQUIRED


@pytest.mark.parametrize("kind, reason, words", [
    ("photo", "not needed", "only a required document can be waived"),
    ("deed_of_sale", "not needed", "only a required document can be waived"),
    ("site_plan", "   ", "a reason is required"),
])
def test_a_waiver_needs_a_required_kind_and_a_reason(api: Api, case: dict[str, Any], kind: str, reason: str,
                                                     words: str) -> None:
    r = waive(api, case["id"], kind, reason=reason)
    assert r.status_code == 422
    assert r.json()["message"] == words


def test_a_paper_is_waived_once_and_never_when_scanned(api: Api, case: dict[str, Any]) -> None:
    assert waive(api, case["id"], "site_plan").status_code == 201
    r = waive(api, case["id"], "site_plan")
    assert (r.status_code, r.json()["detail"]) == (409, "site_plan is already waived")
    scan(api, case["id"], "national_id_copy")
    r = waive(api, case["id"], "national_id_copy")
    assert (r.status_code, r.json()["detail"]) == (
        409, "national_id_copy is already scanned: there is nothing to waive")


def test_waivers_on_unknown_or_closed_cases(api: Api, case: dict[str, Any]) -> None:
    assert waive(api, 9999, "site_plan").status_code == 404
    api.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "withdrawn"}, headers=api.user("supervisor"))
    r = waive(api, case["id"], "site_plan")
    assert (r.status_code, r.json()["detail"]) == (409, "the case is cancelled")


def test_the_checklist_is_for_readers_of_the_case(api: Api, case: dict[str, Any]) -> None:
    assert api.client.get(f"/api/cases/{case['id']}/checklist", headers=api.user("engineering")).status_code == 403
    assert api.client.get(f"/api/cases/{case['id']}/checklist").status_code == 401
    assert api.client.get("/api/cases/9999/checklist", headers=api.user("auditor")).status_code == 404


def test_services_without_papers_pass_intake_without_document_data(api: Api) -> None:
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
    clerk = api.user("front_desk")
    case = api.open_case("test_permit", clerk).json()
    r = api.complete(case["tasks"][0]["id"], {"area": 10, "purpose": "shop"}, clerk)
    assert r.status_code == 200, r.text
    assert "documents_complete" not in r.json()["data"]
