"""Save and restore mid-run changes nothing (the idea of SpiffWorkflow's own ``save_restore`` test helper).

Each documented path is walked through the API. Before every step and at the end, the stored state is
restored against the cached spec and dumped again: the dump must be the stored state, byte for byte, and the
restored workflow must wait on exactly the tasks the inbox projection shows. The warm workflow cache is
cleared before every other step, so the walk alternates between warm and cold loads.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from engine.bpmn import runner
from engine.cases.workflows import workflow_cache
from engine.catalog import processes
from engine.core.settings import Settings
from harness.api import Api
from storage.db import engine_for
from storage.models.cases import Case, Task
from tests.services.papers import provide_papers
from tests.services.paths import PATHS, PROCESSES, ServicePath, take

restore = runner.load  # the real one: the engine's calls go through the counting wrapper below


def _assert_round_trip(settings: Settings, case_id: int) -> None:
    with Session(engine_for(settings.database_url)) as session:
        case = session.get(Case, case_id)
        assert case is not None
        projection = sorted((t.id, t.name) for t in session.exec(
            select(Task).where(Task.case_id == case_id, col(Task.state) == "ready")).all())
        process = processes.cache.get(session, case.process_version_id, settings)
        workflow = restore(process, case.state)
    assert runner.dump(workflow) == case.state
    assert sorted((t.id, t.name) for t in runner.ready_user_tasks(workflow)) == projection
    assert runner.is_completed(workflow) == (case.status == "completed")


@pytest.mark.parametrize("path", PATHS)
def test_save_restore_between_every_step(sqlite_api: Api, path: ServicePath,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    api, settings = sqlite_api, sqlite_api.settings
    cold_loads: list[str] = []

    def counting_load(process: Any, state: str) -> Any:
        cold_loads.append(state)
        return restore(process, state)

    monkeypatch.setattr(runner, "load", counting_load)
    assert api.deploy(PROCESSES / path.service, api.user("analyst")).status_code == 201
    r = api.open_case(path.service, api.user("front_desk"), data=path.case_data)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    provide_papers(api, path.service, case["id"])

    for number, step in enumerate(path.steps):
        _assert_round_trip(settings, case["id"])
        cold = number % 2 == 0
        if cold:
            workflow_cache(settings).clear()
        before = len(cold_loads)
        case = take(api, case, step)
        if step.is_task:
            assert len(cold_loads) - before == (1 if cold else 0), "the step did not take the expected load path"

    _assert_round_trip(settings, case["id"])
    assert case["status"] == "completed"
    assert case["outcome"] == path.end_event
    assert {key: case["data"].get(key) for key in path.expected_data} == path.expected_data
