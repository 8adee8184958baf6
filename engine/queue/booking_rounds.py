"""The periodic round of booked visits (engine/operations/periodic.py, job ``bookings``): the day-before SMS
reminders, through the outbox, and the no-shows.

Idempotent: a booking is reminded once however often the round runs, even two rounds at once (the conditional
``UPDATE ... WHERE reminded_at IS NULL`` decides, and the outbox row's idempotency key is the booking's own, so
the gateway would drop a repeat too). A booked visit nobody turned into a ticket by its slot's start plus
``SHUBBAK_BOOKING_GRACE_MINUTES`` becomes a ``no_show``, and its place in the slot is given back.

A booked visit's arrival at a center node is that node's row (``booking_arrival``, engine/queue/arrivals.py),
which reaches central by replication. The round first writes every such arrival into its booking's row (status
arrived, the node's ticket), and never makes a booking with an arrival row a no-show. An arrival that reaches
central late (the line was cut) after the round made the booking a no-show, or after the citizen cancelled it at
central, wins: the citizen came and got a ticket. The booking becomes arrived, its place in the slot is taken
again, and its ``no_show_at`` or ``cancelled_at`` stays as the record of what central had decided.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, insert, update
from sqlmodel import Session, col, select

from engine.core import clock, nodes
from engine.core.settings import Settings
from engine.queue import config
from engine.queue.appointments import local_day, local_time, zone
from engine.queue.bookings import active_key, arrivals_of, by_its_centers_node, give_back, retake
from storage.db import write_lock
from storage.models.base import table
from storage.models.booking import Booking
from storage.models.centers import Center
from storage.models.messages import OutboxMessage

_OUTBOX = table(OutboxMessage)
STAGE = "booking_reminder"
BODIES = {
    "ar": "تذكير من شبّاك: موعدك غدًا {day} الساعة {time} في {center} ({category}). رمز الحجز: {code}. "
          "اكتبه في جهاز التذاكر عند وصولك.",
    "en": "Shubbak reminder: your visit is tomorrow {day} at {time} at {center} ({category}). Booking code: {code}. "
          "Type it at the ticket kiosk when you arrive.",
}


@dataclass(frozen=True)
class RoundResult:
    reminded: int
    no_shows: int
    arrivals: int = 0  # arrivals recorded at center nodes written into their bookings' rows


def reminder_key(booking: Booking) -> str:
    return hashlib.sha256(f"booking-reminder:{booking.id}:{booking.code}".encode()).hexdigest()


def remind(session: Session, settings: Settings, now: datetime) -> int:
    """Write the SMS of every booked visit of tomorrow not reminded yet, once the center's clock has passed
    ``SHUBBAK_BOOKING_REMINDER_FROM``. Never on a center node: bookings are central's (storage/nodes.py), and a
    reminder's key is the booking's, the same on every node, so a node's reminder would be a second SMS and a
    second outbox row of one key, which stops replication when the two meet (docs/center-nodes.md)."""
    if settings.node_role == "center":
        return 0
    local = now.astimezone(zone(settings))
    if local.time() < settings.booking_reminder_from:
        return 0
    tomorrow = local_day(now, settings) + timedelta(days=1)
    due = session.exec(select(Booking).where(Booking.status == "booked", Booking.day == tomorrow,
                                             col(Booking.reminded_at).is_(None)).order_by(col(Booking.id))).all()
    names = {c.code: c for c in config.categories(session, active_only=False)}
    sent = 0
    for booking in due:
        center = session.get(Center, booking.center_key) if booking.center_key else None
        category = names.get(booking.category_code)
        ar = booking.language != "en"
        body = BODIES["ar" if ar else "en"].format(
            day=booking.day.isoformat(), time=local_time(booking.starts_at, settings), code=booking.code,
            center=(center.name_ar if ar else center.name_en) if center else ("المركز" if ar else "the center"),
            category=(category.name_ar if ar else category.name_en) if category else booking.category_code)
        with write_lock(session):
            moved = session.execute(update(Booking).where(col(Booking.id) == booking.id,
                                                          col(Booking.reminded_at).is_(None),
                                                          col(Booking.status) == "booked").values(reminded_at=now))
            if not moved.rowcount:  # type: ignore[attr-defined]
                session.rollback()
                continue
            session.execute(insert(_OUTBOX).values(
                case_id=None, event_seq=None, stage=STAGE, ref=booking.code, channel="sms", recipient=booking.phone,
                language="ar" if ar else "en", subject=None, body=body, idempotency_key=reminder_key(booking),
                status="pending", attempts=0, next_attempt_at=now, lease_until=None, last_error=None, gateway=None,
                gateway_ref=None, created_at=now, sent_at=None))
            session.commit()
        sent += 1
    return sent


def _arrived_at_a_node() -> Any:
    """The booking's arrival recorded by the node of its own center (bookings.by_its_centers_node)."""
    return exists().where(*by_its_centers_node())


def fold_arrivals(session: Session, settings: Settings, now: datetime) -> int:
    """Write the arrivals recorded at center nodes into their bookings' rows (central's): arrived, with the
    node's ticket. A booking central made a no-show or cancelled meanwhile (it had not heard of the arrival)
    takes its place in the slot again, and its one-visit-a-day key when no other visit holds it now."""
    pending = session.exec(select(Booking).where(col(Booking.status) != "arrived", _arrived_at_a_node())
                           .order_by(col(Booking.id))).all()
    found = arrivals_of(session, [b.id for b in pending])
    session.rollback()
    count = 0
    for booking in pending:
        arrival = found.get(booking.id) if booking.id is not None else None
        if arrival is None:
            continue
        with write_lock(session):
            values: dict[str, Any] = dict(status="arrived", arrived_at=arrival.arrived_at,
                                          ticket_id=arrival.ticket_id, ticket_number=arrival.ticket_number)
            given_back = booking.status in ("no_show", "cancelled")
            if given_back:
                key = active_key(booking.phone, booking.category_code, booking.day)
                held = session.exec(select(Booking.id).where(Booking.active_key == key)).first()
                values["active_key"] = key if held is None else booking.active_key
            moved = session.execute(update(Booking).where(col(Booking.id) == booking.id,
                                                          col(Booking.status) == booking.status).values(**values))
            if moved.rowcount:  # type: ignore[attr-defined]
                if given_back:
                    retake(session, booking)
                count += 1
            session.commit()
    return count


def release_no_shows(session: Session, settings: Settings, now: datetime) -> int:
    """Booked visits whose grace has ended without a ticket: ``no_show``, their places given back. One whose
    arrival a center node recorded is no no-show, whether or not its row says so yet."""
    limit = now - timedelta(minutes=settings.booking_grace_minutes)
    # A single installation has no other node: its round asks what it asked before.
    not_arrived = () if nodes.is_single(session) else (~_arrived_at_a_node(),)
    late = session.exec(select(Booking).where(Booking.status == "booked", col(Booking.starts_at) < limit,
                                              *not_arrived)
                        .order_by(col(Booking.id))).all()
    count = 0
    for booking in late:
        with write_lock(session):
            moved = session.execute(update(Booking).where(col(Booking.id) == booking.id,
                                                          col(Booking.status) == "booked", *not_arrived)
                                    .values(status="no_show", no_show_at=now, active_key=None))
            if moved.rowcount:  # type: ignore[attr-defined]
                give_back(session, booking)
                count += 1
            session.commit()
    return count


def run(session: Session, settings: Settings, now: datetime | None = None) -> RoundResult:
    moment = now or clock.now()
    if settings.node_role == "center":  # the bookings are central's rows (storage/nodes.py): its round, not ours
        return RoundResult(reminded=0, no_shows=0)
    arrived = 0 if nodes.is_single(session) else fold_arrivals(session, settings, moment)
    return RoundResult(reminded=remind(session, settings, moment), no_shows=release_no_shows(session, settings, moment),
                       arrivals=arrived)
