"""Each of these questions has one answer in one module; a second copy written anywhere in the product fails here.

- a case's events: engine/core/chain.py ``events_of``;
- a database session: storage/db.py ``session_for``;
- the status of a refusal: the error classes (engine/core/errors.py), no table of statuses in a face.
"""

from __future__ import annotations

import re

from engine.core import chain as audit
from harness.api import Api
from harness.settings import ROOT, TEST_PROCESSES
from storage.db import session_for

PRODUCT = ("api", "admin_ui", "cli", "engine", "forms", "storage", "bench", "docs")


def _sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for folder in PRODUCT for p in sorted((ROOT / folder).rglob("*.py"))}


def _where(pattern: str) -> set[str]:
    found = re.compile(pattern)
    return {path for path, text in _sources().items() if found.search(text)}


EVENTS_QUERY = r"select\(\s*AuditEvent\s*\)"
OWN_SESSION = r"Session\(\s*engine(_for)?\b"
STATUS_TABLE = r"\{\s*NotFound\s*:\s*4\d\d"


def test_a_case_events_query_is_written_once() -> None:
    assert _where(EVENTS_QUERY) == {"engine/core/chain.py"}


def test_sessions_are_opened_in_one_place() -> None:
    assert _where(OWN_SESSION) == {"storage/db.py"}


def test_no_face_keeps_its_own_table_of_statuses() -> None:
    assert _where(STATUS_TABLE) == set()


def test_the_guards_catch_a_copy() -> None:
    copy = ("events = list(db.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)))\n"
            "with Session(engine_for(settings.database_url)) as s: ...\n"
            "_STATUS = {NotFound: 404, Corrupted: 400}\n")
    assert all(re.search(p, copy) for p in (EVENTS_QUERY, OWN_SESSION, STATUS_TABLE))


def test_events_of_is_one_case_in_chain_order(sqlite_api: Api) -> None:
    api = sqlite_api
    clerk = api.user("front_desk")
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
    first = api.open_case("test_permit", clerk).json()
    other = api.open_case("test_permit", clerk).json()
    api.complete(first["tasks"][0]["id"], {"area": 120, "purpose": "family house"}, clerk)
    with session_for(api.settings.database_url) as session:
        events = audit.events_of(session, first["id"])
        others = audit.events_of(session, other["id"])
    assert [e.seq for e in events] == list(range(1, len(events) + 1)) and len(events) > len(others) > 0
    assert {e.case_id for e in events} == {first["id"]}
    assert "task_completed" in [e.kind for e in events] and "task_completed" not in [e.kind for e in others]
    listed = api.client.get(f"/api/cases/{first['id']}/events", headers=api.user("supervisor")).json()
    assert [e["seq"] for e in listed] == [e.seq for e in events]
