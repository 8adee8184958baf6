"""Paying a bill at the counter: one transaction that takes the receipt number, records the payment on the
drawer's chain and the case's, and, when the bill is settled, delivers ``payment_received`` to the diagram
through the one writer (engine/cases/workflows.py), so the case moves on in the same commit.

Refused, writing nothing: not a cashier (403), a bill of a center the cashier does not serve (403), no open
drawer (409), a bill already paid or lapsed, or owing nothing (409: a late e-payment waits for its refund), an
amount that is not a positive decimal with two places at most (422), less than due when the service does not
take part payments (422), more than due by card or e-payment (422: only cash gives change). Locks, in this
order: the case, the drawer, the bill, the receipt counter (the timer tick locks the case first too, so a lapse
and a payment of one bill cannot deadlock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from engine.bpmn import runner
from engine.bpmn.compiler import PAYMENT_MESSAGE
from engine.cases import workflows
from engine.cases.lifecycle import process_failed
from engine.catalog import processes
from engine.core import clock
from engine.core.amounts import text
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.messages import outbox
from engine.payments import drawer as drawers
from engine.payments import money, receipts
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.base import table
from storage.models.cases import Case
from storage.models.payments import Bill, Payment

_BILLS = table(Bill)


@dataclass(frozen=True)
class Paid:
    payment: Payment
    bill: Bill


def bill_for(session: Session, bill_id: int, actor: Actor, settings: Settings, action: str) -> Bill:
    """The bill, if the actor may take ``action`` on it: their roles, then the bill's center."""
    policy.require(actor, action, settings)
    bill = session.get(Bill, bill_id, populate_existing=True)
    if bill is None:
        raise NotFound("bill.not_found", bill_id=bill_id)
    policy.require_center(session, actor, bill.center_id)
    return bill


def lock_case(session: Session, case_id: int) -> Case:
    """The case row locked for the transaction (FOR UPDATE on PostgreSQL), read afresh and detached."""
    session.execute(select(col(Case.id)).where(col(Case.id) == case_id).with_for_update())
    case = session.get(Case, case_id, populate_existing=True)
    assert case is not None
    session.expunge(case)
    workflows.here(session, case)
    return case


def pay(*, session: Session, bill_id: int, method: str, amount: Any, reference: str | None, actor: Actor,
        settings: Settings) -> Paid:
    bill = bill_for(session, bill_id, actor, settings, "cashier.work")
    if method not in money.METHODS:
        raise Invalid("payment.invalid_method", [problem("method", "payment.unknown_method", method=method,
                                                         methods=", ".join(money.METHODS))])
    tendered = money.parse(amount, settings)
    reference = (reference or "").strip() or None
    if method != "cash" and reference is None:
        raise Invalid("payment.invalid_method", [problem("reference", "payment.reference_needed", method=method)])
    case_id = bill.case_id
    session.rollback()  # end the reads: what counts is read again under the locks
    now = clock.now()
    with write_lock(session):
        case = lock_case(session, case_id)
        drawer = drawers.open_of(session, actor.username, settings, lock=True)
        if drawer is None:
            session.rollback()
            raise Conflict("payment.no_open_session")
        bill = session.execute(select(Bill).where(col(Bill.id) == bill_id).with_for_update()
                               .execution_options(populate_existing=True)).scalars().one()
        if bill.status != "open":
            session.rollback()
            raise Conflict("bill.already_paid" if bill.status in ("paid", "refunded") else "bill.lapsed",
                           number=bill.number)
        due = bill.amount - bill.paid
        if due <= 0:  # open, yet paid in full: a late e-payment waits for its refund's decision (epay.py)
            session.rollback()
            raise Conflict("bill.nothing_due", number=bill.number)
        if tendered < due and not bill.partial_allowed:
            session.rollback()
            raise Invalid("payment.wrong_amount", [problem("amount", "payment.partial_refused", due=text(due),
                                                           currency=bill.currency)])
        if tendered > due and method != "cash":
            session.rollback()
            raise Invalid("payment.wrong_amount", [problem("amount", "payment.exact_amount", due=text(due),
                                                           currency=bill.currency, method=method)])
        applied = min(tendered, due)
        change = tendered - applied
        payment, record = take(session, bill, method=method, applied=applied, tendered=tendered, change=change,
                               reference=reference, cashier=actor.username, session_id=drawer.id, now=now,
                               settings=settings)
        settled = bool(record["settled"])
        drawers.append(session, drawer, actor=actor.username, kind="payment_taken", at=now,
                       data={**record, "case_id": case_id})
        events: list[tuple[str, str | None, dict[str, Any]]] = [("payment_taken", bill.element, record)]
        if settled:
            deliver(session, case, bill, events, record["receipt_number"], actor.username, settings, now)
        else:
            part_paid(session, case, actor.username, events, settings, now)
    session.expunge(payment)
    bill.paid += applied
    bill.status = "paid" if settled else "open"
    return Paid(payment=payment, bill=bill)


def take(session: Session, bill: Bill, *, method: str, applied: int, tendered: int, change: int,
         reference: str | None, cashier: str, session_id: int | None, now: Any,
         settings: Settings) -> tuple[Payment, dict[str, Any]]:
    """The ledger row of a payment of ``applied`` on ``bill`` (locked by the caller, with its case), with the
    next receipt number, and the bill's new ``paid`` and status; the record for the chains (``settled``: the
    bill is paid in full). The one way money comes in: at the counter (:func:`pay`, in a drawer) and through a
    provider's callback (engine/payments/epay.py, ``session_id`` None)."""
    assert bill.id is not None
    number = receipts.next_number(session, bill.center_id, now, settings)
    payment = Payment(kind="payment", bill_id=bill.id, case_id=bill.case_id, center_id=bill.center_id,
                      service_code=bill.service_code, session_id=session_id, cashier=cashier,
                      method=method, currency=bill.currency, amount=applied, tendered=tendered, change=change,
                      reference=reference, receipt_number=number, at=now)
    session.add(payment)
    session.flush()
    settled = bill.status == "open" and bill.paid + applied == bill.amount
    session.connection().execute(update(_BILLS).where(_BILLS.c.id == bill.id).values(
        paid=bill.paid + applied, status="paid" if settled else bill.status,
        settled_at=now if settled else bill.settled_at))
    record = {"bill": bill.number, "receipt_number": number, "amount": text(applied), "currency": bill.currency,
              "method": method, "tendered": text(tendered), "change": text(change), "reference": reference,
              "session_id": session_id, "settled": settled}
    return payment, record


def part_paid(session: Session, case: Case, actor: str, events: list[tuple[str, str | None, dict[str, Any]]],
              settings: Settings, now: Any) -> None:
    """Record a payment that leaves its bill open (no workflow step: the diagram still waits) and tell the
    citizen, in the same transaction, as the settling payment's step does (engine/messages/stages.py)."""
    written = workflows.append_to_chain(session, case, actor=actor, events=events)
    taken = next(ev for ev in written if ev.kind == "payment_taken")
    process = processes.cache.get(session, case.process_version_id, settings)
    data = taken.data
    outbox.write_notice(session.connection(), case=case, event_seq=taken.seq, stage="bill_paid",
                        params={"fee": data["amount"], "currency": data["currency"], "bill": data["bill"],
                                "receipt_number": data["receipt_number"]},
                        process=process, settings=settings, at=now)
    workflows.commit_or_conflict(session)


def deliver(session: Session, case: Case, bill: Bill, events: list[tuple[str, str | None, dict[str, Any]]],
            number: str, actor: str, settings: Settings, now: Any) -> None:
    """Deliver ``payment_received`` to the bill's waiting task and save the case with the payment's events."""
    process = processes.cache.get(session, case.process_version_id, settings)
    workflow = workflows.load(case, process, settings)
    payload = {"bill": bill.number, "receipt_number": number, "amount": text(bill.amount),
               "currency": bill.currency}
    try:
        runner.deliver(workflow, bill.task_id, payload, runner.limits(settings), at=now)
    except LookupError as exc:
        session.rollback()
        raise Conflict("bill.not_waiting", number=bill.number) from exc
    except runner.ProcessFailed as exc:
        session.rollback()
        raise process_failed(exc, process) from exc
    events.append(("message_received", bill.element, {"message": PAYMENT_MESSAGE, "payload": payload}))
    workflows.save(session, case, workflow, process, actor=actor, settings=settings, at=now,
                   events=events)
