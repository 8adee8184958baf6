"""Open311 GeoReport v2 (engine/citizen/open311.py): the keys issued to outside applications, stored hashed, and
the requests they filed (the case each opened, and what made a retried POST the same request)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import _big, _ts, utcnow

__all__ = ["Open311Key", "Open311Request"]


class Open311Key(SQLModel, table=True):
    """An outside application's ``api_key``: SHA-256 of the key (it is 256 random bits, so no slow hash is
    needed), never the key itself; a revoked key is kept so that its requests still name it."""

    __tablename__ = "open311_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    revoked_at: datetime | None = _ts(default=None, nullable=True)


class Open311Request(SQLModel, table=True):
    """A service request an application filed: the case it opened (its tracking number is the
    ``service_request_id``), the request as sent, and its SHA-256 under the key, so that the same POST sent
    again answers with the same case instead of opening a second one."""

    __tablename__ = "open311_request"
    __table_args__ = (UniqueConstraint("key_id", "request_hash"),)

    id: int | None = _big(default=None, primary_key=True)
    key_id: int = Field(foreign_key="open311_key.id", index=True)
    request_hash: str = Field(max_length=64)
    case_id: int = _big(foreign_key="case_file.id", unique=True)
    description: str | None = Field(default=None, max_length=4000)
    address: str | None = Field(default=None, max_length=300)
    lat: float | None = None
    long: float | None = None
    created_at: datetime = _ts(default_factory=utcnow)
