"""Citizens' sign-in codes (engine/citizen/signin.py): one row per code sent, hashed, never the code itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.models.base import _ts, utcnow

__all__ = ["CitizenCode"]


class CitizenCode(SQLModel, table=True):
    """A code sent to ``phone``: HMAC-SHA-256 of the phone and the code under a key of its own (``code_hash``),
    good until ``expires_at`` for ``citizen_code_max_tries`` tries; ``used_at`` once it signed someone in."""

    __tablename__ = "citizen_code"
    __table_args__ = (Index("ix_citizen_code_phone", "phone", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=32)
    code_hash: str = Field(max_length=64)
    tries: int = 0
    created_at: datetime = _ts(default_factory=utcnow)
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(default=None, nullable=True)
