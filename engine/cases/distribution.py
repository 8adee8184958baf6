"""Work distribution beyond one step: the centers' rules, handing over an absent officer's tasks (and giving
them back when the absence ends), giving out tasks that found nobody present, a supervisor's reassignment by
the rule, and the workload view.

The choice itself is engine/cases/assignment.py. Each task moved here is its own transaction: the case row is
locked first (as ``workflows.save`` takes it first), then the lane's turn, then the task row and an event on
the case's chain, so a move never deadlocks with a step of the same case and never half-happens.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case as sql_case
from sqlalchemy import exists, func, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.bpmn.service_info import Assignment
from engine.cases import assignment, workflows
from engine.catalog import processes
from engine.core import clock, nodes
from engine.core.chain import GENESIS, canonical, now_iso
from engine.core.errors import Conflict, Invalid
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import centers, policy, presence
from engine.people.users import BUILTIN_ROLES, SYSTEM, Actor
from storage.db import write_lock
from storage.models.assignment import Absence, AbsenceHandOver, AssignmentRule, AssignmentRuleEvent, Unavailable
from storage.models.base import table, tables
from storage.models.cases import Case, Task
from storage.models.catalog import ProcessVersion
from storage.models.people import User

log = logging.getLogger(__name__)

_TASKS, _CASES = tables(Task, Case)
TASK_DELEGATED = "task_delegated"
TASK_RETURNED = "task_returned"
TASK_BACK = "task_back_to_officer"


# --- the centers' rules ---------------------------------------------------------------------------------------

def _live_lanes(session: Session) -> set[str]:
    lanes: set[str] = set()
    for meta in session.exec(select(ProcessVersion.meta).where(col(ProcessVersion.retired).is_(False))).all():
        lanes.update((meta or {}).get("lanes", []))
    return lanes


def rules_of(*, session: Session, center_code: str, actor: Actor) -> list[AssignmentRule]:
    """The center's own rules, by lane (who may set them may read them)."""
    center = centers.by_code(session, center_code)
    assert center.id is not None
    policy.check_center_rule(session, actor, center.id)
    return list(session.exec(select(AssignmentRule).where(col(AssignmentRule.center_id) == center.id)
                             .order_by(col(AssignmentRule.lane))).all())


def set_rule(*, session: Session, center_code: str, lane: str, rule: str, actor: Actor) -> AssignmentRule:
    """Set how ``lane``'s tasks are given out at the center (its supervisor, one above it, an admin). The same
    rule again changes nothing; a change goes on the center's chain of rule changes."""
    center = centers.by_code(session, center_code)
    assert center.id is not None
    policy.check_center_rule(session, actor, center.id)
    if rule not in (assignment.PICK, *assignment.AUTOMATIC):
        raise Invalid("assignment.rule_invalid", [problem("rule", "assignment.rule_invalid", loc=["body", "rule"])])
    if lane in BUILTIN_ROLES:
        raise Invalid("assignment.lane_not_a_lane", [problem("lane", "assignment.lane_not_a_lane",
                                                             loc=["path", "lane"], lane=lane)], lane=lane)
    if lane not in _live_lanes(session):
        raise Invalid("assignment.unknown_lane", [problem("lane", "assignment.unknown_lane", loc=["path", "lane"],
                                                          lane=lane)], lane=lane)
    row = session.exec(select(AssignmentRule).where(col(AssignmentRule.center_id) == center.id,
                                                    col(AssignmentRule.lane) == lane)).first()
    if row is not None and row.rule == rule:
        return row
    previous = row.rule if row is not None else None
    if row is None:
        row = AssignmentRule(center_id=center.id, lane=lane, rule=rule, set_by=actor.username, set_at=clock.now())
    else:
        row.rule, row.set_by, row.set_at = rule, actor.username, clock.now()
    session.add(row)
    _record(session, center.id, actor.username, {"lane": lane, "rule": rule, "previous": previous})
    try:
        session.commit()
    except IntegrityError as exc:  # two supervisors at the same moment: the unique (center, lane) or (center, seq)
        session.rollback()
        raise Conflict("case.changed_at_same_moment") from exc
    return row


def rule_event_hash(*, center_id: int, seq: int, at: str, actor: str, data: Any, prev_hash: str) -> str:
    body = json.dumps({"center_id": center_id, "seq": seq, "at": at, "actor": actor, "data": data},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _record(session: Session, center_id: int, actor: str, data: dict[str, Any]) -> None:
    last = session.exec(select(AssignmentRuleEvent).where(col(AssignmentRuleEvent.center_id) == center_id)
                        .order_by(col(AssignmentRuleEvent.seq).desc()).limit(1)).first()
    seq, prev, at, clean = (last.seq if last else 0) + 1, last.hash if last else GENESIS, now_iso(), canonical(data)
    session.add(AssignmentRuleEvent(center_id=center_id, seq=seq, at=at, actor=actor, data=clean, prev_hash=prev,
                                    hash=rule_event_hash(center_id=center_id, seq=seq, at=at, actor=actor, data=clean,
                                                         prev_hash=prev)))


def rule_events(session: Session, center_id: int) -> list[AssignmentRuleEvent]:
    return list(session.exec(select(AssignmentRuleEvent).where(col(AssignmentRuleEvent.center_id) == center_id)
                             .order_by(col(AssignmentRuleEvent.seq))).all())


# --- moving one task ------------------------------------------------------------------------------------------

def _service_of(session: Session, case: Case, settings: Settings) -> Assignment:
    return processes.cache.get(session, case.process_version_id, settings).service.assignment


def move(session: Session, *, task: Any, frm: str | None, to: str | None, kind: str, actor: str,
         data: dict[str, Any], now: datetime, delegated_from: str | None = None,
         away_absence_id: int | None = None, only_if_away: int | None = None) -> bool:
    """Move a ready task from ``frm`` to ``to`` with a ``kind`` event, in one transaction: the case row first
    (the order ``workflows.save`` takes them in), then the task, then the chain. False, rolled back, when the
    task changed meanwhile (or, with ``only_if_away``, is no longer away because of that absence).
    ``away_absence_id``: the absence that moves it (its officer gets it back when the absence ends)."""
    case = workflows.lock_case(session, task.case_id)
    holder = _TASKS.c.claimed_by.is_(None) if frm is None else _TASKS.c.claimed_by == frm
    where = [_TASKS.c.id == task.id, _TASKS.c.state == "ready", holder]
    if only_if_away is not None:
        where.append(_TASKS.c.away_absence_id == only_if_away)
    changed = session.execute(update(_TASKS).where(*where).values(
        claimed_by=to, assigned_at=now if to else None, delegated_from=delegated_from,
        away_absence_id=away_absence_id))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    workflows.append_to_chain(session, case, actor=actor, events=[(kind, task.name, {"task_id": task.id, **data})])
    workflows.commit_or_conflict(session)
    return True


def by_rule(session: Session, task: Any, settings: Settings, now: datetime,
            leave_out: tuple[str, ...] = ()) -> assignment.Choice | None:
    """Who the lane's automatic rule gives ``task`` to now (None under ``pick`` or with nobody present);
    inside the caller's transaction, after the case row was locked."""
    case = workflows.lock_case(session, task.case_id)
    service = _service_of(session, case, settings)
    conn = session.connection()
    rule = assignment.rule_of(task.lane, assignment.center_rules(conn, task.center_id, [task.lane]), service)
    if rule not in assignment.AUTOMATIC or task.center_id is None:
        return None
    names, out = assignment.pool(conn, case_id=task.case_id, center_id=task.center_id, task_name=task.name,
                                 lane=task.lane, service=service, settings=settings, now=now, leave_out=leave_out)
    chosen = assignment.choose(conn, rule=rule, center_id=task.center_id, lane=task.lane, names=names)
    return None if chosen is None else assignment.Choice(chosen, rule, out)


# --- the periodic job -----------------------------------------------------------------------------------------

@dataclass
class TickResult:
    handed_over: int = 0  # tasks of absent officers moved to a delegate, the rule or the lane
    assigned: int = 0  # waiting tasks of automatic lanes given to an officer now present
    absences: list[int] = field(default_factory=list)
    given_back: int = 0  # tasks back with their officer, whose absence ended
    ended: list[int] = field(default_factory=list)  # the absences whose end was dealt with


def tick(*, session: Session, settings: Settings, now: datetime | None = None) -> TickResult:
    """Hand over the open tasks of officers whose absence has started, then give out the ready tasks of
    automatic lanes that found nobody present. One transaction per task; a task that moved meanwhile is left
    to the next round."""
    moment = now or clock.now()
    result = TickResult()
    if settings.node_role == "center":
        _absences_at_a_center_node(session, settings, moment, result)
        result.assigned = _give_out_waiting(session, settings, moment)
        return result
    day = presence.today(settings, moment)
    started = session.exec(select(Absence).where(col(Absence.handed_over_at).is_(None), col(Absence.starts) <= day)
                           .order_by(col(Absence.starts), col(Absence.id)).limit(settings.assignment_batch)).all()
    session.expunge_all()  # kept as read: each absence's hand-over is transactions of its own
    session.rollback()
    for absence in started:
        if absence.ends >= day:
            result.handed_over += _hand_over(session, absence, settings, moment)
        with write_lock(session):
            session.execute(update(Absence).where(col(Absence.id) == absence.id).values(handed_over_at=moment))
            session.commit()
        assert absence.id is not None
        result.absences.append(absence.id)
    ended = session.exec(select(Absence).where(col(Absence.handed_over_at).is_not(None),
                                               col(Absence.returned_at).is_(None), col(Absence.ends) < day)
                         .order_by(col(Absence.ends), col(Absence.id)).limit(settings.assignment_batch)).all()
    session.expunge_all()
    session.rollback()
    for absence in ended:
        assert absence.id is not None
        result.given_back += give_back(session, absence.id, absence.username, settings, moment)
        with write_lock(session):
            session.execute(update(Absence).where(col(Absence.id) == absence.id).values(returned_at=moment))
            session.commit()
        result.ended.append(absence.id)
    result.assigned = _give_out_waiting(session, settings, moment)
    return result


def _absences_at_a_center_node(session: Session, settings: Settings, moment: datetime, result: TickResult) -> None:
    """The same as central's round, on this center node's own cases. The absences are central's rows, which a
    center node does not write (storage/nodes.py): what it did about each is its own row, ``absence_hand_over``
    (never replicated), so that each node hands over its own cases' tasks once, and central its own. An absence
    whose row is gone (cancelled at central, the deletion replicated) ends here as its end would: the tasks
    come back to the officer."""
    day = presence.today(settings, moment)
    absences, done = table(Absence), table(AbsenceHandOver)
    # Under way today: one over before this round first saw it (a node set up since, or down all along) had
    # nothing handed over here, so nothing is recorded or given back for it.
    started = session.exec(select(Absence).where(
        col(Absence.starts) <= day, col(Absence.ends) >= day,
        ~exists().where(done.c.absence_id == absences.c.id))
        .order_by(col(Absence.starts), col(Absence.id)).limit(settings.assignment_batch)).all()
    session.expunge_all()  # kept as read: each absence's hand-over is transactions of its own
    session.rollback()
    for absence in started:
        assert absence.id is not None
        result.handed_over += _hand_over(session, absence, settings, moment)
        with write_lock(session):
            # Another round of this node may have recorded it meanwhile: the first record stays.
            if session.get(AbsenceHandOver, absence.id) is None:
                session.add(AbsenceHandOver(absence_id=absence.id, username=absence.username,
                                            handed_over_at=moment))
            session.commit()
        result.absences.append(absence.id)
    gone = ~exists().where(absences.c.id == done.c.absence_id)
    ended_before = exists().where(absences.c.id == done.c.absence_id, absences.c.ends < day)
    ended = session.exec(select(AbsenceHandOver).where(col(AbsenceHandOver.returned_at).is_(None),
                                                       or_(gone, ended_before))
                         .order_by(col(AbsenceHandOver.absence_id)).limit(settings.assignment_batch)).all()
    session.expunge_all()
    session.rollback()
    for record in ended:
        result.given_back += give_back(session, record.absence_id, record.username, settings, moment)
        with write_lock(session):
            session.execute(update(AbsenceHandOver).where(col(AbsenceHandOver.absence_id) == record.absence_id)
                            .values(returned_at=moment))
            session.commit()
        result.ended.append(record.absence_id)


def handed_over(session: Session, settings: Settings, absences: list[Absence]) -> set[int]:
    """The ids of those ``absences`` whose officer's tasks this node has handed over: on central (and a single
    node) as the absence's row says, on a center node as its own record says."""
    if settings.node_role != "center":
        return {a.id for a in absences if a.id is not None and a.handed_over_at is not None}
    ids = [a.id for a in absences if a.id is not None]
    if not ids:
        return set()
    return set(session.exec(select(AbsenceHandOver.absence_id).where(col(AbsenceHandOver.absence_id).in_(ids))).all())


def cancel_absence(*, session: Session, username: str, absence_id: int, actor: Actor, settings: Settings) -> int:
    """Cancel an officer's absence (engine/people/presence.py); one that had begun gives its officer back the
    tasks it handed over, as its end would. Returns how many came back."""
    absence = presence.cancel_absence(session=session, username=username, absence_id=absence_id, actor=actor)
    if absence.handed_over_at is None:
        return 0
    assert absence.id is not None
    return give_back(session, absence.id, absence.username, settings, clock.now())


def _officer_takes(session: Session, username: str, task: Any, settings: Settings, now: datetime) -> bool:
    """Whether ``username`` may have ``task`` back now: active, holds its lane, works at its center, present,
    and the four eyes do not keep them out (they may have completed another step of the case meanwhile)."""
    user = session.exec(select(User).where(col(User.username) == username)).first()
    if user is None or not user.active or task.lane not in user.roles or user.center_id != task.center_id:
        return False
    conn = session.connection()
    if presence.away(conn, [username], presence.today(settings, now)):
        return False
    version_id = session.exec(select(Case.process_version_id).where(col(Case.id) == task.case_id)).one()
    service = processes.cache.get(session, version_id, settings).service.assignment
    return username not in assignment.kept_out(conn, task.case_id, task.name, service)


def give_back(session: Session, absence_id: int, username: str, settings: Settings, now: datetime) -> int:
    """Give ``username`` back the ready tasks absence ``absence_id`` moved away from them, those still where
    the hand-over put them: a task since claimed from the lane, released or reassigned by a supervisor
    (any of which clears its ``away_absence_id``) stays where it is, as does every task while the officer
    cannot have it (unavailable today, moved to another center or lane, kept out by the four eyes). Away again
    under another absence: the tasks wait for that absence's end instead. One transaction per task; the same
    round again finds nothing more to do. Returns how many came back."""
    day = presence.today(settings, now)
    with write_lock(session):
        again = session.exec(select(Absence.id).where(col(Absence.username) == username, col(Absence.id) != absence_id,
                                                      col(Absence.starts) <= day, col(Absence.ends) >= day)).first()
        if again is not None:
            session.execute(update(_TASKS).where(_TASKS.c.state == "ready", _TASKS.c.away_absence_id == absence_id,
                                                 nodes.of_my_cases(_TASKS.c.case_id, settings.node_center))
                            .values(away_absence_id=again))
            session.commit()
            return 0
        session.rollback()
    rows = session.connection().execute(core_select(_TASKS).where(
        _TASKS.c.state == "ready", _TASKS.c.away_absence_id == absence_id,
        nodes.of_my_cases(_TASKS.c.case_id, settings.node_center))
        .order_by(_TASKS.c.created_at, _TASKS.c.id)).all()
    session.rollback()
    back = 0
    for task in rows:
        try:
            with clock.frozen(now), write_lock(session):
                if not _officer_takes(session, username, task, settings, now):
                    session.rollback()
                    continue
                back += int(move(session, task=task, frm=task.claimed_by, to=username, kind=TASK_BACK,
                                 actor=SYSTEM.username, now=now, only_if_away=absence_id,
                                 data={"from": task.claimed_by, "to": username, "lane": task.lane,
                                       "absence_id": absence_id}))
        except Conflict:
            session.rollback()
    return back


def _ready_of(session: Session, username: str, settings: Settings) -> list[Any]:
    rows = session.connection().execute(core_select(_TASKS).where(
        _TASKS.c.state == "ready", _TASKS.c.claimed_by == username,
        nodes.of_my_cases(_TASKS.c.case_id, settings.node_center))
        .order_by(_TASKS.c.created_at, _TASKS.c.id).limit(settings.assignment_batch)).all()
    session.rollback()
    return list(rows)


def _delegate_takes(session: Session, absence: Absence, task: Any, settings: Settings, now: datetime) -> bool:
    """Whether the absence's delegate may have ``task`` now (as :func:`_officer_takes`)."""
    return absence.delegate is not None and _officer_takes(session, absence.delegate, task, settings, now)


def _hand_over(session: Session, absence: Absence, settings: Settings, now: datetime) -> int:
    moved = 0
    for task in _ready_of(session, absence.username, settings):
        try:
            with clock.frozen(now), write_lock(session):
                data = {"from": absence.username, "lane": task.lane, "absence_id": absence.id}
                if _delegate_takes(session, absence, task, settings, now):
                    ok = move(session, task=task, frm=absence.username, to=absence.delegate,
                              kind=TASK_DELEGATED, actor=SYSTEM.username, data={**data, "to": absence.delegate},
                              now=now, delegated_from=absence.username, away_absence_id=absence.id)
                else:
                    choice = by_rule(session, task, settings, now, leave_out=(absence.username,))
                    if choice is not None:
                        ok = move(session, task=task, frm=absence.username, to=choice.username,
                                  kind=assignment.TASK_ASSIGNED, actor=SYSTEM.username, now=now,
                                  data={**data, **choice.event(task.id, task.name, task.lane)[2]},
                                  away_absence_id=absence.id)
                    else:
                        ok = move(session, task=task, frm=absence.username, to=None, kind=TASK_RETURNED,
                                  actor=SYSTEM.username, data={**data, "to": None}, now=now,
                                  away_absence_id=absence.id)
                moved += int(ok)
        except Conflict:
            session.rollback()
    return moved


def automatic_lanes(session: Session) -> set[str]:
    """Lanes under an automatic rule somewhere: a center's rule or a live service's."""
    lanes = set(session.exec(select(AssignmentRule.lane).where(
        col(AssignmentRule.rule).in_(assignment.AUTOMATIC))).all())
    for service in session.exec(select(ProcessVersion.service).where(col(ProcessVersion.retired).is_(False))).all():
        for lane, rule in (((service or {}).get("assignment") or {}).get("lanes") or {}).items():
            if rule in assignment.AUTOMATIC:
                lanes.add(lane)
    return lanes


def _give_out_waiting(session: Session, settings: Settings, now: datetime) -> int:
    lanes = automatic_lanes(session)
    if not lanes:
        session.rollback()
        return 0
    waiting = session.connection().execute(core_select(_TASKS).where(
        _TASKS.c.state == "ready", _TASKS.c.claimed_by.is_(None), _TASKS.c.center_id.is_not(None),
        _TASKS.c.lane.in_(sorted(lanes)), nodes.of_my_cases(_TASKS.c.case_id, settings.node_center))
        .order_by(_TASKS.c.created_at, _TASKS.c.id)
        .limit(settings.assignment_batch)).all()
    session.rollback()
    given = 0
    for task in waiting:
        try:
            with clock.frozen(now), write_lock(session):
                choice = by_rule(session, task, settings, now)
                if choice is None:
                    session.rollback()
                    continue
                given += int(move(session, task=task, frm=None, to=choice.username, actor=SYSTEM.username,
                                  kind=assignment.TASK_ASSIGNED, now=now,
                                  data=choice.event(task.id, task.name, task.lane)[2]))
        except Conflict:
            session.rollback()
    return given


def given_by_rule(session: Session, rows: list[Any], settings: Settings) -> set[str]:
    """The ids of those unassigned ``rows`` (task rows) whose lane gives its tasks out at their center: nobody
    takes them (the inbox offers no "take")."""
    waiting = [row for row in rows if row.claimed_by is None and row.center_id is not None]
    if not waiting:
        return set()
    own = {(r.center_id, r.lane): r.rule for r in session.exec(select(AssignmentRule).where(
        col(AssignmentRule.center_id).in_({row.center_id for row in waiting})))}
    of_cases = core_select(_CASES.c.id, _CASES.c.process_version_id).where(
        _CASES.c.id.in_({row.case_id for row in waiting}))
    versions: dict[int, int] = {row.id: row.process_version_id for row in session.connection().execute(of_cases)}
    found = set()
    for row in waiting:
        service = processes.cache.get(session, versions[row.case_id], settings).service.assignment
        rule = own.get((row.center_id, row.lane)) or service.lanes.get(row.lane) or assignment.PICK
        if rule in assignment.AUTOMATIC:
            found.add(row.id)
    return found


# --- the workload view ----------------------------------------------------------------------------------------

# Deliberately mirrored by api/routes/assignment.py's OfficerWorkload: the API's response shape is its own, so a
# field added here does not appear in the API's contract unannounced.
@dataclass
class OfficerLoad:
    username: str
    full_name: str
    center_id: int | None
    lanes: list[str]
    open_assigned: int
    overdue: int
    completed_today: int
    unavailable_today: bool
    absences: list[Absence]


@dataclass
class LaneLoad:
    lane: str
    center_id: int | None
    rule: str | None  # the center's own rule, None when the services' rules (or pick) decide
    waiting: int  # ready and given to nobody
    open: int  # ready, given or not
    oldest: datetime | None  # the oldest waiting task's time


def workload(*, session: Session, actor: Actor, settings: Settings, now: datetime | None = None
             ) -> tuple[list[OfficerLoad], list[LaneLoad]]:
    """Per officer of the actor's centers: open tasks given to them, overdue, completed today, absences; per
    lane and center: tasks waiting for nobody and the oldest of them."""
    moment = now or clock.now()
    day = presence.today(settings, moment)
    # In UTC, as the timestamps are stored: SQLite compares them as text, and a time at another offset would
    # compare wrong (after 22:00 UTC it is already tomorrow in Cairo).
    start_of_day = datetime.combine(day, time(), ZoneInfo(settings.display_timezone)).astimezone(UTC)
    seen = policy.centers_seen(session, actor)
    users_q = select(User).where(col(User.active).is_(True)).order_by(col(User.username))
    if seen is not None:
        users_q = users_q.where(col(User.center_id).in_(seen))
    people = [u for u in session.exec(users_q).all() if presence.lanes_of(u.roles)]
    names = [u.username for u in people]
    conn = session.connection()
    counts: dict[str, tuple[int, int]] = {}
    done: dict[str, int] = {}
    if names:
        overdue_case = func.sum(_case_when(_TASKS.c.due_at < moment))
        for row in conn.execute(core_select(_TASKS.c.claimed_by, func.count(), overdue_case).where(
                _TASKS.c.state == "ready", _TASKS.c.claimed_by.in_(names)).group_by(_TASKS.c.claimed_by)):
            counts[row[0]] = (int(row[1]), int(row[2] or 0))
        for row in conn.execute(core_select(_TASKS.c.completed_by, func.count()).where(
                _TASKS.c.state == "completed", _TASKS.c.completed_by.in_(names),
                _TASKS.c.completed_at >= start_of_day).group_by(_TASKS.c.completed_by)):
            done[row[0]] = int(row[1])
    absences: dict[str, list[Absence]] = {}
    for absence in session.exec(select(Absence).where(col(Absence.username).in_(names), col(Absence.ends) >= day)
                                .order_by(col(Absence.starts))).all():
        absences.setdefault(absence.username, []).append(absence)
    off = set(session.exec(select(Unavailable.username).where(col(Unavailable.username).in_(names),
                                                              col(Unavailable.day) == day)).all())
    officers = [OfficerLoad(u.username, u.full_name, u.center_id, sorted(presence.lanes_of(u.roles)),
                            counts.get(u.username, (0, 0))[0], counts.get(u.username, (0, 0))[1],
                            done.get(u.username, 0), u.username in off, absences.get(u.username, []))
                for u in people]
    lanes_q = core_select(_TASKS.c.lane, _TASKS.c.center_id, func.count(),
                          func.sum(_case_when(_TASKS.c.claimed_by.is_(None))),
                          func.min(_case_when_value(_TASKS.c.claimed_by.is_(None), _TASKS.c.created_at))).where(
        _TASKS.c.state == "ready").group_by(_TASKS.c.lane, _TASKS.c.center_id).order_by(_TASKS.c.lane,
                                                                                        _TASKS.c.center_id)
    if seen is not None:
        lanes_q = lanes_q.where(_TASKS.c.center_id.in_(seen))
    own: dict[tuple[int, str], str] = {(r.center_id, r.lane): r.rule for r in session.exec(select(AssignmentRule))}
    lanes = [LaneLoad(row[0], row[1], own.get((row[1], row[0])), int(row[3] or 0), int(row[2]),
                      _aware(row[4])) for row in conn.execute(lanes_q)]
    return officers, lanes


def _case_when(condition: Any) -> Any:
    return sql_case((condition, 1), else_=0)


def _case_when_value(condition: Any, value: Any) -> Any:
    return sql_case((condition, value), else_=None)


def _aware(moment: Any) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):  # SQLite may hand an aggregate's timestamp back as text
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo("UTC"))
