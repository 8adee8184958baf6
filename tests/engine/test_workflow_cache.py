"""The warm cache of restored workflows (engine/cases/workflows.py ``WorkflowCache``): an open case's workflow is
kept for its next step; a finished case's is not, so finished cases neither hold memory nor push out the open
ones; and a finished case touched again is restored from its stored state."""

from __future__ import annotations

from sqlmodel import Session

from engine.bpmn import runner
from engine.cases import lifecycle as cases
from engine.cases import tasks, workflows
from engine.catalog import processes
from engine.core.settings import Settings
from engine.people.users import Actor
from harness.api import CITIZEN
from harness.pages import deploy
from storage.db import engine_for
from tests.support.audit import APPROVE, REGISTER, SERVICE

CLERK = Actor("clerk", frozenset({"front_desk"}))
REVIEWER = Actor("rev", frozenset({"reviewer"}))


def test_an_open_case_stays_warm_and_a_finished_one_is_let_go(settings: Settings) -> None:
    deploy(settings, SERVICE)
    cache = workflows.workflow_cache(settings)
    cache.clear()
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        case = cases.open_case(session=session, service_code="audit_case", citizen=CITIZEN, data={},
                               actor=CLERK, settings=settings).case
        assert case.id is not None
        for actor, data in ((CLERK, REGISTER), (REVIEWER, APPROVE), (CLERK, {})):
            # Open between the steps: its workflow waits in the cache, at the version the case row has now.
            warm = cache.take(settings.database_url, case.id, case.version)
            assert warm is not None
            cache.give_back(settings.database_url, case.id, case.version, warm)
            ready = cases.ready_tasks(session, case.id)
            case = tasks.complete(session=session, task_id=ready[0].id, data=data, actor=actor,
                                  settings=settings).case
        assert case.status == "completed"
        assert cache.take(settings.database_url, case.id, case.version) is None
        # Touched again (an auditor's replay, a move between versions), it comes back from its stored state.
        process = processes.cache.get(session, case.process_version_id, settings)
        assert runner.dump(workflows.load(case, process, settings)) == case.state
