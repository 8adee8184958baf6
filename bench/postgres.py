"""The production shape on one machine: PostgreSQL 15 on loopback, the API in 1, 2 and 4 processes.

``lifecycles`` starts its own PostgreSQL (harness/postgres.py: the tests' settings, ``fsync`` off like
SQLite's ``synchronous=NORMAL`` in WAL), deploys the building permit, and for each worker count starts uvicorn
with ``--workers N`` on the app factory (the processes share the port), runs the approved path with concurrent
HTTP clients, and measures cases/s, user tasks/s and the latency of each completion. ``inbox`` copies one real
open case 1,000,000 times by SQL (like bench/reports.py seeds its cases) and times ``GET /api/tasks``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from bench import http
from bench.workload import CITIZEN, approved_path, package
from engine.cases import lifecycle as case_commands
from engine.catalog import processes
from engine.core.settings import Settings
from engine.people.users import Actor, create_user, issue_token
from harness.postgres import LocalPostgres, free_port
from harness.process import serve
from storage.db import dispose, engine_for, session_for
from storage.migrate import upgrade
from storage.models.cases import Case, Task

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + "b" * 32
ADMIN = Actor("bench_admin", frozenset({"admin"}))
USER_TASKS = len(approved_path())


@dataclass(frozen=True)
class Served:
    workers: int
    cases_s: float
    completions_ms: list[float]
    cpu_ms: dict[str, float]  # CPU milliseconds per case: the API processes, PostgreSQL, the clients

    @property
    def tasks_s(self) -> float:
        return self.cases_s * USER_TASKS


def postmaster(server: LocalPostgres) -> int:
    assert server.dir is not None
    return int((server.dir / "data" / "postmaster.pid").read_text().split()[0])


_servers: dict[str, LocalPostgres] = {}


@contextmanager
def database(name: str) -> Iterator[str]:
    server = LocalPostgres()
    url = server.start()
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        db = url.rsplit("/", 1)[0] + "/" + name
        upgrade(db)
        _servers[db] = server
        yield db
    finally:
        server.stop()


def _settings(url: str, folder: Path) -> Settings:
    return Settings(database_url=url, environment="test", secret_key=SECRET, timer_tick_seconds=0,
                    document_issue_seconds=0, password_time_cost=1, password_memory_kib=64, var_dir=folder)


def _env(url: str, folder: Path) -> dict[str, str]:
    return {"SHUBBAK_DATABASE_URL": url, "SHUBBAK_SECRET_KEY": SECRET, "SHUBBAK_ENVIRONMENT": "test",
            "SHUBBAK_TIMER_TICK_SECONDS": "0", "SHUBBAK_DOCUMENT_ISSUE_SECONDS": "0", "SHUBBAK_VAR_DIR": str(folder),
            "PYTHONPATH": str(ROOT)}


def _prepare(url: str, settings: Settings) -> dict[str, dict[str, str]]:
    out = {}
    with session_for(url) as session:
        processes.deploy(session=session, files=package(), actor=ADMIN, settings=settings)
        for lane in ("front_desk", "engineering"):
            user = create_user(session=session, username=f"pg_{lane}", password="bench-password",
                               full_name=lane, roles=[lane], settings=settings, installation_wide=True)
            out[lane] = {"Authorization": f"Bearer {issue_token(user, settings)}"}
    return out


@contextmanager
def server(env: dict[str, str], port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """uvicorn with ``--workers`` on the app factory: N processes answering on one port."""
    argv = ["-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    with serve(env, port, argv, start_seconds=60, stop_seconds=30) as proc:
        time.sleep(0.5 * workers)  # every worker up, not just the first
        yield proc


def lifecycles(folder: Path, *, workers: tuple[int, ...] = (1, 2, 4), cases: int = 2000,
               clients: int = 8) -> list[Served]:
    out = []
    with database("bench_api") as url:
        settings = _settings(url, folder)
        headers = _prepare(url, settings)
        dispose(url)
        for n in workers:
            port = free_port()
            with server(_env(url, folder), port, n) as proc:
                base = f"http://127.0.0.1:{port}"
                http.run(base, headers, 20 * n, clients)  # warm-up: every process restores and caches
                completions: list[float] = []
                pg = postmaster(_servers[url])
                before = (http.cpu_seconds(proc.pid), http.cpu_seconds(pg), time.process_time())
                rate = http.run(base, headers, cases, clients, completions)
                after = (http.cpu_seconds(proc.pid), http.cpu_seconds(pg), time.process_time())
            cpu = {name: (b - a) * 1000 / cases for name, a, b in zip(("api", "postgres", "clients"), before, after,
                                                                        strict=True)}
            out.append(Served(n, rate, completions, cpu))
    return out


def seed_open_cases(url: str, settings: Settings, count: int) -> None:
    """``count`` copies of one case the engine opened (state, projection), each with its own id, tracking
    number and task id, by SQL: ``INSERT … SELECT … FROM generate_series``."""
    actor = Actor("bench_front_desk", frozenset({"front_desk"}))
    with session_for(url) as session:
        model = case_commands.open_case(session=session, service_code="building_permit", citizen=CITIZEN,
                                        data={}, actor=actor, settings=settings).case
        task_id = session.execute(text("SELECT id FROM task WHERE case_id = :c"), {"c": model.id}).scalar_one()
    cases = [c.name for c in Case.__table__.columns if c.name not in {"id"}]  # type: ignore[attr-defined]
    picked = {"tracking_number": "'I' || lpad(g::text, 12, '0')",
              "created_at": "now() - interval '30 days' + g * interval '1 second'",
              "updated_at": "now() - interval '30 days' + g * interval '1 second'"}
    case_sql = (f"INSERT INTO case_file ({', '.join(cases)}) SELECT "
                + ", ".join(picked.get(c, f"m.{c}") for c in cases)
                + " FROM case_file m CROSS JOIN generate_series(1, :n) g WHERE m.id = :model")
    tasks = [c.name for c in Task.__table__.columns]  # type: ignore[attr-defined]
    overrides = {"id": "md5(c.id::text || '-inbox')::uuid::text", "case_id": "c.id",
                 "tracking_number": "c.tracking_number", "created_at": "c.created_at"}
    task_sql = (f"INSERT INTO task ({', '.join(tasks)}) SELECT "
                + ", ".join(overrides.get(c, f"t.{c}") for c in tasks)
                + " FROM case_file c CROSS JOIN (SELECT * FROM task WHERE id = :task) t"
                  " WHERE c.tracking_number LIKE 'I%'")
    with engine_for(url).begin() as conn:
        conn.execute(text(case_sql), {"n": count, "model": model.id})
        conn.execute(text(task_sql), {"task": task_id})
    raw = create_engine(url, isolation_level="AUTOCOMMIT")
    with raw.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    raw.dispose()


def inbox(folder: Path, *, cases: int = 1_000_000, requests: int = 300) -> dict[str, list[float] | float]:
    """Milliseconds of ``GET /api/tasks`` (the 100 oldest of the lane) with ``cases`` open cases."""
    with database("bench_inbox") as url:
        settings = _settings(url, folder)
        headers = _prepare(url, settings)
        t0 = time.perf_counter()
        seed_open_cases(url, settings, cases)
        seeded = time.perf_counter() - t0
        dispose(url)
        port = free_port()
        with server(_env(url, folder), port, 1):
            base = f"http://127.0.0.1:{port}"
            http.latencies(base, "/api/tasks", headers["front_desk"], 20)
            lane = http.latencies(base, "/api/tasks", headers["front_desk"], requests)
            service = http.latencies(base, "/api/tasks?service_code=building_permit&limit=50",
                                     headers["front_desk"], requests)
    return {"lane": lane, "service": service, "seed_s": seeded}
