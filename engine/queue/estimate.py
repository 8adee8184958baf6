"""The estimated wait of each category, from how long its recent tickets took at the counter.

``service time`` = the median of the last ``SHUBBAK_QUEUE_ESTIMATE_SAMPLES`` called->done durations of the
category that finished within the last ``SHUBBAK_QUEUE_ESTIMATE_WINDOW_HOURS`` (``SHUBBAK_QUEUE_DEFAULT_SERVICE_
SECONDS`` when there are none). A new ticket waits about ``service time x tickets waiting / open counters``,
the open counters being those that serve the category. No open counter: no estimate (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from sqlmodel import Session, col, func, select

from engine.core import clock
from engine.core.settings import Settings
from engine.queue import config
from engine.queue.ordering import aware
from engine.queue.tickets import day_of
from storage.models.queue import QueueTicket


@dataclass(frozen=True)
class Estimate:
    category: str
    waiting: int
    open_counters: int
    service_seconds: float
    wait_seconds: float | None


def service_seconds(session: Session, category_code: str, settings: Settings, now: datetime,
                    center_id: int | None = None) -> float:
    since = now - timedelta(hours=settings.queue_estimate_window_hours)
    rows = session.exec(select(QueueTicket.called_at, QueueTicket.finished_at).where(
        QueueTicket.category_code == category_code, QueueTicket.status == "done",
        config.same_center(QueueTicket.center_id, center_id),
        col(QueueTicket.finished_at) >= since, col(QueueTicket.called_at).is_not(None))
        .order_by(col(QueueTicket.finished_at).desc()).limit(settings.queue_estimate_samples)).all()
    durations = [(aware(end) - aware(start)).total_seconds() for start, end in rows if start and end]
    return float(median(durations)) if durations else float(settings.queue_default_service_seconds)


def wait_for(service: float, ahead: int, open_counters: int) -> float | None:
    return None if open_counters == 0 else service * ahead / open_counters


def estimates(session: Session, settings: Settings, center_id: int | None = None) -> dict[str, Estimate]:
    """Every active category's estimate now at a center, for the kiosk, the board and the counters."""
    now = clock.now()
    counts = dict(session.exec(select(QueueTicket.category_code, func.count()).where(
        QueueTicket.status == "waiting", QueueTicket.day == day_of(now, settings),
        config.same_center(QueueTicket.center_id, center_id)).group_by(col(QueueTicket.category_code))).all())
    counters = [c for c in config.counters(session, center_id) if c.open]
    out = {}
    for category in config.categories(session):
        open_here = sum(1 for c in counters if category.code in c.categories)
        service = service_seconds(session, category.code, settings, now, center_id)
        waiting = int(counts.get(category.code, 0))
        out[category.code] = Estimate(category.code, waiting, open_here, service, wait_for(service, waiting, open_here))
    return out


def for_ticket(session: Session, ticket: QueueTicket, settings: Settings) -> float | None:
    """A waiting ticket's estimate: the tickets of its category waiting since before it count as ahead."""
    if ticket.status != "waiting":
        return None
    now = clock.now()
    ahead = session.exec(select(func.count()).select_from(QueueTicket).where(
        QueueTicket.status == "waiting", QueueTicket.category_code == ticket.category_code,
        QueueTicket.day == ticket.day, col(QueueTicket.waiting_since) < ticket.waiting_since,
        config.same_center(QueueTicket.center_id, ticket.center_id))).one()
    open_here = sum(1 for c in config.counters(session, ticket.center_id)
                    if c.open and ticket.category_code in c.categories)
    return wait_for(service_seconds(session, ticket.category_code, settings, now, ticket.center_id), int(ahead),
                    open_here)
