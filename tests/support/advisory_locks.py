"""Who holds a background job's turn (storage/leader.py) right now, seen from beside the app: the PostgreSQL
session-level advisory locks granted on the job's key, with the backend and the application name holding each."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage import leader


def holders(admin: Engine, job: str) -> list[tuple[int, str]]:
    """(pid, application_name) of the backends holding the job's advisory lock now."""
    key = leader._lock_id(job)
    with admin.connect() as conn:
        return [(int(pid), str(name)) for pid, name in conn.execute(text(
            "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = :hi AND l.objid::bigint = :lo"),
            {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF})]
