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

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session

from engine.bpmn import runner
from engine.bpmn.compiler import PAYMENT_MESSAGE, CompiledProcess
from engine.bpmn.serializer import STATE_FORMAT
from engine.cases import assignment, bills, correlated, hooks
from engine.catalog import processes
from engine.core import calendars, clock, nodes
from engine.core import chain as audit
from engine.core.errors import Conflict, NotFound
from engine.core.settings import Settings
from engine.people import centers
from engine.people.users import SYSTEM
from forms import ownership
from storage.db import write_lock
from storage.models.audit import AuditEvent
from storage.models.base import made, table, tables
from storage.models.cases import Case, MessageWait, Task

log = logging.getLogger(__name__)


class WorkflowCache:
    def __init__(self, size: int) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[int, runner.Workflow]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def take(self, database: str, case_id: int, version: int) -> runner.Workflow | None:
        with self._lock:
            item = self._items.pop((database, case_id), None)
        if item is None or item[0] != version:
            return None
        return item[1]

    def give_back(self, database: str, case_id: int, version: int, workflow: runner.Workflow) -> None:
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


def load(case: Case, process: CompiledProcess, settings: Settings) -> runner.Workflow:
    assert case.id is not None
    warm = workflow_cache(settings).take(settings.database_url, case.id, case.version)
    workflow = warm if warm is not None else runner.load(process, case.state)
    remember_caught(workflow, process)
    return workflow


def remember_caught(workflow: runner.Workflow, process: CompiledProcess) -> None:
    """Note the messages a collaboration's case had caught when a command loaded it (see ``_passed``): for a
    command that restores the workflow itself (a move to another version)."""
    if process.collaboration is not None and _CAUGHT not in workflow.__dict__:
        workflow.__dict__[_CAUGHT] = set(runner.caught_messages(workflow))


# The tasks of a collaboration's case that had caught a message when the command loaded it (see ``_passed``).
_CAUGHT = "_shubbak_caught_messages"


def _passed(workflow: runner.Workflow,
            events: list[tuple[str, str | None, dict[str, Any]]]) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The messages the engine passed between a collaboration's pools during the step, as events: each one
    delivered (``message_delivered``, the element that caught it). A message sent from outside is the step's
    own ``message_received``. Replay passes over them: running the step again passes the same messages."""
    before = workflow.__dict__.get(_CAUGHT, set())
    caught = runner.caught_messages(workflow)
    outside = {task for kind, task, _data in events if kind == "message_received"}
    out: list[tuple[str, str | None, dict[str, Any]]] = [
        ("message_delivered", element, {"message": name}) for task_id, (element, name) in caught.items()
        if task_id not in before and element not in outside]
    workflow.__dict__[_CAUGHT] = set(caught)
    return out


def due(start: datetime, days: float | None, settings: Settings,
        holidays: frozenset[date] = frozenset()) -> datetime | None:
    """When an SLA of ``days`` working days started at ``start`` falls due (engine/core/calendars.py); ``holidays``
    are the case's center's own (engine/people/centers.py)."""
    return calendars.due(start, days, settings, holidays)


def snapshot(workflow: runner.Workflow, process: CompiledProcess) -> tuple[dict[str, Any], runner.Scan]:
    """The case's projection columns read from the workflow (its state serialized), and what its scan found
    (ready user tasks, end, timers): what ``save`` writes, taken once per step (pass it to ``save`` as
    ``snapped`` when the command needed it before)."""
    found = runner.scan(workflow)
    titles = [process.user_tasks[t.name].title if t.name in process.user_tasks else t.name for t in found.ready]
    return {
        "status": "completed" if found.completed else "open",
        "data": audit.canonical(runner.case_data(workflow)),
        "state": runner.dump(workflow),
        "state_format": STATE_FORMAT,
        "current_step": ", ".join(dict.fromkeys(titles))[:255] or None,
        "outcome": found.end_event,
        "timer_due_at": found.next_timer,
    }, found


# Statements built once: building SQL expressions costs more than running them on this hot path.
_CASES, _TASKS, _EVENTS = tables(Case, Task, AuditEvent)
_READY_ROWS = (select(_TASKS).where(_TASKS.c.case_id == bindparam("case_id"), _TASKS.c.state == "ready")
               .order_by(_TASKS.c.created_at, _TASKS.c.id))
_COMPLETE_TASK = (update(_TASKS).where(_TASKS.c.id == bindparam("task_id"))
                  .values(state="completed", completed_by=bindparam("by"), completed_at=bindparam("at")))
_INSERT_TASK = insert(_TASKS)
_INSERT_EVENT = insert(_EVENTS)


def save(session: Session, case: Case, workflow: runner.Workflow, process: CompiledProcess, *,
         actor: str, events: list[tuple[str, str | None, dict[str, Any]]], settings: Settings,
         completed: tuple[str, str] | None = None, extra: dict[str, Any] | None = None,
         at: datetime | None = None, refresh_tasks: bool = False, opened: bool = False,
         center_rules: dict[str, str] | None = None,
         snapped: tuple[dict[str, Any], runner.Scan] | None = None, settles: str | None = None) -> list[Task]:
    """Write the advanced workflow, its projections and ``events`` (kind, task, data) in one commit, and return
    the case's ready tasks as written (oldest first, detached): what a face shows after the command, without
    reading them again.

    ``completed`` is ``(task_id, username)`` of the user task this command completed, if any. ``at`` is the
    command's moment (engine/core/clock.py), the one the workflow ran at: the events' time and the rows' timestamps.
    ``refresh_tasks`` rewrites the title, lane and form of the ready rows kept (a case moved to a new version).
    The last event carries ``after``, what the step left behind (engine/core/chain.py).
    The record of owners is brought up to date from the events (who they say wrote what) and the change of
    the data (forms/ownership.py); ``opened`` says the case is new.
    A new task of a lane that gives its tasks out is given to an officer in this same transaction
    (engine/cases/assignment.py, after the case row is taken); its ``task_assigned`` event follows the step's
    events, after the one that carries ``after``.
    ``center_rules``: the lanes' rules at the case's center (assignment.center_rules of every lane of the
    process), when the command has read them already; None reads them if a new task needs them.
    ``snapped``: the workflow's ``snapshot``, when the command took it after the workflow last moved.
    ``settles``: the key of the message from another case this step delivers (engine/cases/correlated.py),
    marked delivered in the same transaction: Conflict (``correlated.TAKEN``) when another delivery took it.
    Raises Conflict, writing nothing, when the case moved on since it was loaded.
    """
    assert case.id is not None
    here(session, case)  # a case is written on the node that owns it only
    now = at or clock.now()
    thrown = runner.thrown_messages(workflow)
    if process.collaboration is not None:
        events = [*events, *_passed(workflow, events)]
    # A message without correlation that nothing in the case waited for (no pool of its own, no element): lost,
    # on the chain with the step and an incident holding it in the same transaction, never dropped in silence.
    lost = [t for t in thrown if t.correlation is None]
    events = [*events, *[("message_lost", None, {"message": t.message}) for t in lost]]
    # Messages correlated to another case (engine/cases/correlated.py): on this case's chain as sent and kept,
    # delivered after this step commits; each under a key of its own, which the delivery settles exactly once.
    sent = [(correlated.new_key(), t) for t in thrown if t.correlation is not None]
    events = [*events, *[("message_sent", None, {"message": t.message, "correlation": json.loads(t.correlation or "{}"),
                                                 "payload": t.payload, "key": key}) for key, t in sent]]
    values, found = snapped if snapped is not None else snapshot(workflow, process)
    ready = found.ready
    if opened or case.owners is not None:  # None: a case from before the record, left without one
        written: dict[str, str] = {}
        for kind, task, data in events:
            written.update(ownership.written_by(kind, task, data))
        values["owners"] = ownership.record_after({} if opened else case.owners or {}, {} if opened else case.data,
                                                  values["data"], written)
    values.update(extra or {})
    if values["status"] != "open":
        values["completed_at"] = now
        values["timer_due_at"] = None
    # Bills issued and lapsed by this step (engine/cases/bills.py): on the chain with the step that caused them.
    billing = bills.plan(session, case, process, found.payments, values["data"], now)
    if billing is not None and billing.events:
        events = [*events, *billing.events]
    if values["status"] == "completed":
        events = [*events, ("case_completed", None, {"end_event": values["outcome"]})]
    loaded_version = case.version
    after = audit.after_of(state=values["state"], data=values["data"], status=values["status"],
                           outcome=values["outcome"], ready=[(t.name, t.id) for t in ready])
    last = len(events) - 1
    rows = [audit.build(case, actor=actor, kind=kind, task=task, data=data, at=now,
                        after=after if i == last else None) for i, (kind, task, data) in enumerate(events)]
    values.update(audit_seq=case.audit_seq, audit_head=case.audit_head, updated_at=now,
                  version=loaded_version + 1)
    # The versioned UPDATE goes first: it either takes the case (row lock on PostgreSQL, the write lock
    # on SQLite) or tells us we lost, before anything else is written.
    with write_lock(session):
        claim_case(session, case.id, loaded_version, values)
        conn = session.connection()
        if settles is not None and not correlated.settle(conn, settles, "delivered", now, case.id):
            session.rollback()
            raise Conflict(correlated.TAKEN)
        given: list[tuple[str, str | None, dict[str, Any]]] = []
        ready_rows = _sync_tasks(conn, case, ready, process, now, completed, settings, refresh_tasks, given,
                                 center_rules)
        if given:  # tasks given out by their lane's rule (engine/cases/assignment.py): after the step's events
            rows += [audit.build(case, actor=SYSTEM.username, kind=kind, task=task, data=data, at=now)
                     for kind, task, data in given]
            values.update(audit_seq=case.audit_seq, audit_head=case.audit_head)
            conn.execute(update(_CASES).where(_CASES.c.id == case.id)
                         .values(audit_seq=case.audit_seq, audit_head=case.audit_head))
        conn.execute(_INSERT_EVENT, [_event_row(ev) for ev in rows])
        if billing is not None:
            bills.write(conn, billing, now)
        if sent:
            correlated.keep(conn, case, sent, actor, now)
        for message in lost:
            correlated.open_incident(session, case, message, actor, None, [], lost=True)
        if runner.catches_correlated(process) or refresh_tasks:  # refresh: moved, maybe off a version that did
            _write_waits(conn, case.id, runner.correlated_waits(workflow))
        hooks.after_events(hooks.Written(conn=conn, case=case, events=rows, at=now, values=values, ready=ready,
                                         completed=completed, process=process, settings=settings))
        commit_or_conflict(session)
    for key, value in values.items():
        setattr(case, key, value)
    if values["status"] == "open":
        # A finished case takes no more steps: keeping its workflow warm would only push open cases' out of the
        # cache (and hold its memory until then). A command that does touch it again restores it from its state.
        workflow_cache(settings).give_back(settings.database_url, case.id, case.version, workflow)
    if sent:
        # After the commit, each in a transaction of the receiving case's own: one writer per case, and no
        # transaction ever waits for another case's lock while it holds its own (engine/cases/correlated.py).
        for key, message in sent:
            deliver_sent(session, case, key, message, actor=actor, sent_by=actor, settings=settings)
    return ready_rows


@dataclass(frozen=True)
class Delivery:
    """What became of a message to another case: the case that took it, else why the cases that waited for it
    refused it; ``taken``: another delivery had taken it already (nothing written)."""

    receiver: Case | None
    refused: list[str] = field(default_factory=list)
    taken: bool = False


def deliver_sent(session: Session, sender: Case, key: str | None, thrown: runner.Thrown, *, actor: str,
                 sent_by: str, settings: Settings) -> Delivery:
    """Deliver a message ``sender``'s step sent (and kept under ``key``), else hold it with an incident on the
    sender: what the step does after its commit, and what the periodic job does for a message a crash left."""
    done = deliver_to_waiting(session, sender, thrown, key=key, actor=actor, sent_by=sent_by, settings=settings)
    if done.receiver is None and not done.taken:
        _hold(session, sender.id, key, thrown, actor, sent_by, done.refused)
    return done


def deliver_to_waiting(session: Session, sender: Case, thrown: runner.Thrown, *, key: str | None, actor: str,
                       sent_by: str, settings: Settings) -> Delivery:
    """Deliver a message ``sender`` threw to another case, the oldest at its center that waits for it with its
    correlation key and takes it (engine/cases/correlated.py ``refusal``), in that case's own transaction,
    settling its kept row (``key``) there; nothing written when no case took it."""
    session.rollback()  # a fresh read: the sender's step has committed
    if thrown.message == PAYMENT_MESSAGE:  # paid only through engine/payments/, whatever a diagram correlates
        return Delivery(None, [correlated.PAID_BY_BILL])
    refused: list[str] = []
    for wait in correlated.waits_for(session, thrown, sender):
        receiver = session.get(Case, wait.case_id)
        if receiver is None or receiver.status != "open":
            continue
        session.expunge(receiver)
        process = processes.cache.get(session, receiver.process_version_id, settings)
        payload, why = correlated.refusal(process, process.message_catchers.get(wait.element), receiver, sender,
                                          thrown)
        if why is not None:
            refused.append(why)
            continue
        workflow = load(receiver, process, settings)
        if wait.element not in runner.message_waiters(workflow, thrown.message):
            continue
        moment = clock.now()
        try:
            runner.deliver_message(workflow, wait.element, thrown.message, payload, runner.limits(settings),
                                   at=moment, correlations=json.loads(thrown.correlation or "{}"))
            save(session, receiver, workflow, process, actor=actor, settings=settings, at=moment, settles=key,
                 events=[("message_received", wait.element,
                          correlated.received(thrown, sender, sent_by, key, payload))])
        except runner.ProcessFailed as exc:
            session.rollback()
            refused.append(f"the case {receiver.tracking_number} waiting for it failed on it: {exc.message}")
            continue
        except Conflict as exc:
            session.rollback()
            if exc.message_id == correlated.TAKEN:
                return Delivery(None, taken=True)
            continue
        return Delivery(receiver)
    session.rollback()
    return Delivery(None, refused)


def _hold(session: Session, case_id: int | None, key: str | None, thrown: runner.Thrown, actor: str, sent_by: str,
          refused: list[str]) -> None:
    """The incident on the sender's case of a message no case took (sent by ``sent_by``; ``actor`` holds it: the
    sender, or the periodic job), with ``message_undeliverable`` on its chain; its kept row becomes ``held`` in
    the same transaction (nothing, when a delivery took it meanwhile)."""
    assert case_id is not None
    with write_lock(session):
        try:
            case = lock_case(session, case_id)
            if key is not None and not correlated.settle(session.connection(), key, "held", clock.now()):
                session.rollback()  # delivered (or held) by another round meanwhile
                return
            incident = correlated.open_incident(session, case, thrown, sent_by, key, refused)
            append_to_chain(session, case, actor=actor, events=[("message_undeliverable", incident.element_id, {
                "incident_id": incident.id, "incident_reason": correlated.REASON, "count": incident.count,
                "message": thrown.message, "correlation": json.loads(thrown.correlation or "{}"),
                **({"refused": refused} if refused else {}), **({"key": key} if key is not None else {})})])
            commit_or_conflict(session)
        except Conflict:  # the sender moved on meanwhile: the message stays pending, for the periodic job
            log.warning("case %s: the incident of message %s could not be recorded", case_id, thrown.message)


_WAITS = table(MessageWait)
_WAIT_ELEMENT, _WAIT_MESSAGE, _WAIT_KEY = (int(getattr(_WAITS.c[name].type, "length"))  # noqa: B009
                                          for name in ("element", "message", "correlation"))


def _write_waits(conn: Connection, case_id: int, waits: list[tuple[str, str, str]]) -> None:
    """Bring the case's rows of correlated message waits (MessageWait) in line with the workflow. A wait whose
    message name or key is longer than the row holds is left out (no message can find it, as one without a key),
    rather than failing the case's step."""
    waits = [(element, message, key) for element, message, key in waits
             if len(element) <= _WAIT_ELEMENT and len(message) <= _WAIT_MESSAGE and len(key) <= _WAIT_KEY]
    conn.execute(_WAITS.delete().where(_WAITS.c.case_id == case_id))
    if waits:
        conn.execute(insert(_WAITS), [{"case_id": case_id, "element": element, "message": message,
                                       "correlation": key} for element, message, key in waits])


def _event_row(ev: AuditEvent) -> dict[str, Any]:
    return {"case_id": ev.case_id, "seq": ev.seq, "at": ev.at, "actor": ev.actor, "kind": ev.kind, "task": ev.task,
            "data": ev.data, "prev_hash": ev.prev_hash, "hash": ev.hash, "after": ev.after}


def append_events(session: Session, events: list[AuditEvent]) -> None:
    session.connection().execute(_INSERT_EVENT, [_event_row(ev) for ev in events])


def lock_case(session: Session, case_id: int) -> Case:
    """The case row read afresh inside the caller's transaction and kept from other writers until it ends
    (``FOR UPDATE`` on PostgreSQL; on SQLite the caller holds ``write_lock``). Detached, like
    ``cases.load_case``: it is written back only through ``append_to_chain``'s versioned UPDATE."""
    case = session.execute(select(Case).where(_CASES.c.id == case_id).with_for_update()
                           .options(defer(Case.state), defer(Case.data))  # type: ignore[arg-type]
                           .execution_options(populate_existing=True)).scalars().first()
    if case is None:
        session.rollback()
        raise NotFound("case.not_found", case_id=case_id)
    session.expunge(case)
    here(session, case)
    return case


def here(session: Session, case: Case) -> None:
    """Refuse (409 ``node.case_elsewhere``, naming the owner, nothing written: the transaction rolled back) a write
    to a case another node owns (engine/core/nodes.py). Every write of a case passes here: its lock (``lock_case``)
    and its versioned UPDATE (``save``, ``append_to_chain``)."""
    if not nodes.is_mine(case.node, nodes.own_code(session)):
        session.rollback()
        nodes.refuse_elsewhere(session, case.node)


def append_to_chain(session: Session, case: Case, *, actor: str,
                    events: list[tuple[str, str | None, dict[str, Any]]]) -> list[AuditEvent]:
    """Append ``events`` (kind, task, data) to the case's hash chain inside the caller's transaction: the
    versioned case UPDATE first (Conflict, rolled back, when the case moved on since ``case`` was read), then
    the events. For commands that change no workflow state; the caller writes its rows and commits."""
    assert case.id is not None
    here(session, case)
    version = case.version
    rows = [audit.build(case, actor=actor, kind=kind, task=task, data=data) for kind, task, data in events]
    claim_case(session, case.id, version, {"audit_seq": case.audit_seq, "audit_head": case.audit_head,
                                           "version": version + 1})
    append_events(session, rows)
    hooks.after_events(hooks.Written(conn=session.connection(), case=case, events=rows,
                                     at=clock.now() if not rows else _moment(rows[-1])))
    case.version = version + 1
    return rows


def _moment(event: AuditEvent) -> datetime:
    return clock.parse(event.at)


@lru_cache(maxsize=32)
def _case_update(columns: frozenset[str]) -> Any:
    return (update(_CASES).where(_CASES.c.id == bindparam("w_id"), _CASES.c.version == bindparam("w_version"))
            .values({name: bindparam(name) for name in sorted(columns)}))


LOST_RACE = "case.changed_at_same_moment"


def claim_case(session: Session, case_id: int, version: int, values: dict[str, Any]) -> None:
    """``UPDATE case … WHERE version = <loaded>``; a Conflict (and a rollback) when someone got there first."""
    result = session.connection().execute(_case_update(frozenset(values)),
                                          {**values, "w_id": case_id, "w_version": version})
    if result.rowcount != 1:
        session.rollback()
        raise Conflict(LOST_RACE)


def commit_or_conflict(session: Session) -> None:
    try:
        session.commit()
    except IntegrityError as exc:  # a unique key (event seq, task id) taken by a concurrent command
        session.rollback()
        raise Conflict(LOST_RACE) from exc


def _sync_tasks(conn: Connection, case: Case, ready: list[runner.ReadyTask], process: CompiledProcess,
                now: datetime, completed: tuple[str, str] | None, settings: Settings,
                refresh: bool = False, given: list[tuple[str, str | None, dict[str, Any]]] | None = None,
                center_rules: dict[str, str] | None = None) -> list[Task]:
    """Bring the case's task rows in line with the workflow's ready user tasks; the ready rows after it. New
    tasks under an automatic rule are given out as they are inserted; their events are added to ``given``."""
    ready_by_id = {t.id: t for t in ready}
    rows = {row.id: dict(row._mapping) for row in conn.execute(_READY_ROWS, {"case_id": case.id})}
    known = set(rows)
    gone = known - ready_by_id.keys()
    if completed is not None and completed[0] in gone:
        conn.execute(_COMPLETE_TASK, {"task_id": completed[0], "by": completed[1], "at": now})
        gone.discard(completed[0])
    if gone:
        # Ready tasks that vanished without being completed were withdrawn by the diagram
        # (an interrupting boundary event, a terminate end, a cancelled case).
        conn.execute(update(_TASKS).where(_TASKS.c.id.in_(gone)).values(state="cancelled", completed_at=now))
    new_rows = []
    holidays: frozenset[date] | None = None  # the center's own, read once and only for a new task with an SLA
    for task_id, ready_task in ready_by_id.items():
        if task_id in known:
            kept = process.user_tasks.get(ready_task.name)
            if refresh and kept is not None:
                conn.execute(update(_TASKS).where(_TASKS.c.id == task_id)
                             .values(title=kept.title, lane=kept.lane, form=kept.form))
                rows[task_id].update(title=kept.title, lane=kept.lane, form=kept.form)
            continue
        info = process.user_tasks.get(ready_task.name)
        sla = info.sla_days if info else None
        if sla and holidays is None:
            holidays = centers.holidays_of(conn, case.center_id)
        new_rows.append({
            "id": task_id, "case_id": case.id, "tracking_number": case.tracking_number,
            "service_code": case.service_code, "name": ready_task.name,
            "title": info.title if info else ready_task.name, "lane": info.lane if info else "",
            "form": info.form if info else None, "state": "ready", "claimed_by": None, "created_at": now,
            "due_at": due(now, sla, settings, holidays or frozenset()), "completed_by": None, "completed_at": None,
            "center_id": case.center_id, "assigned_at": None, "delegated_from": None})
    if new_rows:
        assert case.id is not None
        events = assignment.assign_new(conn, case_id=case.id, center_id=case.center_id, rows=new_rows,
                                       service=process.service.assignment, settings=settings, now=now,
                                       own=center_rules)
        if given is not None:
            given += events
        conn.execute(_INSERT_TASK, new_rows)
    # Kept rows first, as read (oldest first); the new ones were all made now, in the order of their ids.
    after = [rows[task_id] for task_id in rows if task_id in ready_by_id]
    after += sorted(new_rows, key=lambda row: row["id"])
    return [made(Task, row) for row in after]  # as Task(**row) makes them, without the ORM's per-field trip
