"""E-payment from the attacker's side: a bill's payment reference made at the provider (a real HTTP server on
loopback: tests/support/payment_provider.py), and the provider's callback that pays it, forged, replayed,
altered, sent twice or eight times at once, for an unknown reference or a lapsed bill, or as garbage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from engine.audit import verify
from engine.cases import timers
from engine.cases.replay import replay_case
from engine.core.errors import DomainError
from engine.payments import epay
from harness.api import Api
from harness.settings import make_settings
from storage.db import engine_for, session_for
from storage.models.payments import Checkout, GatewayCallback, Payment, Refund
from tests.support.cash_desk import Counter, _counter
from tests.support.concurrent import at_once
from tests.support.payment_provider import PaymentProvider


@pytest.fixture
def provider() -> Iterator[PaymentProvider]:
    with PaymentProvider() as server:
        yield server


def _world(url: str, tmp_path: Path, provider: PaymentProvider, **overrides: Any) -> Iterator[Counter]:
    settings = make_settings(url, tmp_path, payment_providers={"fake": provider.options()},
                             payment_callback_window_seconds=300, **overrides)
    with TestClient(create_app(settings)) as client:
        yield _counter(Api(client, settings))


@pytest.fixture
def shop(sqlite_url: str, tmp_path: Path, provider: PaymentProvider) -> Iterator[Counter]:
    """The counter of tests/api/test_payments.py, with the fake provider configured (SQLite)."""
    yield from _world(sqlite_url, tmp_path, provider)


@pytest.fixture
def both(database_url: str, tmp_path: Path, provider: PaymentProvider) -> Iterator[Counter]:
    """The same on SQLite and on PostgreSQL."""
    yield from _world(database_url, tmp_path, provider)


def checkout(c: Counter, bill: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return c.client.post(f"/api/bills/{bill['id']}/checkout", headers=headers or c.clerk)


def send(c: Counter, body: bytes, headers: dict[str, Any], provider: str = "fake") -> Any:
    return c.client.post(f"/api/payments/{provider}/callback", content=body, headers=headers)


def rows(c: Counter, model: Any) -> list[Any]:
    with Session(engine_for(c.api.settings.database_url)) as session:
        return list(session.exec(select(model)).all())


def test_checkout_and_the_callback_pay_the_bill_once_and_the_case_moves_on(
        shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    case, bill = c.billed_case(fee=150)
    r = checkout(c, bill)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["provider"] == "fake" and made["reference"] == "FP-00001" and made["status"] == "pending"
    assert made["payment_url"] == f"{provider.url}/pay/FP-00001" and made["amount"] == "150.00"
    assert provider.checkouts["FP-00001"] == {"merchant_reference": bill["number"], "amount": "150.00",
                                              "currency": "EGP"}
    body, headers = provider.callback("FP-00001")
    first = send(c, body, headers)
    assert first.status_code == 200, first.text
    year = datetime.now(UTC).year
    assert first.json() == {"outcome": "paid", "reference": "FP-00001", "receipt_number": f"CITY-A-{year}-000001"}
    # The same callback again (the provider retries): 200, nothing paid twice.
    again = send(c, body, headers)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    payments = rows(c, Payment)
    assert len(payments) == 1
    paid = payments[0]
    assert (paid.method, paid.session_id, paid.cashier, paid.amount, paid.reference) == (
        "e_payment", None, "gateway:fake", 15000, "FP-00001")
    # The case moved on exactly as after a cashier's payment; its bill is paid.
    now = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert [t["name"] for t in now["tasks"]] == ["hand_over"]
    assert c.client.get(f"/api/cases/{case['id']}/bills", headers=c.clerk).json()[0]["status"] == "paid"
    kinds = [e["kind"] for e in c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()]
    assert kinds[-3:] == ["checkout_created", "payment_taken", "message_received"]
    assert [cb.outcome for cb in rows(c, GatewayCallback)] == ["paid", "duplicate"]
    with Session(engine_for(c.api.settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []
        assert replay_case(session=session, case_id=case["id"], settings=c.api.settings).divergence is None
    # The receipt checks publicly like any other; the collections show it under the gateway, by e-payment.
    assert c.client.get(f"/api/public/receipts/CITY-A-{year}-000001").json()["status"] == "valid"
    today = datetime.now(ZoneInfo(c.api.settings.display_timezone)).date().isoformat()  # the center's day
    by = c.client.get("/api/reports/collections", params={"from": today, "to": today, "by": "cashier"},
                      headers=c.supervisor).json()
    assert by == [{"cashier": "gateway:fake", "currency": "EGP", "payments": "150.00", "refunds": "0.00",
                   "count": 1, "net": "150.00"}]
    # A checkout of a paid bill is refused.
    assert checkout(c, bill).status_code == 409


def test_who_may_ask_for_a_checkout(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, bill = c.billed_case()
    sibling_clerk = c.api.user("front_desk", center_id=c.centers["CITY-B"])
    sibling_cashier = c.api.user("cashier", center_id=c.centers["CITY-B"])
    assert checkout(c, bill, sibling_clerk).status_code == 403
    assert checkout(c, bill, sibling_cashier).status_code == 403
    assert checkout(c, bill, c.supervisor).status_code == 403
    assert c.client.post(f"/api/bills/{bill['id']}/checkout").status_code == 401
    assert c.client.post("/api/bills/2000000/checkout", headers=c.clerk).status_code == 404
    assert provider.requests == []  # nobody refused reached the provider
    r = checkout(c, bill, c.cashier)
    assert r.status_code == 201
    # A field the body does not have, an unknown provider.
    assert c.client.post(f"/api/bills/{bill['id']}/checkout", json={"amount": "1"},
                         headers=c.clerk).status_code == 422
    assert c.client.post(f"/api/bills/{bill['id']}/checkout", json={"provider": "sadad"},
                         headers=c.clerk).status_code == 404


def test_a_provider_that_fails_leaves_nothing(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    case, bill = c.billed_case()
    provider.replies.append((500, b"down"))
    r = checkout(c, bill)
    assert r.status_code == 502 and "try again" in r.json()["detail"]
    provider.replies.append((200, b"not json"))
    assert checkout(c, bill).status_code == 502
    assert rows(c, Checkout) == []
    kinds = [e["kind"] for e in c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()]
    assert "checkout_created" not in kinds
    assert checkout(c, bill).status_code == 201


def _pending(c: Counter) -> tuple[dict[str, Any], dict[str, Any], str]:
    case, bill = c.billed_case(fee=150)
    r = checkout(c, bill)
    assert r.status_code == 201, r.text
    return case, bill, r.json()["reference"]


def _unpaid(c: Counter, bill: dict[str, Any]) -> None:
    assert rows(c, Payment) == []
    assert c.client.get(f"/api/cases/{bill['case_id']}/bills", headers=c.clerk).json()[0]["status"] == "open"


def test_a_forged_signature_pays_nothing(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, bill, ref = _pending(c)
    body, headers = provider.callback(ref, secret="not-the-provider-secret-000000")
    r = send(c, body, headers)
    assert r.status_code == 403 and r.json()["detail"] == "The callback's signature or timestamp does not hold"
    # No signature, an empty one, the right one of another body (the amount changed after signing).
    assert send(c, body, {"Content-Type": "application/json"}).status_code == 403
    assert send(c, body, {"X-Signature": ""}).status_code == 403
    good, good_headers = provider.callback(ref)
    assert send(c, good.replace(b'"150.00"', b'"1.00"'), good_headers).status_code == 403
    _unpaid(c, bill)
    assert rows(c, GatewayCallback) == []  # what is not the provider's is not recorded as the provider's


def test_a_replayed_callback_outside_the_window_is_refused(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, bill, ref = _pending(c)
    for stamp in (time.time() - 301, time.time() + 301):  # signed by the provider, but too old or from ahead
        assert send(c, *provider.callback(ref, timestamp=stamp)).status_code == 403
    _unpaid(c, bill)
    late = provider.callback(ref, timestamp=time.time() - 200)  # late, but inside the window
    assert send(c, *late).json()["outcome"] == "paid"


def test_a_changed_amount_or_currency_is_recorded_and_refused(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, bill, ref = _pending(c)
    for change in ({"amount": "1.50"}, {"amount": "150.01"}, {"currency": "USD"}):
        r = send(c, *provider.callback(ref, **change))  # signed: the provider really says so
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["msg"] == "The payment reference is for 150.00 EGP"
    _unpaid(c, bill)
    assert [cb.outcome for cb in rows(c, GatewayCallback)] == ["mismatch"] * 3
    assert send(c, *provider.callback(ref)).json()["outcome"] == "paid"  # the reference is still good for its amount


def test_a_callback_for_an_unknown_reference(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, bill, _ref = _pending(c)
    r = send(c, *provider.callback("FP-99999", amount="150.00"))
    assert r.status_code == 404 and r.json()["detail"] == "No payment reference of this provider has that number"
    _unpaid(c, bill)
    assert [(cb.reference, cb.outcome) for cb in rows(c, GatewayCallback)] == [("FP-99999", "unknown")]
    # A reference of the fake provider sent to another provider's address: no such provider here.
    assert send(c, *provider.callback(_ref), provider="fawry").status_code == 404


def test_a_status_other_than_paid_pays_nothing(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, bill, ref = _pending(c)
    r = send(c, *provider.callback(ref, status="failed"))
    assert r.status_code == 200 and r.json()["outcome"] == "not_paid"
    _unpaid(c, bill)


def test_a_late_callback_for_a_lapsed_bill_is_recorded_for_a_refund(shop: Counter,
                                                                    provider: PaymentProvider) -> None:
    c = shop
    case, bill, ref = _pending(c)
    settings = c.api.settings
    with Session(engine_for(settings.database_url)) as session:
        assert timers.tick(session=session, settings=settings, now=datetime.now(UTC) + timedelta(days=8)) == 1
    assert c.client.get(f"/api/cases/{case['id']}/bills", headers=c.clerk).json()[0]["status"] == "lapsed"
    body, headers = provider.callback(ref)
    r = send(c, body, headers)
    assert r.status_code == 200 and r.json()["outcome"] == "late"
    assert send(c, body, headers).json()["outcome"] == "duplicate"  # and once only
    # The money is on the ledger with its receipt; the void bill is not paid and the case did not move.
    [payment] = rows(c, Payment)
    assert payment.amount == 15000 and payment.receipt_number is not None
    assert c.client.get(f"/api/cases/{case['id']}/bills", headers=c.clerk).json()[0]["status"] == "lapsed"
    now = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert now["status"] == "completed" and now["outcome"] == "lapsed"
    kinds = [e["kind"] for e in c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()]
    assert kinds[-2:] == ["payment_taken", "refund_requested"] and "message_received" not in kinds
    # The refund waits for a supervisor of the center, in the two-person flow.
    [refund] = rows(c, Refund)
    assert (refund.status, refund.requested_by, refund.amount) == ("requested", "gateway:fake", 15000)
    r = c.client.post(f"/api/refunds/{refund.id}/approve", json={}, headers=c.supervisor)
    assert r.status_code == 200, r.text
    assert c.client.get(f"/api/public/receipts/{payment.receipt_number}").json()["status"] == "refunded"
    with Session(engine_for(settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=settings).findings == []


def test_a_callback_after_the_bill_was_paid_at_the_counter_is_refunded(shop: Counter,
                                                                       provider: PaymentProvider) -> None:
    c = shop
    _case, bill, ref = _pending(c)
    c.open_drawer()
    assert c.pay(bill["id"], "150").status_code == 201  # the citizen paid in cash meanwhile
    assert send(c, *provider.callback(ref)).json()["outcome"] == "late"
    assert len(rows(c, Payment)) == 2 and rows(c, Refund)[0].status == "requested"


def test_a_late_callback_on_a_part_paid_bill_leaves_nothing_to_pay_until_its_refund_is_decided(
        shop: Counter, provider: PaymentProvider) -> None:
    """A bill taking part payments: the citizen pays 100 of 150 at the counter while its reference of 150 is
    out; the provider's payment comes late and waits for its refund. The bill owes nothing meanwhile: no payment
    of a negative amount with its change out of the drawer, no reference of a negative amount at the provider."""
    c = shop
    c.take_part_payments()
    _case, bill, ref = _pending(c)
    c.open_drawer()
    assert c.pay(bill["id"], "100").status_code == 201
    assert send(c, *provider.callback(ref)).json()["outcome"] == "late"
    paid = rows(c, Payment)
    again = c.pay(bill["id"], "1")
    assert again.status_code == 409 and again.json()["message_id"] == "bill.nothing_due", again.text
    assert checkout(c, bill).status_code == 409
    assert len(rows(c, Payment)) == len(paid) and len(rows(c, Checkout)) == 1
    refund = rows(c, Refund)[0]
    assert c.client.post(f"/api/refunds/{refund.id}/approve", json={}, headers=c.supervisor).status_code == 200
    last = c.pay(bill["id"], "50")  # what is left once the late payment is given back
    assert last.status_code == 201 and last.json()["amount"] == "50.00" and last.json()["bill_status"] == "paid"
    assert all(p.amount > 0 for p in rows(c, Payment) if p.kind == "payment")


GARBAGE = [b"", b"not json", b"[]", b"null", b'{"reference": 1}', b"\xff\xfe", b'{"a":' * 5000,
           b'{"reference": "FP-00001", "status": "paid", "amount": 150, "currency": "EGP", "timestamp": 1}',
           b'{"reference": "FP-00001", "status": "paid", "amount": "1e9", "currency": "EGP", "timestamp": 1e99}',
           b'{"reference": "FP-00001", "status": "paid", "amount": "-5", "currency": "egp", "timestamp": true}']


@pytest.mark.parametrize("body", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_is_never_a_500(shop: Counter, provider: PaymentProvider, body: bytes) -> None:
    c = shop
    _case, bill, _ref = _pending(c)
    from engine.payments.gateways import sign

    for headers in ({}, {"X-Signature": "sha256=" + "0" * 64}, {"X-Signature": sign(provider.secret, body)},
                    {"X-Signature": "é".encode() * 300}):
        r = send(c, body, headers)
        assert r.status_code in (403, 404), (headers, r.status_code, r.text)
    _unpaid(c, bill)


def test_refused_callbacks_are_throttled_per_address(sqlite_url: str, tmp_path: Path,
                                                     provider: PaymentProvider) -> None:
    world = _world(sqlite_url, tmp_path, provider, payment_callback_max_failures_per_address=3)
    c = next(world)
    try:
        _case, bill, ref = _pending(c)
        for _ in range(3):
            assert send(c, b"forged", {"X-Signature": "sha256=00"}).status_code == 403
        r = send(c, b"forged", {"X-Signature": "sha256=00"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        body, headers = provider.callback(ref)
        assert send(c, body, headers).status_code == 429  # the address waits, whatever it sends
        _unpaid(c, bill)
        # Another address (a trusted proxy's client) is not held up.
    finally:
        world.close()


def test_concurrent_duplicate_callbacks_pay_once(both: Counter, provider: PaymentProvider) -> None:
    """Eight copies of one callback at the same moment, each in its own session and thread: one pays, seven
    are duplicates; one payment, one receipt (PostgreSQL and SQLite)."""
    c = both
    settings = c.api.settings
    case, bill, ref = _pending(c)
    body, headers = provider.callback(ref)
    lowered = {k.lower(): v for k, v in headers.items()}

    def run() -> str:
        with session_for(settings.database_url) as session:
            try:
                return epay.callback(session=session, provider="fake", raw=body, headers=lowered,
                                     settings=settings, client="192.0.2.7").outcome
            except DomainError as exc:
                return f"{exc.status} {exc.message_id}"

    assert sorted(at_once(run, times=8)) == ["duplicate"] * 7 + ["paid"]
    year = datetime.now(UTC).year
    assert [p.receipt_number for p in rows(c, Payment)] == [f"CITY-A-{year}-000001"]
    now = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert [t["name"] for t in now["tasks"]] == ["hand_over"]
    with Session(engine_for(settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=settings).findings == []


def test_no_provider_configured_or_options_that_do_not_pass(sqlite_api: Api, tmp_path: Path) -> None:
    c = _counter(sqlite_api)
    _case, bill = c.billed_case()
    r = checkout(c, bill)
    assert r.status_code == 409 and r.json()["detail"] == "No payment provider is configured"
    # A callback to an installation without providers: 404, not a 500.
    assert send(c, b"{}", {"X-Signature": "sha256=00"}).status_code == 404


def test_the_fake_provider_in_development_makes_its_own_reference(sqlite_url: str, tmp_path: Path) -> None:
    """Without its ``url`` the built-in provider asks nobody (development): a reference and a payment address are
    made locally, and its callbacks are checked the same way."""
    settings = make_settings(sqlite_url, tmp_path, payment_providers={"fake": {"secret": "s" * 16}})
    with TestClient(create_app(settings)) as client:
        c = _counter(Api(client, settings))
        _case, bill = c.billed_case(fee=20)
        made = checkout(c, bill).json()
        assert made["reference"].startswith("fake-") and made["reference"] in made["payment_url"]
        from engine.payments.gateways import sign

        body = (b'{"reference": "%s", "status": "paid", "amount": "20.00", "currency": "EGP", "timestamp": %d}'
                % (made["reference"].encode(), int(time.time())))
        assert send(c, body, {"X-Signature": sign("s" * 16, body)}).json()["outcome"] == "paid"
        assert send(c, body, {"X-Signature": sign("t" * 16, body)}).status_code == 403


def test_a_short_secret_is_refused_when_the_provider_is_built(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, payment_providers={"fake": {"secret": "short", "extra": 1}})
    with TestClient(create_app(settings)) as client:
        c = _counter(Api(client, settings))
        _case, bill = c.billed_case()
        r = checkout(c, bill)
        assert r.status_code == 422
        assert {tuple(d["loc"][-1:]) for d in r.json()["detail"]} == {("secret",), ("extra",)}
