"""A signed-in citizen books a visit, lists their visits and cancels one (engine/citizen/signin.py gives the phone).

Two citizens booking the last place of a slot at the same moment: the place is taken with one conditional
``UPDATE booking_slot SET taken = taken + 1 WHERE taken < capacity`` (after an insert-or-nothing of the slot's
row), so exactly one of them gets a row back; the other is told the slot is full and nothing of theirs is kept.
One active visit per citizen, category and day is a unique ``active_key`` on the booking: a second booking,
even one racing the first, fails on it. Sending the same booking again (a retried request) answers the visit
already booked rather than a second one.

A booked visit's arrival at a center node is a row of that node's (``booking_arrival``, the booking being
central's): every reader here takes it into account (:func:`as_read`), so the booking reads as arrived, with the
node's ticket, wherever the arrival has reached, before central's bookings round writes it into the booking's
own row (engine/queue/booking_rounds.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.core import clock, nodes
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import Words, problem
from engine.core.settings import Settings
from engine.queue import appointments
from engine.queue.appointments import key_of, local_time
from engine.queue.ordering import aware
from forms.digits import ascii_digits
from storage.db import write_lock
from storage.models.base import table
from storage.models.booking import Booking, BookingArrival, BookingSlot
from storage.models.centers import Center
from storage.models.queue import QueueCategory

_SLOT = table(BookingSlot)
CODE_DIGITS = 8
LANGUAGES = ("ar", "en")


def active_key(phone: str, category_code: str, day: Any) -> str:
    return f"{phone}|{category_code}|{day.isoformat()}"


def normalise_code(text: Any) -> str | None:
    """``12345678``, ``1234-5678``, ``١٢٣٤ ٥٦٧٨``: the code's digits, or None when it is no code."""
    if not isinstance(text, str):
        return None
    digits = "".join(ch for ch in ascii_digits(text) if ch not in " -")
    return digits if len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit() else None


def by_its_centers_node() -> tuple[Any, ...]:
    """The conditions (over ``booking``, ``booking_arrival`` and ``center``) of an arrival recorded by the node of
    its booking's own center: the only node whose kiosk takes the booking (engine/queue/arrivals.py). A row naming
    another node (a node's database written by hand, a node set up under another center's code) is no arrival:
    it brings back no cancelled or missed visit, and keeps no visit from the no-show round."""
    return (col(BookingArrival.booking_id) == col(Booking.id), col(Center.id) == col(Booking.center_key),
            col(Center.code) == col(BookingArrival.node))


def arrivals_of(session: Session, booking_ids: Sequence[int | None]) -> dict[int, BookingArrival]:
    """The arrivals recorded at center nodes of these bookings, by booking (the first one of each): those of the
    node of the booking's own center (:func:`by_its_centers_node`). None on a single node, which has no other
    node (and so asks nothing more than before)."""
    wanted = sorted({i for i in booking_ids if i is not None})
    if not wanted or nodes.is_single(session):
        return {}
    found: dict[int, BookingArrival] = {}
    for arrival in session.exec(select(BookingArrival).where(col(BookingArrival.booking_id).in_(wanted),
                                                             *by_its_centers_node())
                                .order_by(col(BookingArrival.arrived_at), col(BookingArrival.id))).all():
        found.setdefault(arrival.booking_id, arrival)
    return found


def as_read(session: Session, rows: Sequence[Booking]) -> list[Booking]:
    """The bookings as every reader sees them: one whose arrival a center node recorded reads as arrived, with
    that node's ticket, whatever central's row says yet (booked, or no-show, cancelled when central decided so
    without knowing of the arrival: the arrival wins, docs/center-nodes.md). Such a booking is a copy, never
    written back; the others are the rows themselves."""
    arrived = arrivals_of(session, [b.id for b in rows if b.status != "arrived"])
    out = []
    for booking in rows:
        arrival = arrived.get(booking.id) if booking.id is not None else None
        if arrival is None or booking.status == "arrived":
            out.append(booking)
            continue
        out.append(Booking.model_validate({**booking.model_dump(), "status": "arrived",
                                           "arrived_at": arrival.arrived_at, "ticket_id": arrival.ticket_id,
                                           "ticket_number": arrival.ticket_number}))
    return out


def read_one(session: Session, booking: Booking) -> Booking:
    """:func:`as_read` of one booking."""
    return as_read(session, [booking])[0]


def _take_place(session: Session, center_key: int, category_code: str, starts_at: datetime, capacity: int) -> bool:
    """One place of the slot, if one is left (the caller's transaction; a rollback gives it back)."""
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(_SLOT)
    session.execute(insert.values(center_key=center_key, category_code=category_code, starts_at=starts_at, taken=0)
                    .on_conflict_do_nothing(index_elements=["center_key", "category_code", "starts_at"]))
    moved = session.execute(update(_SLOT).where(_SLOT.c.center_key == center_key,
                                                _SLOT.c.category_code == category_code,
                                                _SLOT.c.starts_at == starts_at, _SLOT.c.taken < capacity)
                            .values(taken=_SLOT.c.taken + 1))
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def _its_slot(booking: Booking) -> tuple[Any, ...]:
    return (_SLOT.c.center_key == booking.center_key, _SLOT.c.category_code == booking.category_code,
            _SLOT.c.starts_at == booking.starts_at)


def give_back(session: Session, booking: Booking) -> None:
    """The booking's place is free again (cancelled or no-show; the caller commits)."""
    session.execute(update(_SLOT).where(*_its_slot(booking), _SLOT.c.taken > 0).values(taken=_SLOT.c.taken - 1))


def retake(session: Session, booking: Booking) -> None:
    """The booking's place is taken again: a no-show or a cancelled booking whose arrival at a center node
    reached central late (engine/queue/booking_rounds.py). Capacity is not checked: the citizen came, and a
    place given to another citizen meanwhile (a cancelled booking's, before the slot started) is not taken from
    them. The caller commits."""
    session.execute(update(_SLOT).where(*_its_slot(booking)).values(taken=_SLOT.c.taken + 1))


def _active(session: Session, key: str) -> Booking | None:
    return session.exec(select(Booking).where(Booking.active_key == key)
                        .execution_options(populate_existing=True)).first()


def book(*, session: Session, settings: Settings, phone: str, center_id: int | None, category_code: str, day: Any,
         at: Any, language: str = "ar", now: datetime | None = None) -> tuple[Booking, bool]:
    """Book the slot of ``day`` (``2026-12-08``) starting at ``at`` (``09:15``, the center's clock) for the
    citizen: (the booking, True when it is new). Either digits are accepted."""
    moment = now or clock.now()
    wanted_day, wanted_time = appointments.parse_day(day), appointments.parse_time(at)
    appointments.check_range(wanted_day, settings, moment)
    plan = appointments.plan_of(session, center_id, category_code)
    open_hours = appointments.hours(session, settings, center_id)
    closed = open_hours.closed_because(wanted_day)
    if closed is not None:
        raise Conflict("booking.day_weekend" if closed == "weekend" else "booking.day_holiday",
                       day=wanted_day.isoformat())
    starts = {local_time(m, settings): m for m in appointments.starts(open_hours, plan, wanted_day, settings)}
    slot = starts.get(wanted_time.strftime("%H:%M"))
    if slot is None:
        raise Invalid("booking.no_such_slot", [problem("time", "field.booking_slot_times", time=wanted_time.strftime(
            "%H:%M"), times=", ".join(starts) or "-")])
    if slot <= moment:
        raise Conflict("booking.slot_past", day=wanted_day.isoformat(), time=local_time(slot, settings))
    key = active_key(phone, plan.category_code, wanted_day)
    already = _active(session, key)
    if already is not None:
        return _same_or_refuse(session, already, slot, settings), False
    with write_lock(session):
        try:
            if not _take_place(session, plan.center_key, plan.category_code, slot, plan.capacity):
                raise Conflict("booking.slot_full", day=wanted_day.isoformat(), time=local_time(slot, settings))
            booking = Booking(code=_new_code(session), phone=phone,
                              language=language if language in LANGUAGES else "ar", center_key=plan.center_key,
                              category_code=plan.category_code, day=wanted_day,
                              starts_at=slot, ends_at=slot + timedelta(minutes=plan.slot_minutes), status="booked",
                              active_key=key, created_at=moment)
            session.add(booking)
            session.commit()
        except IntegrityError:
            # The same citizen's other request booked this category's day first (or a code repeated).
            session.rollback()
            already = _active(session, key)
            if already is None:
                raise
            return _same_or_refuse(session, already, slot, settings), False
        except Conflict:
            session.rollback()
            raise
        session.refresh(booking)
    return booking, True


def _same_or_refuse(session: Session, already: Booking, slot: datetime, settings: Settings) -> Booking:
    """A retried booking of the same slot is answered with the visit already booked; another slot is refused,
    naming the service's queue in the reader's language (its code only when it is gone)."""
    if aware(already.starts_at) == slot:
        return read_one(session, already)  # as every reader: arrived once a center node recorded its arrival
    named = session.exec(select(QueueCategory).where(QueueCategory.code == already.category_code)).first()
    category = Words(named.name_en, named.name_ar) if named is not None else already.category_code
    raise Conflict("booking.already_booked", category=category, day=already.day.isoformat(),
                   time=local_time(already.starts_at, settings), code=already.code)


def _new_code(session: Session) -> str:
    """Eight random digits no other booking has (a repeat is one in a hundred million: tried again)."""
    for _ in range(5):
        code = "".join(str(secrets.randbelow(10)) for _ in range(CODE_DIGITS))
        if session.exec(select(Booking.id).where(Booking.code == code)).first() is None:
            return code
    raise Conflict("booking.no_code")


def mine(*, session: Session, settings: Settings, phone: str) -> Sequence[Booking]:
    """The citizen's visits, the latest slot first."""
    return as_read(session, session.exec(select(Booking).where(Booking.phone == phone)
                                         .order_by(col(Booking.starts_at).desc())
                                         .limit(settings.booking_list_max)).all())


def one_of_mine(session: Session, phone: str, code: Any) -> Booking:
    """The citizen's booking with this code; NotFound for another citizen's, as for one that does not exist."""
    wanted = normalise_code(code)
    found = session.exec(select(Booking).where(Booking.code == wanted)
                         .execution_options(populate_existing=True)).first() if wanted else None
    if found is None or found.phone != phone:
        raise NotFound("booking.not_found")
    return read_one(session, found)


def cancel(*, session: Session, settings: Settings, phone: str, code: Any, now: datetime | None = None) -> Booking:
    """Cancel one's booked visit before its slot starts; its place is free again. Cancelling twice answers the
    cancelled booking (a retried request)."""
    moment = now or clock.now()
    found = one_of_mine(session, phone, code)
    if found.status == "cancelled":
        return found
    if found.status != "booked":
        raise Conflict("booking.cancel_status", status=found.status)
    if aware(found.starts_at) <= moment:
        raise Conflict("booking.cancel_started", time=local_time(found.starts_at, settings))
    with write_lock(session):
        moved = session.execute(update(Booking).where(col(Booking.id) == found.id, col(Booking.status) == "booked")
                                .values(status="cancelled", cancelled_at=moment, active_key=None))
        if moved.rowcount:  # type: ignore[attr-defined]
            give_back(session, found)
        session.commit()
    return one_of_mine(session, phone, found.code)


def view(booking: Booking, settings: Settings, names: dict[int, dict[str, str]] | None = None,
         categories: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """A booking as the citizen and the staff read it."""
    return {"code": booking.code, "status": booking.status, "category": booking.category_code,
            "category_name": (categories or {}).get(booking.category_code),
            "center": (names or {}).get(booking.center_key), "day": booking.day,
            "time": local_time(booking.starts_at, settings),
            "starts_at": aware(booking.starts_at),
            "ends_at": aware(booking.ends_at),
            "ticket": booking.ticket_number, "reminded": booking.reminded_at is not None}


def of_day(*, session: Session, center_id: int | None, day: Any) -> tuple[Sequence[Booking], dict[str, int]]:
    """A center's bookings of a day, by slot, and how many are in each status (no-shows counted)."""
    wanted = appointments.parse_day(day)
    rows = as_read(session, session.exec(select(Booking).where(Booking.center_key == key_of(center_id),
                                                               Booking.day == wanted)
                                         .order_by(col(Booking.starts_at), col(Booking.id))).all())
    counts = {s: 0 for s in ("booked", "arrived", "no_show", "cancelled")}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return rows, counts
