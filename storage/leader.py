"""One process at a time does a piece of background work, however many API processes run.

Under ``shubbak serve --workers N`` (or several servers on one database) without a broker, every API process
runs the embedded loops (api/app.py); each round first takes the job's turn, and a process that cannot take it
skips the round. PostgreSQL: a session advisory lock (released by the server if the process dies).
SQLite: an exclusive ``flock`` on a file beside the database (released by the kernel if the process dies).

A PostgreSQL turn lives as long as the connection that took it. That connection can die in the middle of a
round (the server restarted, an idle timeout, a network cut, ``pg_terminate_backend``): the server then lets
go of the lock and another process may take the turn at once. So a round asks :func:`check` between its
pieces of work (each message, each case, each batch); it raises :class:`LostTurn` as soon as the turn's
connection no longer holds the lock, and the round stops there (the next round takes the turn afresh, on a
new connection). The turn's connection sends TCP keep-alives and gives up on unacknowledged data, so a cut
network is noticed in seconds, not after the kernel's quarter of an hour.

The lock needs one server session for the whole round: through PgBouncer in transaction pooling mode each
statement may run on another server connection and a session lock means nothing. Point
``SHUBBAK_LEADER_DATABASE_URL`` at the database directly (or at a session-pooling PgBouncer) then.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from storage.db import leader_engine_for

log = logging.getLogger(__name__)


class LostTurn(RuntimeError):
    """The turn's connection no longer holds the lock: another process may be doing the job now."""


def _lock_id(job: str) -> int:
    # A stable signed 64-bit number per job name (advisory locks are keyed by bigint).
    return int.from_bytes(hashlib.sha256(f"shubbak:{job}".encode()).digest()[:8], "big", signed=True)


class Turn:
    """A job's turn: true while this process holds it. ``still_mine()`` asks the server (at most every
    ``check_seconds``) whether the turn's own connection still holds the lock."""

    def __init__(self, job: str, held: bool, conn: Connection | None = None, check_seconds: float = 0.0) -> None:
        self.job = job
        self.held = held
        self.conn = conn
        self.check_seconds = check_seconds
        self.lost = False
        self._checked = time.monotonic()

    def __bool__(self) -> bool:
        return self.held and not self.lost

    def still_mine(self) -> bool:
        if not self.held or self.lost:
            return False
        if self.conn is None:  # a file lock: the kernel keeps it while the process lives
            return True
        if time.monotonic() - self._checked < self.check_seconds:
            return True
        hi, lo = (_lock_id(self.job) >> 32) & 0xFFFFFFFF, _lock_id(self.job) & 0xFFFFFFFF
        try:
            # The lock held by *this* backend: a pooler that moved the session elsewhere fails the check too.
            mine = bool(self.conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND classid::bigint = :hi AND objid::bigint = :lo AND pid = pg_backend_pid()"),
                {"hi": hi, "lo": lo}).scalar())
            self.conn.commit()
        except SQLAlchemyError as exc:
            log.warning("lost the turn of %s: its connection failed (%s)", self.job, type(exc).__name__)
            mine = False
        self._checked = time.monotonic()
        if not mine:
            self.lost = True
        return mine


_CURRENT: ContextVar[Turn | None] = ContextVar("shubbak_turn", default=None)


def check() -> None:
    """Between two pieces of a round's work: raises :class:`LostTurn` when the round's turn was lost. Outside
    a turn (a Celery task, a test, ``shubbak tick`` on SQLite) it does nothing."""
    current = _CURRENT.get()
    if current is not None and current.held and not current.still_mine():
        raise LostTurn(f"the turn of {current.job} was lost in the middle of a round")


@contextlib.contextmanager
def turn(database_url: str, job: str, *, leader_url: str | None = None,
         check_seconds: float = 0.0) -> Iterator[Turn]:
    """Yields a :class:`Turn`, true when this process holds ``job``'s turn for the length of the block.
    ``leader_url``: where the PostgreSQL lock is taken, when not ``database_url`` (a pooler in between)."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        with _postgres_turn(leader_engine_for(leader_url or database_url), job, check_seconds) as found:
            yield found
        return
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        with _current(Turn(job, True)) as found:  # a database only this process sees
            yield found
        return
    path = Path(f"{database}.{job}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield Turn(job, False)
            return
        try:
            with _current(Turn(job, True)) as found:
                yield found
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _postgres_turn(engine: Engine, job: str, check_seconds: float) -> Iterator[Turn]:
    conn = engine.connect()
    clean = False
    try:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _lock_id(job)}).scalar())
        conn.commit()
        if not held:
            clean = True
            yield Turn(job, False)
            return
        try:
            with _current(Turn(job, True, conn, check_seconds)) as found:
                yield found
        finally:
            clean = _unlock(conn, job)
    finally:
        if not clean and not conn.invalidated:
            # Never give the pool a connection that may still hold the lock: the process would keep the turn
            # on an idle connection and no other would ever get it. Closing the session releases the lock.
            conn.invalidate()
        conn.close()


def _unlock(conn: Connection, job: str) -> bool:
    try:
        released = bool(conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _lock_id(job)}).scalar())
        conn.commit()
    except SQLAlchemyError:
        return False  # a lost connection has released it already
    return released


@contextlib.contextmanager
def _current(found: Turn) -> Iterator[Turn]:
    token = _CURRENT.set(found)
    try:
        yield found
    finally:
        _CURRENT.reset(token)
