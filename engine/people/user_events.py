"""The record of changes to users: one append-only hash chain per user, like a case's (engine/core/chain.py).

Each event's hash is SHA-256 over the previous event's hash and a canonical JSON of its content (user, sequence
number, time, who did it, kind, data). The event is added to the caller's transaction, so the change and its
record are written together or not at all. Passwords never appear here, only that one was set and by whom.

Kinds: ``created``, ``updated`` (``changes``: each field's old and new value), ``password_reset`` (by an
admin), ``password_changed`` (by the user), ``signed_out``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session, col, select

from engine.core.chain import GENESIS, canonical, now_iso
from storage.models.accounts import UserEvent
from storage.models.people import User


def event_hash(*, user_id: int, seq: int, at: str, actor: str, kind: str, data: Any, prev_hash: str) -> str:
    body = json.dumps({"user_id": user_id, "seq": seq, "at": at, "actor": actor, "kind": kind, "data": data},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def add(session: Session, user: User, *, actor: str, kind: str, data: dict[str, Any] | None = None) -> UserEvent:
    """The next link of ``user``'s chain, added to the session (the caller commits; a lost race on the same
    user's next number fails that commit on the unique (user_id, seq) key)."""
    assert user.id is not None
    last = session.exec(select(UserEvent).where(UserEvent.user_id == user.id)
                        .order_by(col(UserEvent.seq).desc()).limit(1)).first()
    seq = (last.seq if last else 0) + 1
    prev = last.hash if last else GENESIS
    at = now_iso()
    clean = canonical(data or {})
    event = UserEvent(user_id=user.id, seq=seq, at=at, actor=actor, kind=kind, data=clean, prev_hash=prev,
                      hash=event_hash(user_id=user.id, seq=seq, at=at, actor=actor, kind=kind, data=clean,
                                      prev_hash=prev))
    session.add(event)
    return event


def of_user(session: Session, user_id: int, *, limit: int, offset: int = 0) -> list[UserEvent]:
    return list(session.exec(select(UserEvent).where(UserEvent.user_id == user_id)
                             .order_by(col(UserEvent.seq)).offset(offset).limit(limit)).all())


def broken_link(events: list[UserEvent]) -> int | None:
    """The sequence number of the first event whose link does not hold (in ``seq`` order), or None."""
    prev = GENESIS
    for expected, ev in enumerate(events, start=1):
        if ev.seq != expected or ev.prev_hash != prev or event_hash(
                user_id=ev.user_id, seq=ev.seq, at=ev.at, actor=ev.actor, kind=ev.kind, data=ev.data,
                prev_hash=ev.prev_hash) != ev.hash:
            return ev.seq
        prev = ev.hash
    return None
