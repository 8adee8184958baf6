"""One way to get a session and the settings, for both faces; one module that puts the application together.

A page or an API route that opens its own session, or reads the settings another way, fails here; so does a
module other than api/app.py that builds an app, mounts files or adds a middleware."""

from __future__ import annotations

import ast
import inspect
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_type_hints

from fastapi.dependencies.models import Dependant
from sqlmodel import Session
from starlette.routing import Match

from api import deps
from api import openapi as api_openapi
from api.app import create_app
from engine.core.settings import Settings
from harness.settings import ROOT, make_settings
from tests.support.policy import routes


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _gives(call: Any) -> str | None:
    """``session`` or ``settings`` when the dependency hands one out, by its declared return type."""
    try:
        returned = get_type_hints(call).get("return")
    except (NameError, TypeError):
        return None
    text = str(returned)
    if returned is Settings:
        return "settings"
    if returned is Session or "sqlmodel.orm.session.Session" in text:
        return "session"
    return None


def test_every_route_of_both_faces_takes_its_session_and_settings_from_api_deps() -> None:
    app = create_app(make_settings("sqlite:///unused.db", Path(tempfile.gettempdir())))
    seen: dict[str, set[str]] = {"api": set(), "pages": set()}
    own = []
    for method, path, route in routes(app):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        face = "api" if path.startswith("/api/") else "pages"
        for call in _calls(dependant):
            given = _gives(call)
            if given is None:
                continue
            if call not in (deps.get_session, deps.get_settings):
                own.append(f"{method} {path}: {call.__module__}.{call.__qualname__}")
            seen[face].add(given)
    assert own == []
    assert seen == {"api": {"session", "settings"}, "pages": {"session", "settings"}}


def test_the_settings_are_read_from_the_app_in_one_place() -> None:
    readers = sorted(str(p.relative_to(ROOT)) for folder in ("api", "admin_ui", "cli")
                     for p in (ROOT / folder).rglob("*.py") if "state.settings" in p.read_text(encoding="utf-8"))
    assert readers == ["api/app.py", "api/deps.py"]  # the app sets them; api/deps.py is how both faces read them


def test_a_face_with_a_session_of_its_own_is_found() -> None:
    def my_session() -> Iterator[Session]:
        yield Session()

    assert _gives(my_session) == "session"
    assert _gives(deps.get_settings) == "settings"


def _assembles(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("FastAPI", "mount", "add_middleware"):
                found.append(f"{name} (line {node.lineno})")
    return found


def test_only_api_app_puts_the_application_together() -> None:
    found = {}
    for package in ("api", "admin_ui", "engine", "cli", "storage", "forms"):
        for path in sorted((ROOT / package).rglob("*.py")):
            calls = _assembles(ast.parse(path.read_text(encoding="utf-8")))
            if calls:
                found[str(path.relative_to(ROOT))] = calls
    assert set(found) == {"api/app.py"}, found
    # and one that does is caught
    assert _assembles(ast.parse("app.mount('/x', StaticFiles(directory='.'))")) == ["mount (line 1)"]
    assert inspect.getmodule(create_app).__name__ == "api.app"  # type: ignore[union-attr]


def _gate_of(dependant: Dependant) -> Any:
    """The route's gate (``allow``): the first of its dependencies that declares a policy action."""
    return next((sub.call for sub in dependant.dependencies if hasattr(sub.call, "policy_action")), None)


def test_a_route_that_takes_the_signed_in_actor_is_behind_a_staff_gate_that_runs_first() -> None:
    # CurrentActor is the actor the staff gate left on the request (api/deps.current_actor): a route that took it
    # behind another gate, or with its gate after it, would answer 401 to everyone; one like that fails here.
    app = create_app(make_settings("sqlite:///unused.db", Path(tempfile.gettempdir())))
    taking, wrong = 0, []
    for method, path, route in routes(app):
        dependant = getattr(route, "dependant", None)
        if dependant is None or deps.current_actor not in set(_calls(dependant)):
            continue
        taking += 1
        first = dependant.dependencies[0].call if dependant.dependencies else None
        gate = _gate_of(dependant)
        if gate is None or gate is not first or gate.__qualname__ != "allow.<locals>.guard":
            wrong.append(f"{method} {path}")
    assert taking > 50 and wrong == []


def _first_match(app_routes: list[Any], method: str, path: str) -> tuple[str, Any]:
    """What the app's router does with a request: the first route that matches it whole, else the first that
    matches its path with another method."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    partial = None
    for route in app_routes:
        match, _ = route.matches(dict(scope))
        if match == Match.FULL:
            return "full", route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return "partial", partial


def test_the_hot_routers_tried_first_take_no_request_of_the_routes_they_jumped_over(monkeypatch: Any) -> None:
    # api/openapi.tried_first moves the cases' and tasks' routers to the front: every route of the app, asked with
    # a path made from its template, must be answered by the same route as in the order the routes were declared.
    settings = make_settings("sqlite:///unused.db", Path(tempfile.gettempdir()))
    served = create_app(settings)
    monkeypatch.setattr(api_openapi, "tried_first", lambda app, routers: None)
    declared = create_app(settings)
    asked = 0
    for method, path, _route in routes(declared):
        sample = re.sub(r"\{[^}]+\}", "1", path)
        kind, route = _first_match(served.router.routes, method, sample)
        kind_declared, route_declared = _first_match(declared.router.routes, method, sample)
        assert (kind, _identity(route)) == (kind_declared, _identity(route_declared)), (method, path)
        asked += 1
    assert asked > 200


def _identity(route: Any) -> Any:
    """A route of one app told apart from the same route of another app built alike."""
    original = getattr(route, "original_router", None)
    if original is not None:
        return ("router", tuple(getattr(r, "path", None) for r in original.routes))
    return (type(route).__name__, getattr(route, "path", None))


def test_the_openapi_document_keeps_the_declared_order_of_the_routes(monkeypatch: Any) -> None:
    settings = make_settings("sqlite:///unused.db", Path(tempfile.gettempdir()))
    served = create_app(settings)
    monkeypatch.setattr(api_openapi, "tried_first", lambda app, routers: None)
    declared = create_app(settings)
    assert getattr(served.router.routes[0], "original_router", None) is not None  # the hot routers come first
    assert list(served.openapi()["paths"]) == list(declared.openapi()["paths"])
    assert json.dumps(served.openapi()) == json.dumps(declared.openapi())  # the same bytes, every key in its order
    assert served.router.routes[0] is not declared.router.routes[0]
