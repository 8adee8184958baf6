"""Which waiting ticket a counter calls next.

Each waiting ticket has an *effective wait*: the seconds it has waited (since ``waiting_since``: its issue, or
its first issue when it was transferred) times the weight of its priority class
(``SHUBBAK_QUEUE_PRIORITY_WEIGHTS``) times the weight of its category (``queue_category.weight``, 1 unless an
administrator set another: booked visits' category has 2, so a booked citizen goes before a walk-in who came
at the same moment). The counter calls the highest effective wait among the categories it
serves; on a tie, the ticket waiting since earlier, then the one issued first. With the default weights an
elderly citizen who has waited 5 minutes goes before a normal ticket that has waited 14 minutes, but not before
one that has waited 16: nobody waits forever behind a stream of priority tickets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Waiting:
    """What ordering needs of a waiting ticket."""

    id: int
    priority: str
    waiting_since: datetime
    weight: float = 1.0  # the category's


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def effective_wait(ticket: Waiting, now: datetime, weights: Mapping[str, float]) -> float:
    waited = max((now - aware(ticket.waiting_since)).total_seconds(), 0.0)
    return waited * weights[ticket.priority] * ticket.weight


def calling_order(tickets: Iterable[Waiting], now: datetime, weights: Mapping[str, float]) -> Sequence[Waiting]:
    """The tickets, the one to call first at ``now`` first."""
    return sorted(tickets, key=lambda t: (-effective_wait(t, now, weights), aware(t.waiting_since), t.id))
