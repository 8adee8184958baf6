"""Send the outbox: claim a message, hand it to its gateway, record what happened. Never inside a request.

Claiming is one conditional UPDATE (pending and due, or sending with an expired lease -> sending, attempt + 1,
lease), so two senders never hold the same message. The result is written only by the holder of that
attempt. A sender that dies between "the gateway accepted" and "marked sent" leaves the message ``sending``;
when its lease runs out another sender takes it and sends it again under the same idempotency key, which the
gateway uses to drop the repeat: the citizen gets it once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, or_, select, update

from engine.core import nodes
from engine.core.settings import Settings
from engine.messages import gateways
from storage import leader
from storage.db import engine_for, write_lock
from storage.models.base import table
from storage.models.messages import OutboxMessage

log = logging.getLogger("shubbak.messages")
_OUTBOX = table(OutboxMessage)


@dataclass(frozen=True)
class Attempt:
    message_id: int
    status: str  # sent, pending (to be tried again at retry_at), failed, or skipped (not ours to send now)
    retry_at: datetime | None = None
    error: str | None = None


def backoff(attempt: int, settings: Settings) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1, 2, ...): base * 2**(attempt-1), capped."""
    seconds = settings.message_retry_base_seconds * 2 ** min(attempt - 1, 32)
    return timedelta(seconds=min(seconds, settings.message_retry_cap_seconds))


def _due(now: Any, max_attempts: Any) -> ColumnElement[bool]:
    """Pending and due, or abandoned by a sender whose lease ran out (attempts left); ``now`` and
    ``max_attempts`` are values, or parameters of a statement built once."""
    return or_(and_(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= now),
               and_(_OUTBOX.c.status == "sending", _OUTBOX.c.lease_until < now,
                    _OUTBOX.c.attempts < max_attempts))


# The statements sent for every message, built once with parameters (building an expression costs more than
# running it here): the claim, with _due's condition, and the result of an attempt.
# A message is sent by the node that wrote it only (its ``node``, engine/core/nodes.py): never by central for a
# center node's message that replication brought, nor the other way round.
_CLAIM = (update(_OUTBOX)
          .where(_OUTBOX.c.id == bindparam("m_id"),
                 _due(bindparam("m_now", type_=_OUTBOX.c.lease_until.type),
                      bindparam("m_max", type_=_OUTBOX.c.attempts.type)),
                 or_(and_(_OUTBOX.c.node.is_(None), bindparam("m_node", type_=_OUTBOX.c.node.type).is_(None)),
                     _OUTBOX.c.node == bindparam("m_node", type_=_OUTBOX.c.node.type)))
          .values(status="sending", attempts=_OUTBOX.c.attempts + 1,
                  lease_until=bindparam("m_lease", type_=_OUTBOX.c.lease_until.type))
          .returning(*_OUTBOX.c))


@lru_cache(maxsize=8)
def _result_of(columns: frozenset[str]) -> Any:
    """The UPDATE writing an attempt's result (``columns``), by its holder only (still sending, same attempt)."""
    return (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("m_id"), _OUTBOX.c.status == "sending",
                                  _OUTBOX.c.attempts == bindparam("m_attempt"))
            .values({name: bindparam(name, type_=_OUTBOX.c[name].type) for name in sorted(columns)}))


def give_up_abandoned(*, settings: Settings, now: datetime | None = None, conn: Connection | None = None) -> int:
    """Messages whose senders kept dying while sending them, as many times as attempts are allowed: failed
    (a message that crashes every sender must not hold them forever)."""
    moment = now or datetime.now(UTC)
    with _connection(settings, conn) as db, write_lock(db):
        done = db.execute(
            update(_OUTBOX).where(_OUTBOX.c.status == "sending", _OUTBOX.c.lease_until < moment,
                                  _OUTBOX.c.attempts >= settings.message_max_attempts,
                                  nodes.mine(_OUTBOX.c.node, settings))
            .values(status="failed", lease_until=None,
                    last_error="the sender stopped while sending, at every attempt"))
        db.commit()
        return int(done.rowcount or 0)


@contextlib.contextmanager
def _connection(settings: Settings, conn: Connection | None) -> Iterator[Connection]:
    """``conn`` when the caller holds one for a whole round (``drain``: one checkout for every message instead
    of two per message), else a connection of its own for this step."""
    if conn is not None:
        yield conn
        return
    with engine_for(settings.database_url).connect() as own:
        yield own


def due_ids(*, settings: Settings, now: datetime | None = None, conn: Connection | None = None) -> list[int]:
    """Messages to send now (pending and due, or abandoned by a sender whose lease ran out), oldest first."""
    moment = now or datetime.now(UTC)
    with _connection(settings, conn) as db:
        query = (select(_OUTBOX.c.id).where(_due(moment, settings.message_max_attempts),
                                            nodes.mine(_OUTBOX.c.node, settings)).order_by(_OUTBOX.c.id)
                 .limit(settings.message_batch))
        found = [int(i) for i in db.execute(query).scalars()]
        db.rollback()  # a read: nothing to keep, and no transaction left open while the messages are sent
        return found


def send_one(*, message_id: int, settings: Settings, now: datetime | None = None,
             conn: Connection | None = None) -> Attempt:
    """Claim the message, send it through its channel's gateway, write the result; one attempt. The claim and
    the result are two transactions of their own (on ``conn`` when given): the claim is committed before the
    gateway is called, and no transaction stays open while it answers."""
    moment = now or datetime.now(UTC)
    # Writes queue behind the process's other SQLite writers (storage/db.py), not in SQLite's busy handler,
    # which would make the cases' commands wait in sleeps while the outbox drains.
    with _connection(settings, conn) as db:
        with write_lock(db):
            # Claimed and read in one statement (UPDATE … RETURNING, PostgreSQL and SQLite alike).
            row = db.execute(_CLAIM, {"m_id": message_id, "m_now": moment, "m_max": settings.message_max_attempts,
                                      "m_node": settings.node_center,
                                      "m_lease": moment + timedelta(seconds=settings.message_lease_seconds)}).first()
            if row is None:
                db.rollback()
                return Attempt(message_id, "skipped")
            db.commit()
        attempt = int(row.attempts)
        gateway: gateways.Gateway | None = None
        try:
            gateway = gateways.for_channel(row.channel, settings)
            if gateway is None:
                raise gateways.Permanent(f"no gateway is configured for {row.channel}")
            reference = gateway.send(gateways.Outgoing(channel=row.channel, recipient=row.recipient,
                                                       subject=row.subject, body=row.body,
                                                       idempotency_key=row.idempotency_key, language=row.language))
        except gateways.SendFailed as exc:
            return _failed(db, message_id, attempt, exc, gateway, settings, moment)
        except Exception as exc:  # noqa: BLE001 - a gateway's bug (or its misconfiguration) is one failed attempt
            log.exception("message %s: the gateway failed unexpectedly", message_id)
            return _failed(db, message_id, attempt, gateways.Retryable(f"unexpected error: {exc!r}"), gateway,
                           settings, moment)
        _finish(db, message_id, attempt, status="sent", sent_at=datetime.now(UTC), lease_until=None,
                gateway=gateway.name, gateway_ref=reference[:255], last_error=None)
        return Attempt(message_id, "sent")


def _failed(db: Connection, message_id: int, attempt: int, exc: gateways.SendFailed,
            gateway: gateways.Gateway | None, settings: Settings, moment: datetime) -> Attempt:
    error = str(exc)[:2000]
    name = gateway.name if gateway is not None else None
    if exc.retryable and attempt < settings.message_max_attempts:
        retry_at = moment + backoff(attempt, settings)
        _finish(db, message_id, attempt, status="pending", next_attempt_at=retry_at, lease_until=None,
                last_error=error, gateway=name)
        log.warning("message %s: attempt %s failed, next at %s: %s", message_id, attempt, retry_at, error)
        return Attempt(message_id, "pending", retry_at, error)
    _finish(db, message_id, attempt, status="failed", lease_until=None, last_error=error, gateway=name)
    log.error("message %s failed for good after %s attempt(s): %s", message_id, attempt, error)
    return Attempt(message_id, "failed", None, error)


def _finish(db: Connection, message_id: int, attempt: int, **values: object) -> None:
    # Only the holder of this attempt writes its result: a sender that outlived its lease, whose message was
    # taken over meanwhile, changes nothing.
    with write_lock(db):
        db.execute(_result_of(frozenset(values)), {"m_id": message_id, "m_attempt": attempt, **values})
        db.commit()


def drain(*, settings: Settings, now: datetime | None = None) -> list[Attempt]:
    """Send every message due now, one at a time (the embedded sender and the worker's periodic task), on one
    connection for the round: one checkout (and pre-ping) instead of two per message."""
    with engine_for(settings.database_url).connect() as conn:
        give_up_abandoned(settings=settings, now=now, conn=conn)
        attempts = []
        for message_id in due_ids(settings=settings, now=now, conn=conn):
            leader.check()  # the embedded sender stops when another process may have taken its turn
            attempts.append(send_one(message_id=message_id, settings=settings, now=now, conn=conn))
        return attempts
