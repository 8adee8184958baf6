"""Helpers to drive the API in tests as different people."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from engine.cases import lifecycle as cases
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from engine.people.users import Actor, create_user, issue_token
from harness.settings import TEST_PROCESSES
from storage.db import engine_for

_counter = itertools.count(1)

CITIZEN = {"national_id": "29001011234567", "full_name": "سارة أحمد محمود", "phone": "+201001234567"}


def case_and_clerk(session: Session, settings: Settings, service_code: str,
                   username: str) -> tuple[int, dict[str, str]]:
    """One open case of ``service_code`` and the bearer headers of the front-desk clerk ``username`` who opened
    it, made through the engine (an upload test or bench needs a case to attach papers to, not the API's trip)."""
    case = cases.open_case(session=session, service_code=service_code, citizen=CITIZEN, data={},
                           actor=Actor(username, frozenset({"front_desk"})), settings=settings).case
    user = create_user(session=session, username=username, password="correct horse", full_name="Clerk",
                       roles=["front_desk"], settings=settings, installation_wide=True)
    assert case.id is not None
    return case.id, {"Authorization": f"Bearer {issue_token(user, settings)}"}


class Api:
    """A TestClient plus a way to become any user with any roles, without paying for a password login."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def user(self, *roles: str, username: str | None = None, password: str = "correct horse",
             center_id: int | None = None) -> dict[str, str]:
        name = username or f"u{next(_counter)}_{'_'.join(roles) or 'none'}"[:60]
        with Session(engine_for(self.settings.database_url)) as session:
            user = create_user(session=session, username=name, password=password, full_name=name.title(),
                               roles=list(roles), settings=self.settings, center_id=center_id,
                               installation_wide=center_id is None)
            token = issue_token(user, self.settings)
        return {"Authorization": f"Bearer {token}"}

    def deploy(self, folder: Path, headers: dict[str, str]) -> Any:
        files = [("files", (name, content)) for name, content in read_package(folder).items()]
        return self.client.post("/api/processes", files=files, headers=headers)

    def open_case(self, service_code: str, headers: dict[str, str], data: dict[str, Any] | None = None,
                  citizen: dict[str, str] | None = None) -> Any:
        return self.client.post("/api/cases", json={"service_code": service_code, "citizen": citizen or CITIZEN,
                                                    "data": data or {}}, headers=headers)

    def complete(self, task_id: str, data: dict[str, Any], headers: dict[str, str]) -> Any:
        return self.client.post(f"/api/tasks/{task_id}/complete", json={"data": data}, headers=headers)

    def read_case(self, case_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """``GET /api/cases/{id}`` as ``headers`` (an admin by default): the case as a fresh read answers it."""
        r = self.client.get(f"/api/cases/{case_id}", headers=headers or self.user("admin"))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def events(self, case_id: int) -> list[dict[str, Any]]:
        """The case's audit events, as an auditor reads them on the API."""
        r = self.client.get(f"/api/cases/{case_id}/events", headers=self.user("auditor"))
        assert r.status_code == 200, r.text
        return list(r.json())

    def assert_replays(self, case_id: int) -> None:
        """Replaying the case's events from the start reaches the case as stored, every event included."""
        events = self.events(case_id)
        replayed = self.client.get(f"/api/cases/{case_id}/replay", headers=self.user("auditor")).json()
        assert replayed == {"consistent": True, "events_replayed": len(events), "divergence": None}

    def deployed(self, name: str) -> Api:
        """This API once the test process ``name`` (a folder of tests/processes) is deployed: a fixture's answer."""
        r = self.deploy(TEST_PROCESSES / name, self.user("analyst"))
        assert r.status_code == 201, r.text
        return self

    def past_first_step(self, service_code: str, data: dict[str, Any], clerk: dict[str, str],
                        opening: dict[str, Any] | None = None) -> dict[str, Any]:
        """A case opened by ``clerk`` (with ``opening`` data) whose first step the clerk completed with ``data``:
        the case as the completion answered it."""
        case = self.open_case(service_code, clerk, data=opening).json()
        r = self.complete(case["tasks"][0]["id"], data, clerk)
        assert r.status_code == 200, r.text
        return dict(r.json())
