"""What a set of cases and tasks adds to the report aggregates, and how it is added (upserts).

One ``Tally`` is filled by the projector for a batch of events (cases opened, tasks completed, cases ended) and by
the rebuild for every case at once; ``add_to`` writes it with ``INSERT … ON CONFLICT DO UPDATE`` adding to the
counters, on SQLite and PostgreSQL alike. Rows are written table by table in a fixed order, so two
transactions that touch the same counters queue up instead of deadlocking.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.reports.buckets import bucket
from storage.models.reports import (
    ReportCaseTime,
    ReportChannelDay,
    ReportDay,
    ReportLaneDay,
    ReportOfficerTime,
    ReportStepTime,
)

REJECTED_MARK = "reject"


def is_rejected(outcome: str | None) -> bool:
    """A completed case was rejected when the end event it reached has "reject" in its id
    (``request_rejected``, ``rejected_incomplete``...): docs/leadership.md."""
    return REJECTED_MARK in (outcome or "").lower()


def aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def day_of(moment: datetime) -> date:
    return aware(moment).astimezone(UTC).date()


def grains(day: date) -> tuple[tuple[str, date], tuple[str, date]]:
    """The daily and the monthly row a moment of ``day`` adds to."""
    return ("d", day), ("m", day.replace(day=1))


def seconds_between(start: datetime, end: datetime) -> float:
    return max(0.0, (aware(end) - aware(start)).total_seconds())


_DayKey = tuple[date, str, int]


@dataclass
class Tally:
    days: defaultdict[_DayKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    lanes: defaultdict[tuple[date, str, int, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0]))
    case_times: defaultdict[tuple[str, date, str, int, int], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0.0]))
    step_times: defaultdict[tuple[str, str, date, int, str, str, int], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0.0]))
    officer_times: defaultdict[tuple[str, date, int, str, str, int], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0.0]))
    channels: Counter[tuple[date, str, int, str]] = field(default_factory=Counter)

    def opened(self, *, service_code: str, center_id: int | None, at: datetime, channel: str = "counter") -> None:
        self.days[(day_of(at), service_code, center_id or 0)]["opened"] += 1
        self.channels[(day_of(at), service_code, center_id or 0, channel)] += 1

    def ended(self, *, service_code: str, center_id: int | None, status: str, outcome: str | None,
              opened_at: datetime, due_at: datetime | None, at: datetime) -> None:
        """A case left the open state at ``at``: completed (on time or late, maybe rejected) or cancelled."""
        day, center = day_of(at), center_id or 0
        counts = self.days[(day, service_code, center)]
        if status != "completed":
            counts["cancelled"] += 1
            return
        counts["completed"] += 1
        counts["rejected"] += int(is_rejected(outcome))
        counts["on_time" if due_at is None or aware(at) <= aware(due_at) else "late"] += 1
        spent = seconds_between(opened_at, at)
        b = bucket(spent)
        for grain, first in grains(day):
            row = self.case_times[(grain, first, service_code, center, b)]
            row[0] += 1
            row[1] += spent

    def task_done(self, *, service_code: str, center_id: int | None, lane: str, name: str, officer: str,
                  ready_at: datetime, claimed_at: datetime | None, due_at: datetime | None,
                  at: datetime) -> None:
        day, center = day_of(at), center_id or 0
        spent = seconds_between(ready_at, at)
        on_time = int(due_at is None or aware(at) <= aware(due_at))
        handled = seconds_between(claimed_at or ready_at, at)
        lane_row = self.lanes[(day, service_code, center, lane)]
        lane_row[0] += 1
        lane_row[1] += on_time
        spent_bucket, handled_bucket = bucket(spent), bucket(handled)
        for grain, first in grains(day):
            step = self.step_times[(service_code, grain, first, center, lane, name, spent_bucket)]
            step[0] += 1
            step[1] += on_time
            step[2] += spent
            mine = self.officer_times[(grain, first, center, officer, lane, handled_bucket)]
            mine[0] += 1
            mine[1] += handled

    def __bool__(self) -> bool:
        return bool(self.days or self.lanes or self.case_times or self.step_times or self.officer_times
                    or self.channels)

    def rows(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        """(table, rows) in the fixed writing order."""
        day_rows = [{"day": d, "service_code": s, "center_id": c, "opened": n["opened"],
                     "completed": n["completed"], "rejected": n["rejected"], "on_time": n["on_time"],
                     "late": n["late"], "cancelled": n["cancelled"]} for (d, s, c), n in sorted(self.days.items())]
        lane_rows = [{"day": d, "service_code": s, "center_id": c, "lane": ln, "completed": v[0], "on_time": v[1]}
                     for (d, s, c, ln), v in sorted(self.lanes.items())]
        case_rows = [{"grain": g, "day": d, "service_code": s, "center_id": c, "bucket": b, "count": int(v[0]),
                      "seconds": v[1]} for (g, d, s, c, b), v in sorted(self.case_times.items())]
        step_rows = [{"service_code": s, "grain": g, "day": d, "center_id": c, "lane": ln, "name": n, "bucket": b,
                      "count": int(v[0]), "on_time": int(v[1]), "seconds": v[2]}
                     for (s, g, d, c, ln, n, b), v in sorted(self.step_times.items())]
        officer_rows = [{"grain": g, "day": d, "center_id": c, "officer": o, "lane": ln, "bucket": b,
                         "count": int(v[0]), "seconds": v[1]}
                        for (g, d, c, o, ln, b), v in sorted(self.officer_times.items())]
        channel_rows = [{"day": d, "service_code": s, "center_id": c, "channel": ch, "opened": n}
                        for (d, s, c, ch), n in sorted(self.channels.items())]
        return [(ReportDay, day_rows), (ReportLaneDay, lane_rows), (ReportCaseTime, case_rows),
                (ReportStepTime, step_rows), (ReportOfficerTime, officer_rows), (ReportChannelDay, channel_rows)]


_statements: dict[tuple[str, str], Any] = {}


def _upsert(dialect: str, model: Any) -> Any:
    key = (dialect, model.__tablename__)
    if key not in _statements:
        table = model.__table__
        stmt = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))
        keys = [c.name for c in table.primary_key.columns]  # the counters a row adds to are keyed by these
        _statements[key] = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c.name: table.c[c.name] + stmt.excluded[c.name] for c in table.columns if c.name not in keys})
    return _statements[key]


def write_fresh(conn: Connection, tally: Tally) -> None:
    """Write the tally into emptied aggregate tables (the rebuild): COPY on PostgreSQL, which takes millions of
    rows in seconds where row-by-row upserts take minutes; plain inserts on SQLite."""
    if conn.dialect.name != "postgresql":
        for model, rows in tally.rows():
            for start in range(0, len(rows), 5000):
                conn.execute(model.__table__.insert(), rows[start:start + 5000])
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for model, rows in tally.rows():
        if not rows:
            continue
        columns = list(rows[0])
        with cursor.copy(f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


def add_to(conn: Connection, tally: Tally, *, chunk: int = 5000) -> None:
    """Add the tally's counts to the aggregate tables, inside the caller's transaction."""
    for model, rows in tally.rows():
        statement = _upsert(conn.dialect.name, model)
        for start in range(0, len(rows), chunk):
            conn.execute(statement, rows[start:start + chunk])
