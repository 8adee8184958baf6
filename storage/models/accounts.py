"""Accounts: the record of every change to a user (engine/people/accounts.py), and the shared counters of failed
attempts that slow down guessing (engine/core/throttle.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import ChainLink, _ts, utcnow

__all__ = ["NodeSignOut", "ThrottleCounter", "UserEvent"]


# A chain link (storage/models/base.py ChainLink, as a drawer session's) laid out like storage/models/audit.py's
# AuditEvent on purpose (both are hash chains), kept apart: a user's chain
# is written and read by engine/people, a case's by the cases and the audit; neither table mixes the two.
class UserEvent(ChainLink, table=True):
    """One link of a user's own hash chain: created, changed, password set, signed out. Rows are only inserted.

    Each event's hash covers its content and the previous event's hash (engine/people/accounts.py ``event_hash``), as
    for the cases' chains; a password itself is never written here, only that it was set and by whom."""

    __tablename__ = "user_event"
    __table_args__ = (UniqueConstraint("user_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")


class ThrottleCounter(SQLModel, table=True):
    """Failed attempts of one key (a username, a client address, a tracking number) in one scope.

    ``key`` is SHA-256 of the scope and the key, so a row has the same small size whatever was typed. Every API
    process reads and writes the same rows, so N processes do not allow N times the guesses. A row is dead
    once ``expires_at`` (seconds since the epoch) has passed, and is deleted by the next clean-up."""

    __tablename__ = "throttle_counter"

    key: str = Field(max_length=64, primary_key=True)
    scope: str = Field(max_length=32)
    count: int = 0
    # No attempt of this key is looked at before this moment (seconds since the epoch).
    wait_until: float = 0.0
    expires_at: float = Field(index=True)


class NodeSignOut(SQLModel, table=True):
    """The sign-outs of a user at a center node, which does not write the users' rows (central's, replicated:
    storage/nodes.py). The user's session version there is their row's plus ``sign_outs``: a raise on either side
    (a sign-out here, a new password or a deactivation at central) ends every token and cookie issued before
    (engine/people/users.py ``session_version``). Never leaves the node."""

    __tablename__ = "node_sign_out"

    username: str = Field(primary_key=True, max_length=64)
    sign_outs: int
    at: datetime = _ts(default_factory=utcnow)
