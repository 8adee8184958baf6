"""Paying a case's bill from a test that drives the engine directly: a cashier (an actor, no account needed)
opens a drawer if they have none and pays the open bill in cash, exactly."""

from __future__ import annotations

from sqlmodel import Session

from engine.cases import bills
from engine.core.amounts import text
from engine.core.settings import Settings
from engine.payments import drawer, pay
from engine.people.users import Actor

CASHIER = Actor("cashier_t", frozenset({"cashier"}), "Cashier")


def pay_bill(session: Session, settings: Settings, case_id: int | None, cashier: Actor = CASHIER) -> str:
    """Pay the case's open bill; returns the receipt number."""
    assert case_id is not None
    if drawer.open_of(session, cashier.username, settings) is None:
        session.rollback()
        drawer.open_session(session=session, actor=cashier, opening={"cash": "0"}, settings=settings)
    bill = next(b for b in bills.of_case(session, case_id) if b.status == "open")
    assert bill.id is not None
    paid = pay.pay(session=session, bill_id=bill.id, method="cash", amount=text(bill.amount), reference=None,
                   actor=cashier, settings=settings)
    assert paid.payment.receipt_number is not None
    return paid.payment.receipt_number
