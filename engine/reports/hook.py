"""The reports hook (engine/cases/hooks.py): each transaction that moves a case adds what it did to the aggregates.

A case opened counts on its day; a task completed adds its ready-to-completed time to its step's histogram and
its handling time (from the claim, else from ready) to the officer's; a case that leaves the open state counts
as completed (on time, late, rejected) or cancelled. Claims are remembered in ``report_claim`` until the task is
done. Everything is written on the case's connection, so it commits or rolls back with the case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.reports.tally import Tally, add_to
from storage.models.cases import Task
from storage.models.reports import ReportClaim

if TYPE_CHECKING:  # pragma: no cover
    from engine.cases.hooks import Written

_TASKS = Task.__table__  # type: ignore[attr-defined]
_CLAIMS = ReportClaim.__table__  # type: ignore[attr-defined]
_DONE_TASK = (select(_TASKS.c.name, _TASKS.c.lane, _TASKS.c.created_at, _TASKS.c.due_at, _CLAIMS.c.claimed_at)
              .select_from(_TASKS.outerjoin(_CLAIMS, _CLAIMS.c.task_id == _TASKS.c.id))
              .where(_TASKS.c.id == bindparam("task_id")))
_FORGET_CLAIM = delete(_CLAIMS).where(_CLAIMS.c.task_id == bindparam("task_id"))
_FORGET_CASE_CLAIMS = delete(_CLAIMS).where(
    _CLAIMS.c.task_id.in_(select(_TASKS.c.id).where(_TASKS.c.case_id == bindparam("case_id"))))


def record(written: Written) -> None:
    case, conn, at = written.case, written.conn, written.at
    center = getattr(case, "center_id", None)
    kinds = {event.kind for event in written.events}
    tally = Tally()
    opened = "case_opened" in kinds
    if opened:
        tally.opened(service_code=case.service_code, center_id=center, at=at)
    for event in written.events:
        held = holds(event.kind, event.data)
        if held is True:
            _remember_claim(conn, str(event.data.get("task_id")), at)
        elif held is False:
            conn.execute(_FORGET_CLAIM, {"task_id": str(event.data.get("task_id"))})
    if written.completed is not None:
        task_id, officer = written.completed
        row = conn.execute(_DONE_TASK, {"task_id": task_id}).first()
        if row is not None:
            tally.task_done(service_code=case.service_code, center_id=center, lane=row.lane, name=row.name,
                            officer=officer, ready_at=row.created_at, claimed_at=row.claimed_at,
                            due_at=row.due_at, at=at)
            if row.claimed_at is not None:
                conn.execute(_FORGET_CLAIM, {"task_id": task_id})
    status = written.values.get("status")
    if status in ("completed", "cancelled") and (opened or case.status == "open"):
        tally.ended(service_code=case.service_code, center_id=center, status=status,
                    outcome=written.values.get("outcome"), opened_at=case.created_at, due_at=case.due_at, at=at)
        conn.execute(_FORGET_CASE_CLAIMS, {"case_id": case.id})
    if tally:
        add_to(conn, tally)


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


def _remember_claim(conn: Connection, task_id: str, at: object) -> None:
    insert = postgresql.insert(_CLAIMS) if conn.dialect.name == "postgresql" else sqlite.insert(_CLAIMS)
    conn.execute(insert.values(task_id=task_id, claimed_at=at)
                 .on_conflict_do_update(index_elements=["task_id"], set_={"claimed_at": at}))
