"""The report routes: who may read them (401, 403), bad ranges (422), and their figures against the seeded
timeline (tests/support/reports.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from engine.core import clock
from engine.people.users import Actor
from engine.reports.scope import scope_for
from harness.api import Api
from storage.db import engine_for
from tests.support import reports as data
from tests.support.reports import BASE, NOW, Dataset, seed

ROUTES = ["/api/reports/sla", "/api/reports/steps?service_code=test_permit", "/api/reports/departments",
          "/api/reports/throughput", "/api/reports/officers", "/api/reports/satisfaction"]
RANGE = {"from": BASE.date().isoformat(), "to": NOW.date().isoformat()}


@pytest.fixture
def dataset(api: Api) -> Dataset:
    return seed(api.settings)


@pytest.mark.parametrize("route", ROUTES)
def test_only_supervisors_and_admins_read_reports(sqlite_api: Api, route: str) -> None:
    assert sqlite_api.client.get(route).status_code == 401
    assert sqlite_api.client.get(route, headers=sqlite_api.user("front_desk", "reviewer")).status_code == 403
    assert sqlite_api.client.get(route, headers=sqlite_api.user("auditor")).status_code == 403
    assert sqlite_api.client.get(route, headers=sqlite_api.user("supervisor")).status_code == 200
    assert sqlite_api.client.get(route, headers=sqlite_api.user("admin")).status_code == 200


@pytest.mark.parametrize("query", [{"from": "2026-02-30"}, {"from": "yesterday"},
                                   {"from": "2026-03-10", "to": "2026-03-01"},
                                   {"from": "2025-01-01", "to": "2026-03-01"}])
def test_bad_ranges_are_422(sqlite_api: Api, query: dict[str, str]) -> None:
    response = sqlite_api.client.get("/api/reports/sla", params=query, headers=sqlite_api.user("supervisor"))
    assert response.status_code == 422, response.text


def test_steps_need_a_service_and_centers_must_exist(sqlite_api: Api) -> None:
    boss = sqlite_api.user("supervisor")
    assert sqlite_api.client.get("/api/reports/steps", headers=boss).status_code == 422
    assert sqlite_api.client.get("/api/reports/sla", params={"center": "NOWHERE"}, headers=boss).status_code == 404


def test_sla_and_steps_routes_give_the_timeline_figures(api: Api, dataset: Dataset) -> None:
    boss = api.user("supervisor")
    now = datetime.now(UTC)  # the route reads the real clock: every open case of March is past due by now
    got = api.client.get("/api/reports/sla", params={**RANGE, "center": "CITY-A"}, headers=boss)
    assert got.status_code == 200
    [row] = got.json()
    want = data.expected_sla(dataset, BASE.date(), NOW.date(), {dataset.centers["CITY-A"]}, now=now)
    assert {k: row[k] for k in ("service_code", "opened", "completed", "on_time", "breached")} == {
        "service_code": "test_permit", "opened": want["opened"], "completed": want["completed"],
        "on_time": want["on_time"], "breached": want["breached"]}
    assert row["compliance"] == round(want["on_time"] / want["completed"], 4)
    steps = api.client.get("/api/reports/steps", params={**RANGE, "service_code": "test_permit"}, headers=boss)
    expected = data.expected_steps(dataset, BASE.date(), NOW.date(), now=now)
    rows = {r["name"]: r for r in steps.json()}
    assert set(rows) == {"register", "review", "hand_over"}
    for name, r in rows.items():
        assert set(r) >= {"name", "count", "avg_seconds", "p90_seconds", "overdue_open"}
        assert r["count"] == expected[name]["count"]
        assert abs(r["avg_seconds"] - expected[name]["avg_seconds"]) <= 0.1
        assert r["overdue_open"] == expected[name]["overdue_open"]


def test_the_default_range_is_the_last_thirty_days(api: Api, dataset: Dataset) -> None:
    rows = api.client.get("/api/reports/throughput", headers=api.user("admin")).json()
    today = datetime.now(ZoneInfo(api.settings.display_timezone)).date()  # the centers' today, not UTC's
    assert [r["day"] for r in rows] == [(today - timedelta(days=29 - i)).isoformat() for i in range(30)]


def test_the_default_range_ends_on_the_centers_today_after_their_midnight(api: Api, dataset: Dataset) -> None:
    """At 22:30 UTC it is already tomorrow in Cairo: the default range ends there, so what was paid or done since
    the centers' midnight is in it (the collections count by the centers' days)."""
    late = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
    with Session(engine_for(api.settings.database_url)) as session, clock.frozen(late):
        admin = Actor(username="admin", roles=frozenset({"admin"}))
        scope = scope_for(session=session, actor=admin, settings=api.settings)
    assert (scope.start.isoformat(), scope.end.isoformat()) == ("2026-02-10", "2026-03-11")
