"""No blocking work on the event loop: every ``async def`` route (and async dependency) of the app's route table
hands the database, the engine and the document store to a worker thread, and /healthz answers during a deploy."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.testclient import TestClient
from sqlmodel import Session, text

from api.app import create_app
from api.deps import SessionDep
from engine.catalog import deploy_checks, drafts, processes
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from harness.api import Api
from harness.pages import PASSWORD, add_user, csrf_of, deploy
from harness.server import serving
from harness.settings import TEST_PROCESSES
from tests.support.event_loop import NOT_BLOCKING, async_blocking, blocking_calls, route_table

PERMIT = TEST_PROCESSES / "test_permit"
_DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')


def test_no_async_route_of_the_app_blocks_the_event_loop(sqlite_settings: Settings) -> None:
    app = create_app(sqlite_settings)
    routes = route_table(list(app.routes))
    assert len(routes) > 100  # the walk sees the API's and the pages' routes, not only the top level
    assert {"/api/processes", "/services/{code}/draft/publish", "/healthz"} <= {r.path for r in routes}
    assert async_blocking(list(app.routes)) == {}


def test_every_allowed_call_says_why_it_does_not_block() -> None:
    assert NOT_BLOCKING and all(len(reason) > 15 for reason in NOT_BLOCKING.values())


# --- the walk itself fails when someone adds a blocking async route --------------------------------------------

def _slow_helper(session: Session) -> None:
    session.execute(text("SELECT 1"))


async def blocking_dependency(session: SessionDep) -> Session:
    session.execute(text("SELECT 1"))
    return session


def _fake_router() -> APIRouter:
    router = APIRouter()

    @router.post("/fake/deploy")
    async def fake_deploy(session: SessionDep) -> dict[str, Any]:  # the old deploy route, in short
        return {"version": processes.deploy(session=session, files={}, actor=None, settings=None)}  # type: ignore[arg-type]

    @router.get("/fake/session")
    async def fake_session(session: SessionDep) -> int:
        return len(session.execute(text("SELECT 1")).all())

    @router.get("/fake/inner")
    async def fake_inner(session: SessionDep) -> None:
        def work() -> None:
            deploy_checks.validate({}, Settings())

        work()  # a function of its own, called directly: still on the loop

    @router.get("/fake/threaded")
    async def fake_threaded(session: SessionDep) -> None:
        def work() -> None:
            deploy_checks.validate({}, Settings())
            session.execute(text("SELECT 1"))

        await run_in_threadpool(work)
        await run_in_threadpool(_slow_helper, session)

    @router.get("/fake/dependency")
    def fake_dependency(session: Annotated[Session, Depends(blocking_dependency)]) -> None:
        return None

    return router


def test_the_walk_finds_each_kind_of_blocking_async_route(sqlite_settings: Settings) -> None:
    app = create_app(sqlite_settings)
    app.include_router(_fake_router())
    found = async_blocking(list(app.routes))
    assert set(found) == {"['POST'] /fake/deploy", "['GET'] /fake/session", "['GET'] /fake/inner",
                          "['GET'] /fake/dependency"}
    assert any("reaches engine.catalog.processes.deploy" in line for line in found["['POST'] /fake/deploy"])
    assert any("session.execute()" in line for line in found["['GET'] /fake/session"])
    assert any("reaches engine.catalog.deploy_checks.validate" in line for line in found["['GET'] /fake/inner"])
    assert any("blocking_dependency" in line for line in found["['GET'] /fake/dependency"])


def test_the_walk_tells_work_in_a_thread_from_work_on_the_loop() -> None:
    from admin_ui.routes import modeler

    assert any("engine.catalog.drafts.publish_draft" in line for line in blocking_calls(modeler._publish))
    assert blocking_calls(modeler.publish) == []  # it hands _publish to a worker thread


# --- /healthz during a slow deploy ------------------------------------------------------------------------------

def _slowed(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, seconds: float) -> threading.Event:
    """Make ``module.name`` take ``seconds`` longer (a sleep that holds its thread, as compiling does)."""
    started = threading.Event()
    real = getattr(module, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        started.set()
        time.sleep(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)
    return started


def _health_during(base: str, started: threading.Event, work: Callable[[], httpx.Response]) -> tuple[
        list[float], httpx.Response]:
    answer: dict[str, httpx.Response] = {}
    worker = threading.Thread(target=lambda: answer.setdefault("r", work()))
    worker.start()
    assert started.wait(10)
    # Timed like tests/api/test_script_limits.py's stuck script on purpose, kept apart: there a real request goes
    # between the health checks, and the script must still be running after them.
    took = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(3):
            begun = time.monotonic()
            assert client.get("/healthz").status_code == 200
            took.append(time.monotonic() - begun)
    worker.join(timeout=30)
    return took, answer["r"]


@pytest.mark.slow
def test_healthz_answers_quickly_during_a_slow_deploy(sqlite_settings: Settings,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(create_app(sqlite_settings)) as client:
        analyst = Api(client, sqlite_settings).user("analyst")
    started = _slowed(monkeypatch, processes, "compile_package", 2.0)
    files = [("files", (name, content)) for name, content in read_package(PERMIT).items()]
    with serving(create_app(sqlite_settings)) as base:
        def deploy() -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as client:
                return client.post("/api/processes", files=files, headers=analyst)

        took, deployed = _health_during(base, started, deploy)
    assert deployed.status_code == 201, deployed.text
    assert max(took) < 1.0, took  # half the 2 s the work is held: a blocked loop waits it all


@pytest.mark.slow
def test_healthz_answers_quickly_while_the_modeler_validates_and_publishes(
        sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    name = add_user(sqlite_settings, "analyst")
    deploy(sqlite_settings, PERMIT)
    with serving(create_app(sqlite_settings)) as base, httpx.Client(base_url=base, timeout=30) as browser:
        signed = browser.post("/login", data={"csrf_token": csrf_of(browser.get("/login").text), "username": name,
                                              "password": PASSWORD})
        assert signed.status_code == 303, signed.text
        found = _DATA_CSRF.search(browser.get("/services/test_permit/modeler").text)
        assert found is not None
        headers = {"X-CSRF-Token": found.group(1)}
        files = browser.get("/services/test_permit/draft.json").json()["files"]

        started = _slowed(monkeypatch, deploy_checks, "validate", 2.0)
        took, validated = _health_during(base, started, lambda: browser.post(
            "/services/test_permit/draft/validate", json={"files": files}, headers=headers))
        assert validated.status_code == 200 and validated.json()["problems"] == [], validated.text
        assert max(took) < 1.0, took  # half the 2 s the work is held: a blocked loop waits it all

        saved = browser.post("/services/test_permit/draft", json={"files": files, "revision": 0}, headers=headers)
        assert saved.status_code == 200, saved.text
        started = _slowed(monkeypatch, drafts, "compile_package", 2.0)
        took, published = _health_during(base, started, lambda: browser.post(
            "/services/test_permit/draft/publish", json={}, headers=headers))
        assert published.status_code == 200, published.text
        assert max(took) < 1.0, took  # half the 2 s the work is held: a blocked loop waits it all
