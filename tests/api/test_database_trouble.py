"""Database trouble is a 503 with Retry-After, never a 500, and nothing is half-written.

A locked SQLite file, a PostgreSQL backend ended under a request (what a restart or failover does), a deadlock
and a serialization failure: run once more when nothing was committed, else 503; the pool recovers by itself.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlmodel import Session

import storage.db
from api.app import create_app
from engine.cases import hooks
from engine.core.settings import Settings
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.cases import Case
from tests.conftest import _postgres_db, missing
from tests.support.arabic import assert_arabic

OPEN = {"service_code": "test_permit", "citizen": CITIZEN, "data": {}}


def _count(settings: Settings, what: Any) -> int:
    with Session(engine_for(settings.database_url)) as session:
        return int(session.execute(select(func.count()).select_from(what)).scalar_one())


def _ready(client: TestClient, settings: Settings) -> tuple[Api, dict[str, str]]:
    api = Api(client, settings)
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
    return api, api.user("front_desk")


def _assert_unavailable(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    assert "try again" in r.json()["detail"] and "nothing was saved" in r.json()["detail"]
    assert_arabic(r, "database.unavailable")


def _assert_maybe_saved(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    assert "may have been saved" in r.json()["detail"] and "same Idempotency-Key" in r.json()["detail"]
    assert_arabic(r, "database.maybe_saved")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_commit_whose_answer_is_lost_is_never_run_again(kind: str, request: pytest.FixtureRequest,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """The server committed, then the connection broke before it said so: without an Idempotency-Key the
    request must not run a second time (two cases for one POST), and the log names no citizen."""
    from sqlalchemy.engine import default

    settings: Settings = request.getfixturevalue("sqlite_settings" if kind == "sqlite" else "pg_settings")
    real = default.DefaultDialect.do_commit
    armed: list[bool] = []

    def lossy_commit(self: Any, dbapi_connection: Any) -> None:
        real(self, dbapi_connection)  # the server has committed ...
        if armed:
            armed.clear()
            raise (sqlite3.OperationalError("database is locked") if kind == "sqlite" else
                   psycopg.OperationalError("server closed the connection unexpectedly"))

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api, clerk = _ready(client, settings)
        monkeypatch.setattr(default.DefaultDialect, "do_commit", lossy_commit)
        armed.append(True)
        with caplog.at_level(logging.WARNING):
            r = client.post("/api/cases", json=OPEN, headers=clerk)
    _assert_maybe_saved(r)
    assert _count(settings, Case) == 1  # ... once, not twice
    logged = caplog.text
    assert "database trouble after a commit began" in logged and "/api/cases" in logged
    for secret in (CITIZEN["national_id"], CITIZEN["phone"], CITIZEN["full_name"]):
        assert secret not in logged


def test_a_locked_sqlite_database_is_503_and_writes_nothing(sqlite_settings: Settings,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def quick_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=100")  # give up on a locked file at once, not after 30 s
        cur.close()

    monkeypatch.setattr(storage.db, "_sqlite_pragmas", quick_pragmas)
    with TestClient(create_app(sqlite_settings)) as client:
        api, clerk = _ready(client, sqlite_settings)
        other = sqlite3.connect(sqlite_settings.database_url.split("///", 1)[1], isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            r = client.post("/api/cases", json=OPEN, headers={**clerk, "Idempotency-Key": "k1"})
        finally:
            other.execute("ROLLBACK")
            other.close()
        _assert_unavailable(r)
        assert _count(sqlite_settings, Case) == 0 and _count(sqlite_settings, AuditEvent) == 0
        again = client.post("/api/cases", json=OPEN, headers={**clerk, "Idempotency-Key": "k1"})
        assert again.status_code == 201 and _count(sqlite_settings, Case) == 1


@pytest.fixture
def pg_settings(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Settings]:
    server = request.getfixturevalue("postgres_template")
    if server is None:
        missing("no PostgreSQL server could be started")
    for url in _postgres_db(server):
        yield make_settings(url, tmp_path, idempotency_wait_seconds=0.2)


def _terminate_others(url: str) -> int:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
    admin.dispose()
    return int(ended)


@pytest.mark.postgres
def test_the_pool_recovers_after_its_connections_are_ended(pg_settings: Settings) -> None:
    with TestClient(create_app(pg_settings)) as client:
        api, clerk = _ready(client, pg_settings)
        assert client.get("/api/cases", headers=clerk).status_code == 200
        assert _terminate_others(pg_settings.database_url) >= 1  # what a restart of the server does
        assert client.get("/api/cases", headers=clerk).status_code == 200
        assert client.post("/api/cases", json=OPEN, headers=clerk).status_code == 201


@pytest.mark.postgres
def test_a_connection_lost_before_the_commit_is_run_again(pg_settings: Settings,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ended: list[int] = []

    def end_my_backend_once(written: hooks.Written) -> None:
        if not ended:
            ended.append(1)
            written.conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    with TestClient(create_app(pg_settings)) as client:
        api, clerk = _ready(client, pg_settings)
        monkeypatch.setattr(hooks, "_HOOKS", [*hooks._HOOKS, end_my_backend_once])
        r = client.post("/api/cases", json=OPEN, headers=clerk)
    assert ended and r.status_code == 201, r.text
    assert _count(pg_settings, Case) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])  # deadlock, serialization failure
def test_a_deadlock_or_serialization_failure_twice_is_503_and_writes_nothing(
        pg_settings: Settings, monkeypatch: pytest.MonkeyPatch, sqlstate: str) -> None:
    tries: list[int] = []

    def fail(written: hooks.Written) -> None:
        tries.append(1)
        written.conn.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '{sqlstate}'; END $$"))

    with TestClient(create_app(pg_settings), raise_server_exceptions=False) as client:
        api, clerk = _ready(client, pg_settings)
        monkeypatch.setattr(hooks, "_HOOKS", [*hooks._HOOKS, fail])
        r = client.post("/api/cases", json=OPEN, headers=clerk)
    _assert_unavailable(r)
    assert len(tries) == 2  # once more, then 503
    assert _count(pg_settings, Case) == 0 and _count(pg_settings, AuditEvent) == 0


@pytest.mark.postgres
def test_trouble_after_the_commit_is_503_not_a_second_case(pg_settings: Settings,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cases import lifecycle as cases

    real_open = cases.open_case
    broken: list[int] = []

    def open_then_lose_the_connection(**kw: Any) -> Any:
        opened = real_open(**kw)  # committed
        if not broken:  # the connection is lost after the commit, before the answer is sent
            broken.append(1)
            kw["session"].connection().execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return opened

    with TestClient(create_app(pg_settings), raise_server_exceptions=False) as client:
        api, clerk = _ready(client, pg_settings)
        monkeypatch.setattr(cases, "open_case", open_then_lose_the_connection)
        keyed = {**clerk, "Idempotency-Key": "after-commit"}
        r = client.post("/api/cases", json=OPEN, headers=keyed)
        _assert_maybe_saved(r)
        assert _count(pg_settings, Case) == 1  # committed once, not run again
        again = client.post("/api/cases", json=OPEN, headers=keyed)  # the client's retry with its key
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert _count(pg_settings, Case) == 1


def _read_only(url: str, on: bool) -> None:
    """Make every new session of the test's database refuse writes (a standby), or stop doing so (a primary)."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SET default_transaction_read_only = off"))  # this session is the operator's
        name = conn.dialect.identifier_preparer.quote(conn.execute(text("SELECT current_database()")).scalar_one())
        setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
        conn.execute(text(f"ALTER DATABASE {name} {setting}"))
    admin.dispose()


@pytest.mark.postgres
def test_a_failover_to_a_read_only_server_is_503_and_the_pool_reconnects(pg_settings: Settings) -> None:
    """After a failover, the pool's connections may reach the old primary, now a standby that refuses writes
    (SQLSTATE 25006), and pre-ping does not notice (a standby answers it). That is a 503 with Retry-After, never a
    500, nothing written, and the pool drops those connections: once the new primary answers, so does the API."""
    url = pg_settings.database_url
    with TestClient(create_app(pg_settings), raise_server_exceptions=False) as client:
        api, clerk = _ready(client, pg_settings)
        _read_only(url, True)
        _terminate_others(url)  # the sessions reconnect to a server that refuses every write
        assert client.get("/api/cases", headers=clerk).status_code == 200  # reading still works
        _assert_unavailable(client.post("/api/cases", json=OPEN, headers=clerk))
        assert _count(pg_settings, Case) == 0
        _read_only(url, False)
        # The new primary answers: the connections opened read-only above must not be handed out again.
        r = client.post("/api/cases", json=OPEN, headers=clerk)
        assert r.status_code == 201, r.text
        assert client.post("/api/cases", json=OPEN, headers=clerk).status_code == 201
    assert _count(pg_settings, Case) == 2
