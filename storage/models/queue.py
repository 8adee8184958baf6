"""The queue of a center's hall: service categories, counters (windows), tickets, their daily numbers and calls.

Only ``engine/queue/`` writes these tables. ``center_id`` is left nullable for installations with several
centers; one center runs with it empty.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Date, Index, PrimaryKeyConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage import nodes
from storage.models.base import _big, _ts, utcnow


class QueueCategory(SQLModel, table=True):
    """A kind of service the kiosk offers (civil registry, permits...): its names, its ticket letter, and
    the service codes whose cases are opened from its tickets."""

    __tablename__ = "queue_category"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    letter: str = Field(max_length=4, unique=True)
    name_ar: str = Field(max_length=100)
    name_en: str = Field(max_length=100)
    services: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    position: int = 0
    active: bool = True
    center_id: int | None = Field(default=None, nullable=True)
    # Its tickets' effective wait is multiplied by this (engine/queue/ordering.py): booked visits (the
    # ``appointments`` category) are called sooner than walk-ins who came at the same moment.
    weight: float = 1.0
    # False for a category whose tickets only come from something else (booked visits, engine/queue/arrivals.py):
    # the kiosk shows no button for it and refuses to issue one.
    walk_in: bool = True


class QueueCounter(SQLModel, table=True):
    """A window of the hall: its number on the board, and the categories whose tickets it calls."""

    __tablename__ = "queue_counter"
    __table_args__ = (UniqueConstraint("center_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    number: int
    name: str = Field(max_length=100)
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    open: bool = True
    center_id: int | None = Field(default=None, nullable=True)


class QueueTicket(SQLModel, table=True):
    """One citizen's place in the queue. ``waiting_since`` is the moment its waiting counts from (kept by a
    transfer); ``number`` is what the citizen holds, e.g. ``P-014``, unique per center and day."""

    __tablename__ = "queue_ticket"
    __table_args__ = (Index("ix_queue_ticket_day_number", "day", "number"),
                      Index("ix_queue_ticket_status_category", "status", "category_code"))

    id: int | None = _big(default=None, primary_key=True)
    number: str = Field(max_length=16)
    day: date = Field(sa_type=Date)  # type: ignore[call-overload]
    seq: int
    category_code: str = Field(max_length=40)
    priority: str = Field(max_length=16)
    status: str = Field(max_length=16, default="waiting")
    issued_at: datetime = _ts(default_factory=utcnow)
    waiting_since: datetime = _ts(default_factory=utcnow)
    called_at: datetime | None = _ts(default=None, nullable=True)
    served_at: datetime | None = _ts(default=None, nullable=True)
    finished_at: datetime | None = _ts(default=None, nullable=True)
    counter_id: int | None = Field(default=None, foreign_key="queue_counter.id", nullable=True)
    called_by: str | None = Field(default=None, max_length=64)
    recalls: int = 0
    transferred_from_id: int | None = _big(default=None, foreign_key="queue_ticket.id", nullable=True)
    transferred_to: str | None = Field(default=None, max_length=16)
    case_id: int | None = _big(default=None, foreign_key="case_file.id", nullable=True, index=True)
    center_id: int | None = Field(default=None, nullable=True)
    # The center node that issued the ticket (NULL: central or a single node), filled in by the insert itself: only
    # that node's counters act on it, wherever replication carries the row (engine/queue/calls.py).
    node: str | None = Field(default=None, max_length=32, sa_column_kwargs={"default": nodes.written_here})


class QueueSequence(SQLModel, table=True):
    """The last number given per category, day and center (``center_key`` 0 without centers): one row
    updated in place, so that two kiosks never print the same number."""

    __tablename__ = "queue_sequence"
    __table_args__ = (PrimaryKeyConstraint("category_code", "day", "center_key"),)

    category_code: str = Field(max_length=40)
    day: date = Field(sa_type=Date)  # type: ignore[call-overload]
    center_key: int = 0
    last: int = 0


class QueueCall(SQLModel, table=True):
    """Every call and recall, in order: the board follows this table (its ``id`` is the stream's cursor),
    so that every API process sees every counter's calls."""

    __tablename__ = "queue_call"

    id: int | None = _big(default=None, primary_key=True)
    ticket_id: int = _big(foreign_key="queue_ticket.id")
    ticket_number: str = Field(max_length=16)
    category_code: str = Field(max_length=40)
    counter_number: int
    counter_name: str = Field(max_length=100)
    kind: str = Field(max_length=16)
    at: datetime = _ts(default_factory=utcnow)
    center_id: int | None = Field(default=None, nullable=True)


class BoardStream(SQLModel, table=True):
    """One open display-board stream (server-sent events), so that the cap per client address counts the
    streams of every API process, not of one. A lease: the stream renews ``expires_at`` while it runs and
    deletes its row when it ends; the row of a process that died expires by itself."""

    __tablename__ = "board_stream"

    id: str = Field(max_length=32, primary_key=True)
    # SHA-256 of the client's address: the same small row whatever the address.
    client_key: str = Field(max_length=64, index=True)
    # Seconds since the epoch: when the stream opened (first come, first served) and when its lease ends.
    opened_at: float
    expires_at: float = Field(index=True)


__all__ = ["BoardStream", "QueueCall", "QueueCategory", "QueueCounter", "QueueSequence", "QueueTicket"]
