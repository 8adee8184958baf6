"""What the tables share: the time stamp columns, a hash chain link's columns, and the way to a model's Core
table. Only engine commands write the tables (see docs/architecture.md); each domain's tables live in their own
module of this package."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Table
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def table(model: type[SQLModel]) -> Table:
    """The model's Core table, for set-based statements (``insert``, ``update``, joins on columns)."""
    return model.__table__  # type: ignore[attr-defined]


def tables(*models: type[SQLModel]) -> tuple[Table, ...]:
    """The models' Core tables, in order: ``_CASES, _TASKS = tables(Case, Task)``."""
    return tuple(table(model) for model in models)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=DateTime(timezone=True), **kw)  # type: ignore[call-overload]


class ChainLink(SQLModel):
    """The columns of one link of an owner's own hash chain (a user's record, a drawer session): the table adds its
    ``id`` and the owner's key. Each link's hash covers its content and ``prev_hash``; rows are only inserted."""

    seq: int
    at: str = Field(max_length=40)
    actor: str = Field(max_length=64)
    kind: str = Field(max_length=40)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)  # type: ignore[call-overload]
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
