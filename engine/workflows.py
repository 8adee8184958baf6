"""Load a case's workflow and save its progress: the one place that writes a case's state and projections.

Saving is one optimistic UPDATE of the case row (``WHERE version = <the version we loaded>``): if another
command advanced the case in between, nothing is written and the caller gets a Conflict. In the same
transaction the task projection is brought in line with the workflow's ready user tasks and the audit
events are appended, so the state, the inbox and the trail can never disagree.

Restored workflows are kept warm in memory, keyed by case and version. An entry is *taken* out of the cache
for the length of a command, so two threads can never work on the same object; it goes back only after a
successful commit, and a version mismatch simply means restoring from the stored state.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from engine import audit
from engine.bpmn import runner
from engine.bpmn.compiler import CompiledProcess
from engine.bpmn.serializer import STATE_FORMAT
from engine.errors import Conflict
from engine.settings import Settings
from storage.models import Case, Task


class WorkflowCache:
    def __init__(self, size: int) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[int, BpmnWorkflow]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def take(self, database: str, case_id: int, version: int) -> BpmnWorkflow | None:
        with self._lock:
            item = self._items.pop((database, case_id), None)
        if item is None or item[0] != version:
            return None
        return item[1]

    def give_back(self, database: str, case_id: int, version: int, workflow: BpmnWorkflow) -> None:
        if self._size <= 0:
            return
        key = (database, case_id)
        with self._lock:
            self._items[key] = (version, workflow)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_cache: WorkflowCache | None = None


def workflow_cache(settings: Settings) -> WorkflowCache:
    global _cache
    if _cache is None:
        _cache = WorkflowCache(settings.workflow_cache_size)
    return _cache


def load(case: Case, process: CompiledProcess, settings: Settings) -> BpmnWorkflow:
    assert case.id is not None
    warm = workflow_cache(settings).take(settings.database_url, case.id, case.version)
    return warm if warm is not None else runner.load(process, case.state)


def limits(settings: Settings) -> runner.Limits:
    return runner.Limits(max_steps=settings.max_engine_steps, max_seconds=settings.max_engine_seconds)


def due(start: datetime, days: float | None) -> datetime | None:
    return start + timedelta(days=days) if days else None


def snapshot(workflow: BpmnWorkflow, process: CompiledProcess) -> dict[str, Any]:
    """The case's projection columns, read from the workflow."""
    done = runner.is_completed(workflow)
    ready = runner.ready_user_tasks(workflow)
    titles = [process.user_tasks[t.name].title if t.name in process.user_tasks else t.name for t in ready]
    return {
        "status": "completed" if done else "open",
        "data": audit.canonical(runner.case_data(workflow)),
        "state": runner.dump(workflow),
        "state_format": STATE_FORMAT,
        "current_step": ", ".join(dict.fromkeys(titles))[:255] or None,
        "outcome": runner.end_event(workflow) if done else None,
        "waiting_timers": runner.waits_on_timer(workflow),
    }


def save(session: Session, case: Case, workflow: BpmnWorkflow, process: CompiledProcess, *,
         actor: str, events: list[tuple[str, str | None, dict[str, Any]]], settings: Settings,
         completed: tuple[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write the advanced workflow, its projections and ``events`` (kind, task, data) in one commit.

    ``completed`` is ``(task_id, username)`` of the user task this command completed, if any.
    Raises Conflict, writing nothing, when the case moved on since it was loaded.
    """
    assert case.id is not None
    now = datetime.now(UTC)
    values = {**snapshot(workflow, process), **(extra or {})}
    if values["status"] != "open":
        values["completed_at"] = now
    if values["status"] == "completed":
        events = [*events, ("case_completed", None, {"end_event": values["outcome"]})]
    loaded_version = case.version
    rows = [audit.build(case, actor=actor, kind=kind, task=task, data=data) for kind, task, data in events]
    values.update(audit_seq=case.audit_seq, audit_head=case.audit_head, updated_at=now,
                  version=loaded_version + 1)
    # The versioned UPDATE goes first: it either takes the case (row lock on PostgreSQL, the write lock
    # on SQLite) or tells us we lost, before anything else is written.
    claim_case(session, case.id, loaded_version, values)
    _sync_tasks(session, case, workflow, process, now, completed)
    session.add_all(rows)
    commit_or_conflict(session)
    for key, value in values.items():
        setattr(case, key, value)
    workflow_cache(settings).give_back(settings.database_url, case.id, case.version, workflow)


LOST_RACE = "the case was changed by someone else at the same moment; reload and try again"


def claim_case(session: Session, case_id: int, version: int, values: dict[str, Any]) -> None:
    """``UPDATE case … WHERE version = <loaded>``; a Conflict (and a rollback) when someone got there first."""
    result = session.execute(update(Case).where(col(Case.id) == case_id, col(Case.version) == version)
                             .values(**values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict(LOST_RACE)


def commit_or_conflict(session: Session) -> None:
    try:
        session.commit()
    except IntegrityError as exc:  # a unique key (event seq, task id) taken by a concurrent command
        session.rollback()
        raise Conflict(LOST_RACE) from exc


def _sync_tasks(session: Session, case: Case, workflow: BpmnWorkflow, process: CompiledProcess, now: datetime,
                completed: tuple[str, str] | None) -> None:
    ready = {t.id: t for t in runner.ready_user_tasks(workflow)}
    known = set(session.exec(select(Task.id).where(Task.case_id == case.id, Task.state == "ready")).all())
    gone = known - ready.keys()
    if completed is not None and completed[0] in gone:
        session.execute(update(Task).where(col(Task.id) == completed[0])
                        .values(state="completed", completed_by=completed[1], completed_at=now))
        gone.discard(completed[0])
    if gone:
        # Ready tasks that vanished without being completed were withdrawn by the diagram
        # (an interrupting boundary event, a terminate end, a cancelled case).
        session.execute(update(Task).where(col(Task.id).in_(gone)).values(state="cancelled", completed_at=now))
    for task_id, ready_task in ready.items():
        if task_id in known:
            continue
        info = process.user_tasks.get(ready_task.name)
        session.add(Task(
            id=task_id, case_id=case.id, tracking_number=case.tracking_number, service_code=case.service_code,
            name=ready_task.name, title=info.title if info else ready_task.name,
            lane=info.lane if info else "", form=info.form if info else None, created_at=now,
            due_at=due(now, info.sla_days if info else None)))
