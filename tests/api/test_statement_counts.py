"""What one task completion costs in SQL statements, on the API and on the pages: the command returns what the
faces show (the case, its ready tasks, its version), so a route makes no second trip, and the page hands the raw
form to the engine, which parses and validates it once. A change that makes either face read again what the
command already knew fails here: the counts are ceilings, measured (docs/architecture.md has the numbers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from harness.api import Api
from harness.pages import Pages
from harness.settings import TEST_PROCESSES
from storage.db import engine_for

# Statements of one request on SQLite, as the driver is handed them (measured; before commands returned their
# outcome they were 8, 8, 12, 14 and 20). Lower them when the hot path gets cheaper; never raise them to let a
# second trip back in.
API_OPEN = 7
API_CLAIM = 6
API_COMPLETE = 10
PAGE_COMPLETE = 12
PAGE_FORM_ERROR = 17  # the page shown again: its record, labels and papers panel, not the step loaded again


@contextmanager
def counted(url: str) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = engine_for(url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def permit(sqlite_api: Api) -> Api:
    assert sqlite_api.deploy(TEST_PROCESSES / "test_permit", sqlite_api.user("analyst")).status_code == 201
    return sqlite_api


def _show(statements: list[str]) -> str:
    return f"{len(statements)} statements:\n" + "\n".join(s.split("\n")[0][:110] for s in statements)


def test_one_completion_on_the_api(permit: Api) -> None:
    clerk = permit.user("front_desk")
    with counted(permit.settings.database_url) as opening:
        case = permit.open_case("test_permit", clerk)
    assert case.status_code == 201
    task_id = case.json()["tasks"][0]["id"]
    with counted(permit.settings.database_url) as claiming:
        assert permit.client.post(f"/api/tasks/{task_id}/claim", headers=clerk).json()["claimed_by"]
    with counted(permit.settings.database_url) as completing:
        done = permit.complete(task_id, {"area": 120, "purpose": "family house"}, clerk)
    assert done.status_code == 200, done.text
    body = done.json()
    assert [t["name"] for t in body["tasks"]] == ["review"] and body["process_version"] == 1
    assert body["data"]["area"] == 120
    assert len(opening) <= API_OPEN, _show(opening)
    assert len(claiming) <= API_CLAIM, _show(claiming)
    assert len(completing) <= API_COMPLETE, _show(completing)


@contextmanager
def on_a_task_page(permit: Api, username: str) -> Iterator[tuple[TestClient, str, str]]:
    """A clerk signed in on the pages, at the first step of a case just opened: the client, the task, its form's
    CSRF token."""
    clerk = permit.user("front_desk", username=username)
    task_id = permit.open_case("test_permit", clerk).json()["tasks"][0]["id"]
    with TestClient(permit.client.app, follow_redirects=False) as client:  # type: ignore[arg-type]
        pages = Pages(client, permit.settings)
        assert pages.sign_in(username).status_code == 303
        yield client, task_id, pages.token(f"/tasks/{task_id}")


def test_one_completion_on_the_pages(permit: Api) -> None:
    with on_a_task_page(permit, "page_clerk") as (client, task_id, token):
        with counted(permit.settings.database_url) as completing:
            r = client.post(f"/tasks/{task_id}", data={"csrf_token": token, "data.area": "120",
                                                       "data.purpose": "family house"})
        assert r.status_code == 303 and r.headers["location"] == "/inbox", r.text
        with counted(permit.settings.database_url) as refused:
            wrong = client.post(f"/tasks/{task_id}", data={"csrf_token": token, "data.area": "-1", "data.purpose": "x"})
    assert wrong.status_code == 303 and wrong.headers["location"] == f"/tasks/{task_id}"  # done: said, not redone
    assert len(refused) <= 4, _show(refused)  # the guard's task, the step's case: refused before any write
    assert len(completing) <= PAGE_COMPLETE, _show(completing)


def test_a_form_error_on_the_page_is_one_trip_down(permit: Api) -> None:
    with on_a_task_page(permit, "page_clerk2") as (client, task_id, token), \
            counted(permit.settings.database_url) as refused:
        r = client.post(f"/tasks/{task_id}", data={"csrf_token": token, "data.area": "-1", "data.purpose": "x"})
    assert r.status_code == 422
    assert 'aria-invalid="true"' in r.text and 'value="-1"' in r.text  # what was typed, shown again
    assert len(refused) <= PAGE_FORM_ERROR, _show(refused)
    assert sum("FROM task" in s for s in refused) == 1 and sum(s.startswith("INSERT") for s in refused) == 0


# A completion by a clerk of a center (measured): the center's tree and holidays are read too, and the lanes'
# rules once (may the unclaimed task be completed; are the new tasks given out: the step reads the rules of every
# lane of the process and hands them to the save; 15 when they were read twice). When the next lane gives its
# tasks out (engine/cases/assignment.py), six more: the officers, their absences and days off, the lane's turn
# (an UPSERT, then who got it) and the chain head of the task_assigned event.
API_COMPLETE_AT_CENTER = 14
API_COMPLETE_ASSIGNING = 20


def test_a_completion_that_gives_the_next_task_out(sqlite_api: Api) -> None:
    from tests.support.assignment import REGISTER, Place

    place = Place(sqlite_api)
    place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    costs = []
    for rule in ("pick", "round_robin"):
        assert place.rule("reviewer", rule).status_code == 200
        case = sqlite_api.open_case("test_permit", place.clerk).json()
        with counted(sqlite_api.settings.database_url) as completing:
            done = sqlite_api.complete(case["tasks"][0]["id"], REGISTER, place.clerk)
        assert done.status_code == 200, done.text
        assert done.json()["tasks"][0]["assigned_to"] == (None if rule == "pick" else "rev_a")
        costs.append(completing)
    assert len(costs[0]) <= API_COMPLETE_AT_CENTER, _show(costs[0])
    assert len(costs[1]) <= API_COMPLETE_ASSIGNING, _show(costs[1])
