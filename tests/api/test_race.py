"""Two clerks completing the same task at the same moment: exactly one wins, the case stays whole."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session, select

from api.app import create_app
from engine.core import chain as audit
from engine.core.settings import Settings
from harness.api import Api
from harness.server import at_once, serving
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.cases import Case, Task

CONTENDERS = 6
ROUNDS = 4


def _race(base: str, path: str, body: dict[str, object] | None, headers: list[dict[str, str]]) -> list[int]:
    return [answer.status_code for answer in at_once(base, [(path, body, h) for h in headers])]


def test_concurrent_completion_has_one_winner(api: Api, settings: Settings) -> None:
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    clerks = [api.user("front_desk") for _ in range(CONTENDERS)]
    cases = [api.open_case("test_permit", clerks[0]).json() for _ in range(ROUNDS)]
    with serving(create_app(settings)) as base:
        for case in cases:
            task_id = case["tasks"][0]["id"]
            codes = _race(base, f"/api/tasks/{task_id}/complete",
                          {"data": {"area": 10, "purpose": "race"}}, clerks)
            assert Counter(codes) == {200: 1, 409: CONTENDERS - 1}, codes
    with Session(engine_for(settings.database_url)) as session:
        for case in cases:
            row = session.get(Case, case["id"])
            assert row is not None
            events = session.exec(select(AuditEvent).where(AuditEvent.case_id == row.id)
                                  .order_by(AuditEvent.seq)).all()  # type: ignore[arg-type]
            assert [e.kind for e in events] == ["case_opened", "task_completed"]
            assert audit.verify_chain(row, events) is None
            assert row.version == 3 and row.current_step == "Review request"  # opened (1, 2), completed (3)
            states = Counter(t.state for t in session.exec(select(Task).where(Task.case_id == row.id)))
            assert states == {"completed": 1, "ready": 1}
    # The state is not corrupted: the case goes on normally.
    reviewer = api.user("reviewer")
    for case in cases:
        task = api.client.get(f"/api/cases/{case['id']}", headers=reviewer).json()["tasks"][0]
        assert api.complete(task["id"], {"decision": "reject"}, reviewer).json()["status"] == "completed"


def test_concurrent_claims_have_one_winner(api: Api, settings: Settings) -> None:
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    clerk = api.user("front_desk")
    case = api.open_case("test_permit", clerk).json()
    reviewers = [api.user("reviewer") for _ in range(CONTENDERS)]
    with serving(create_app(settings)) as base:
        task_id = api.complete(case["tasks"][0]["id"], {"area": 1, "purpose": "claims"}, clerk).json()["tasks"][0]["id"]
        codes = _race(base, f"/api/tasks/{task_id}/claim", None, reviewers)
    assert Counter(codes) == {200: 1, 409: CONTENDERS - 1}, codes
