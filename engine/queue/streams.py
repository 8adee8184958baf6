"""The display boards' open streams, counted across every API process.

One client address may hold at most ``SHUBBAK_QUEUE_BOARD_STREAMS_PER_CLIENT`` board streams at once, however
many API processes (``serve --workers N``) or hosts serve it: each open stream is a row of ``board_stream``, a
lease the stream renews while it runs (every third of ``SHUBBAK_QUEUE_BOARD_STREAM_LEASE_SECONDS``) and deletes
when it ends. A process that dies leaves its rows behind; they stop counting when their lease runs out.

Opening is "insert, then count those ahead": the new row is committed first, then the streams of the same
address opened before it (first come, first served) are counted; past the cap the new row is deleted and the
stream refused. Two streams opening at the same moment through two processes thus never both pass the cap.
"""

from __future__ import annotations

import hashlib
import time
import uuid

from sqlalchemy import and_, delete, func, insert, or_, select, update

from engine.core.settings import Settings
from storage.db import session_for, write_lock
from storage.models.base import table
from storage.models.queue import BoardStream

_TABLE = table(BoardStream)


def _client_key(client: str) -> str:
    return hashlib.sha256(f"board:{client}".encode()).hexdigest()


def open_stream(settings: Settings, client: str, *, now: float | None = None) -> str | None:
    """The new stream's id, or None when the address already holds as many streams as it may."""
    moment = time.time() if now is None else now
    stream_id, key = uuid.uuid4().hex, _client_key(client)
    with session_for(settings.database_url) as session, write_lock(session):
        conn = session.connection()
        conn.execute(delete(_TABLE).where(_TABLE.c.expires_at <= moment))  # leases of processes that died
        conn.execute(insert(_TABLE).values(id=stream_id, client_key=key, opened_at=moment,
                                           expires_at=moment + settings.queue_board_stream_lease_seconds))
        session.commit()
    with session_for(settings.database_url) as session:
        ahead = session.connection().execute(
            select(func.count()).select_from(_TABLE).where(
                _TABLE.c.client_key == key, _TABLE.c.expires_at > moment, _TABLE.c.id != stream_id,
                or_(_TABLE.c.opened_at < moment, and_(_TABLE.c.opened_at == moment, _TABLE.c.id < stream_id)))
        ).scalar_one()
    if ahead >= settings.queue_board_streams_per_client:
        close_stream(settings, stream_id)
        return None
    return stream_id


def renew(settings: Settings, stream_id: str, *, now: float | None = None) -> None:
    moment = time.time() if now is None else now
    with session_for(settings.database_url) as session, write_lock(session):
        session.connection().execute(update(_TABLE).where(_TABLE.c.id == stream_id).values(
            expires_at=moment + settings.queue_board_stream_lease_seconds))
        session.commit()


def close_stream(settings: Settings, stream_id: str) -> None:
    with session_for(settings.database_url) as session, write_lock(session):
        session.connection().execute(delete(_TABLE).where(_TABLE.c.id == stream_id))
        session.commit()


def open_count(settings: Settings, client: str | None = None, *, now: float | None = None) -> int:
    """Streams open now (of one address, when given), in every process."""
    moment = time.time() if now is None else now
    query = select(func.count()).select_from(_TABLE).where(_TABLE.c.expires_at > moment)
    if client is not None:
        query = query.where(_TABLE.c.client_key == _client_key(client))
    with session_for(settings.database_url) as session:
        return int(session.connection().execute(query).scalar_one())
