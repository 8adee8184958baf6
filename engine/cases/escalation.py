"""SLA escalation: remind a lane before a task falls due, queue overdue tasks for supervisors, go up levels.

``tick`` runs periodically (the in-process tick of api/app.py in the embedded default, Celery beat in
production) and does, for every ready task with a due time:

* **remind** once, when the due time is ``remind_hours`` away or less (the service's ``[escalation]
  remind_hours``, else the setting ``escalation_remind_hours``): a ``task_reminded`` event on the case's chain
  and ``task.reminded_at``. The event goes through engine/cases/hooks.py like every other, so a writer of messages
  registered there sees it in the same transaction: ``sla_events.reminders_in(case, events)`` reads the lanes
  to remind (task, lane, title, due time) — enough to write a message to the lane's officers.
* **escalate**: a task past its due time is at level 1 (it shows in the supervisors' overdue queue); each of
  the service's ``[[escalation.levels]]`` (``after_days`` working days overdue, ``role``) is level 2, 3, ...
  Each level reached writes a ``task_escalated`` event and sets ``task.escalation_level``/``escalated_at``.

Supervisors (and the roles a task was escalated to) reassign an overdue task to a named officer of its lane
or back to the lane (``reassign``): a ``task_reassigned`` event and the task's ``claimed_by`` in one
transaction. Every query and command respects the actor's centers (engine/people/centers.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from engine.bpmn.service_info import Escalation
from engine.cases import assignment, distribution, sla_events, workflows
from engine.cases.lifecycle import load_case
from engine.catalog import processes
from engine.core import calendars, clock, nodes
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import centers, policy, presence
from engine.people.users import SYSTEM, Actor, actor_of
from storage import leader
from storage.db import write_lock
from storage.models.base import tables
from storage.models.cases import Case, Task
from storage.models.catalog import ProcessVersion
from storage.models.people import User

log = logging.getLogger(__name__)

SUPERVISING = ("supervisor", "admin")
_TASKS, _CASES = tables(Task, Case)


def aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone: they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass
class TickResult:
    reminded: int = 0
    escalated: int = 0


def remind_hours(rules: Escalation, settings: Settings) -> float:
    return rules.remind_hours if rules.remind_hours is not None else settings.escalation_remind_hours


def level_for(rules: Escalation, overdue_days: float) -> int:
    """The level a task this many working days past its due time is at (0: not overdue)."""
    if overdue_days <= 0:
        return 0
    return 1 + sum(1 for level in rules.levels if overdue_days >= level.after_days)


def role_of_level(rules: Escalation, level: int) -> str | None:
    """Who a level goes to: level 1 is the supervisors, 2.. the service's levels in order."""
    if level <= 0:
        return None
    if level == 1:
        return "supervisor"
    return rules.levels[level - 2].role


def tick(*, session: Session, settings: Settings, now: datetime | None = None) -> TickResult:
    """Remind and escalate every ready task whose time has come; one transaction per task written.

    Deciding reads only the task rows and the rules of their process version; a case is loaded (and its chain
    appended to) only for a task that is reminded or goes up a level."""
    moment = now or clock.now()
    result = TickResult()
    widest = max([settings.escalation_remind_hours, *(_service_remind_hours(session))])
    for row in _candidates(session, settings, col(Task.reminded_at).is_(None),
                           col(Task.due_at) <= moment + timedelta(hours=widest)):
        rules = _rules(session, row.process_version_id, settings)
        if aware(row.due_at) - timedelta(hours=remind_hours(rules, settings)) <= moment:
            result.reminded += _write(session, moment, row, _remind)
    calendar = center_calendars(session, settings)
    for row in _candidates(session, settings, col(Task.due_at) < moment):
        rules = _rules(session, row.process_version_id, settings)
        # Overdue at all (even on a weekend) is level 1; working days overdue decide the levels above.
        late = calendar(row.center_id).working_days_between(aware(row.due_at), moment)
        target = max(1, level_for(rules, late))
        if target > row.escalation_level:
            result.escalated += _write(session, moment, row, _escalate, rules, target)
    return result


def center_calendars(session: Session, settings: Settings) -> Callable[[int | None], calendars.WorkCalendar]:
    """The working-day calendar of each center (the installation's plus the center's holidays), read once."""
    base = calendars.calendar_for(settings)
    holidays = centers.holiday_map(session.connection())
    made: dict[int | None, calendars.WorkCalendar] = {}

    def of(center_id: int | None) -> calendars.WorkCalendar:
        if center_id not in made:
            made[center_id] = base.with_holidays(holidays.get(center_id, frozenset()) if center_id else frozenset())
        return made[center_id]
    return of


def _service_remind_hours(session: Session) -> list[float]:
    found = []
    for service in session.exec(select(ProcessVersion.service).where(col(ProcessVersion.retired).is_(False))).all():
        hours = ((service or {}).get("escalation") or {}).get("remind_hours")
        if hours is not None:
            found.append(float(hours))
    return found


def _candidates(session: Session, settings: Settings, *conditions: Any) -> Iterator[Any]:
    """Ready tasks with a due time matching ``conditions``, with their case's process version, in keyset pages."""
    last_id = ""
    while True:
        rows = session.connection().execute(
            core_select(_TASKS.c.id, _TASKS.c.case_id, _TASKS.c.due_at, _TASKS.c.escalation_level,
                        _TASKS.c.center_id, _CASES.c.process_version_id)
            .join_from(_TASKS, _CASES, _CASES.c.id == _TASKS.c.case_id)
            .where(_TASKS.c.state == "ready", _TASKS.c.due_at.is_not(None), _TASKS.c.id > last_id,
                   nodes.mine(_CASES.c.node, settings), *conditions)
            .order_by(_TASKS.c.id).limit(settings.escalation_batch)).all()
        session.rollback()  # end the read transaction before each task's own
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def _rules(session: Session, version_id: int, settings: Settings) -> Escalation:
    return processes.cache.get(session, version_id, settings).service.escalation


def _write(session: Session, moment: datetime, row: Any, act: Any, *args: Any) -> int:
    leader.check()  # stop when another process may have taken the tick's turn
    try:
        with clock.frozen(moment), write_lock(session):
            return int(act(session, moment, row, *args))
    except Conflict:
        return 0  # someone moved the case meanwhile: the next tick looks again


def _remind(session: Session, moment: datetime, row: Any) -> int:
    task = session.get(Task, row.id)
    assert task is not None and task.due_at is not None
    changed = session.execute(update(Task).where(col(Task.id) == row.id, col(Task.reminded_at).is_(None),
                                                 col(Task.state) == "ready").values(reminded_at=moment))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return 0
    case = load_case(session, row.case_id)
    workflows.append_to_chain(session, case, actor=SYSTEM.username, events=[(
        sla_events.TASK_REMINDED, task.name, {"task_id": task.id, "lane": task.lane, "title": task.title,
                                     "due_at": clock.iso(aware(task.due_at))})])
    workflows.commit_or_conflict(session)
    return 1


def _escalate(session: Session, moment: datetime, row: Any, rules: Escalation, target: int) -> int:
    task = session.get(Task, row.id)
    assert task is not None and task.due_at is not None
    current = row.escalation_level
    changed = session.execute(update(Task).where(col(Task.id) == row.id, col(Task.state) == "ready",
                                                 col(Task.escalation_level) == current)
                              .values(escalation_level=target, escalated_at=moment))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return 0
    case = load_case(session, row.case_id)
    events: list[tuple[str, str | None, dict[str, Any]]] = [
        (sla_events.TASK_ESCALATED, task.name, {"task_id": task.id, "level": level, "role": role_of_level(rules, level),
                                       "lane": task.lane, "due_at": clock.iso(aware(task.due_at))})
        for level in range(current + 1, target + 1)]
    workflows.append_to_chain(session, case, actor=SYSTEM.username, events=events)
    workflows.commit_or_conflict(session)
    return 1


# --- the overdue queue and reassignment ---------------------------------------------------------------------

def _may_supervise(session: Session, actor: Actor, settings: Settings) -> bool:
    return policy.may(actor, "tasks.overdue", settings, escalation=policy.escalation_roles(session))


def _escalated_to_actor(session: Session, task: Any, actor: Actor, settings: Settings) -> bool:
    """Supervisors see every overdue task; a role named by an escalation level sees those that reached it."""
    if actor.has(*SUPERVISING):
        return True
    if task.escalation_level < 2:
        return False
    version_id = session.exec(select(Case.process_version_id).where(col(Case.id) == task.case_id)).one()
    rules = processes.cache.get(session, version_id, settings).service.escalation
    reached = {role_of_level(rules, level) for level in range(2, min(task.escalation_level, len(rules.levels) + 1)
                                                               + 1)}
    return bool(actor.roles & reached)


def overdue(*, session: Session, actor: Actor, settings: Settings, now: datetime | None = None,
            service_code: str | None = None, limit: int = 100, offset: int = 0) -> list[Any]:
    """Ready tasks past their due time that the actor supervises, most overdue first (plain rows)."""
    if not _may_supervise(session, actor, settings):
        raise Forbidden("escalation.overdue_not_allowed")
    moment = now or clock.now()
    query = _TASKS.select().where(_TASKS.c.state == "ready", _TASKS.c.due_at.is_not(None),
                                 _TASKS.c.due_at < moment)
    visible = policy.centers_seen(session, actor)
    if visible is not None:
        query = query.where(_TASKS.c.center_id.in_(visible))
    if service_code:
        query = query.where(_TASKS.c.service_code == service_code)
    query = query.order_by(_TASKS.c.due_at, _TASKS.c.id)
    if actor.has(*SUPERVISING):
        return list(session.connection().execute(query.offset(offset).limit(limit)).all())
    # A role named by escalation levels: the tasks escalated to level 2 or above, those that reached its level.
    rows = session.connection().execute(query.where(_TASKS.c.escalation_level >= 2)).all()
    mine = [row for row in rows if _escalated_to_actor(session, row, actor, settings)]
    return mine[offset:offset + limit]


def officers(session: Session) -> Callable[[str, int | None], list[str]]:
    """For a task's lane and center: the active users who may act on it (engine/people/policy.py), by username; what
    a supervisor may hand the task to."""
    users = session.exec(select(User).where(col(User.active).is_(True)).order_by(col(User.username))).all()
    return policy.who_may_act(session, [actor_of(u) for u in users])


def _check_officer_free(session: Session, task: Task, to: str, settings: Settings) -> None:
    """Invalid when ``to`` is away today, or the four eyes keep them from this step of the case."""
    conn = session.connection()
    if presence.away(conn, [to], presence.today(settings)):
        raise Invalid("assignment.officer_away", [problem("to", "assignment.officer_away", loc=["body", "to"],
                                                          to=to)], to=to)
    version_id = session.exec(select(Case.process_version_id).where(col(Case.id) == task.case_id)).one()
    service = processes.cache.get(session, version_id, settings).service.assignment
    if to in assignment.kept_out(conn, task.case_id, task.name, service):
        raise Invalid("assignment.four_eyes_officer", [problem("to", "assignment.four_eyes_officer",
                                                               loc=["body", "to"], to=to)], to=to)


def reassign(*, session: Session, task_id: str, to: str | None, actor: Actor, settings: Settings,
             reason: str | None = None) -> Task:
    """Give a ready task to a named officer of its lane (``to``), or back to the whole lane (``to`` None; under
    an automatic rule, to whom the rule gives it now, never back to the one who had it).

    Refusals: Forbidden (not a supervisor of this task, or a task of a center the actor does not see),
    NotFound (no such task or officer), Invalid (the officer lacks the lane's role, works at a center that
    does not see the task, is away today, or completed an earlier four-eyes step of the case), Conflict (the
    task is not ready)."""
    task = check_reassign(session=session, task_id=task_id, to=to, actor=actor, settings=settings)
    return _reassign(session, task, to, actor, settings, reason)


def check_reassign(*, session: Session, task_id: str, to: str | None, actor: Actor, settings: Settings) -> Task:
    """Every refusal :func:`reassign` makes, without writing anything (a bulk operation's dry run asks it)."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("task.not_found", task_id=task_id)
    policy.require_center(session, actor, task.center_id)
    if not _escalated_to_actor(session, task, actor, settings):
        raise Forbidden("escalation.reassign_not_allowed")
    if task.state != "ready":
        raise Conflict("task.already_state", state=task.state)
    if to is not None:
        officer = session.exec(select(User).where(col(User.username) == to)).first()
        if officer is None or not officer.active:
            raise NotFound("escalation.no_user", to=to)
        # The officer must be one the policy lets act on the task (engine/people/policy.py ``task.act``).
        person = actor_of(officer)
        if not policy.may(person, "task.act", lanes=(task.lane,)):
            raise Invalid("escalation.officer_not_in_lane", [problem(
                "to", "field.officer_not_in_lane", loc=["body", "to"], kind="lane", officer=to, lane=task.lane)])
        if not policy.sees_center(session, person, task.center_id):
            raise Invalid("escalation.officer_other_center", [problem(
                "to", "field.officer_other_center", loc=["body", "to"], kind="center", officer=to)])
        _check_officer_free(session, task, to, settings)
    return task


def _reassign(session: Session, task: Task, to: str | None, actor: Actor, settings: Settings,
              reason: str | None) -> Task:
    previous = task.claimed_by
    now = clock.now()
    with write_lock(session):
        data: dict[str, Any] = {"task_id": task.id, "from": previous, "to": to, "lane": task.lane}
        if reason:
            data["reason"] = reason
        if to is None:  # back to the lane: under an automatic rule, to whom the rule gives it now
            choice = distribution.by_rule(session, task, settings, now, leave_out=(previous,) if previous else ())
            if choice is not None:
                to = data["to"] = choice.username
                data["rule"] = choice.rule
        changed = session.execute(update(Task).where(col(Task.id) == task.id, col(Task.state) == "ready")
                                  .values(claimed_by=to, assigned_at=now if to else None, delegated_from=None,
                                          away_absence_id=None))
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise Conflict("escalation.completed_meanwhile")
        case = load_case(session, task.case_id)
        workflows.append_to_chain(session, case, actor=actor.username, events=[(
            sla_events.TASK_REASSIGNED, task.name, data)])
        workflows.commit_or_conflict(session)
    session.refresh(task)
    return task
