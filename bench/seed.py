"""Fill the database with open cases for the inbox timing: rows copied from one real case.

Opening 100,000 cases through the engine would take most of the benchmark's time and measure nothing new;
the inbox query only reads the task projection, so each seeded case is a copy of a case the engine really
opened (same state, same projection), with its own id, tracking number and task id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlmodel import select

from bench.workload import CITIZEN
from engine.cases import lifecycle as case_commands
from engine.core.settings import Settings
from engine.core.tracking import new_tracking_number
from engine.people.users import Actor
from storage.db import session_for
from storage.models.cases import Case, Task


def seed_open_cases(settings: Settings, count: int, batch: int = 5000) -> None:
    actor = Actor("bench_front_desk", frozenset({"front_desk"}))
    with session_for(settings.database_url) as session:
        model = case_commands.open_case(session=session, service_code="building_permit", citizen=CITIZEN,
                                        data={}, actor=actor, settings=settings).case
        task = session.exec(select(Task).where(Task.case_id == model.id)).one()
        base = {k: v for k, v in model.model_dump().items() if k not in {"id", "tracking_number"}}
        next_id = (model.id or 0) + 1
        seen: set[str] = set()
        start = datetime.now(UTC) - timedelta(days=30)
        done = 0
        while done < count:
            n = min(batch, count - done)
            case_rows, task_rows = [], []
            for i in range(n):
                number = new_tracking_number(settings.tracking_digits)
                while number in seen:
                    number = new_tracking_number(settings.tracking_digits)
                seen.add(number)
                created = start + timedelta(seconds=done + i)
                case_rows.append({**base, "id": next_id, "tracking_number": number, "created_at": created,
                                  "updated_at": created})
                task_rows.append({"id": str(uuid.uuid4()), "case_id": next_id, "tracking_number": number,
                                  "service_code": "building_permit", "name": task.name, "title": task.title,
                                  "lane": task.lane, "form": task.form, "state": "ready", "created_at": created})
                next_id += 1
            session.execute(insert(Case), case_rows)
            session.execute(insert(Task), task_rows)
            session.commit()
            done += n
