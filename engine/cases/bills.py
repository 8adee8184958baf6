"""Bills from the diagram: a case that reaches a wait for the message ``payment_received`` (a message catch
event or a receive task) owes its fee, and a bill says so; paying it delivers the message (engine/payments/).

The writer (``workflows.save``) asks :func:`plan` before it builds a step's events and writes the plan in the
step's transaction, so a bill is issued, and lapses, with the step that caused it and on the case's chain:
- a task newly waiting for the payment: a bill (``bill_issued``) for the case's ``bill_items`` (a list of
  ``{"item", "amount"}`` the diagram computed) or else its ``fee``; its due time is the timer beside the wait
  (a boundary timer, or a timer after the same event-based gateway), if any. No fee, or a fee of 0: no bill;
- an open bill whose task no longer waits (its timer fired, the case was cancelled): ``bill_lapsed``, void.
Only services whose diagram waits for the payment pay the statement that reads their bills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from engine.bpmn import runner
from engine.core import clock
from engine.core.amounts import amount_of, text
from storage.models.base import table
from storage.models.payments import Bill

if TYPE_CHECKING:  # pragma: no cover
    from engine.bpmn.compiler import CompiledProcess
    from storage.models.cases import Case

_BILLS = table(Bill)
_OF_CASE = select(_BILLS.c.id, _BILLS.c.number, _BILLS.c.task_id, _BILLS.c.status).where(
    _BILLS.c.case_id == bindparam("case_id"))


def takes_payment(process: CompiledProcess) -> bool:
    """Whether the service's diagram waits for ``payment_received`` anywhere."""
    return process.takes_payment


@dataclass
class Plan:
    """What a step does to the case's bills: events for its chain, rows to insert, bills to void."""

    events: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)
    issue: list[dict[str, Any]] = field(default_factory=list)
    lapse: list[int] = field(default_factory=list)


def plan(session: Session, case: Case, process: CompiledProcess, waiting: list[runner.WaitingMessage],
         data: dict[str, Any], now: datetime) -> Plan | None:
    """The bills to issue and to void after a step that left the case waiting on ``waiting``; None (and no
    statement) for a service that never takes a payment."""
    if not takes_payment(process):
        return None
    rows = session.connection().execute(_OF_CASE, {"case_id": case.id}).all()
    billed = {row.task_id for row in rows}
    waiting_ids = {w.id for w in waiting}
    out = Plan()
    for found in rows:
        if found.status == "open" and found.task_id not in waiting_ids:
            out.lapse.append(found.id)
            out.events.append(("bill_lapsed", None, {"bill": found.number}))
    fee = process.service.fee
    count = len(rows)
    for wait in waiting:
        if wait.id in billed:
            continue
        owed = amount_of(data)
        if owed is None or owed[0] <= 0:  # a free request issues no bill (the diagram should not wait then)
            continue
        count += 1
        number = f"{case.tracking_number}-{count}"
        row: dict[str, Any] = {"number": number, "case_id": case.id, "center_id": case.center_id,
                               "service_code": case.service_code, "task_id": wait.id, "element": wait.element,
                               "currency": fee.currency if fee else "EGP", "amount": owed[0], "paid": 0,
                               "items": owed[1], "partial_allowed": bool(fee and fee.partial), "status": "open",
                               "issued_at": now, "due_at": wait.due, "settled_at": None}
        out.issue.append(row)
        out.events.append(("bill_issued", wait.element, {
            "bill": number, "amount": text(owed[0]), "currency": row["currency"], "items": owed[1],
            "due_at": clock.iso(wait.due) if wait.due else None, "task_id": wait.id}))
    return out


def write(conn: Connection, bills: Plan, now: datetime) -> None:
    """Write the plan inside the step's transaction."""
    if bills.issue:
        conn.execute(insert(_BILLS), bills.issue)
    if bills.lapse:
        conn.execute(update(_BILLS).where(_BILLS.c.id.in_(bills.lapse), _BILLS.c.status == "open")
                     .values(status="lapsed", settled_at=now))


def of_case(session: Session, case_id: int) -> list[Bill]:
    """The case's bills, oldest first."""
    return list(session.execute(select(Bill).where(col(Bill.case_id) == case_id).order_by(col(Bill.id)))
                .scalars().all())
