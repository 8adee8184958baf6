"""The report projector: the aggregates are built from the audit events after they commit, not in the step.

A step's transaction writes its state, tasks, events and outbox rows and nothing else; the projector reads the
events later (a round every ``SHUBBAK_REPORT_PROJECT_SECONDS``: in the API process under the embedded default,
in a Celery worker when beat runs it) and adds what they mean to the aggregates (engine/reports/tally.py):

* ``case_opened``: the case counts as opened on the event's day;
* ``task_claimed`` / ``task_released`` / ``task_reassigned``: the task's handling time starts at the claim
  (``report_claim``);
* ``task_completed``: the task's ready-to-completed time goes to its step, its handling time (from the claim,
  else from ready) to the officer who is the event's actor;
* ``case_completed`` / ``case_cancelled``: the case ended (on time, late, rejected, cancelled).

**Exactly once.** The aggregates and the cursor (``projection_cursor``) are written in one transaction: a
round that dies writes neither, and the next one starts where the last committed one ended. Two projectors
(several API processes, several workers) never run a round at the same time: the cursor row is locked
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL: the other one skips its round; on SQLite the write lock).

**Out-of-order commits.** On PostgreSQL an event id is taken from a sequence when the row is inserted, and
transactions commit in any order: id 11 may be visible before id 10. An id missing below one already seen is a
*hole*: remembered with the moment it was first missed, and counted when it appears. A hole older than
``SHUBBAK_REPORT_GAP_SECONDS`` is taken for a rolled-back transaction and forgotten. Later events never wait
for a hole, so the figures lag by one round, not by the window.

**Center nodes.** Central also counts the events of every center node (the aggregates are LOCAL: each node
counts what it holds). A node numbers its events in a block of its own (storage/nodes.py ``ID_BLOCK``) and they
arrive in its order, interleaved with central's: each block has a cursor of its own (``reports@<block>``), made
at the block's start when its first event is seen; the main row (``reports``, block 0) is the lock of the round.
A hole in a center node's block is judged by the node's own clock (its newest event here), not central's: one
held back by a cut line longer than the window is still counted when it arrives.

**Rebuild.** ``shubbak reports rebuild`` counts everything from the rows and moves the cursor to the last event
(engine/reports/rebuild.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from engine.core import clock
from engine.core.settings import Settings
from engine.reports.tally import Tally, add_to
from storage import leader
from storage.db import session_for, write_lock
from storage.models.audit import AuditEvent
from storage.models.base import tables
from storage.models.cases import Case, Task
from storage.models.reports import ProjectionCursor, ReportClaim
from storage.nodes import ID_BLOCK

log = logging.getLogger(__name__)

NAME = "reports"
KINDS = ("case_opened", "task_claimed", "task_released", "task_reassigned", "task_completed", "case_completed",
         "case_cancelled")

_EVENTS, _CASES, _TASKS, _CLAIMS, _CURSORS = tables(AuditEvent, Case, Task, ReportClaim, ProjectionCursor)


def holds(kind: str, data: dict[str, Any]) -> bool | None:
    """Whether the event gives the task to an officer (True: a claim, or a supervisor's reassignment to a named
    officer), takes it back to the lane (False), or says nothing of who holds it (None)."""
    if kind == "task_claimed":
        return True
    if kind == "task_released":
        return False
    if kind == "task_reassigned":
        return data.get("to") is not None
    return None


@dataclass(frozen=True)
class Round:
    """What one round did: events read (of every kind), events counted, holes left open."""

    read: int
    counted: int
    holes: int


def catch_up(settings: Settings, *, rounds: int = 1000) -> int:
    """Run rounds until every committed event is counted (or another process holds the cursor); returns how
    many events were counted. What the embedded loop, the Celery job and the tests call."""
    total = 0
    with session_for(settings.database_url) as session:
        for _ in range(rounds):
            leader.check()
            done = project_round(session, settings)
            if done is None:
                break
            total += done.counted
            if done.read < settings.report_project_batch:
                break
    return total


def _missing(high: int, new_high: int, seen: set[int], room: int) -> list[int]:
    """The ids above ``high`` up to ``new_high`` no row was read with, at most ``room`` of them, the nearest to
    ``new_high``, in order: walked down from the top, so a jump of ids (a center node numbers from its center's
    block, 10^12 on) costs ``room`` steps, not one per id skipped."""
    found: list[int] = []
    candidate = new_high
    while candidate > high and len(found) < room:
        if candidate not in seen:
            found.append(candidate)
        candidate -= 1
    return found[::-1]


def project_round(session: Session, settings: Settings, *, now: datetime | None = None) -> Round | None:
    """One round in one transaction; None when another projector holds the cursor."""
    moment = now or datetime.now(UTC)
    with write_lock(session):
        conn = session.connection()
        cursor = _take_cursor(conn)
        if cursor is None:
            session.rollback()
            return None
        read = counted = holes = 0
        # Central holds the events of every center node, each numbered in its node's block (storage/nodes.py
        # ID_BLOCK) and arriving in its node's order: each block is followed by a cursor of its own, the main one
        # (block 0: central's own, and a single installation's only) by the row locked above.
        for block in _blocks(conn):
            row = cursor if block == 0 else _block_cursor(conn, block)
            done = _project_block(conn, settings, row, block, moment, settings.report_project_batch - read)
            read, counted, holes = read + done.read, counted + done.counted, holes + done.holes
            if read >= settings.report_project_batch:
                break
        session.commit()
    return Round(read=read, counted=counted, holes=holes)


def _cursor_name(block: int) -> str:
    return NAME if block == 0 else f"{NAME}@{block}"


# Each block's first event, one index lookup after another, in one statement (a loose index scan): a round, and
# every scrape of the metrics (``freshness``), at a central with many center nodes, without a trip per block.
_FIRSTS = text(f"""WITH RECURSIVE found(first) AS (
    SELECT (SELECT min(id) FROM {_EVENTS.name} WHERE id >= :size)
    UNION ALL
    SELECT (SELECT min(id) FROM {_EVENTS.name} WHERE id >= (found.first / :size + 1) * :size)
    FROM found WHERE found.first IS NOT NULL)
SELECT first FROM found WHERE first IS NOT NULL""").bindparams(size=ID_BLOCK)  # noqa: S608 - the model's table


def _blocks(conn: Connection, names: Iterable[str] | None = None) -> list[int]:
    """Block 0, and every other block that holds events (one index lookup per block) or has a cursor already;
    ``names``: the cursors' names, when the caller has read them."""
    if names is None:
        names = conn.execute(select(_CURSORS.c.name).where(_CURSORS.c.name.like(f"{NAME}@%"))).scalars()
    found = {0} | {int(first) // ID_BLOCK for (first,) in conn.execute(_FIRSTS)}
    return sorted(found | {int(name.split("@", 1)[1]) for name in names if name != NAME})


def _block_cursor(conn: Connection, block: int) -> Any:
    """The cursor of a center node's block (made at its block's start the first time), locked with the main one."""
    name = _cursor_name(block)
    insert = postgresql.insert(_CURSORS) if conn.dialect.name == "postgresql" else sqlite.insert(_CURSORS)
    start = block * ID_BLOCK
    conn.execute(insert.values(name=name, position=start, high=start, holes={}).on_conflict_do_nothing())
    return conn.execute(select(_CURSORS).where(_CURSORS.c.name == name)).first()


def _project_block(conn: Connection, settings: Settings, cursor: Any, block: int, moment: datetime,
                   batch: int) -> Round:
    """Count the events of one block after its cursor (and its holes) and move the cursor: see the module's
    "Out-of-order commits"."""
    position, high, holes = int(cursor.position), int(cursor.high), dict(cursor.holes or {})
    wanted = [int(h) for h in holes]
    end = (block + 1) * ID_BLOCK
    after = (_EVENTS.c.id > high) & (_EVENTS.c.id < end)
    query = (select(_EVENTS.c.id, _EVENTS.c.case_id, _EVENTS.c.kind, _EVENTS.c.at, _EVENTS.c.actor,
                    _EVENTS.c.data["task_id"].as_string().label("task_id"),
                    _EVENTS.c.data["to"].as_string().label("to"),
                    _EVENTS.c.data["end_event"].as_string().label("end_event"))
             .where(or_(after, _EVENTS.c.id.in_(wanted)) if wanted else after)
             .order_by(_EVENTS.c.id).limit(max(batch, 1)))
    rows = list(conn.execute(query))
    counted = apply(conn, [r for r in rows if r.kind in KINDS])
    seen = {int(r.id) for r in rows}
    for hole in list(holes):
        if int(hole) in seen:
            del holes[hole]
    new_high = max([high, *seen])
    room = max(0, settings.report_gap_max - len(holes))
    missing = _missing(high, new_high, seen, room)
    gap = new_high - high - sum(1 for i in seen if i > high)
    if gap > room:  # an id jump (a sequence moved by hand): the nearest ones only
        log.warning("report projector: %d event ids missing, keeping %d", gap, room)
    # A center node's block is judged by that node's clock, its newest event here: its events arrive in its commit
    # order, so one held back behind a later one, by a cut line, comes whatever central's clock says meanwhile.
    # The window runs while the node's events move on; a rolled-back id is given up once they have.
    now = moment if block == 0 else _newest(conn, new_high) or moment
    stamp = clock.iso(now)
    holes.update({str(i): stamp for i in missing})
    expired = now - timedelta(seconds=settings.report_gap_seconds)
    for hole, first in list(holes.items()):
        if clock.parse(first) < expired:
            log.warning("report projector: event %s never appeared; taken for a rolled-back one", hole)
            del holes[hole]
    position = min(int(h) for h in holes) - 1 if holes else new_high
    conn.execute(update(_CURSORS).where(_CURSORS.c.name == _cursor_name(block))
                 .values(position=position, high=new_high, holes=holes, checked_at=moment))
    return Round(read=len(rows), counted=counted, holes=len(holes))


def _newest(conn: Connection, event_id: int) -> datetime | None:
    """The moment of event ``event_id`` (None when there is none)."""
    at = conn.execute(select(_EVENTS.c.at).where(_EVENTS.c.id == event_id)).scalar()
    return clock.parse(at) if at else None


def _take_cursor(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        query = select(_CURSORS).where(_CURSORS.c.name == NAME).with_for_update(skip_locked=True)
        row = conn.execute(query).first()
        if row is None and not conn.execute(select(_CURSORS.c.name).where(_CURSORS.c.name == NAME)).first():
            _create_cursor(conn)
            row = conn.execute(query).first()
        return row
    # SQLite: a write first, so the database is ours from here to the commit (another process waits).
    if conn.execute(update(_CURSORS).where(_CURSORS.c.name == NAME).values(name=NAME)).rowcount != 1:
        _create_cursor(conn)
    return conn.execute(select(_CURSORS).where(_CURSORS.c.name == NAME)).first()


def _create_cursor(conn: Connection) -> None:
    """A database made before the cursor existed counts from the start (nothing was counted yet)."""
    insert = postgresql.insert(_CURSORS) if conn.dialect.name == "postgresql" else sqlite.insert(_CURSORS)
    conn.execute(insert.values(name=NAME, position=0, high=0, holes={}).on_conflict_do_nothing())


def move_to_end(conn: Connection) -> int:
    """Put the cursors after the last event of their blocks (the rebuild counted everything); returns the last
    event id of block 0."""
    _create_cursor(conn)
    first = 0
    for block in _blocks(conn):
        start, end = block * ID_BLOCK, (block + 1) * ID_BLOCK
        last = int(conn.execute(select(func.coalesce(func.max(_EVENTS.c.id), start))
                                .where(_EVENTS.c.id >= start, _EVENTS.c.id < end)).scalar_one())
        if block:
            _block_cursor(conn, block)
        else:
            first = last
        conn.execute(update(_CURSORS).where(_CURSORS.c.name == _cursor_name(block))
                     .values(position=last, high=last, holes={}, checked_at=datetime.now(UTC)))
    return first


def freshness(conn: Connection) -> tuple[datetime | None, int]:
    """When the figures were last brought up to date, and how many committed events they do not count yet (of
    every block: central's own and each center node's).

    Read at every scrape of the metrics (engine/operations/gauges.py): the cursors in one statement and the events
    after them counted by one statement (a count per block, each its own index range scan), not three statements per
    center node."""
    cursors = {row.name: row for row in conn.execute(
        select(_CURSORS.c.name, _CURSORS.c.high, _CURSORS.c.holes, _CURSORS.c.checked_at)
        .where(or_(_CURSORS.c.name == NAME, _CURSORS.c.name.like(f"{NAME}@%"))))}
    row = cursors.get(NAME)
    if row is None:
        return None, int(conn.execute(select(func.count()).select_from(_EVENTS)).scalar_one())
    ranges, behind = [], 0
    for block in _blocks(conn, cursors):
        cursor = cursors.get(_cursor_name(block))
        high, holes = (cursor.high, cursor.holes) if cursor is not None else (block * ID_BLOCK, None)
        ranges.append(and_(_EVENTS.c.id > int(high), _EVENTS.c.id < (block + 1) * ID_BLOCK))
        if holes:  # ids at or below the block's high: apart from its range (a block holds up to report_gap_max)
            behind += int(conn.execute(select(func.count()).select_from(_EVENTS)
                                       .where(_EVENTS.c.id.in_([int(h) for h in holes]))).scalar_one())
    for start in range(0, len(ranges), _RANGES_PER_COUNT):  # each block's count its own index range scan
        counts = [select(func.count()).select_from(_EVENTS).where(where).scalar_subquery()
                  for where in ranges[start:start + _RANGES_PER_COUNT]]
        behind += sum(int(n) for n in conn.execute(select(*counts)).one())
    checked = row.checked_at
    if checked is not None and checked.tzinfo is None:
        checked = checked.replace(tzinfo=UTC)
    return checked, behind


_RANGES_PER_COUNT = 500  # blocks counted by one statement (two parameters each, well under a driver's limit)


_DONE_TASKS = (select(_TASKS.c.id, _TASKS.c.name, _TASKS.c.lane, _TASKS.c.created_at, _TASKS.c.due_at,
                      _CLAIMS.c.claimed_at)
               .select_from(_TASKS.outerjoin(_CLAIMS, _CLAIMS.c.task_id == _TASKS.c.id))
               .where(_TASKS.c.id.in_(bindparam("ids", expanding=True))))
_CASE_ROWS = (select(_CASES.c.id, _CASES.c.service_code, _CASES.c.center_id, _CASES.c.created_at,
                     _CASES.c.due_at, _CASES.c.channel).where(_CASES.c.id.in_(bindparam("ids", expanding=True))))
_FORGET_CLAIMS = delete(_CLAIMS).where(_CLAIMS.c.task_id.in_(bindparam("ids", expanding=True)))
_FORGET_CASE_CLAIMS = delete(_CLAIMS).where(
    _CLAIMS.c.task_id.in_(select(_TASKS.c.id).where(_TASKS.c.case_id.in_(bindparam("ids", expanding=True)))))


def apply(conn: Connection, events: Iterable[Any]) -> int:
    """Add what ``events`` (rows with id, case_id, kind, at, actor, task_id, to, end_event; in id order) mean
    to the aggregates, on ``conn``; returns how many were counted."""
    events = list(events)
    if not events:
        return 0
    case_ids = sorted({int(e.case_id) for e in events})
    cases = {row.id: row for row in conn.execute(_CASE_ROWS, {"ids": case_ids})}
    done_ids = sorted({str(e.task_id) for e in events if e.kind == "task_completed" and e.task_id})
    done = {row.id: row for row in conn.execute(_DONE_TASKS, {"ids": done_ids})} if done_ids else {}
    claims: dict[str, datetime | None] = {}  # this batch's claims (None: released) over the stored ones
    ended: list[int] = []
    tally = Tally()
    for event in events:
        case = cases.get(event.case_id)
        if case is None:
            continue
        at = clock.parse(event.at)
        if event.kind == "case_opened":
            tally.opened(service_code=case.service_code, center_id=case.center_id, at=at, channel=case.channel)
        elif event.kind in ("task_claimed", "task_released", "task_reassigned"):
            held = holds(event.kind, {"to": event.to})
            claims[str(event.task_id)] = at if held else None
        elif event.kind == "task_completed":
            row = done.get(str(event.task_id))
            if row is None:
                continue
            task_id = str(event.task_id)
            claimed_at = claims.get(task_id, row.claimed_at)
            claims[task_id] = None
            tally.task_done(service_code=case.service_code, center_id=case.center_id, lane=row.lane,
                            name=row.name, officer=event.actor, ready_at=row.created_at, claimed_at=claimed_at,
                            due_at=row.due_at, at=at)
        elif event.kind in ("case_completed", "case_cancelled"):
            status = "completed" if event.kind == "case_completed" else "cancelled"
            tally.ended(service_code=case.service_code, center_id=case.center_id, status=status,
                        outcome=event.end_event, opened_at=case.created_at, due_at=case.due_at, at=at)
            ended.append(int(event.case_id))
            if claims:
                theirs = _case_tasks(conn, int(event.case_id))
                claims = {t: c for t, c in claims.items() if t not in theirs}
    held_now = {t: c for t, c in claims.items() if c is not None}
    released = sorted(t for t, c in claims.items() if c is None)
    if released:
        conn.execute(_FORGET_CLAIMS, {"ids": released})
    if held_now:
        insert = postgresql.insert(_CLAIMS) if conn.dialect.name == "postgresql" else sqlite.insert(_CLAIMS)
        statement = insert.on_conflict_do_update(index_elements=["task_id"],
                                                 set_={"claimed_at": insert.excluded.claimed_at})
        conn.execute(statement, [{"task_id": t, "claimed_at": c} for t, c in sorted(held_now.items())])
    if ended:
        conn.execute(_FORGET_CASE_CLAIMS, {"ids": sorted(set(ended))})
    if tally:
        add_to(conn, tally)
    return len(events)


def _case_tasks(conn: Connection, case_id: int) -> set[str]:
    """Ids of the tasks of ``case_id`` (its claims end with it)."""
    return set(conn.execute(select(_TASKS.c.id).where(_TASKS.c.case_id == case_id)).scalars())
