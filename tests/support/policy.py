"""The access-policy matrix's world: centers, services, cases, a task and a paper, and one user per role and
place, seeded once per database; and the routes of the app with the action each declares.

The centers: a governorate ``GOV`` holding two cities, ``CITY-A`` and ``CITY-B``. Every case, task and paper of
the matrix belongs to ``CITY-A``; each role is held by a user at ``CITY-A`` (own center), at ``CITY-B`` (a
sibling) and at ``GOV`` (the parent). The lanes: ``reviewer`` holds the task's own lane; ``officer`` a lane of
another service; ``front_desk`` the case's first lane, which is not the task's.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from engine.core.settings import Settings
from engine.people.users import create_user, issue_token
from harness.api import CITIZEN, Api
from harness.pages import center_tree
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from tests.conftest import _postgres_db, _reason, _sqlite, missing
from tests.support.documents import PDF

PLACES = ("own", "sibling", "parent")
CENTER_OF_PLACE = {"own": "CITY-A", "sibling": "CITY-B", "parent": "GOV"}
ROLES = ("admin", "analyst", "supervisor", "auditor", "cashier", "front_desk", "reviewer", "officer")
# Framework routes that carry no dependencies: FastAPI's own documentation pages and the static files.
FRAMEWORK = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}


# The expectations, written out by hand on purpose: they are what docs/security.md promises a center's manager,
# and engine/people/policy.py must keep them; they are not read from the policy table they check.
EVERY_ROLE = frozenset(ROLES)
# action: (the matrix's roles that may take it (None: anyone, signed in or not), bound to the case's center:
# a sibling center's user is refused, the parent center's is not; admins see every center).
EXPECTED: dict[str, tuple[frozenset[str] | None, bool]] = {
    "public": (None, False),
    # No user at all: the matrix's requests come from neither the machine itself nor with the scraper's token.
    "metrics.scrape": (frozenset(), False),
    "queue.ticket": (None, False),
    # No user at all: a citizen's token only (tests/api/test_citizen_signin.py); every staff token is a 401.
    "citizen.own": (frozenset(), False),
    # No user at all: an outside application's api_key only (tests/api/test_open311.py); without it a 403.
    "open311.file": (frozenset(), False),
    "me": (EVERY_ROLE, False),
    "catalog.read": (EVERY_ROLE, False),
    "inbox": (EVERY_ROLE, False),
    "cases.list": (EVERY_ROLE, False),
    "users.manage": (frozenset({"admin"}), False),
    "users.record": (frozenset({"admin", "auditor"}), False),
    "queue.configure": (frozenset({"admin"}), False),
    "queue.work": (frozenset({"front_desk", "admin"}), False),
    "services.deploy": (frozenset({"analyst", "admin"}), False),
    "services.read": (frozenset({"analyst", "admin", "supervisor", "auditor"}), False),
    "case.open": (frozenset({"front_desk", "admin"}), False),
    "case.read": (frozenset({"front_desk", "reviewer", "supervisor", "auditor", "admin"}), True),
    "case.papers": (frozenset({"front_desk", "reviewer", "supervisor", "auditor"}), True),
    "case.scan": (frozenset({"front_desk", "reviewer"}), True),
    "case.custody": (frozenset({"front_desk", "reviewer", "supervisor"}), True),
    "case.correct": (frozenset({"front_desk", "supervisor"}), True),
    "case.waive": (frozenset({"supervisor"}), True),
    "case.cancel": (frozenset({"supervisor", "admin"}), True),
    # The matrix's message name is one the diagram never waits for: a 404 for all who pass the gate (the waiting
    # element's senders are checked by the command: tests/api/test_collaborations.py).
    "case.message": (frozenset({"front_desk", "reviewer", "admin"}), True),
    "case.outputs": (frozenset({"front_desk", "reviewer", "supervisor", "auditor", "admin"}), True),
    # A document's routes name its number, not a case: the gate lets through whom the rule might allow (a lane
    # rule checks nothing before the case is known) and the command refuses the others on the real document
    # (tests/api/test_outputs.py). The matrix's number names no document: a 404 for all who pass the gate.
    "output.read": (EVERY_ROLE, False),
    "output.revoke": (frozenset({"supervisor"}), False),
    "task.read": (frozenset({"reviewer", "supervisor", "auditor", "admin"}), True),
    "task.act": (frozenset({"reviewer"}), True),
    "task.reassign": (frozenset({"supervisor", "admin"}), True),
    "tasks.overdue": (frozenset({"supervisor", "admin"}), False),
    "assignment.configure": (frozenset({"supervisor", "admin"}), False),
    # Every signed-in user may ask; the officer named decides (tests/api/test_assignment.py holds the rest).
    "presence": (EVERY_ROLE, False),
    "workload.read": (frozenset({"supervisor", "admin"}), False),
    "tasks.bulk": (frozenset({"supervisor", "admin"}), False),
    # An incident's center is checked by the command (tests/api/test_incidents.py); the matrix's number names
    # no incident: a 404 for all who pass the gate.
    "incidents.read": (frozenset({"supervisor", "analyst", "admin"}), False),
    "incidents.act": (frozenset({"supervisor", "analyst", "admin"}), False),
    "incidents.skip": (frozenset({"analyst", "admin"}), False),
    "audit.case": (frozenset({"auditor", "admin"}), True),
    "audit.search": (frozenset({"auditor", "admin"}), False),
    "reports.read": (frozenset({"supervisor", "admin"}), False),
    # Money: the bill's, drawer's or refund's center is checked by the command (tests/api/test_payments.py).
    "bills.read": (frozenset({"front_desk", "reviewer", "cashier", "supervisor", "auditor", "admin"}), True),
    "cashier.work": (frozenset({"cashier"}), False),
    "payments.supervise": (frozenset({"supervisor"}), False),
    "payments.checkout": (frozenset({"front_desk", "cashier"}), False),
    "payments.callback": (None, False),
    # Taken by the pages only (the counter's screens).
    "desk.register": (frozenset({"front_desk", "admin"}), False),
    "rating.desk": (frozenset({"front_desk"}), True),
}


def expected(action: str, role: str | None, place: str, *, signed_out: int) -> int | str:
    """What a caller must get: ``ok`` (anything but a refusal), 403, or ``signed_out`` (the API's 401, the
    pages' redirect to sign in)."""
    allowed, bound = EXPECTED[action]
    if allowed is None:
        return "ok"
    if action in ("metrics.scrape", "open311.file"):
        return 403  # the scraper is not a user: signed in or not, a request without its token is refused
    if action == "citizen.own":
        return signed_out  # a staff token is no citizen's: as good as none
    if role is None:
        return signed_out
    if role not in allowed:
        return 403
    if bound and place == "sibling" and role != "admin":
        return 403
    return "ok"



@dataclass
class World:
    api: Api
    case_id: int
    tracking_number: str
    task_id: str
    document_id: int
    headers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (role, place) -> bearer


def routes(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    """(method, full path, route) of every route the app answers, included routers walked down."""

    def walk(items: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
        for item in items:
            if hasattr(item, "original_router"):  # an included router (FastAPI keeps its own routes apart)
                yield from walk(item.original_router.routes, prefix + item.include_context.prefix)
            elif hasattr(item, "path"):
                yield prefix + item.path, item

    for path, route in walk(list(app.routes), ""):
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                yield method, path, route


def declared_action(route: Any) -> str | None:
    """The action a route declares to the policy (api/deps.py ``allow``), None when it declares none."""
    if not isinstance(route, APIRoute):
        return None
    found = [getattr(d.call, "policy_action") for d in route.dependant.dependencies  # noqa: B009
             if hasattr(d.call, "policy_action")]
    return found[0] if len(found) == 1 else None



def route_action(world: World, method: str, path: str, allow_at: str) -> tuple[str, frozenset[str] | None, bool]:
    """The action a route of the world's app declares, and its expectations: who is allowed (None: anyone) and
    whether the case's center binds it. Fails when the route declares none (``allow_at`` names the ``allow`` it
    should call) or when the action has no expectations here."""
    app_routes = {(m, p): r for m, p, r in routes(world.api.client.app)}  # type: ignore[arg-type]
    action = declared_action(app_routes[method, path])
    assert action is not None, f"{method} {path} declares no action to the policy ({allow_at} allow)"
    assert action in EXPECTED, f"{method} {path}: the action {action!r} has no expectations in tests/support/policy.py"
    allowed, bound = EXPECTED[action]
    return action, allowed, bound


def callers(bound: bool) -> list[tuple[str | None, str]]:
    """Who calls a route in the matrix: signed out, then every role from the case's own center and, where the
    case's center binds the action, from a sibling and the parent center too."""
    return [(None, "own")] + [(role, place) for role in ROLES for place in (PLACES if bound else ("own",))]

def undeclared(app: FastAPI) -> list[str]:
    """Routes of the app (API and pages) that declare no action, or one without expectations."""
    found = []
    for method, path, route in routes(app):
        if path in FRAMEWORK:
            continue
        action = declared_action(route)
        if action is None or action not in EXPECTED:
            found.append(f"{method} {path}: {action or 'no action declared'}")
    return found


def seed(api: Api) -> World:
    """Deploy, open and advance the matrix's cases once; make one user per role and place."""
    settings: Settings = api.settings
    with Session(engine_for(settings.database_url)) as session:
        ids = center_tree(session)
    analyst = api.user("analyst")
    for service in ("test_permit", "papers", "sla_escalation"):
        assert api.deploy(TEST_PROCESSES / service, analyst).status_code == 201
    clerk = api.user("front_desk", center_id=ids["CITY-A"])
    case = api.open_case("test_permit", clerk).json()
    case = api.complete(case["tasks"][0]["id"], {"area": 120, "purpose": "family house"}, clerk).json()
    papers = api.open_case("papers", clerk).json()
    r = api.client.post(f"/api/cases/{papers['id']}/documents", data={"kind": "national_id_copy"},
                        files={"file": ("id.pdf", PDF, "application/pdf")}, headers=clerk)
    assert r.status_code == 201, r.text
    world = World(api=api, case_id=case["id"], tracking_number=case["tracking_number"],
                  task_id=case["tasks"][0]["id"], document_id=r.json()["id"])
    with Session(engine_for(settings.database_url)) as session:
        for role in ROLES:
            for place in PLACES:
                user = create_user(session=session, username=f"m_{role}_{place}", password="correct horse",
                                   full_name=f"{role} {place}", roles=[role], settings=settings,
                                   center_id=ids[CENTER_OF_PLACE[place]])
                world.headers[role, place] = {"Authorization": f"Bearer {issue_token(user, settings)}"}
    return world


def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           sqlite_template: Path) -> Iterator[World]:
    """The body of a module's fixture: one seeded database per module and database kind (``request.param``:
    sqlite or postgres), shared by every route's test."""
    tmp = tmp_path_factory.mktemp("matrix")
    if request.param == "sqlite":
        urls = _sqlite(tmp, sqlite_template)
    else:
        server = request.getfixturevalue("postgres_template")
        if server is None:
            missing(_reason[0])
        urls = _postgres_db(server)
    assert isinstance(urls, Generator)
    url = next(urls)
    settings = make_settings(url, tmp, queue_board_stream_seconds=0.05, queue_board_poll_ms=50)
    try:
        with TestClient(create_app(settings)) as client:
            yield seed(Api(client, settings))
    finally:
        urls.close()


def fill(path: str, world: World) -> str:
    """A path of the matrix's world: the ``CITY-A`` case, its task and paper; made-up names elsewhere (a
    service, user, center or ticket that does not exist, so that no allowed call changes what others see)."""
    values = {"case_id": world.case_id, "task_id": world.task_id, "document_id": world.document_id,
              "tracking_number": world.tracking_number, "code": "no_such_code",
              "bill_id": 2_000_000, "session_id": 2_000_000, "refund_id": 2_000_000, "payment_id": 2_000_000,
              "checkout_id": 2_000_000,
              "provider": "no_such_provider", "fmt": "json",
              "incident_id": 2_000_000,
              "username": "no_such_user",
              "message_name": "no_such_message",
              "number": "1", "kind": "national_id_copy", "a": 1, "b": 2, "version": 1}
    out = path
    for key, value in values.items():
        out = out.replace("{" + key + "}", str(value))
    return out


# Bodies that a call passing the policy can send without changing the world: each is refused by the route's
# own validation (422), except opening a case, which really opens one (at the caller's center).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/cases"): {"service_code": "test_permit", "citizen": CITIZEN, "data": {}},
}
