"""No personal data in the logs: the access log of a real server keeps paths without the query values that
carry personal data, and the ``log`` message gateway masks numbers and tokens."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from engine.core import tracking
from engine.core.settings import Settings
from engine.messages.gateways import Outgoing, for_channel
from harness.api import Api
from harness.server import serving

NATIONAL_ID = "29001011234567"
PHONE = "+201001234567"


@pytest.fixture
def live(sqlite_settings: Settings) -> Iterator[str]:
    """The app under a real uvicorn with its access log on (and logging left to the test: no dictConfig)."""
    with serving(create_app(sqlite_settings), log_config=None, log_level="info", access_log=True) as url:
        yield url


def test_the_access_log_keeps_no_personal_query_values(live: str, sqlite_settings: Settings,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(sqlite_settings)) as client:
        auditor = Api(client, sqlite_settings).user("auditor")
    token = tracking.rating_token("1234567890", sqlite_settings)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with httpx.Client(base_url=live, follow_redirects=False, timeout=10) as http:
        assert http.get("/api/audit/cases", params={"national_id": NATIONAL_ID, "limit": 5},
                        headers=auditor).status_code == 200
        assert http.get("/api/public/track/1234567890", params={"phone_last4": "8213"}).status_code == 404
        http.get("/rate/1234567890", params={"t": token})
        http.get("/desk", params={"national_id": NATIONAL_ID})
        http.get("/login", params={"next": f"/desk?national_id={NATIONAL_ID}"})
        http.get("/cases", params={"q": "سارة أحمد", "status": "open"})
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(lines) == 6, lines
    text = "\n".join(lines)
    for secret in (NATIONAL_ID, "phone_last4=8213", token, "سارة", "%D8%B3"):
        assert secret not in text
    assert "/api/audit/cases?national_id=***&limit=5" in text
    assert "/api/public/track/1234567890?phone_last4=***" in text
    assert "q=***&status=open" in text


def test_the_log_gateway_masks_phones_links_and_codes(sqlite_settings: Settings,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    token = tracking.rating_token("1234567890", sqlite_settings)
    body = (f"طلبك 1234-5678-90 اكتمل. قيّمه: https://center.example/rate/1234567890?t={token} "
            "رمز التحقق ٤٨٢٩١٣")
    caplog.set_level(logging.INFO, logger="shubbak.messages")
    gateway = for_channel("sms", sqlite_settings)
    assert gateway is not None and gateway.name == "log"
    gateway.send(Outgoing(channel="sms", recipient=PHONE, subject=None, body=body, idempotency_key="k" * 40,
                          language="ar"))
    lines = [r.getMessage() for r in caplog.records if r.name == "shubbak.messages"]
    assert len(lines) == 1
    line = lines[0]
    for secret in (PHONE, PHONE[1:], "1001234567", token, "1234-5678", "1234567890", "٤٨٢٩١٣"):
        assert secret not in line, secret
    assert "•67" in line and "?t=***" in line and "اكتمل" in line  # who and what, without the numbers
