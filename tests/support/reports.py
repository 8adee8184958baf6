"""A dataset with known timings for the reports: cases of ``test_permit`` opened, worked, rejected, cancelled
and left open at chosen moments (the engine's clock frozen at each), and the timeline kept on the side so tests
compute every figure again on their own (``expected_*``), in plain Python from the timeline."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from engine.cases import lifecycle as cases
from engine.cases import tasks
from engine.core import clock
from engine.core.settings import Settings
from engine.people.users import Actor
from engine.reports.projector import catch_up
from engine.reports.tally import aware
from harness.api import CITIZEN
from harness.pages import center_tree, deploy
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.cases import Case, Task

BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = BASE + timedelta(days=30)
SERVICE = "test_permit"


@dataclass
class TaskRun:
    name: str
    lane: str
    ready: datetime
    done: datetime | None = None
    claimed: datetime | None = None
    officer: str | None = None
    due: datetime | None = None


@dataclass
class CaseRun:
    center: int
    opened: datetime
    ended: datetime | None = None
    status: str = "open"
    rejected: bool = False
    due: datetime | None = None
    case_id: int = 0
    steps: list[TaskRun] = field(default_factory=list)


@dataclass
class Dataset:
    centers: dict[str, int]
    cases: list[CaseRun]


def _at(moment: datetime, call: Any, **kw: Any) -> Any:
    with clock.frozen(moment):
        return call(**kw)


def seed(settings: Settings, count: int = 24) -> Dataset:
    """Open ``count`` cases over four days at two cities of one governorate, work them at random (seeded)
    moments, and leave a few open; two more are opened an hour before ``NOW``."""
    deploy(settings, TEST_PROCESSES / "test_permit")
    rng = random.Random(8)
    runs: list[CaseRun] = []
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        ids = center_tree(session)
        clerks = {ids["CITY-A"]: Actor("clerk_a", frozenset({"front_desk"}), center_id=ids["CITY-A"]),
                  ids["CITY-B"]: Actor("clerk_b", frozenset({"front_desk"}), center_id=ids["CITY-B"])}
        reviewers = [Actor("rev1", frozenset({"reviewer"})), Actor("rev2", frozenset({"reviewer"}))]
        boss = Actor("boss", frozenset({"supervisor"}))
        for i in range(count + 2):
            center = ids["CITY-A"] if i % 3 else ids["CITY-B"]
            clerk = clerks[center]
            opened = (BASE + timedelta(days=i % 4, minutes=rng.randint(0, 600)) if i < count
                      else NOW - timedelta(hours=1, minutes=i))
            case = _at(opened, cases.open_case, session=session, service_code=SERVICE, citizen=CITIZEN, data={},
                       actor=clerk, settings=settings).case
            run = CaseRun(center=center, opened=opened, case_id=case.id)
            runs.append(run)
            moment = opened
            register = TaskRun("register", "front_desk", ready=opened)
            run.steps.append(register)
            if i >= count:
                continue
            moment += timedelta(seconds=rng.randint(30, 3000))
            _complete(session, settings, run, register, clerk, moment, {"area": 100, "purpose": "house"})
            if i == 7:
                moment += timedelta(hours=2)
                _at(moment, cases.cancel_case, session=session, case_id=case.id, reason="withdrawn", actor=boss,
                    settings=settings)
                run.status, run.ended = "cancelled", moment
                continue
            review = TaskRun("review", "reviewer", ready=moment)
            run.steps.append(review)
            reviewer = reviewers[i % 2]
            if i % 3 != 1:
                review.claimed = moment + timedelta(seconds=rng.randint(60, 86_400))
                _at(review.claimed, tasks.claim, session=session, task_id=_ready_id(session, run), actor=reviewer)
            moment = (review.claimed or moment) + timedelta(seconds=rng.randint(600, 5 * 86_400))
            if i % 6 == 5:
                continue  # left waiting at review (maybe claimed)
            decision = "reject" if i % 4 == 3 else "approve"
            _complete(session, settings, run, review, reviewer, moment, {"decision": decision})
            if decision == "reject":
                run.status, run.ended, run.rejected = "completed", moment, True
                continue
            hand_over = TaskRun("hand_over", "front_desk", ready=moment)
            run.steps.append(hand_over)
            if i % 5 == 4:
                continue  # left waiting at hand-over
            moment += timedelta(seconds=rng.randint(60, 9 * 86_400) + (14 * 86_400 if i % 7 == 0 else 0))
            _complete(session, settings, run, hand_over, clerk, moment, {})
            run.status, run.ended = "completed", moment
        for run in runs:  # due dates are the engine's to set: read them back as given
            stored = session.get(Case, run.case_id)
            assert stored is not None
            run.due = aware(stored.due_at) if stored.due_at else None
            rows = session.exec(select(Task).where(col(Task.case_id) == run.case_id)).all()
            due = {row.name: aware(row.due_at) if row.due_at else None for row in rows}
            for step in run.steps:
                step.due = due[step.name]
    catch_up(settings)  # the aggregates are built from the events after commit
    return Dataset(centers=ids, cases=runs)


def _ready_id(session: Session, run: CaseRun) -> str:
    ready = cases.ready_tasks(session, run.case_id)
    assert len(ready) == 1
    return str(ready[0].id)


def _complete(session: Session, settings: Settings, run: CaseRun, step: TaskRun, actor: Actor, moment: datetime,
              data: dict[str, Any]) -> None:
    _at(moment, tasks.complete, session=session, task_id=_ready_id(session, run), data=data, actor=actor,
        settings=settings)
    step.done, step.officer = moment, actor.username


# --- the figures again, from the timeline alone ------------------------------------------------------------


def exact_percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _in(moment: datetime | None, start: date, end: date) -> bool:
    return moment is not None and start <= moment.astimezone(UTC).date() <= end


def _chosen(data: Dataset, wanted: set[int] | None) -> list[CaseRun]:
    return [c for c in data.cases if wanted is None or c.center in wanted]


def expected_sla(data: Dataset, start: date, end: date, wanted: set[int] | None = None,
                 now: datetime = NOW) -> dict[str, Any]:
    runs = _chosen(data, wanted)
    ended = [c for c in runs if c.status == "completed" and _in(c.ended, start, end)]
    on_time = [c for c in ended if c.due is None or c.ended <= c.due]  # type: ignore[operator]
    still = [c for c in runs if c.status == "open"]
    overdue = [c for c in still if c.due is not None and c.due < now]
    spent = [(c.ended - c.opened).total_seconds() for c in ended]  # type: ignore[operator]
    return {"opened": sum(_in(c.opened, start, end) for c in runs), "completed": len(ended),
            "rejected": sum(c.rejected for c in ended), "on_time": len(on_time), "late": len(ended) - len(on_time),
            "cancelled": sum(c.status == "cancelled" and _in(c.ended, start, end) for c in runs),
            "open": len(still), "open_overdue": len(overdue), "breached": len(ended) - len(on_time) + len(overdue),
            "avg_case_seconds": sum(spent) / len(spent) if spent else None,
            "p90_case_seconds": exact_percentile(spent, 0.9)}


def _steps(data: Dataset, wanted: set[int] | None) -> list[TaskRun]:
    return [s for c in _chosen(data, wanted) for s in c.steps]


def expected_steps(data: Dataset, start: date, end: date, wanted: set[int] | None = None,
                   now: datetime = NOW) -> dict[str, Any]:
    out: dict[str, Any] = {}
    runs = _chosen(data, wanted)
    for name in ("register", "review", "hand_over"):
        all_of = [s for c in runs for s in c.steps if s.name == name]
        done = [s for s in all_of if _in(s.done, start, end)]
        spent = [(s.done - s.ready).total_seconds() for s in done]  # type: ignore[operator]
        waiting = [s for c in runs if c.status == "open" for s in c.steps if s.name == name and s.done is None]
        out[name] = {"count": len(done), "avg_seconds": sum(spent) / len(spent) if spent else None,
                     "p90_seconds": exact_percentile(spent, 0.9),
                     "on_time": sum(s.due is None or s.done <= s.due for s in done),  # type: ignore[operator]
                     "waiting": len(waiting),
                     "overdue_open": sum(s.due is not None and s.due < now for s in waiting)}
    return out


def expected_departments(data: Dataset, start: date, end: date, wanted: set[int] | None = None,
                         now: datetime = NOW) -> dict[str, Any]:
    steps = expected_steps(data, start, end, wanted, now)
    lanes = {"register": "front_desk", "review": "reviewer", "hand_over": "front_desk"}
    out: dict[str, dict[str, int]] = {}
    for name, row in steps.items():
        lane = out.setdefault(lanes[name], {"completed": 0, "on_time": 0, "backlog": 0, "overdue": 0})
        lane["completed"] += row["count"]
        lane["on_time"] += row["on_time"]
        lane["backlog"] += row["waiting"]
        lane["overdue"] += row["overdue_open"]
    return out


def expected_throughput(data: Dataset, start: date, end: date, wanted: set[int] | None = None) -> dict[str, Any]:
    runs = _chosen(data, wanted)
    out = {}
    day = start
    while day <= end:
        out[day.isoformat()] = {
            "opened": sum(c.opened.date() == day for c in runs),
            "completed": sum(c.status == "completed" and c.ended is not None and c.ended.date() == day
                             for c in runs),
            "tasks_completed": sum(s.done is not None and s.done.date() == day for c in runs for s in c.steps)}
        day += timedelta(days=1)
    return out


def expected_officers(data: Dataset, start: date, end: date, wanted: set[int] | None = None) -> dict[str, Any]:
    handled: dict[str, list[float]] = {}
    for step in _steps(data, wanted):
        if _in(step.done, start, end):
            assert step.officer is not None and step.done is not None
            handled.setdefault(step.officer, []).append((step.done - (step.claimed or step.ready)).total_seconds())
    return {name: {"completed": len(v), "avg_seconds": sum(v) / len(v), "median_seconds": exact_percentile(v, 0.5)}
            for name, v in handled.items()}
