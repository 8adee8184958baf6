"""The access policy, proven route by route: built from the app's own route table, every API route is called by
every built-in role and two lane roles, each from the case's own center, a sibling center and the parent center,
and must answer what the expectations in tests/support/policy.py say (written out by hand, not read from the
policy they check). A route of the app (API or page) that declares no action, or an action without
expectations, fails the suite; the pages' own matrix is tests/admin_ui/test_policy_pages.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from api.app import create_app
from api.deps import allow
from engine.people import policy
from harness.api import CITIZEN
from harness.settings import make_settings
from tests.support.policy import (
    BODIES,
    EXPECTED,
    World,
    callers,
    expected,
    fill,
    route_action,
    routes,
    seeded,
    undeclared,
)


def _app() -> FastAPI:
    return create_app(make_settings("sqlite:///unused.db", Path(tempfile.gettempdir())))


def _api_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    return [(m, p, r) for m, p, r in routes(app) if p.startswith("/api/") or p in ("/healthz", "/readyz", "/metrics")]


API_ROUTES = [(m, p) for m, p, _ in _api_routes(_app())]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          sqlite_template: Path) -> Iterator[World]:
    """One seeded database per module and database kind, shared by every route's test."""
    yield from seeded(request, tmp_path_factory, sqlite_template)


def _want(action: str, role: str | None, place: str) -> int | str:
    return expected(action, role, place, signed_out=401)


SECRETS = (CITIZEN["national_id"], CITIZEN["phone"], CITIZEN["full_name"])


@pytest.mark.parametrize(("method", "path"), API_ROUTES, ids=[f"{m} {p}" for m, p in API_ROUTES])
def test_route(world: World, method: str, path: str) -> None:
    action, _allowed, bound = route_action(world, method, path, "api/deps.py")
    url = fill(path, world)
    body = BODIES.get((method, path), {} if method in ("POST", "PUT", "PATCH") else None)
    wrong = []
    for role, place in callers(bound):
        headers = world.headers[role, place] if role else {}
        r = world.api.client.request(method, url, headers=headers, json=body)
        want = _want(action, role, place)
        got: int | str = r.status_code if r.status_code in (401, 403) else "ok"
        if r.status_code >= 500 or got != want:
            wrong.append(f"{role or 'signed out'} at {place}: {r.status_code} (want {want}) {r.text[:120]}")
        elif want != "ok":
            leaked = [s for s in (*SECRETS, world.tracking_number) if s in r.text]
            if leaked:
                wrong.append(f"{role or 'signed out'} at {place}: refused but the body names {leaked}")
    assert not wrong, f"{method} {path} ({action}):\n" + "\n".join(wrong)


def test_every_route_declares_an_action_with_expectations() -> None:
    assert undeclared(_app()) == []
    assert set(EXPECTED) == set(policy.RULES)  # nothing in the policy goes unchecked


def test_a_route_that_declares_nothing_fails_the_suite() -> None:
    app = _app()

    @app.get("/api/sneaky")
    def sneaky() -> dict[str, str]:
        return {}

    @app.get("/api/unexpected", dependencies=[allow("public")])
    def unexpected() -> dict[str, str]:
        return {}

    assert undeclared(app) == ["GET /api/sneaky: no action declared"]
    EXPECTED_BACKUP = EXPECTED.pop("public")
    try:
        assert "GET /api/unexpected: public" in undeclared(app)
    finally:
        EXPECTED["public"] = EXPECTED_BACKUP


def test_an_action_the_policy_does_not_know_stops_the_app_from_being_built() -> None:
    with pytest.raises(KeyError):
        allow("case.rewrite_history")
