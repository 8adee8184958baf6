"""Count the SQL statements of one lifecycle (SQLAlchemy's ``before_cursor_execute`` event), command by command.

The building permit's approved path through the engine commands: opening the case, then each user task the
last command's outcome names as ready (cases.Outcome: no read of the projection in between), completed.
Printed by ``make bench`` so a statement that creeps into the hot path shows up as a number.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.workload import CITIZEN, approved_path
from engine.cases import lifecycle as case_commands
from engine.cases import tasks as task_commands
from engine.core.settings import Settings
from engine.people.users import Actor
from storage.db import engine_for, session_for


@dataclass
class Counted:
    statements: list[str] = field(default_factory=list)
    commits: int = 0


@contextmanager
def counting(engine: Engine) -> Iterator[Counted]:
    counted = Counted()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counted.statements.append(" ".join(statement.split())[:160])

    def on_commit(_conn: Any) -> None:
        counted.commits += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


def lifecycle(settings: Settings) -> list[tuple[str, Counted]]:
    """(command, what it ran) for one approved building permit; the workflow is warm, as in (b) and (c)."""
    actors = {lane: Actor(f"bench_{lane}", frozenset({lane})) for lane in ("front_desk", "engineering")}
    db = engine_for(settings.database_url)
    out: list[tuple[str, Counted]] = []
    with session_for(settings.database_url) as session:
        with counting(db) as counted:
            outcome = case_commands.open_case(session=session, service_code="building_permit", citizen=CITIZEN,
                                              data={}, actor=actors["front_desk"], settings=settings)
        out.append(("open_case", counted))
        for step in approved_path():
            with counting(db) as counted:  # the ready tasks are the last command's outcome: no query for them
                outcome = task_commands.complete(session=session, task_id=outcome.tasks[0].id, data=step.data,
                                                 actor=actors[step.lane], settings=settings)
            out.append((f"complete {step.task}", counted))
    return out


def summary(settings: Settings, *, verbose: bool = False) -> list[str]:
    counted = lifecycle(settings)
    total = sum(len(c.statements) for _, c in counted)
    commits = sum(c.commits for _, c in counted)
    lines = [f"    SQL statements of one lifecycle (engine commands, each step's task taken from the last one's "
             f"outcome, counted by SQLAlchemy): {total}, "
             f"{commits} commits (" + ", ".join(f"{name} {len(c.statements)}" for name, c in counted) + ")"]
    if verbose:
        for name, c in counted:
            lines.append(f"      {name}:")
            lines.extend(f"        {s}" for s in c.statements)
    return lines
