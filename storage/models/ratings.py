"""Citizens' satisfaction ratings: one row per rated case (engine/cases/ratings.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from storage.models.base import _big, _ts, utcnow

__all__ = ["Rating"]


class Rating(SQLModel, table=True):
    """How a citizen rated a completed case: a face and an optional reason.

    ``case_id`` is unique: a case is rated at most once, and a second rating loses on the database's own key
    even when two arrive at the same moment. Service, center and clerk are copied from the case so that
    reports group ratings without a join. ``center_id`` has no foreign key: a rating outlives a center's
    rows, and the table does not depend on the centers' migration."""

    __tablename__ = "rating"

    id: int | None = _big(default=None, primary_key=True)
    case_id: int = _big(foreign_key="case_file.id", unique=True)
    service_code: str = Field(max_length=100, index=True)
    center_id: int | None = Field(default=None, index=True)
    # The front-desk clerk who registered the case (the case's ``created_by``).
    clerk: str = Field(max_length=64, index=True)
    score: str = Field(max_length=8)
    reason_code: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # "link": the citizen's own link; "desk": the counter's tablet, opened by ``opened_by``.
    channel: str = Field(max_length=8)
    opened_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
