"""Payments at the center through the API: a bill issued by the diagram, paid at the counter in an open drawer,
the case moving on; and every way of trying to break it (another center, a non-cashier, a retried request,
amounts that are not amounts, a lapsed bill, a refund decided by the one who asked)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from engine.audit import ledger, verify
from engine.cases import timers
from engine.cases.replay import replay_case
from engine.core.errors import Conflict
from engine.core.settings import Settings
from engine.payments import drawer, pay
from engine.people.users import Actor, create_user
from harness.api import Api
from harness.settings import TEST_PROCESSES
from storage.db import engine_for, session_for
from storage.models.messages import OutboxMessage
from storage.models.payments import CashierEvent, CashierSession, Payment
from tests.support.cash_desk import Counter, _counter
from tests.support.concurrent import in_sessions_at_once


def test_a_bill_is_issued_paid_in_cash_and_the_case_moves_on(counter: Counter) -> None:
    case, bill = counter.billed_case(fee=150)
    assert case["tasks"] == []  # waiting for the payment, no one's task
    assert bill["status"] == "open" and bill["amount"] == "150.00" and bill["due"] == "150.00"
    assert bill["currency"] == "EGP" and bill["number"] == f"{case['tracking_number']}-1"
    assert bill["due_at"] is not None  # the boundary timer's due time: seven days on
    counter.open_drawer()
    r = counter.pay(bill["id"], "200")
    assert r.status_code == 201, r.text
    paid = r.json()
    assert paid["amount"] == "150.00" and paid["tendered"] == "200.00" and paid["change"] == "50.00"
    year = datetime.now(UTC).year
    assert paid["receipt_number"] == f"CITY-A-{year}-000001"
    now = counter.client.get(f"/api/cases/{case['id']}", headers=counter.clerk).json()
    assert [t["name"] for t in now["tasks"]] == ["hand_over"]
    kinds = [e["kind"] for e in counter.client.get(f"/api/cases/{case['id']}/events", headers=counter.clerk).json()]
    assert kinds[-2:] == ["payment_taken", "message_received"] and "bill_issued" in kinds
    assert counter.client.get(f"/api/cases/{case['id']}/bills", headers=counter.clerk).json()[0]["status"] == "paid"
    # The record holds: the case's chain, the drawer's chain, and a replay of the case reaches the same state.
    with Session(engine_for(counter.api.settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=counter.api.settings).findings == []
        assert replay_case(session=session, case_id=case["id"], settings=counter.api.settings).divergence is None
    # The public check of the receipt: no personal data.
    check = counter.client.get(f"/api/public/receipts/{paid['receipt_number']}")
    assert check.status_code == 200
    assert check.json() == {"number": paid["receipt_number"], "amount": "150.00", "currency": "EGP",
                            "date": check.json()["date"], "status": "valid"}


def test_a_free_request_issues_no_bill(sqlite_counter: Counter) -> None:
    case, bill = sqlite_counter.billed_case(fee=0)
    assert bill is None
    assert [t["name"] for t in case["tasks"]] == ["hand_over"]


def test_bill_items_make_the_amount(sqlite_counter: Counter) -> None:
    _case, bill = sqlite_counter.billed_case(fee=10, bill_items=[{"item": "review", "amount": 100.5},
                                                                  {"item": "stamp", "amount": 20}])
    assert bill["amount"] == "120.50"
    assert [i["amount"] for i in bill["items"]] == ["100.50", "20.00"]


def test_an_unpaid_bill_lapses_with_the_timer_and_cannot_be_paid(counter: Counter) -> None:
    c = counter
    case, bill = c.billed_case()
    settings: Settings = c.api.settings
    with Session(engine_for(settings.database_url)) as session:
        assert timers.tick(session=session, settings=settings, now=datetime.now(UTC) + timedelta(days=8)) == 1
    bills = c.client.get(f"/api/cases/{case['id']}/bills", headers=c.cashier).json()
    assert bills[0]["status"] == "lapsed" and bills[0]["due"] == "0.00"
    now = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert now["status"] == "completed" and now["outcome"] == "lapsed"
    c.open_drawer()
    r = c.pay(bill["id"], "150")
    assert r.status_code == 409 and "lapsed" in r.json()["detail"]
    with Session(engine_for(settings.database_url)) as session:
        assert session.exec(select(Payment)).all() == []  # nothing written, no receipt number used


def test_payment_outside_an_open_drawer_is_refused(sqlite_counter: Counter) -> None:
    _case, bill = sqlite_counter.billed_case()
    r = sqlite_counter.pay(bill["id"], "150")
    assert r.status_code == 409 and "drawer" in r.json()["detail"]
    opened = sqlite_counter.open_drawer()
    closed = sqlite_counter.client.post(f"/api/cashier/sessions/{opened['id']}/close",
                                        json={"counted": {"cash": "500"}}, headers=sqlite_counter.cashier)
    assert closed.status_code == 200, closed.text
    assert sqlite_counter.pay(bill["id"], "150").status_code == 409  # closed again: refused again


def test_who_may_take_a_payment(counter: Counter) -> None:
    c = counter
    _case, bill = c.billed_case()
    other_center = c.api.user("cashier", center_id=c.centers["CITY-B"])
    c.open_drawer(other_center)
    r = c.pay(bill["id"], "150", headers=other_center)
    assert r.status_code == 403  # a cashier of another center
    assert c.pay(bill["id"], "150", headers=c.clerk).status_code == 403  # not a cashier at all
    assert c.pay(bill["id"], "150", headers=c.supervisor).status_code == 403
    assert c.client.post("/api/cashier/sessions", json={"float": {"cash": "1"}},
                         headers=c.clerk).status_code == 403


@pytest.mark.parametrize("amount", [150, 150.0, "-150", "150.001", "1e3", "abc", "", "0", " ", "150,00",
                                    "99999999999999999999"])
def test_amounts_that_are_not_amounts_are_refused(sqlite_counter: Counter, amount: Any) -> None:
    _case, bill = sqlite_counter.billed_case()
    sqlite_counter.open_drawer()
    r = sqlite_counter.pay(bill["id"], amount)
    assert r.status_code == 422, r.text
    assert sqlite_counter.client.get(f"/api/cases/{bill['case_id']}/bills",
                                     headers=sqlite_counter.cashier).json()[0]["status"] == "open"


def test_wrong_amounts(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    _case, bill = c.billed_case(fee=150)
    c.open_drawer()
    short = c.pay(bill["id"], "100")
    assert short.status_code == 422 and "part" in short.text  # no part payments for this service
    card_over = c.pay(bill["id"], "200", method="card", reference="T-1")
    assert card_over.status_code == 422  # only cash gives change
    no_ref = c.pay(bill["id"], "150", method="card")
    assert no_ref.status_code == 422 and "reference" in no_ref.text
    arabic = c.pay(bill["id"], "١٥٠٫٠٠", method="card", reference="T-2")
    assert arabic.status_code == 201, arabic.text
    assert arabic.json()["amount"] == "150.00" and arabic.json()["change"] == "0.00"


def test_paying_twice_and_a_retried_request(counter: Counter) -> None:
    c = counter
    _case, bill = c.billed_case()
    c.open_drawer()
    key = {"Idempotency-Key": "pay-once-1"}
    first = c.client.post(f"/api/bills/{bill['id']}/payments", json={"method": "cash", "amount": "150"},
                          headers={**c.cashier, **key})
    again = c.client.post(f"/api/bills/{bill['id']}/payments", json={"method": "cash", "amount": "150"},
                          headers={**c.cashier, **key})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["receipt_number"] == first.json()["receipt_number"]
    twice = c.pay(bill["id"], "150")  # a new request for a paid bill
    assert twice.status_code == 409 and "already paid" in twice.json()["detail"]
    with Session(engine_for(c.api.settings.database_url)) as session:
        assert len(session.exec(select(Payment)).all()) == 1


def test_drawer_close_counts_and_a_supervisor_acknowledges_the_difference(counter: Counter) -> None:
    c = counter
    drawer = c.open_drawer(cash="500")
    assert c.client.post("/api/cashier/sessions", json={"float": {"cash": "1"}},
                         headers=c.cashier).status_code == 409  # one open drawer per cashier
    for _ in range(2):
        _case, bill = c.billed_case(fee=150)
        assert c.pay(bill["id"], "200").status_code == 201
    _case, bill = c.billed_case(fee=75)
    assert c.pay(bill["id"], "75", method="card", reference="T-9").status_code == 201
    other = c.api.user("cashier", center_id=c.centers["CITY-A"])
    assert c.client.post(f"/api/cashier/sessions/{drawer['id']}/close", json={"counted": {"cash": "800"}},
                         headers=other).status_code == 403  # only its own cashier closes a drawer
    r = c.client.post(f"/api/cashier/sessions/{drawer['id']}/close",
                      json={"counted": {"cash": "790", "card": "75"}}, headers=c.cashier)
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["expected"] == {"cash": "800.00", "card": "75.00", "e_payment": "0.00"}
    assert closed["difference"] == {"cash": "-10.00", "card": "0.00", "e_payment": "0.00"}
    ack = f"/api/cashier/sessions/{drawer['id']}/acknowledge"
    other_center = c.api.user("supervisor", center_id=c.centers["CITY-B"])
    assert c.client.post(ack, json={"reason": "coins"}, headers=other_center).status_code == 403
    assert c.client.post(ack, json={"reason": "coins"}, headers=c.cashier).status_code == 403
    done = c.client.post(ack, json={"reason": "a 10 pound note given as change twice"}, headers=c.supervisor)
    assert done.status_code == 200 and done.json()["acknowledged_by"]
    assert c.client.post(ack, json={"reason": "again"}, headers=c.supervisor).status_code == 409
    with Session(engine_for(c.api.settings.database_url)) as session:
        kinds = [e.kind for e in session.exec(select(CashierEvent).order_by(CashierEvent.seq)).all()]
        assert kinds == ["drawer_opened", "payment_taken", "payment_taken", "payment_taken", "drawer_closed",
                         "difference_acknowledged"]
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []


def test_a_refund_needs_two_people_of_the_center_and_reverses_the_payment(counter: Counter) -> None:
    c = counter
    case, bill = c.billed_case()
    c.open_drawer()
    receipt = c.pay(bill["id"], "150").json()["receipt_number"]
    assert c.client.post(f"/api/bills/{bill['id']}/refunds", json={"reason": "   "},
                         headers=c.cashier).status_code == 422
    asked = c.client.post(f"/api/bills/{bill['id']}/refunds", json={"reason": "paid twice at the bank"},
                          headers=c.cashier)
    assert asked.status_code == 201, asked.text
    refund = asked.json()
    assert c.client.post(f"/api/bills/{bill['id']}/refunds", json={"reason": "again"},
                         headers=c.cashier).status_code == 409
    approve = f"/api/refunds/{refund['id']}/approve"
    # The one who asked, as a supervisor too, cannot approve their own request.
    both = c.api.user("cashier", "supervisor", center_id=c.centers["CITY-A"])
    asked_by_both = c.billed_case()[1]
    c.open_drawer(both)
    assert c.pay(asked_by_both["id"], "150", headers=both).status_code == 201
    own = c.client.post(f"/api/bills/{asked_by_both['id']}/refunds", json={"reason": "mistake"}, headers=both).json()
    assert c.client.post(f"/api/refunds/{own['id']}/approve", json={}, headers=both).status_code == 403
    # A supervisor of another center, a cashier: refused. The center's supervisor approves.
    sibling = c.api.user("supervisor", center_id=c.centers["CITY-B"])
    assert c.client.post(approve, json={}, headers=sibling).status_code == 403
    assert c.client.post(approve, json={}, headers=c.cashier).status_code == 403
    ok = c.client.post(approve, json={"reason": "checked with the bank"}, headers=c.supervisor)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    assert c.client.post(approve, json={}, headers=c.supervisor).status_code == 409
    assert c.client.post(f"/api/refunds/{refund['id']}/refuse", json={"reason": "x"},
                         headers=c.supervisor).status_code == 409
    check = c.client.get(f"/api/public/receipts/{receipt}").json()
    assert check["status"] == "refunded"
    with Session(engine_for(c.api.settings.database_url)) as session:
        rows = session.exec(select(Payment).where(Payment.bill_id == bill["id"]).order_by(Payment.id)).all()
        assert [(p.kind, p.amount) for p in rows] == [("payment", 15000), ("refund", -15000)]  # reversed, kept
        told = session.exec(select(OutboxMessage).where(OutboxMessage.case_id == case["id"],
                                                        OutboxMessage.stage == "refunded")).all()
        assert told and "150.00" in told[0].body
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []
    kinds = [e["kind"] for e in c.client.get(f"/api/cases/{case['id']}/events", headers=c.clerk).json()]
    assert "refund_requested" in kinds and "refund_approved" in kinds


def test_a_refusal_needs_a_reason_and_leaves_the_payment(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    _case, bill = c.billed_case()
    c.open_drawer()
    receipt = c.pay(bill["id"], "150").json()["receipt_number"]
    refund = c.client.post(f"/api/bills/{bill['id']}/refunds", json={"reason": "asked"}, headers=c.cashier).json()
    refuse = f"/api/refunds/{refund['id']}/refuse"
    assert c.client.post(refuse, json={}, headers=c.supervisor).status_code == 422
    assert c.client.post(refuse, json={"reason": "no proof"}, headers=c.supervisor).json()["status"] == "refused"
    assert c.client.get(f"/api/public/receipts/{receipt}").json()["status"] == "valid"


def test_the_public_receipt_check_counts_wrong_numbers(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    limit = c.api.settings.public_track_max_failures_per_address
    codes = [c.client.get(f"/api/public/receipts/CITY-A-2026-{n:06d}").status_code for n in range(limit + 1)]
    assert codes[:limit] == [404] * limit and codes[-1] == 429


def test_collections_add_up_to_payments_minus_refunds(counter: Counter) -> None:
    c = counter
    c.open_drawer()
    bills = [c.billed_case(fee=fee)[1] for fee in (100, 250)]
    for bill in bills:
        assert c.pay(bill["id"], text_of(bill)).status_code == 201
    refund = c.client.post(f"/api/bills/{bills[0]['id']}/refunds", json={"reason": "r"}, headers=c.cashier).json()
    assert c.client.post(f"/api/refunds/{refund['id']}/approve", json={}, headers=c.supervisor).status_code == 200
    today = datetime.now(UTC).date()
    span = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    for by in ("day", "service", "method", "cashier", "center"):
        rows = c.client.get("/api/reports/collections", params={**span, "by": by}, headers=c.supervisor).json()
        assert sum(float(r["net"]) for r in rows) == 250.0, (by, rows)
        assert sum(float(r["payments"]) for r in rows) == 350.0
    assert c.client.get("/api/reports/collections", params=span, headers=c.cashier).status_code == 403
    sibling = c.api.user("supervisor", center_id=c.centers["CITY-B"])
    assert c.client.get("/api/reports/collections", params=span, headers=sibling).json() == []


def test_the_collections_report_keeps_the_reports_rules_of_days(sqlite_counter: Counter) -> None:
    """The grouped collections report takes the days as the other reports do (engine/reports/scope.py): far days
    are a 422 naming the field, not a 500 past the calendar's end; a reversed or too long range a 422."""
    c = sqlite_counter
    for span in ({"from": "0001-01-01", "to": "9999-12-31"}, {"from": "2026-01-01", "to": "9999-12-31"},
                 {"from": "2026-01-02", "to": "2026-01-01"}, {"from": "2020-01-01", "to": "2026-01-01"}):
        r = c.client.get("/api/reports/collections", params=span, headers=c.supervisor)
        assert r.status_code == 422, (span, r.status_code, r.text)


def text_of(bill: dict[str, Any]) -> str:
    return str(bill["amount"])


@pytest.fixture
def eight(settings: Settings) -> Iterator[Counter]:
    with TestClient(create_app(settings)) as client:
        yield _counter(Api(client, settings))


def test_eight_cashiers_paying_at_once_get_contiguous_receipts(eight: Counter) -> None:
    """Eight cashiers of one center pay eight bills at the same moment, each in their own session and thread:
    the receipt numbers are 1..8 of the center and year, no gap, no duplicate (PostgreSQL and SQLite)."""
    c = eight
    settings: Settings = c.api.settings
    cashiers = []
    with Session(engine_for(settings.database_url)) as session:
        for n in range(8):
            user = create_user(session=session, username=f"cashier{n}", password="correct horse",
                               full_name=f"Cashier {n}", roles=["cashier"], settings=settings,
                               center_id=c.centers["CITY-A"])
            cashiers.append(Actor(user.username, frozenset(user.roles), user.full_name, user.center_id))
    for actor in cashiers:
        with session_for(settings.database_url) as session:
            drawer.open_session(session=session, actor=actor, opening={"cash": "0"}, settings=settings)
    bills = [c.billed_case(fee=10 + n)[1] for n in range(8)]
    results, errors = in_sessions_at_once(settings.database_url, [
        (lambda s, a=actor, b=bill: pay.pay(session=s, bill_id=b["id"], method="cash", amount=b["amount"],
                                            reference=None, actor=a, settings=settings).payment.receipt_number)
        for actor, bill in zip(cashiers, bills, strict=True)])
    assert errors == []
    year = datetime.now(UTC).year
    assert sorted(results) == [f"CITY-A-{year}-{n:06d}" for n in range(1, 9)]
    for bill in bills:
        assert c.client.get(f"/api/cases/{bill['case_id']}/bills", headers=c.cashier).json()[0]["status"] == "paid"


def test_verify_finds_an_altered_drawer_record(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    c.cash_payment()
    settings: Settings = c.api.settings
    with Session(engine_for(settings.database_url)) as session:
        event = session.exec(select(CashierEvent).where(CashierEvent.kind == "payment_taken")).one()
        event.data = {**event.data, "amount": "15.00"}  # someone lowers what the drawer took
        session.add(event)
        session.commit()
        found = verify.verify_all(session=session, settings=settings).findings
    assert [f.kind for f in found] == ["drawer_altered"]
    assert "event 2" in found[0].reason


def test_a_cancelled_case_voids_its_bill(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    case, bill = c.billed_case()
    r = c.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "the citizen withdrew"},
                      headers=c.supervisor)
    assert r.status_code == 200, r.text
    assert c.client.get(f"/api/cases/{case['id']}/bills", headers=c.cashier).json()[0]["status"] == "lapsed"
    c.open_drawer()
    assert c.pay(bill["id"], "150").status_code == 409


def test_a_retried_drawer_opening_opens_one_drawer(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    key = {"Idempotency-Key": "open-drawer-1"}
    first = c.client.post("/api/cashier/sessions", json={"float": {"cash": "100"}}, headers={**c.cashier, **key})
    again = c.client.post("/api/cashier/sessions", json={"float": {"cash": "100"}}, headers={**c.cashier, **key})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert first.json()["float"] == {"cash": "100.00", "card": "0.00", "e_payment": "0.00"}
    assert c.client.post("/api/cashier/sessions", json={"float": {"cash": "-1"}}, headers=c.cashier).status_code == 422
    assert c.client.post("/api/cashier/sessions", json={"float": {"gold": "1"}}, headers=c.cashier).status_code == 422


def test_a_service_that_takes_part_payments(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    c.take_part_payments()
    case, bill = c.billed_case(fee=150)
    assert bill["partial_allowed"] is True
    c.open_drawer()
    first = c.pay(bill["id"], "100")
    assert first.status_code == 201 and first.json()["bill_status"] == "open"
    now = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert now["tasks"] == []  # still waiting: the message goes with the payment that settles the bill
    assert c.client.get(f"/api/cases/{case['id']}/bills", headers=c.cashier).json()[0]["due"] == "50.00"
    assert c.pay(bill["id"], "60", method="card", reference="T-3").status_code == 422  # more than due by card
    last = c.pay(bill["id"], "60")
    assert last.status_code == 201 and last.json()["change"] == "10.00" and last.json()["bill_status"] == "paid"
    assert int(last.json()["receipt_number"][-6:]) == int(first.json()["receipt_number"][-6:]) + 1
    now = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert [t["name"] for t in now["tasks"]] == ["hand_over"]
    # Two payments on the bill: a refund must name the one it gives back.
    r = c.client.post(f"/api/bills/{bill['id']}/refunds", json={"reason": "r"}, headers=c.cashier)
    assert r.status_code == 422 and "payment_id" in r.text
    assert c.client.post(f"/api/bills/{bill['id']}/refunds", json={"reason": "r", "payment_id": first.json()["id"]},
                         headers=c.cashier).status_code == 201


def test_cashiers_paying_one_bill_at_once_take_it_once(eight: Counter) -> None:
    """Four cashiers pay the same bill at the same moment: one payment, one receipt; the others are told it
    is already paid (409), and no receipt number is used up by them."""
    c = eight
    settings: Settings = c.api.settings
    cashiers = [Actor(f"rush{n}", frozenset({"cashier"}), "", c.centers["CITY-A"]) for n in range(4)]
    for actor in cashiers:
        with session_for(settings.database_url) as session:
            drawer.open_session(session=session, actor=actor, opening={"cash": "0"}, settings=settings)
    _case, bill = c.billed_case(fee=40)
    paid, refused = in_sessions_at_once(settings.database_url, [
        (lambda s, a=actor: pay.pay(session=s, bill_id=bill["id"], method="cash", amount="40", reference=None,
                                    actor=a, settings=settings).payment.receipt_number) for actor in cashiers])
    year = datetime.now(UTC).year
    assert paid == [f"CITY-A-{year}-000001"]
    assert [(type(e), getattr(e, "message_id", e)) for e in refused] == [(Conflict, "bill.already_paid")] * 3
    _case, second = c.billed_case(fee=40)
    assert c.open_drawer()["status"] == "open"
    assert c.pay(second["id"], "40").json()["receipt_number"] == f"CITY-A-{year}-000002"  # no gap


def test_the_ledger_seals_the_drawers(counter: Counter) -> None:
    """A drawer's last events removed together with its head leave a valid chain; the seal still finds it."""
    c = counter
    c.cash_payment()
    settings: Settings = c.api.settings
    with Session(engine_for(settings.database_url)) as session:
        ledger.seal(session=session, settings=settings)
        assert verify.verify_all(session=session, settings=settings).findings == []
        taken = session.exec(select(CashierEvent).where(CashierEvent.kind == "payment_taken")).one()
        opened = session.exec(select(CashierEvent).where(CashierEvent.kind == "drawer_opened")).one()
        drawer_row = session.get(CashierSession, taken.session_id)
        assert drawer_row is not None
        drawer_row.audit_seq, drawer_row.audit_head = 1, opened.hash  # the payment's record rolled back
        session.add(drawer_row)
        session.delete(taken)
        session.commit()
        found = verify.verify_all(session=session, settings=settings).findings
    assert [(f.kind, "sealed in seal 1 at event 2" in f.reason) for f in found] == [("drawer_altered", True)]


def test_the_public_receipt_check_reads_arabic_digits_and_refuses_long_numbers(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    _case, bill = c.billed_case()
    c.open_drawer()
    number = c.pay(bill["id"], "150").json()["receipt_number"]
    arabic = number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")).lower()
    assert c.client.get(f"/api/public/receipts/{arabic}").json()["number"] == number
    assert c.client.get(f"/api/public/receipts/{'9' * 41}").status_code == 422


def test_a_message_intermediate_catch_event(sqlite_counter: Counter) -> None:
    """The other way to draw the wait: a message intermediate catch event in the flow. The bill takes the
    diagram's bill_items (numbers or numeric strings), no due date without a timer; paying moves the case on."""
    c = sqlite_counter
    assert c.api.deploy(TEST_PROCESSES / "pay_catch_event", c.api.user("analyst")).status_code == 201
    opener = c.api.user("front_desk", "admin", center_id=c.centers["CITY-A"])
    case = c.api.open_case("pay_catch_event", opener).json()
    assert case["tasks"] == []
    [bill] = c.client.get(f"/api/cases/{case['id']}/bills", headers=c.cashier).json()
    assert (bill["amount"], bill["currency"], bill["due_at"]) == ("19.75", "SAR", None)
    assert [(i["item"], i["amount"]) for i in bill["items"]] == [("stamp", "12.50"), ("copy", "7.25")]
    c.open_drawer()
    assert c.pay(bill["id"], "19.75").status_code == 201
    after = c.client.get(f"/api/cases/{case['id']}", headers=c.clerk).json()
    assert [t["name"] for t in after["tasks"]] == ["hand_over"]
    with Session(engine_for(c.api.settings.database_url)) as session:
        assert replay_case(session=session, case_id=case["id"], settings=c.api.settings).divergence is None


def test_the_citizen_is_not_told_a_billed_fee_was_paid_at_registration(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    case, _bill = c.billed_case(fee=150)
    with Session(engine_for(c.api.settings.database_url)) as session:
        [received] = session.exec(select(OutboxMessage).where(OutboxMessage.case_id == case["id"],
                                                              OutboxMessage.stage == "received")).all()
    assert case["tracking_number"] in received.body and "الرسوم" not in received.body and "150" not in received.body
