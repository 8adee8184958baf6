"""Messages between cases (engine/cases/correlated.py): a message one case throws, with correlation properties,
goes to the case of another service that waits for it with the same key; delivered after the sender's step
commits, audited on both cases; a message no case waits for is an incident on the sender's case."""

from __future__ import annotations

from typing import Any

import pytest

from harness.api import Api
from harness.settings import TEST_PROCESSES


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
    assert [(e["kind"], e["data"]) for e in sent] == [("message_sent", {
        "message": "lab_result", "correlation": {"lab_key": {"lab_reference": "LAB-1"}},
        "payload": {"reference": "LAB-1", "passed": True}})]
    got = [e for e in api.events(waiting["id"]) if e["kind"].startswith("message")]
    assert [(e["kind"], e["task"], e["data"]["from_case"]) for e in got] == [
        ("message_received", "result_received", sender["tracking_number"])]
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
