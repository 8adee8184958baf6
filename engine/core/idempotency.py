"""Idempotency keys: a retried request gets the first answer instead of running its command twice.

The face (api/idempotency.py) opens a ``Pending`` for a request that carries a key, for the length of the
request. The invariant: **the key's row is written by the request's first commit**, i.e. by the command's own
transaction (a ``before_commit`` listener below), so the row exists exactly when the command's writes do. A
process killed after the commit leaves the row (and the case it wrote, noted by the ``note_case`` hook) for
the retry to find; killed before it, neither exists and the retry runs the command afresh. Two requests with
one key at once both run; the second's commit meets the first's row (the primary key) or the case's version,
rolls back whole, and the face answers it with the first one's answer. Commands taking a key commit once.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from engine.core import clock
from engine.core.settings import Settings
from storage.models.base import table
from storage.models.idempotency import IdempotencyKey

if TYPE_CHECKING:  # pragma: no cover
    from engine.cases.hooks import Written

_KEYS = table(IdempotencyKey)


@dataclass
class Pending:
    """A request with a key, while it runs. ``fingerprint`` is read at the commit, once the body is read."""

    username: str
    key: str
    fingerprint: Callable[[], str]
    case_id: int | None = None
    inserted: bool = False  # by the transaction being committed
    committed: bool = False


@dataclass(frozen=True)
class Answer:
    fingerprint: str
    case_id: int | None
    status: int | None
    content_type: str | None
    body: bytes | None


_current: contextvars.ContextVar[Pending | None] = contextvars.ContextVar("shubbak_idempotency", default=None)


def begin(pending: Pending) -> contextvars.Token[Pending | None]:
    return _current.set(pending)


def end(token: contextvars.Token[Pending | None]) -> None:
    _current.reset(token)


def note_case(written: Written) -> None:
    """Hook (engine/cases/hooks.py): remember the case the keyed request's command writes."""
    pending = _current.get()
    if pending is not None and pending.case_id is None and not pending.committed:
        pending.case_id = written.case.id


@event.listens_for(OrmSession, "before_commit")
def _write_key(session: OrmSession) -> None:
    pending = _current.get()
    if pending is None or pending.committed:
        return
    session.connection().execute(insert(_KEYS).values(
        username=pending.username, key=pending.key, fingerprint=pending.fingerprint(), created_at=clock.now(),
        case_id=pending.case_id))
    pending.inserted = True


@event.listens_for(OrmSession, "after_commit")
def _key_written(_session: OrmSession) -> None:
    pending = _current.get()
    if pending is not None and pending.inserted:
        pending.committed = True


@event.listens_for(OrmSession, "after_rollback")
def _key_undone(_session: OrmSession) -> None:
    pending = _current.get()
    if pending is not None and not pending.committed:
        pending.inserted = False


def find(session: Session, *, username: str, key: str, settings: Settings) -> Answer | None:
    """The key's recorded request, if any and younger than ``idempotency_hours`` (an older one is forgotten)."""
    row = session.connection().execute(select(_KEYS).where(_KEYS.c.username == username,
                                                           _KEYS.c.key == key)).first()
    session.rollback()  # end the read: a waiting retry must see the first request's answer when it lands
    if row is None:
        return None
    if _aware(row.created_at) < clock.now() - timedelta(hours=settings.idempotency_hours):
        session.connection().execute(delete(_KEYS).where(_KEYS.c.username == username, _KEYS.c.key == key))
        session.commit()
        return None
    return Answer(row.fingerprint, row.case_id, row.status, row.content_type, row.body)


def wait_for_answer(session: Session, *, username: str, key: str, settings: Settings) -> Answer | None:
    """The key's row once its answer is recorded, polling up to ``idempotency_wait_seconds``; the row without
    an answer when it does not come (the process that ran the command died after its commit)."""
    deadline = time.monotonic() + settings.idempotency_wait_seconds
    pause = 0.02
    while True:
        found = find(session, username=username, key=key, settings=settings)
        if found is None or found.status is not None or time.monotonic() >= deadline:
            return found
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def record_answer(session: Session, *, username: str, key: str, status: int, content_type: str | None,
                  body: bytes) -> None:
    session.connection().execute(update(_KEYS).where(_KEYS.c.username == username, _KEYS.c.key == key)
                                 .values(status=status, content_type=content_type, body=body))
    session.commit()


def forget_expired(*, session: Session, settings: Settings) -> int:
    """Delete the keys older than ``idempotency_hours`` (the periodic tick); returns how many."""
    cutoff = clock.now() - timedelta(hours=settings.idempotency_hours)
    result: Any = session.connection().execute(delete(_KEYS).where(_KEYS.c.created_at < cutoff))
    session.commit()
    return int(result.rowcount or 0)


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they are stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
