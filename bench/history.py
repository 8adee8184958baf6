"""Does a step cost more as a case's history grows? Return-for-corrections loops, timed per step.

A building permit returned for corrections N times: each loop is two user tasks (review → return,
correct request). Prints the median time of a step in the first loops and in the last ones, warm (workflow kept in
memory) or cold (restored from the stored state), and the state's size, so growth with history is visible.
"""

from __future__ import annotations

import json
import statistics
import time

from bench.workload import CITIZEN, SERVICE
from engine.cases import lifecycle as case_commands
from engine.cases import tasks as task_commands
from engine.cases import workflows
from engine.core.settings import Settings
from engine.people.users import Actor
from storage.db import session_for

_PATHS = json.loads((SERVICE / "paths.json").read_text(encoding="utf-8"))
_RETURNED = next(p for p in _PATHS if p["name"] == "returned_then_approved")["steps"]
REGISTER, RETURN, CORRECT = _RETURNED[0]["data"], _RETURNED[1]["data"], _RETURNED[2]["data"]


def run(settings: Settings, loops: int, *, cold: bool) -> dict[str, float]:
    clerk = Actor("bench_front_desk", frozenset({"front_desk"}))
    engineer = Actor("bench_engineering", frozenset({"engineering"}))
    times: list[float] = []
    with session_for(settings.database_url) as session:
        case = case_commands.open_case(session=session, service_code="building_permit", citizen=CITIZEN, data={},
                                       actor=clerk, settings=settings).case
        assert case.id is not None

        def step(actor: Actor, data: dict[str, object]) -> None:
            nonlocal case
            assert case.id is not None
            task = case_commands.ready_tasks(session, case.id)[0]
            if cold:  # restore from the stored state, as after a restart or on another API process
                workflows.workflow_cache(settings).clear()
            t0 = time.perf_counter()
            case = task_commands.complete(session=session, task_id=task.id, data=data, actor=actor,
                                          settings=settings).case
            times.append((time.perf_counter() - t0) * 1000)

        step(clerk, REGISTER)
        first_state = len(case.state)
        for _ in range(loops):
            step(engineer, RETURN)
            step(clerk, CORRECT)
    window = min(10, loops)
    return {"first_ms": statistics.median(times[1:1 + 2 * window]), "last_ms": statistics.median(times[-2 * window:]),
            "first_state_kb": first_state / 1024, "last_state_kb": len(case.state) / 1024,
            "steps": float(len(times))}
