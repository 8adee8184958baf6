"""Shared fixtures: settings on a fresh database (SQLite, and PostgreSQL where the test asks for both)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from api.app import create_app
from engine.core.settings import Settings
from harness.api import Api
from harness.postgres import LocalPostgres
from harness.settings import make_settings
from storage import nodes
from storage.db import dispose
from storage.migrate import upgrade

pytest_plugins = ["tests.support.documents", "tests.support.cash_desk"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _single_nodes_again() -> Iterator[None]:
    """What a test's settings said a database is (a center node, storage/nodes.py) ends with the test: a later
    test on the same URL is a single node unless its own settings say otherwise."""
    yield
    nodes._roles.clear()


def missing(reason: str) -> None:
    """Skip with a visible reason locally; under CI a missing real component is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the real component is required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test: migrations run once, every test starts clean."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    dispose(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    url = os.environ.get("SHUBBAK_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    server = LocalPostgres()
    try:
        url = server.start()
    except (RuntimeError, OSError, Exception) as exc:  # noqa: BLE001 - any failure means "no server here"
        server.stop()
        yield None
        _reason[0] = f"no PostgreSQL server could be started: {exc}"
        return
    try:
        yield url
    finally:
        server.stop()


_reason = ["no PostgreSQL server could be started"]


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str | None) -> str | None:
    if postgres_server is None:
        return None
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS shubbak_template"))
        conn.execute(text("CREATE DATABASE shubbak_template"))
    admin.dispose()
    template_url = postgres_server.rsplit("/", 1)[0] + "/shubbak_template"
    upgrade(template_url)
    dispose(template_url)
    return postgres_server


def _postgres_db(server: str, *, template: str = "shubbak_template", prefix: str = "t_") -> Iterator[str]:
    """A fresh database copied from `template` (the migrated one by default), dropped when the generator ends."""
    name = prefix + uuid.uuid4().hex[:16]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE {template}'))
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        dispose(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, for a test about PostgreSQL itself (it does not also run on SQLite)."""
    server = request.getfixturevalue("postgres_template")
    if server is None:
        missing(_reason[0])
    yield from _postgres_db(server)


@pytest.fixture
def postgres_admin(postgres_url: str) -> Iterator[Engine]:
    """Another session straight to the test database, in autocommit: the operator (or the other process) watching
    and killing backends and their locks."""
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real ``redis-server`` on a loopback port, one per test module (a module's tests share its keys)."""
    from tests.support.redis import LocalRedis

    server = LocalRedis()
    try:
        url = server.start()
    except RuntimeError as exc:
        server.stop()
        missing(f"no redis-server could be started: {exc}")
        return
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    yield from _sqlite(tmp_path, sqlite_template)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh, migrated database: tests using this run once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield from _sqlite(tmp_path, sqlite_template)
        return
    server = request.getfixturevalue("postgres_template")
    if server is None:
        missing(_reason[0])
    yield from _postgres_db(server)


def _sqlite(tmp_path: Path, template: Path) -> Iterator[str]:
    path = tmp_path / "shubbak.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    yield url
    dispose(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def sqlite_settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(sqlite_url, tmp_path)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """The API on SQLite and on PostgreSQL."""
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


@pytest.fixture
def sqlite_api(sqlite_settings: Settings) -> Iterator[Api]:
    """The API on SQLite only, for tests whose subject is not the database."""
    with TestClient(create_app(sqlite_settings)) as client:
        yield Api(client, sqlite_settings)
