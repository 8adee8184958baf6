"""Incidents: a case whose step failed is an open incident until someone deals with it.

A failure (engine/bpmn/runner.py ``ProcessFailed``: a script's error or limit, a decision with no matching rule,
a gateway with no way out) met while completing a task or firing a case's timers is recorded here, in a
transaction of its own: the step itself wrote nothing. One open incident per case, element and reason; the same
failure again counts a repeat (``count``) on it rather than opening another. Each recording, and each action
on an incident, is also an event on the case's chain (replay passes over them: they move nothing; a retry that
completes the step writes the step's own ``task_completed`` or ``timer_fired``, which replay runs).

A message to the citizen that could not be delivered is an incident too (reason ``message``,
engine/cases/undelivered.py): its retry sends the message again.

Actions: ``retry`` runs the failed step again (after a fix, e.g. the case moved to a corrected version,
engine/cases/version_moves.py); ``skip`` moves the case past the failed element to one it leads to without
running its work (analysts and admins, engine/bpmn/runner.py ``skip``); ``cancel`` cancels the case.
Supervisors of the case's center, analysts and admins; nobody sees or touches another center's incidents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from engine.bpmn import runner
from engine.cases import correlated, incident_rows, undelivered, workflows
from engine.cases.lifecycle import Outcome, cancel_open, load_case, process_failed
from engine.catalog import processes
from engine.core import clock, nodes
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import SYSTEM, Actor
from storage.db import write_lock
from storage.models.base import tables
from storage.models.cases import Case, Task
from storage.models.catalog import ProcessVersion
from storage.models.incidents import Incident

log = logging.getLogger(__name__)

REASONS = ("script_error", "script_limit", "no_rule", "timer", undelivered.MESSAGE, "message_waiting")
STATUSES = ("open", "resolved", "skipped", "cancelled")


def reason_of(exc: runner.ProcessFailed, *, timer: bool = False) -> str:
    """The incident's reason for a failure: its limit, a decision's missing rule, a timer, else a script error."""
    if exc.limit is not None:
        return "script_limit"
    text = exc.message.lower()
    if "rule" in text and "match" in text:
        return "no_rule"
    return "timer" if timer else "script_error"


def record(session: Session, *, case_id: int, exc: runner.ProcessFailed, actor: str, kind: str,
           task_id: str | None = None, task_name: str | None = None, payload: dict[str, Any] | None = None,
           message: str | None = None, timer: bool = False, chain_repeats: bool = True,
           reason: str | None = None) -> Incident | None:
    """Open the incident (or count a repeat of the open one) and put ``kind`` on the case's chain, in a
    transaction of its own. None when the case moved meanwhile (the failure stays in the log).

    ``chain_repeats`` False: a repeat is counted on the incident only (the periodic job meets a timer that
    cannot fire at every tick; the chain records it once)."""
    session.rollback()  # end the failed step's read transaction; nothing of the step was written
    reason = reason or reason_of(exc, timer=timer)
    element = exc.element_id or task_name or ""
    text = (message or exc.message)[:2000]
    try:
        with write_lock(session):
            case = workflows.lock_case(session, case_id)
            version = session.get(ProcessVersion, case.process_version_id)
            assert version is not None
            incident, new = incident_rows.open_or_count(session, case=case, version=version.version,
                                                        element=element, reason=reason, text=text, now=clock.now())
            incident.version = version.version  # a repeat: the version the case runs now
            if new or task_id is not None:
                incident.task_id, incident.task_name, incident.payload = task_id, task_name, payload or {}
            session.flush()
            repeat = incident.count > 1
            data: dict[str, Any] = {"incident_id": incident.id, "element_id": exc.element_id,
                                    "incident_reason": reason, "count": incident.count, "message": text}
            if task_id is not None:
                data["task_id"] = task_id
            if exc.limit is not None:
                data["limit"] = exc.limit
            if chain_repeats or not repeat:
                workflows.append_to_chain(session, case, actor=actor, events=[(kind, task_name, data)])
            workflows.commit_or_conflict(session)
            session.refresh(incident)
            session.expunge(incident)
            return incident
    except Conflict:
        log.warning("case %s: the incident at %s could not be recorded", case_id, exc.element_id)
        return None


@dataclass(frozen=True)
class IncidentFilter:
    service_code: str | None = None
    version: int | None = None
    element_id: str | None = None
    reason: str | None = None
    status: str | None = "open"
    limit: int = 100
    offset: int = 0


def _seen(session: Session, actor: Actor) -> list[Any]:
    centers = policy.centers_seen(session, actor)
    return [] if centers is None else [col(Incident.center_id).in_(sorted(centers))]


def list_incidents(*, session: Session, actor: Actor, filters: IncidentFilter) -> list[Incident]:
    """The incidents of the actor's centers (every center for installation-wide staff), newest failure first."""
    policy.require(actor, "incidents.read")
    query = select(Incident).where(*_seen(session, actor))
    for column, value in ((Incident.service_code, filters.service_code), (Incident.version, filters.version),
                          (Incident.element_id, filters.element_id), (Incident.reason, filters.reason),
                          (Incident.status, filters.status)):
        if value is not None:
            query = query.where(column == value)
    query = query.order_by(col(Incident.last_at).desc(), col(Incident.id).desc())
    return list(session.exec(query.offset(filters.offset).limit(filters.limit)).all())


def open_count(session: Session, actor: Actor | None = None) -> int:
    """How many incidents are open (at the actor's centers when an actor is given)."""
    query = select(func.count()).select_from(Incident).where(Incident.status == "open")
    if actor is not None:
        query = query.where(*_seen(session, actor))
    return int(session.exec(query).one())


def _incident_for(session: Session, incident_id: int, actor: Actor, action: str) -> Incident:
    policy.require(actor, action)
    incident = session.get(Incident, incident_id)
    if incident is None or not policy.sees_center(session, actor, incident.center_id):
        raise NotFound("incident.not_found", incident_id=incident_id)  # another center's: not even its existence
    if incident.status != "open":
        raise Conflict("incident.not_open", status=incident.status)
    owner = session.execute(select(Case.node).where(col(Case.id) == incident.case_id)).scalar()
    nodes.refuse_elsewhere(session, owner)  # another node's case: its incidents are dealt with there
    return incident


def _close(session: Session, incident_id: int, status: str, actor: Actor, reason: str | None) -> None:
    with write_lock(session):
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.status, incident.closed_at, incident.closed_by = status, clock.now(), actor.username
        incident.close_reason = reason
        session.add(incident)
        session.commit()


def retry(*, session: Session, incident_id: int, actor: Actor, settings: Settings) -> Outcome:
    """Run the failed step again on the case as it is now (on the version it now runs). Completed: the
    incident is resolved and the step's events say so. Failed again: a repeat is counted and the failure
    refused as at first."""
    incident = _incident_for(session, incident_id, actor, "incidents.act")
    assert incident.id is not None
    incident_id = incident.id
    if incident.reason == undelivered.MESSAGE:  # a message not delivered: send it again (engine/cases/undelivered.py)
        undelivered.resend(session, incident, actor)
        case = load_case(session, incident.case_id)
        ready = list(session.exec(select(Task).where(col(Task.case_id) == case.id, col(Task.state) == "ready")
                                  .order_by(col(Task.created_at), col(Task.id))).all())
        version = session.get(ProcessVersion, case.process_version_id)
        assert version is not None
        return Outcome(case, ready, version.version)
    if incident.reason == "message_waiting" and correlated.is_held(dict(incident.payload)):
        return _send_again(session, incident, actor, settings)
    case = load_case(session, incident.case_id)
    if case.status != "open":
        raise Conflict("case.already_status", status=case.status)
    process = processes.cache.get(session, case.process_version_id, settings)
    workflow = workflows.load(case, process, settings)
    moment = clock.now()
    retried = {"incident_id": incident_id, "retried_by": actor.username}
    if incident.reason == "message_waiting":
        return _deliver_again(session, incident, case, process, workflow, actor, retried, moment, settings)
    try:
        if incident.task_id is not None:
            if incident.task_id not in {t.id for t in runner.scan(workflow).ready}:
                raise Conflict("incident.step_gone", element_id=incident.element_id)
            runner.complete(workflow, incident.task_id, dict(incident.payload), runner.limits(settings), at=moment)
            waiting: dict[UUID, str] = {}
        else:
            waiting = runner.waiting_timers(workflow)
            runner.advance(workflow, runner.limits(settings), at=moment)
    except runner.ProcessFailed as exc:
        assert case.id is not None
        record(session, case_id=case.id, exc=exc, actor=actor.username, kind="incident_repeated",
               task_id=incident.task_id, task_name=incident.task_name, payload=dict(incident.payload),
               timer=incident.task_id is None)
        raise process_failed(exc, process) from exc
    if incident.task_id is not None:
        events = [("task_completed", incident.task_name,
                   {"task_id": incident.task_id, "data": dict(incident.payload), **retried})]
        completed: tuple[str, str] | None = (incident.task_id, actor.username)
    else:
        fired = runner.fired_timers(workflow, waiting)
        if not fired and runner.dump(workflow) == case.state:
            # No timer is due (a move to another version sets its timers again): the periodic job fires it
            # when due, and closes the incident then (``close_timer_incidents``).
            raise Conflict("incident.timer_not_due")
        events = [("timer_fired", None, {"timers": fired, **retried})]
        completed = None
    ready = workflows.save(session, case, workflow, process, actor=actor.username, settings=settings, at=moment,
                           completed=completed, events=events)
    _close(session, incident_id, "resolved", actor, None)
    return Outcome(case, ready, process.version)


def _send_again(session: Session, incident: Incident, actor: Actor, settings: Settings) -> Outcome:
    """A message this case sent to another case that nobody waited for (engine/cases/correlated.py), retried: it
    goes to the case that waits for it now, and this case's chain says where (``message_passed``); Conflict
    (nothing recorded) while still no case waits."""
    assert incident.id is not None
    sender = load_case(session, incident.case_id)
    kept = dict(incident.payload)
    thrown = correlated.thrown_of(kept)
    key = str(kept["key"]) if kept.get("key") else None  # None: held before messages were kept by key
    done = workflows.deliver_to_waiting(session, sender, thrown, key=key, actor=actor.username,
                                        sent_by=str(kept.get("sent_by") or actor.username), settings=settings)
    if done.taken:
        raise Conflict(correlated.TAKEN)
    receiver = done.receiver
    if receiver is None and done.refused:
        raise Conflict("message.refused", message=thrown.message, why="; ".join(done.refused))
    if receiver is None:
        raise Conflict("message.still_not_waiting", message=thrown.message)
    with write_lock(session):
        sender = workflows.lock_case(session, incident.case_id)
        workflows.append_to_chain(session, sender, actor=actor.username, events=[(
            "message_passed", incident.element_id, {"message": thrown.message, "to_case": receiver.tracking_number,
                                                   "incident_id": incident.id, "retried_by": actor.username})])
        session.commit()
    _close(session, incident.id, "resolved", actor, None)
    ready = list(session.exec(select(Task).where(col(Task.case_id) == sender.id, col(Task.state) == "ready")
                              .order_by(col(Task.created_at), col(Task.id))).all())
    version = session.get(ProcessVersion, sender.process_version_id)
    assert version is not None
    return Outcome(load_case(session, incident.case_id), ready, version.version)


def _deliver_again(session: Session, incident: Incident, case: Case, process: Any, workflow: runner.Workflow,
                   actor: Actor, retried: dict[str, Any], moment: Any, settings: Settings) -> Outcome:
    """An undeliverable message's incident (engine/cases/inbound.py) retried: the message it holds is delivered
    now that the case waits for it; Conflict (nothing recorded) while it still does not."""
    assert incident.id is not None
    held = dict(incident.payload)
    message, payload = str(held.get("message") or ""), dict(held.get("payload") or {})
    element = incident.element_id
    waiters = runner.message_waiters(workflow, message)
    if held.get("lost") and waiters:  # a message the case threw to nobody: to the element that waits for it now
        element = waiters[0]
    if element not in waiters:
        raise Conflict("message.still_not_waiting", message=message)
    catcher = process.message_catchers.get(element)
    if catcher is not None:  # checked again: the case may run on another version of the form by now
        payload = correlated.valid_payload(process, catcher, message, payload)
    correlation = correlated.own_correlation(workflow, catcher)
    try:
        runner.deliver_message(workflow, element, message, payload, runner.limits(settings), at=moment,
                               correlations=correlation)
    except runner.ProcessFailed as exc:
        raise process_failed(exc, process) from exc
    ready = workflows.save(session, case, workflow, process, actor=actor.username, settings=settings,
                           at=moment, events=[("message_received", element, {
                               "message": message, "payload": payload, "sent_by": held.get("sent_by"), **retried,
                               **({"correlation": correlation} if correlation is not None else {})})])
    _close(session, incident.id, "resolved", actor, None)
    return Outcome(case, ready, process.version)


def open_timer_incidents(session: Session, case_id: int) -> list[int]:
    """The ids of the case's open timer incidents: the periodic job names them on the ``timer_fired`` that
    gets the case past its failure, and closes them after (``close_timer_incidents``)."""
    return [i for i in session.exec(select(Incident.id).where(Incident.case_id == case_id,
                                                              Incident.reason == "timer",
                                                              Incident.status == "open")).all() if i is not None]


def close_timer_incidents(session: Session, ids: list[int]) -> None:
    for incident_id in ids:
        _close(session, incident_id, "resolved", SYSTEM, None)


def close_passed(session: Session) -> int:
    """Close the open incidents whose failed task was completed since (its officer gave a good answer) or whose
    case ended otherwise (cancelled, completed): the periodic job's sweep, off the steps' own path. The step
    that got past the failure is on the case's chain already. Returns how many were closed."""
    tasks, cases, rows = tables(Task, Case, Incident)
    done_task = rows.c.task_id.in_(select(tasks.c.id).where(tasks.c.state != "ready"))
    # A message not delivered is no step: its incident outlives the case (the citizen was still not told).
    # Nor is a message the case threw or was sent that nobody took: it is held by its incident until someone looks.
    ended = rows.c.case_id.in_(select(cases.c.id).where(cases.c.status != "open")) & (
        rows.c.reason.not_in([undelivered.MESSAGE, correlated.REASON]))
    # Only this node's cases' incidents: another node's are its own to close (engine/core/nodes.py).
    here = nodes.of_my_cases(rows.c.case_id, nodes.own_code(session))
    with write_lock(session):
        closed = session.execute(update(rows).where(rows.c.status == "open", or_(done_task, ended), here).values(
            status="resolved", closed_at=clock.now(), closed_by=SYSTEM.username,
            close_reason="the case went past the failed step"))
        session.commit()
    return int(closed.rowcount or 0)  # type: ignore[attr-defined]


def cancel(*, session: Session, incident_id: int, reason: str, actor: Actor, settings: Settings) -> Case:
    """Cancel the incident's case, with a reason (the case's ``case_cancelled`` event names the incident)."""
    incident = _incident_for(session, incident_id, actor, "incidents.act")
    if not reason.strip():
        raise Invalid("reason.required", [problem("reason", "field.incident_cancel_reason", loc=["body", "reason"],
                                                  kind="missing")])
    assert incident.id is not None
    incident_id, case_id = incident.id, incident.case_id
    case = load_case(session, case_id)
    cancel_open(session, case, {"reason": reason.strip(), "incident_id": incident_id}, actor, settings)
    _close(session, incident_id, "cancelled", actor, reason.strip())
    return case



def skip(*, session: Session, incident_id: int, to_element: str, reason: str, actor: Actor,
         settings: Settings) -> Outcome:
    """Move the case past the failed element to ``to_element`` (one of the elements it leads to), without
    running the failed element's work (engine/bpmn/runner.py ``skip``). Analysts and admins, with a reason.
    The step's ``task_completed`` event carries the skip, so that replay makes the same move."""
    incident = _incident_for(session, incident_id, actor, "incidents.skip")
    if not reason.strip():
        raise Invalid("reason.required", [problem("reason", "field.incident_skip_reason", loc=["body", "reason"],
                                                  kind="missing")])
    assert incident.id is not None
    incident_id = incident.id
    if incident.task_id is None:
        raise Conflict("incident.skip_needs_step")
    case = load_case(session, incident.case_id)
    if case.status != "open":
        raise Conflict("case.already_status", status=case.status)
    process = processes.cache.get(session, case.process_version_id, settings)
    workflow = workflows.load(case, process, settings)
    if incident.task_id not in {t.id for t in runner.scan(workflow).ready}:
        raise Conflict("incident.step_gone", element_id=incident.element_id)
    moment = clock.now()
    try:
        runner.skip(workflow, incident.element_id, to_element, runner.limits(settings), at=moment,
                    task_id=incident.task_id, data=dict(incident.payload))
    except runner.SkipRefused as exc:
        if exc.what == "no_target":
            raise Invalid("incident.no_such_next", [{**problem("to", "field.incident_skip_target", loc=["body", "to"],
                                                                kind="choice"), "choices": exc.choices}],
                          element_id=incident.element_id, to=to_element,
                          choices=", ".join(exc.choices) or "-") from exc
        raise Conflict("incident.not_failing_now", element_id=incident.element_id) from exc
    except runner.ProcessFailed as exc:  # a later element failed too: its own incident
        assert case.id is not None
        record(session, case_id=case.id, exc=exc, actor=actor.username, kind="step_failed",
               task_id=incident.task_id, task_name=incident.task_name, payload=dict(incident.payload))
        raise process_failed(exc, process) from exc
    events = [("task_completed", incident.task_name,
               {"task_id": incident.task_id, "data": dict(incident.payload), "incident_id": incident_id,
                "skip": {"element_id": incident.element_id, "to": to_element, "reason": reason.strip()}})]
    ready = workflows.save(session, case, workflow, process, actor=actor.username, settings=settings, at=moment,
                           completed=(incident.task_id, actor.username), events=events)
    _close(session, incident_id, "skipped", actor, reason.strip())
    return Outcome(case, ready, process.version)
