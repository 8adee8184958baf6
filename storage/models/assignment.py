"""Who gets the work: each center's rule per lane, the round-robin turn, officers' absences and their days off
the work (engine/cases/assignment.py chooses; engine/people/presence.py records who is away)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import _ts, utcnow


class AssignmentRule(SQLModel, table=True):
    """A center's rule for one lane, set by its supervisor: ``pick`` (officers claim), ``round_robin``,
    ``least_loaded`` or ``random``. Without a row the service's ``[assignment]`` decides, else ``pick``."""

    __tablename__ = "assignment_rule"
    __table_args__ = (UniqueConstraint("center_id", "lane"),)

    id: int | None = Field(default=None, primary_key=True)
    center_id: int = Field(foreign_key="center.id")
    lane: str = Field(max_length=100)
    rule: str = Field(max_length=16)
    set_by: str = Field(max_length=64)
    set_at: datetime = _ts(default_factory=utcnow)


# Laid out like storage/models/audit.py's AuditEvent on purpose (both are hash chain links), kept apart: a center's
# rules are chained and written by engine/cases/distribution.py, a case's events by the cases and the audit.
class AssignmentRuleEvent(SQLModel, table=True):
    """One change of a center's rules, a link of the center's own hash chain (like a user's record)."""

    __tablename__ = "assignment_rule_event"
    __table_args__ = (UniqueConstraint("center_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    center_id: int = Field(foreign_key="center.id")
    seq: int
    at: str = Field(max_length=40)
    actor: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AssignmentTurn(SQLModel, table=True):
    """The round robin's place in a center's lane. Every automatic choice in the lane first bumps ``turns``
    (an UPDATE: the row lock on PostgreSQL, the write lock on SQLite), so two choices never see the same turn."""

    __tablename__ = "assignment_turn"

    center_id: int = Field(foreign_key="center.id", primary_key=True)
    lane: str = Field(max_length=100, primary_key=True)
    turns: int = 0
    last_username: str | None = Field(default=None, max_length=64)


class Absence(SQLModel, table=True):
    """An officer away from ``starts`` to ``ends`` (both days included, the installation's calendar days).
    At its start their open tasks go to ``delegate`` (or back to the rule); ``handed_over_at`` says it was done.
    After its end those of them nobody else took meanwhile come back to the officer; ``returned_at`` says it was
    done."""

    __tablename__ = "absence"
    # Two absences of one officer never overlap (engine/people/presence.py checks it under a lock on the
    # officer's row); the database itself refuses the commonest race, the same first day twice.
    __table_args__ = (Index("ix_absence_user_days", "username", "starts", "ends"),
                      Index("ux_absence_user_starts", "username", "starts", unique=True))

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    starts: date
    ends: date
    delegate: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    handed_over_at: datetime | None = _ts(default=None, nullable=True, index=True)
    returned_at: datetime | None = _ts(default=None, nullable=True)


class AbsenceHandOver(SQLModel, table=True):
    """What a center node did about one absence on its own cases (the absence is central's row, which a center
    node does not write: storage/nodes.py): ``handed_over_at``, when it handed over the officer's open tasks of
    its cases; ``returned_at``, when it gave back those nobody took meanwhile, at the absence's end or once its
    cancellation arrived. Central keeps the same on the absence's own row. Never replicated: each node hands over
    its own cases once."""

    __tablename__ = "absence_hand_over"

    absence_id: int = Field(primary_key=True)
    username: str = Field(max_length=64)  # the officer: still known once the absence's row is gone
    handed_over_at: datetime = _ts(default_factory=utcnow)
    returned_at: datetime | None = _ts(default=None, nullable=True, index=True)


class Unavailable(SQLModel, table=True):
    """An officer who marked themselves unavailable for ``day`` (a break, training): no new work that day."""

    __tablename__ = "unavailable_day"

    username: str = Field(max_length=64, primary_key=True)
    day: date = Field(primary_key=True)
    set_at: datetime = _ts(default_factory=utcnow)
