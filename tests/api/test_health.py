"""``/healthz`` and ``/readyz``: a load balancer learns when a process cannot serve, and why."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from engine.core.settings import Settings
from harness.postgres import free_port
from harness.settings import make_settings
from storage import leader


def test_ready_when_everything_answers(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "documents": "ok"}}


def test_not_ready_when_the_migrations_are_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).dispose()
    client = TestClient(create_app(make_settings(url, tmp_path)))
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.json()["status"] == "not ready"
    assert "shubbak migrate" in r.json()["checks"]["database"] and r.json()["checks"]["documents"] == "ok"
    assert client.get("/healthz").status_code == 200  # alive all the same: do not restart it, migrate


def test_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://shubbak_app:pg-pass-XYZ@127.0.0.1:{port}/nowhere_db"
    r = TestClient(create_app(make_settings(url, tmp_path))).get("/readyz")
    assert r.status_code == 503
    assert "OperationalError" in r.json()["checks"]["database"]
    # The answer is public: no connection string, host, port, user, password or database name in it.
    for secret in ("pg-pass-XYZ", "shubbak_app", "127.0.0.1", str(port), "nowhere_db", "postgresql"):
        assert secret not in r.text, secret


def test_not_ready_when_the_document_store_or_the_broker_is_unreachable(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={
        "storage_url": f"minio://key:secret-secret@127.0.0.1:{free_port()}/hidden-bucket",
        "broker_url": f"redis://127.0.0.1:{free_port()}/0", "readiness_timeout_seconds": 1.0})
    r = TestClient(create_app(settings)).get("/readyz")  # no lifespan: the store would stop the start
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["documents"] != "ok" and checks["broker"] != "ok", checks
    for secret in ("secret-secret", "key", "127.0.0.1", settings.storage_url.rsplit(":", 1)[1].split("/")[0],
                   settings.broker_url.rsplit(":", 1)[1].split("/")[0], "hidden-bucket", "redis://", "minio://"):
        assert secret not in r.text, secret


def test_one_process_at_a_time_takes_a_jobs_turn(settings: Settings) -> None:
    url = settings.database_url
    with leader.turn(url, "tick") as first, leader.turn(url, "tick") as second, leader.turn(url, "send") as other:
        assert (bool(first), bool(second), bool(other)) == (True, False, True)
    with leader.turn(settings.database_url, "tick") as after:
        assert after  # released at the end of the round


@pytest.mark.postgres
def test_a_turn_whose_connection_is_lost_is_released(postgres_url: str) -> None:
    with leader.turn(postgres_url, "tick") as held:
        assert held
        admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND pid <> pg_backend_pid()"))
        admin.dispose()
    with leader.turn(postgres_url, "tick") as again:
        assert again


def test_a_turn_whose_process_died_is_released(sqlite_settings: Settings) -> None:
    settings = sqlite_settings
    database = settings.database_url.split("///", 1)[1]
    fd = os.open(f"{database}.tick.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process's round
    with leader.turn(settings.database_url, "tick") as mine:
        assert not mine
    os.close(fd)  # that process died: the kernel lets go
    with leader.turn(settings.database_url, "tick") as mine:
        assert mine
