"""`make bench`: the building permit lifecycle three ways, the inbox under 100,000 open cases, server memory.

Prints cases/s for (a) bare SpiffWorkflow with a serialize+restore after every user task, (b) Shubbak's engine
commands with database commits, (c) the HTTP API under uvicorn driven by concurrent clients; then the inbox
latency and the server's memory; then (d) document uploads through the API against the minio SDK's put_object
to the same S3 server; then (e) the auditors' figures (bench/audit.py: replaying a 50-event case, `audit verify`
over 100,000 cases); then (f) leadership's report routes over 1,000,000 cases in PostgreSQL (bench/reports.py).
The last line is `ratio api/bare = X.XX`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
from datetime import date
from pathlib import Path

from bench import audit, bare, direct, documents, history, http, reports, seed
from bench.workload import package
from engine import processes
from engine.settings import Settings
from engine.users import Actor, create_user, issue_token
from storage.db import dispose, session_for
from storage.migrate import upgrade
from tests.support.postgres import free_port

SECRET = "bench-secret-" + "b" * 32
ADMIN = Actor("bench_admin", frozenset({"admin"}))


def prepare_empty(folder: Path, name: str) -> Settings:
    """Settings on a fresh, migrated database with nothing deployed."""
    url = f"sqlite:///{folder / name}"
    upgrade(url)
    return Settings(database_url=url, environment="test", secret_key=SECRET, timer_tick_seconds=0,
                    password_time_cost=1, password_memory_kib=64, var_dir=folder)


def prepare(folder: Path, name: str) -> tuple[Settings, dict[str, str]]:
    url = f"sqlite:///{folder / name}"
    settings = Settings(database_url=url, environment="test", secret_key=SECRET, timer_tick_seconds=0,
                        password_time_cost=1, password_memory_kib=64, var_dir=folder)
    upgrade(url)
    env = {"SHUBBAK_DATABASE_URL": url, "SHUBBAK_SECRET_KEY": SECRET, "SHUBBAK_ENVIRONMENT": "test",
           "SHUBBAK_TIMER_TICK_SECONDS": "0", "SHUBBAK_VAR_DIR": str(folder)}
    with session_for(url) as session:
        processes.deploy(session=session, files=package(), actor=ADMIN, settings=settings)
    return settings, env


def tokens(settings: Settings) -> dict[str, dict[str, str]]:
    out = {}
    with session_for(settings.database_url) as session:
        for lane in ("front_desk", "engineering"):
            user = create_user(session=session, username=f"http_{lane}", password="bench-password",
                               full_name=lane, roles=[lane], settings=settings, installation_wide=True)
            out[lane] = {"Authorization": f"Bearer {issue_token(user, settings)}"}
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bare-cases", type=int, default=500)
    p.add_argument("--direct-cases", type=int, default=500)
    p.add_argument("--http-cases", type=int, default=10_000, help="also the count for the memory figure")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--inbox-cases", type=int, default=100_000)
    p.add_argument("--inbox-requests", type=int, default=300)
    p.add_argument("--history-loops", type=int, default=100)
    p.add_argument("--document-files", type=int, default=20, help="files uploaded each way (API, direct)")
    p.add_argument("--document-mb", type=int, default=10, help="size of each uploaded file")
    p.add_argument("--audit-cases", type=int, default=100_000, help="cases `audit verify` checks")
    p.add_argument("--replay-repetitions", type=int, default=50)
    p.add_argument("--report-cases", type=int, default=1_000_000, help="cases of the reports benchmark (PostgreSQL)")
    p.add_argument("--report-requests", type=int, default=100, help="requests to each report route")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="shubbak-bench-") as tmp:
        folder = Path(tmp)
        print(f"Shubbak benchmark, {date.today().isoformat()}, SQLite (embedded default)")

        bare.run(20)  # warm-up
        bare_rate = bare.run(args.bare_cases)
        print(f"(a) bare SpiffWorkflow, serialize+restore per user task: {bare_rate:8.1f} cases/s")

        settings, env = prepare(folder, "direct.db")
        direct.run(settings, 20)
        direct_rate = direct.run(settings, args.direct_cases)
        dispose(settings.database_url)
        print(f"(b) engine commands + SQLite commits:                     {direct_rate:8.1f} cases/s"
              f"   ratio engine/bare = {direct_rate / bare_rate:.2f}")

        for cold in (False, True):
            settings, env = prepare(folder, f"history-{cold}.db")
            grown = history.run(settings, args.history_loops, cold=cold)
            dispose(settings.database_url)
            print(f"    step cost with history ({args.history_loops} return loops, {'cold' if cold else 'warm'}): "
                  f"{grown['first_ms']:.1f} ms per step in the first loops, {grown['last_ms']:.1f} ms in the last; "
                  f"state {grown['first_state_kb']:.0f} KB -> {grown['last_state_kb']:.0f} KB")

        settings, env = prepare(folder, "http.db")
        headers = tokens(settings)
        port = free_port()
        with http.server(env, port) as proc:
            base = f"http://127.0.0.1:{port}"
            http.run(base, headers, 20, args.clients)
            rss_before = http.rss_mb(proc.pid)
            api_rate = http.run(base, headers, args.http_cases, args.clients)
            rss_after = http.rss_mb(proc.pid)
        dispose(settings.database_url)
        print(f"(c) HTTP API, uvicorn, {args.clients} concurrent clients:           {api_rate:8.1f} cases/s"
              f"   ratio api/bare = {api_rate / bare_rate:.2f}")
        print(f"    server memory: {rss_before:.0f} MB after warm-up, {rss_after:.0f} MB after "
              f"{args.http_cases + 20} cases")

        settings, env = prepare(folder, "inbox.db")
        seed.seed_open_cases(settings, args.inbox_cases)
        headers = tokens(settings)
        dispose(settings.database_url)
        gc.collect()
        port = free_port()
        with http.server(env, port):
            base = f"http://127.0.0.1:{port}"
            http.latencies(base, "/api/tasks", headers["front_desk"], 20)
            ms = http.latencies(base, "/api/tasks", headers["front_desk"], args.inbox_requests)
            ms_service = http.latencies(base, "/api/tasks?service_code=building_permit&limit=50",
                                        headers["front_desk"], args.inbox_requests)
        print(f"    GET /api/tasks with {args.inbox_cases} open cases (100 oldest of the lane): "
              f"p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms")
        print(f"    GET /api/tasks?service_code=…&limit=50: p50 {pct(ms_service, 50):.1f} ms, "
              f"p95 {pct(ms_service, 95):.1f} ms")

        settings, env = prepare(folder, "documents.db")
        docs = documents.run(settings, env, files=args.document_files, size_mb=args.document_mb)
        dispose(settings.database_url)
        print(f"(d) document uploads, {docs.files} x {docs.size_mb} MB to moto's S3 server: through the API "
              f"{docs.api_mb_s:.1f} MB/s, direct minio put_object {docs.direct_mb_s:.1f} MB/s"
              f"   ratio api/direct = {docs.ratio:.2f}")
        print(f"    server memory after the uploads: {docs.server_rss_mb:.0f} MB")

        for line in audit.report(lambda name: prepare_empty(folder, name), cases=args.audit_cases,
                                 repetitions=args.replay_repetitions):
            print(line, flush=True)
        for line in reports.report(folder, cases=args.report_cases, requests=args.report_requests):
            print(line, flush=True)
        print(f"ratio api/bare = {api_rate / bare_rate:.2f}")


if __name__ == "__main__":
    main()
