"""Service centers: one installation serves many (a governorate, its cities, their districts).

Cases, tasks and users carry a ``center_id`` (storage/models/cases.py, people.py); engine/people/centers.py
answers which centers a user sees: their own and every center below it.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

__all__ = ["CENTER_LEVELS", "Center"]

CENTER_LEVELS = ("governorate", "city", "district")


class Center(SQLModel, table=True):
    __tablename__ = "center"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name_ar: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    level: str = Field(max_length=16)
    parent_id: int | None = Field(default=None, foreign_key="center.id", index=True)
    # The center's own public holidays (ISO dates; e.g. a governorate's national day), on top of the
    # installation's calendar; a center also keeps the holidays of the centers above it (engine/core/calendars.py).
    holidays: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
