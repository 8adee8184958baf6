"""Setting up and watching a center node's logical replication (docs/center-nodes.md, storage/nodes.py).

PostgreSQL's own publications and subscriptions carry the rows; this module only creates them and reads their
state:

- :func:`init_central`: central publishes its catalog and people (``nodes.CENTRAL``) as ``shubbak_central``.
- :func:`init_center`: a center node publishes its work (``nodes.CENTER``) as ``shubbak_center`` and subscribes
  to central's publication (central's rows are copied first), then claims its center's block of ids.
- :func:`add_center`: central subscribes to one center node's publication (one subscription per center, named
  by the center's code).
- :func:`status`: the publications, the subscriptions (enabled, received and latest positions, the last message
  and its age, the errors counted), the subscribers reading from this node (lag in bytes) and the slots (WAL
  kept for a subscriber that is away), and both sides' migration heads where they can be read.

Logical replication does not carry the tables' definitions: both sides must be at the same migration head
(central is upgraded first, then each center node; docs/center-nodes.md). A refusal is a
:class:`ReplicationRefused` naming a message id of the refusal catalogs; the command line says it. Passwords
never leave this module: a publisher is named by host, port and database only.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from storage import nodes
from storage.migrate import current_heads, heads

PUBLICATION_CENTRAL = "shubbak_central"  # at central: its catalog and people
PUBLICATION_CENTER = "shubbak_center"  # at a center node: its work
SUBSCRIPTION_TO_CENTRAL = "shubbak_central"  # at a center node: central's publication
SUBSCRIPTION_PREFIX = "shubbak_center_"  # at central: one per center node, followed by the center's code


class ReplicationRefused(nodes.NodeRefused):
    """Set-up refused, or a step that did not happen. ``message_id`` names its words (and what to do) in the
    refusal catalogs (``engine/locale/{en,ar}/LC_MESSAGES/refusals.po``), filled from ``params``."""


# --- connections ---------------------------------------------------------------------------------------------

_LIBPQ_KEYS = {"host": "host", "port": "port", "database": "dbname", "username": "user", "password": "password"}


def conninfo(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://user:pw@host:port/db?sslmode=require``) as a libpq connection
    string, what ``CREATE SUBSCRIPTION ... CONNECTION`` takes: each value quoted, the query's options kept."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise ReplicationRefused("node.needs_postgresql")
    pairs: list[tuple[str, str]] = []
    for attribute, key in _LIBPQ_KEYS.items():
        value = getattr(parsed, attribute)
        if value is not None and value != "":
            pairs.append((key, str(value)))
    for key, value in parsed.query.items():
        for one in (value,) if isinstance(value, str) else value:
            pairs.append((key, one))
    return " ".join(f"{key}={_quote(value)}" for key, value in pairs)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def where(info: str) -> str:
    """Where a libpq connection string points, without its password: ``host:port/dbname``."""
    values = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", info))
    plain = {key: value[1:-1].replace("\\'", "'").replace("\\\\", "\\") if value.startswith("'") else value
             for key, value in values.items()}
    return f"{plain.get('host', 'localhost')}:{plain.get('port', '5432')}/{plain.get('dbname', '')}"


def safe(url: str) -> str:
    """A SQLAlchemy URL without its password, to print."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _literal(value: str) -> str:
    """A SQL string literal for a ``text()`` statement (standard_conforming_strings: a quote doubled, backslashes
    as they are; a colon escaped, or ``!:word`` in a password would be read as a bind parameter)."""
    return "'" + value.replace("'", "''").replace(":", "\\:") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def _connect(url: str, connect_timeout: float, unreachable: str | None = None, **params: str) -> Iterator[Connection]:
    """An autocommit connection (CREATE SUBSCRIPTION refuses a transaction block), disposed afterwards. With
    ``unreachable``, a connection that fails is that refusal (with ``params`` and the server's ``reason``)."""
    if not make_url(url).drivername.startswith("postgresql"):
        raise ReplicationRefused("node.needs_postgresql")
    engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                           connect_args={"connect_timeout": max(1, round(connect_timeout))})
    try:
        try:
            conn = engine.connect()
        except DBAPIError as exc:
            if unreachable is None:
                raise
            raise ReplicationRefused(unreachable, **params, reason=_first_line(exc)) from exc
        with conn:
            yield conn
    finally:
        engine.dispose()


def subscription_name(code: str) -> str:
    """Central's subscription to the center node of ``code``."""
    return SUBSCRIPTION_PREFIX + code


def _slot(prefix: str, code: str) -> str:
    """A replication slot's name for ``code`` (slot names are lower-case letters, digits and ``_``; two codes that
    differ only in case or by ``-``/``_`` still get two slots: the code's own hash follows)."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:8]
    return f"{prefix}{re.sub(r'[^a-z0-9_]', '_', code.lower())}_{digest}"


# --- checks ----------------------------------------------------------------------------------------------------

def _wal_level(conn: Connection, side: str) -> None:
    level = conn.execute(text("SHOW wal_level")).scalar_one()
    if level != "logical":
        raise ReplicationRefused("node.wal_level_not_logical", side=side, level=str(level))


def _at_head(conn: Connection, side: str) -> None:
    found = current_heads(conn)
    if found != heads():
        raise ReplicationRefused("node.heads_differ", side=side, found=", ".join(sorted(found)) or "none",
                                 expected=", ".join(sorted(heads())))


def _has_publication(conn: Connection, name: str) -> bool:
    return bool(conn.execute(text("SELECT count(*) FROM pg_publication WHERE pubname = :n"), {"n": name}).scalar())


def _has_subscription(conn: Connection, name: str) -> bool:
    return bool(conn.execute(text("SELECT count(*) FROM pg_subscription WHERE subname = :n "
                                  "AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"),
                             {"n": name}).scalar())


def _center_id(conn: Connection, code: str) -> int | None:
    found = conn.execute(text("SELECT id FROM center WHERE code = :c"), {"c": code}).scalar()
    return int(found) if found is not None else None


def _publish(conn: Connection, name: str, tables: frozenset[str]) -> bool:
    """Publication ``name`` of exactly ``tables``: created, or set to them. True when it was created."""
    listed = ", ".join(_ident(t) for t in sorted(tables))
    exists = _has_publication(conn, name)
    try:
        if exists:
            conn.execute(text(f"ALTER PUBLICATION {_ident(name)} SET TABLE {listed}"))
        else:
            conn.execute(text(f"CREATE PUBLICATION {_ident(name)} FOR TABLE {listed}"))
    except DBAPIError as exc:  # not the tables' owner, most often
        raise ReplicationRefused("node.publish_failed", publication=name, reason=_first_line(exc)) from exc
    return not exists


def _subscribe(conn: Connection, name: str, publisher_url: str, publication: str, slot: str) -> int | None:
    """Subscription ``name`` to ``publication`` at ``publisher_url``, copying its rows first: None when it was
    created. An existing one is refreshed (a second run of the command goes on where the first stopped): the
    tables its publication gained since, after an upgrade whose migration added a table to ``nodes.CENTRAL`` or
    ``nodes.CENTER``, are subscribed to and their rows copied; returns how many there were."""
    if _has_subscription(conn, name):
        return _refresh(conn, name)
    try:
        conn.execute(text(
            f"CREATE SUBSCRIPTION {_ident(name)} CONNECTION {_literal(conninfo(publisher_url))} "
            f"PUBLICATION {_ident(publication)} WITH (copy_data = true, slot_name = {_literal(slot)})"))
    except DBAPIError as exc:  # not a superuser; the publisher refused the slot (taken, none left)
        raise ReplicationRefused("node.subscribe_failed", subscription=name, publisher=safe(publisher_url),
                                 reason=_first_line(exc)) from exc
    return None


def _followed(conn: Connection, name: str) -> set[str]:
    """The tables subscription ``name`` follows (none when there is no such subscription)."""
    return set(conn.execute(text(
        "SELECT c.relname FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
        "JOIN pg_class c ON c.oid = r.srrelid WHERE s.subname = :n"), {"n": name}).scalars())


def _refresh(conn: Connection, name: str) -> int:
    """``ALTER SUBSCRIPTION … REFRESH PUBLICATION``: the publisher is asked for its tables now; those new to the
    subscription have their rows copied, the others go on as they were (nothing is copied twice). How many are
    new. Refused when the publisher cannot be reached (the line down): run the command again when it is back."""
    before = len(_followed(conn, name))
    try:
        conn.execute(text(f"ALTER SUBSCRIPTION {_ident(name)} REFRESH PUBLICATION WITH (copy_data = true)"))
    except DBAPIError as exc:
        raise ReplicationRefused("node.refresh_failed", subscription=name, reason=_first_line(exc)) from exc
    return max(0, len(_followed(conn, name)) - before)


def _wait_copied(conn: Connection, name: str, wait_seconds: float) -> None:
    """Until every table of subscription ``name`` is copied and followed, or ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        behind = list(conn.execute(text(
            "SELECT c.relname FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
            "JOIN pg_class c ON c.oid = r.srrelid WHERE s.subname = :n AND r.srsubstate NOT IN ('r', 's') "
            "ORDER BY c.relname"), {"n": name}).scalars())
        if not behind:
            return
        if time.monotonic() > deadline:
            raise ReplicationRefused("node.copy_not_done", subscription=name, seconds=f"{wait_seconds:g}",
                                     tables=", ".join(behind))
        time.sleep(0.5)


def _row_hashes(conn: Connection, table: str) -> list[str]:
    query = f"SELECT md5(to_jsonb(t)::text) FROM {_ident(table)} t"  # noqa: S608 - a name of storage/nodes.py
    return list(conn.execute(text(query)).scalars())


def central_rows_here(center: Connection, central: Connection) -> dict[str, int]:
    """The center node's rows of central's tables that central does not hold as they are (table -> count). A
    row central holds the same (the defaults the migrations write on both sides) is copied again, not a conflict."""
    differ: dict[str, int] = {}
    for table in sorted(nodes.CENTRAL):
        here = _row_hashes(center, table)
        if not here:
            continue
        query = f"SELECT md5(to_jsonb(t)::text) FROM {_ident(table)} t "  # noqa: S608 - a name of storage/nodes.py
        same = set(central.execute(text(query + "WHERE md5(to_jsonb(t)::text) = ANY(:h)"), {"h": here}).scalars())
        missing = sum(1 for h in here if h not in same)
        if missing:
            differ[table] = missing
    return differ


def _to_replace(here: Connection, central: Connection) -> frozenset[str]:
    """At a center node set up before: central's tables whose rows here the refresh will replace by central's,
    those this node's subscription does not follow yet and central publishes now (one central has not published
    yet, its ``init-central`` not run again, would stay empty). Refused, before anything is emptied, when the
    subscription is disabled: its refresh would be refused (nothing copied into the emptied tables)."""
    enabled = here.execute(text(
        "SELECT subenabled FROM pg_subscription WHERE subname = :n "
        "AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"n": SUBSCRIPTION_TO_CENTRAL}).scalar()
    if not enabled:
        raise ReplicationRefused("node.refresh_failed", subscription=SUBSCRIPTION_TO_CENTRAL,
                                 reason="the subscription is disabled (ALTER SUBSCRIPTION … ENABLE)")
    published = set(central.execute(text("SELECT tablename FROM pg_publication_tables WHERE pubname = :p"),
                                    {"p": PUBLICATION_CENTRAL}).scalars())
    return frozenset((nodes.CENTRAL - _followed(here, SUBSCRIPTION_TO_CENTRAL)) & published)


def _empty_central_tables(conn: Connection, tables: frozenset[str] = nodes.CENTRAL) -> None:
    """Delete this node's rows of central's ``tables`` before central's are copied in (without the foreign keys'
    triggers, as the copy itself runs: the rows that referenced them are central's again once copied)."""
    conn.execute(text("BEGIN"))
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    for table in sorted(tables):
        conn.execute(text(f"DELETE FROM {_ident(table)}"))  # noqa: S608 - a name of storage/nodes.py
    conn.execute(text("COMMIT"))


# --- the commands ----------------------------------------------------------------------------------------------

@dataclass
class Done:
    """What a set-up command did, line by line, for the command line to print."""

    steps: list[str] = field(default_factory=list)


def init_central(url: str, *, connect_timeout: float = 10) -> Done:
    """At central: publish the catalog and the people (``nodes.CENTRAL``). Run again, it sets the tables again."""
    done = Done()
    with _connect(url, connect_timeout) as conn:
        _wal_level(conn, "central")
        _at_head(conn, "central")
        created = _publish(conn, PUBLICATION_CENTRAL, nodes.CENTRAL)
        done.steps.append(f"publication {PUBLICATION_CENTRAL} {'created' if created else 'set'}: "
                          f"{len(nodes.CENTRAL)} tables")
    return done


def init_center(url: str, central_url: str, code: str, *, replace_central_rows: bool = False,
                copy_wait_seconds: float = 600, connect_timeout: float = 10) -> Done:
    """At a center node (``url``), named by its center's ``code``: publish its work (``nodes.CENTER``), subscribe
    to central's publication at ``central_url`` (central's rows copied in first), wait for the copy, and claim
    the center's block of ids (``nodes.claim_id_block``). Refused, before anything is created, when either side
    is not ready for it; a second run goes on where the first stopped."""
    done = Done()
    with _connect(url, connect_timeout) as here:
        _wal_level(here, "center")
        _at_head(here, "center")
        fresh = not _has_subscription(here, SUBSCRIPTION_TO_CENTRAL)
        added: frozenset[str] = frozenset()
        with _connect(central_url, connect_timeout, "node.central_unreachable", central=safe(central_url)) as central:
            _wal_level(central, "central")
            _at_head(central, "central")
            if not _has_publication(central, PUBLICATION_CENTRAL):
                raise ReplicationRefused("node.central_not_initialised", central=safe(central_url))
            if _center_id(central, code) is None:
                raise ReplicationRefused("node.center_unknown", code=code)
            if fresh:
                differ = central_rows_here(here, central)
                if differ and not replace_central_rows:
                    raise ReplicationRefused("node.central_rows_here", tables=", ".join(
                        f"{table} ({count})" for table, count in differ.items()))
            else:
                added = _to_replace(here, central)
        created = _publish(here, PUBLICATION_CENTER, nodes.CENTER)
        done.steps.append(f"publication {PUBLICATION_CENTER} {'created' if created else 'set'}: "
                          f"{len(nodes.CENTER)} tables")
        if fresh:
            try:
                _empty_central_tables(here)
            except DBAPIError as exc:  # session_replication_role is a superuser's, as CREATE SUBSCRIPTION is
                here.execute(text("ROLLBACK"))
                raise ReplicationRefused("node.subscribe_failed", subscription=SUBSCRIPTION_TO_CENTRAL,
                                         publisher=safe(central_url), reason=_first_line(exc)) from exc
            done.steps.append(f"emptied this node's copies of central's {len(nodes.CENTRAL)} tables")
        elif added:
            # After an upgrade, a table of central's that this node does not follow yet holds only what its
            # migration wrote here; central's rows replace them when the refresh below copies it in.
            _empty_central_tables(here, added)
            done.steps.append(f"emptied this node's copies of central's tables not followed yet: "
                              f"{', '.join(sorted(added))}")
        new = _subscribe(here, SUBSCRIPTION_TO_CENTRAL, central_url, PUBLICATION_CENTRAL, _slot("shubbak_to_", code))
        done.steps.append(f"subscription {SUBSCRIPTION_TO_CENTRAL} created: central at {safe(central_url)}"
                          if new is None else _refreshed(SUBSCRIPTION_TO_CENTRAL, new))
        _wait_copied(here, SUBSCRIPTION_TO_CENTRAL, copy_wait_seconds)
        done.steps.append("central's tables are copied and followed")
        center_id = _center_id(here, code)
        if center_id is None:
            raise ReplicationRefused("node.center_unknown", code=code)
        _claim_ids(url, center_id, connect_timeout)
        done.steps.append(f"ids of center {code} (id {center_id}) claimed: this node numbers its rows from "
                          f"{nodes.id_block(center_id)[0] + 1}")
    return done


def _claim_ids(url: str, center_id: int, connect_timeout: float) -> None:
    """The center's block of ids for this node's sequences (``nodes.claim_id_block``, in a transaction of its
    own: it locks the center's tables while it checks and moves them)."""
    engine = create_engine(url, pool_pre_ping=False, connect_args={"connect_timeout": max(1, round(connect_timeout))})
    try:
        with engine.begin() as conn:
            nodes.claim_id_block(conn, center_id)
    finally:
        engine.dispose()


def add_center(url: str, code: str, center_url: str, *, connect_timeout: float = 10) -> Done:
    """At central (``url``): subscribe to the center node of ``code`` at ``center_url`` (its rows so far copied
    in first). Refused when the center is unknown here, or its node is not set up or not at this head."""
    done = Done()
    with _connect(url, connect_timeout) as here:
        _at_head(here, "central")
        if _center_id(here, code) is None:
            raise ReplicationRefused("node.center_unknown", code=code)
        if not _has_publication(here, PUBLICATION_CENTRAL):
            raise ReplicationRefused("node.central_not_initialised", central=safe(url))
        with _connect(center_url, connect_timeout, "node.center_unreachable", code=code,
                      center=safe(center_url)) as center:
            _wal_level(center, "center")
            _at_head(center, "center")
            if not _has_publication(center, PUBLICATION_CENTER):
                raise ReplicationRefused("node.center_not_initialised", code=code, center=safe(center_url))
        name = subscription_name(code)
        new = _subscribe(here, name, center_url, PUBLICATION_CENTER, _slot("shubbak_from_", code))
        done.steps.append(f"subscription {name} created: center node {code} at {safe(center_url)}"
                          if new is None else _refreshed(name, new))
    return done


def _refreshed(name: str, new: int) -> str:
    return f"subscription {name} was already there; refreshed: {new} new table(s) subscribed and copied"


def _first_line(exc: BaseException) -> str:
    """A database error's first line, from the driver (never SQLAlchemy's text, which repeats the statement and
    with it a connection string's password)."""
    said = str(getattr(exc, "orig", None) or exc).strip()
    return said.splitlines()[0] if said else type(exc).__name__


# --- status ----------------------------------------------------------------------------------------------------

@dataclass
class Publication:
    name: str
    tables: int


@dataclass
class Subscription:
    name: str
    enabled: bool
    publisher: str  # host:port/dbname, no password ("" when the connection string is not readable here)
    publications: list[str]
    worker: bool  # an apply worker is running (between its tries while the line is down, none is)

    @property
    def receiving(self) -> bool:
        """Its worker is connected and has heard from the publisher (a worker still connecting has not)."""
        return self.worker and self.received_lsn is not None
    received_lsn: str | None
    latest_end_lsn: str | None
    last_message_at: datetime | None
    last_message_age_seconds: float | None
    tables_not_ready: int
    apply_errors: int
    sync_errors: int
    applied_lsn: str | None = None  # the publisher's position applied here, kept while no worker runs too
    publisher_head: str | None = None  # the publisher's migration head, when it could be read
    publisher_lag_bytes: int | None = None  # the publisher's WAL not yet confirmed by this subscription
    publisher_problem: str | None = None


@dataclass
class Sender:
    """A subscriber reading from this node (pg_stat_replication)."""

    name: str
    state: str | None
    sent_lsn: str | None
    flush_lsn: str | None
    lag_bytes: int | None
    reply_age_seconds: float | None
    lag_seconds: float | None = None  # how long ago the newest change it has applied was written here (None: idle)


@dataclass
class Slot:
    name: str
    active: bool
    retained_bytes: int | None


@dataclass
class Status:
    head: str
    code_head: str
    wal_level: str
    publications: list[Publication]
    subscriptions: list[Subscription]
    senders: list[Sender]
    slots: list[Slot]


def status(url: str, *, connect_timeout: float = 5, look_at_publishers: bool = True) -> Status:
    """This node's replication as PostgreSQL sees it; with ``look_at_publishers`` each subscription's publisher
    is asked too (its head and how far behind this subscription is), when its connection string is readable
    here (superusers) and it answers within ``connect_timeout``."""
    with _connect(url, connect_timeout) as conn:
        found, reach = _status(conn)
    if look_at_publishers:
        for sub in found.subscriptions:
            info, slot = reach[sub.name]
            _ask_publisher(sub, info, slot, connect_timeout)
    return found


def _status(conn: Connection) -> tuple[Status, dict[str, tuple[str | None, str | None]]]:
    head = ", ".join(sorted(current_heads(conn))) or "none"
    level = str(conn.execute(text("SHOW wal_level")).scalar_one())
    publications = [Publication(name, int(count)) for name, count in conn.execute(text(
        "SELECT p.pubname, (SELECT count(*) FROM pg_publication_tables t WHERE t.pubname = p.pubname) "
        "FROM pg_publication p ORDER BY p.pubname"))]
    subscriptions = []
    reach: dict[str, tuple[str | None, str | None]] = {}
    for row in conn.execute(text(
            "SELECT s.subname, s.subenabled, s.subpublications, st.pid IS NOT NULL AS worker, "
            "st.received_lsn::text, st.latest_end_lsn::text, st.last_msg_receipt_time, "
            "extract(epoch FROM now() - st.last_msg_receipt_time), "
            "(SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid "
            "   AND r.srsubstate NOT IN ('r', 's')), "
            "coalesce(ss.apply_error_count, 0), coalesce(ss.sync_error_count, 0), s.subslotname "
            "FROM pg_subscription s "
            "LEFT JOIN pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL "
            "LEFT JOIN pg_stat_subscription_stats ss ON ss.subid = s.oid "
            "WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY s.subname")).all():
        info = _conninfo_of(conn, row[0])
        reach[row[0]] = (info, row[11])
        subscriptions.append(Subscription(
            name=row[0], enabled=bool(row[1]), publisher=where(info) if info else "", publications=list(row[2]),
            worker=bool(row[3]), received_lsn=row[4], latest_end_lsn=row[5], last_message_at=row[6],
            last_message_age_seconds=float(row[7]) if row[7] is not None else None,
            tables_not_ready=int(row[8]), apply_errors=int(row[9]), sync_errors=int(row[10])))
    for sub in subscriptions:
        sub.applied_lsn = _applied(conn, sub.name)
    senders = [Sender(name=row[0], state=row[1], sent_lsn=row[2], flush_lsn=row[3],
                      lag_bytes=int(row[4]) if row[4] is not None else None,
                      reply_age_seconds=float(row[5]) if row[5] is not None else None,
                      lag_seconds=float(row[6]) if row[6] is not None else None)
               for row in conn.execute(text(
                   "SELECT application_name, state, sent_lsn::text, flush_lsn::text, "
                   "pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint, "
                   "extract(epoch FROM now() - reply_time), extract(epoch FROM coalesce(replay_lag, flush_lag)) "
                   "FROM pg_stat_replication ORDER BY application_name"))]
    slots = [Slot(name=row[0], active=bool(row[1]), retained_bytes=int(row[2]) if row[2] is not None else None)
             for row in conn.execute(text(
                 "SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                 "FROM pg_replication_slots WHERE slot_type = 'logical' ORDER BY slot_name"))]
    return Status(head=head, code_head=", ".join(sorted(heads())), wal_level=level, publications=publications,
                  subscriptions=subscriptions, senders=senders, slots=slots), reach


def _applied(conn: Connection, name: str) -> str | None:
    """How far this subscription has applied the publisher's changes (its replication origin, which PostgreSQL
    keeps through a cut and a restart, unlike the worker's statistics); None when not readable here."""
    try:
        found = conn.execute(text(
            "SELECT o.remote_lsn::text FROM pg_replication_origin_status o JOIN pg_replication_origin r "
            "ON r.roident = o.local_id JOIN pg_subscription s ON r.roname = 'pg_' || s.oid "
            "WHERE s.subname = :n"), {"n": name}).scalar()
    except DBAPIError:  # the origins' status is for superusers
        return None
    return str(found) if found and found != "0/0" else None  # 0/0: nothing applied since the first copy


def _conninfo_of(conn: Connection, name: str) -> str | None:
    """A subscription's connection string, for superusers only (PostgreSQL keeps it from others)."""
    try:
        found = conn.execute(text("SELECT subconninfo FROM pg_subscription WHERE subname = :n"), {"n": name}).scalar()
    except DBAPIError:  # permission denied for the column: the publisher is not named here
        return None
    return str(found) if found else None


def _ask_publisher(sub: Subscription, info: str | None, slot: str | None, connect_timeout: float) -> None:
    """The publisher's head, and its WAL this subscription's slot has not confirmed yet (the lag in bytes, read
    from the slot, so it is known while the subscriber is away too)."""
    import psycopg

    if not info:
        sub.publisher_problem = "its connection string is not readable here"
        return
    try:
        with psycopg.connect(info, connect_timeout=max(1, round(connect_timeout)), autocommit=True) as remote:
            found = remote.execute("SELECT version_num FROM alembic_version").fetchall()
            sub.publisher_head = ", ".join(sorted(str(row[0]) for row in found)) or "none"
            lag: Any = remote.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                "FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
            sub.publisher_lag_bytes = int(lag[0]) if lag and lag[0] is not None else None
    except psycopg.Error as exc:  # the line is down, or the publisher refuses: said, not raised
        sub.publisher_problem = _first_line(exc)
