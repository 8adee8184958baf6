"""Refunds take two people: a cashier asks, with a reason; a supervisor of the bill's center (never the one who
asked) approves or refuses. An approved refund reverses the payment with a ledger row of its own (a negative
``payment`` of kind ``refund``): nothing is edited or deleted. Every step is on the case's chain, and the
citizen is told of an approved refund through the outbox (engine/messages/outbox.py).

A refund is charged to the drawer that took the payment, whoever asks for it: its reversal row has that
drawer's session and cashier, and the drawer's own chain gets ``refund_paid``. While that drawer is open the
money leaves it (its expected cash at closing is less by the refund); once it is closed, the refund is on its
record as paid after closing (``after_close``) and its count and difference stay as they were. A payment
through a provider (no drawer) is refunded outside the drawers, under ``gateway:<provider>``.

A refund gives back the whole payment, or a part of it (``amount``), never more than is left of it after the
refunds approved before; one request at a time per payment, so a retried request is refused (409) rather than
asked twice."""

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
from engine.payments import drawer as drawers
from engine.payments import money
from engine.payments.pay import bill_for, lock_case
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.base import tables
from storage.models.payments import Bill, CashierSession, Payment, Refund

_BILLS, _REFUNDS = tables(Bill, Refund)


def _reason(reason: str) -> str:
    clean = (reason or "").strip()
    if not clean:
        raise Invalid("refund.reason_needed", [problem("reason", "refund.reason_needed")])
    return clean


def request(*, session: Session, bill_id: int, reason: str, actor: Actor, settings: Settings,
            payment_id: int | None = None, amount: Any = None) -> Refund:
    """A cashier of the bill's center asks to give back a payment of the bill (its only one left to refund when
    not named): all that is left of it, or ``amount`` (a decimal string) of it."""
    bill = bill_for(session, bill_id, actor, settings, "cashier.work")
    why = _reason(reason)
    wanted = None if amount is None else money.parse(amount, settings)
    now = clock.now()
    with write_lock(session):
        case = lock_case(session, bill.case_id)
        paid = [p for p in session.execute(select(Payment).where(col(Payment.bill_id) == bill_id,
                                                                 col(Payment.kind) == "payment")
                                           .order_by(col(Payment.id))).scalars().all()
                if payment_id is None or p.id == payment_id]
        asked = session.execute(select(Refund).where(  # type: ignore[call-overload]
            col(Refund.bill_id) == bill_id, col(Refund.status).in_(("requested", "approved")))).scalars().all()
        waiting = {r.payment_id for r in asked if r.status == "requested"}
        given = {p.id: sum(r.amount for r in asked if r.status == "approved" and r.payment_id == p.id) for p in paid}
        free = [p for p in paid if p.id not in waiting and p.amount - given[p.id] > 0]
        if not free:
            session.rollback()
            if not paid:
                raise Conflict("refund.nothing_to_refund", number=bill.number)
            if any(p.id in waiting for p in paid):
                raise Conflict("refund.already_requested", number=bill.number)
            raise Conflict("refund.already_refunded", number=bill.number)
        if len(free) > 1:
            session.rollback()
            raise Invalid("refund.which_payment", [problem("payment_id", "refund.which_payment")])
        payment = free[0]
        assert payment.id is not None
        left = payment.amount - given[payment.id]
        if wanted is not None and wanted > left:
            session.rollback()
            raise Invalid("refund.too_much", [problem("amount", "refund.more_than_paid", left=text(left),
                                                      currency=payment.currency)])
        refund = Refund(payment_id=payment.id, bill_id=bill_id, case_id=bill.case_id, center_id=bill.center_id,
                        amount=left if wanted is None else wanted, reason=why, status="requested",
                        requested_by=actor.username, requested_at=now)
        session.add(refund)
        session.flush()
        workflows.append_to_chain(session, case, actor=actor.username, events=[("refund_requested", None, {
            "refund_id": refund.id, "bill": bill.number, "receipt_number": payment.receipt_number,
            "amount": text(refund.amount), "currency": payment.currency, "reason": why})])
        workflows.commit_or_conflict(session)
    return refund


def get(session: Session, refund_id: int, actor: Actor, settings: Settings) -> Refund:
    policy.require(actor, "payments.supervise", settings)
    refund = session.get(Refund, refund_id, populate_existing=True)
    if refund is None:
        raise NotFound("refund.not_found", refund_id=refund_id)
    policy.require_center(session, actor, refund.center_id)
    return refund


def _drawer_of(session: Session, payment: Payment) -> CashierSession | None:
    """The drawer that took ``payment``, locked (after the case, before the bill: engine/payments/pay.py's
    order), or None for a payment taken in no drawer (through a provider)."""
    if payment.session_id is None:
        return None
    return session.execute(select(CashierSession).where(col(CashierSession.id) == payment.session_id)
                           .with_for_update().execution_options(populate_existing=True)).scalars().one()


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
        assert payment is not None
        drawer = _drawer_of(session, payment) if approve else None
        bill = session.execute(select(Bill).where(col(Bill.id) == refund.bill_id).with_for_update()
                               .execution_options(populate_existing=True)).scalars().one()
        values: dict[str, Any] = {"status": "approved" if approve else "refused", "decided_by": actor.username,
                                  "decided_at": now, "decision_reason": why}
        record = {"refund_id": refund_id, "bill": bill.number, "receipt_number": payment.receipt_number,
                  "amount": text(refund.amount), "currency": payment.currency, "reason": why}
        if approve:
            reversal = Payment(kind="refund", bill_id=bill.id, case_id=refund.case_id, center_id=refund.center_id,
                               service_code=payment.service_code, session_id=payment.session_id,
                               cashier=payment.cashier, method=payment.method, currency=payment.currency,
                               amount=-refund.amount, reference=payment.receipt_number, refund_of=payment.id, at=now)
            session.add(reversal)
            session.flush()
            values["reversal_id"] = reversal.id
            if drawer is not None:
                drawers.append(session, drawer, actor=actor.username, kind="refund_paid", at=now, data={
                    **record, "case_id": refund.case_id, "requested_by": refund.requested_by,
                    "after_close": drawer.status != "open"})
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
