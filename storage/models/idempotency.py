"""Answers kept for retried requests (``Idempotency-Key``, docs/deployment.md).

A row is inserted by the command's own transaction (engine/core/idempotency.py), so it exists exactly when the
command's writes do; the answer (status and body) is added right after, once the response is built. A retry
with the same user and key finds the row and gets that answer instead of running the command again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, PrimaryKeyConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import _big, _ts, utcnow

__all__ = ["IdempotencyKey"]


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_key"
    __table_args__ = (PrimaryKeyConstraint("username", "key"),)

    # Scoped by user: two clerks may pick the same key without seeing each other's answers.
    username: str = Field(max_length=64)
    key: str = Field(max_length=255)
    # SHA-256 of the method, path and body: the same key with another request is refused (422).
    fingerprint: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow, index=True)
    # The case the command wrote, when it wrote one: the answer of last resort if the process died between
    # the commit and recording the answer.
    case_id: int | None = _big(default=None)
    status: int | None = None
    content_type: str | None = Field(default=None, max_length=100)
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
