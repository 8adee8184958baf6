"""The citizen's journey over the API: a queue ticket, the case opened from it at the counter, an SMS at each
stage through a real (loopback) SMS gateway, and the rating link of the last message rating the case once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from api.app import create_app
from engine.messages import send
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES, make_settings
from tests.support.sms_gateway import SmsGateway


def test_ticket_case_messages_rating(database_url: str, tmp_path: Path) -> None:
    with SmsGateway() as gateway:
        settings = make_settings(database_url, tmp_path, public_url="https://shubbak.example/",
                                 sms_gateway="http", sms_gateway_options={"url": gateway.url})
        api = Api(TestClient(create_app(settings)), settings)
        api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
        clerk, reviewer = api.user("front_desk"), api.user("reviewer")

        ticket = api.client.post("/api/queue/tickets", json={"category": "permits", "priority": "elderly"}).json()
        called = api.client.post("/api/queue/counters/1/call-next", headers=clerk).json()
        assert called["number"] == ticket["number"]
        r = api.client.post("/api/cases", headers=clerk, json={
            "service_code": "test_permit", "citizen": {**CITIZEN, "language": "en"}, "ticket": ticket["number"]})
        assert r.status_code == 201, r.text
        case = r.json()
        for data, who in [({"area": 120, "purpose": "a shop"}, clerk), ({"decision": "approve", "notes": "ok"},
                                                                         reviewer), ({}, clerk)]:
            r = api.complete(case["tasks"][0]["id"], data, who)
            assert r.status_code == 200, r.text
            case = r.json()
        assert case["status"] == "completed"

        later = datetime.now(UTC) + timedelta(seconds=1)
        assert {a.status for a in send.drain(settings=settings, now=later)} == {"sent"}
        assert send.drain(settings=settings, now=later + timedelta(hours=1)) == []
    texts = [r["body"]["text"] for r in gateway.requests]
    assert len(texts) == 4 and all(count == 1 for count in gateway.delivered.values())
    assert texts[0].startswith("Shubbak: your request (") and "was received as" in texts[0]  # in English
    assert "reached reviewer at" in texts[1] and "ready for pickup" in texts[2]
    link = re.search(r"https://shubbak\.example(/rate/\S+)", texts[3])
    assert link is not None
    url = urlsplit(link.group(1))
    token = parse_qs(url.query)["t"][0]
    number = url.path.rsplit("/", 1)[1]
    assert number.replace("-", "") == case["tracking_number"].replace("-", "")

    rated = api.client.post("/api/public/ratings", json={"tracking_number": number, "token": token, "score": "happy"})
    assert rated.status_code == 201, rated.text
    again = api.client.post("/api/public/ratings", json={"tracking_number": number, "token": token, "score": "unhappy"})
    assert again.status_code == 409
    stored = api.client.get(f"/api/cases/{case['id']}/rating", headers=reviewer).json()
    assert stored["score"] == "happy"
