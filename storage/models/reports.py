"""Report aggregates: counters and duration histograms kept as cases advance (engine/reports/).

Written only by the projector from the audit events after they commit (engine/reports/projector.py) and by the rebuild
(engine/reports/rebuild.py), which recomputes them from the cases and tasks. Read by engine/reports/figures.py.
``center_id`` 0 means "no center"; ``day`` is the UTC date of the moment counted. A duration row counts the
durations that fell in one log-scale bucket (engine/reports/buckets.py) and their exact sum of seconds.

Duration rows come in two grains: ``d`` (``day`` is that day) and ``m`` (``day`` is the first of the month, the
whole month's durations). A range reads whole months from the monthly rows and only its loose days from the
daily ones, so a year reads about as many rows as two months.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Column, DateTime
from sqlmodel import Field, SQLModel

__all__ = ["ProjectionCursor", "ReportCaseTime", "ReportClaim", "ReportDay", "ReportLaneDay", "ReportOfficerTime",
           "ReportStepTime"]


class ReportDay(SQLModel, table=True):
    """Cases of one service at one center on one day: opened that day, and ended that day (by how)."""

    __tablename__ = "report_day"

    day: date = Field(primary_key=True)
    service_code: str = Field(primary_key=True, max_length=100)
    center_id: int = Field(primary_key=True)
    opened: int = 0
    completed: int = 0
    rejected: int = 0
    on_time: int = 0
    late: int = 0
    cancelled: int = 0


class ReportChannelDay(SQLModel, table=True):
    """Cases of one service at one center opened on one day through one channel (``Case.channel``: the counter,
    or the citizen applying online)."""

    __tablename__ = "report_channel_day"

    day: date = Field(primary_key=True)
    service_code: str = Field(primary_key=True, max_length=100)
    center_id: int = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=16)
    opened: int = 0


class ReportLaneDay(SQLModel, table=True):
    """User tasks of one lane (department) of one service at one center completed on one day."""

    __tablename__ = "report_lane_day"

    day: date = Field(primary_key=True)
    service_code: str = Field(primary_key=True, max_length=100)
    center_id: int = Field(primary_key=True)
    lane: str = Field(primary_key=True, max_length=100)
    completed: int = 0
    on_time: int = 0


# The three duration tables end alike on purpose (a bucket, its count and its sum of seconds: the histogram row
# described above); each is its own table because each is keyed by what its figure groups by.
class ReportCaseTime(SQLModel, table=True):
    """Opened-to-completed durations of the cases completed on ``day``."""

    __tablename__ = "report_case_time"

    grain: str = Field(primary_key=True, max_length=1)
    day: date = Field(primary_key=True)
    service_code: str = Field(primary_key=True, max_length=100)
    center_id: int = Field(primary_key=True)
    bucket: int = Field(primary_key=True)
    count: int = 0
    seconds: float = 0.0


# Ends like ReportCaseTime on purpose, with ``on_time`` beside the count (see the note above ReportCaseTime).
class ReportStepTime(SQLModel, table=True):
    """Ready-to-completed durations of one user task (``name``, in ``lane``) completed on ``day``."""

    __tablename__ = "report_step_time"

    service_code: str = Field(primary_key=True, max_length=100)
    grain: str = Field(primary_key=True, max_length=1)
    day: date = Field(primary_key=True)
    center_id: int = Field(primary_key=True)
    lane: str = Field(primary_key=True, max_length=100)
    name: str = Field(primary_key=True, max_length=255)
    bucket: int = Field(primary_key=True)
    count: int = 0
    on_time: int = 0
    seconds: float = 0.0


# Ends like ReportCaseTime and ReportStepTime on purpose (the histogram row: see the note above ReportCaseTime).
class ReportOfficerTime(SQLModel, table=True):
    """Handling times (claimed, or else ready, to completed) of the tasks an officer completed on ``day``, in one
    lane, of every service together: an officer's rows are per department, not per service (a front-desk officer
    serves every service, and a row per service would multiply what a year's figures read)."""

    __tablename__ = "report_officer_time"

    grain: str = Field(primary_key=True, max_length=1)
    day: date = Field(primary_key=True)
    center_id: int = Field(primary_key=True)
    officer: str = Field(primary_key=True, max_length=64)
    lane: str = Field(primary_key=True, max_length=100)
    bucket: int = Field(primary_key=True)
    count: int = 0
    seconds: float = 0.0


class ReportClaim(SQLModel, table=True):
    """When a ready task was last claimed: its handling time starts there. Gone when the task is done."""

    __tablename__ = "report_claim"

    task_id: str = Field(primary_key=True, max_length=36)
    claimed_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class ProjectionCursor(SQLModel, table=True):
    """How far a projection built from the audit events has read (engine/reports/projector.py).

    Every event id up to ``position`` is counted; so is every id up to ``high`` except the ``holes``: ids not
    seen yet although a later one was (a transaction still in flight, or rolled back), each with the moment it
    was first missed. ``checked_at`` is the end of the last round: every event committed before it is counted."""

    __tablename__ = "projection_cursor"

    name: str = Field(primary_key=True, max_length=40)
    position: int = Field(default=0, sa_type=BigInteger)  # type: ignore[call-overload]
    high: int = Field(default=0, sa_type=BigInteger)  # type: ignore[call-overload]
    holes: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    checked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
