"""Database trouble told apart from bugs, and whether a request committed anything.

Trouble is what a retry a moment later may not meet again: a lost or refused connection (a restart of
PostgreSQL, a failover, a backend ended by an administrator), a serialization failure, a deadlock, a full
pool, a SQLite database locked by another process. The faces answer it 503 with ``Retry-After``
(api/resilience.py), and run a request once more when nothing of it was committed (``Commits``).
"""

from __future__ import annotations

import contextvars
import sqlite3
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, ExceptionContext

# SQLSTATE classes and codes that mean "try again": connection exceptions (08), transaction rollback
# (40: serialization failure 40001, deadlock 40P01), operator intervention (57P01 admin shutdown, 57P02 crash
# shutdown, 57P03 cannot connect now, 57014 a statement cancelled: SHUBBAK_DATABASE_STATEMENT_TIMEOUT_SECONDS ran
# out, or an administrator cancelled it), insufficient resources (53: too many connections).
# 25006 (read_only_sql_transaction): after a failover, a connection that still reaches the old primary, now a
# standby that refuses writes; it is dropped (see _failover below) and the request reaches the new primary.
_DROPS_CONNECTION = frozenset({"25006"})
_RETRYABLE_CLASSES = ("08", "40", "53")
_RETRYABLE_CODES = {"57P01", "57P02", "57P03", "57014"} | _DROPS_CONNECTION
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def is_trouble(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is database trouble rather than a bug."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _one(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _one(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True  # the pool could not hand out a working connection in time
    if isinstance(error, sqlite3.OperationalError):
        return any(text in str(error).lower() for text in _SQLITE_BUSY)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _RETRYABLE_CLASSES or sqlstate in _RETRYABLE_CODES
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installations
        return False
    # A psycopg OperationalError without a SQLSTATE: the connection itself broke (server gone, socket closed).
    return isinstance(error, psycopg.OperationalError) and not getattr(error, "sqlstate", None)


@dataclass
class Commits:
    """How many transactions the current request committed (counted by a session listener)."""

    count: int = 0


_commits: contextvars.ContextVar[Commits | None] = contextvars.ContextVar("shubbak_commits", default=None)


def count_commits() -> tuple[Commits, contextvars.Token[Commits | None]]:
    commits = Commits()
    return commits, _commits.set(commits)


def stop_counting(token: contextvars.Token[Commits | None]) -> None:
    _commits.reset(token)


# Counted when a COMMIT is sent, not when it succeeds: a connection lost during COMMIT may have committed on the
# server all the same, and such a request must not be run again (api/resilience.py). Trouble while the
# statements run (a locked file, a deadlock, a lost connection before COMMIT) committed nothing.
@event.listens_for(Engine, "commit")
def _counted(_conn: Connection) -> None:
    commits = _commits.get()
    if commits is not None:
        commits.count += 1


# Pre-ping does not see a connection to a server demoted by a failover (a standby answers `SELECT 1`), so the pool
# would hand it out again and again. A write it refused drops it, and with it the pool's other connections of that
# time (SQLAlchemy's invalidate_pool_on_disconnect): the request run again, or the next one, reconnects.


@event.listens_for(Engine, "handle_error")
def _failover(context: ExceptionContext) -> None:
    if getattr(context.original_exception, "sqlstate", None) in _DROPS_CONNECTION:
        context.is_disconnect = True
