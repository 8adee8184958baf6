"""(f) Leadership's figures with 1,000,000 cases in PostgreSQL: p50/p95 of every report route over HTTP.

The cases are written by SQL (``generate_series``), not by the engine: one year of cases of every deployed
service, spread over eleven centers (a governorate's three cities and eight districts), each case's user tasks
(up to three, the service's first ones) with ready and completed moments, done by four officers of the task's
lane at the case's center; one case in 25 stalled open, one in ten completed ones rejected, a third of completed
cases rated. The report aggregates are then built by the
production rebuild (engine/reports/rebuild.py, ``shubbak reports rebuild``), the same counting the projector does as
cases advance; its time is printed too. Then the API server runs on that database and each route is asked
``requests`` times in a row, over the full year (the longest range allowed) unless said otherwise.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlmodel import Session

from bench import http
from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from engine.people import centers
from engine.people.users import Actor, create_user, issue_token
from engine.reports.rebuild import rebuild
from harness.postgres import LocalPostgres, free_port
from storage.db import dispose, session_for
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + "b" * 32
ADMIN = Actor("bench_admin", frozenset({"admin"}))
CENTERS = [("G1", "governorate", None), ("C1", "city", "G1"), ("C2", "city", "G1"), ("C3", "city", "G1")] + [
    (f"D{i}", "district", f"C{1 + i % 3}") for i in range(1, 9)]


@contextmanager
def database() -> Iterator[str]:
    server = LocalPostgres()
    url = server.start()
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE bench_reports"))
        admin.dispose()
        yield url.rsplit("/", 1)[0] + "/bench_reports"
    finally:
        server.stop()


def _settings(url: str, folder: Path) -> Settings:
    return Settings(database_url=url, environment="test", secret_key=SECRET, timer_tick_seconds=0,
                    document_issue_seconds=0, password_time_cost=1, password_memory_kib=64, var_dir=folder)


def _services(session: Session, settings: Settings) -> list[tuple[str, int, float, list[tuple[str, str, str]]]]:
    """Deploy every service of processes/; (code, version id, SLA days, first three user tasks) of each."""
    out = []
    for folder in sorted(p for p in (ROOT / "processes").iterdir() if (p / "service.toml").exists()):
        version, _new = processes.deploy(session=session, files=read_package(folder), actor=ADMIN,
                                         settings=settings)
        assert version.id is not None
        process = processes.cache.get(session, version.id, settings)
        steps = [(name, info.lane, info.title) for name, info in list(process.user_tasks.items())[:3]]
        if steps:
            out.append((version.service_code, version.id, float(process.service.sla_days or 30), steps))
    return out


_CASES = """
INSERT INTO case_file (tracking_number, service_code, process_version_id, status, national_id, citizen_name, phone,
                       data, state, state_format, version, outcome, due_at, audit_seq, audit_head, created_by,
                       created_at, updated_at, completed_at, center_id)
SELECT 'B' || lpad(g::text, 12, '0'), s.code, s.version_id, st.status, lpad(g::text, 14, '0'), 'Bench citizen',
       '+201000000000', '{}'::json, '{}', 'bench', 1,
       CASE WHEN st.status = 'completed' THEN CASE WHEN g % 10 = 3 THEN 'request_rejected' ELSE 'done' END END,
       x.opened + s.sla * interval '1 day', 0, '', 'bench_clerk', x.opened, x.opened,
       CASE WHEN st.status <> 'open' THEN x.opened + x.dur END, (:centers)[1 + g % cardinality(:centers)]
FROM generate_series(1, :n) g
JOIN bench_service s ON s.idx = g % :services
CROSS JOIN LATERAL (SELECT :start + (g::float8 / :n) * (:end - :start) AS opened,
                           interval '1 hour'
                           + power(((g::bigint * 7919) % 1000) / 1000.0, 2) * interval '40 days' AS dur) x
CROSS JOIN LATERAL (SELECT CASE WHEN g % 25 = 0 OR x.opened + x.dur > :end THEN 'open'
                                WHEN g % 50 = 7 THEN 'cancelled' ELSE 'completed' END AS status) st
"""

_TASKS = """
INSERT INTO task (id, case_id, tracking_number, service_code, name, title, lane, state, created_at, due_at,
                  completed_by, completed_at, center_id, escalation_level)
SELECT md5(c.id::text || ':' || s.k)::uuid::text, c.id, c.tracking_number, c.service_code, s.name, s.title, s.lane,
       t.state, w.ready, w.ready + interval '3 days',
       CASE WHEN t.state = 'completed' THEN s.lane || '_' || c.center_id || '_' || (c.id % 4) END,
       CASE WHEN t.state <> 'ready' THEN w.done END, c.center_id, 0
FROM case_file c
CROSS JOIN LATERAL (SELECT interval '1 hour'
                           + power(((c.national_id::bigint * 7919) % 1000) / 1000.0, 2) * interval '40 days' AS dur) d
JOIN bench_step s ON s.service_code = c.service_code
CROSS JOIN LATERAL (SELECT c.created_at + d.dur * s.k / s.n AS ready,
                           c.created_at + d.dur * (s.k + 1) / s.n AS done) w
CROSS JOIN LATERAL (SELECT CASE
    WHEN c.status = 'completed' THEN 'completed'
    WHEN c.status = 'cancelled' THEN CASE WHEN s.k < s.n - 1 THEN 'completed' ELSE 'cancelled' END
    WHEN w.done <= :end AND s.k < s.n - 1 THEN 'completed'
    WHEN w.ready <= :end THEN 'ready' END AS state) t
WHERE t.state IS NOT NULL
"""

_RATINGS = """
INSERT INTO rating (case_id, service_code, center_id, clerk, score, channel, created_at)
SELECT id, service_code, center_id, created_by, (ARRAY['happy', 'happy', 'neutral', 'unhappy'])[1 + id % 4], 'desk',
       completed_at + interval '1 hour'
FROM case_file WHERE status = 'completed' AND id % 3 = 0 AND completed_at + interval '1 hour' <= :end
"""


def seed(url: str, settings: Settings, cases: int, end: datetime) -> dict[str, float]:
    """The cases, tasks and ratings by SQL, then the aggregates by the rebuild; seconds each took."""
    took: dict[str, float] = {}
    with session_for(url) as session:
        services = _services(session, settings)
        ids = []
        for code, level, parent in CENTERS:
            made = centers.create_center(session=session, code=code, name_ar=code, name_en=code, level=level,
                                         parent_code=parent)
            assert made.id is not None
            ids.append(made.id)
        conn = session.connection()
        conn.execute(text("CREATE TEMP TABLE bench_service (idx int, code text, version_id int, sla float8)"))
        conn.execute(text("CREATE TEMP TABLE bench_step (service_code text, k int, n int, name text, lane text, "
                          "title text)"))
        for idx, (code, version_id, sla, steps) in enumerate(services):
            conn.execute(text("INSERT INTO bench_service VALUES (:i, :c, :v, :s)"),
                         {"i": idx, "c": code, "v": version_id, "s": sla})
            for k, (name, lane, title) in enumerate(steps):
                conn.execute(text("INSERT INTO bench_step VALUES (:c, :k, :n, :name, :lane, :title)"),
                             {"c": code, "k": k, "n": len(steps), "name": name, "lane": lane, "title": title})
        start = end - timedelta(days=365)
        window = {"start": start, "end": end}
        t0 = time.perf_counter()
        conn.execute(text(_CASES), {**window, "n": cases, "services": len(services), "centers": ids[1:]})
        conn.execute(text(_TASKS), window)
        conn.execute(text(_RATINGS), window)
        session.commit()
        took["seed_s"] = time.perf_counter() - t0
    raw = create_engine(url, isolation_level="AUTOCOMMIT")
    with raw.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    raw.dispose()
    t0 = time.perf_counter()
    with session_for(url) as session:
        counted = rebuild(session.connection())
        session.commit()
    took["rebuild_s"] = time.perf_counter() - t0
    took["tasks"] = counted["tasks"]
    raw = create_engine(url, isolation_level="AUTOCOMMIT")
    with raw.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    raw.dispose()
    return took


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def report(folder: Path, *, cases: int = 1_000_000, requests: int = 100) -> list[str]:
    lines = []
    end = datetime.now(UTC).replace(microsecond=0)
    with database() as url:
        upgrade(url)
        settings = _settings(url, folder)
        took = seed(url, settings, cases, end)
        with session_for(url) as session:
            user = create_user(session=session, username="bench_supervisor", password="bench-password",
                               full_name="Supervisor", roles=["supervisor"], settings=settings,
                               installation_wide=True)
            headers = {"Authorization": f"Bearer {issue_token(user, settings)}"}
        dispose(url)
        lines.append(f"(f) reports with {cases:,} cases and {int(took['tasks']):,} completed tasks in PostgreSQL "
                     f"(seeded by SQL in {took['seed_s']:.0f} s; aggregates rebuilt in {took['rebuild_s']:.0f} s)")
        year = {"from": (end.date() - timedelta(days=365)).isoformat(), "to": end.date().isoformat()}
        month = {"from": (end.date() - timedelta(days=29)).isoformat(), "to": end.date().isoformat()}
        routes = [("sla, a year", "/api/reports/sla", year), ("sla, a year, one city", "/api/reports/sla",
                                                             {**year, "center": "C1"}),
                  ("sla, 30 days", "/api/reports/sla", month),
                  ("steps, a year", "/api/reports/steps", {**year, "service_code": "building_permit"}),
                  ("departments, a year", "/api/reports/departments", year),
                  ("throughput, a year", "/api/reports/throughput", year),
                  ("officers, a year", "/api/reports/officers", year),
                  ("satisfaction, a year", "/api/reports/satisfaction", year)]
        env = {"SHUBBAK_DATABASE_URL": url, "SHUBBAK_SECRET_KEY": SECRET, "SHUBBAK_ENVIRONMENT": "test",
               "SHUBBAK_TIMER_TICK_SECONDS": "0", "SHUBBAK_DOCUMENT_ISSUE_SECONDS": "0",
               "SHUBBAK_VAR_DIR": str(folder)}
        port = free_port()
        with http.server(env, port):
            base = f"http://127.0.0.1:{port}"
            for label, path, query in routes:
                full = path + "?" + "&".join(f"{k}={v}" for k, v in query.items())
                http.latencies(base, full, headers, 10)
                ms = http.latencies(base, full, headers, requests)
                lines.append(f"    GET {path} ({label}): p50 {_pct(ms, 50):.1f} ms, p95 {_pct(ms, 95):.1f} ms")
    return lines


def main() -> None:
    import argparse
    import tempfile

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=100)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="shubbak-bench-") as tmp:
        for line in report(Path(tmp), cases=args.cases, requests=args.requests):
            print(line, flush=True)


if __name__ == "__main__":
    main()
