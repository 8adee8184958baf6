"""Retries are safe: an ``Idempotency-Key`` gets the first answer back, never a second case or step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from api.app import create_app
from engine.core import clock
from engine.core.settings import Settings
from harness.api import CITIZEN, Api
from harness.server import at_once, serving
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.cases import Case
from storage.models.idempotency import IdempotencyKey
from storage.models.people import User

OPEN = {"service_code": "test_permit", "citizen": CITIZEN, "data": {}}


@pytest.fixture
def permit(api: Api) -> Api:
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
    return api


def _keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def _count(settings: Settings, what: Any, *where: Any) -> int:
    with Session(engine_for(settings.database_url)) as session:
        return int(session.execute(select(func.count()).select_from(what).where(*where)).scalar_one())


def test_same_key_same_body_answers_the_first_answer_and_opens_one_case(permit: Api) -> None:
    clerk = _keyed(permit.user("front_desk"), "open-1")
    first = permit.client.post("/api/cases", json=OPEN, headers=clerk)
    again = permit.client.post("/api/cases", json=OPEN, headers=clerk)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert _count(permit.settings, Case) == 1


def test_same_key_with_another_body_or_path_is_422(permit: Api) -> None:
    clerk = _keyed(permit.user("front_desk"), "open-2")
    assert permit.client.post("/api/cases", json=OPEN, headers=clerk).status_code == 201
    other = permit.client.post("/api/cases", json={**OPEN, "data": {"channel": "counter 9"}}, headers=clerk)
    assert other.status_code == 422 and "another request" in other.json()["detail"]
    elsewhere = permit.client.post("/api/tasks/nope/complete", json={"data": {}}, headers=clerk)
    assert elsewhere.status_code == 422 and "another request" in elsewhere.json()["detail"]
    assert _count(permit.settings, Case) == 1


def test_keys_belong_to_their_user(permit: Api) -> None:
    one, two = permit.user("front_desk"), permit.user("front_desk")
    a = permit.client.post("/api/cases", json=OPEN, headers=_keyed(one, "shared"))
    b = permit.client.post("/api/cases", json=OPEN, headers=_keyed(two, "shared"))
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers


def test_a_retried_completion_answers_the_completed_step_and_does_not_take_the_next(permit: Api) -> None:
    clerk, reviewer = permit.user("front_desk"), permit.user("reviewer")
    case = permit.open_case("test_permit", clerk).json()
    register = case["tasks"][0]["id"]
    body = {"data": {"area": 120, "purpose": "family house"}}
    first = permit.client.post(f"/api/tasks/{register}/complete", json=body, headers=_keyed(clerk, "step-1"))
    assert first.status_code == 200 and first.json()["tasks"][0]["name"] == "review"
    review = first.json()["tasks"][0]["id"]
    assert permit.complete(review, {"decision": "approve"}, reviewer).status_code == 200
    again = permit.client.post(f"/api/tasks/{register}/complete", json=body, headers=_keyed(clerk, "step-1"))
    assert again.status_code == 200 and again.json() == first.json()  # the first answer, not the case now
    assert _count(permit.settings, AuditEvent, AuditEvent.case_id == case["id"],
                  AuditEvent.kind == "task_completed") == 2  # register and review, each once


def test_a_refused_request_records_nothing_and_its_retry_is_judged_afresh(permit: Api) -> None:
    clerk = _keyed(permit.user("front_desk"), "refused")
    bad = permit.client.post("/api/cases", json={**OPEN, "citizen": {**CITIZEN, "phone": "0100"}}, headers=clerk)
    assert bad.status_code == 422
    assert _count(permit.settings, IdempotencyKey) == 0
    again = permit.client.post("/api/cases", json={**OPEN, "citizen": {**CITIZEN, "phone": "0100"}}, headers=clerk)
    assert again.status_code == 422 and "idempotent-replayed" not in again.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "مفتاح", "tab\there"])
def test_a_malformed_key_is_422(permit: Api, key: str) -> None:
    headers = {**permit.user("front_desk"), "Idempotency-Key": key}
    r = permit.client.post("/api/cases", json=OPEN, headers={k: v.encode() if k == "Idempotency-Key" else v
                                                             for k, v in headers.items()})  # type: ignore[misc]
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"]
    assert _count(permit.settings, Case) == 0


def test_without_a_token_the_key_changes_nothing(permit: Api) -> None:
    r = permit.client.post("/api/cases", json=OPEN, headers={"Idempotency-Key": "anon"})
    assert r.status_code == 401
    assert _count(permit.settings, IdempotencyKey) == 0


def test_an_answer_older_than_the_setting_is_forgotten(permit: Api) -> None:
    clerk = _keyed(permit.user("front_desk"), "old")
    assert permit.client.post("/api/cases", json=OPEN, headers=clerk).status_code == 201
    with Session(engine_for(permit.settings.database_url)) as session:
        session.execute(update(IdempotencyKey).values(created_at=clock.now() - timedelta(hours=25)))
        session.commit()
    again = permit.client.post("/api/cases", json=OPEN, headers=clerk)
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert _count(permit.settings, Case) == 2


def _lose_answers(settings: Settings) -> None:
    # What a process killed between its commit and recording the answer leaves behind.
    with Session(engine_for(settings.database_url)) as session:
        session.execute(update(IdempotencyKey).values(status=None, body=None, content_type=None))
        session.commit()


def test_a_lost_answer_is_the_case_it_wrote(settings: Settings) -> None:
    quick = settings.model_copy(update={"idempotency_wait_seconds": 0.2})
    with TestClient(create_app(quick)) as client:
        api = Api(client, quick)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
        clerk = _keyed(api.user("front_desk"), "lost")
        first = client.post("/api/cases", json=OPEN, headers=clerk)
        _lose_answers(quick)
        again = client.post("/api/cases", json=OPEN, headers=clerk)
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        assert _count(quick, Case) == 1
        # A route that does not answer a case cannot rebuild its answer: 409, and nothing runs twice.
        admin = _keyed(api.user("admin"), "new-user")
        body = {"username": "nadia", "password": "a long password", "full_name": "Nadia", "roles": ["reviewer"],
                "installation_wide": True}
        assert client.post("/api/users", json=body, headers=admin).status_code == 201
        _lose_answers(quick)
        lost = client.post("/api/users", json=body, headers=admin)
        assert lost.status_code == 409 and "answer was lost" in lost.json()["detail"]


def test_concurrent_requests_with_one_key_open_one_case(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
        clerk = _keyed(api.user("front_desk"), "race")
    with serving(create_app(settings)) as base:
        answers = at_once(base, [("/api/cases", OPEN, clerk)] * 4)
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _count(settings, Case) == 1


def test_concurrent_completions_with_one_key_complete_the_step_once(settings: Settings) -> None:
    """Four copies of one completion at once (a client retrying while its first try still runs): one step, and
    every copy gets its answer, the completed step's, never the next step completed or a 409 of the race."""
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
        clerk = api.user("front_desk")
        case = api.open_case("test_permit", clerk).json()
        task = case["tasks"][0]["id"]
        keyed = _keyed(clerk, "complete-race")
    body = {"data": {"area": 120, "purpose": "family house"}}
    with serving(create_app(settings)) as base:
        answers = at_once(base, [(f"/api/tasks/{task}/complete", body, keyed)] * 4)
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1  # the same answer, byte for byte
    assert _count(settings, AuditEvent, AuditEvent.kind == "task_completed") == 1


def test_the_periodic_sweep_forgets_expired_answers_only(permit: Api) -> None:
    from engine.core import idempotency

    clerk = permit.user("front_desk")
    for key in ("fresh", "stale"):
        assert permit.client.post("/api/cases", json=OPEN, headers=_keyed(clerk, key)).status_code == 201
    with Session(engine_for(permit.settings.database_url)) as session:
        session.execute(update(IdempotencyKey).where(IdempotencyKey.key == "stale")  # type: ignore[arg-type]
                        .values(created_at=clock.now() - timedelta(hours=25)))
        session.commit()
        assert idempotency.forget_expired(session=session, settings=permit.settings) == 1
        assert list(session.execute(select(IdempotencyKey.key)).scalars()) == ["fresh"]


def test_a_token_that_no_longer_signs_in_replays_nothing(permit: Api) -> None:
    """Signed out (or deactivated): the kept answer, citizen and all, is not handed to the old token."""
    clerk = _keyed(permit.user("front_desk"), "ended-1")
    assert permit.client.post("/api/cases", json=OPEN, headers=clerk).status_code == 201
    assert permit.client.post("/api/auth/logout", headers=clerk).status_code == 204
    again = permit.client.post("/api/cases", json=OPEN, headers=clerk)
    assert again.status_code == 401 and "idempotent-replayed" not in again.headers
    assert CITIZEN["national_id"] not in again.text
    assert _count(permit.settings, Case) == 1


def test_a_lost_answer_is_not_rebuilt_for_a_caller_who_may_no_longer_read_the_case(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
        clerk = _keyed(api.user("front_desk", username="moved_clerk"), "moved-1")
        assert client.post("/api/cases", json=OPEN, headers=clerk).status_code == 201
        _lose_answers(settings)
        with Session(engine_for(settings.database_url)) as session:  # the clerk becomes an analyst
            session.execute(update(User).where(col(User.username) == "moved_clerk").values(roles=["analyst"]))
            session.commit()
        lost = client.post("/api/cases", json=OPEN, headers=clerk)
        assert lost.status_code == 409 and "answer was lost" in lost.json()["detail"]
        assert CITIZEN["national_id"] not in lost.text


def test_sign_in_answers_are_never_kept(permit: Api) -> None:
    """A token in a stored answer would outlive a sign-out and land in every backup."""
    admin = _keyed(permit.user("admin", username="keyed_admin"), "login-1")
    form = {"username": "keyed_admin", "password": "correct horse"}
    r = permit.client.post("/api/auth/token", data=form, headers=admin)
    assert r.status_code == 200 and r.json()["access_token"]
    assert _count(permit.settings, IdempotencyKey) == 0

