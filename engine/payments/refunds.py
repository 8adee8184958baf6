"""Refunds take two people: a cashier asks, with a reason; a supervisor of the bill's center (never the one who
asked) approves or refuses. An approved refund reverses the payment with a ledger row of its own (a negative
``payment`` of kind ``refund``): nothing is edited or deleted. Every step is on the case's chain, and the
citizen is told of an approved refund through the outbox (engine/messages/outbox.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from engine.cases import workflows
from engine.catalog import processes
from engine.core import clock
from engine.core.amounts import text
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.messages import outbox
from engine.payments.pay import bill_for, lock_case
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.base import tables
from storage.models.payments import Bill, Payment, Refund

_BILLS, _REFUNDS = tables(Bill, Refund)


def _reason(reason: str) -> str:
    clean = (reason or "").strip()
    if not clean:
        raise Invalid("refund.reason_needed", [problem("reason", "refund.reason_needed")])
    return clean


def request(*, session: Session, bill_id: int, reason: str, actor: Actor, settings: Settings,
            payment_id: int | None = None) -> Refund:
    """A cashier of the bill's center asks to give back a payment of the bill (its only one when not named)."""
    bill = bill_for(session, bill_id, actor, settings, "cashier.work")
    why = _reason(reason)
    now = clock.now()
    with write_lock(session):
        case = lock_case(session, bill.case_id)
        paid = [p for p in session.execute(select(Payment).where(col(Payment.bill_id) == bill_id,
                                                                 col(Payment.kind) == "payment")
                                           .order_by(col(Payment.id))).scalars().all()
                if payment_id is None or p.id == payment_id]
        taken = set(session.execute(select(Refund.payment_id).where(  # type: ignore[call-overload]
            col(Refund.bill_id) == bill_id, col(Refund.status).in_(("requested", "approved")))).scalars().all())
        free = [p for p in paid if p.id not in taken]
        if not free:
            session.rollback()
            raise Conflict("refund.nothing_to_refund" if not paid else "refund.already_requested",
                           number=bill.number)
        if len(free) > 1:
            session.rollback()
            raise Invalid("refund.which_payment", [problem("payment_id", "refund.which_payment")])
        payment = free[0]
        assert payment.id is not None
        refund = Refund(payment_id=payment.id, bill_id=bill_id, case_id=bill.case_id, center_id=bill.center_id,
                        amount=payment.amount, reason=why, status="requested", requested_by=actor.username,
                        requested_at=now)
        session.add(refund)
        session.flush()
        workflows.append_to_chain(session, case, actor=actor.username, events=[("refund_requested", None, {
            "refund_id": refund.id, "bill": bill.number, "receipt_number": payment.receipt_number,
            "amount": text(payment.amount), "currency": payment.currency, "reason": why})])
        workflows.commit_or_conflict(session)
    return refund


def get(session: Session, refund_id: int, actor: Actor, settings: Settings) -> Refund:
    policy.require(actor, "payments.supervise", settings)
    refund = session.get(Refund, refund_id, populate_existing=True)
    if refund is None:
        raise NotFound("refund.not_found", refund_id=refund_id)
    policy.require_center(session, actor, refund.center_id)
    return refund


def decide(*, session: Session, refund_id: int, approve: bool, reason: str | None, actor: Actor,
           settings: Settings) -> Refund:
    """A supervisor of the bill's center approves (the payment is reversed, the citizen told) or refuses."""
    refund = get(session, refund_id, actor, settings)
    if refund.requested_by == actor.username:
        raise Forbidden("refund.same_person")
    why = (reason or "").strip() or None
    if not approve and why is None:
        raise Invalid("refund.reason_needed", [problem("reason", "refund.reason_needed")])
    now = clock.now()
    with write_lock(session):
        case = lock_case(session, refund.case_id)
        refund = session.execute(select(Refund).where(col(Refund.id) == refund_id).with_for_update()
                                 .execution_options(populate_existing=True)).scalars().one()
        if refund.status != "requested":
            session.rollback()
            raise Conflict("refund.already_decided", status=refund.status)
        payment = session.get(Payment, refund.payment_id)
        bill = session.execute(select(Bill).where(col(Bill.id) == refund.bill_id).with_for_update()
                               .execution_options(populate_existing=True)).scalars().one()
        assert payment is not None
        values: dict[str, Any] = {"status": "approved" if approve else "refused", "decided_by": actor.username,
                                  "decided_at": now, "decision_reason": why}
        record = {"refund_id": refund_id, "bill": bill.number, "receipt_number": payment.receipt_number,
                  "amount": text(refund.amount), "currency": payment.currency, "reason": why}
        if approve:
            reversal = Payment(kind="refund", bill_id=bill.id, case_id=refund.case_id, center_id=refund.center_id,
                               service_code=payment.service_code, session_id=None, cashier=refund.requested_by,
                               method=payment.method, currency=payment.currency, amount=-refund.amount,
                               reference=payment.receipt_number, refund_of=payment.id, at=now)
            session.add(reversal)
            session.flush()
            values["reversal_id"] = reversal.id
            left = bill.paid - refund.amount
            session.connection().execute(update(_BILLS).where(_BILLS.c.id == bill.id).values(
                paid=left, status="refunded" if left <= 0 and bill.status == "paid" else bill.status))
        session.connection().execute(update(_REFUNDS).where(_REFUNDS.c.id == refund_id).values(**values))
        events = workflows.append_to_chain(session, case, actor=actor.username, events=[
            ("refund_approved" if approve else "refund_refused", None, record)])
        if approve:
            process = processes.cache.get(session, case.process_version_id, settings)
            outbox.write_notice(session.connection(), case=case, event_seq=events[-1].seq, stage="refunded",
                                params={"fee": text(refund.amount), "currency": payment.currency},
                                process=process, settings=settings, at=now)
        workflows.commit_or_conflict(session)
    for key, value in values.items():
        setattr(refund, key, value)
    return refund
