"""The citizen's journey through the API, end to end: a ticket at the kiosk, the counter calls it, the clerk
opens the case from it, the departments work it, a message goes out at each stage (the log gateway, the
embedded default), and the citizen rates the service from the link in the last message."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engine.messages import send
from harness.api import CITIZEN, Api
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, find_path, take

RATING_LINK = re.compile(r"(\S*/rate/[0-9-]+\?t=[A-Za-z0-9_-]+)")


def _messages(api: Api, case_id: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/cases/{case_id}/messages", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_ticket_case_messages_rating(api: Api) -> None:
    assert api.deploy(PROCESSES / "building_permit", api.user("analyst")).status_code == 201
    path = find_path("building_permit", "approved")
    clerk = api.user("front_desk", username="clerk_nadia")
    supervisor = api.user("supervisor")

    # The kiosk issues a ticket (no sign-in); counter 1 calls the next one.
    r = api.client.post("/api/queue/tickets", json={"category": "permits", "priority": "elderly"})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert number.startswith("P-") and r.json()["status"] == "waiting"
    r = api.client.post("/api/queue/counters/1/call-next", headers=clerk)
    assert r.status_code == 200, r.text
    assert (r.json()["number"], r.json()["status"], r.json()["counter"]) == (number, "called", 1)

    # The clerk opens the case from the ticket; the ticket now names its case.
    r = api.client.post("/api/cases", headers=clerk, json={
        "service_code": "building_permit", "citizen": CITIZEN, "data": path.case_data, "ticket": number})
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    ticket = api.client.get(f"/api/queue/tickets/{number}", headers=clerk).json()
    assert (ticket["case_id"], ticket["status"]) == (case["id"], "serving")
    assert _messages(api, case["id"], supervisor) == []  # nothing is said before the request is registered

    # Each stage writes its message with the step; the log gateway sends each one once.
    provide_papers(api, "building_permit", case["id"])
    # The approval bills the fee (the citizen is told the amount); the permit is ready for pickup once it is paid
    # (the payment delivers the diagram's message, and the citizen is told of the payment).
    expected_after = {"register_request": ["received", "department"], "engineering_review": ["bill_issued"],
                      "(pay)": ["bill_paid", "ready_for_pickup"], "hand_over": ["completed"]}
    seen: list[str] = []
    for step in path.steps:
        # The fee is billed when the permit is approved; the cashier takes it at the counter (engine/payments/).
        case = take(api, case, step, clerk if step.lane == "front_desk" else None)
        seen += expected_after.get(step.task, [])
        found = _messages(api, case["id"], supervisor)
        assert [m["stage"] for m in found] == seen, step.task
        assert all(m["recipient"] == CITIZEN["phone"] and case["tracking_number"] in m["body"] for m in found)
        sent = send.drain(settings=api.settings)
        assert [a.status for a in sent] == ["sent"] * len(expected_after.get(step.task, []))
        if step.task == "register_request":
            assert api.client.post(f"/api/queue/tickets/{number}/done", headers=clerk).status_code == 200
    assert case["status"] == "completed"
    found = _messages(api, case["id"], supervisor)
    assert {(m["status"], m["attempts"], m["gateway"]) for m in found} == {("sent", 1, "log")}
    assert send.drain(settings=api.settings) == []  # none is sent twice

    # The last message carries the rating link; the citizen rates once.
    link = RATING_LINK.search(found[-1]["body"])
    assert link is not None, found[-1]["body"]
    parts = urlsplit(link.group(1))
    tracking_number = parts.path.rsplit("/", 1)[1]
    assert tracking_number == case["tracking_number"]
    assert api.client.get(f"{parts.path}?{parts.query}").status_code == 200  # the rating page opens
    token = parse_qs(parts.query)["t"][0]
    rating = {"tracking_number": tracking_number, "token": token, "score": "happy", "reason_code": "speed"}
    r = api.client.post("/api/public/ratings", json=rating)
    assert r.status_code == 201, r.text
    assert api.client.post("/api/public/ratings", json=rating).status_code == 409
    stored = api.client.get(f"/api/cases/{case['id']}/rating", headers=supervisor).json()
    assert (stored["score"], stored["reason_code"], stored["clerk"], stored["channel"], stored["service_code"]) == (
        "happy", "speed", "clerk_nadia", "link", "building_permit")
