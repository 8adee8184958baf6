"""The documents cases issue (engine/outputs/): permits, certificates, decision letters.

A row is written ``pending`` in the step's transaction that reached the issuing element (engine/cases/owed.py),
so a document owed is never lost; it is rendered, signed, stored and put in the case's chain after commit
(``valid``). A valid document later becomes ``superseded`` (a correction issued a new one) or ``revoked``; its
PDF is never overwritten. ``number`` is what the QR code and the public verification page name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import _big, _ts, utcnow

__all__ = ["IssuedOutput"]


class IssuedOutput(SQLModel, table=True):
    __tablename__ = "issued_output"
    __table_args__ = (UniqueConstraint("case_id", "kind", "source", name="uq_output_source"),)

    id: int | None = _big(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True)
    case_id: int = _big(foreign_key="case_file.id", index=True)
    center_id: int | None = Field(default=None, foreign_key="center.id", index=True)
    service_code: str = Field(max_length=100)
    kind: str = Field(max_length=64)
    # What issued it: the id of the ready task or the end event the case reached, or "supersedes:<number>".
    source: str = Field(max_length=140)
    status: str = Field(default="pending", max_length=16, index=True)  # pending, valid, superseded, revoked, failed
    sha256: str | None = Field(default=None, max_length=64)
    storage_key: str | None = Field(default=None, max_length=255, index=True)  # the orphans sweep looks it up
    size: int | None = None  # bytes of the stored PDF (a backup copies and checks it: engine/operations/backup.py)
    # The holder's name as the public page shows it (first name and initials): nothing else personal here.
    holder_masked: str | None = Field(default=None, max_length=200)
    event_seq: int | None = None  # the ``output_issued`` event of the case's chain
    supersedes: str | None = Field(default=None, max_length=40)
    superseded_by: str | None = Field(default=None, max_length=40)
    revoked_by: str | None = Field(default=None, max_length=100)
    revoke_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempts: int = 0
    prints: int = 0  # copies printed at the center so far, each an ``output_printed`` event of the case's chain
    created_at: datetime = _ts(default_factory=utcnow)
    issued_at: datetime | None = _ts(default=None, nullable=True)
    status_at: datetime | None = _ts(default=None, nullable=True)  # when it was superseded or revoked
