"""The access policy, proven route by route: built from the app's own route table, every API route is called by
every built-in role and two lane roles, each from the case's own center, a sibling center and the parent center,
and must answer what the expectations below say. A route that declares no action, or an action without
expectations here, fails the suite.

The expectations are written out by hand on purpose: they are what docs/security.md promises a center's
manager, and engine/policy.py must keep them; they are not read from the policy table they check.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import allow
from engine import policy
from tests.conftest import _postgres_db, _reason, _sqlite, make_settings, missing
from tests.support.api import CITIZEN, Api
from tests.support.policy import BODIES, FRAMEWORK, PLACES, ROLES, World, declared_action, fill, routes, seed

EVERY_ROLE = frozenset(ROLES)
# action: (the matrix's roles that may take it (None: anyone, signed in or not), bound to the case's center:
# a sibling center's user is refused, the parent center's is not; admins see every center).
EXPECTED: dict[str, tuple[frozenset[str] | None, bool]] = {
    "public": (None, False),
    "queue.ticket": (None, False),
    "me": (EVERY_ROLE, False),
    "catalog.read": (EVERY_ROLE, False),
    "inbox": (EVERY_ROLE, False),
    "cases.list": (EVERY_ROLE, False),
    "users.manage": (frozenset({"admin"}), False),
    "queue.configure": (frozenset({"admin"}), False),
    "queue.work": (frozenset({"front_desk", "admin"}), False),
    "services.deploy": (frozenset({"analyst", "admin"}), False),
    "services.read": (frozenset({"analyst", "admin", "supervisor", "auditor"}), False),
    "case.open": (frozenset({"front_desk", "admin"}), False),
    "case.read": (frozenset({"front_desk", "reviewer", "supervisor", "auditor", "admin"}), True),
    "case.papers": (frozenset({"front_desk", "reviewer", "supervisor", "auditor"}), True),
    "case.scan": (frozenset({"front_desk", "reviewer"}), True),
    "case.custody": (frozenset({"front_desk", "reviewer", "supervisor"}), True),
    "case.waive": (frozenset({"supervisor"}), True),
    "case.cancel": (frozenset({"supervisor", "admin"}), True),
    "task.read": (frozenset({"reviewer", "supervisor", "auditor", "admin"}), True),
    "task.act": (frozenset({"reviewer"}), True),
    "task.reassign": (frozenset({"supervisor", "admin"}), True),
    "tasks.overdue": (frozenset({"supervisor", "admin"}), False),
    "audit.case": (frozenset({"auditor", "admin"}), True),
    "audit.search": (frozenset({"auditor", "admin"}), False),
    "reports.read": (frozenset({"supervisor", "admin"}), False),
}
PAGES_ONLY = {"desk.register", "rating.desk"}  # actions the pages take (the counter's screens), no API route


def _app() -> FastAPI:
    return create_app(make_settings("sqlite:///unused.db", Path(tempfile.gettempdir())))


def _api_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    return [(m, p, r) for m, p, r in routes(app) if p.startswith("/api/") or p == "/healthz"]


def undeclared(app: FastAPI) -> list[str]:
    """Routes of the app that declare no action, or one without expectations here."""
    found = []
    for method, path, route in routes(app):
        if path in FRAMEWORK or not (path.startswith("/api/") or path == "/healthz"):
            continue
        action = declared_action(route)
        if action is None or action not in EXPECTED:
            found.append(f"{method} {path}: {action or 'no action declared'}")
    return found


API_ROUTES = [(m, p) for m, p, _ in _api_routes(_app())]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          sqlite_template: Path) -> Iterator[World]:
    """One seeded database per module and database kind, shared by every route's test."""
    tmp = tmp_path_factory.mktemp("matrix")
    if request.param == "sqlite":
        urls = _sqlite(tmp, sqlite_template)
    else:
        server = request.getfixturevalue("postgres_template")
        if server is None:
            missing(_reason[0])
        urls = _postgres_db(server)
    url = next(urls)
    settings = make_settings(url, tmp, queue_board_stream_seconds=0.05, queue_board_poll_ms=50)
    try:
        with TestClient(create_app(settings)) as client:
            yield seed(Api(client, settings))
    finally:
        urls.close()


def _want(action: str, role: str | None, place: str) -> int | str:
    allowed, bound = EXPECTED[action]
    if allowed is None:
        return "ok"
    if role is None:
        return 401
    if role not in allowed:
        return 403
    if bound and place == "sibling" and role != "admin":
        return 403
    return "ok"


SECRETS = (CITIZEN["national_id"], CITIZEN["phone"], CITIZEN["full_name"])


@pytest.mark.parametrize(("method", "path"), API_ROUTES, ids=[f"{m} {p}" for m, p in API_ROUTES])
def test_route(world: World, method: str, path: str) -> None:
    app_routes = {(m, p): r for m, p, r in routes(world.api.client.app)}  # type: ignore[arg-type]
    action = declared_action(app_routes[method, path])
    assert action is not None, f"{method} {path} declares no action to the policy (api/deps.py allow)"
    assert action in EXPECTED, f"{method} {path}: the action {action!r} has no expectations in this test"
    _allowed, bound = EXPECTED[action]
    url = fill(path, world)
    body = BODIES.get((method, path), {} if method in ("POST", "PUT", "PATCH") else None)
    callers: list[tuple[str | None, str]] = [(None, "own")]
    callers += [(role, place) for role in ROLES for place in (PLACES if bound else ("own",))]
    wrong = []
    for role, place in callers:
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


def test_every_api_route_declares_an_action_with_expectations() -> None:
    assert undeclared(_app()) == []
    assert set(EXPECTED) | PAGES_ONLY == set(policy.RULES)  # nothing in the policy goes unchecked


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
