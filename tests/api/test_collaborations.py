"""Collaborations of several pools run as one case, with the messages between the pools delivered by the engine
and messages from outside sent through ``POST /api/cases/{id}/messages/{name}`` (engine/cases/inbound.py)."""

from __future__ import annotations

from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlmodel import Session

from engine.bpmn import runner
from engine.cases.workflows import workflow_cache
from engine.catalog import processes
from engine.catalog.packages import read_package
from harness.api import Api
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.cases import Case
from storage.models.incidents import Incident
from tests.services.paths import PROCESSES

REPORT = {"passed": True, "reference": "INS-2026-17"}


@pytest.fixture
def outside(api: Api) -> Api:
    """On SQLite and on PostgreSQL: an undeliverable message's incident is written in a transaction of its own."""
    return api.deployed("outside_message")


def _send(api: Api, case_id: int, name: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
    return api.client.post(f"/api/cases/{case_id}/messages/{name}", json={"payload": payload}, headers=headers)


def test_pools_are_one_case_and_their_lanes_are_the_pools_names(outside: Api) -> None:
    api = outside
    versions = api.client.get("/api/processes", headers=api.user("analyst")).json()
    assert [(v["service_code"], v["process_id"]) for v in versions] == [("outside_message", "outside_message")]
    clerk = api.user("front_desk")
    opened = api.open_case("outside_message", clerk)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert [(t["name"], t["lane"]) for t in case["tasks"]] == [("register", "front_desk")]
    case = api.complete(case["tasks"][0]["id"], {"plot": "12/7"}, clerk).json()
    # The office's message started the inspection pool in the same case, with the payload.
    assert [(t["name"], t["lane"]) for t in case["tasks"]] == [("visit", "inspector")]
    delivered = [e for e in api.events(case["id"]) if e["kind"] == "message_delivered"]
    assert [(e["task"], e["data"]) for e in delivered] == [("inspection_asked", {"message": "inspection_asked"})]
    inspector = api.user("inspector")
    case = api.complete(case["tasks"][0]["id"], {}, inspector).json()
    assert case["tasks"] == [] and case["status"] == "open"  # the office waits for the outside report
    api.assert_replays(case["id"])


def test_a_message_from_outside_is_checked_delivered_audited_and_replayed(outside: Api) -> None:
    api = outside
    clerk, company = api.user("front_desk"), api.user("inspection_company")
    case = api.open_case("outside_message", clerk).json()
    case_id = case["id"]
    # Not a message of this diagram: a wrong address, nothing kept.
    r = _send(api, case_id, "no_such_message", {}, company)
    assert r.status_code == 404, r.text
    # Only the senders the element names (or an admin) may send it; a lane of the service is not enough.
    assert _send(api, case_id, "inspection_report", REPORT, clerk).status_code == 403
    assert _send(api, case_id, "inspection_report", REPORT, api.user("cashier")).status_code == 403
    # payment_received is delivered by paying a bill, never sent.
    assert _send(api, case_id, "payment_received", {}, api.user("admin")).status_code in (404, 409)
    # A payload the element's form refuses is refused before anything is kept, waiting or not: no incident
    # holds it for a later retry to deliver.
    assert _send(api, case_id, "inspection_report", {"passed": "yes"}, company).status_code == 422
    assert api.client.get("/api/incidents", headers=api.user("admin")).json() == []
    # The diagram knows the message but the case does not wait for it yet: a 409 and an incident holding it.
    early = _send(api, case_id, "inspection_report", REPORT, company)
    assert early.status_code == 409, early.text
    incidents = api.client.get("/api/incidents", headers=api.user("admin")).json()
    assert [(i["case_id"], i["element_id"], i["reason"]) for i in incidents] == [
        (case_id, "report_received", "message_waiting")]
    assert str(incidents[0]["id"]) in early.json()["detail"]
    case = api.complete(case["tasks"][0]["id"], {"plot": "12/7"}, clerk).json()
    # The payload must fit the element's form.
    bad = _send(api, case_id, "inspection_report", {"passed": "yes"}, company)
    assert bad.status_code == 422, bad.text
    r = _send(api, case_id, "inspection_report", REPORT, company)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["data"]["report"] == REPORT
    assert sorted(t["name"] for t in case["tasks"]) == ["decide", "visit"]
    received = [e for e in api.events(case_id) if e["kind"] == "message_received"]
    assert [(e["task"], e["data"]["message"], e["data"]["payload"]) for e in received] == [
        ("report_received", "inspection_report", REPORT)]
    # Delivered once: sending it again is undeliverable (another incident count), never a second delivery.
    assert _send(api, case_id, "inspection_report", REPORT, company).status_code == 409
    kinds = [e["kind"] for e in api.events(case_id)]
    assert kinds.count("message_undeliverable") == 2 and kinds.count("message_received") == 1
    api.assert_replays(case_id)


def test_an_undeliverable_messages_incident_delivers_it_when_retried(outside: Api) -> None:
    api = outside
    clerk, admin = api.user("front_desk"), api.user("admin")
    case = api.open_case("outside_message", clerk).json()
    assert _send(api, case["id"], "inspection_report", REPORT, admin).status_code == 409
    incident = api.client.get("/api/incidents", headers=admin).json()[0]
    retried = api.client.post(f"/api/incidents/{incident['id']}/retry", headers=admin)
    assert retried.status_code == 409  # still nothing waits for it
    api.complete(case["tasks"][0]["id"], {"plot": "12/7"}, clerk)
    retried = api.client.post(f"/api/incidents/{incident['id']}/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["report"] == REPORT
    assert api.client.get("/api/incidents", headers=admin).json() == []
    api.assert_replays(case["id"])


def test_the_three_pool_service_passes_messages_between_its_pools(sqlite_api: Api) -> None:
    # Its whole walk, with replay, is tests/services (test_walks, test_replay_paths): here, what the pools add.
    api = sqlite_api
    assert api.deploy(PROCESSES / "civil_record_correction", api.user("analyst")).status_code == 201
    clerk = api.user("front_desk")
    case = api.open_case("civil_record_correction", clerk).json()
    # The citizen's pool starts the case; its request reached the center's pool in the same step.
    assert [(t["name"], t["lane"]) for t in case["tasks"]] == [("register_request", "front_desk")]
    assert case["data"]["request"] == {"citizen": case["data"]["citizen"]}
    r = api.complete(case["tasks"][0]["id"], {"field": "full_name", "correct_value": "x"}, clerk)
    assert r.status_code == 422  # the required paper first: intake follows the message into the center's pool
    # The citizen's pool waits for the center's decision, which only the center's pool sends.
    r = api.client.post(f"/api/cases/{case['id']}/messages/decision_sent", json={"payload": {}},
                        headers=api.user("admin"))
    assert r.status_code == 403, r.text
    messages = [(e["kind"], e["task"]) for e in api.events(case["id"]) if e["kind"].startswith("message")]
    assert messages == [("message_delivered", "request_received")]
    api.assert_replays(case["id"])


def test_a_file_of_several_executable_processes_without_one_collaboration_is_still_refused(sqlite_api: Api) -> None:
    api = sqlite_api
    bpmn = (TEST_PROCESSES / "outside_message" / "outside_message.bpmn").read_bytes()
    bpmn = bpmn.replace(b'<bpmn:participant id="Participant_inspection" name="inspector" processRef="inspection" />',
                        b"").replace(b'<bpmn:messageFlow id="Flow_ask" sourceRef="ask_inspector" '
                                     b'targetRef="inspection_asked" />', b"")
    r = api.client.post("/api/processes", files=[("files", ("two.bpmn", bpmn))], headers=api.user("analyst"))
    assert r.status_code == 422, r.text
    assert "executable" in r.json()["detail"][0]["message"]


def test_a_malformed_message_is_refused_before_anything(outside: Api) -> None:
    api = outside
    case = api.open_case("outside_message", api.user("front_desk")).json()
    admin = api.user("admin")
    assert api.client.post(f"/api/cases/{case['id']}/messages/inspection_report", json={"payload": [1]},
                           headers=admin).status_code == 422
    assert api.client.post(f"/api/cases/{case['id']}/messages/{'m' * 256}", json={"payload": {}},
                           headers=admin).status_code == 422
    assert api.client.post(f"/api/cases/{case['id']}/messages/inspection_report", json={"payload": {}, "x": 1},
                           headers=admin).status_code == 422
    assert api.client.post("/api/cases/999999/messages/inspection_report", json={"payload": {}},
                           headers=admin).status_code == 404
    assert api.client.get("/api/incidents", headers=admin).json() == []


def test_a_message_thrown_while_nothing_waits_for_it_is_on_the_history(sqlite_api: Api) -> None:
    # The inspection pool now starts on another message: the office's request reaches nobody.
    api = sqlite_api
    files = read_package(TEST_PROCESSES / "outside_message")
    files["outside_message.bpmn"] = files["outside_message.bpmn"].replace(
        b'<bpmn:messageEventDefinition id="asked_def" messageRef="inspection_asked_message">',
        b'<bpmn:messageEventDefinition id="asked_def" messageRef="inspection_report_message">')
    r = api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()],
                        headers=api.user("analyst"))
    assert r.status_code == 201, r.text
    clerk = api.user("front_desk")
    case = api.open_case("outside_message", clerk).json()
    case = api.complete(case["tasks"][0]["id"], {"plot": "9/9"}, clerk).json()
    messages = [(e["kind"], e["task"], e["data"]) for e in api.events(case["id"]) if e["kind"].startswith("message")]
    assert messages == [("message_lost", None, {"message": "inspection_asked"})]
    incidents = api.client.get("/api/incidents", headers=api.user("admin")).json()
    assert [(i["case_id"], i["element_id"], i["reason"]) for i in incidents] == [
        (case["id"], "inspection_asked", "message_waiting")]  # and someone is told
    api.assert_replays(case["id"])


def test_a_collaborations_case_moves_to_a_new_version(sqlite_api: Api) -> None:
    # The move restores the case from its stored state: the task of the pool a message started must be in the
    # stored tree (engine/bpmn/serializer.py), or that task stays READY when the pool ends and the replay, which
    # runs it, disagrees with the stored state.
    api = sqlite_api
    analyst, clerk = api.user("analyst"), api.user("front_desk")
    files = read_package(TEST_PROCESSES / "outside_message")
    assert api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()],
                           headers=analyst).status_code == 201
    case = api.open_case("outside_message", clerk).json()
    case = api.complete(case["tasks"][0]["id"], {"plot": "4/4"}, clerk).json()  # both pools running
    files["outside_message.bpmn"] = files["outside_message.bpmn"].replace(b'name="Decide"', b'name="Decide now"')
    assert api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()],
                           headers=analyst).status_code == 201
    r = api.client.post("/api/services/outside_message/migrations", json={"to_version": 2, "dry_run": False},
                        headers=analyst)
    assert r.status_code == 200, r.text
    assert r.json()["moved"] == 1, r.text
    case = api.complete(case["tasks"][0]["id"], {}, api.user("inspector")).json()
    r = _send(api, case["id"], "inspection_report", REPORT, api.user("inspection_company"))
    assert r.status_code == 200, r.text
    assert [(t["name"], t["title"]) for t in r.json()["tasks"]] == [("decide", "Decide now")]
    case = api.complete(r.json()["tasks"][0]["id"], {}, clerk).json()
    assert (case["status"], case["process_version"]) == ("completed", 2)
    kinds = [e["kind"] for e in api.events(case["id"])]
    assert kinds.count("message_delivered") == 1  # the move does not deliver the pool's message again
    api.assert_replays(case["id"])


def test_the_analysts_validation_names_problems_in_every_pool(sqlite_api: Api) -> None:
    # The modeler marks each problem's element_id on the drawing (admin_ui/static/modeler.js), whatever its pool:
    # the validation must name elements of the pools that do not start the case too.
    api = sqlite_api
    files = read_package(PROCESSES / "civil_record_correction")
    bpmn = files["civil_record_correction.bpmn"]
    bpmn = bpmn.replace(b'value="verify_record.json"', b'value="no_such_form.json"')  # the civil registry's pool
    bpmn = bpmn.replace(b'value="hand_over.json"', b'value="missing_too.json"')  # the center's pool
    files["civil_record_correction.bpmn"] = bpmn
    encoded = {name: content.decode("utf-8") for name, content in files.items()}
    r = api.client.post("/api/services/civil_record_correction/draft/validate", json={"files": encoded},
                        headers=api.user("analyst"))
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is False
    assert {p["element_id"] for p in r.json()["problems"]} >= {"verify_record", "hand_over"}


@pytest.mark.parametrize("extra", [{"decision": "approved"}, {"citizen": {"name": "someone else"}}])
def test_a_field_the_messages_form_does_not_declare_is_refused_by_name(sqlite_api: Api,
                                                                       extra: dict[str, Any]) -> None:
    # The form says nothing of other properties: what the sender may write is still only what it declares, as
    # for a task's form (forms/ownership.py), so a message cannot slip a decision or the citizen into the case.
    api = sqlite_api
    files = read_package(TEST_PROCESSES / "outside_message")
    files["report.json"] = files["report.json"].replace(b',\n  "additionalProperties": false', b"")
    assert b"additionalProperties" not in files["report.json"]
    r = api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()],
                        headers=api.user("analyst"))
    assert r.status_code == 201, r.text
    clerk, company = api.user("front_desk"), api.user("inspection_company")
    case = api.past_first_step("outside_message", {"plot": "3/3"}, clerk)
    r = _send(api, case["id"], "inspection_report", {**REPORT, **extra}, company)
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["body", "payload", *extra]], r.text
    assert api.client.get("/api/incidents", headers=api.user("admin")).json() == []
    assert "report" not in api.read_case(case["id"])["data"]
    assert _send(api, case["id"], "inspection_report", REPORT, company).status_code == 200
    api.assert_replays(case["id"])


def test_a_case_restored_after_a_message_started_a_pool_ends_that_pool_and_replays(outside: Api) -> None:
    # Kept warm while the office's message starts the inspection's pool, then restored from its stored state
    # (another API process, a full cache): the pool must still be in the stored tree, so that its task in the
    # collaboration runs when the pool ends (engine/bpmn/serializer.py).
    api = outside
    clerk = api.user("front_desk")
    case = api.open_case("outside_message", clerk).json()
    case = api.complete(case["tasks"][0]["id"], {"plot": "5/5"}, clerk).json()  # warm: starts the pool
    workflow_cache(api.settings).clear()  # what the next step finds is the stored state only
    case = api.complete(case["tasks"][0]["id"], {}, api.user("inspector")).json()  # the pool ends
    with Session(engine_for(api.settings.database_url)) as session:
        stored = session.get(Case, case["id"])
        assert stored is not None
        process = processes.cache.get(session, stored.process_version_id, api.settings)
        workflow = runner.load(process, stored.state)
    assert [t.state for t in runner.all_tasks(workflow) if t.task_spec.name == "inspection"] == [TaskState.COMPLETED]
    r = _send(api, case["id"], "inspection_report", REPORT, api.user("inspection_company"))
    assert r.status_code == 200, r.text
    api.complete(r.json()["tasks"][0]["id"], {}, clerk)
    api.assert_replays(case["id"])


def test_a_lost_messages_incident_delivers_it_once_a_corrected_version_waits_for_it(sqlite_api: Api) -> None:
    # The inspection's pool started on the wrong message, so the office's request was lost: an incident holds it.
    # The analyst corrects the diagram, the case moves, and retrying the incident starts the pool with it.
    api = sqlite_api
    analyst, clerk, admin = api.user("analyst"), api.user("front_desk"), api.user("admin")
    good = read_package(TEST_PROCESSES / "outside_message")
    wrong = dict(good)
    wrong["outside_message.bpmn"] = good["outside_message.bpmn"].replace(
        b'<bpmn:messageEventDefinition id="asked_def" messageRef="inspection_asked_message">',
        b'<bpmn:messageEventDefinition id="asked_def" messageRef="inspection_report_message">')
    for files in (wrong, good):
        r = api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()], headers=analyst)
        assert r.status_code == 201, r.text
        if files is wrong:
            case = api.past_first_step("outside_message", {"plot": "7/7"}, clerk)
            [incident] = api.client.get("/api/incidents", headers=admin).json()
            assert api.client.post(f"/api/incidents/{incident['id']}/retry", headers=admin).status_code == 409
    r = api.client.post("/api/services/outside_message/migrations", json={"to_version": 2, "dry_run": False},
                        headers=analyst)
    assert r.status_code == 200 and r.json()["moved"] == 1, r.text
    r = api.client.post(f"/api/incidents/{incident['id']}/retry", headers=admin)
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()["tasks"]] == ["visit"]
    assert api.client.post(f"/api/incidents/{incident['id']}/retry", headers=admin).status_code == 409  # once
    received = [(e["task"], e["data"]["message"]) for e in api.events(case["id"]) if e["kind"] == "message_received"]
    assert received == [("inspection_asked", "inspection_asked")]
    api.assert_replays(case["id"])


def test_two_messages_of_one_name_thrown_to_nobody_are_each_held(sqlite_api: Api) -> None:
    # A step throws the same message twice (two plots) while no element of the case waits for it: each is held by
    # an incident of its own, the first never replaced by the second.
    api = sqlite_api
    analyst, clerk, admin = api.user("analyst"), api.user("front_desk"), api.user("admin")
    files = read_package(TEST_PROCESSES / "outside_message")
    bpmn = files["outside_message.bpmn"].replace(
        b'<bpmn:messageEventDefinition id="asked_def" messageRef="inspection_asked_message">',
        b'<bpmn:messageEventDefinition id="asked_def" messageRef="inspection_report_message">')
    bpmn = bpmn.replace(b'<bpmn:sequenceFlow id="Flow_3" sourceRef="ask_inspector" targetRef="report_received" />', (
        b'<bpmn:sequenceFlow id="Flow_3" sourceRef="ask_inspector" targetRef="ask_again" />'
        b'<bpmn:sequenceFlow id="Flow_3b" sourceRef="ask_again" targetRef="report_received" />'))
    bpmn = bpmn.replace(b'<bpmn:intermediateThrowEvent id="ask_inspector" name="Ask the inspector">', (
        b'<bpmn:intermediateThrowEvent id="ask_again" name="Ask about the next plot">'
        b'<bpmn:incoming>Flow_3</bpmn:incoming><bpmn:outgoing>Flow_3b</bpmn:outgoing>'
        b'<bpmn:messageEventDefinition id="ask_again_def" messageRef="inspection_asked_message">'
        b'<bpmn:extensionElements><spiffworkflow:messagePayload>{"plot": plot + "-next"}'
        b'</spiffworkflow:messagePayload></bpmn:extensionElements></bpmn:messageEventDefinition>'
        b'</bpmn:intermediateThrowEvent>'
        b'<bpmn:intermediateThrowEvent id="ask_inspector" name="Ask the inspector">'))
    bpmn = bpmn.replace(b'<bpmn:incoming>Flow_3</bpmn:incoming>\n      <bpmn:outgoing>Flow_4</bpmn:outgoing>',
                        b'<bpmn:incoming>Flow_3b</bpmn:incoming>\n      <bpmn:outgoing>Flow_4</bpmn:outgoing>')
    files["outside_message.bpmn"] = bpmn
    r = api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()], headers=analyst)
    assert r.status_code == 201, r.text
    case = api.past_first_step("outside_message", {"plot": "7/7"}, clerk)
    incidents = api.client.get("/api/incidents", headers=admin).json()
    assert [i["case_id"] for i in incidents] == [case["id"], case["id"]]
    with Session(engine_for(api.settings.database_url)) as session:
        held = sorted(str(session.get(Incident, i["id"]).payload["payload"]["plot"]) for i in incidents)
    assert held == ["7/7", "7/7-next"]
