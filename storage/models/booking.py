"""Booked visits (engine/queue/appointments.py, bookings.py, arrivals.py, booking_rounds.py): each center's
hours for visits, the slots of a queue category at a center, the places taken in each slot, and the bookings.

A center node does not write the bookings (central's rows): a booked visit's arrival at its kiosk is a row of its
own, ``booking_arrival``, which replicates to central (docs/center-nodes.md).

``center_key`` is the center's id, or 0 for the installation without centers (a primary key or a unique key
cannot hold NULL the same way on both databases), as ``queue_sequence`` does.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import JSON, Column, Date, Index, PrimaryKeyConstraint, Time, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import _big, _ts, utcnow

__all__ = ["Booking", "BookingArrival", "BookingCalendar", "BookingPlan", "BookingSlot"]


class BookingCalendar(SQLModel, table=True):
    """A center's hours for booked visits: when the first slot starts and the last one ends (local time), its
    weekend days (mon..sun) and the days it takes no visits besides the public holidays. A center without a row
    keeps the settings' defaults (``SHUBBAK_BOOKING_OPENS``, ``_CLOSES``, ``_WEEKEND_DAYS``)."""

    __tablename__ = "booking_calendar"

    center_key: int = Field(primary_key=True)
    opens: time = Field(sa_column=Column(Time, nullable=False))
    closes: time = Field(sa_column=Column(Time, nullable=False))
    weekend: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    holidays: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class BookingPlan(SQLModel, table=True):
    """Visits of one queue category at one center: the slots' length and how many citizens each takes."""

    __tablename__ = "booking_plan"
    __table_args__ = (UniqueConstraint("center_key", "category_code"),)

    id: int | None = Field(default=None, primary_key=True)
    center_key: int = 0
    category_code: str = Field(max_length=40)
    slot_minutes: int
    capacity: int
    active: bool = True


class BookingSlot(SQLModel, table=True):
    """The places taken in one slot, written on the first booking of the slot: a booking takes a place with
    ``UPDATE ... SET taken = taken + 1 WHERE taken < capacity``, so two citizens never share the last one."""

    __tablename__ = "booking_slot"
    __table_args__ = (PrimaryKeyConstraint("center_key", "category_code", "starts_at"),)

    center_key: int
    category_code: str = Field(max_length=40)
    starts_at: datetime = _ts()
    taken: int = 0


class Booking(SQLModel, table=True):
    """One citizen's booked visit. ``status``: booked, cancelled, arrived (a ticket was issued from it at the
    kiosk), no_show (nobody came by the slot's start plus the grace). ``active_key`` is set while it is booked
    or arrived and unique: one visit per citizen, category and day. An arrival at a center node's kiosk is that
    node's row (:class:`BookingArrival`) until central's bookings round writes it here."""

    __tablename__ = "booking"
    __table_args__ = (Index("ix_booking_status_starts", "status", "starts_at"),
                      Index("ix_booking_phone", "phone"),
                      Index("ix_booking_center_day", "center_key", "day"))

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    phone: str = Field(max_length=32)
    language: str = Field(max_length=8, default="ar")
    center_key: int = 0
    category_code: str = Field(max_length=40)
    day: date = Field(sa_type=Date)  # type: ignore[call-overload]
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    status: str = Field(max_length=16, default="booked")
    active_key: str | None = Field(default=None, max_length=100, unique=True)
    created_at: datetime = _ts(default_factory=utcnow)
    cancelled_at: datetime | None = _ts(default=None, nullable=True)
    reminded_at: datetime | None = _ts(default=None, nullable=True)
    arrived_at: datetime | None = _ts(default=None, nullable=True)
    no_show_at: datetime | None = _ts(default=None, nullable=True)
    ticket_id: int | None = _big(default=None, foreign_key="queue_ticket.id", nullable=True)
    ticket_number: str | None = Field(default=None, max_length=16)


class BookingArrival(SQLModel, table=True):
    """A booked visit's arrival at a center node's kiosk: the ticket it got there. The booking is central's row,
    which a center node does not write (storage/nodes.py); this row is the node's own and replicates to central.
    Every reader of a booking takes it into account (engine/queue/bookings.py ``as_read``): the booking reads as
    arrived with this ticket, whatever central's row says meanwhile; central's bookings round writes it into the
    booking's row when it arrives there (engine/queue/booking_rounds.py ``fold_arrivals``)."""

    __tablename__ = "booking_arrival"
    __table_args__ = (UniqueConstraint("booking_id", "node"),)

    id: int | None = _big(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="booking.id", index=True)
    node: str = Field(max_length=32)
    ticket_id: int = _big(foreign_key="queue_ticket.id")
    ticket_number: str = Field(max_length=16)
    arrived_at: datetime = _ts(default_factory=utcnow)
