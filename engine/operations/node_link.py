"""Whether the line between nodes is up, as each node's subscriptions last heard (docs/center-nodes.md).

PostgreSQL keeps, for each subscription, when its apply worker last received a message from the publisher
(``pg_stat_subscription.last_msg_receipt_time``; an idle publisher still sends a keep-alive every half of its
``wal_sender_timeout``). The ``node_link`` job reads it every ``SHUBBAK_NODE_LINK_SECONDS`` and keeps, per
subscription, when it was last heard and since when it has been silent longer than
``SHUBBAK_NODE_OFFLINE_SECONDS`` (``node_link``, local to the node, so a node restarted during a cut still knows
since when it works alone: PostgreSQL's statistics start empty after a restart).

What reads it:

* a center node's pages show a discreet "working locally since HH:MM" while the line to central is down;
* central's reports page shows each center node's last word, so leadership knows what it is not seeing yet.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from engine.core.settings import Settings
from storage import replication
from storage.db import engine_for
from storage.models.base import tables
from storage.models.replicas import NodeLink

# The subscriptions' names: a center node's to central, central's to each center node (followed by its code).
TO_CENTRAL = replication.SUBSCRIPTION_TO_CENTRAL
TO_CENTER = replication.SUBSCRIPTION_PREFIX

(_LINKS,) = tables(NodeLink)

# The apply worker of each subscription of this database (the table-copy workers have a relid).
_HEARD = text("""
    SELECT s.subname AS name, w.pid AS pid, w.last_msg_receipt_time AS heard_at
    FROM pg_subscription s
    LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL
    WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
""")


@dataclass(frozen=True)
class Heard:
    """One subscription as PostgreSQL sees it now: its worker runs (``pid``) and last heard at ``heard_at``."""

    name: str
    pid: int | None
    heard_at: datetime | None


@dataclass(frozen=True)
class Link:
    """One subscription as the node keeps it: the center's code for central's links to center nodes."""

    name: str
    center: str | None
    heard_at: datetime | None
    down_since: datetime | None
    checked_at: datetime | None


def heard(conn: Connection) -> list[Heard]:
    """What each subscription last heard; nothing on SQLite (a single node has no subscription)."""
    if conn.dialect.name != "postgresql":
        return []
    return [Heard(r.name, r.pid, r.heard_at) for r in conn.execute(_HEARD)]


def record(*, session: Session, settings: Settings, now: datetime | None = None) -> int:
    """One round of the ``node_link`` job: each subscription's last word and since when it is silent; the
    links of subscriptions dropped since are forgotten. Returns how many links are down."""
    if settings.node_role == "single":
        return 0
    moment = now or datetime.now(UTC)
    conn = session.connection()
    known = {r.name: r for r in conn.execute(select(_LINKS))}
    down = 0
    rows: list[dict[str, Any]] = []
    for sub in heard(conn):
        before = known.pop(sub.name, None)
        last = sub.heard_at or (before.heard_at if before is not None else None)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        up = sub.pid is not None and last is not None and moment - last <= timedelta(
            seconds=settings.node_offline_seconds)
        since = None
        if not up:
            down += 1
            since = (before.down_since if before is not None and before.down_since is not None
                     else last or moment)
        rows.append({"name": sub.name, "heard_at": last, "down_since": since, "checked_at": moment})
    gone = list(known) + [row["name"] for row in rows]
    if gone:
        conn.execute(_LINKS.delete().where(_LINKS.c.name.in_(gone)))
    if rows:
        conn.execute(_LINKS.insert(), rows)
    session.commit()
    return down


def links(conn: Connection) -> list[Link]:
    """Every link the node keeps, central's first then the center nodes' by code."""
    out = []
    for r in conn.execute(select(_LINKS).order_by(_LINKS.c.name)):
        center = r.name[len(TO_CENTER):] if r.name.startswith(TO_CENTER) else None
        out.append(Link(r.name, center, _aware(r.heard_at), _aware(r.down_since), _aware(r.checked_at)))
    return out


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, datetime | None]] = {}


def working_locally_since(settings: Settings) -> datetime | None:
    """On a center node: since when the line to central is down (None while it is up, or not known yet).
    Read at most every ``node_link_cache_seconds`` per process: every page asks."""
    if settings.node_role != "center":
        return None
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(settings.database_url)
        if cached is not None and now - cached[0] < settings.node_link_cache_seconds:
            return cached[1]
    with engine_for(settings.database_url).connect() as conn:
        since = next((link.down_since for link in links(conn) if link.name == TO_CENTRAL), None)
    with _cache_lock:
        _cache[settings.database_url] = (now, since)
    return since
