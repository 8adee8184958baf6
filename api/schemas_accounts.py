"""What the user-lifecycle routes take and give (api/routes/users.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from storage.models.accounts import UserEvent
from storage.models.people import User


class UserUpdate(BaseModel):
    """An admin's change to a user: only the fields sent are changed. ``center: null`` with
    ``installation_wide: true`` makes the user installation-wide staff (no center); ``password`` sets a new
    one and ends the user's sessions."""

    model_config = ConfigDict(extra="forbid")
    active: bool | None = None
    roles: list[str] | None = Field(default=None, max_length=50)
    center: str | None = Field(default=None, max_length=32)
    # With ``center: null``: the user is installation-wide staff on purpose (engine/people/policy.py).
    installation_wide: bool | None = None
    full_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=4096)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=4096)
    new_password: str = Field(max_length=4096)


class UserView(BaseModel):
    id: int
    username: str
    full_name: str
    roles: list[str]
    active: bool
    center: str | None

    @classmethod
    def of(cls, user: User, center_codes: dict[int, str]) -> UserView:
        assert user.id is not None
        return cls(id=user.id, username=user.username, full_name=user.full_name, roles=list(user.roles),
                   active=user.active, center=center_codes.get(user.center_id) if user.center_id else None)


class UserList(BaseModel):
    items: list[UserView]
    total: int
    limit: int
    offset: int


class UserEventView(BaseModel):
    seq: int
    at: str
    actor: str
    kind: str
    data: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, ev: UserEvent) -> UserEventView:
        return cls(seq=ev.seq, at=ev.at, actor=ev.actor, kind=ev.kind, data=ev.data, hash=ev.hash)


class UserEventList(BaseModel):
    items: list[UserEventView]
    total: int
    chain_intact: bool
