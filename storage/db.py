"""Database engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, create_engine

from storage import nodes
from storage.once import OnePerKey


def make_engine(url: str, **kwargs: Any) -> Engine:
    # An error's text never carries a statement's values (citizens' details) into a log or a traceback.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers go on while one writer commits; busy_timeout makes writers queue instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@dataclass(frozen=True)
class PostgresOptions:
    """How the pools of one PostgreSQL URL connect (the SHUBBAK_DATABASE_* settings, docs/deployment.md).

    ``connect_timeout_seconds``: libpq gives up a connection attempt after this long (a server or a line that
    does not answer). ``statement_timeout_ms``: the server cancels a statement running longer (0: the server's
    own setting); sent as a startup option, so not through a transaction pooler, which refuses it (set it on the
    role there). ``tcp_user_timeout_ms``: a connection whose sent data is not acknowledged within this long is
    given up (a cut line), with keep-alives noticing an idle connection's cut. ``transaction_pooling``: the URL
    goes through PgBouncer in transaction mode: no server-side prepared statements (psycopg's
    ``prepare_threshold`` off), since the next transaction may run on another server connection that does not
    know them, or one that already has them under the same name."""

    connect_timeout_seconds: int = 10
    statement_timeout_ms: int = 0
    tcp_user_timeout_ms: int = 10_000
    transaction_pooling: bool = False

    def connect_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"connect_timeout": self.connect_timeout_seconds, "keepalives": 1,
                                "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                                "tcp_user_timeout": self.tcp_user_timeout_ms}
        if self.transaction_pooling:
            args["prepare_threshold"] = None
        elif self.statement_timeout_ms:
            args["options"] = f"-c statement_timeout={self.statement_timeout_ms}"
        return args


_postgres_options: dict[str, PostgresOptions] = {}


def configure_postgres(url: str, options: PostgresOptions) -> None:
    """How the pools made from now on for the PostgreSQL database at ``url`` connect (engine/core/settings.py
    calls this for its URLs). A pool already made keeps the options it was made with."""
    _postgres_options[url] = options


def postgres_options(url: str) -> PostgresOptions:
    return _postgres_options.get(url, PostgresOptions())


def _pool_for(url: str) -> Engine:
    engine = (make_engine(url) if not url.startswith("postgresql")
              else make_engine(url, connect_args=postgres_options(url).connect_args()))
    nodes.guard(engine, url)  # a center node writes no central table (storage/nodes.py)
    return engine


_engines: OnePerKey[str, Engine] = OnePerKey(_pool_for)
_lock = threading.Lock()


def engine_for(url: str) -> Engine:
    """One engine (and connection pool) per database URL for the life of the process."""
    return _engines.get(url)


def session_for(url: str) -> Session:
    """A new session on the database at ``url`` (its engine and pool shared by the process): the one way every
    request, command line call, background job and bench opens one. Objects stay readable after a commit
    (``expire_on_commit`` off): what a command returns is what the face shows, without reloading it.

    A caller that must not share the request's transaction (a failed sign-in counted although the request is
    rolled back, an outbox send, a stream's poll) opens its own here too, and says why where it does."""
    return Session(engine_for(url), expire_on_commit=False)


# The background jobs' turns (storage/leader.py) hold a PostgreSQL session lock on a connection of their own pool,
# never one of the requests'. libpq's TCP settings make a cut network fail that connection within seconds
# (keep-alives, and a send not acknowledged within tcp_user_timeout ms), instead of a quarter of an hour.
# The lock needs a session of its own on the server: SHUBBAK_LEADER_DATABASE_URL names a direct connection when
# the requests' URL goes through a transaction pooler.
def _leader_pool(url: str) -> Engine:
    engine = make_engine(url, pool_size=2, max_overflow=16, pool_pre_ping=True,
                         connect_args=postgres_options(url).connect_args())
    nodes.guard(engine, url)
    return engine


_leader_engines: OnePerKey[str, Engine] = OnePerKey(_leader_pool)


def leader_engine_for(url: str) -> Engine:
    """The pool of the background jobs' turns on the PostgreSQL database at ``url``."""
    return _leader_engines.get(url)


def dispose(url: str) -> None:
    """Close the pools of ``url`` (tests drop their databases afterwards)."""
    for registry in (_engines, _leader_engines):
        engine = registry.pop(url)
        if engine is not None:
            engine.dispose()



_sqlite_writers: dict[str, threading.RLock] = {}


def write_lock(session: Session | Connection) -> AbstractContextManager[object]:
    """Queue this process's writers to a SQLite file in Python, not in SQLite's busy handler.

    SQLite lets one writer at a time; a second one waits in its busy handler, which sleeps in growing steps
    (up to 100 ms) and wastes most of that time. Within one process a lock hands the database over at once.
    PostgreSQL locks rows itself: no lock there. Reentrant, since a command may nest a save inside its own.
    """
    bind = session if isinstance(session, Connection) else session.get_bind()
    if bind.dialect.name != "sqlite":
        return nullcontext()
    key = str(bind.engine.url)
    lock = _sqlite_writers.get(key)
    if lock is None:
        with _lock:
            lock = _sqlite_writers.setdefault(key, threading.RLock())
    return lock
