"""The figures leadership reads, from the aggregates (counts over the range) and from the live projections
(what is open now). Each function checks the scope first (engine/reports/scope.py) and returns plain dicts.

Ranges: a case is counted as opened on the day it was opened and as completed, rejected, on time, late or
cancelled on the day it ended; a task's time counts on the day it was completed. ``open``, ``backlog`` and
``overdue`` figures are about now: an open case has no end date, so the range does not apply to them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from engine.core import clock
from engine.people.users import CITIZEN_ACTOR, CITIZEN_LANE
from engine.reports.buckets import percentile
from engine.reports.scope import Scope
from storage.models import reports as aggregates
from storage.models.base import table, tables
from storage.models.cases import Case, Task

_DAY, _LANE_DAY, _CASE_TIME, _STEP_TIME = tables(aggregates.ReportDay, aggregates.ReportLaneDay,
                                                 aggregates.ReportCaseTime, aggregates.ReportStepTime)
_OFFICER_TIME, _CASES, _TASKS = tables(aggregates.ReportOfficerTime, Case, Task)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def spans(start: date, end: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole months inside ``start``..``end`` (their first days), and the loose days around them."""
    month = start.replace(day=1)
    if month < start:
        month = _next_month(month)
    months = []
    while _next_month(month) - timedelta(days=1) <= end:
        months.append(month)
        month = _next_month(month)
    if not months:
        return [], [(start, end)]
    loose = []
    if start < months[0]:
        loose.append((start, months[0] - timedelta(days=1)))
    after = _next_month(months[-1])
    if after <= end:
        loose.append((after, end))
    return months, loose


def _grained(table: Any, scope: Scope) -> Any:
    """Rows of a duration table that make up the range: monthly rows of its whole months, daily rows of the rest."""
    months, loose = spans(scope.start, scope.end)
    parts = [and_(table.c.grain == "d", table.c.day >= a, table.c.day <= b) for a, b in loose]
    if months:
        parts.append(and_(table.c.grain == "m", table.c.day >= months[0], table.c.day <= months[-1]))
    return or_(*parts)


def _where(table: Any, scope: Scope, *, days: bool = True, service: bool = True, lane: bool = False) -> list[Any]:
    """The scope's conditions on an aggregate (``days``) or live table; center 0 is "no center"."""
    conditions = []
    if days and "grain" in table.c:
        conditions.append(_grained(table, scope))
    elif days:
        conditions += [table.c.day >= scope.start, table.c.day <= scope.end]
    if scope.center_ids is not None:
        conditions.append(table.c.center_id.in_(sorted(scope.center_ids)))
    if service and scope.service_code:
        conditions.append(table.c.service_code == scope.service_code)
    if lane and scope.lane:
        conditions.append(table.c.lane == scope.lane)
    return conditions


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _avg(seconds: float, count: int) -> float | None:
    return round(seconds / count, 1) if count else None


def sla(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Per service: cases opened and ended in the range, on time and late, breaches (late in the range plus
    open past due now), compliance (on time / completed) and the time per case (average, 90th percentile)."""
    now = clock.now()
    out: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(
        ("opened", "completed", "rejected", "cancelled", "on_time", "late", "open", "open_overdue"), 0))
    sums = [func.coalesce(func.sum(_DAY.c[c]), 0) for c in
            ("opened", "completed", "rejected", "cancelled", "on_time", "late")]
    for row in conn.execute(select(_DAY.c.service_code, *sums).where(*_where(_DAY, scope))
                            .group_by(_DAY.c.service_code)):
        out[row[0]].update(zip(("opened", "completed", "rejected", "cancelled", "on_time", "late"),
                               map(int, row[1:]), strict=True))
    live = (select(_CASES.c.service_code, func.count(),
                   func.sum(case((_CASES.c.due_at < now, 1), else_=0)))
            .where(_CASES.c.status == "open", *_where(_CASES, scope, days=False))
            .group_by(_CASES.c.service_code))
    for service_code, count, overdue in conn.execute(live):
        out[service_code].update(open=int(count), open_overdue=int(overdue or 0))
    times: dict[str, list[tuple[int, int]]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    for service_code, bucket, count, total in conn.execute(
            select(_CASE_TIME.c.service_code, _CASE_TIME.c.bucket, func.sum(_CASE_TIME.c.count),
                   func.sum(_CASE_TIME.c.seconds)).where(*_where(_CASE_TIME, scope))
            .group_by(_CASE_TIME.c.service_code, _CASE_TIME.c.bucket)):
        times[service_code].append((bucket, int(count)))
        seconds[service_code] += float(total)
    result = []
    for service_code in sorted(out):
        counts = out[service_code]
        result.append({"service_code": service_code, **counts,
                       "breached": counts["late"] + counts["open_overdue"],
                       "compliance": _ratio(counts["on_time"], counts["completed"]),
                       "avg_case_seconds": _avg(seconds[service_code], counts["completed"]),
                       "p90_case_seconds": percentile(times[service_code], 0.9)})
    return result


def steps(conn: Connection, scope: Scope, titles: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Per user task of ``scope.service_code`` (and lane, when given): tasks completed in the range, their
    ready-to-completed time (average, 90th percentile), the share on time, and how many wait now (overdue)."""
    now = clock.now()
    buckets: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for name, lane, bucket, count, on_time, total in conn.execute(
            select(_STEP_TIME.c.name, _STEP_TIME.c.lane, _STEP_TIME.c.bucket, func.sum(_STEP_TIME.c.count),
                   func.sum(_STEP_TIME.c.on_time), func.sum(_STEP_TIME.c.seconds))
            .where(*_where(_STEP_TIME, scope, lane=True))
            .group_by(_STEP_TIME.c.name, _STEP_TIME.c.lane, _STEP_TIME.c.bucket)):
        buckets[(name, lane)].append((bucket, int(count)))
        t = totals[(name, lane)]
        t[0] += int(count)
        t[1] += int(on_time)
        t[2] += float(total)
    waiting: dict[tuple[str, str], tuple[int, int]] = {}
    for name, lane, count, overdue in conn.execute(
            select(_TASKS.c.name, _TASKS.c.lane, func.count(), func.sum(case((_TASKS.c.due_at < now, 1), else_=0)))
            .where(_TASKS.c.state == "ready", *_where(_TASKS, scope, days=False, lane=True))
            .group_by(_TASKS.c.name, _TASKS.c.lane)):
        waiting[(name, lane)] = (int(count), int(overdue or 0))
    result = []
    for name, lane in sorted(totals.keys() | waiting.keys()):
        count, on_time, total = totals.get((name, lane), [0, 0, 0.0])
        ready, overdue = waiting.get((name, lane), (0, 0))
        result.append({"name": name, "title": (titles or {}).get(name, name), "lane": lane, "count": int(count),
                       "avg_seconds": _avg(total, int(count)), "p90_seconds": percentile(buckets[(name, lane)], 0.9),
                       "on_time": int(on_time), "compliance": _ratio(int(on_time), int(count)),
                       "waiting": ready, "overdue_open": overdue})
    return result


def departments(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Per lane (department): tasks completed in the range and the share on time; backlog (ready now) and
    how much of it is past due."""
    now = clock.now()
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"completed": 0, "on_time": 0, "backlog": 0,
                                                          "overdue": 0})
    # The citizen's own tasks (a complaint's time to reopen) are no department's work.
    for lane, count, on_time in conn.execute(
            select(_LANE_DAY.c.lane, func.sum(_LANE_DAY.c.completed), func.sum(_LANE_DAY.c.on_time))
            .where(*_where(_LANE_DAY, scope, lane=True), _LANE_DAY.c.lane != CITIZEN_LANE)
            .group_by(_LANE_DAY.c.lane)):
        out[lane].update(completed=int(count), on_time=int(on_time))
    for lane, count, overdue in conn.execute(
            select(_TASKS.c.lane, func.count(), func.sum(case((_TASKS.c.due_at < now, 1), else_=0)))
            .where(_TASKS.c.state == "ready", *_where(_TASKS, scope, days=False, lane=True),
                   _TASKS.c.lane != CITIZEN_LANE)
            .group_by(_TASKS.c.lane)):
        out[lane].update(backlog=int(count), overdue=int(overdue or 0))
    return [{"department": lane, **row, "compliance": _ratio(row["on_time"], row["completed"])}
            for lane, row in sorted(out.items())]


def throughput(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Per day of the range: cases opened and completed, and user tasks completed (in the lane, when given)."""
    days: dict[date, dict[str, int]] = {d: {"opened": 0, "completed": 0, "tasks_completed": 0} for d in scope.days}
    for day, opened, completed in conn.execute(
            select(_DAY.c.day, func.sum(_DAY.c.opened), func.sum(_DAY.c.completed))
            .where(*_where(_DAY, scope)).group_by(_DAY.c.day)):
        days[_date(day)].update(opened=int(opened), completed=int(completed))
    for day, count in conn.execute(select(_LANE_DAY.c.day, func.sum(_LANE_DAY.c.completed))
                                   .where(*_where(_LANE_DAY, scope, lane=True), _LANE_DAY.c.lane != CITIZEN_LANE)
                                   .group_by(_LANE_DAY.c.day)):
        days[_date(day)]["tasks_completed"] = int(count)
    return [{"day": day.isoformat(), **row} for day, row in sorted(days.items())]


#: The channels a case comes in by (engine/cases/lifecycle.py), listed even when none came in by one.
CHANNELS = ("counter", "citizen_portal")
_CHANNEL_DAY = table(aggregates.ReportChannelDay)


def channels(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Per channel (and per service): the cases opened in the range through it, and its share of them."""
    counts: dict[tuple[str, str], int] = {}
    for channel, service, opened in conn.execute(
            select(_CHANNEL_DAY.c.channel, _CHANNEL_DAY.c.service_code, func.sum(_CHANNEL_DAY.c.opened))
            .where(*_where(_CHANNEL_DAY, scope))
            .group_by(_CHANNEL_DAY.c.channel, _CHANNEL_DAY.c.service_code)):
        counts[(str(channel), str(service))] = int(opened)
    total = sum(counts.values())
    out = []
    for channel in [*CHANNELS, *sorted({c for c, _s in counts} - set(CHANNELS))]:
        opened = sum(n for (c, _s), n in counts.items() if c == channel)
        out.append({"channel": channel, "opened": opened, "share": _ratio(opened, total),
                    "services": {s: n for (c, s), n in sorted(counts.items()) if c == channel}})
    return out


def officers(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Per officer: user tasks completed in the range and the median handling time (claimed, else ready, to
    completed). By center and department; an officer's figures cover every service (the filter does not apply)."""
    buckets: dict[str, list[tuple[int, int]]] = defaultdict(list)
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for officer, bucket, count, total in conn.execute(
            select(_OFFICER_TIME.c.officer, _OFFICER_TIME.c.bucket, func.sum(_OFFICER_TIME.c.count),
                   func.sum(_OFFICER_TIME.c.seconds))
            .where(*_where(_OFFICER_TIME, scope, service=False, lane=True), _OFFICER_TIME.c.officer != CITIZEN_ACTOR)
            .group_by(_OFFICER_TIME.c.officer, _OFFICER_TIME.c.bucket)):
        buckets[officer].append((bucket, int(count)))
        totals[officer][0] += int(count)
        totals[officer][1] += float(total)
    return [{"officer": officer, "completed": int(t[0]), "avg_seconds": _avg(t[1], int(t[0])),
             "median_seconds": percentile(buckets[officer], 0.5)} for officer, t in sorted(totals.items())]


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
