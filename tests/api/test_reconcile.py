"""The reconciliation round from the side of what goes wrong with e-payment: a callback that never came, a
provider that says the reference expired, does not know it, answers garbage or another amount, a callback that
comes after the round, the round run twice or beside the callback. Time moves with the engine's test clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from engine.audit import verify
from engine.cases.replay import replay_case
from engine.core import clock
from engine.core.settings import Settings
from engine.operations import periodic
from engine.payments import ledger, reconcile
from engine.payments.gateways import fake
from engine.people.users import Actor
from storage.db import engine_for, session_for
from storage.models.messages import OutboxMessage
from storage.models.payments import Checkout, GatewayCallback, Payment, Refund
from tests.api import test_epay
from tests.api.test_epay import _world, checkout, rows, send
from tests.support.cash_desk import Counter
from tests.support.payment_provider import PaymentProvider

provider = test_epay.provider  # the fake provider of tests/api/test_epay.py


@pytest.fixture
def both(database_url: str, tmp_path: Path, provider: PaymentProvider) -> Iterator[Counter]:
    yield from _world(database_url, tmp_path, provider, payment_reconcile_after_minutes=30)


@pytest.fixture
def shop(sqlite_url: str, tmp_path: Path, provider: PaymentProvider) -> Iterator[Counter]:
    yield from _world(sqlite_url, tmp_path, provider, payment_reconcile_after_minutes=30)


def round_at(c: Counter, minutes: float) -> reconcile.Reconciled:
    """One round, with the clock ``minutes`` after now."""
    with clock.frozen(datetime.now(UTC) + timedelta(minutes=minutes)), \
            session_for(c.api.settings.database_url) as session:
        return reconcile.reconcile(session=session, settings=c.api.settings)


def asked(provider: PaymentProvider) -> list[str]:
    return [r["path"] for r in provider.requests if r.get("method") == "GET"]


def pending_reference(c: Counter) -> tuple[dict[str, Any], dict[str, Any], str]:
    case, bill = c.billed_case(fee=150)
    r = checkout(c, bill)
    assert r.status_code == 201, r.text
    return case, bill, r.json()["reference"]


def test_a_lost_callback_is_settled_by_asking_the_provider(both: Counter, provider: PaymentProvider) -> None:
    c = both
    case, bill, reference = pending_reference(c)
    provider.statuses[reference] = "paid"
    # Not yet: a reference younger than the setting is nobody's worry (its callback may still come).
    assert round_at(c, 29) == reconcile.Reconciled()
    assert asked(provider) == []
    done = round_at(c, 31)
    assert (done.asked, done.paid) == (1, 1)
    assert asked(provider) == [f"/checkouts/{reference}"]
    [payment] = rows(c, Payment)
    assert (payment.method, payment.cashier, payment.amount, payment.session_id) == ("e_payment", "gateway:fake",
                                                                                    15000, None)
    now = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert [t["name"] for t in now["tasks"]] == ["hand_over"]
    events = c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()
    taken = next(e for e in events if e["kind"] == "payment_taken")
    assert taken["data"]["via"] == "reconciliation" and taken["data"]["reference"] == reference
    assert [cb.outcome for cb in rows(c, GatewayCallback)] == ["paid"]
    # Again: nothing pending, nothing asked, nothing paid twice; the lost callback arriving now is a duplicate.
    assert round_at(c, 32) == reconcile.Reconciled()
    body, headers = provider.callback(reference)
    assert send(c, body, headers).json()["outcome"] == "duplicate"
    assert len(rows(c, Payment)) == 1
    with Session(engine_for(c.api.settings.database_url)) as session:
        told = session.exec(select(OutboxMessage).where(OutboxMessage.stage == "bill_paid")).all()
        assert len(told) == 1
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []
        assert replay_case(session=session, case_id=case["id"], settings=c.api.settings).divergence is None


def test_a_reference_over_at_the_provider_expires_and_a_payment_after_it_is_not_lost(
        shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    case, bill, reference = pending_reference(c)
    provider.statuses[reference] = "expired"
    assert round_at(c, 31).expired == 1
    [ref] = rows(c, Checkout)
    assert ref.status == "expired"
    events = c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()
    assert events[-1]["kind"] == "checkout_expired" and events[-1]["actor"] == reconcile.ACTOR
    assert events[-1]["data"] == {"bill": bill["number"], "provider": "fake", "reference": reference,
                                  "provider_status": "expired"}
    assert c.client.get(f"/api/cases/{case['id']}/bills", headers=c.clerk).json()[0]["status"] == "open"
    assert round_at(c, 40) == reconcile.Reconciled()  # expired once; not asked again
    # The citizen pays the bill at the counter; the provider then pays the expired reference after all: the
    # money is recorded and a refund asked, the bill is not paid twice.
    c.open_drawer()
    assert c.pay(bill["id"], "150").status_code == 201
    body, headers = provider.callback(reference)
    assert send(c, body, headers).json()["outcome"] == "late"
    [refund] = rows(c, Refund)
    assert refund.status == "requested" and refund.amount == 15000
    assert rows(c, Checkout)[0].status == "to_refund"


def test_an_expired_reference_paid_after_all_pays_the_open_bill(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    case, _bill, reference = pending_reference(c)
    provider.statuses[reference] = "failed"
    assert round_at(c, 31).expired == 1
    body, headers = provider.callback(reference)
    assert send(c, body, headers).json()["outcome"] == "paid"
    assert rows(c, Refund) == [] and rows(c, Checkout)[0].status == "paid"
    now = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert [t["name"] for t in now["tasks"]] == ["hand_over"]
    assert send(c, body, headers).json()["outcome"] == "duplicate"


def test_unknown_garbage_and_no_answer(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, _bill, first = pending_reference(c)
    _case, _bill, second = pending_reference(c)
    _case, _bill, third = pending_reference(c)
    provider.checkouts.pop(first)  # the provider has never heard of it: 404
    provider.statuses[second] = {"reference": "someone-else", "status": "paid"}  # an answer about another one
    provider.statuses[third] = "pending"
    done = round_at(c, 31)
    assert (done.asked, done.expired, done.failed, done.pending) == (3, 1, 1, 1)
    assert {r.reference: r.status for r in rows(c, Checkout)} == {first: "expired", second: "pending",
                                                                   third: "pending"}
    # A provider that answers 500 leaves everything for the next round.
    provider.replies.extend([(500, b"oops"), (500, b"oops")])
    done = round_at(c, 32)
    assert (done.asked, done.failed, done.paid, done.expired) == (2, 2, 0, 0)


def test_another_amount_at_the_provider_is_flagged_once_and_not_asked_again(
        shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    case, bill, reference = pending_reference(c)
    provider.statuses[reference] = {"reference": reference, "status": "paid", "amount": "15.00", "currency": "EGP"}
    done = round_at(c, 31)
    assert (done.paid, done.mismatch, done.failed) == (0, 1, 0)
    assert rows(c, Payment) == []
    assert [(cb.outcome, cb.amount) for cb in rows(c, GatewayCallback)] == [("mismatch", 1500)]
    assert rows(c, Checkout)[0].status == "mismatch"
    events = c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()
    flagged = [e for e in events if e["kind"] == "checkout_mismatch"]
    assert len(flagged) == 1 and flagged[0]["data"] == {
        "bill": bill["number"], "provider": "fake", "reference": reference, "amount": "150.00", "currency": "EGP",
        "provider_amount": "15.00", "provider_currency": "EGP", "via": "reconciliation"}
    # The next rounds (a retried round too) do not ask about it again, nor raise it again.
    for minutes in (32, 32, 60 * 24 * 30):
        assert round_at(c, minutes) == reconcile.Reconciled()
    assert len(asked(provider)) == 1
    # The provider's own callback saying the same again is recorded, and refused, but not raised again.
    body, headers = provider.callback(reference, amount="15.00")
    assert send(c, body, headers).status_code == 422
    events = c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()
    assert [e["kind"] for e in events].count("checkout_mismatch") == 1
    assert [cb.outcome for cb in rows(c, GatewayCallback)] == ["mismatch", "mismatch"]
    assert c.client.get(f"/api/cases/{bill['case_id']}/bills", headers=c.clerk).json()[0]["status"] == "open"
    # The supervisors of the center see it (the payments page's list), with what the provider said; another
    # center's do not.
    own = Actor("boss_a", frozenset({"supervisor"}), center_id=c.centers["CITY-A"])
    sibling = Actor("boss_b", frozenset({"supervisor"}), center_id=c.centers["CITY-B"])
    with session_for(c.api.settings.database_url) as session:
        [seen] = ledger.flagged_references(session=session, actor=own)
        assert (seen.reference, seen.bill, seen.amount, seen.said_amount, seen.said_currency) == (
            reference, bill["number"], 15000, 1500, "EGP")
        assert ledger.flagged_references(session=session, actor=sibling) == []
    # Its own amount, said at last, still pays it; then it is off the list.
    body, headers = provider.callback(reference)
    assert send(c, body, headers).json()["outcome"] == "paid"
    assert rows(c, Checkout)[0].status == "paid"
    with session_for(c.api.settings.database_url) as session:
        assert ledger.flagged_references(session=session, actor=own) == []
    with Session(engine_for(c.api.settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []
        assert replay_case(session=session, case_id=case["id"], settings=c.api.settings).divergence is None


def test_another_currency_at_the_provider_is_flagged_too(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, bill, reference = pending_reference(c)
    provider.statuses[reference] = {"reference": reference, "status": "paid", "amount": "150.00", "currency": "SAR"}
    assert round_at(c, 32).mismatch == 1 and rows(c, Payment) == []
    assert rows(c, Checkout)[0].status == "mismatch"
    assert c.client.get(f"/api/cases/{bill['case_id']}/bills", headers=c.clerk).json()[0]["status"] == "open"


def test_a_reference_pending_for_ever_expires_after_the_setting(both: Counter, provider: PaymentProvider) -> None:
    c = both
    days = c.api.settings.payment_reference_expire_days
    case, bill, reference = pending_reference(c)
    _case, _bill, silent = pending_reference(c)
    # Still pending the day before the limit: asked, left as it is.
    done = round_at(c, (days * 24 - 1) * 60)
    assert (done.asked, done.pending, done.expired) == (2, 2, 0)
    # Past it: the provider still says pending for one and answers nothing usable for the other; both expire.
    provider.replies.extend([(200, b""), (500, b"oops")])
    done = round_at(c, (days * 24 + 1) * 60)
    assert (done.asked, done.expired, done.pending, done.failed) == (2, 2, 0, 0)
    assert {r.reference: r.status for r in rows(c, Checkout)} == {reference: "expired", silent: "expired"}
    events = c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()
    [gone] = [e for e in events if e["kind"] == "checkout_expired"]
    assert gone["actor"] == reconcile.ACTOR
    assert gone["data"] == {"bill": bill["number"], "provider": "fake", "reference": reference,
                            "provider_status": "pending", "cause": "too_old", "after_days": days}
    assert c.client.get(f"/api/cases/{case['id']}/bills", headers=c.clerk).json()[0]["status"] == "open"
    # A round run again (a retried round) asks nothing and changes nothing.
    assert round_at(c, (days * 24 + 2) * 60) == reconcile.Reconciled()
    assert round_at(c, (days * 24 + 2) * 60) == reconcile.Reconciled()
    assert [cb.outcome for cb in rows(c, GatewayCallback)] == ["expired", "expired"]
    # The citizen did pay after all: the provider's callback is not lost, it pays the open bill.
    body, headers = provider.callback(reference)
    assert send(c, body, headers).json()["outcome"] == "paid"
    with Session(engine_for(c.api.settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []
        assert replay_case(session=session, case_id=case["id"], settings=c.api.settings).divergence is None


def test_the_expiry_days_are_a_setting_with_bounds() -> None:
    assert Settings(payment_reference_expire_days=2).payment_reference_expire_days == 2
    for wrong in (0, -1, 366):
        with pytest.raises(ValidationError):
            Settings(payment_reference_expire_days=wrong)


def test_the_callback_coming_while_the_round_asks_pays_once(shop: Counter, provider: PaymentProvider,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    c = shop
    _case, _bill, reference = pending_reference(c)
    provider.statuses[reference] = "paid"
    real = fake.FakeProvider.status

    def callback_first(self: fake.FakeProvider, ref: str) -> Any:
        body, headers = provider.callback(ref)
        assert send(c, body, headers).json()["outcome"] == "paid"
        return real(self, ref)

    monkeypatch.setattr(fake.FakeProvider, "status", callback_first)
    done = round_at(c, 31)
    assert (done.asked, done.paid) == (1, 0)
    assert len(rows(c, Payment)) == 1
    assert [cb.outcome for cb in rows(c, GatewayCallback)] == ["paid", "duplicate"]


def test_the_round_is_a_periodic_job(shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    _case, _bill, reference = pending_reference(c)
    provider.statuses[reference] = "cancelled"
    job = periodic.job("payment_reconciliation")
    with clock.frozen(datetime.now(UTC) + timedelta(minutes=31)):
        ran, result = periodic.run_round(job, c.api.settings)
    assert ran and result.expired == 1
    assert "1 expired" in job.says(result)
    assert rows(c, Checkout)[0].status == "expired"


def test_a_supervisor_of_the_center_takes_a_flagged_reference_off_the_list(
        shop: Counter, provider: PaymentProvider) -> None:
    c = shop
    case, bill, reference = pending_reference(c)
    body, headers = provider.callback(reference, amount="15.00")  # the provider says another amount was paid
    assert send(c, body, headers).status_code == 422
    [ref] = rows(c, Checkout)
    assert ref.status == "mismatch"
    sibling = c.api.user("supervisor", center_id=c.centers["CITY-B"])
    listed = c.client.get("/api/checkouts/flagged", headers=c.supervisor)
    assert listed.status_code == 200
    assert [(f["reference"], f["amount"], f["provider_amount"]) for f in listed.json()] == [
        (reference, "150.00", "15.00")]
    assert c.client.get("/api/checkouts/flagged", headers=sibling).json() == []
    assert c.client.get("/api/checkouts/flagged", headers=c.cashier).status_code == 403
    clear = f"/api/checkouts/{ref.id}/clear"
    said = {"reason": "the provider confirmed 15.00 was a test payment, refunded on their side"}
    for headers_, body_, status, message in (
            (sibling, said, 403, None), (c.cashier, said, 403, None), (c.supervisor, {"reason": "   "}, 422,
                                                                         "epay.reason_needed"),
            (c.supervisor, {}, 422, None)):
        r = c.client.post(clear, json=body_, headers=headers_)
        assert r.status_code == status, (headers_, body_, r.text)
        if message:
            assert r.json()["message_id"] == message
    assert c.client.post("/api/checkouts/2000000/clear", json=said, headers=c.supervisor).status_code == 404
    assert rows(c, Checkout)[0].status == "mismatch"  # nothing changed by the refusals
    done = c.client.post(clear, json=said, headers=c.supervisor)
    assert done.status_code == 200 and done.json()["status"] == "expired"
    again = c.client.post(clear, json=said, headers=c.supervisor)  # a retried request
    assert again.status_code == 409 and again.json()["message_id"] == "epay.not_flagged"
    assert c.client.get("/api/checkouts/flagged", headers=c.supervisor).json() == []
    events = c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()
    [cleared] = [e for e in events if e["kind"] == "mismatch_cleared"]
    assert cleared["data"]["reason"] == said["reason"] and cleared["data"]["reference"] == reference
    # Cleared is not lost: the provider paying the reference's own amount after all pays the bill.
    assert round_at(c, 60) == reconcile.Reconciled()  # an expired reference is not asked about
    body, headers = provider.callback(reference)
    assert send(c, body, headers).json()["outcome"] == "paid"
    assert c.client.get(f"/api/cases/{bill['case_id']}/bills", headers=c.clerk).json()[0]["status"] == "paid"
    with Session(engine_for(c.api.settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []
        assert replay_case(session=session, case_id=case["id"], settings=c.api.settings).divergence is None
