"""Incidents: a case whose step failed (a script error or limit, a decision with no matching rule, a timer that
could not fire, a message that could not be delivered). One open row per case, element and reason; the same
failure again counts a repeat on it (engine/cases/incident_rows.py); a message between cases has one of its own
(two messages of one name are two incidents). Only the engine's cases package writes
this table (incidents.py, and correlated.py and undelivered.py for messages); every change is also an event on
the case's chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from storage.models.base import _big, _ts, utcnow


class Incident(SQLModel, table=True):
    __table_args__ = (Index("ix_incident_status_center", "status", "center_id"),
                      Index("ix_incident_case", "case_id"))

    id: int | None = _big(default=None, primary_key=True)
    case_id: int = _big(foreign_key="case_file.id")
    center_id: int | None = Field(default=None, foreign_key="center.id")
    service_code: str = Field(max_length=100)
    version: int
    element_id: str = Field(max_length=255)
    reason: str = Field(max_length=32)  # script_error, script_limit, no_rule, timer, message, message_waiting
    message: str = Field(max_length=2000)
    task_id: str | None = Field(default=None, max_length=36)  # the user task whose completion failed
    task_name: str | None = Field(default=None, max_length=255)
    # What the failed completion carried, to run it again on retry (the form's data, as the step would record it).
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=16, default="open")  # open, resolved, cancelled, skipped
    count: int = 1
    opened_at: datetime = _ts(default_factory=utcnow)
    last_at: datetime = _ts(default_factory=utcnow)
    closed_at: datetime | None = _ts(default=None, nullable=True)
    closed_by: str | None = Field(default=None, max_length=64)
    close_reason: str | None = Field(default=None, max_length=1000)
