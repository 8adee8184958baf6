"""Case events write their messages in the same transaction, in the citizen's language; staff read them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from api.app import create_app
from engine.messages import send
from harness.api import CITIZEN, Api
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.messages import OutboxMessage
from tests.support.audit import APPROVE, CORRECT, REGISTER, RETURN, deploy, login


def _step(api: Api, case: dict[str, Any], data: dict[str, Any], who: str) -> dict[str, Any]:
    r = api.complete(case["tasks"][0]["id"], data, login(api, who))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _messages(api: Api, case_id: int, who: str = "reviewer_karim") -> list[dict[str, Any]]:
    r = api.client.get(f"/api/cases/{case_id}/messages", headers=login(api, who))
    assert r.status_code == 200, r.text
    return list(r.json())


def _walk_approved(api: Api, citizen: dict[str, Any] | None = None) -> dict[str, Any]:
    deploy(api)
    r = api.open_case("audit_case", login(api, "clerk_hoda"), citizen=citizen)
    assert r.status_code == 201, r.text
    case = dict(r.json())
    for data, who in [(REGISTER, "clerk_hoda"), (RETURN, "reviewer_karim"), (CORRECT, "clerk_hoda"),
                      (APPROVE, "reviewer_karim"), ({}, "clerk_hoda")]:
        case = _step(api, case, data, who)
    return case


def test_every_stage_of_a_case_writes_one_message_in_arabic(api: Api) -> None:
    case = _walk_approved(api)
    found = _messages(api, case["id"])
    assert [(m["stage"], m["channel"], m["language"], m["status"]) for m in found] == [
        ("received", "sms", "ar", "pending"),
        ("department", "sms", "ar", "pending"),  # the reviewer's lane, once although the review came twice
        ("returned", "sms", "ar", "pending"),
        ("ready_for_pickup", "sms", "ar", "pending"),
        ("completed", "sms", "ar", "pending"),
    ]
    assert {m["recipient"] for m in found} == {CITIZEN["phone"]}
    assert all(case["tracking_number"] in m["body"] for m in found)
    assert "طلب خاضع للمراجعة" in found[0]["body"]  # the service's Arabic name
    assert "/rate/" in found[-1]["body"]  # the completed message carries the rating link
    assert "reviewer" in found[1]["body"]  # the department, by its lane (no name given in service.toml)


def test_english_when_the_citizen_asks_for_it_and_rejection(api: Api) -> None:
    deploy(api)
    r = api.open_case("audit_case", login(api, "clerk_hoda"), citizen={**CITIZEN, "language": "en"})
    assert r.status_code == 201, r.text
    case = _step(api, dict(r.json()), REGISTER, "clerk_hoda")
    case = _step(api, case, {"decision": "reject", "notes": "not allowed"}, "reviewer_karim")
    found = _messages(api, case["id"])
    assert [(m["stage"], m["language"]) for m in found] == [("received", "en"), ("department", "en"),
                                                            ("rejected", "en")]
    assert found[-1]["body"].startswith("Shubbak: we are sorry")


def test_a_refused_step_writes_no_message(api: Api) -> None:
    deploy(api)
    case = dict(api.open_case("audit_case", login(api, "clerk_hoda")).json())
    bad = api.complete(case["tasks"][0]["id"], {"area": "not a number"}, login(api, "clerk_hoda"))
    assert bad.status_code == 422
    assert _messages(api, case["id"]) == []


def test_staff_who_cannot_read_the_case_cannot_read_its_messages(api: Api) -> None:
    case = _walk_approved(api)
    stranger = api.user("engineering", username="eng_only")
    assert api.client.get(f"/api/cases/{case['id']}/messages", headers=stranger).status_code == 403
    assert api.client.get("/api/cases/999999/messages", headers=login(api, "admin_sami")).status_code == 404
    assert api.client.get(f"/api/cases/{case['id']}/messages").status_code == 401


def test_the_log_gateway_sends_them_all_once(api: Api) -> None:
    case = _walk_approved(api)
    first = send.drain(settings=api.settings)
    assert [a.status for a in first] == ["sent"] * 5
    assert send.drain(settings=api.settings) == []
    found = _messages(api, case["id"])
    assert {(m["status"], m["attempts"], m["gateway"]) for m in found} == {("sent", 1, "log")}
    with Session(engine_for(api.settings.database_url)) as session:
        keys = session.execute(select(func.count(func.distinct(OutboxMessage.idempotency_key)))).scalar_one()
    assert keys == 5


def test_without_a_broker_the_api_process_sends_in_the_background(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, message_poll_seconds=0.1)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        deploy(api)
        case = dict(api.open_case("audit_case", login(api, "clerk_hoda")).json())
        _step(api, case, REGISTER, "clerk_hoda")  # the request returns before anything is sent
        deadline = time.monotonic() + 20
        while {m["status"] for m in _messages(api, case["id"])} != {"sent"}:
            assert time.monotonic() < deadline, _messages(api, case["id"])
            time.sleep(0.05)
        assert [(m["stage"], m["gateway"]) for m in _messages(api, case["id"])] == [("received", "log"),
                                                                                   ("department", "log")]
