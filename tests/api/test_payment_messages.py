"""The citizen is told by SMS when a bill is issued and when it is paid: in their language, the amount with its
currency and the bill's number (and the receipt's), written in the transaction of the bill or the payment, once
whatever is retried (a retried request, a second payment of a paid bill, the provider's callback twice)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from engine.cases import hooks
from engine.catalog.packages import read_package
from harness.api import CITIZEN
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.messages import OutboxMessage
from storage.models.payments import Payment
from tests.api import test_epay
from tests.api.test_epay import checkout, send
from tests.support.cash_desk import Counter
from tests.support.payment_provider import PaymentProvider

# The fake provider and the counters (SQLite; SQLite and PostgreSQL) of tests/api/test_epay.py, as they are there.
provider, shop, both = test_epay.provider, test_epay.shop, test_epay.both


def messages(c: Counter, case_id: int, *stages: str) -> list[OutboxMessage]:
    with Session(engine_for(c.api.settings.database_url)) as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.case_id == case_id,
                                                             OutboxMessage.stage.in_(stages))  # type: ignore[attr-defined]
                                 .order_by(OutboxMessage.id)).all())


def billed(c: Counter, fee: Any = 150, language: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    citizen = {**CITIZEN, **({"language": language} if language else {})}
    case = c.api.open_case("pay_demo", c.clerk, citizen=citizen).json()
    r = c.api.complete(case["tasks"][0]["id"], {"fee": fee}, c.clerk)
    assert r.status_code == 200, r.text
    [bill] = c.client.get(f"/api/cases/{case['id']}/bills", headers=c.cashier).json()
    return case, bill


def test_the_citizen_hears_of_the_bill_and_of_its_payment_once(both: Counter) -> None:
    c = both
    case, bill = billed(c, fee="150.5")
    [issued] = messages(c, case["id"], "bill_issued")
    assert (issued.channel, issued.recipient, issued.language) == ("sms", CITIZEN["phone"], "ar")
    assert bill["number"] in issued.body and "150.50 EGP" in issued.body and "فاتورة" in issued.body
    c.open_drawer()
    key = {"Idempotency-Key": "pay-and-tell-1"}
    url, body = f"/api/bills/{bill['id']}/payments", {"method": "cash", "amount": "200"}
    first = c.client.post(url, json=body, headers={**c.cashier, **key})
    again = c.client.post(url, json=body, headers={**c.cashier, **key})  # the same request retried: replayed
    assert first.status_code == again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert c.pay(bill["id"], "150.50").status_code == 409  # a new payment of a paid bill: refused, nobody told
    receipt = first.json()["receipt_number"]
    [paid] = messages(c, case["id"], "bill_paid")
    assert receipt in paid.body and bill["number"] in paid.body and "150.50 EGP" in paid.body
    assert "200.00" not in paid.body  # what was applied to the bill, not what was tendered (200.00)
    # Issued and paid are told once each, beside the other messages of the case.
    assert [m.stage for m in messages(c, case["id"], "bill_issued", "bill_paid")] == ["bill_issued", "bill_paid"]


def test_in_english_when_the_citizen_reads_english(shop: Counter) -> None:
    c = shop
    case, bill = billed(c, fee=75, language="en")
    [issued] = messages(c, case["id"], "bill_issued")
    assert issued.language == "en"
    assert issued.body == (f"Shubbak: the fees of your request {case['tracking_number']} (Paid demo service) were "
                           f"billed as {bill['number']}: 75.00 EGP. Please pay at the center.")
    c.open_drawer()
    receipt = c.pay(bill["id"], "75", method="card", reference="T-1").json()["receipt_number"]
    [paid] = messages(c, case["id"], "bill_paid")
    assert paid.body == (f"Shubbak: 75.00 EGP was paid on bill {bill['number']} of your request "
                         f"{case['tracking_number']}; receipt {receipt}.")


def test_a_payment_that_fails_after_the_message_tells_nobody(shop: Counter, monkeypatch: pytest.MonkeyPatch) -> None:
    """The message is written in the payment's transaction: when that transaction fails after the outbox wrote
    it (a later hook breaks), there is neither a payment nor a message."""
    c = shop
    case, bill = billed(c)
    c.open_drawer()

    def breaks(written: hooks.Written) -> None:
        if any(ev.kind == "payment_taken" for ev in written.events):
            raise RuntimeError("the disk filled up")

    monkeypatch.setattr(hooks, "_HOOKS", [*hooks._HOOKS, breaks])
    with pytest.raises(RuntimeError):
        c.pay(bill["id"], "150")
    monkeypatch.undo()
    assert messages(c, case["id"], "bill_paid") == []
    with Session(engine_for(c.api.settings.database_url)) as session:
        assert session.exec(select(Payment)).all() == []
    assert c.pay(bill["id"], "150").status_code == 201  # and then it goes through, told once
    assert len(messages(c, case["id"], "bill_paid")) == 1


def test_each_part_payment_is_told(shop: Counter) -> None:
    c = shop
    files = read_package(TEST_PROCESSES / "pay_demo")
    files["service.toml"] = files["service.toml"].replace(b"amount = 150", b"amount = 150\npartial = true")
    assert c.client.post("/api/processes", files=[("files", (n, b)) for n, b in files.items()],
                         headers=c.api.user("analyst")).status_code == 201
    case, bill = billed(c, fee=150)
    c.open_drawer()
    first = c.pay(bill["id"], "100").json()["receipt_number"]
    second = c.pay(bill["id"], "60").json()["receipt_number"]
    told = messages(c, case["id"], "bill_paid")
    assert [(first in m.body, "100.00 EGP" in m.body) for m in told[:1]] == [(True, True)]
    assert len(told) == 2 and second in told[1].body and "50.00 EGP" in told[1].body


def test_the_provider_calling_back_twice_tells_once(both: Counter, provider: PaymentProvider) -> None:
    c = both
    case, bill = billed(c)
    assert checkout(c, bill).status_code == 201
    body, headers = provider.callback("FP-00001")
    assert send(c, body, headers).json()["outcome"] == "paid"
    assert send(c, body, headers).json()["outcome"] == "duplicate"
    [paid] = messages(c, case["id"], "bill_paid")
    assert "150.00 EGP" in paid.body and bill["number"] in paid.body


def test_a_service_silences_or_rewords_the_money_messages(shop: Counter) -> None:
    c = shop
    files = read_package(TEST_PROCESSES / "pay_demo")
    toml = files["service.toml"]
    bad = toml + b'\n[messages.templates.bill_paid]\nen = "paid by {cashier}"\n'
    r = c.client.post("/api/processes", files=[("files", (n, bad if n == "service.toml" else b))
                                               for n, b in files.items()], headers=c.api.user("analyst"))
    assert r.status_code == 422 and "cashier" in r.text  # no placeholder names the officer who took it
    own = toml + (b'\n[messages]\noff = ["bill_issued"]\n[messages.templates.bill_paid]\n'
                  b'ar = "\xd8\xb3\xd8\xaf\xd8\xa7\xd8\xaf {bill}: {fee} {currency} ({receipt_number})"\n')
    r = c.client.post("/api/processes", files=[("files", (n, own if n == "service.toml" else b))
                                               for n, b in files.items()], headers=c.api.user("analyst"))
    assert r.status_code == 201, r.text
    case, bill = billed(c)
    assert messages(c, case["id"], "bill_issued") == []
    c.open_drawer()
    receipt = c.pay(bill["id"], "150").json()["receipt_number"]
    [paid] = messages(c, case["id"], "bill_paid")
    assert paid.body == f"سداد {bill['number']}: 150.00 EGP ({receipt})"


def test_a_free_request_is_told_of_no_bill(shop: Counter) -> None:
    c = shop
    case = c.api.open_case("pay_demo", c.clerk).json()
    assert c.api.complete(case["tasks"][0]["id"], {"fee": 0}, c.clerk).status_code == 200
    assert messages(c, case["id"], "bill_issued", "bill_paid") == []
