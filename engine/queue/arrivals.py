"""At the kiosk, a booked visit becomes a ticket: the citizen types the booking code (or their phone).

The ticket is of the booked visits' category (``SHUBBAK_BOOKING_QUEUE_CATEGORY``), whose weight puts it before
walk-ins who came at the same moment (engine/queue/ordering.py); the counters and the board treat it like any
other. A booking turns into a ticket only at its own center's kiosk, on its day, from
``SHUBBAK_BOOKING_EARLY_MINUTES`` before its slot until ``SHUBBAK_BOOKING_GRACE_MINUTES`` after the slot's start;
earlier or later, the kiosk says why. Typing the code again (a double touch, a retried request) shows the same
ticket: a booking gives one ticket. Codes and phones that find nothing are counted per kiosk address.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from engine.core import clock, nodes, throttle
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people.identity import normalise_phone
from engine.queue import config, tickets
from engine.queue.appointments import key_of, local_day, local_time
from engine.queue.bookings import normalise_code
from engine.queue.ordering import aware
from storage.db import write_lock
from storage.models.booking import Booking
from storage.models.centers import Center
from storage.models.queue import QueueTicket


def _misses(settings: Settings) -> throttle.Rule:
    return throttle.Rule.fixed("booking-kiosk-miss", limit=settings.booking_misses_per_address,
                               window_seconds=settings.booking_misses_window_seconds)


def _find(session: Session, settings: Settings, center_id: int | None, code: Any, phone: Any,
          now: datetime) -> Booking:
    wanted = normalise_code(code) if code else None
    if wanted is not None:
        found = session.exec(select(Booking).where(Booking.code == wanted)
                             .execution_options(populate_existing=True)).first()
        if found is None:
            raise NotFound("booking.kiosk_not_found")
        if found.center_key != key_of(center_id):
            center = session.get(Center, found.center_key) if found.center_key else None
            raise Conflict("booking.other_center", center=f"{center.name_ar} / {center.name_en}" if center else "-")
        return found
    number = normalise_phone(phone, settings) if isinstance(phone, str) and phone.strip() else None
    if number is None:
        if code or phone:
            raise NotFound("booking.kiosk_not_found")
        raise Invalid("booking.kiosk_needs", [problem("code", "field.booking_code_or_phone")])
    # The phone's visits of today at this center: the one still to use first, else the one already used.
    rows = session.exec(select(Booking).where(Booking.phone == number, Booking.center_key == key_of(center_id),
                                              Booking.day == local_day(now, settings),
                                              col(Booking.status).in_(("booked", "arrived")))
                        .order_by(col(Booking.starts_at)).execution_options(populate_existing=True)).all()
    if not rows:
        raise NotFound("booking.kiosk_not_found")
    waiting = [b for b in rows if b.status == "booked"
               and aware(b.starts_at) + timedelta(minutes=settings.booking_grace_minutes) >= now]
    return waiting[0] if waiting else rows[0]


def _check_time(booking: Booking, settings: Settings, now: datetime) -> None:
    starts = aware(booking.starts_at)
    if local_day(starts, settings) != local_day(now, settings) and starts > now:
        raise Conflict("booking.not_today", day=booking.day.isoformat(), time=local_time(starts, settings))
    opens = starts - timedelta(minutes=settings.booking_early_minutes)
    closes = starts + timedelta(minutes=settings.booking_grace_minutes)
    if now < opens:
        raise Conflict("booking.too_early", at=local_time(opens, settings), time=local_time(starts, settings))
    if now > closes:
        raise Conflict("booking.too_late", time=local_time(starts, settings), until=local_time(closes, settings))


def redeem(*, session: Session, settings: Settings, center_id: int | None, code: Any = None, phone: Any = None,
           priority: str = "normal", client: str | None = None) -> tuple[Booking, QueueTicket]:
    """The ticket of a booked visit at the kiosk of ``center_id`` (the same ticket when asked again)."""
    if nodes.is_center(session):
        # The bookings are central's rows (storage/nodes.py), which an arrival marks: not at a center node yet
        # (docs/center-nodes.md "What each side may do").
        raise nodes.CentralOnly("node.booking_at_central")
    rule = _misses(settings)
    if client is not None:
        throttle.check(settings, "booking.too_many_misses", (rule, client))
    tickets.check_priority(priority)
    now = clock.now()
    try:
        booking = _find(session, settings, center_id, code, phone, now)
        if booking.status == "arrived" and booking.ticket_id is not None:
            return booking, _ticket(session, booking.ticket_id)
        if booking.status == "cancelled":
            raise Conflict("booking.cancelled")
        if booking.status == "no_show":
            raise Conflict("booking.missed", time=local_time(booking.starts_at, settings))
        if local_day(aware(booking.starts_at), settings) != local_day(now, settings):
            _check_time(booking, settings, now)  # another day's: refused (not today, or too late), as a miss
    except (NotFound, Conflict):
        # A code that is not a booking, and one that is but is not today's here (another center's, another
        # day's, cancelled, missed), count alike: either answer tells a guesser something. A citizen of today
        # who comes early or late is no guesser: the hall's kiosk is shared, and they are not counted.
        if client is not None:
            throttle.fail(settings, (rule, client))
        raise
    _check_time(booking, settings, now)
    category = config.category(session, settings.booking_queue_category)
    with write_lock(session):
        ticket = tickets.new_ticket(session, category, priority, now, settings, center_id)
        session.flush()
        moved = session.execute(update(Booking).where(col(Booking.id) == booking.id, col(Booking.status) == "booked")
                                .values(status="arrived", arrived_at=now, ticket_id=ticket.id,
                                        ticket_number=ticket.number))
        if not moved.rowcount:  # type: ignore[attr-defined]
            # Another kiosk (or the same touch sent twice) turned it into a ticket meanwhile: show that one.
            session.rollback()
            again = session.get(Booking, booking.id, populate_existing=True)
            if again is None or again.ticket_id is None:
                raise Conflict("booking.changed_meanwhile")
            return again, _ticket(session, again.ticket_id)
        session.commit()
    again = session.get(Booking, booking.id, populate_existing=True)
    assert again is not None and again.ticket_id is not None
    return again, _ticket(session, again.ticket_id)


def _ticket(session: Session, ticket_id: int) -> QueueTicket:
    found = session.get(QueueTicket, ticket_id, populate_existing=True)
    assert found is not None
    return found
