"""Which node writes which table when a center runs a node of its own (docs/center-nodes.md).

A governorate runs one *central* node; a center may run a *center* node on its own network, so that its counter
and its departments keep working when the line to the governorate is down. PostgreSQL's logical replication
carries the rows, never a home-made sync: central publishes ``CENTRAL`` and every center node subscribes to it;
each center node publishes ``CENTER`` and central subscribes to each center node. ``LOCAL`` tables never leave
the node that wrote them.

Each table is in exactly one set (tests/storage/test_nodes.py fails on a new table that is in none), because a
row written on both sides of a subscription is a conflict that stops the subscription until an operator acts.

- ``CENTRAL``: the catalog and the people, which only central writes (a center node refuses deploys and user
  administration).
- ``CENTER``: the work done at a center: its cases and everything a case owns, its desks' drawers and queue, and
  the arrivals of booked visits at its kiosk (the bookings themselves are central's), and a copy of its ledger's
  seals (``node_seal``: central checks them and pins the latest in its own seals). On
  central these tables also hold central's own cases (those of centers without a node); central never writes a
  row of a case a center node owns.
- ``LOCAL``: what is derived from the replicated rows (report aggregates, projection cursors, the ledger's seals,
  computed again on each node), each node's own short-lived state (idempotency keys, throttles, sign-in
  codes, display-board leases, auditors' reads, analysts' drafts), and each node's own counters (receipts,
  tickets, round-robin turns), officers' days marked unavailable there, and what it handed over of absent
  officers' tasks of its own cases.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from sqlalchemy import Delete, Insert, Update, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import TextClause

CENTRAL: frozenset[str] = frozenset({
    "process_version",
    "center",
    "app_user",
    "user_event",
    "assignment_rule",
    "assignment_rule_event",
    "absence",
    "queue_category",
    "queue_counter",
    "booking_calendar",
    "booking_plan",
    # Booked from the public site, at central; an arrival at a center node is its own row (booking_arrival).
    "booking",
    "booking_slot",
    "open311_key",
})

CENTER: frozenset[str] = frozenset({
    "case_file",
    "task",
    "audit_event",
    "message_wait",
    "case_message",
    "outbox_message",
    "document",
    "document_waiver",
    "custody_move",
    "bill",
    "payment",
    "refund",
    "checkout",
    "gateway_callback",
    "cashier_session",
    "cashier_event",
    "incident",
    "issued_output",
    "rating",
    "queue_ticket",
    "queue_call",
    "open311_request",
    # A booked visit's arrival at a center node's kiosk: the booking is central's row, the arrival the node's.
    "booking_arrival",
    # A center node's seals, copied as it seals, so that central's verify checks them (engine/audit/verify.py).
    "node_seal",
    "node_seal_leaf",
})

LOCAL: frozenset[str] = frozenset({
    "report_day",
    "report_lane_day",
    "report_channel_day",
    "report_case_time",
    "report_step_time",
    "report_officer_time",
    "report_claim",
    "projection_cursor",
    "audit_seal",
    "audit_seal_leaf",
    "audit_seal_node",
    "audit_access",
    "idempotency_key",
    "throttle_counter",
    "citizen_code",
    "board_stream",
    "service_draft",
    # Each node's own counters and marks, for what it numbers and assigns itself: central and a center node may both
    # number receipts of one center in one year, tickets of one category on one day, turns of one lane, and an
    # officer may mark one day on both; as rows of CENTER they would meet on their keys when they replicate
    # (tests/storage/test_node_keys.py). What they produce (payments, tickets, tasks) is CENTER.
    "receipt_counter",
    "queue_sequence",
    "assignment_turn",
    "unavailable_day",
    # What each node handed over of an absent officer's tasks of its own cases (the absence is central's row).
    "absence_hand_over",
    "node_sign_out",
    "copied_object",
    "node_link",
})

# Each center node draws the ids of the ``CENTER`` tables from a block of its own: center ``c`` (its ``center.id``
# at central) from ``c * ID_BLOCK`` up, central from 1 below ``ID_BLOCK``. No node asks another for an id, so the
# rows of two nodes never collide when they replicate (a collision stops the subscription). 10^12 keeps the ids
# readable (center 7's first case is 7000000000001: the center, then its count), leaves each node a million
# million rows per table, and BIGINT (up to 9.2 x 10^18) room for 9 million centers.
ID_BLOCK = 10**12
_BIGINT_MAX = 2**63 - 1
LAST_CENTER_ID = (_BIGINT_MAX + 1) // ID_BLOCK - 1  # the last center whose whole block fits in BIGINT


class NodeRefused(Exception):
    """Setting up a node is refused. ``message_id`` names its words (and what to do) in the refusal catalogs,
    ``engine/locale/{en,ar}/LC_MESSAGES/refusals.po``, filled from ``params``; the command line says it in the
    operator's language (cli/refusals.py). Storage sits below the engine: it names the id, it does not read it."""

    def __init__(self, message_id: str, /, **params: str) -> None:
        super().__init__(message_id, params)
        self.message_id, self.params = message_id, params


def id_block(center_id: int) -> tuple[int, int]:
    """The first and the last id of center ``center_id``'s block."""
    if not 1 <= center_id <= LAST_CENTER_ID:
        raise NodeRefused("node.center_id_out_of_range", center_id=str(center_id), last=str(LAST_CENTER_ID))
    return center_id * ID_BLOCK, (center_id + 1) * ID_BLOCK - 1


def id_sequences(connection: Connection) -> dict[str, str]:
    """``{table: sequence}``: the sequence behind the ``id`` of each ``CENTER`` table that has one (PostgreSQL)."""
    found = {}
    for table_name in sorted(CENTER):
        has_id = connection.exec_driver_sql(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %(t)s AND column_name = 'id'", {"t": table_name}).first()
        sequence = connection.exec_driver_sql(
            "SELECT pg_get_serial_sequence(%(t)s, 'id')", {"t": table_name}).scalar() if has_id else None
        if sequence:
            found[table_name] = sequence
    return found


def claim_id_block(connection: Connection, center_id: int) -> None:
    """Move the sequence of every ``CENTER`` table's id into center ``center_id``'s block, so that this database
    (a center node's) draws ids no other node draws. Idempotent: a sequence already inside the block stays where it
    is (it never goes back). Refused, with nothing moved, on SQLite (a center node runs on PostgreSQL), when a
    sequence is already in another center's block, or when a table already holds rows with ids below the block:
    they were drawn from central's ids and would collide with central's own rows. The ``CENTER`` tables are
    locked against writes until the caller's transaction ends."""
    if connection.dialect.name != "postgresql":
        raise NodeRefused("node.center_needs_postgresql", database=connection.dialect.name)
    first, last = id_block(center_id)
    sequences = id_sequences(connection)
    for table_name, sequence in sequences.items():
        kind = connection.exec_driver_sql("SELECT seqtypid::regtype::text FROM pg_sequence "
                                          "WHERE seqrelid = %(s)s::regclass", {"s": sequence}).scalar()
        if kind != "bigint":  # a database not migrated yet (migration 0032): its ids stop at INTEGER
            raise NodeRefused("node.ids_not_bigint", table=table_name)
    # No row is written meanwhile (reads go on) until the caller's transaction ends: what is checked stays true.
    connection.exec_driver_sql(f"LOCK TABLE {', '.join(sequences)} IN EXCLUSIVE MODE")
    moves: list[tuple[str, str]] = []
    for table_name, sequence in sequences.items():
        last_value, is_called = connection.exec_driver_sql(
            f"SELECT last_value, is_called FROM {sequence}").one()  # noqa: S608 - a name PostgreSQL gave
        drawn = last_value if is_called else last_value - 1  # the highest id drawn (0: none)
        if drawn > last or ID_BLOCK <= drawn < first:
            raise NodeRefused("node.sequence_in_another_block", table=table_name, value=str(drawn),
                              center_id=str(center_id), first=str(first), last=str(last))
        below = connection.exec_driver_sql(
            f"SELECT min(id) FROM {table_name} WHERE id < %(first)s", {"first": first}).scalar()  # noqa: S608
        if below is not None:
            raise NodeRefused("node.rows_below_block", table=table_name, value=str(below), first=str(first))
        if drawn < first:
            moves.append((table_name, sequence))
    for _table_name, sequence in moves:
        # The next id is ``first + 1``: center 7's first case is 7000000000001.
        connection.exec_driver_sql("SELECT setval(%(s)s, %(v)s, true)", {"s": sequence, "v": first})


# What each node is, by database URL: set by the settings (engine/core/settings.py), read by the guard below and by
# the engine (engine/core/nodes.py). A URL never configured is a single node.
_roles: dict[str, tuple[str, str | None]] = {}


def configure(url: str, role: str, center: str | None) -> None:
    """Say that the database at ``url`` is a ``role`` node (single, central, center) of ``center`` (a center node's
    own center code, else None)."""
    _roles[url] = (role, center)


def role_of(url: str) -> tuple[str, str | None]:
    return _roles.get(url, ("single", None))


# The URL each guarded engine (one per URL and pool, storage/db.py) was made for.
_urls: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def role_of_engine(engine: Engine) -> tuple[str, str | None]:
    """What the node of ``engine``'s database is (single for an engine the pools did not make)."""
    url = _urls.get(engine)
    return ("single", None) if url is None else role_of(url)


def written_here(context: Any) -> str | None:
    """A column default: the code of the center node whose database the row is inserted into (None: central or a
    single node)."""
    return role_of_engine(context.connection.engine)[1]


class CentralOnly(Exception):
    """A center node was asked to write a table only central writes (``CENTRAL``): users, the catalog, centers'
    set-up. The faces answer 409 ``node.central_only`` (engine/core/nodes.py)."""

    def __init__(self, table: str) -> None:
        super().__init__(f"{table}: only the governorate's node writes this")
        self.table = table


def _written_table(statement: Any) -> str | None:
    """The table an INSERT, UPDATE or DELETE writes (None for anything else)."""
    if isinstance(statement, (Insert, Update, Delete)):
        return str(getattr(statement.table, "name", "")) or None
    return None


# A write's words anywhere in a statement (after a comment, in a WITH, with ``OR IGNORE``, ``ONLY``, a schema),
# followed by the table it writes: the last name of an optionally schema-qualified, optionally quoted name.
_WRITES = re.compile(r"\b(?:insert(?:\s+or\s+\w+)?\s+into|replace\s+into|update(?:\s+or\s+\w+)?(?:\s+only)?"
                     r"|delete\s+from(?:\s+only)?|merge\s+into|truncate(?:\s+table)?(?:\s+only)?)"
                     r"\s+(?:\"?\w+\"?\s*\.\s*)?\"?(\w+)", re.IGNORECASE)


def _text_writes(sql: str) -> set[str]:
    """The tables a statement's text names after a write's words (lower case)."""
    return {name.lower() for name in _WRITES.findall(sql)}


def guard(engine: Engine, url: str) -> None:
    """Refuse, on a center node, every statement of ``engine`` that writes a ``CENTRAL`` table, whatever wrote it
    (the ORM's flush, a Core statement, a text one): such a row comes only from central, by replication, and one
    written here would conflict with it. Checked at each statement, so a URL configured later is still guarded."""
    _urls[engine] = url

    @event.listens_for(engine, "before_execute")
    def _before_execute(_conn: Any, statement: Any, *_args: Any) -> None:
        if _roles.get(url, ("single", None))[0] != "center":
            return
        if isinstance(statement, TextClause):
            names = _text_writes(statement.text)
        else:
            written = _written_table(statement)
            names = {written} if written is not None else set()
        for name in sorted(names & CENTRAL):
            raise CentralOnly(name)

    @event.listens_for(engine, "before_cursor_execute")
    def _before_cursor_execute(_conn: Any, _cursor: Any, statement: str, _parameters: Any, context: Any,
                               _executemany: bool) -> None:
        # A driver's string (exec_driver_sql) is not seen by before_execute: it has nothing compiled.
        if context is None or context.compiled is not None or _roles.get(url, ("single", None))[0] != "center":
            return
        for name in sorted(_text_writes(statement) & CENTRAL):
            raise CentralOnly(name)
