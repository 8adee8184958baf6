"""Automatic assignment's test world: a deployed test_permit, the center tree, users made at will, and the
refusals said by message id (tests/api/test_assignment.py, tests/api/test_absences.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from engine.cases import distribution
from engine.core import chain
from engine.core.refusals import say
from harness.api import Api
from harness.pages import center_tree
from harness.settings import TEST_PROCESSES
from storage.db import engine_for

REGISTER = {"area": 120, "purpose": "family house"}


class Place:
    """A deployed test_permit and the center tree; users made at will."""

    def __init__(self, api: Api) -> None:
        self.api = api
        with Session(engine_for(api.settings.database_url)) as session:
            self.ids = center_tree(session)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
        self.supervisor = api.user("supervisor", username="sup_a", center_id=self.ids["CITY-A"])
        self.clerk = api.user("front_desk", username="clerk_a", center_id=self.ids["CITY-A"])

    def user(self, name: str, *roles: str, center: str = "CITY-A") -> dict[str, str]:
        return self.api.user(*roles, username=name, center_id=self.ids[center])

    def rule(self, lane: str, rule: str, headers: dict[str, str] | None = None, center: str = "CITY-A") -> Any:
        return self.api.client.put(f"/api/centers/{center}/assignment/{lane}", json={"rule": rule},
                                   headers=headers or self.supervisor)

    def register(self, clerk: dict[str, str] | None = None) -> dict[str, Any]:
        """Open a case at the clerk's center and register it: the case as the step left it (a review ready)."""
        clerk = clerk or self.clerk
        case = self.api.open_case("test_permit", clerk)
        assert case.status_code == 201, case.text
        done = self.api.complete(case.json()["tasks"][0]["id"], REGISTER, clerk)
        assert done.status_code == 200, done.text
        return dict(done.json())

    def tick(self, now: datetime | None = None) -> distribution.TickResult:
        """One round of the assignment job, at ``now`` (the test clock) or the real time."""
        with Session(engine_for(self.api.settings.database_url)) as session:
            return distribution.tick(session=session, settings=self.api.settings, now=now)

    def events(self, case_id: int) -> list[Any]:
        with Session(engine_for(self.api.settings.database_url)) as session:
            return chain.events_of(session, case_id)


def refused(r: Any, status: int, message_id: str, **params: Any) -> bool:
    """The response is the refusal ``message_id`` (its English sentence) with ``status``."""
    body = r.json()
    said = body.get("message") if status == 422 else body.get("detail")
    assert (r.status_code, said) == (status, str(say(message_id, **params))), r.text
    return True


def review(case: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in case["tasks"] if t["name"] == "review")
