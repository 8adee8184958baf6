"""(b) Shubbak's engine commands with database commits, no HTTP."""

from __future__ import annotations

import time

from bench.workload import CITIZEN, approved_path
from engine.cases import lifecycle as case_commands
from engine.cases import tasks as task_commands
from engine.core.settings import Settings
from engine.people.users import Actor
from storage.db import session_for


def run(settings: Settings, count: int) -> float:
    actors = {lane: Actor(f"bench_{lane}", frozenset({lane})) for lane in ("front_desk", "engineering")}
    steps = approved_path()
    started = time.perf_counter()
    with session_for(settings.database_url) as session:
        for _ in range(count):
            case = case_commands.open_case(session=session, service_code="building_permit", citizen=CITIZEN,
                                           data={}, actor=actors["front_desk"], settings=settings).case
            assert case.id is not None
            for step in steps:
                ready = case_commands.ready_tasks(session, case.id)
                assert ready[0].name == step.task
                case = task_commands.complete(session=session, task_id=ready[0].id, data=step.data,
                                              actor=actors[step.lane], settings=settings).case
            assert case.status == "completed"
    return count / (time.perf_counter() - started)
