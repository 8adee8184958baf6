"""Timer events: a case waiting on a timer moves when the periodic tick finds it due."""

from __future__ import annotations

from sqlmodel import Session

from engine.cases import timers
from harness.api import Api
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.cases import Case
from tests.support.clock import make_timers_due


def test_tick_fires_due_timer(api: Api) -> None:
    api.deploy(TEST_PROCESSES / "timer_demo", api.user("analyst"))
    clerk = api.user("front_desk")
    case = api.open_case("timer_demo", clerk).json()
    assert case["tasks"] == [] and case["status"] == "open"
    with Session(engine_for(api.settings.database_url)) as session:
        row = session.get(Case, case["id"])
        assert row is not None and row.timer_due_at is not None
        assert timers.tick(session=session, settings=api.settings) == 0  # not due yet: nothing moves
    assert make_timers_due(api.settings, case["id"]) == 1
    with Session(engine_for(api.settings.database_url)) as session:
        assert timers.tick(session=session, settings=api.settings) == 1
        assert timers.tick(session=session, settings=api.settings) == 0
    after = api.client.get(f"/api/cases/{case['id']}", headers=clerk).json()
    assert [t["name"] for t in after["tasks"]] == ["t_after"]
    kinds = [e["kind"] for e in api.client.get(f"/api/cases/{case['id']}/events", headers=clerk).json()]
    assert kinds == ["case_opened", "timer_fired"]
    with Session(engine_for(api.settings.database_url)) as session:
        row = session.get(Case, case["id"])
        assert row is not None and row.timer_due_at is None
