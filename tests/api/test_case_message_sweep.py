"""A message between cases lost between its sender's commit and its delivery (the process killed in between) is
delivered by the periodic job ``case_messages`` exactly once (engine/cases/sent_messages.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from engine.bpmn import runner
from engine.cases import correlated, workflows
from engine.catalog.packages import read_package
from engine.operations import periodic
from harness.api import Api
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for, session_for
from storage.models.cases import Case, CaseMessage
from tests.support.concurrent import at_once


def lab(api: Api) -> Api:
    for service in ("lab_request", "lab_result"):
        r = api.deploy(TEST_PROCESSES / service, api.user("analyst"))
        assert r.status_code == 201, r.text
    return api


@pytest.fixture(name="lab")
def lab_fixture(api: Api) -> Api:
    """On SQLite and on PostgreSQL: the two services, the one that waits and the one that sends."""
    return lab(api)


def _registered(api: Api, service: str, reference: str) -> dict[str, Any]:
    return api.past_first_step(service, {"reference": reference}, api.user("front_desk"))


def _crashed_after_commit(api: Api, monkeypatch: pytest.MonkeyPatch, reference: str) -> dict[str, Any]:
    """The sender's step commits, and its process dies before delivering the message it sent."""
    with monkeypatch.context() as crash:
        crash.setattr(workflows, "deliver_sent", lambda *args, **kwargs: None)
        return _registered(api, "lab_result", reference)


def _kept(api: Api) -> list[tuple[str, int | None]]:
    with Session(engine_for(api.settings.database_url)) as session:
        return [(m.status, m.receiver_case_id) for m in session.exec(select(CaseMessage).order_by(CaseMessage.id))]


def _sweep(api: Api, after: float = 0) -> Any:
    job = periodic.job("case_messages")
    return job.run(api.settings.model_copy(update={"case_message_sweep_after_seconds": after}))


def _received(api: Api, case_id: int) -> list[dict[str, Any]]:
    return [e for e in api.events(case_id) if e["kind"] == "message_received"]


def test_a_message_lost_after_its_senders_commit_is_delivered_once_by_the_periodic_job(
        lab: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api = lab
    waiting = _registered(api, "lab_request", "LAB-1")
    sender = _crashed_after_commit(api, monkeypatch, "LAB-1")
    assert sender["status"] == "completed"
    assert api.read_case(waiting["id"])["tasks"] == []  # lost: on the sender's chain, delivered nowhere
    assert _kept(api) == [("pending", None)]
    assert _sweep(api, after=3600) == 0  # a message just sent may still be on its way: left alone
    assert _sweep(api) == 1
    assert [t["name"] for t in api.read_case(waiting["id"])["tasks"]] == ["decide"]
    sent = [e for e in api.events(sender["id"]) if e["kind"] == "message_sent"]
    got = _received(api, waiting["id"])
    assert [(e["data"]["key"], e["data"]["from_case"], e["data"]["sent_by"], e["actor"]) for e in got] == [
        (sent[0]["data"]["key"], sender["tracking_number"], sent[0]["actor"], "system")]
    assert _kept(api) == [("delivered", waiting["id"])]
    assert _sweep(api) == 0 and len(_received(api, waiting["id"])) == 1  # the next round finds nothing
    assert api.client.get("/api/incidents", headers=api.user("admin")).json() == []
    api.assert_replays(waiting["id"])
    api.assert_replays(sender["id"])


def test_a_retried_delivery_of_the_same_message_finds_it_taken(lab: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two cases wait with the same key: the first delivery goes to the oldest; the same message delivered again (the
    # step's own delivery and the job's round both running) must not reach the second one.
    api = lab
    first = _registered(api, "lab_request", "LAB-2")
    second = _registered(api, "lab_request", "LAB-2")
    sender = _crashed_after_commit(api, monkeypatch, "LAB-2")
    with Session(engine_for(api.settings.database_url)) as session:
        kept = session.exec(select(CaseMessage)).one()
        case = session.get(Case, sender["id"])
        assert case is not None
        session.expunge(case)
        thrown = runner.Thrown(kept.message, dict(kept.payload), kept.correlation)
        done = [workflows.deliver_sent(session, case, kept.key, thrown, actor="system", sent_by="clerk",
                                       settings=api.settings) for _ in range(2)]
    assert [(d.receiver.id if d.receiver else None, d.taken) for d in done] == [(first["id"], False), (None, True)]
    assert _sweep(api) == 0
    assert len(_received(api, first["id"])) == 1
    assert _received(api, second["id"]) == [] and api.read_case(second["id"])["tasks"] == []
    assert api.client.get("/api/incidents", headers=api.user("admin")).json() == []  # taken: no incident either
    for case_id in (first["id"], second["id"], sender["id"]):
        api.assert_replays(case_id)


def test_a_lost_message_nobody_waits_for_becomes_the_senders_incident_once(
        lab: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api = lab
    admin = api.user("admin")
    sender = _crashed_after_commit(api, monkeypatch, "LAB-3")
    assert _sweep(api) == 1
    assert _sweep(api) == 0  # held: the incident has it now, the job does not look again
    incidents = api.client.get("/api/incidents", headers=admin).json()
    assert [(i["case_id"], i["reason"], i["count"]) for i in incidents] == [(sender["id"], "message_waiting", 1)]
    assert _kept(api) == [("held", None)]
    clerk = next(e["actor"] for e in api.events(sender["id"]) if e["kind"] == "message_sent")
    held = [e for e in api.events(sender["id"]) if e["kind"] == "message_undeliverable"]
    assert [e["actor"] for e in held] == ["system"]  # the job held it; the message is still the clerk's step's
    assert clerk != "system" and incidents[0]["message"].startswith("the message 'lab_result' was sent")
    waiting = _registered(api, "lab_request", "LAB-3")
    assert api.client.post(f"/api/incidents/{incidents[0]['id']}/retry", headers=admin).status_code == 200
    assert api.client.post(f"/api/incidents/{incidents[0]['id']}/retry", headers=admin).status_code == 409
    assert _kept(api) == [("delivered", waiting["id"])]
    assert len(_received(api, waiting["id"])) == 1
    api.assert_replays(waiting["id"])
    api.assert_replays(sender["id"])


@pytest.mark.postgres
def test_two_deliveries_of_one_message_at_the_same_moment_deliver_it_once_on_postgres(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The step's own delivery and the job's round, both past reading who waits (two cases do) before either
    # writes: one case gets the message, the other nothing, and neither delivery opens an incident.
    settings = make_settings(postgres_url, tmp_path)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        lab(api)
        first = _registered(api, "lab_request", "LAB-4")
        second = _registered(api, "lab_request", "LAB-4")
        sender = _crashed_after_commit(api, monkeypatch, "LAB-4")
        with Session(engine_for(settings.database_url)) as session:
            kept = session.exec(select(CaseMessage)).one()
            thrown = runner.Thrown(kept.message, dict(kept.payload), kept.correlation)
        both_read = threading.Barrier(2, timeout=30)
        real = correlated.waits_for

        def read_then_wait(*args: Any) -> Any:
            found = real(*args)
            both_read.wait()
            return found

        monkeypatch.setattr(correlated, "waits_for", read_then_wait)
        def deliver() -> Any:
            with session_for(settings.database_url) as session:
                case = session.get(Case, sender["id"])
                assert case is not None
                session.expunge(case)
                return workflows.deliver_sent(session, case, kept.key, thrown, actor="system", sent_by="clerk",
                                              settings=settings)

        results = at_once(deliver)
        monkeypatch.undo()
        assert sorted(((r.receiver.id if r.receiver else 0), r.taken) for r in results) == [
            (0, True), (first["id"], False)], results
        assert len(_received(api, first["id"])) == 1 and _received(api, second["id"]) == []
        assert _kept(api) == [("delivered", first["id"])]
        assert api.client.get("/api/incidents", headers=api.user("admin")).json() == []
        for case_id in (first["id"], second["id"], sender["id"]):
            api.assert_replays(case_id)


def test_a_message_whose_delivery_fails_does_not_hold_the_ones_after_it(
        lab: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api = lab
    first, second = _registered(api, "lab_request", "LAB-7"), _registered(api, "lab_request", "LAB-8")
    _crashed_after_commit(api, monkeypatch, "LAB-7")
    _crashed_after_commit(api, monkeypatch, "LAB-8")
    real = workflows.deliver_sent
    calls: list[str] = []

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        if len(calls) == 1:
            raise RuntimeError("a receiver's hook broke")
        return real(*args, **kwargs)

    with monkeypatch.context() as broken:
        broken.setattr(workflows, "deliver_sent", fails_once)
        _sweep(api)
    assert _kept(api) == [("pending", None), ("delivered", second["id"])]
    _sweep(api)  # the next round delivers the one that failed
    assert _kept(api) == [("delivered", first["id"]), ("delivered", second["id"])]
    assert len(_received(api, first["id"])) == 1 and len(_received(api, second["id"])) == 1


def test_messages_whose_delivery_keeps_failing_do_not_hold_the_ones_after_them(
        lab: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """As many failing messages as a round takes at once (``case_message_batch``, one here) are passed over: the
    round goes on past them to the ones after, round after round."""
    api = lab
    api.settings = api.settings.model_copy(update={"case_message_batch": 1})
    _registered(api, "lab_request", "LAB-5")
    second = _registered(api, "lab_request", "LAB-6")
    _crashed_after_commit(api, monkeypatch, "LAB-5")
    _crashed_after_commit(api, monkeypatch, "LAB-6")
    real = workflows.deliver_sent
    first_key = _keys(api)[0]

    def first_always_fails(*args: Any, **kwargs: Any) -> Any:
        if args[2] == first_key:
            raise RuntimeError("a receiver's hook broke")
        return real(*args, **kwargs)

    with monkeypatch.context() as broken:
        broken.setattr(workflows, "deliver_sent", first_always_fails)
        _sweep(api)
        _sweep(api)
    assert _kept(api) == [("pending", None), ("delivered", second["id"])]


def _keys(api: Api) -> list[str]:
    with Session(engine_for(api.settings.database_url)) as session:
        return [m.key for m in session.exec(select(CaseMessage).order_by(CaseMessage.id))]

def test_two_messages_of_one_name_that_nobody_took_are_each_held_and_each_delivered(api: Api) -> None:
    """A sender that sends the same message twice, to two references nobody waits for yet: each message is held
    (by an incident of its own), and each reaches its case once that case waits; the second never takes the
    first one's place."""
    files = read_package(TEST_PROCESSES / "lab_result")
    bpmn = files["lab_result.bpmn"].decode()
    bpmn = bpmn.replace('<bpmn:sequenceFlow id="Flow_3" sourceRef="send_result" targetRef="done" />', (
        '<bpmn:sequenceFlow id="Flow_3" sourceRef="send_result" targetRef="register_again" />'
        '<bpmn:sequenceFlow id="Flow_4" sourceRef="register_again" targetRef="send_again" />'
        '<bpmn:sequenceFlow id="Flow_5" sourceRef="send_again" targetRef="done" />'))
    bpmn = bpmn.replace('<bpmn:endEvent id="done">\n      <bpmn:incoming>Flow_3</bpmn:incoming>', (
        '<bpmn:userTask id="register_again" name="Register again"><bpmn:extensionElements>'
        '<spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" '
        'value="lab_reference.json" /></spiffworkflow:properties></bpmn:extensionElements>'
        '<bpmn:incoming>Flow_3</bpmn:incoming><bpmn:outgoing>Flow_4</bpmn:outgoing></bpmn:userTask>'
        '<bpmn:intermediateThrowEvent id="send_again" name="Send the result again">'
        '<bpmn:incoming>Flow_4</bpmn:incoming><bpmn:outgoing>Flow_5</bpmn:outgoing>'
        '<bpmn:messageEventDefinition id="send_again_def" messageRef="lab_result_message"><bpmn:extensionElements>'
        '<spiffworkflow:messagePayload>{"reference": reference, "passed": False}</spiffworkflow:messagePayload>'
        '</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>'
        '<bpmn:endEvent id="done">\n      <bpmn:incoming>Flow_5</bpmn:incoming>'))
    files["lab_result.bpmn"] = bpmn.encode()
    analyst, admin, clerk = api.user("analyst"), api.user("admin"), api.user("front_desk")
    assert api.deploy(TEST_PROCESSES / "lab_request", analyst).status_code == 201
    r = api.client.post("/api/processes", files=[("files", (n, b)) for n, b in files.items()], headers=analyst)
    assert r.status_code == 201, r.text
    sender = _registered(api, "lab_result", "LAB-A")
    assert api.complete(sender["tasks"][0]["id"], {"reference": "LAB-B"}, clerk).status_code == 200
    assert _kept(api) == [("held", None), ("held", None)]
    first, second = _registered(api, "lab_request", "LAB-A"), _registered(api, "lab_request", "LAB-B")
    for incident in api.client.get("/api/incidents", headers=admin).json():
        assert api.client.post(f"/api/incidents/{incident['id']}/retry", headers=admin).status_code == 200
    assert sorted(_kept(api)) == sorted([("delivered", first["id"]), ("delivered", second["id"])])
    assert [e["data"]["payload"]["passed"] for e in _received(api, first["id"])] == [True]
    assert [e["data"]["payload"]["passed"] for e in _received(api, second["id"])] == [False]
