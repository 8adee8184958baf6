"""A message the citizen could not be sent is an incident on its case (engine/cases/undelivered.py): refused
for good by the gateway (a bad number) or failed at every attempt allowed. From the side of those who would
break it: the outbox round run again counts nothing twice, another center's supervisor sees and retries nothing,
a clerk is refused, a resolved incident is not retried again, and the retry sends the message once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from api.app import create_app
from engine.cases import incidents, undelivered
from engine.messages import send
from engine.operations import periodic
from engine.people.users import create_user
from harness.api import Api
from harness.pages import PASSWORD, Pages, center_tree
from harness.postgres import free_port
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.messages import OutboxMessage
from tests.support.sms_gateway import SmsGateway

BAD_NUMBER = b'{"error": "invalid phone number"}'


class World:
    """test_permit deployed, the center tree, a clerk and supervisors; the API without its lifespan (no
    background sender: the test runs the outbox's rounds itself)."""

    def __init__(self, database_url: str, tmp_path: Path, url: str) -> None:
        settings = make_settings(database_url, tmp_path, sms_gateway="http", message_max_attempts=2,
                                 sms_gateway_options={"url": url, "token": "s3cret", "sender": "Shubbak"},
                                 message_retry_base_seconds=10, message_retry_cap_seconds=60)
        self.api = Api(TestClient(create_app(settings)), settings)
        with Session(engine_for(settings.database_url)) as session:
            self.ids = center_tree(session)
            create_user(session=session, username="sup_a", password=PASSWORD, full_name="Sup A",
                        roles=["supervisor"], settings=settings, center_id=self.ids["CITY-A"])
        r = self.api.deploy(TEST_PROCESSES / "test_permit", self.api.user("analyst"))
        assert r.status_code == 201, r.text
        self.clerk = self.api.user("front_desk", center_id=self.ids["CITY-A"])
        self.supervisor = self.api.user("supervisor", center_id=self.ids["CITY-A"])
        self.other = self.api.user("supervisor", center_id=self.ids["CITY-B"])

    def registered(self) -> dict[str, Any]:
        case = self.api.open_case("test_permit", self.clerk).json()
        done = self.api.complete(case["tasks"][0]["id"], {"area": 12, "purpose": "a shop"}, self.clerk)
        assert done.status_code == 200, done.text
        return dict(done.json())

    def messages(self, case_id: int) -> list[Any]:
        with Session(engine_for(self.api.settings.database_url)) as session:
            return list(session.execute(select(OutboxMessage).where(OutboxMessage.case_id == case_id)
                                        .order_by(OutboxMessage.id)).scalars())

    def incidents(self, who: dict[str, str], **filters: Any) -> Any:
        return self.api.client.get("/api/incidents", params={"reason": "message", **filters}, headers=who)

    def kinds(self, case_id: int) -> list[str]:
        events = self.api.client.get(f"/api/cases/{case_id}/events", headers=self.api.user("admin")).json()
        return [e["kind"] for e in events]


def _outbox_round(world: World) -> None:
    ran, _ = periodic.run_round(periodic.job("outbox"), world.api.settings)
    assert ran


def test_a_message_refused_for_good_is_an_incident_and_a_retry_sends_it(database_url: str, tmp_path: Path) -> None:
    with SmsGateway() as gateway:
        world = World(database_url, tmp_path, gateway.url)
        case = world.registered()
        sent = world.messages(case["id"])
        assert sent, "the registration writes the citizen's messages"
        gateway.replies = [(400, BAD_NUMBER)] * len(sent)
        _outbox_round(world)
        assert {m.status for m in world.messages(case["id"])} == {"failed"}
        opened = world.incidents(world.supervisor).json()
        assert {i["element_id"] for i in opened} == {m.stage for m in sent}
        assert all(i["reason"] == "message" and "invalid phone number" in i["message"] and i["count"] == 1
                   and i["case_id"] == case["id"] for i in opened), opened
        # The round again (or another process's): nothing is counted twice.
        _outbox_round(world)
        assert [(i["id"], i["count"]) for i in world.incidents(world.supervisor).json()] == [
            (i["id"], i["count"]) for i in opened]
        assert world.kinds(case["id"]).count(undelivered.UNDELIVERABLE) == len(sent)
        # Nobody of another center sees or retries it; a clerk is refused.
        assert world.incidents(world.other).json() == []
        incident = opened[0]
        retry = f"/api/incidents/{incident['id']}/retry"
        assert world.api.client.post(retry, headers=world.other).status_code == 404
        assert world.api.client.post(retry, headers=world.clerk).status_code == 403
        r = world.api.client.post(f"/api/incidents/{incident['id']}/skip", json={"to": "review", "reason": "x"},
                                  headers=world.api.user("analyst"))
        assert r.status_code == 409 and r.json()["message_id"] == "incident.skip_needs_step", r.text
        # The supervisor's page shows it.
        with TestClient(world.api.client.app, follow_redirects=False) as browser:
            pages = Pages(browser, world.api.settings)
            assert pages.sign_in("sup_a").status_code == 303
            page = pages.client.get("/supervisor/incidents").text
            assert f'data-incident="{incident["id"]}"' in page and "invalid phone number" in page
            assert "أعد إرسال الرسالة" in page and "رسالة تعذّر إرسالها إلى المواطن" in page
        # Retried (the gateway fixed): resolved, the message goes once; a second retry is refused.
        r = world.api.client.post(retry, headers=world.supervisor)
        assert r.status_code == 200 and r.json()["id"] == case["id"], r.text
        assert world.api.client.post(retry, headers=world.supervisor).status_code == 409
        again = [m for m in world.messages(case["id"]) if m.stage == incident["element_id"]]
        assert {(m.status, m.attempts, m.incident_id) for m in again} == {("pending", 0, None)}
        _outbox_round(world)
        assert {m.status for m in world.messages(case["id"]) if m.stage == incident["element_id"]} == {"sent"}
        assert sum(gateway.delivered.values()) == len(again)
    resolved = world.incidents(world.supervisor, status="resolved").json()
    assert [i["id"] for i in resolved] == [incident["id"]] and resolved[0]["closed_by"]
    assert undelivered.RESENT in world.kinds(case["id"])
    replay = world.api.client.get(f"/api/cases/{case['id']}/replay", headers=world.api.user("auditor")).json()
    assert replay["consistent"] is True, replay


def test_a_message_that_failed_every_attempt_is_an_incident_that_outlives_its_case(
        database_url: str, tmp_path: Path) -> None:
    world = World(database_url, tmp_path, f"http://127.0.0.1:{free_port()}/messages")  # nobody answers
    case = world.registered()
    now = datetime.now(UTC)
    for hour in range(3):  # two attempts allowed, the second an hour later
        send.drain(settings=world.api.settings, now=now + timedelta(hours=hour))
    assert {(m.status, m.attempts) for m in world.messages(case["id"])} == {("failed", 2)}
    with Session(engine_for(world.api.settings.database_url)) as session:
        assert undelivered.open_incidents(session, world.api.settings) == len(world.messages(case["id"]))
        assert undelivered.open_incidents(session, world.api.settings) == 0
    [first, *_] = world.incidents(world.supervisor).json()
    assert "did not answer" in first["message"] or "refused" in first["message"], first
    # The case ends (cancelled): the incidents of its failed steps close, a message's stays open.
    r = world.api.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "duplicate"},
                              headers=world.supervisor)
    assert r.status_code == 200, r.text
    with Session(engine_for(world.api.settings.database_url)) as session:
        incidents.close_passed(session)
    assert first["id"] in [i["id"] for i in world.incidents(world.supervisor).json()]
