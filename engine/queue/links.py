"""A case opened at the front desk from a called ticket: the ticket records the case, in the case's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from engine.core import nodes
from engine.core.errors import Conflict
from engine.core.settings import Settings
from engine.queue import tickets
from storage.models.queue import QueueTicket


def linkable(session: Session, number: str, settings: Settings, center_id: int | None = None) -> int:
    """The id of today's ticket ``number`` at the clerk's center when a case may be opened from it: called or
    being served, and not yet tied to a case. 404 for an unknown number, 409 otherwise."""
    ticket = tickets.by_number(session, number, settings, center_id=center_id)
    nodes.refuse_ticket_elsewhere(session, ticket)
    if ticket.status not in tickets.ACTIVE:
        raise Conflict("queue.ticket_not_called", number=ticket.number, status=ticket.status)
    if ticket.case_id is not None:
        raise Conflict("queue.ticket_has_case", number=ticket.number)
    assert ticket.id is not None
    return ticket.id


def link(session: Session, ticket_id: int, case_id: int, at: datetime) -> None:
    """Tie the ticket to its case (the caller commits); a called ticket is now being served."""
    moved = session.execute(update(QueueTicket).where(col(QueueTicket.id) == ticket_id,
                                                      col(QueueTicket.case_id).is_(None),
                                                      col(QueueTicket.status).in_(tickets.ACTIVE))
                            .values(case_id=case_id, status="serving"))
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise Conflict("queue.ticket_taken_meanwhile")
    session.execute(update(QueueTicket).where(col(QueueTicket.id) == ticket_id,
                                              col(QueueTicket.served_at).is_(None)).values(served_at=at))
