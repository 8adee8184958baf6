"""What the display board shows: the latest calls and recalls, and each counter's current ticket.

The board's stream reads ``queue_call`` after the last id it sent, so a call made through any API process
reaches every board.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, func, select

from engine.core.settings import Settings
from engine.queue import config
from engine.queue.ordering import aware
from storage.models.queue import QueueCall


def call_view(call: QueueCall) -> dict[str, Any]:
    return {"id": call.id, "ticket": call.ticket_number, "category": call.category_code,
            "counter": call.counter_number, "counter_name": call.counter_name, "kind": call.kind,
            "at": aware(call.at).isoformat()}


def latest(session: Session, limit: int, center_id: int | None = None) -> Sequence[QueueCall]:
    """The last ``limit`` calls of a center, newest first."""
    return session.exec(select(QueueCall).where(config.same_center(QueueCall.center_id, center_id))
                        .order_by(col(QueueCall.id).desc()).limit(limit)).all()


def after(session: Session, last_id: int, center_id: int | None = None, limit: int = 100) -> Sequence[QueueCall]:
    """A center's calls made since the call ``last_id``, oldest first: what its board has not shown yet."""
    return session.exec(select(QueueCall).where(col(QueueCall.id) > last_id,
                                                config.same_center(QueueCall.center_id, center_id))
                        .order_by(col(QueueCall.id)).limit(limit)).all()


def last_id(session: Session, center_id: int | None = None) -> int:
    """The newest call of ``center_id``'s hall (a board's "from now"). Of that hall only: at central, a center
    node's calls arrive numbered from its block of ids (storage/nodes.py ``ID_BLOCK``), above central's own."""
    return int(session.exec(select(func.coalesce(func.max(QueueCall.id), 0))
                            .where(config.same_center(QueueCall.center_id, center_id))).one() or 0)


def counters_now(session: Session, center_id: int | None = None, *, settings: Settings) -> list[dict[str, Any]]:
    """Each counter with the ticket it is on (its latest call's ticket while that ticket is still active)."""
    from engine.queue.tickets import at_counter

    out = []
    for counter in config.counters(session, center_id):
        assert counter.id is not None
        ticket = at_counter(session, counter.id, settings)
        out.append({"number": counter.number, "name": counter.name, "open": counter.open,
                    "categories": counter.categories, "ticket": ticket.number if ticket else None,
                    "status": ticket.status if ticket else None})
    return out
