"""Sending the outbox through real loopback gateways: retries with backoff, final failures, exactly once.

The clock of each attempt is given (``now=``), so backoff is checked without sleeping.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlmodel import Session

from api.app import create_app
from engine.core.errors import Invalid
from engine.messages import gateways, send
from harness.api import CITIZEN, Api
from harness.postgres import free_port
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.base import table
from storage.models.messages import OutboxMessage
from tests.support.audit import login
from tests.support.outbox import one_message, received
from tests.support.sms_gateway import SmsGateway
from tests.support.smtp import SmtpServer

_OUTBOX = table(OutboxMessage)
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def _api(database_url: str, tmp_path: Path, **overrides: Any) -> Api:
    """The API without its lifespan: no background loop sends behind the test's back."""
    settings = make_settings(database_url, tmp_path, message_retry_base_seconds=10, message_retry_cap_seconds=60,
                             message_max_attempts=4, **overrides)
    return Api(TestClient(create_app(settings)), settings)


def _http(url: str) -> dict[str, Any]:
    return {"sms_gateway": "http", "sms_gateway_options": {"url": url, "token": "s3cret", "sender": "Shubbak"}}


def _one_message(api: Api, citizen: dict[str, Any] | None = None) -> OutboxMessage:
    return one_message(api, T0, citizen)


def _rows(api: Api) -> list[Any]:
    return received(api)


def test_an_sms_goes_once_with_its_key_credentials_and_json_body(database_url: str, tmp_path: Path) -> None:
    with SmsGateway() as gateway:
        api = _api(database_url, tmp_path, **_http(gateway.url))
        msg = _one_message(api)
        assert [a.status for a in send.drain(settings=api.settings, now=T0)] == ["sent"]
        assert send.drain(settings=api.settings, now=T0 + timedelta(hours=1)) == []
    [request] = gateway.requests
    assert request["key"] == msg.idempotency_key and len(msg.idempotency_key) == 64
    assert request["auth"] == "Bearer s3cret"
    assert request["body"] == {"to": CITIZEN["phone"], "text": msg.body, "sender": "Shubbak"}
    [row] = _rows(api)
    assert (row.status, row.attempts, row.gateway, row.gateway_ref, row.last_error) == ("sent", 1, "http", "sms-1",
                                                                                          None)


def test_a_gateway_that_is_down_is_retried_with_backoff_until_it_answers(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    api = _api(database_url, tmp_path, **_http(f"http://127.0.0.1:{port}/messages"))
    msg = _one_message(api)
    first = send.send_one(message_id=msg.id, settings=api.settings, now=T0)  # connection refused
    assert (first.status, first.retry_at) == ("pending", T0 + timedelta(seconds=10))
    assert "did not answer" in (first.error or "")
    assert send.send_one(message_id=msg.id, settings=api.settings, now=T0 + timedelta(seconds=9)).status == "skipped"
    second = send.send_one(message_id=msg.id, settings=api.settings, now=T0 + timedelta(seconds=10))
    assert second.retry_at == T0 + timedelta(seconds=30)  # 10 s, then 20 s
    with SmsGateway(port) as gateway:
        assert send.drain(settings=api.settings, now=T0 + timedelta(seconds=30))[0].status == "sent"
    assert gateway.delivered == {msg.idempotency_key: 1}
    [row] = _rows(api)
    assert (row.status, row.attempts) == ("sent", 3)


def test_malformed_replies_and_5xx_are_retried(database_url: str, tmp_path: Path) -> None:
    with SmsGateway() as gateway:
        api = _api(database_url, tmp_path, **_http(gateway.url))
        msg = _one_message(api)
        gateway.replies = [(200, b"<html>not json</html>"), (200, b'{"status": "ok"}'), (503, b"busy")]
        moments = [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=30), T0 + timedelta(seconds=70)]
        results = [send.send_one(message_id=msg.id, settings=api.settings, now=at) for at in moments]
    assert [r.status for r in results] == ["pending", "pending", "pending", "sent"]
    assert "malformed reply" in (results[0].error or "") and "no 'id'" in (results[1].error or "")
    assert "HTTP 503" in (results[2].error or "")
    assert len(gateway.requests) == 4 and {r["key"] for r in gateway.requests} == {msg.idempotency_key}
    assert gateway.delivered == {msg.idempotency_key: 1}


def test_a_4xx_refusal_is_final_and_recorded(database_url: str, tmp_path: Path) -> None:
    with SmsGateway() as refusing:
        api = _api(database_url, tmp_path, **_http(refusing.url))
        msg = _one_message(api)
        refusing.replies = [(400, b'{"error": "invalid phone number"}')]
        final = send.send_one(message_id=msg.id, settings=api.settings, now=T0)
        assert final.status == "failed" and "invalid phone number" in (final.error or "")
        assert send.drain(settings=api.settings, now=T0 + timedelta(days=1)) == []  # never tried again
    assert len(refusing.requests) == 1 and refusing.delivered == {}
    [row] = _rows(api)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, 'HTTP 400: {"error": "invalid phone number"}')


def test_after_max_attempts_the_message_fails_and_staff_see_why(database_url: str, tmp_path: Path) -> None:
    port = free_port()  # nobody listens
    api = _api(database_url, tmp_path, **_http(f"http://127.0.0.1:{port}/messages"))
    msg = _one_message(api)
    at, statuses = T0, []
    for _ in range(5):
        result = send.send_one(message_id=msg.id, settings=api.settings, now=at)
        statuses.append(result.status)
        at = result.retry_at or at + timedelta(hours=1)
    assert statuses == ["pending", "pending", "pending", "failed", "skipped"]  # 4 attempts at most
    found = api.client.get(f"/api/cases/{msg.case_id}/messages", headers=login(api, "reviewer_karim")).json()
    failed = [m for m in found if m["stage"] == "received"]
    assert [(m["status"], m["attempts"]) for m in failed] == [("failed", 4)]
    assert "did not answer" in failed[0]["last_error"]


def test_a_sender_that_died_after_the_gateway_accepted_is_replaced_and_the_citizen_gets_one_sms(
        database_url: str, tmp_path: Path) -> None:
    with SmsGateway() as gateway:
        api = _api(database_url, tmp_path, **_http(gateway.url), message_lease_seconds=60)
        msg = _one_message(api)
        # The first sender claimed the message and the gateway accepted it; then the sender died.
        with Session(engine_for(api.settings.database_url)) as session:
            session.execute(update(_OUTBOX).where(_OUTBOX.c.id == msg.id)
                            .values(status="sending", attempts=1, lease_until=T0 + timedelta(seconds=60)))
            session.commit()
        urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - loopback
            gateway.url, data=json.dumps({"to": CITIZEN["phone"], "text": msg.body}).encode(),
            headers={"Idempotency-Key": msg.idempotency_key, "Content-Type": "application/json"}), timeout=5).read()
        # While its lease runs, nobody else takes it; once it ran out, the next sender sends it again.
        assert send.drain(settings=api.settings, now=T0 + timedelta(seconds=30)) == []
        assert send.drain(settings=api.settings, now=T0 + timedelta(seconds=61))[0].status == "sent"
    assert [r["key"] for r in gateway.requests] == [msg.idempotency_key] * 2
    assert gateway.delivered == {msg.idempotency_key: 1}
    [row] = _rows(api)
    assert (row.status, row.attempts, row.gateway_ref) == ("sent", 2, "sms-1")


def test_email_over_smtp_carries_the_key_as_message_id(database_url: str, tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        api = (_api(database_url, tmp_path, email_gateway="smtp",
                        email_gateway_options={"host": "127.0.0.1", "port": smtp.port,
                                               "sender": "center@shubbak.example"}))
        _one_message(api, citizen={**CITIZEN, "email": "sara@example.org", "language": "en"})
        with Session(engine_for(api.settings.database_url)) as session:
            [mail_row] = session.execute(select(OutboxMessage).where(OutboxMessage.channel == "email",
                                                                     OutboxMessage.stage == "received")).scalars()
        assert send.send_one(message_id=mail_row.id, settings=api.settings, now=T0).status == "sent"
    [mail] = smtp.mails
    assert mail["Message-ID"] == f"<{mail_row.idempotency_key}@shubbak.invalid>"
    assert (mail["To"], mail["From"]) == ("sara@example.org", "center@shubbak.example")
    assert mail["Subject"].startswith("Shubbak: your request")
    assert mail.get_payload(decode=True).decode().strip() == mail_row.body


def test_a_refused_mailbox_is_a_final_failure(sqlite_url: str, tmp_path: Path) -> None:
    with SmtpServer(refuse_rcpt=550) as smtp:
        api = (_api(sqlite_url, tmp_path, email_gateway="smtp",
                        email_gateway_options={"host": "127.0.0.1", "port": smtp.port, "sender": "c@shubbak.example"}))
        _one_message(api, citizen={**CITIZEN, "email": "nobody@example.org"})
        with Session(engine_for(api.settings.database_url)) as session:
            [mail_row] = session.execute(select(OutboxMessage).where(OutboxMessage.channel == "email",
                                                                     OutboxMessage.stage == "received")).scalars()
        result = send.send_one(message_id=mail_row.id, settings=api.settings, now=T0)
    assert result.status == "failed" and "refused" in (result.error or "")
    assert smtp.mails == []


def test_gateway_options_are_checked_by_the_gateways_own_schema() -> None:
    with pytest.raises(Invalid) as missing_url:
        gateways.build("http", {"token": "x"}, "sms")
    assert missing_url.value.details[0]["loc"][-1] == "url"
    with pytest.raises(Invalid) as unknown:
        gateways.build("http", {"url": "http://127.0.0.1/", "pasword": "typo"}, "sms")
    assert unknown.value.details[0]["loc"][-1] == "pasword"
    with pytest.raises(Invalid, match="no sms gateway called 'smtp'"):
        gateways.build("smtp", {}, "sms")
    with pytest.raises(Invalid) as body:
        gateways.build("http", {"url": "http://127.0.0.1/", "body": {"msisdn": "{phone}"}}, "sms")
    assert "the body may only use {to}, {text}" in body.value.details[0]["msg"]


def test_backoff_doubles_up_to_its_cap(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, message_retry_base_seconds=5, message_retry_cap_seconds=60)
    assert [send.backoff(n, settings).total_seconds() for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_a_message_every_sender_died_on_fails_after_max_attempts(database_url: str, tmp_path: Path) -> None:
    api = _api(database_url, tmp_path)  # the log gateway
    msg = _one_message(api)
    with Session(engine_for(api.settings.database_url)) as session:  # four senders died holding it
        session.execute(update(_OUTBOX).where(_OUTBOX.c.id == msg.id)
                        .values(status="sending", attempts=4, lease_until=T0))
        session.commit()
    assert send.drain(settings=api.settings, now=T0 + timedelta(seconds=1)) == []
    [row] = _rows(api)
    assert (row.status, row.attempts, row.last_error) == ("failed", 4, "the sender stopped while sending, at "
                                                                       "every attempt")


class _Broken(gateways.Gateway):
    name = "broken"
    channels = ("sms",)

    def send(self, message: gateways.Outgoing) -> str:
        raise KeyError("a bug in a gateway")


def test_a_gateway_that_raises_something_unexpected_costs_one_attempt(sqlite_url: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(gateways.GATEWAYS, "broken", _Broken)
    api = _api(sqlite_url, tmp_path, sms_gateway="broken")
    msg = _one_message(api)
    result = send.send_one(message_id=msg.id, settings=api.settings, now=T0)
    assert (result.status, result.retry_at) == ("pending", T0 + timedelta(seconds=10))
    assert "a bug in a gateway" in (result.error or "")
