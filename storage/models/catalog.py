"""Deployed process versions: immutable, content-addressed, one row per version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import _ts, utcnow


class ProcessVersion(SQLModel, table=True):
    """One immutable, content-addressed version of a service's diagrams, forms and metadata."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("service_code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    service_code: str = Field(max_length=100, index=True)
    process_id: str = Field(max_length=255)
    version: int
    sha256: str = Field(max_length=64, unique=True)
    files: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    service: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    retired: bool = False
