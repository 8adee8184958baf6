"""The keys outside applications file Open311 requests with (docs/api.md, "Open311").

An admin issues a key to an application by its name (``POST /api/open311/keys``, ``shubbak open311 add-key``); the
key is shown once and stored as its SHA-256 only. A request with a missing, unknown or revoked key is refused
with 403, as the GeoReport v2 specification says.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.core import clock
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.refusals import problem
from engine.people import policy
from engine.people.users import Actor
from storage.models.open311 import Open311Key

NAME_MAX = 100


def hash_of(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


def issue(*, session: Session, name: str, actor: Actor) -> tuple[Open311Key, str]:
    """A new key for the application ``name``: the row and the key itself, which is not kept."""
    policy.require(actor, "users.manage")
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise Invalid("open311.key_name", [problem("name", "open311.key_name", loc=["body", "name"],
                                                   kind="value_error", count=NAME_MAX)], count=NAME_MAX)
    if session.exec(select(Open311Key.id).where(Open311Key.name == name)).first() is not None:
        raise Conflict("open311.key_name_taken", name=name)
    api_key = secrets.token_urlsafe(32)
    row = Open311Key(name=name, key_hash=hash_of(api_key), created_by=actor.username[:64], created_at=clock.now())
    session.add(row)
    try:
        session.commit()
    except IntegrityError as exc:  # the same name at the same moment
        session.rollback()
        raise Conflict("open311.key_name_taken", name=name) from exc
    session.refresh(row)
    return row, api_key


def revoke(*, session: Session, name: str, actor: Actor) -> Open311Key:
    policy.require(actor, "users.manage")
    row = session.exec(select(Open311Key).where(Open311Key.name == name)).first()
    if row is None:
        raise NotFound("open311.key_unknown", name=name)
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def application(session: Session, api_key: str | None) -> Open311Key:
    """The live key's row; Forbidden (403) when the key is missing, unknown or revoked."""
    if not api_key:
        raise Forbidden("open311.api_key_missing")
    row = session.exec(select(Open311Key).where(Open311Key.key_hash == hash_of(api_key),
                                                col(Open311Key.revoked_at).is_(None))).first()
    if row is None:
        raise Forbidden("open311.api_key_invalid")
    return row
