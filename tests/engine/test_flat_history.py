"""Flat history (engine/bpmn/prune.py): a case returned for corrections many times keeps a short task tree,
and nothing a person or an auditor relies on changes: each step gives the same data, status and inbox as with
every task kept, the stored state restores to itself, replay agrees, and migration sees every element done."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from SpiffWorkflow.util.task import TaskState
from sqlmodel import Session

from api.app import create_app
from engine.bpmn import diff as bpmn_migrate
from engine.bpmn import runner
from engine.bpmn.serializer import serializer
from engine.cases import lifecycle as cases
from engine.cases import tasks, workflows
from engine.cases.replay import replay_case
from engine.catalog import processes
from engine.core import clock
from engine.core.settings import Settings
from engine.people.users import Actor
from harness.api import CITIZEN, Api
from harness.pages import deploy
from storage.db import engine_for
from storage.models.cases import Case
from tests.support.audit import CORRECT, REGISTER, RETURN, SERVICE
from tests.support.reports import BASE
from tests.support.versions import second_version

CLERK = Actor("clerk", frozenset({"front_desk"}))
REVIEWER = Actor("rev", frozenset({"reviewer"}))
KEEP = 4


def shape(state: str, settings: Settings, case: Case) -> Counter[tuple[str, str]]:
    with Session(engine_for(settings.database_url)) as session:
        workflow = runner.load(processes.cache.get(session, case.process_version_id, settings), state)
    return Counter((str(t.task_spec.bpmn_id or t.task_spec.name), TaskState.get_name(t.state))
                   for t in runner.all_tasks(workflow))


def walk(settings: Settings, loops: int, *, cold_every: int = 3) -> tuple[Case, list[dict[str, Any]], list[int]]:
    """Register, then ``loops`` times return and correct; what each step left, and the tree's size."""
    seen: list[dict[str, Any]] = []
    sizes: list[int] = []
    moment = BASE
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        with clock.frozen(moment):
            case = cases.open_case(session=session, service_code="audit_case", citizen=CITIZEN, data={},
                                   actor=CLERK, settings=settings).case
        assert case.id is not None
        plan = [(CLERK, REGISTER)] + [(REVIEWER, RETURN), (CLERK, CORRECT)] * loops
        for i, (actor, data) in enumerate(plan):
            if i % cold_every == 0:  # restored from the stored state, as on another API process
                workflows.workflow_cache(settings).clear()
            moment += timedelta(minutes=7)
            ready = cases.ready_tasks(session, case.id)
            assert len(ready) == 1
            with clock.frozen(moment):
                case = tasks.complete(session=session, task_id=ready[0].id, data=data, actor=actor,
                                      settings=settings).case
            seen.append({"data": case.data, "status": case.status,
                         "ready": [t.name for t in cases.ready_tasks(session, case.id)]})
            sizes.append(len(serializer.loads(case.state, *_specs(session, case, settings)).tasks))
    return case, seen, sizes


def _specs(session: Session, case: Case, settings: Settings) -> tuple[Any, Any]:
    process = processes.cache.get(session, case.process_version_id, settings)
    return process.spec, process.subprocess_specs


def test_a_case_returned_many_times_keeps_a_short_tree_and_the_same_answers(settings: Settings,
                                                                           tmp_path: Path) -> None:
    deploy(settings, SERVICE)
    pruned = settings.model_copy(update={"workflow_keep_finished": KEEP})
    full = settings.model_copy(update={"workflow_keep_finished": 0})
    short_case, short_steps, short_sizes = walk(pruned, 15)
    # The warm workflow (with its remembered conversions of finished tasks) dumps what a fresh conversion gives.
    assert short_case.id is not None
    warm = workflows.workflow_cache(pruned).take(pruned.database_url, short_case.id, short_case.version)
    assert warm is not None
    warm.__dict__.pop("_shubbak_finished_tasks", None)
    assert runner.dump(warm) == short_case.state
    long_case, long_steps, long_sizes = walk(full, 15)
    assert short_steps == long_steps  # data, status and inbox after every step
    assert long_sizes[-1] > 3 * long_sizes[4]  # every task kept: the tree grows with each loop
    assert max(short_sizes[-6:]) <= max(short_sizes[8:14])  # pruned: flat once the first loops are behind
    assert short_sizes[-1] < long_sizes[-1] / 3

    # The stored state restores to itself.
    with Session(engine_for(settings.database_url)) as session:
        spec, subs = _specs(session, short_case, settings)
        assert runner.dump(serializer.loads(short_case.state, spec, subs)) == short_case.state

    # Every element and state the case went through is still in its state (one witness each).
    assert set(shape(short_case.state, settings, short_case)) == set(shape(long_case.state, settings, long_case))

    # Replay (run with the same setting) agrees with the stored case, step by step and at the end.
    with Session(engine_for(settings.database_url)) as session:
        assert replay_case(session=session, case_id=short_case.id, settings=pruned).as_dict() == {
            "consistent": True, "events_replayed": 32, "divergence": None}
        assert replay_case(session=session, case_id=long_case.id, settings=full).consistent

    # Migration sees the same history: what blocks the long case blocks the short one.
    with TestClient(create_app(settings)) as client:
        second_version(Api(client, settings), tmp_path)
    with Session(engine_for(settings.database_url)) as session:
        v2 = processes.latest_version(session, "audit_case")
        assert v2.id is not None and v2.version == 2
        target = processes.cache.get(session, v2.id, settings)
        old = processes.cache.get(session, short_case.process_version_id, settings)
        short_blockers = bpmn_migrate.blockers(runner.load(old, short_case.state), target)
        long_blockers = bpmn_migrate.blockers(runner.load(old, long_case.state), target)
    assert short_blockers == long_blockers and short_blockers


def test_a_case_with_few_steps_is_left_as_it_is(settings: Settings) -> None:
    deploy(settings, SERVICE)
    pruned = settings.model_copy(update={"workflow_keep_finished": 40})
    full = settings.model_copy(update={"workflow_keep_finished": 0})
    short_case, _steps, _sizes = walk(pruned, 2)
    long_case, _steps, _sizes = walk(full, 2)
    assert shape(short_case.state, settings, short_case) == shape(long_case.state, settings, long_case)


def test_an_old_state_with_every_task_is_pruned_to_what_a_pruned_case_holds(settings: Settings) -> None:
    """A case that grew before pruning existed: its next step prunes it to the same tree as a case pruned all
    along, so its replay (which prunes as it goes) still agrees."""
    deploy(settings, SERVICE)
    pruned = settings.model_copy(update={"workflow_keep_finished": KEEP})
    full = settings.model_copy(update={"workflow_keep_finished": 0})
    grown, _steps, _sizes = walk(full, 10)  # every task kept, like a state written before the upgrade
    all_along, _steps, _sizes = walk(pruned, 11)
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        assert grown.id is not None
        workflows.workflow_cache(pruned).clear()
        ready = cases.ready_tasks(session, grown.id)
        with clock.frozen(BASE + timedelta(days=1)):
            grown = tasks.complete(session=session, task_id=ready[0].id, data=RETURN, actor=REVIEWER,
                                   settings=pruned).case
        ready = cases.ready_tasks(session, grown.id)
        with clock.frozen(BASE + timedelta(days=1, minutes=1)):
            grown = tasks.complete(session=session, task_id=ready[0].id, data=CORRECT, actor=CLERK,
                                   settings=pruned).case
        assert shape(grown.state, settings, grown) == shape(all_along.state, settings, all_along)
        found = replay_case(session=session, case_id=grown.id, settings=pruned)
        assert found.consistent, found.divergence
