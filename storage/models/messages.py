"""The outbox of messages to citizens (docs/messages.md).

A row is written in the same transaction as the case event that calls for it (engine/messages/outbox.py) and
sent later, outside any request, by a Celery worker or the embedded sender (engine/messages/send.py).
``idempotency_key`` is fixed when the row is written and sent with every attempt, so a gateway that already
accepted it drops a repeated send instead of texting the citizen twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from storage import nodes
from storage.models.base import _big, _ts, utcnow

__all__ = ["OutboxMessage"]


class OutboxMessage(SQLModel, table=True):
    """One message to one citizen over one channel; ``status``: pending, sending, sent, failed."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = _big(default=None, primary_key=True)
    # The case the message is about; NULL for a citizen's sign-in code (engine/citizen/signin.py), which is about
    # no case and stays out of every case's list of messages.
    case_id: int | None = _big(default=None, foreign_key="case_file.id", index=True)
    # The audit event (seq in the case's chain) whose transaction wrote the message; NULL with the case.
    event_seq: int | None = None
    stage: str = Field(max_length=32)
    # What the stage is about, to send it once per case: the department's lane, or the task's id.
    ref: str | None = Field(default=None, max_length=100)
    channel: str = Field(max_length=16)
    recipient: str = Field(max_length=255)
    language: str = Field(max_length=8)
    subject: str | None = Field(default=None, max_length=255)
    body: str = Field(sa_column=Column(Text, nullable=False))
    idempotency_key: str = Field(max_length=64, unique=True)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _ts(default_factory=utcnow)
    # A sender that claimed the message holds it until then; after that another one may take it over.
    lease_until: datetime | None = _ts(default=None, nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    gateway: str | None = Field(default=None, max_length=32)
    gateway_ref: str | None = Field(default=None, max_length=255)
    created_at: datetime = _ts(default_factory=utcnow)
    sent_at: datetime | None = _ts(default=None, nullable=True)
    # The center node that wrote the message (NULL: central or a single node): only that node sends it, wherever
    # replication carries the row (storage/nodes.py). Filled in by the insert itself.
    node: str | None = Field(default=None, max_length=32, sa_column_kwargs={"default": nodes.written_here})
    # A failed message about a case opens an incident on it (engine/cases/undelivered.py); the incident's id,
    # once opened. Cleared when the message is put back to be sent again.
    incident_id: int | None = _big(default=None)
