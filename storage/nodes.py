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
- ``CENTER``: the work done at a center: its cases and everything a case owns, its desks' drawers and queue. On
  central these tables also hold central's own cases (those of centers without a node); central never writes a
  row of a case a center node owns.
- ``LOCAL``: what is derived from the replicated rows (report aggregates, projection cursors, the ledger's seals,
  computed again on each node), and each node's own short-lived state (idempotency keys, throttles, sign-in
  codes, display-board leases, auditors' reads, analysts' drafts).
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from sqlalchemy import Delete, Insert, Update, event
from sqlalchemy.engine import Engine
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
    # Booked from the public site, at central; an arrival at a center node marks the booking (an open question,
    # docs/center-nodes.md "Not yet").
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
    "receipt_counter",
    "queue_ticket",
    "queue_call",
    "queue_sequence",
    "assignment_turn",
    "unavailable_day",
    "open311_request",
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
    "audit_access",
    "idempotency_key",
    "throttle_counter",
    "citizen_code",
    "board_stream",
    "service_draft",
    "node_sign_out",
})


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


_WRITES = re.compile(r"^\s*(?:insert\s+into|update|delete\s+from)\s+\"?(\w+)", re.IGNORECASE)


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
            match = _WRITES.match(statement.text)
            name = match.group(1).lower() if match else None
        else:
            name = _written_table(statement)
        if name is not None and name in CENTRAL:
            raise CentralOnly(name)
