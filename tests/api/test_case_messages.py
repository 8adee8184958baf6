"""Messages between cases (engine/cases/correlated.py): a message one case throws, with correlation properties,
goes to the case of another service that waits for it with the same key; delivered after the sender's step
commits, audited on both cases; a message no case waits for is an incident on the sender's case."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from engine.catalog.packages import read_package
from engine.operations import periodic
from harness.api import Api
from harness.pages import center_tree
from harness.settings import TEST_PROCESSES
from storage.db import engine_for


@pytest.fixture
def lab(api: Api) -> Api:
    """On SQLite and on PostgreSQL: the two services, the one that waits and the one that sends."""
    for service in ("lab_request", "lab_result"):
        r = api.deploy(TEST_PROCESSES / service, api.user("analyst"))
        assert r.status_code == 201, r.text
    return api


def _registered(api: Api, service: str, reference: str) -> dict[str, Any]:
    clerk = api.user("front_desk")
    case = api.open_case(service, clerk).json()
    r = api.complete(case["tasks"][0]["id"], {"reference": reference}, clerk)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_message_goes_to_the_case_with_the_same_key_and_is_on_both_histories(lab: Api) -> None:
    api = lab
    waiting = _registered(api, "lab_request", "LAB-1")
    other = _registered(api, "lab_request", "LAB-2")
    assert waiting["tasks"] == [] and waiting["status"] == "open"
    sender = _registered(api, "lab_result", "LAB-1")
    assert sender["status"] == "completed"
    received = api.read_case(waiting["id"])
    assert received["data"]["lab"] == {"reference": "LAB-1", "passed": True}
    assert [t["name"] for t in received["tasks"]] == ["decide"]
    assert api.read_case(other["id"])["tasks"] == []  # another key: not its message
    sent = [e for e in api.events(sender["id"]) if e["kind"].startswith("message")]
    key = sent[0]["data"]["key"]
    assert [(e["kind"], e["data"]) for e in sent] == [("message_sent", {
        "message": "lab_result", "correlation": {"lab_key": {"lab_reference": "LAB-1"}},
        "payload": {"reference": "LAB-1", "passed": True}, "key": key})]
    got = [e for e in api.events(waiting["id"]) if e["kind"].startswith("message")]
    assert [(e["kind"], e["task"], e["data"]["from_case"], e["data"]["key"]) for e in got] == [
        ("message_received", "result_received", sender["tracking_number"], key)]
    assert [e["kind"] for e in api.events(other["id"]) if e["kind"].startswith("message")] == []
    # Delivered once: the same reference again finds no case waiting, an incident on that sender.
    again = _registered(api, "lab_result", "LAB-1")
    incidents = api.client.get("/api/incidents", headers=api.user("admin")).json()
    assert [(i["case_id"], i["reason"]) for i in incidents] == [(again["id"], "message_waiting")]
    for case in (waiting, sender, again):
        api.assert_replays(case["id"])
    api.complete(received["tasks"][0]["id"], {}, api.user("front_desk"))
    api.assert_replays(waiting["id"])


def test_a_message_no_case_waits_for_is_an_incident_on_the_sender_delivered_when_retried(lab: Api) -> None:
    api = lab
    admin = api.user("admin")
    sender = _registered(api, "lab_result", "LAB-9")
    assert sender["status"] == "completed"  # the sender's step stands: the message is held by the incident
    incidents = api.client.get("/api/incidents", headers=admin).json()
    assert [(i["case_id"], i["element_id"], i["reason"]) for i in incidents] == [
        (sender["id"], "lab_result", "message_waiting")]
    kinds = [e["kind"] for e in api.events(sender["id"])]
    assert "message_sent" in kinds and "message_undeliverable" in kinds
    retried = api.client.post(f"/api/incidents/{incidents[0]['id']}/retry", headers=admin)
    assert retried.status_code == 409, retried.text  # still nobody waits: nothing recorded
    waiting = _registered(api, "lab_request", "LAB-9")
    retried = api.client.post(f"/api/incidents/{incidents[0]['id']}/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    assert api.client.get("/api/incidents", headers=admin).json() == []
    received = api.read_case(waiting["id"])
    assert received["data"]["lab"] == {"reference": "LAB-9", "passed": True}
    passed = [e for e in api.events(sender["id"]) if e["kind"] == "message_passed"]
    assert [e["data"]["to_case"] for e in passed] == [waiting["tracking_number"]]
    api.assert_replays(sender["id"])
    api.assert_replays(waiting["id"])


def _deploy_variant(api: Api, service: str, replace: dict[bytes, bytes]) -> None:
    """Deploy a copy of the test service ``service`` with some bytes of its files replaced."""
    files = read_package(TEST_PROCESSES / service)
    for name in files:
        for old, new in replace.items():
            files[name] = files[name].replace(old, new)
    r = api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()],
                        headers=api.user("analyst"))
    assert r.status_code == 201, r.text


def _incidents(api: Api) -> list[dict[str, Any]]:
    return list(api.client.get("/api/incidents", headers=api.user("admin")).json())


def _refused_on_the_sender(api: Api, waiting: dict[str, Any], sender: dict[str, Any], why: str) -> None:
    """The waiting case took nothing; the sender's step stands and its incident says why the message was refused."""
    assert sender["status"] == "completed"
    assert api.read_case(waiting["id"])["tasks"] == []
    assert "lab" not in api.read_case(waiting["id"])["data"]
    assert [e["kind"] for e in api.events(waiting["id"]) if e["kind"].startswith("message")] == []
    incidents = _incidents(api)
    assert [(i["case_id"], i["reason"]) for i in incidents] == [(sender["id"], "message_waiting")]
    assert why in incidents[0]["message"], incidents[0]["message"]
    held = [e for e in api.events(sender["id"]) if e["kind"] == "message_undeliverable"]
    assert [why in " ".join(e["data"]["refused"]) for e in held] == [True]
    retried = api.client.post(f"/api/incidents/{incidents[0]['id']}/retry", headers=api.user("admin"))
    assert retried.status_code == 409 and why in retried.json()["detail"], retried.text  # refused again
    assert api.read_case(waiting["id"])["tasks"] == []
    api.assert_replays(waiting["id"])
    api.assert_replays(sender["id"])


def test_a_service_the_waiting_element_does_not_name_cannot_send_it(lab: Api) -> None:
    # Another service throws the same message with the same key: the waiting element takes it from lab_result only.
    api = lab
    _deploy_variant(api, "lab_result", {b'code = "lab_result"': b'code = "lab_forger"'})
    waiting = _registered(api, "lab_request", "LAB-3")
    forged = _registered(api, "lab_forger", "LAB-3")
    _refused_on_the_sender(api, waiting, forged, "takes it only from lab_result, not from lab_forger")


@pytest.mark.parametrize("payload, field", [
    (b'{"reference": reference, "passed": True, "approved_by": "the lab"}', "approved_by"),  # a field too many
    (b'{"reference": reference, "passed": True, "citizen": {"name": "x"}}', "citizen"),  # the citizen's details
    (b'{"reference": reference, "passed": "yes"}', "passed"),  # a field of the form with a wrong value
])
def test_a_payload_the_waiting_form_does_not_declare_is_refused_by_name(sqlite_api: Api, payload: bytes,
                                                                          field: str) -> None:
    api = sqlite_api.deployed("lab_request")
    _deploy_variant(api, "lab_result", {b'{"reference": reference, "passed": True}': payload})
    waiting = _registered(api, "lab_request", "LAB-4")
    sender = _registered(api, "lab_result", "LAB-4")
    _refused_on_the_sender(api, waiting, sender, f"refuses its payload ({field})")


def test_a_message_never_reaches_another_centers_case(lab: Api) -> None:
    api = lab
    with Session(engine_for(api.settings.database_url)) as session:
        ids = center_tree(session)
    here, there = api.user("front_desk", center_id=ids["CITY-A"]), api.user("front_desk", center_id=ids["CITY-B"])
    elsewhere = api.past_first_step("lab_request", {"reference": "LAB-5"}, there)
    sender = api.past_first_step("lab_result", {"reference": "LAB-5"}, here)
    assert api.read_case(elsewhere["id"])["tasks"] == []  # CITY-B's case waits on: nothing crossed
    assert [(i["case_id"], i["reason"]) for i in _incidents(api)] == [(sender["id"], "message_waiting")]
    waiting = api.past_first_step("lab_request", {"reference": "LAB-5"}, here)
    incident = _incidents(api)[0]
    assert api.client.post(f"/api/incidents/{incident['id']}/retry", headers=api.user("admin")).status_code == 200
    assert [t["name"] for t in api.read_case(waiting["id"])["tasks"]] == ["decide"]  # its own center's case
    assert api.read_case(elsewhere["id"])["tasks"] == []
    for case in (elsewhere, sender, waiting):
        api.assert_replays(case["id"])


def test_nobody_sends_a_message_between_cases_from_outside(lab: Api) -> None:
    # The clerk holds the waiting element's lane, the admin every role: neither forges the lab's answer.
    api = lab
    waiting = _registered(api, "lab_request", "LAB-6")
    for who in (api.user("front_desk"), api.user("admin")):
        r = api.client.post(f"/api/cases/{waiting['id']}/messages/lab_result",
                            json={"payload": {"reference": "LAB-6", "passed": True}}, headers=who)
        assert r.status_code == 403 and "another service's case" in r.json()["detail"], r.text
    assert api.read_case(waiting["id"])["tasks"] == []
    assert _incidents(api) == []


def test_payment_received_never_passes_between_cases(sqlite_api: Api) -> None:
    # A service throws payment_received with the key of a case that waits for it: only paying the bill delivers it.
    api = sqlite_api
    _deploy_variant(api, "lab_request", {b'name="lab_result"': b'name="payment_received"'})
    _deploy_variant(api, "lab_result", {b'name="lab_result"': b'name="payment_received"'})
    waiting = _registered(api, "lab_request", "LAB-7")
    sender = _registered(api, "lab_result", "LAB-7")
    assert sender["status"] == "completed"
    assert api.read_case(waiting["id"])["tasks"] == []
    assert [e["kind"] for e in api.events(waiting["id"]) if e["kind"] == "message_received"] == []
    incidents = _incidents(api)
    assert [(i["case_id"], i["reason"]) for i in incidents] == [(sender["id"], "message_waiting")]
    assert "comes only from paying the case's bill" in incidents[0]["message"]
    assert api.client.post(f"/api/incidents/{incidents[0]['id']}/retry",
                           headers=api.user("admin")).status_code == 409
    assert api.read_case(waiting["id"])["tasks"] == []


def _uncorrelated(files: dict[str, bytes]) -> dict[str, bytes]:
    """lab_result with its message's correlation taken away: a message for nobody outside the case."""
    bpmn = files["lab_result.bpmn"].decode()
    start, end = bpmn.index("    <bpmn:correlationKey"), bpmn.index("  </bpmn:collaboration>")
    bpmn = bpmn[:start] + bpmn[end:]
    start = bpmn.index("  <bpmn:correlationProperty ")
    end = bpmn.index("</bpmn:correlationProperty>") + len("</bpmn:correlationProperty>\n")
    return {**files, "lab_result.bpmn": (bpmn[:start] + bpmn[end:]).encode()}


def test_a_message_thrown_in_a_single_process_while_nothing_waits_is_an_incident(api: Api) -> None:
    # One process, no pool of its own and no other case to catch it: never dropped in silence.
    files = _uncorrelated(read_package(TEST_PROCESSES / "lab_result"))
    assert b"correlation" not in files["lab_result.bpmn"]
    r = api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()],
                        headers=api.user("analyst"))
    assert r.status_code == 201, r.text
    sender = _registered(api, "lab_result", "LAB-8")
    assert sender["status"] == "completed"  # the step stands; the message is held by the incident
    lost = [(e["kind"], e["data"]) for e in api.events(sender["id"]) if e["kind"].startswith("message")]
    assert lost == [("message_lost", {"message": "lab_result"})]
    incidents = _incidents(api)
    assert [(i["case_id"], i["element_id"], i["reason"], i["status"]) for i in incidents] == [
        (sender["id"], "lab_result", "message_waiting", "open")]
    assert "no element waited for it" in incidents[0]["message"]
    retried = api.client.post(f"/api/incidents/{incidents[0]['id']}/retry", headers=api.user("admin"))
    assert retried.status_code == 409, retried.text  # the case ended: nothing will ever wait for it
    periodic.job("timers").run(api.settings)  # its sweep closes the incidents of ended cases, but not this one
    assert [i["status"] for i in _incidents(api)] == ["open"]  # kept for someone to look at
    api.assert_replays(sender["id"])


def test_a_message_between_cases_the_diagram_lets_named_senders_send_from_outside(sqlite_api: Api) -> None:
    # message_senders opens the element to those roles only (the lab's own system, when the lab has no service
    # here): delivered to the case addressed, as if it came with that case's key.
    api = sqlite_api
    _deploy_variant(api, "lab_request", {b'<spiffworkflow:property name="message_from" value="lab_result" />':
                                         b'<spiffworkflow:property name="message_senders" value="lab_system" />'})
    waiting = _registered(api, "lab_request", "LAB-10")
    url = f"/api/cases/{waiting['id']}/messages/lab_result"
    answer = {"payload": {"reference": "LAB-10", "passed": True}}
    assert api.client.post(url, json=answer, headers=api.user("front_desk")).status_code == 403
    r = api.client.post(url, json=answer, headers=api.user("lab_system"))
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()["tasks"]] == ["decide"]
    assert api.read_case(waiting["id"])["data"]["lab"] == {"reference": "LAB-10", "passed": True}
    assert _incidents(api) == []
    api.assert_replays(waiting["id"])
    # Sent before the case waits: held by an incident, delivered by its retry once the case waits.
    clerk, lab_system = api.user("front_desk"), api.user("lab_system")
    early = api.open_case("lab_request", clerk).json()
    r = api.client.post(f"/api/cases/{early['id']}/messages/lab_result",
                        json={"payload": {"reference": "LAB-11", "passed": False}}, headers=lab_system)
    assert r.status_code == 409, r.text
    assert api.complete(early["tasks"][0]["id"], {"reference": "LAB-11"}, clerk).status_code == 200
    [incident] = _incidents(api)
    assert api.client.post(f"/api/incidents/{incident['id']}/retry", headers=api.user("admin")).status_code == 200
    assert api.read_case(early["id"])["data"]["lab"] == {"reference": "LAB-11", "passed": False}
    api.assert_replays(early["id"])


def test_a_key_longer_than_a_wait_holds_fails_no_step(api: Api) -> None:
    # A reference of 600 characters: the waiting case cannot be found by it (its wait is not kept) and the sender's
    # message goes to its incident; neither case's step fails for it, on PostgreSQL either.
    longer = {b'"maxLength": 40': b'"maxLength": 2000'}
    _deploy_variant(api, "lab_request", longer)
    _deploy_variant(api, "lab_result", longer)
    reference = "R" * 600
    waiting = _registered(api, "lab_request", reference)
    assert waiting["status"] == "open" and waiting["tasks"] == []
    sender = _registered(api, "lab_result", reference)
    assert sender["status"] == "completed"
    assert [(i["case_id"], i["reason"]) for i in _incidents(api)] == [(sender["id"], "message_waiting")]
    api.assert_replays(waiting["id"])
    api.assert_replays(sender["id"])
