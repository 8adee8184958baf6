"""The work of departments: the inbox, claiming a task, and completing it with the form's data."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from engine import centers, checklist, clock, metrics, processes, workflows
from engine.bpmn import runner
from engine.cases import load_case, process_failed
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.settings import Settings
from engine.users import Actor
from forms.validation import form_errors
from storage.db import write_lock
from storage.models import Case, Task


def inbox(*, session: Session, actor: Actor, service_code: str | None = None, lane: str | None = None,
          limit: int = 100, offset: int = 0) -> list[Any]:
    """Ready tasks of the actor's lanes, oldest first, answered from the indexed projection alone.

    Plain rows, not ORM objects: the inbox is the most frequent read of all and needs no identity map."""
    lanes = sorted(actor.roles) if lane is None else ([lane] if lane in actor.roles else [])
    if not lanes:
        return []
    tasks = Task.__table__  # type: ignore[attr-defined]
    query = select(tasks).where(tasks.c.state == "ready", tasks.c.lane.in_(lanes))
    seen_centers = centers.visible_center_ids(session, actor)
    if seen_centers is not None:
        query = query.where(tasks.c.center_id.in_(seen_centers))
    if service_code:
        query = query.where(tasks.c.service_code == service_code)
    query = query.order_by(tasks.c.created_at, tasks.c.id).offset(offset).limit(limit)
    return list(session.connection().execute(query).all())


def _task_for(session: Session, task_id: str, actor: Actor) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if task.lane not in actor.roles:
        raise Forbidden(f"this task belongs to the lane '{task.lane}', which is not one of your roles")
    if actor.center_id is not None and not centers.sees(session, actor, task.center_id):
        raise Forbidden("this task belongs to a center you do not see")
    return task


def claim(*, session: Session, task_id: str, actor: Actor) -> Task:
    task = _task_for(session, task_id, actor)
    if task.state != "ready":
        raise Conflict(f"the task is already {task.state}")
    if task.claimed_by == actor.username:
        return task
    if task.claimed_by is not None:
        raise Conflict(f"the task is claimed by {task.claimed_by}")
    return _set_claim(session, task, actor, actor.username, "task_claimed")


def unclaim(*, session: Session, task_id: str, actor: Actor) -> Task:
    task = _task_for(session, task_id, actor)
    if task.state != "ready":
        raise Conflict(f"the task is already {task.state}")
    if task.claimed_by is None:
        return task
    if task.claimed_by != actor.username and not actor.has("supervisor"):
        raise Conflict(f"the task is claimed by {task.claimed_by}")
    return _set_claim(session, task, actor, None, "task_released")


def _set_claim(session: Session, task: Task, actor: Actor, to: str | None, kind: str) -> Task:
    with write_lock(session):
        return _write_claim(session, task, actor, to, kind)


def _write_claim(session: Session, task: Task, actor: Actor, to: str | None, kind: str) -> Task:
    previous = task.claimed_by
    changed = session.execute(update(Task).where(col(Task.id) == task.id, col(Task.state) == "ready",
                                                 col(Task.claimed_by).is_(None) if previous is None
                                                 else col(Task.claimed_by) == previous)
                              .values(claimed_by=to))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("the task was claimed, released or completed by someone else at the same moment")
    case = load_case(session, task.case_id)
    workflows.append_to_chain(session, case, actor=actor.username, events=[(kind, task.name, {"task_id": task.id})])
    workflows.commit_or_conflict(session)
    session.refresh(task)
    return task


def complete(*, session: Session, task_id: str, data: dict[str, Any], actor: Actor,
             settings: Settings) -> Case:
    started = time.perf_counter()
    task = _task_for(session, task_id, actor)
    if task.state != "ready":
        raise Conflict(f"the task is already {task.state}")
    if task.claimed_by is not None and task.claimed_by != actor.username:
        raise Conflict(f"the task is claimed by {task.claimed_by}")
    case = load_case(session, task.case_id)
    process = processes.cache.get(session, case.process_version_id, settings)
    info = process.user_tasks.get(task.name)
    if info is not None and info.form:
        problems = form_errors(process.validator(info.form), data)
        if problems:
            raise Invalid("the form has errors", problems)
    # The checklist of papers goes into the task's data (gateways read it); intake refuses missing papers.
    data = {**data, **checklist.task_data(session, case, process, task.name)}
    workflow = workflows.load(case, process, settings)
    moment = clock.now()  # the step's moment: scripts and timers run at it, its events record it (replay too)
    try:
        runner.complete(workflow, task.id, data, workflows.limits(settings), at=moment)
    except LookupError as exc:
        raise Conflict("the task is no longer waiting for input") from exc
    except runner.ProcessFailed as exc:
        raise process_failed(exc) from exc
    workflows.save(session, case, workflow, process, actor=actor.username, settings=settings, at=moment,
                   completed=(task.id, actor.username),
                   events=[("task_completed", task.name, {"task_id": task.id, "data": data})])
    metrics.observe_step(case.service_code, task.name, started)
    return case
