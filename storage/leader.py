"""One process at a time does a piece of background work, however many API processes run.

Under ``shubbak serve --workers N`` (or several servers on one database) without a broker, every API process
runs the embedded loops (api/app.py); each round first takes the job's turn, and a process that cannot take it
skips the round. PostgreSQL: a session advisory lock (released by the server if the process dies).
SQLite: an exclusive ``flock`` on a file beside the database (released by the kernel if the process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from storage.db import engine_for


def _lock_id(job: str) -> int:
    # A stable signed 64-bit number per job name (advisory locks are keyed by bigint).
    return int.from_bytes(hashlib.sha256(f"shubbak:{job}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def turn(database_url: str, job: str) -> Iterator[bool]:
    """Yields True when this process holds ``job``'s turn for the length of the block, else False."""
    engine = engine_for(database_url)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _lock_id(job)}).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    with contextlib.suppress(Exception):  # a lost connection has released it already
                        conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _lock_id(job)})
                        conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield True  # a database only this process sees
        return
    path = Path(f"{database}.{job}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
