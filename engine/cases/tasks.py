"""The work of departments: the inbox, claiming a task, and completing it with the form's data."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from engine.bpmn import runner
from engine.bpmn.compiler import CompiledProcess
from engine.bpmn.service_info import Assignment
from engine.cases import assignment, checklist, incidents, owners, workflows
from engine.cases.lifecycle import Outcome, load_case, process_failed
from engine.catalog import processes
from engine.core import clock, metrics
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from forms import fields as form_fields
from forms.validation import checked
from storage.db import write_lock
from storage.models.base import answered_from, held, loaded, table, tables
from storage.models.cases import Case, Task
from storage.models.catalog import ProcessVersion

log = logging.getLogger(__name__)


def inbox(*, session: Session, actor: Actor, service_code: str | None = None, lane: str | None = None,
          limit: int = 100, offset: int = 0) -> list[Any]:
    """Ready tasks the actor may act on (engine/people/policy.py: their lanes, at their centers), oldest first,
    answered from the indexed projection alone.

    Plain rows, not ORM objects: the inbox is the most frequent read of all and needs no identity map."""
    tasks = table(Task)
    mine = policy.acting_on(session, actor, tasks, lane=lane)  # the tasks the policy lets the actor act on
    if mine is None:
        return []
    query = tasks.select().where(tasks.c.state == "ready", *mine)
    if service_code:
        query = query.where(tasks.c.service_code == service_code)
    query = query.order_by(tasks.c.created_at, tasks.c.id).offset(offset).limit(limit)
    return list(session.connection().execute(query).all())


_TASKS, _CASES = tables(Task, Case)
# Statements built once (a Core SELECT costs less than Session.get's trip through the ORM's query machinery).
_TASK = _TASKS.select().where(_TASKS.c.id == bindparam("task_id"))
# A step's task and its case in one statement, the task's columns then the case's (an outer join: a case that is
# not there is refused as before).
_TASK_AND_CASE = (_TASKS.outerjoin(_CASES, _CASES.c.id == _TASKS.c.case_id).select()
                  .where(_TASKS.c.id == bindparam("task_id")))
_TASK_KEYS, _CASE_KEYS = tuple(_TASKS.c.keys()), tuple(_CASES.c.keys())


def task_for(*, session: Session, task_id: str, actor: Actor, settings: Settings | None = None,
             action: str = "task.act") -> Task:
    """The task, if the policy lets the actor take ``action`` on it (engine/people/policy.py: its lane, its center).
    Detached, as read (one the session holds already is the session's own, as ``Session.get`` answers)."""
    if answered_from(session, Task, task_id):
        task = session.get(Task, task_id)
    else:
        row = session.connection().execute(_TASK, {"task_id": task_id}).mappings().first()
        task = loaded(Task, row) if row is not None else None
    if task is None:
        raise NotFound("task.not_found", task_id=task_id)
    policy.check_task(session, actor, action, task, settings)
    return task


@dataclass(frozen=True)
class Step:
    """A task with its case and its service's compiled process, loaded once: what a command on the task needs,
    and what a page showing the task renders (again, after a refused form, without loading it again)."""

    task: Task
    case: Case
    process: CompiledProcess

    @property
    def schema(self) -> dict[str, Any] | None:
        """The task's form (JSON Schema), None for a formless task."""
        return self.process.forms.get(self.task.form) if self.task.form else None


def step_for(*, session: Session, task_id: str, actor: Actor, settings: Settings, action: str = "task.act") -> Step:
    """The task (if the policy lets the actor take ``action`` on it), its case and process: the task and the case
    read in one statement, both detached (what the session holds already is taken from it, as ``task_for`` and
    ``load_case`` do)."""
    if answered_from(session, Task, task_id):
        task = task_for(session=session, task_id=task_id, actor=actor, settings=settings, action=action)
        case = load_case(session, task.case_id)
    else:
        row = session.connection().execute(_TASK_AND_CASE, {"task_id": task_id}).first()
        if row is None:
            raise NotFound("task.not_found", task_id=task_id)
        width = len(_TASK_KEYS)
        task = loaded(Task, dict(zip(_TASK_KEYS, row[:width], strict=True)))
        policy.check_task(session, actor, action, task, settings)
        if row[width] is None or held(session, Case, task.case_id):
            case = load_case(session, task.case_id)  # no case: refused there; the session's own: taken from it
        else:
            case = loaded(Case, dict(zip(_CASE_KEYS, row[width:], strict=True)))
    return Step(task, case, processes.cache.get(session, case.process_version_id, settings))


def lane_rule(session: Session, task: Task, settings: Settings | None,
              case: Case | None = None) -> tuple[str, Assignment]:
    """The rule the task's lane follows at its center (engine/cases/assignment.py), and its service's
    ``[assignment]`` (from the compiled process when the settings name its cache, else from the version row)."""
    version_id = case.process_version_id if case is not None else session.exec(
        select(Case.process_version_id).where(col(Case.id) == task.case_id)).one()
    if settings is not None:
        service = processes.cache.get(session, version_id, settings).service.assignment
    else:
        version = session.get(ProcessVersion, version_id)
        service = Assignment.model_validate(((version.service if version else None) or {}).get("assignment") or {})
    own = assignment.center_rules(session.connection(), task.center_id, [task.lane])
    return assignment.rule_of(task.lane, own, service), service


def check_four_eyes(session: Session, task: Task, username: str, service: Assignment) -> None:
    """Forbidden when ``username`` completed another step of the service's four-eyes list in this case."""
    if task.name in service.four_eyes and username in assignment.kept_out(session.connection(), task.case_id,
                                                                           task.name, service):
        raise Forbidden("assignment.four_eyes")


def claim(*, session: Session, task_id: str, actor: Actor, settings: Settings | None = None) -> Task:
    """Take a ready task of one's lane. Under an automatic rule tasks are given, never taken (Conflict); a
    step of the four-eyes list is refused to who completed another of them in the case (Forbidden)."""
    task = task_for(session=session, task_id=task_id, actor=actor, settings=settings)
    if task.state != "ready":
        raise Conflict("task.already_state", state=task.state)
    if task.claimed_by == actor.username:
        return task
    if task.claimed_by is not None:
        raise Conflict("task.claimed_by", claimed_by=task.claimed_by)
    case = load_case(session, task.case_id)  # read once: for the rule here, for the chain in the write
    rule, service = lane_rule(session, task, settings, case)
    if rule in assignment.AUTOMATIC:
        raise Conflict("assignment.by_rule", rule=rule)
    check_four_eyes(session, task, actor.username, service)
    return _set_claim(session, task, actor, actor.username, "task_claimed", case)


def unclaim(*, session: Session, task_id: str, actor: Actor, settings: Settings | None = None) -> Task:
    """Give a claimed task back to the lane. A task given by an automatic rule is not the officer's to give
    back (Conflict): a supervisor reassigns it."""
    task = task_for(session=session, task_id=task_id, actor=actor, settings=settings)
    if task.state != "ready":
        raise Conflict("task.already_state", state=task.state)
    if task.claimed_by is None:
        return task
    if task.claimed_by != actor.username and not actor.has("supervisor"):
        raise Conflict("task.claimed_by", claimed_by=task.claimed_by)
    case = load_case(session, task.case_id)
    if lane_rule(session, task, settings, case)[0] in assignment.AUTOMATIC:
        raise Conflict("assignment.no_release")
    return _set_claim(session, task, actor, None, "task_released", case)


def _set_claim(session: Session, task: Task, actor: Actor, to: str | None, kind: str,
               case: Case | None = None) -> Task:
    with write_lock(session):
        return _write_claim(session, task, actor, to, kind, case)


def _write_claim(session: Session, task: Task, actor: Actor, to: str | None, kind: str,
                 case: Case | None = None) -> Task:
    previous = task.claimed_by
    changed = session.execute(update(Task).where(col(Task.id) == task.id, col(Task.state) == "ready",
                                                 col(Task.claimed_by).is_(None) if previous is None
                                                 else col(Task.claimed_by) == previous)
                              .values(claimed_by=to, away_absence_id=None))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("task.changed_at_same_moment")
    # A case read before the write may be behind: the chain's versioned UPDATE then refuses (a 409, nothing
    # written), as for any command that loses its case's race.
    case = case if case is not None else load_case(session, task.case_id)
    workflows.append_to_chain(session, case, actor=actor.username, events=[(kind, task.name, {"task_id": task.id})])
    workflows.commit_or_conflict(session)
    # The row is what the UPDATE above made it (its WHERE held): the task is returned as written, not read again.
    set_committed_value(task, "claimed_by", to)
    return task


def complete(*, session: Session, task_id: str, data: dict[str, Any], actor: Actor,
             settings: Settings) -> Outcome:
    """Complete the task with ``data`` (the API's JSON); the case as the step left it."""
    started = time.perf_counter()
    step = step_for(session=session, task_id=task_id, actor=actor, settings=settings)
    return complete_step(session=session, step=step, data=data, actor=actor, settings=settings, started=started)


class FormRefused(Invalid):
    """A page's form was refused (Invalid: 422); ``typed`` is what the reader typed, to show them again."""

    def __init__(self, refused: Invalid, typed: dict[str, str]) -> None:
        super().__init__(refused.message, refused.details)
        self.typed = typed


def complete_posted(*, session: Session, step: Step, posted: Mapping[str, Any], actor: Actor,
                    settings: Settings) -> Outcome:
    """Complete the step from a page's posted form, read here once against the step's own form
    (forms/fields.py ``parse``). A refusal of the data is :class:`FormRefused`, carrying what was typed, so the
    page shows the same step again without reloading it."""
    started = time.perf_counter()
    data, typed = form_fields.parse(step.schema or {}, posted)
    try:
        return complete_step(session=session, step=step, data=data, actor=actor, settings=settings, started=started)
    except Invalid as exc:
        raise FormRefused(exc, typed) from exc


def complete_step(*, session: Session, step: Step, data: dict[str, Any], actor: Actor, settings: Settings,
                  started: float | None = None,
                  before: Sequence[tuple[str, str | None, dict[str, Any]]] = ()) -> Outcome:
    """Complete a loaded step: owners, the form's validation, the papers, the workflow, one save. ``started``:
    when the command began (perf_counter), for the step's time in the metrics. ``before``: events of rows the
    caller wrote in the same transaction (a citizen's uploaded paper), put on the chain ahead of the step's."""
    started = time.perf_counter() if started is None else started
    task, case, process = step.task, step.case, step.process
    if task.state != "ready":
        raise Conflict("task.already_state", state=task.state)
    if task.claimed_by is not None and task.claimed_by != actor.username:
        raise Conflict("task.claimed_by", claimed_by=task.claimed_by)
    rules = process.service.assignment
    own: dict[str, str] | None = None  # the center's rules of every lane of the process, read once for the step
    if task.claimed_by is None:  # under an automatic rule only the officer given the task completes it
        own = assignment.center_rules(session.connection(), task.center_id, process.lanes)
        rule = assignment.rule_of(task.lane, own, rules)
        if rule in assignment.AUTOMATIC:
            raise Conflict("assignment.by_rule", rule=rule)
    check_four_eyes(session, task, actor.username, rules)
    # Every field has an owner (forms/ownership.py): refused before anything runs, so nothing is written.
    owners.check_task(session, case, process, task.name, data, settings)
    info = process.user_tasks.get(task.name)
    if info is not None and info.form:
        data, problems = checked(process.validator(info.form), data)
        if problems:
            raise Invalid("form.has_errors", problems)
    # The checklist of papers goes into the task's data (gateways read it); intake refuses missing papers.
    data = {**data, **checklist.task_data(session, case, process, task.name)}
    workflow = workflows.load(case, process, settings)
    moment = clock.now()  # the step's moment: scripts and timers run at it, its events record it (replay too)
    try:
        runner.complete(workflow, task.id, data, runner.limits(settings), at=moment)
    except LookupError as exc:
        raise Conflict("task.not_waiting") from exc
    except runner.ProcessFailed as exc:
        refusal = process_failed(exc, process)
        if exc.limit != "busy":  # no sandbox free is the server's moment, not the case's failure
            assert case.id is not None
            incidents.record(session, case_id=case.id, exc=exc, actor=actor.username,
                             kind="script_limit" if exc.limit is not None else "step_failed",
                             task_id=task.id, task_name=task.name, payload=data, message=refusal.message)
        raise refusal from exc
    ready = workflows.save(session, case, workflow, process, actor=actor.username, settings=settings, at=moment,
                           completed=(task.id, actor.username),
                           events=[*before, ("task_completed", task.name, {"task_id": task.id, "data": data})],
                           center_rules=own if task.center_id == case.center_id else None)
    set_committed_value(task, "state", "completed")  # as the save wrote it
    metrics.observe_step(case.service_code, task.name, started)
    return Outcome(case, ready, process.version)

