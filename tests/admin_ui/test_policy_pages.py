"""The access policy on the pages, route by route: the same matrix as the API's (tests/api/test_policy_matrix.py)
over every page of the app, each role signed in with its own browser from the case's own center, a sibling and
the parent center. A signed-out reader of a page that needs one is sent to sign in; a refusal is a 403 page."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from harness.api import CITIZEN
from harness.pages import Pages, csrf_of
from harness.settings import make_settings
from tests.support.policy import FRAMEWORK, PLACES, ROLES, World, callers, expected, fill, route_action, routes
from tests.support.policy import seeded as seeded_world

Browsers = dict[tuple[str, str] | None, tuple[TestClient, str]]


def _pages(app: FastAPI) -> list[tuple[str, str, Any]]:
    return [(m, p, r) for m, p, r in routes(app) if p not in FRAMEWORK and not p.startswith("/api/")
            and p not in ("/healthz", "/readyz", "/metrics")]


PAGE_ROUTES = [(m, p) for m, p, _ in _pages(create_app(make_settings("sqlite:///unused.db",
                                                                       Path(tempfile.gettempdir()))))]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          sqlite_template: Path) -> Iterator[World]:
    yield from seeded_world(request, tmp_path_factory, sqlite_template)


@pytest.fixture(scope="module")
def browsers(world: World) -> Browsers:
    """A browser per matrix user, signed in once, with its session's CSRF token (a signed-out one too)."""
    app = world.api.client.app
    found: Browsers = {}
    anonymous = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    found[None] = (anonymous, csrf_of(anonymous.get("/login").text))
    for role in ROLES:
        for place in PLACES:
            client = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
            assert Pages(client, world.api.settings).sign_in(f"m_{role}_{place}").status_code == 303
            found[role, place] = (client, csrf_of(client.get("/track").text))
    return found


def _page_path(path: str, world: World) -> str:
    return fill(path.replace("{name}.{kind}", "sla.csv").replace("{service_code}", "test_permit"), world)


def _message(html: str) -> str:
    found = _ALERT.search(html)
    return found.group(1) if found else html[:160]


_ALERT = re.compile(r'role="alert">([^<]*)<')


def _outcome(status: int, location: str) -> int | str:
    # Staff pages send the reader to the staff's sign-in; a citizen's own pages to the SMS code's (/citizen).
    if status == 303 and (location.startswith("/login?next=") or location == "/citizen"):
        return "sign in"
    return 403 if status == 403 else "ok"


@pytest.mark.parametrize(("method", "path"), PAGE_ROUTES, ids=[f"{m} {p}" for m, p in PAGE_ROUTES])
def test_page(world: World, browsers: Browsers, method: str, path: str) -> None:
    action, allowed, bound = route_action(world, method, path, "admin_ui/pages.py")
    url = _page_path(path, world)
    # a public page's answer does not depend on who asks; signing out is one of them
    who = callers(bound) if allowed is not None else [(None, "own")]
    wrong = []
    for role, place in who:
        client, token = browsers[(role, place) if role else None]
        if role is None:  # signing out (a page of the matrix) starts a new session with a new token
            token = csrf_of(client.get("/login").text)
        if method == "GET":
            r = client.get(url)
        else:  # the session's own token (a form field, or the modeler's header): a refusal is the policy's
            r = client.post(url, data={"csrf_token": token}, headers={"X-CSRF-Token": token})
        want = expected(action, role, place, signed_out="sign in")  # type: ignore[arg-type]
        got = _outcome(r.status_code, r.headers.get("location", ""))
        if r.status_code >= 500 or got != want:
            wrong.append(f"{role or 'signed out'} at {place}: {r.status_code} (want {want}) {_message(r.text)}")
        elif want == 403:
            leaked = [s for s in (CITIZEN["national_id"], CITIZEN["phone"], world.tracking_number) if s in r.text]
            if leaked:
                wrong.append(f"{role} at {place}: refused but the page names {leaked}")
    assert not wrong, f"{method} {path} ({action}):\n" + "\n".join(wrong)
