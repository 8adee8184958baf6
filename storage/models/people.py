"""The people who sign in: staff users, their roles, lanes and center."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from storage.models.base import _ts, utcnow


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime = _ts(default_factory=utcnow)
    # What the pages speak and which calendar their dates use, remembered per user ('ar'/'en', 'gregory'/'islamic').
    language: str = Field(default="ar", max_length=8, sa_column_kwargs={"server_default": "ar"})
    calendar: str = Field(default="gregory", max_length=16, sa_column_kwargs={"server_default": "gregory"})
    # The service center the user works at (storage/models/centers.py); none = every center.
    center_id: int | None = Field(default=None, foreign_key="center.id", index=True)
    # Raised by a sign-out, a deactivation or a new password: every token and page cookie carries the number
    # it was issued under, and one that does not match is refused (engine/people/users.py ``actor_from_token``).
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
