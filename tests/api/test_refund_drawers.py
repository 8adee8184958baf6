"""Refunds against the drawers, from the side of someone trying to get money out the wrong way: a cashier of
another drawer or another center asking, a refund after the drawer that took the money closed, a refund asked
twice or retried, more than was paid, an amount that is not an amount."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from engine.audit import verify
from engine.core.errors import Conflict
from engine.core.settings import Settings
from engine.payments import drawer, refunds
from engine.people.users import Actor, create_user
from storage.db import engine_for
from storage.models.payments import CashierEvent, CashierSession, Payment, Refund
from tests.support.cash_desk import Counter
from tests.support.concurrent import in_sessions_at_once


def ask(c: Counter, bill: dict[str, Any], headers: dict[str, str], **body: Any) -> Any:
    return c.client.post(f"/api/bills/{bill['id']}/refunds", json={"reason": "paid twice", **body}, headers=headers)


def approve(c: Counter, refund: dict[str, Any]) -> Any:
    return c.client.post(f"/api/refunds/{refund['id']}/approve", json={}, headers=c.supervisor)


def drawer_events(c: Counter, drawer_id: int) -> list[CashierEvent]:
    with Session(engine_for(c.api.settings.database_url)) as session:
        return list(session.exec(select(CashierEvent).where(CashierEvent.session_id == drawer_id)
                                 .order_by(CashierEvent.seq)).all())


def test_a_refund_is_charged_to_the_drawer_that_took_the_payment(counter: Counter) -> None:
    c = counter
    first = c.open_drawer(cash="500")
    _case, bill = c.billed_case(fee=150)
    paid = c.pay(bill["id"], "200").json()  # 50 of change: the drawer holds 150 more
    other = c.api.user("cashier", center_id=c.centers["CITY-A"])
    second = c.open_drawer(other, cash="100")
    # A cashier of another center may not even ask.
    stranger = c.api.user("cashier", center_id=c.centers["CITY-B"])
    assert ask(c, bill, stranger).status_code == 403
    # The other drawer's cashier asks; the refund is charged to the drawer that took the money, not theirs.
    asked = ask(c, bill, other)
    assert asked.status_code == 201, asked.text
    assert asked.json()["amount"] == "150.00"  # what was paid, not what was tendered
    assert approve(c, asked.json()).status_code == 200
    with Session(engine_for(c.api.settings.database_url)) as session:
        reversal = session.exec(select(Payment).where(Payment.kind == "refund")).one()
        assert (reversal.session_id, reversal.cashier, reversal.amount) == (first["id"], paid["cashier"], -15000)
    mine = c.client.post(f"/api/cashier/sessions/{second['id']}/close", json={"counted": {"cash": "100"}},
                         headers=other).json()
    assert mine["expected"]["cash"] == "100.00" and mine["difference"]["cash"] == "0.00"
    theirs = c.client.post(f"/api/cashier/sessions/{first['id']}/close", json={"counted": {"cash": "500"}},
                           headers=c.cashier).json()
    assert theirs["expected"]["cash"] == "500.00" and theirs["difference"]["cash"] == "0.00"
    paid_back = [e for e in drawer_events(c, first["id"]) if e.kind == "refund_paid"]
    assert len(paid_back) == 1 and paid_back[0].data["after_close"] is False
    assert paid_back[0].data["amount"] == "150.00"
    assert [e.kind for e in drawer_events(c, second["id"])] == ["drawer_opened", "drawer_closed"]
    # The export puts the refund on the line of the drawer that took the payment; the lines add up.
    lines = c.client.get("/api/reports/collections.csv", headers=c.supervisor).content.decode("utf-8-sig")
    drawer_line = next(line for line in lines.splitlines() if line.split(",")[2] == str(first["id"]))
    assert drawer_line.split(",")[-3:] == ["150.00", "150.00", "0.00"]
    with Session(engine_for(c.api.settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []


def test_a_refund_after_the_drawer_closed_leaves_its_count(sqlite_counter: Counter) -> None:
    c = sqlite_counter
    first = c.open_drawer(cash="0")
    _case, bill = c.billed_case(fee=150)
    assert c.pay(bill["id"], "150").status_code == 201
    closed = c.client.post(f"/api/cashier/sessions/{first['id']}/close", json={"counted": {"cash": "150"}},
                           headers=c.cashier).json()
    next_shift = c.open_drawer(cash="300")
    asked = ask(c, bill, c.cashier)
    assert asked.status_code == 201 and approve(c, asked.json()).status_code == 200
    with Session(engine_for(c.api.settings.database_url)) as session:
        drawer = session.get(CashierSession, first["id"])
        assert drawer is not None and drawer.status == "closed"
        assert (drawer.expected or {})["cash"] == 15000 and (drawer.difference or {})["cash"] == 0
        assert session.exec(select(Payment).where(Payment.kind == "refund")).one().session_id == first["id"]
        assert verify.verify_all(session=session, settings=c.api.settings).findings == []
    assert closed["difference"]["cash"] == "0.00"
    paid_back = [e for e in drawer_events(c, first["id"]) if e.kind == "refund_paid"]
    assert len(paid_back) == 1 and paid_back[0].data["after_close"] is True
    # The cashier's new drawer is not where the money came from.
    now = c.client.post(f"/api/cashier/sessions/{next_shift['id']}/close", json={"counted": {"cash": "300"}},
                        headers=c.cashier).json()
    assert now["expected"]["cash"] == "300.00"


def test_a_retried_refund_and_one_larger_than_paid(counter: Counter) -> None:
    c = counter
    c.open_drawer()
    _case, bill = c.billed_case(fee=150)
    receipt = c.pay(bill["id"], "150").json()["receipt_number"]
    for amount, why in (("200", "refund.too_much"), ("150.01", "refund.too_much"), ("-5", "payment.invalid_amount"),
                        ("0", "payment.invalid_amount"), ("abc", "payment.invalid_amount")):
        r = ask(c, bill, c.cashier, amount=amount)
        assert r.status_code == 422 and r.json()["message_id"] == why, (amount, r.text)
    assert ask(c, bill, c.cashier, amount=150).status_code == 422  # a JSON number is not an amount
    # A part, in Arabic digits; asked again (a double click, a retried request) it is refused, not asked twice.
    key = {"Idempotency-Key": "refund-once-1"}
    part = ask(c, bill, {**c.cashier, **key}, amount="٥٠")
    assert part.status_code == 201 and part.json()["amount"] == "50.00"
    replayed = ask(c, bill, {**c.cashier, **key}, amount="٥٠")
    assert replayed.status_code == 201 and replayed.json()["id"] == part.json()["id"]
    again = ask(c, bill, c.cashier, amount="50")
    assert again.status_code == 409 and again.json()["message_id"] == "refund.already_requested"
    assert approve(c, part.json()).status_code == 200
    assert c.client.get(f"/api/public/receipts/{receipt}").json()["status"] == "partly_refunded"
    assert _refunded_on_paper(c, bill) == 5000  # the printed receipt says a part, as the public check does
    [after] = c.client.get(f"/api/cases/{bill['case_id']}/bills", headers=c.cashier).json()
    assert (after["status"], after["paid"]) == ("paid", "100.00")
    # What is left is 100: more is refused; the rest (no amount: all that is left) goes.
    over = ask(c, bill, c.cashier, amount="100.50")
    assert over.status_code == 422 and over.json()["message_id"] == "refund.too_much"
    assert "100.00" in over.text
    rest = ask(c, bill, c.cashier)
    assert rest.status_code == 201 and rest.json()["amount"] == "100.00"
    assert approve(c, rest.json()).status_code == 200
    assert c.client.get(f"/api/public/receipts/{receipt}").json()["status"] == "refunded"
    assert _refunded_on_paper(c, bill) == 15000
    done = ask(c, bill, c.cashier)
    assert done.status_code == 409 and done.json()["message_id"] == "refund.already_refunded"
    with Session(engine_for(c.api.settings.database_url)) as session:
        amounts = [p.amount for p in session.exec(select(Payment).where(Payment.bill_id == bill["id"])).all()]
        assert sorted(amounts) == [-10000, -5000, 15000] and sum(amounts) == 0
        assert len(session.exec(select(Refund)).all()) == 2


def test_refunds_asked_and_approved_at_the_same_moment_give_back_once(counter: Counter) -> None:
    """Four cashiers ask to refund one payment at the same moment, then two supervisors approve it at the same
    moment and the drawer's cashier closes it meanwhile: one request, one reversal, and a drawer whose count
    holds what it should (PostgreSQL and SQLite)."""
    c = counter
    settings: Settings = c.api.settings
    opened = c.open_drawer(cash="0")
    _case, bill = c.billed_case(fee=150)
    paid = c.pay(bill["id"], "150").json()
    center = c.centers["CITY-A"]
    with Session(engine_for(settings.database_url)) as session:
        people = [create_user(session=session, username=f"refund_rush{n}", password="correct horse",
                              full_name=f"R {n}", roles=["cashier"], settings=settings, center_id=center)
                  for n in range(4)]
        bosses = [create_user(session=session, username=f"refund_boss{n}", password="correct horse",
                              full_name=f"B {n}", roles=["supervisor"], settings=settings, center_id=center)
                  for n in range(2)]
        cashiers = [Actor(u.username, frozenset(u.roles), u.full_name, u.center_id) for u in people]
        supervisors = [Actor(u.username, frozenset(u.roles), u.full_name, u.center_id) for u in bosses]

    asked, refused = in_sessions_at_once(settings.database_url, [
        (lambda s, a=actor: refunds.request(session=s, bill_id=bill["id"], reason="paid twice", actor=a,
                                            settings=settings)) for actor in cashiers])
    assert len(asked) == 1 and len(refused) == 3
    assert all(isinstance(e, Conflict) and e.message_id == "refund.already_requested" for e in refused), refused
    refund_id = asked[0].id
    cashier = Actor(paid["cashier"], frozenset({"cashier"}), "", center)
    decided, lost = in_sessions_at_once(
        settings.database_url,
        [(lambda s, a=boss: refunds.decide(session=s, refund_id=refund_id, approve=True, reason=None, actor=a,
                                           settings=settings)) for boss in supervisors]
        + [lambda s: drawer.close(session=s, session_id=opened["id"], counted={"cash": "0"}, actor=cashier,
                                  settings=settings)])
    assert len(decided) == 2 and len(lost) == 1  # one approval, the close; the other approval is told
    assert isinstance(lost[0], Conflict) and lost[0].message_id == "refund.already_decided"
    with Session(engine_for(settings.database_url)) as session:
        reversals = session.exec(select(Payment).where(Payment.kind == "refund")).all()
        assert [r.amount for r in reversals] == [-15000]
        closed = session.get(CashierSession, opened["id"])
        assert closed is not None and closed.status == "closed"
        [paid_back] = [e for e in session.exec(select(CashierEvent).where(
            CashierEvent.session_id == opened["id"])).all() if e.kind == "refund_paid"]
        # Whichever came first, the count agrees with it: refunded before the close, the drawer expected 0 and
        # 0 was counted; after it, the close expected 150, and the refund is on the record as after the close.
        expected_cash = (closed.expected or {})["cash"]
        assert (expected_cash, paid_back.data["after_close"]) in ((0, False), (15000, True))
        assert verify.verify_all(session=session, settings=settings).findings == []


def _refunded_on_paper(c: Counter, bill: dict[str, Any]) -> int:
    """What the receipt (printed and on the desk's page) says was given back of the bill's payment."""
    from engine.payments import ledger

    with Session(engine_for(c.api.settings.database_url)) as session:
        payment = session.exec(select(Payment).where(Payment.bill_id == bill["id"], Payment.kind == "payment")).one()
        assert payment.id is not None
        return ledger.payment_of_case(session, bill["case_id"], payment.id)[1]
