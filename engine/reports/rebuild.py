"""Recompute every report aggregate from the cases, their tasks and their claim events.

For a new installation of the reports on existing data, or to repair the aggregates: ``shubbak reports
rebuild``. It fills the same ``Tally`` the projector fills from the events (engine/reports/projector.py,
engine/reports/tally.py), from the rows the commands wrote, so a rebuild and the projector agree
(tests/engine/test_reports.py), and it moves the projector's cursor after the last event. Rows are streamed; the tally
holds only the aggregate keys. Run it while no case moves (or accept the counts of the moves in between).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from engine.core.clock import parse
from engine.reports.projector import holds, move_to_end
from engine.reports.tally import Tally, write_fresh
from storage.models.audit import AuditEvent
from storage.models.base import table, tables
from storage.models.cases import Case, Task
from storage.models.reports import (
    ReportCaseTime,
    ReportChannelDay,
    ReportClaim,
    ReportDay,
    ReportLaneDay,
    ReportOfficerTime,
    ReportStepTime,
)

_CASES, _TASKS, _EVENTS = tables(Case, Task, AuditEvent)
_BATCH = 20_000
# Every table the projector fills and a rebuild empties and counts again.
AGGREGATE_TABLES = (ReportDay, ReportLaneDay, ReportCaseTime, ReportStepTime, ReportOfficerTime, ReportClaim,
                    ReportChannelDay)


def rebuild(conn: Connection) -> dict[str, int]:
    """Empty the aggregates and count everything again, inside the caller's transaction; returns how many
    cases and completed tasks were counted."""
    for model in AGGREGATE_TABLES:
        conn.execute(delete(table(model)))
    tally = Tally()
    cases = _count_cases(conn, tally)
    claims = _claims(conn)
    tasks = _count_tasks(conn, tally, claims)
    write_fresh(conn, tally)
    ready = set(_stream(conn, select(_TASKS.c.id).where(_TASKS.c.state == "ready")).scalars())
    claims = {task_id: at for task_id, at in claims.items() if task_id in ready}
    if claims:
        conn.execute(table(ReportClaim).insert(),
                     [{"task_id": t, "claimed_at": at} for t, at in sorted(claims.items())])
    move_to_end(conn)
    return {"cases": cases, "tasks": tasks}


def _stream(conn: Connection, query: Any) -> Any:
    return conn.execute(query.execution_options(stream_results=True, yield_per=_BATCH))


def _count_cases(conn: Connection, tally: Tally) -> int:
    query = select(_CASES.c.service_code, _CASES.c.center_id, _CASES.c.status, _CASES.c.outcome,
                   _CASES.c.created_at, _CASES.c.due_at, _CASES.c.completed_at, _CASES.c.channel)
    n = 0
    for row in _stream(conn, query):
        n += 1
        tally.opened(service_code=row.service_code, center_id=row.center_id, at=row.created_at, channel=row.channel)
        if row.status in ("completed", "cancelled") and row.completed_at is not None:
            tally.ended(service_code=row.service_code, center_id=row.center_id, status=row.status,
                        outcome=row.outcome, opened_at=row.created_at, due_at=row.due_at, at=row.completed_at)
    return n


def _claims(conn: Connection) -> dict[str, datetime]:
    """The standing claim of each task, replayed from the claim, release and reassignment events in chain order."""
    query = (select(_EVENTS.c.kind, _EVENTS.c.at, _EVENTS.c.data)
             .where(_EVENTS.c.kind.in_(("task_claimed", "task_released", "task_reassigned")))
             .order_by(_EVENTS.c.case_id, _EVENTS.c.seq))
    claims: dict[str, datetime] = {}
    for row in _stream(conn, query):
        task_id = str(row.data.get("task_id"))
        if holds(row.kind, row.data):
            claims[task_id] = parse(row.at)
        else:
            claims.pop(task_id, None)
    return claims


def _count_tasks(conn: Connection, tally: Tally, claims: dict[str, datetime]) -> int:
    query = (select(_TASKS.c.id, _TASKS.c.service_code, _TASKS.c.center_id, _TASKS.c.lane, _TASKS.c.name,
                    _TASKS.c.completed_by, _TASKS.c.created_at, _TASKS.c.due_at, _TASKS.c.completed_at)
             .where(_TASKS.c.state == "completed"))
    n = 0
    for row in _stream(conn, query):
        n += 1
        tally.task_done(service_code=row.service_code, center_id=row.center_id, lane=row.lane, name=row.name,
                        officer=row.completed_by or "", ready_at=row.created_at, claimed_at=claims.pop(row.id, None),
                        due_at=row.due_at, at=row.completed_at)
    return n
