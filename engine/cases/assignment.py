"""Who gets a ready task: the lane's rule at the case's center, the officers present, the four eyes.

A lane's rule is the center's own (set by its supervisor, ``assignment_rule``), else the service's
``[assignment] lanes`` (service.toml), else ``pick``: officers claim from the lane's inbox, as before. Under an
automatic rule a task is given (``task.claimed_by``, shown as ``assigned_to``) in the transaction that makes it
ready (engine/cases/workflows.py ``save``), with a ``task_assigned`` event naming the rule:

* ``round_robin``: the officers in turn, by username, after the one who had the last task of the lane;
* ``least_loaded``: the fewest ready tasks given to them, ties to the one idle longest (given nothing the
  longest), then by username;
* ``random``: any of them, from the system's random source.

When nobody may be chosen the task stays in the lane, given to no one, with a ``task_waiting`` event: under an
automatic rule no officer may take it; the periodic job gives it out as soon as someone is present, and
supervisors see it waiting (the workload's lanes, bulk operations' ``officer: ""``) and may reassign it.

Who may be chosen: active holders of the lane working at the case's center (or at its parent, when the service
says ``parent_center``), not absent and not unavailable that day (engine/people/presence.py), and, for a step of
the service's ``four_eyes`` list, nobody who completed another step of that list in the same case.

Every choice of a center's lane first bumps the lane's turn row (``assignment_turn``): an UPDATE, so on
PostgreSQL it holds the row lock, and on SQLite the database's one writer, until the case's commit. Two
choices of one lane therefore never read the same turn, and a choice that loses its case's race is rolled back
with it. Nothing here commits or writes a case's chain: the caller does.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.bpmn.service_info import Assignment
from engine.core.settings import Settings
from engine.people import presence
from storage.models.assignment import AssignmentRule, AssignmentTurn
from storage.models.base import tables
from storage.models.cases import Task
from storage.models.centers import Center
from storage.models.people import User

AUTOMATIC = ("round_robin", "least_loaded", "random")
PICK = "pick"
TASK_ASSIGNED = "task_assigned"
#: A task of an automatic lane that found nobody to give it to: it waits in the lane, where no officer may take
#: it, for the periodic job to give it out (or a supervisor to reassign it); supervisors see it waiting.
TASK_WAITING = "task_waiting"

_RULES, _TURNS, _TASKS, _USERS, _CENTERS = tables(AssignmentRule, AssignmentTurn, Task, User, Center)


@dataclass(frozen=True)
class Choice:
    """One task given: to whom, by which rule, and who the four eyes kept out."""

    username: str
    rule: str
    kept_out: tuple[str, ...] = ()

    def event(self, task_id: str, task_name: str, lane: str, **more: Any) -> tuple[str, str, dict[str, Any]]:
        data: dict[str, Any] = {"task_id": task_id, "to": self.username, "rule": self.rule, "lane": lane, **more}
        if self.kept_out:
            data["four_eyes"] = list(self.kept_out)
        return (TASK_ASSIGNED, task_name, data)


def center_rules(conn: Connection, center_id: int | None, lanes: Iterable[str]) -> dict[str, str]:
    """The center's own rules of ``lanes`` (one statement; none for a case without a center)."""
    wanted = sorted(set(lanes))
    if center_id is None or not wanted:
        return {}
    rows = conn.execute(core_select(_RULES.c.lane, _RULES.c.rule).where(_RULES.c.center_id == center_id,
                                                                        _RULES.c.lane.in_(wanted)))
    return {row.lane: row.rule for row in rows}


def rule_of(lane: str, own: dict[str, str], service: Assignment) -> str:
    """The rule of ``lane``: the center's, else the service's, else ``pick``."""
    return own.get(lane) or service.lanes.get(lane) or PICK


def kept_out(conn: Connection, case_id: int, task_name: str, service: Assignment) -> set[str]:
    """Who completed another step of the service's four-eyes list in this case (none if this step is not on it)."""
    if task_name not in service.four_eyes:
        return set()
    others = [name for name in service.four_eyes if name != task_name] or [task_name]
    rows = conn.execute(core_select(_TASKS.c.completed_by).where(
        _TASKS.c.case_id == case_id, _TASKS.c.state == "completed", _TASKS.c.name.in_(others)))
    return {name for name in rows.scalars() if name}


def officers(conn: Connection, center_ids: Iterable[int], lane: str) -> list[str]:
    """Active holders of ``lane`` working at one of ``center_ids``, by username."""
    rows = conn.execute(core_select(_USERS.c.username, _USERS.c.roles).where(
        _USERS.c.active.is_(True), _USERS.c.center_id.in_(sorted(set(center_ids)))))
    return sorted(row.username for row in rows if lane in (row.roles or []))


def centers_of(conn: Connection, center_id: int, service: Assignment) -> list[int]:
    """The centers whose officers may be chosen for a case of ``center_id``."""
    if not service.parent_center:
        return [center_id]
    parent = conn.execute(core_select(_CENTERS.c.parent_id).where(_CENTERS.c.id == center_id)).scalar()
    return [center_id] if parent is None else [center_id, parent]


def pool(conn: Connection, *, case_id: int, center_id: int, task_name: str, lane: str, service: Assignment,
         settings: Settings, now: datetime, leave_out: Iterable[str] = ()) -> tuple[list[str], tuple[str, ...]]:
    """(who may be chosen, whom the four eyes kept out)."""
    found = officers(conn, centers_of(conn, center_id, service), lane)
    out = kept_out(conn, case_id, task_name, service)
    gone = presence.away(conn, found, presence.today(settings, now)) | set(leave_out)
    return [name for name in found if name not in out and name not in gone], tuple(sorted(out & set(found)))


def _take_turn(conn: Connection, center_id: int, lane: str) -> str | None:
    """Bump the lane's turn (creating it the first time) and hold it to the end of the transaction; the
    username the last choice went to."""
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(_TURNS).values(center_id=center_id, lane=lane, turns=1, last_username=None)
    upsert = upsert.on_conflict_do_update(index_elements=["center_id", "lane"], set_={"turns": _TURNS.c.turns + 1})
    return conn.execute(upsert.returning(_TURNS.c.last_username)).scalar()


def _least_loaded(conn: Connection, names: list[str]) -> str:
    load = conn.execute(core_select(
        _TASKS.c.claimed_by, func.sum(sql_case((_TASKS.c.state == "ready", 1), else_=0)).label("open"),
        func.max(_TASKS.c.assigned_at).label("last")).where(_TASKS.c.claimed_by.in_(names))
        .group_by(_TASKS.c.claimed_by)).all()
    by_name = {row.claimed_by: (int(row.open or 0), row.last) for row in load}

    def key(name: str) -> tuple[int, int, str, str]:
        open_, last = by_name.get(name, (0, None))
        # Never given anything: idle longest of all.
        return (open_, 0 if last is None else 1, "" if last is None else str(last), name)
    return min(names, key=key)


def choose(conn: Connection, *, rule: str, center_id: int, lane: str, names: list[str]) -> str | None:
    """The officer ``rule`` picks among ``names`` (None: nobody to give it to); takes the lane's turn."""
    if rule not in AUTOMATIC or not names:
        return None
    last = _take_turn(conn, center_id, lane)
    if rule == "round_robin":
        after = [name for name in names if last is not None and name > last]
        chosen = (after or names)[0]
    elif rule == "least_loaded":
        chosen = _least_loaded(conn, names)
    else:
        chosen = secrets.choice(names)
    conn.execute(_TURNS.update().where(_TURNS.c.center_id == center_id, _TURNS.c.lane == lane)
                 .values(last_username=chosen))
    return chosen


def assign_new(conn: Connection, *, case_id: int, center_id: int | None, rows: list[dict[str, Any]],
               service: Assignment, settings: Settings, now: datetime,
               own: dict[str, str] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """Give each new task row (the projection's dicts, about to be inserted) under an automatic rule to an
    officer: sets the row's ``claimed_by`` and ``assigned_at``; the ``task_assigned`` events to append.
    ``own``: the center's rules, already read by the command (``center_rules`` of at least the rows' lanes),
    so they are not read twice; None reads them here."""
    if center_id is None or not rows:
        return []
    if own is None:
        own = center_rules(conn, center_id, {row["lane"] for row in rows})
    events = []
    for row in rows:
        rule = rule_of(row["lane"], own, service)
        if rule not in AUTOMATIC:
            continue
        names, out = pool(conn, case_id=case_id, center_id=center_id, task_name=row["name"], lane=row["lane"],
                          service=service, settings=settings, now=now)
        chosen = choose(conn, rule=rule, center_id=center_id, lane=row["lane"], names=names)
        if chosen is None:
            # Nobody present (or all kept out by the four eyes): recorded, and given out by the periodic job when
            # someone is (engine/cases/distribution.py).
            data: dict[str, Any] = {"task_id": row["id"], "rule": rule, "lane": row["lane"], "to": None,
                                    "reason": "nobody_present"}
            if out:
                data["four_eyes"] = list(out)
            events.append((TASK_WAITING, row["name"], data))
            continue
        row["claimed_by"], row["assigned_at"] = chosen, now
        events.append(Choice(chosen, rule, out).event(row["id"], row["name"], row["lane"]))
    return events
