"""SLAs stored on cases and tasks, reminders, the overdue queue, reassignment and escalation levels.

The clock is controlled: cases are opened and worked inside ``clock.frozen`` and the ticks are given their
moment, so days pass without sleeping. Dates below are in Cairo (the default calendar: Egypt, Friday and
Saturday off); 2026-11-26 is a Thursday.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from engine.audit import verify
from engine.cases import escalation, hooks, replay, sla_events, tasks, timers
from engine.cases import lifecycle as cases
from engine.cases.escalation import aware
from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.core import clock
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.settings import Settings
from engine.people import centers
from engine.people.users import Actor, actor_of, create_user
from harness.api import CITIZEN
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.cases import Case, Task

CAIRO = ZoneInfo("Africa/Cairo")
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=CAIRO)  # Thursday 10:00


def cairo(*args: int) -> datetime:
    return datetime(*args, tzinfo=CAIRO)  # type: ignore[misc]


@dataclass
class People:
    clerk: Actor
    officer: Actor
    officer2: Actor
    outsider: Actor
    supervisor: Actor
    director: Actor
    governor: Actor


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with Session(engine_for(settings.database_url), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def people(session: Session, settings: Settings) -> People:
    analyst = Actor("analyst", frozenset({"analyst"}))
    processes.deploy(session=session, files=read_package(TEST_PROCESSES / "sla_escalation"), actor=analyst,
                     settings=settings)
    made = {}
    for name, roles in [("clerk", ["front_desk"]), ("officer", ["officer"]), ("officer2", ["officer"]),
                        ("outsider", ["front_desk"]), ("supervisor", ["supervisor"]), ("director", ["director"]),
                        ("governor", ["governor"])]:
        made[name] = actor_of(create_user(session=session, username=name, password="correct horse",
                                          full_name=name.title(), roles=roles, settings=settings,
                                          installation_wide=True))
    return People(**made)


def _open(session: Session, settings: Settings, people: People, at: datetime = T0) -> Case:
    with clock.frozen(at):
        return cases.open_case(session=session, service_code="sla_escalation", citizen=CITIZEN, data={},
                               actor=people.clerk, settings=settings).case


def _ready(session: Session, case_id: int) -> list[Task]:
    session.expire_all()
    return list(session.exec(select(Task).where(col(Task.case_id) == case_id, col(Task.state) == "ready")
                             .order_by(col(Task.created_at))).all())


def _complete(session: Session, settings: Settings, case_id: int, name: str, actor: Actor, at: datetime) -> None:
    [task] = [t for t in _ready(session, case_id) if t.name == name]
    with clock.frozen(at):
        tasks.complete(session=session, task_id=task.id, data={}, actor=actor, settings=settings)


def _events(session: Session, case_id: int, kind: str) -> list[dict[str, Any]]:
    session.expire_all()
    return [e.data for e in session.exec(select(AuditEvent).where(col(AuditEvent.case_id) == case_id,
                                                                  col(AuditEvent.kind) == kind)
                                         .order_by(col(AuditEvent.seq))).all()]


def _at_check(session: Session, settings: Settings, people: People) -> tuple[Case, Task]:
    case = _open(session, settings, people)
    assert case.id is not None
    _complete(session, settings, case.id, "intake", people.clerk, T0)
    [check] = _ready(session, case.id)
    assert check.name == "check"
    return case, check


def test_due_dates_count_working_days_and_are_stored(session: Session, settings: Settings,
                                                    people: People) -> None:
    case = _open(session, settings, people)
    assert case.id is not None
    stored = session.get(Case, case.id)
    assert stored is not None and stored.due_at is not None
    assert aware(stored.due_at) == cairo(2026, 12, 3, 10, 0)  # 5 working days: Sun..Thu
    [intake] = _ready(session, case.id)
    assert intake.due_at is not None and aware(intake.due_at) == cairo(2026, 11, 29, 10, 0)  # service.toml: 1
    _complete(session, settings, case.id, "intake", people.clerk, cairo(2026, 11, 29, 9, 0))  # Sunday 09:00
    [check] = _ready(session, case.id)
    assert check.due_at is not None and aware(check.due_at) == cairo(2026, 12, 1, 9, 0)  # spiff:property: 2
    _complete(session, settings, case.id, "check", people.officer, cairo(2026, 11, 29, 9, 30))
    [sign] = _ready(session, case.id)
    assert sign.due_at is None  # no SLA of its own


def test_a_task_reminds_its_lane_once(session: Session, settings: Settings, people: People) -> None:
    case, check = _at_check(session, settings, people)
    assert case.id is not None and check.due_at is not None
    due = aware(check.due_at)  # Monday 30 Nov 10:00; the service reminds 6 hours before
    assert escalation.tick(session=session, settings=settings, now=due - timedelta(hours=6, seconds=1)).reminded == 0
    assert escalation.tick(session=session, settings=settings, now=due - timedelta(hours=6)).reminded == 1
    assert escalation.tick(session=session, settings=settings, now=due - timedelta(hours=1)).reminded == 0
    assert _events(session, case.id, "task_reminded") == [
        {"task_id": check.id, "lane": "officer", "title": "Check", "due_at": clock.iso(due)}]
    session.expire_all()
    reminded = session.get(Task, check.id)
    assert reminded is not None and reminded.reminded_at is not None
    assert aware(reminded.reminded_at) == due - timedelta(hours=6)


def test_overdue_queue_and_escalation_levels(session: Session, settings: Settings, people: People) -> None:
    case, check = _at_check(session, settings, people)
    assert case.id is not None and check.due_at is not None
    due = aware(check.due_at)  # Monday 30 Nov 10:00
    queue = escalation.overdue
    assert queue(session=session, actor=people.supervisor, settings=settings, now=due) == []
    with pytest.raises(Forbidden):
        queue(session=session, actor=people.officer, settings=settings, now=due)

    escalation.tick(session=session, settings=settings, now=due + timedelta(minutes=1))
    assert [r.id for r in queue(session=session, actor=people.supervisor, settings=settings,
                                now=due + timedelta(minutes=1))] == [check.id]
    assert queue(session=session, actor=people.director, settings=settings, now=due + timedelta(minutes=1)) == []
    assert [e["level"] for e in _events(session, case.id, "task_escalated")] == [1]

    # Level 2 after 2 working days overdue: Wednesday 2 Dec 10:00.
    assert escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 2, 9, 59)).escalated == 0
    assert escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 2, 10, 0)).escalated == 1
    assert [r.id for r in queue(session=session, actor=people.director, settings=settings,
                                now=cairo(2026, 12, 2, 10, 0))] == [check.id]
    assert queue(session=session, actor=people.governor, settings=settings, now=cairo(2026, 12, 2, 10, 0)) == []
    # Level 3 after 4 working days: Thursday 3 Dec, then Sunday 6 Dec 10:00 (the weekend does not count).
    assert escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 5, 23, 0)).escalated == 0
    assert escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 6, 10, 0)).escalated == 1
    assert escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 20, 10, 0)).escalated == 0
    escalated = _events(session, case.id, "task_escalated")
    assert [(e["level"], e["role"]) for e in escalated] == [(1, "supervisor"), (2, "director"), (3, "governor")]
    session.expire_all()
    row = session.get(Task, check.id)
    assert row is not None and row.escalation_level == 3
    assert [r.id for r in queue(session=session, actor=people.governor, settings=settings,
                                now=cairo(2026, 12, 6, 10, 0))] == [check.id]


def test_a_task_overdue_when_first_seen_jumps_levels_with_one_event_each(session: Session, settings: Settings,
                                                                        people: People) -> None:
    case, check = _at_check(session, settings, people)
    assert case.id is not None
    assert escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 20, 10, 0)).escalated == 1
    assert [e["level"] for e in _events(session, case.id, "task_escalated")] == [1, 2, 3]


def test_reassign_to_an_officer_and_back_to_the_lane(session: Session, settings: Settings, people: People) -> None:
    case, check = _at_check(session, settings, people)
    assert case.id is not None
    moved = escalation.reassign(session=session, task_id=check.id, to="officer2", actor=people.supervisor,
                                settings=settings)
    assert moved.claimed_by == "officer2"
    with pytest.raises(Conflict):  # claimed by officer2 now
        tasks.claim(session=session, task_id=check.id, actor=people.officer, settings=settings)
    back = escalation.reassign(session=session, task_id=check.id, to=None, actor=people.supervisor,
                               settings=settings)
    assert back.claimed_by is None
    assert _events(session, case.id, "task_reassigned") == [
        {"task_id": check.id, "from": None, "to": "officer2", "lane": "officer"},
        {"task_id": check.id, "from": "officer2", "to": None, "lane": "officer"}]


def test_reassign_refusals(session: Session, settings: Settings, people: People) -> None:
    case, check = _at_check(session, settings, people)
    assert case.id is not None

    def reassign(task_id: str, to: str | None, actor: Actor) -> Task:
        return escalation.reassign(session=session, task_id=task_id, to=to, actor=actor, settings=settings)

    with pytest.raises(Forbidden):
        reassign(check.id, "officer2", people.officer)
    with pytest.raises(Forbidden):  # the director sees only tasks escalated to level 2
        reassign(check.id, "officer2", people.director)
    with pytest.raises(NotFound):
        reassign("no-such-task", "officer2", people.supervisor)
    with pytest.raises(NotFound):
        reassign(check.id, "nobody", people.supervisor)
    with pytest.raises(Invalid):
        reassign(check.id, "outsider", people.supervisor)
    _complete(session, settings, case.id, "check", people.officer, T0)
    with pytest.raises(Conflict):
        reassign(check.id, "officer2", people.supervisor)
    assert _events(session, case.id, "task_reassigned") == []


def test_boundary_timers_on_user_tasks_work_as_drawn(session: Session, settings: Settings, people: People) -> None:
    case, check = _at_check(session, settings, people)
    assert case.id is not None
    # Non-interrupting: a day on, the nudge fires and the check is still waiting.
    assert timers.tick(session=session, settings=settings, now=T0 + timedelta(hours=23)) == 0
    assert timers.tick(session=session, settings=settings, now=T0 + timedelta(days=1, seconds=1)) == 1
    assert [t.id for t in _ready(session, case.id)] == [check.id]
    session.expire_all()
    stored = session.get(Case, case.id)
    assert stored is not None and stored.data["nudged"] is True and stored.status == "open"
    signing_at = T0 + timedelta(days=1, hours=1)
    _complete(session, settings, case.id, "check", people.officer, signing_at)
    [sign] = _ready(session, case.id)
    # Interrupting: three days on, the signature is taken away from the officer and goes to the director.
    assert timers.tick(session=session, settings=settings, now=signing_at + timedelta(days=3, seconds=1)) == 1
    session.expire_all()
    withdrawn = session.get(Task, sign.id)
    assert withdrawn is not None and withdrawn.state == "cancelled"
    [late] = _ready(session, case.id)
    assert (late.name, late.lane) == ("late_sign", "director")
    _complete(session, settings, case.id, "late_sign", people.director, signing_at + timedelta(days=3, hours=1))
    session.expire_all()
    done = session.get(Case, case.id)
    assert done is not None and (done.status, done.outcome) == ("completed", "end_late")


def _package(file: str, old: str, new: str) -> dict[str, bytes]:
    files = read_package(TEST_PROCESSES / "sla_escalation")
    text = files[file].decode()
    assert old in text
    files[file] = text.replace(old, new).encode()
    return files


BPMN, TOML = "sla_escalation.bpmn", "service.toml"


@pytest.mark.parametrize(("file", "old", "new", "problem"), [
    (BPMN, 'name="sla_days" value="2"', 'name="sla_days" value="two"', "sla_days property"),
    (BPMN, 'name="sla_days" value="2"', 'name="sla_days" value="-1"', "sla_days property"),
    (TOML, "after_days = 4", "after_days = 1", "in order of after_days"),
    (TOML, "remind_hours = 6", "remind_hour = 6", "remind_hour"),
])
def test_bad_slas_and_escalation_rules_are_refused_at_deploy(session: Session, settings: Settings, file: str,
                                                             old: str, new: str, problem: str) -> None:
    analyst = Actor("analyst", frozenset({"analyst"}))
    with pytest.raises(Invalid) as refused:
        processes.deploy(session=session, files=_package(file, old, new), actor=analyst, settings=settings)
    assert problem in str(refused.value.details)


def test_service_toml_sla_wins_over_the_diagrams_property(session: Session, settings: Settings) -> None:
    analyst = Actor("analyst", frozenset({"analyst"}))
    files = _package(TOML, "[tasks.intake]", "[tasks.check]\nsla_days = 4\n\n[tasks.intake]")
    version, _ = processes.deploy(session=session, files=files, actor=analyst, settings=settings)
    assert version.id is not None
    compiled = processes.cache.get(session, version.id, settings)
    assert (compiled.user_tasks["check"].sla_days, compiled.user_tasks["intake"].sla_days) == (4.0, 1.0)
    assert compiled.user_tasks["sign"].sla_days is None


def test_overdue_queue_pages_most_overdue_first(session: Session, settings: Settings, people: People) -> None:
    first, first_check = _at_check(session, settings, people)
    with clock.frozen(T0 + timedelta(hours=1)):
        second = cases.open_case(session=session, service_code="sla_escalation", citizen=CITIZEN, data={},
                                 actor=people.clerk, settings=settings).case
    assert second.id is not None
    _complete(session, settings, second.id, "intake", people.clerk, T0 + timedelta(hours=1))
    [second_check] = _ready(session, second.id)
    later = cairo(2026, 12, 10, 10, 0)

    def page(offset: int, limit: int) -> list[str]:
        return [r.id for r in escalation.overdue(session=session, actor=people.supervisor, settings=settings,
                                                 now=later, offset=offset, limit=limit)]

    assert page(0, 10) == [first_check.id, second_check.id]
    assert page(1, 1) == [second_check.id] and page(2, 1) == []
    escalation.tick(session=session, settings=settings, now=later)
    assert [r.id for r in escalation.overdue(session=session, actor=people.director, settings=settings, now=later,
                                             offset=1, limit=5)] == [second_check.id]


def test_hooks_see_reminders_and_escalations_in_the_cases_transaction(
        session: Session, settings: Settings, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def record(written: hooks.Written) -> None:
        seen.extend(sla_events.reminders_in(written.case, written.events))
        seen.extend(sla_events.escalations_in(written.case, written.events))

    case, check = _at_check(session, settings, people)
    monkeypatch.setattr(hooks, "_HOOKS", [*hooks._HOOKS, record])
    assert check.due_at is not None
    due = aware(check.due_at)
    escalation.tick(session=session, settings=settings, now=due - timedelta(hours=1))
    escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 2, 10, 0))
    assert seen == [
        sla_events.Reminder(case_id=case.id, tracking_number=case.tracking_number, service_code="sla_escalation",
                            task_id=check.id, task_name="check", title="Check", lane="officer",
                            due_at=clock.iso(due)),
        sla_events.Escalated(case_id=case.id, tracking_number=case.tracking_number, task_id=check.id,
                             task_name="check", lane="officer", level=1, role="supervisor"),
        sla_events.Escalated(case_id=case.id, tracking_number=case.tracking_number, task_id=check.id,
                             task_name="check", lane="officer", level=2, role="director")]


def test_a_centers_holidays_and_those_above_it_move_due_times(session: Session, settings: Settings,
                                                             people: People) -> None:
    centers.create_center(session=session, code="GOV", name_ar="م", name_en="Gov", level="governorate",
                          holidays=["2026-11-29"])  # the governorate's national day: Sunday
    city = centers.create_center(session=session, code="CITY", name_ar="م", name_en="City", level="city",
                                 parent_code="GOV", holidays=[date(2026, 11, 30)])
    elsewhere = centers.create_center(session=session, code="OTHER", name_ar="م", name_en="Other",
                                      level="governorate")
    assert centers.holidays_of(session.connection(), city.id) == {date(2026, 11, 29), date(2026, 11, 30)}
    assert centers.holidays_of(session.connection(), None) == frozenset()
    local = Actor("clerk", people.clerk.roles, center_id=city.id)
    away = Actor("clerk", people.clerk.roles, center_id=elsewhere.id)
    with clock.frozen(T0):
        at_city = cases.open_case(session=session, service_code="sla_escalation", citizen=CITIZEN, data={},
                                  actor=local, settings=settings).case
        at_other = cases.open_case(session=session, service_code="sla_escalation", citizen=CITIZEN, data={},
                                   actor=away, settings=settings).case
    assert at_city.id is not None and at_other.id is not None
    assert at_city.due_at is not None and at_other.due_at is not None
    assert aware(at_city.due_at) == cairo(2026, 12, 7, 10, 0)  # Sunday and Monday off: 5 days end a Monday
    assert aware(at_other.due_at) == cairo(2026, 12, 3, 10, 0)
    [intake] = _ready(session, at_city.id)
    assert intake.due_at is not None and aware(intake.due_at) == cairo(2026, 12, 1, 10, 0)  # Tuesday
    [other_intake] = _ready(session, at_other.id)
    # On Thursday 3 December the city's intake is 2 working days late (level 2), the other's 4 (level 3).
    assert escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 3, 10, 0)).escalated == 2
    session.expire_all()
    levels = {t.id: t.escalation_level for t in session.exec(select(Task)).all()}
    assert (levels[intake.id], levels[other_intake.id]) == (2, 3)
    with pytest.raises(Invalid):
        centers.set_holidays(session=session, code="CITY", holidays=["30/11/2026"])
    assert centers.set_holidays(session=session, code="CITY", holidays=[]).holidays == []


def test_cases_with_sla_events_replay_and_verify(session: Session, settings: Settings, people: People) -> None:
    """Reminders, escalations and reassignments join the chain without moving the case: replay passes over
    them and still reaches the stored state; the chain verifies."""
    case, check = _at_check(session, settings, people)
    assert case.id is not None and check.due_at is not None
    escalation.tick(session=session, settings=settings, now=cairo(2026, 12, 20, 10, 0))
    escalation.reassign(session=session, task_id=check.id, to="officer2", actor=people.supervisor,
                        settings=settings)
    _complete(session, settings, case.id, "check", people.officer2, cairo(2026, 12, 20, 11, 0))
    kinds = [e.kind for e in session.exec(select(AuditEvent).where(col(AuditEvent.case_id) == case.id)
                                          .order_by(col(AuditEvent.seq))).all()]
    assert kinds == ["case_opened", "task_completed", "task_reminded", "task_escalated", "task_escalated",
                     "task_escalated", "task_reassigned", "task_completed"]
    result = replay.replay_case(session=session, case_id=case.id, settings=settings)
    assert result.consistent and result.events_replayed == len(kinds)
    report = verify.Report()
    assert verify.verify_cases(session, report) == {} and report.ok and report.events == len(kinds)
