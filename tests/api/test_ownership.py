"""Every field has an owner (forms/ownership.py), tried over HTTP by someone writing what is not theirs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from engine.cases import citizen_correction
from engine.core.errors import Invalid
from engine.people import centers
from engine.people.users import Actor
from harness.api import CITIZEN, Api
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.cases import Case, Task
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, find_path, ready_task

ROAD = "road_occupancy_permit"


def _stored(api: Api, case_id: int) -> tuple[int, int, dict[str, Any], str, list[str]]:
    """What the database holds of the case: version, events, data, phone and ready tasks."""
    with Session(engine_for(api.settings.database_url)) as session:
        case = session.get(Case, case_id)
        assert case is not None
        events = session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)).all()
        ready = session.exec(select(Task.name).where(Task.case_id == case_id, Task.state == "ready")).all()
        return case.version, len(events), dict(case.data), case.phone, sorted(ready)


def _at_site_check(api: Api) -> dict[str, Any]:
    """A road-occupancy case registered at the front desk (the DMN table worked out its fee): at the site check."""
    assert api.deploy(PROCESSES / ROAD, api.user("analyst")).status_code == 201
    path = find_path(ROAD, "sidewalk_approved")
    case = api.open_case(ROAD, api.user("front_desk"), data=path.case_data).json()
    provide_papers(api, ROAD, case["id"])
    register = path.steps[0]
    r = api.complete(ready_task(case, register)["id"], register.data, api.user("front_desk"))
    assert r.status_code == 200, r.text
    case = r.json()
    assert [t["name"] for t in case["tasks"]] == ["site_check"]
    return case


def test_the_reviewers_site_check_cannot_rewrite_the_fee_or_the_citizen(api: Api) -> None:
    case = _at_site_check(api)
    fee = case["data"]["fee"]
    assert fee == 1800.0
    assert case["owners"]["fee"] == "diagram" and case["owners"]["daily_rate"] == "diagram"  # the DMN table's
    before = _stored(api, case["id"])
    officer = api.user("municipal_services")
    site = find_path(ROAD, "sidewalk_approved").steps[1].data
    stranger = {"national_id": CITIZEN["national_id"], "full_name": "x", "phone": "+201119999999",
                "email": "attacker@example.com"}
    r = api.complete(case["tasks"][0]["id"], {**site, "fee": 1.0, "citizen": stranger}, officer)
    assert r.status_code == 422, r.text
    body = r.json()
    assert [d["field"] for d in body["detail"]] == ["citizen", "fee"]
    why = {d["field"]: d for d in body["detail"]}
    assert why["fee"]["msg"] == "fee: not a field of this step's form"
    assert why["fee"]["msg_ar"] == "fee: ليس من حقول نموذج هذه الخطوة"
    assert "audited correction" in why["citizen"]["msg"] and why["citizen"]["msg_ar"].startswith("citizen: ")
    assert "fee" in body["message"] and "citizen" in body["message"]
    assert _stored(api, case["id"]) == before  # nothing written: no version, no event, same data and phone
    assert before[2]["fee"] == fee and before[3] == CITIZEN["phone"]

    r = api.complete(case["tasks"][0]["id"], site, officer)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["fee"] == fee and r.json()["data"]["citizen"] == CITIZEN
    assert r.json()["owners"]["site_decision"] == "task:site_check"


@pytest.fixture
def owners_api(sqlite_api: Api) -> Api:
    return sqlite_api.deployed("field_owners")


def _registered(api: Api) -> dict[str, Any]:
    return api.past_first_step("field_owners", {"area": 40, "purpose": "a kiosk"}, api.user("front_desk"),
                               opening={"purpose": "a kiosk"})


def test_a_read_only_property_of_the_form_is_refused_even_when_extra_fields_are_allowed(owners_api: Api) -> None:
    api = owners_api
    case = api.open_case("field_owners", api.user("front_desk")).json()
    before = _stored(api, case["id"])
    r = api.complete(case["tasks"][0]["id"], {"area": 40, "purpose": "a kiosk", "reference": "MINE", "extra": 1},
                     api.user("front_desk"))
    assert r.status_code == 422
    assert [(d["field"], d["type"]) for d in r.json()["detail"]] == [
        ("extra", "ownership.not_in_form"), ("reference", "ownership.read_only")]
    assert r.json()["detail"][1]["msg_ar"] == "reference: للقراءة فقط في نموذج هذه الخطوة"
    assert _stored(api, case["id"]) == before
    case = _registered(api)
    assert case["data"]["reference"] == "REF-40"
    assert case["owners"] == {"citizen": "citizen", "purpose": "task:register", "area": "task:register",
                              "fee": "diagram", "reference": "diagram"}


def test_a_formless_step_writes_new_fields_and_its_own_again_in_a_loop_but_nothing_else(owners_api: Api) -> None:
    api = owners_api
    case = _registered(api)
    inspector = api.user("inspector")
    task = case["tasks"][0]
    assert task["name"] == "inspect" and task["form"] is None
    before = _stored(api, case["id"])
    r = api.complete(task["id"], {"note": "first look", "area": 4, "fee": 0, "citizen": {}, "reference": "X",
                                  "documents_complete": True}, inspector)
    assert r.status_code == 422
    why = {d["field"]: d for d in r.json()["detail"]}
    assert sorted(why) == ["area", "citizen", "documents_complete", "fee", "reference"]
    assert why["area"]["msg"] == "area: written by the step Register application"
    assert why["area"]["msg_ar"] == "area: كتبته الخطوة تسجيل الطلب"
    assert why["fee"]["msg"] == "fee: computed by the diagram" and why["reference"]["owner"] == "diagram"
    assert why["documents_complete"]["type"] == "ownership.papers"
    assert _stored(api, case["id"]) == before

    r = api.complete(task["id"], {"note": "first look", "inspect_again": True}, inspector)
    assert r.status_code == 200, r.text
    again = r.json()["tasks"][0]
    assert again["name"] == "inspect" and again["id"] != task["id"]
    r = api.complete(again["id"], {"note": "second look", "inspect_again": False}, inspector)  # its own fields
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["data"]["note"] == "second look" and case["owners"]["note"] == "task:inspect"

    approve = case["tasks"][0]
    r = api.complete(approve["id"], {"note": "overruled", "approved": True}, api.user("approver"))
    assert r.status_code == 422
    assert [(d["field"], d["msg"]) for d in r.json()["detail"]] == [("note", "note: written by the step Inspect site")]
    r = api.complete(approve["id"], {"approved": True}, api.user("approver"))
    assert r.status_code == 200 and r.json()["status"] == "completed"
    replay = api.client.get(f"/api/cases/{case['id']}/replay", headers=api.user("auditor"))
    assert replay.status_code == 200 and replay.json()["consistent"] is True, replay.text


@pytest.mark.parametrize("data, field, kind", [
    ({"fee": 1}, "fee", "ownership.not_in_start_form"),
    ({"settings": {"complaint_reopen_days": 9000}}, "settings", "ownership.diagram"),
    ({"citizen": CITIZEN}, "citizen", "ownership.citizen"),
    ({"reference": "MINE"}, "reference", "ownership.read_only"),
    ({"documents_missing": []}, "documents_missing", "ownership.papers"),
])
def test_opening_a_case_takes_only_the_start_forms_fields(owners_api: Api, data: dict[str, Any], field: str,
                                                          kind: str) -> None:
    api = owners_api
    r = api.open_case("field_owners", api.user("front_desk"), data={"purpose": "a kiosk", **data})
    assert r.status_code == 422
    assert [(d["field"], d["type"]) for d in r.json()["detail"]] == [(field, kind)]
    assert r.json()["detail"][0]["msg_ar"].startswith(f"{field}: ")
    with Session(engine_for(api.settings.database_url)) as session:
        assert session.exec(select(Case)).all() == []
    r = api.open_case("field_owners", api.user("front_desk"), data={"purpose": "a kiosk"})
    assert r.status_code == 201
    assert r.json()["owners"] == {"citizen": "citizen", "purpose": "start"}


def _correct(api: Api, case_id: int, headers: dict[str, str], **body: Any) -> Any:
    return api.client.post(f"/api/cases/{case_id}/citizen-correction", json=body, headers=headers)


def test_the_citizen_is_corrected_only_by_the_audited_correction_and_told_on_both_phones(owners_api: Api) -> None:
    api = owners_api
    case = _registered(api)
    new_phone = "+201112223334"
    r = _correct(api, case["id"], api.user("front_desk"), phone=new_phone, language="en",
                 reason="the citizen changed their number")
    assert r.status_code == 200, r.text
    corrected = r.json()
    assert corrected["citizen"]["phone"] == new_phone
    assert corrected["data"]["citizen"] == {**CITIZEN, "phone": new_phone, "language": "en"}
    assert corrected["owners"]["citizen"] == "citizen"
    events = api.client.get(f"/api/cases/{case['id']}/events", headers=api.user("auditor")).json()
    last = events[-1]
    assert last["kind"] == "citizen_corrected"
    assert last["data"]["before"]["phone"] == CITIZEN["phone"] and last["data"]["after"]["phone"] == new_phone
    assert last["data"]["reason"] == "the citizen changed their number"
    assert last["data"]["changed"] == ["language", "phone"]
    with Session(engine_for(api.settings.database_url)) as session:
        from storage.models.messages import OutboxMessage

        told = session.exec(select(OutboxMessage).where(OutboxMessage.stage == "contact_corrected")
                            .order_by(col(OutboxMessage.id))).all()
        assert [(m.channel, m.recipient, m.ref) for m in told] == [("sms", CITIZEN["phone"], "old"),
                                                                  ("sms", new_phone, "new")]
        assert all(case["tracking_number"] in m.body and m.language == "en" for m in told)
    # The case goes on with the new details, and replays to the same state.
    r = api.complete(corrected["tasks"][0]["id"], {"note": "ok", "inspect_again": False}, api.user("inspector"))
    assert r.status_code == 200 and r.json()["data"]["citizen"]["phone"] == new_phone
    replay = api.client.get(f"/api/cases/{case['id']}/replay", headers=api.user("auditor")).json()
    assert replay["consistent"] is True, replay


def test_correction_refusals(owners_api: Api) -> None:
    api = owners_api
    with Session(engine_for(api.settings.database_url)) as session:
        ids = {code: centers.create_center(session=session, code=code, name_ar=code, name_en=code,
                                           level="governorate").id for code in ("A", "B")}
    case = api.open_case("field_owners", api.user("front_desk", center_id=ids["A"])).json()
    before = _stored(api, case["id"])
    good = {"phone": "+201112223334", "reason": "typo at the window"}
    for role in ("inspector", "auditor", "cashier", "admin"):
        r = _correct(api, case["id"], api.user(role), **good)
        assert r.status_code == 403, role
        assert "front_desk" in r.json()["detail"] and "supervisor" in r.json()["detail"]
    r = _correct(api, case["id"], api.user("supervisor", center_id=ids["B"]), **good)
    assert r.status_code == 403 and "center" in r.json()["detail"]
    assert _correct(api, 999_999, api.user("front_desk"), **good).status_code == 404
    r = _correct(api, case["id"], api.user("front_desk"), phone="+201112223334", reason="  ")
    assert r.status_code == 422
    assert [(d["field"], d["msg_ar"]) for d in r.json()["detail"]] == [("reason", "اذكر سبب تصحيح البيانات")]
    r = _correct(api, case["id"], api.user("supervisor"), phone="01001234567", reason="new number")
    assert r.status_code == 422 and [d["field"] for d in r.json()["detail"]] == ["citizen.phone"]
    r = _correct(api, case["id"], api.user("front_desk"), phone=CITIZEN["phone"], reason="nothing new")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "unchanged"
    r = _correct(api, case["id"], api.user("front_desk"), national_id="29001011234568", reason="x")
    assert r.status_code == 422  # not a contact detail: refused by the body's schema
    with Session(engine_for(api.settings.database_url)) as session, pytest.raises(Invalid) as refused:
        citizen_correction.correct(session=session, case_id=case["id"], changes={"national_id": "29001011234568"},
                                   reason="x", actor=Actor("desk", frozenset({"front_desk"})), settings=api.settings)
    assert [(d["field"], d["type"], d["msg"], d["msg_ar"]) for d in refused.value.details] == [
        ("national_id", "ownership.not_contact", "national_id: not a contact detail; a case for another person is "
         "a new case", "national_id: ليس من بيانات الاتصال؛ الطلب لشخص آخر يُفتح طلبًا جديدًا")]
    assert _stored(api, case["id"]) == before
    cancel = api.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "withdrawn"},
                             headers=api.user("supervisor"))
    assert cancel.status_code == 200
    r = _correct(api, case["id"], api.user("front_desk"), **good)
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]
