"""``shubbak node …``: set up a center node's replication and watch it (storage/replication.py,
docs/center-nodes.md)::

    shubbak node init-central                          # at central (SHUBBAK_NODE_ROLE=central)
    shubbak node init-center --central-url URL         # at a center node (SHUBBAK_NODE_ROLE=center)
    shubbak node add-center CODE --url URL             # at central, for each center node
    shubbak node status                                # on either side
"""

from __future__ import annotations

import argparse
from typing import Literal

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from cli.refusals import tell
from engine.core.settings import Settings
from storage import replication
from storage.nodes import NodeRefused


def _refused(settings: Settings, exc: NodeRefused | DBAPIError) -> int:
    """A refusal of the set-up, or a statement the server refused (most often a user who is not a superuser):
    said by id. A database that cannot be reached at all is main's ``cli.database_unreachable``."""
    if isinstance(exc, OperationalError | InterfaceError):
        raise exc
    if isinstance(exc, DBAPIError):
        said = str(exc.orig or "").strip()
        tell(settings, "node.server_refused", reason=said.splitlines()[0] if said else type(exc).__name__)
        return 1
    tell(settings, exc)
    return 1


def _ready(settings: Settings, role: Literal["central", "center"] | None) -> bool:
    """PostgreSQL, and the node's role (from the settings) the command is for; said when not."""
    if settings.database_url.startswith("sqlite"):
        tell(settings, "node.needs_postgresql")
        return False
    if role is not None and settings.node_role != role:
        tell(settings, "node.not_central" if role == "central" else "node.not_center", role=settings.node_role)
        return False
    return True


def cmd_init_central(settings: Settings, _args: argparse.Namespace) -> int:
    if not _ready(settings, "central"):
        return 2
    try:
        done = replication.init_central(settings.database_url,
                                        connect_timeout=settings.database_connect_timeout_seconds)
    except (NodeRefused, DBAPIError) as exc:
        return _refused(settings, exc)
    for step in done.steps:
        print(step)
    print("next, for each center node: `shubbak node init-center --central-url URL` there, then "
          "`shubbak node add-center CODE --url URL` here")
    return 0


def cmd_init_center(settings: Settings, args: argparse.Namespace) -> int:
    if not _ready(settings, "center"):
        return 2
    assert settings.node_center is not None  # the settings refuse a center node without its code
    try:
        done = replication.init_center(settings.database_url, args.central_url, settings.node_center,
                                       replace_central_rows=args.replace_central_rows,
                                       copy_wait_seconds=settings.node_copy_wait_seconds,
                                       connect_timeout=settings.database_connect_timeout_seconds)
    except (NodeRefused, DBAPIError) as exc:
        return _refused(settings, exc)
    for step in done.steps:
        print(step)
    print(f"next, at central: `shubbak node add-center {settings.node_center} --url URL` (this node's database "
          "as central reaches it)")
    return 0


def cmd_add_center(settings: Settings, args: argparse.Namespace) -> int:
    if not _ready(settings, "central"):
        return 2
    try:
        done = replication.add_center(settings.database_url, args.code, args.url,
                                      connect_timeout=settings.database_connect_timeout_seconds)
    except (NodeRefused, DBAPIError) as exc:
        return _refused(settings, exc)
    for step in done.steps:
        print(step)
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    if not _ready(settings, None):
        return 2
    try:
        found = replication.status(settings.database_url, look_at_publishers=not args.here_only,
                                   connect_timeout=min(5, settings.database_connect_timeout_seconds))
    except (NodeRefused, DBAPIError) as exc:
        return _refused(settings, exc)
    print(f"node: {settings.node_role}" + (f" {settings.node_center}" if settings.node_center else "")
          + f"; tables at {found.head} (this version's: {found.code_head}); wal_level {found.wal_level}")
    problems = 0
    if found.head != found.code_head:
        problems += 1
        tell(settings, "node.heads_differ", label="warning", side="this node", found=found.head,
             expected=found.code_head)
    if not found.publications and not found.subscriptions:
        print("no publication and no subscription: this node does not replicate (docs/center-nodes.md)")
    for pub in found.publications:
        print(f"publication {pub.name}: {pub.tables} tables")
    for sub in found.subscriptions:
        age = (f"{sub.last_message_age_seconds:.0f} s ago ({sub.last_message_at:%Y-%m-%d %H:%M:%S %Z})"
               if sub.last_message_age_seconds is not None and sub.last_message_at is not None
               else "none yet" if sub.worker else "not known while no worker runs")
        print(f"subscription {sub.name} to {sub.publisher or '(publisher not readable here)'} "
              f"[{', '.join(sub.publications)}]: {'enabled' if sub.enabled else 'DISABLED'}, "
              f"{'receiving' if sub.receiving else 'connecting' if sub.worker else 'NOT CONNECTED'}; "
              f"received {sub.received_lsn or '-'}, "
              f"latest {sub.latest_end_lsn or '-'}; last message {age}")
        if not sub.receiving and sub.applied_lsn:
            print(f"  applied up to {sub.applied_lsn} of the publisher's changes (what arrived before the line went "
                  "down); the rest waits in the publisher's slot")
        if sub.tables_not_ready:
            print(f"  {sub.tables_not_ready} table(s) still being copied")
        if sub.apply_errors or sub.sync_errors:  # a cut line counts too: a problem only if it goes on
            print(f"  errors so far: {sub.apply_errors} applying, {sub.sync_errors} copying (a line that was cut "
                  "counts too; this node's PostgreSQL log says what each was)")
        if sub.publisher_head is not None:
            same = "same as here" if sub.publisher_head == found.head else "DIFFERS from here"
            lag = f"{sub.publisher_lag_bytes} bytes" if sub.publisher_lag_bytes is not None else "unknown"
            print(f"  publisher: tables at {sub.publisher_head} ({same}); behind by {lag}")
            problems += sub.publisher_head != found.head
            if sub.enabled and not sub.receiving:
                problems += 1
                print("  the publisher answers and this subscription does not receive: its worker stops on an "
                      "error (a row that conflicts with one here, most often); this node's PostgreSQL log names it")
        elif sub.publisher_problem:
            print(f"  publisher not reached: {sub.publisher_problem}")
        if not sub.enabled:
            problems += 1
    for sender in found.senders:
        reply = f", last reply {sender.reply_age_seconds:.0f} s ago" if sender.reply_age_seconds is not None else ""
        lag = f"{sender.lag_bytes} bytes" if sender.lag_bytes is not None else "unknown (not readable here)"
        if sender.lag_seconds is not None:
            lag += f" and {sender.lag_seconds:.1f} s"
        print(f"subscriber {sender.name} reading from here: {sender.state or 'unknown'}, behind by {lag}{reply}")
    for slot in found.slots:
        kept = f"{slot.retained_bytes} bytes of WAL kept" if slot.retained_bytes is not None else "WAL kept unknown"
        print(f"slot {slot.name}: {'in use' if slot.active else 'WAITING for its subscriber'}, {kept}")
    return 1 if problems else 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = sub.add_parser("node", help="center nodes: set up replication with central, and watch it").add_subparsers(
        dest="node_command", required=True)
    node.add_parser("init-central", help="at central: publish the catalog and the people to the center nodes"
                    ).set_defaults(func=cmd_init_central)
    center = node.add_parser("init-center", help="at a center node: publish its work, subscribe to central")
    center.add_argument("--central-url", required=True,
                        help="central's database as this node's PostgreSQL reaches it (postgresql+psycopg://...)")
    center.add_argument("--replace-central-rows", action="store_true",
                        help="delete this node's own rows of central's tables (users, centers, deploys made here) "
                             "before central's are copied in")
    center.set_defaults(func=cmd_init_center)
    add = node.add_parser("add-center", help="at central: subscribe to a center node's work")
    add.add_argument("code", help="the center's code (its row at central)")
    add.add_argument("--url", required=True,
                     help="the center node's database as central's PostgreSQL reaches it (postgresql+psycopg://...)")
    add.set_defaults(func=cmd_add_center)
    status = node.add_parser("status", help="publications, subscriptions, lag and last message, on either side")
    status.add_argument("--here-only", action="store_true",
                        help="do not connect to the publishers (their heads and lag are then not shown)")
    status.set_defaults(func=cmd_status)
