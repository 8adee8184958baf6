"""Who may see and act on a task: one rule (engine/people/policy.py), the same answer from the engine, the API and the
pages, for every role from the task's own center, a sibling center and the parent center.

The answer for readers who are not the task's lane (auditors, supervisors, admins): they read the task where
they see its center, and never act on it — no claim, no completion, no task in their inbox, no decision form
on their page. The expectations are tests/support/policy.py's, written out by hand; the same table is checked
here through every door a task has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.cases import escalation, tasks
from engine.people import policy
from engine.people.users import actor_from_token
from harness.pages import Pages
from storage.db import session_for
from storage.models.cases import Task
from tests.support.policy import EXPECTED, PLACES, ROLES, World, expected, seeded

CALLERS = [(role, place) for role in ROLES for place in PLACES]
DECISION_FORM = 'id="form-h"'


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          sqlite_template: Path) -> Iterator[World]:
    yield from seeded(request, tmp_path_factory, sqlite_template)


def _may(action: str, role: str, place: str) -> bool:
    return expected(action, role, place, signed_out=401) == "ok"


def test_the_rule_for_readers_is_read_never_act() -> None:
    readers = EXPECTED["task.read"][0]
    actors = EXPECTED["task.act"][0]
    assert readers is not None and actors is not None
    assert {"auditor", "supervisor", "admin"} <= readers and not {"auditor", "supervisor", "admin"} & actors
    assert actors == {"reviewer"}  # the task's own lane, and nobody else


def test_engine_answers_the_matrix(world: World) -> None:
    settings = world.api.settings
    wrong = []
    with session_for(settings.database_url) as session:
        task = session.get(Task, world.task_id)
        assert task is not None
        for role, place in CALLERS:
            token = world.headers[role, place]["Authorization"].removeprefix("Bearer ")
            actor = actor_from_token(session=session, token=token, settings=settings)
            for action in ("task.read", "task.act"):
                if policy.may_on_task(session, actor, action, task, settings) != _may(action, role, place):
                    wrong.append(f"{role} at {place}: {action}")
            listed = world.task_id in {row.id for row in tasks.inbox(session=session, actor=actor)}
            if listed != _may("task.act", role, place):
                wrong.append(f"{role} at {place}: inbox lists it: {listed}")
            choices = escalation.officers(session)(task.lane, task.center_id)
            if (actor.username in choices) != _may("task.act", role, place):
                wrong.append(f"{role} at {place}: a supervisor may hand it to them: {actor.username in choices}")
    assert wrong == []


def test_the_api_answers_the_matrix(world: World) -> None:
    client = world.api.client
    wrong = []
    for role, place in CALLERS:
        headers = world.headers[role, place]
        read = client.get(f"/api/tasks/{world.task_id}", headers=headers)
        if read.status_code != (200 if _may("task.read", role, place) else 403):
            wrong.append(f"{role} at {place}: GET task {read.status_code}")
        # Nothing is changed: an allowed completion with a form missing its fields is the form's 422.
        act = client.post(f"/api/tasks/{world.task_id}/complete", json={"data": {}}, headers=headers)
        if act.status_code != (422 if _may("task.act", role, place) else 403):
            wrong.append(f"{role} at {place}: complete {act.status_code} {act.text[:80]}")
        inbox = client.get("/api/tasks", headers=headers)
        assert inbox.status_code == 200
        if (world.task_id in {t["id"] for t in inbox.json()}) != _may("task.act", role, place):
            wrong.append(f"{role} at {place}: the API's inbox")
    assert wrong == []


def test_the_pages_answer_the_matrix(world: World) -> None:
    app = world.api.client.app
    wrong = []
    for role, place in CALLERS:
        with TestClient(app, follow_redirects=False) as client:  # type: ignore[arg-type]
            pages = Pages(client, world.api.settings)
            assert pages.sign_in(f"m_{role}_{place}").status_code == 303
            page = client.get(f"/tasks/{world.task_id}")
            if page.status_code != (200 if _may("task.read", role, place) else 403):
                wrong.append(f"{role} at {place}: task page {page.status_code}")
            if page.status_code == 200 and (DECISION_FORM in page.text) != _may("task.act", role, place):
                wrong.append(f"{role} at {place}: the decision form is offered: {DECISION_FORM in page.text}")
            act = pages.post(f"/tasks/{world.task_id}/claim", {}, token_from="/track")
            if (act.status_code == 403) == _may("task.act", role, place):
                wrong.append(f"{role} at {place}: claim {act.status_code}")
            elif act.status_code == 303:  # the lane's own officer took it: give it back for the next caller
                assert pages.post(f"/tasks/{world.task_id}/release", {}, token_from="/track").status_code == 303
            inbox = client.get("/inbox")
            if (f'href="/tasks/{world.task_id}"' in inbox.text) != _may("task.act", role, place):
                wrong.append(f"{role} at {place}: the inbox page")
    assert wrong == []
