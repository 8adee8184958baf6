"""A citizen signs in by a code sent by SMS and reads their own requests (engine/citizen/), tried from the side
of someone who wants in: wrong codes, old codes, another phone's code, guessing from one address, a citizen
token on staff routes, a staff token on the citizen's, another citizen's case."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from engine.citizen import signin
from engine.messages import send
from engine.people import policy
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.citizen import CitizenCode
from storage.models.messages import OutboxMessage
from tests.support.policy import declared_action, routes

OTHER = {"national_id": "29105051234568", "full_name": "منى علي حسن", "phone": "+201112223334"}
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[tuple[Api, dict[str, Any]]]:
    settings = make_settings(database_url, tmp_path, public_url="https://shubbak.example/")
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
        clerk = api.user("front_desk")
        mine = [api.open_case("test_permit", clerk).json() for _ in range(2)]
        api.complete(mine[0]["tasks"][0]["id"], {"area": 120, "purpose": "family house"}, clerk)
        theirs = api.open_case("test_permit", clerk, citizen=OTHER).json()
        yield api, {"mine": mine, "theirs": theirs, "clerk": clerk}


def _codes_sent(api: Api) -> list[dict[str, Any]]:
    send.drain(settings=api.settings, now=datetime.now(UTC) + timedelta(seconds=1))
    path = Path(api.settings.message_log_path)
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()] if path.exists() else []


def _code_for(api: Api, phone: str) -> str:
    r = api.client.post("/api/citizen/code", json={"phone": phone})
    assert r.status_code == 202, r.text
    sent = [m for m in _codes_sent(api) if m["to"] == phone]
    found = re.search(r"\b(\d{6})\b", sent[-1]["body"])
    assert found is not None, sent[-1]
    return found.group(1)


def _token(api: Api, phone: str, code: str) -> Any:
    return api.client.post("/api/citizen/token", json={"phone": phone, "code": code})


def _bearer(api: Api, phone: str = CITIZEN["phone"]) -> dict[str, str]:
    r = _token(api, phone, _code_for(api, phone))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_the_code_arrives_through_the_log_gateway_and_signs_in(world: tuple[Api, dict[str, Any]]) -> None:
    api, cases = world
    headers = _bearer(api)
    lines = _codes_sent(api)
    assert {"to", "body", "at"} <= set(lines[-1]) and lines[-1]["to"] == CITIZEN["phone"]
    listed = api.client.get("/api/citizen/cases", headers=headers)
    assert listed.status_code == 200, listed.text
    assert sorted(c["id"] for c in listed.json()) == sorted(c["id"] for c in cases["mine"])
    one = api.client.get(f"/api/citizen/cases/{cases['mine'][0]['id']}", headers=headers).json()
    assert one["status_words"] == {"ar": "قيد التنفيذ", "en": "In progress"}
    assert one["current_step"] and all(set(step) == {"ar", "en"} for step in one["current_step"])
    # The messages the citizen was sent about this case, never the sign-in code's.
    assert one["messages"] and all("code" not in m["body"] and "رمز" not in m["body"] for m in one["messages"])
    # The department, never the officer: the reviewer who holds the step is named nowhere.
    reviewer = api.user("reviewer", username="rev_officer_karim")
    ready = api.client.get(f"/api/cases/{one['id']}", headers=reviewer).json()["tasks"][0]["id"]
    assert api.client.post(f"/api/tasks/{ready}/claim", headers=reviewer).status_code == 200
    one = api.client.get(f"/api/citizen/cases/{one['id']}", headers=headers).json()
    assert one["current_step"] and "rev_officer_karim" not in json.dumps(one).lower()
    assert one["bills_due"] == [] and one["documents"] == []


def test_the_code_is_hashed_at_rest_and_not_in_a_case(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    code = _code_for(api, CITIZEN["phone"])
    with Session(engine_for(api.settings.database_url)) as session:
        rows = session.exec(select(CitizenCode)).all()
        assert rows and all(code not in row.code_hash and len(row.code_hash) == 64 for row in rows)
        sms = session.exec(select(OutboxMessage).where(OutboxMessage.stage == "citizen_code")).all()
        assert len(sms) == 1 and sms[0].case_id is None


def test_five_wrong_codes_then_the_right_one_is_refused(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    code = _code_for(api, CITIZEN["phone"])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(api.settings.citizen_code_max_tries):
        assert _token(api, CITIZEN["phone"], wrong).status_code == 401
    r = _token(api, CITIZEN["phone"], code)
    assert r.status_code == 401 and "access_token" not in r.text
    assert r.json() == _token(api, CITIZEN["phone"], wrong).json()  # the same words as a wrong code


def test_a_code_works_once(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    code = _code_for(api, CITIZEN["phone"])
    assert _token(api, CITIZEN["phone"], code).status_code == 200
    assert _token(api, CITIZEN["phone"], code).status_code == 401


def test_an_expired_code_is_refused(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    code = _code_for(api, CITIZEN["phone"])
    later = datetime.now(UTC) + timedelta(minutes=api.settings.citizen_code_minutes, seconds=1)
    with Session(engine_for(api.settings.database_url)) as session, pytest.raises(signin.Unauthorized):
        signin.exchange(session=session, settings=api.settings, phone=CITIZEN["phone"], code=code, client=None,
                        now=later)
    assert _token(api, CITIZEN["phone"], code).status_code == 200  # the same code, in time


def test_only_the_newest_code_counts_and_one_row_is_kept(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    first = _code_for(api, CITIZEN["phone"])
    second = _code_for(api, CITIZEN["phone"])
    if first != second:
        assert _token(api, CITIZEN["phone"], first).status_code == 401
    with Session(engine_for(api.settings.database_url)) as session:
        assert len(session.exec(select(CitizenCode).where(CitizenCode.phone == CITIZEN["phone"])).all()) == 1
    assert _token(api, CITIZEN["phone"], second).status_code == 200


def test_a_code_for_another_phone_is_refused(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    theirs = _code_for(api, OTHER["phone"])
    _code_for(api, CITIZEN["phone"])
    r = _token(api, CITIZEN["phone"], theirs)
    assert r.status_code == 401


def test_the_phone_in_arabic_digits_and_local_form(world: tuple[Api, dict[str, Any]]) -> None:
    api, cases = world
    local = "0" + CITIZEN["phone"][3:]  # +201001234567 -> 01001234567
    r = api.client.post("/api/citizen/code", json={"phone": local.translate(ARABIC_DIGITS)})
    assert r.status_code == 202
    sent = [m for m in _codes_sent(api) if m["to"] == CITIZEN["phone"]]
    code = re.search(r"\b(\d{6})\b", sent[-1]["body"]).group(1)  # type: ignore[union-attr]
    r = _token(api, "٠٠٢٠ " + local[1:].translate(ARABIC_DIGITS), code.translate(ARABIC_DIGITS))
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert len(api.client.get("/api/citizen/cases", headers=headers).json()) == len(cases["mine"])


@pytest.mark.parametrize("phone", ["", "12", "+20abc", "٠١٢", "x" * 40])
def test_not_a_phone_is_a_422(world: tuple[Api, dict[str, Any]], phone: str) -> None:
    api, _ = world
    r = api.client.post("/api/citizen/code", json={"phone": phone})
    assert r.status_code == 422, r.text
    assert api.client.post("/api/citizen/code", json={"phone": 1234}).status_code == 422
    assert api.client.post("/api/citizen/token", json={"phone": CITIZEN["phone"], "code": None}).status_code == 422


def test_unknown_phone_gets_the_same_answer_and_no_sms(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    known = api.client.post("/api/citizen/code", json={"phone": CITIZEN["phone"]})
    unknown = api.client.post("/api/citizen/code", json={"phone": "+201000000009"})
    assert (known.status_code, known.json(), sorted(known.headers)) == (
        unknown.status_code, unknown.json(), sorted(unknown.headers))
    assert all(m["to"] != "+201000000009" for m in _codes_sent(api))
    # A guess for the unknown phone is refused in the same words as a wrong code for a known one.
    a, b = _token(api, "+201000000009", "123456"), _token(api, CITIZEN["phone"], "000000")
    assert (a.status_code, a.json()) == (b.status_code, b.json())


def test_guessing_codes_across_many_phones_from_one_address_is_throttled(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, citizen_wrong_codes_per_address=5, citizen_codes_per_address=8)
    with TestClient(create_app(settings)) as client:
        answers = [client.post("/api/citizen/token", json={"phone": f"+2010000000{i:02d}", "code": "123456"})
                   .status_code for i in range(8)]
        assert answers[:5] == [401] * 5 and answers[5:] == [429] * 3
        asked = [client.post("/api/citizen/code", json={"phone": f"+2010000001{i:02d}"}).status_code
                 for i in range(10)]
        assert asked[:8] == [202] * 8 and asked[8:] == [429] * 2
        refused = client.post("/api/citizen/code", json={"phone": "+201000000199"})
        assert refused.headers.get("retry-after")


def test_codes_asked_for_one_phone_are_throttled(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, citizen_codes_per_phone=3)
    with TestClient(create_app(settings)) as client:
        asked = [client.post("/api/citizen/code", json={"phone": "٠١٠٠١٢٣٤٥٦٧"}).status_code for _ in range(4)]
        assert asked == [202, 202, 202, 429]
        # The same phone written another way is the same phone.
        assert client.post("/api/citizen/code", json={"phone": "+20 100 123 4567"}).status_code == 429


def test_another_citizens_case_is_404(world: tuple[Api, dict[str, Any]]) -> None:
    api, cases = world
    headers = _bearer(api)
    theirs = api.client.get(f"/api/citizen/cases/{cases['theirs']['id']}", headers=headers)
    nothing = api.client.get("/api/citizen/cases/999999", headers=headers)
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json() == nothing.json() and OTHER["full_name"] not in theirs.text
    assert cases["theirs"]["tracking_number"] not in api.client.get("/api/citizen/cases", headers=headers).text


def test_a_staff_token_is_no_citizen_token(world: tuple[Api, dict[str, Any]]) -> None:
    api, cases = world
    for headers in (cases["clerk"], api.user("admin"), {}, {"Authorization": "Bearer nonsense"}):
        for url in ("/api/citizen/cases", f"/api/citizen/cases/{cases['mine'][0]['id']}"):
            assert api.client.get(url, headers=headers).status_code == 401


def test_a_citizen_token_that_ran_out_is_refused(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    old = signin.issue_token(CITIZEN["phone"], api.settings,
                             datetime.now(UTC) - timedelta(minutes=api.settings.citizen_token_minutes + 1))
    r = api.client.get("/api/citizen/cases", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401


_VALUES = {"case_id": "1", "task_id": "00000000-0000-0000-0000-000000000001", "document_id": "1",
           "tracking_number": "1234-5678-901", "code": "x", "bill_id": "1", "session_id": "1", "refund_id": "1",
           "payment_id": "1", "username": "someone", "number": "1", "kind": "k", "a": "1", "b": "2", "version": "1",
           "counter_id": "1", "category": "x", "center_id": "1", "id": "1", "absence_id": "1", "lane": "x",
           "fmt": "json"}


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: _VALUES.get(m.group(1), "1"), path)


def test_a_citizen_token_opens_no_staff_route(world: tuple[Api, dict[str, Any]]) -> None:
    """Every route of the app (API and pages) whose action is neither anyone's nor the citizen's refuses it."""
    api, _ = world
    headers = _bearer(api)
    checked, wrong = 0, []
    for method, path, route in routes(api.client.app):  # type: ignore[arg-type]
        action = declared_action(route)
        who = policy.rule(action).who if action is not None else ()
        # Open311's filing takes no token at all, only its application's api_key (tests/api/test_open311.py).
        if action is None or policy.PUBLIC in who or policy.CITIZEN in who or policy.OPEN311_APP in who:
            continue
        r = api.client.request(method, _fill(path), headers=headers, json={} if method != "GET" else None,
                               follow_redirects=False)
        checked += 1
        # The API answers 401/403; a page sends whoever is not signed in as staff to the staff's sign-in.
        refused = r.status_code in (401, 403) or (r.status_code in (302, 303)
                                                   and r.headers.get("location", "").startswith("/login"))
        if not refused:
            wrong.append(f"{method} {path}: {r.status_code} {r.headers.get('location', '')}")
    assert checked > 50 and not wrong, wrong


def test_a_bill_due_is_shown_until_it_is_paid(sqlite_api: Api) -> None:
    from tests.support.cash_desk import _counter  # the cashier's counter of the payments' tests

    counter = _counter(sqlite_api)
    case, bill = counter.billed_case(fee=150)
    headers = _bearer(sqlite_api)
    one = sqlite_api.client.get(f"/api/citizen/cases/{case['id']}", headers=headers).json()
    assert one["bills_due"] == [{"number": bill["number"], "amount": "150.00", "currency": "EGP",
                                 "due_at": one["bills_due"][0]["due_at"]}]
    assert one["bills_due"][0]["due_at"] is not None
    counter.open_drawer()
    assert counter.pay(bill["id"], "150").status_code == 201
    assert sqlite_api.client.get(f"/api/citizen/cases/{case['id']}", headers=headers).json()["bills_due"] == []
