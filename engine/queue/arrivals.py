"""At the kiosk, a booked visit becomes a ticket: the citizen types the booking code (or their phone).

The ticket is of the booked visits' category (``SHUBBAK_BOOKING_QUEUE_CATEGORY``), whose weight puts it before
walk-ins who came at the same moment (engine/queue/ordering.py); the counters and the board treat it like any
other. A booking turns into a ticket only at its own center's kiosk, on its day, from
``SHUBBAK_BOOKING_EARLY_MINUTES`` before its slot until ``SHUBBAK_BOOKING_GRACE_MINUTES`` after the slot's start;
earlier or later, the kiosk says why. Typing the code again (a double touch, a retried request) shows the same
ticket: a booking gives one ticket. Codes and phones that find nothing are counted per kiosk address.

At a center node the booking is central's row, which the node does not write (storage/nodes.py): its kiosk
records the arrival in a row of its own, ``booking_arrival`` (the booking, the node, the ticket), so that a
citizen with a booking checks in there with the line to the governorate down too. The node's kiosk serves its
own center: a booking of another center is refused as at central. Every reader of the booking takes the arrival
into account (engine/queue/bookings.py ``as_read``): typing the code again there, or at central once the row has
replicated, shows the same ticket, and central's no-show round leaves the booking alone
(engine/queue/booking_rounds.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.core import clock, nodes, throttle
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people.identity import normalise_phone
from engine.queue import config, tickets
from engine.queue.appointments import key_of, local_day, local_time
from engine.queue.bookings import arrivals_of, as_read, normalise_code, read_one
from engine.queue.ordering import aware
from storage.db import write_lock
from storage.models.booking import Booking, BookingArrival
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
        return read_one(session, found)
    number = normalise_phone(phone, settings) if isinstance(phone, str) and phone.strip() else None
    if number is None:
        if code or phone:
            raise NotFound("booking.kiosk_not_found")
        raise Invalid("booking.kiosk_needs", [problem("code", "field.booking_code_or_phone")])
    # The phone's visits of today at this center: the one still to use first, else the one already used.
    # An arrival recorded at a center node makes a booking arrived whatever central's row says yet (as_read).
    found_rows = session.exec(select(Booking).where(Booking.phone == number, Booking.center_key == key_of(center_id),
                                                    Booking.day == local_day(now, settings))
                              .order_by(col(Booking.starts_at)).execution_options(populate_existing=True)).all()
    rows = [b for b in as_read(session, found_rows) if b.status in ("booked", "arrived")]
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
    node = nodes.own_code(session)
    if node is not None:
        # A center node's kiosk is its own center's, whatever the kiosk says: only this node records arrivals of
        # its center's bookings (the key of booking_arrival, tests/storage/test_node_keys.py).
        center_id = nodes.center_id_of(session, node)
    rule = _misses(settings)
    if client is not None:
        throttle.check(settings, "booking.too_many_misses", (rule, client))
    tickets.check_priority(priority)
    now = clock.now()
    try:
        booking = _find(session, settings, center_id, code, phone, now)
        if booking.status == "arrived" and booking.ticket_id is not None:
            return booking, _ticket(session, booking.ticket_id, booking)
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
        if node is not None:
            return _arrive_at_node(session, booking, ticket, node, now)
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


def _arrive_at_node(session: Session, booking: Booking, ticket: QueueTicket, node: str,
                    now: datetime) -> tuple[Booking, QueueTicket]:
    """Record the arrival at this center node (inside the caller's write lock, the ticket flushed): the
    booking's row is central's, so the arrival is a row of the node's own. A second arrival meanwhile (another
    kiosk, the same touch sent twice) meets it on its key: that one's ticket is shown."""
    assert booking.id is not None and ticket.id is not None
    session.add(BookingArrival(booking_id=booking.id, node=node, ticket_id=ticket.id, ticket_number=ticket.number,
                               arrived_at=now))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
    arrival = arrivals_of(session, [booking.id]).get(booking.id)
    if arrival is None:
        raise Conflict("booking.changed_meanwhile")
    again = session.get(Booking, booking.id, populate_existing=True)
    assert again is not None
    return read_one(session, again), _ticket(session, arrival.ticket_id)


def _ticket(session: Session, ticket_id: int, booking: Booking | None = None) -> QueueTicket:
    found = session.get(QueueTicket, ticket_id, populate_existing=True)
    if found is None and booking is not None:
        # The booking's row names a ticket of central's kiosk, which is not replicated here: this node's own
        # arrival of it if there is one, else the ticket is central's.
        arrival = arrivals_of(session, [booking.id]).get(booking.id) if booking.id is not None else None
        found = session.get(QueueTicket, arrival.ticket_id) if arrival is not None else None
        if found is None:
            raise Conflict("booking.arrived_elsewhere", ticket=booking.ticket_number or "-")
    assert found is not None
    return found
