"""`make bench`: the building permit lifecycle three ways, the inbox under 100,000 open cases, server memory.

Prints cases/s for (a) bare SpiffWorkflow with a serialize+restore after every user task, (b) Shubbak's engine
commands with database commits, (c) the HTTP API under uvicorn driven by concurrent clients; then the inbox
latency and the server's memory; then (d) document uploads through the API against the minio SDK's put_object
to the same S3 server; then (e) the auditors' figures (bench/audit.py: replaying a 50-event case, `audit verify`
over 100,000 cases); then (f) leadership's report routes over 1,000,000 cases in PostgreSQL (bench/reports.py).
Then (g) the production shape: PostgreSQL 15 with 1, 2 and 4 API processes (bench/postgres.py), and the inbox
with 1,000,000 open cases on PostgreSQL. Each figure is printed with its target. ``--only http,postgres`` runs
some sections only. The line before the last is `ratio postgres/bare = X.XX` (the best worker count), the last
`ratio api/bare = X.XX` (SQLite, one process).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from bench import audit, bare, direct, documents, history, http, postgres, reports, seed, statements
from bench.workload import SECRET, approved_path, package, prepare_empty
from engine.catalog import processes
from engine.core.settings import Settings
from engine.people.users import Actor, create_user, issue_token
from harness.postgres import free_port
from storage.db import dispose, session_for

ADMIN = Actor("bench_admin", frozenset({"admin"}))


def prepare(folder: Path, name: str) -> tuple[Settings, dict[str, str]]:
    settings = prepare_empty(folder, name)
    url = settings.database_url
    env = {"SHUBBAK_DATABASE_URL": url, "SHUBBAK_SECRET_KEY": SECRET, "SHUBBAK_ENVIRONMENT": "test",
           "SHUBBAK_TIMER_TICK_SECONDS": "0", "SHUBBAK_DOCUMENT_ISSUE_SECONDS": "0",
           "SHUBBAK_VAR_DIR": str(folder)}
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


SECTIONS = ("bare", "engine", "history", "http", "inbox", "documents", "audit", "reports", "postgres", "pginbox")
NEEDS_BARE = {"engine", "http", "postgres"}


def target(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run, of: {', '.join(SECTIONS)} (bare runs whenever a ratio "
                        "needs it)")
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
    p.add_argument("--pg-cases", type=int, default=3000, help="cases of each PostgreSQL worker count")
    p.add_argument("--pg-workers", default="1,2,4", help="API worker processes to measure on PostgreSQL")
    p.add_argument("--pg-clients", type=int, default=8)
    p.add_argument("--pg-inbox-cases", type=int, default=1_000_000)
    args = p.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    api_ratio: float | None = None
    pg_ratio: float | None = None

    with tempfile.TemporaryDirectory(prefix="shubbak-bench-") as tmp:
        folder = Path(tmp)
        print(f"Shubbak benchmark, {date.today().isoformat()}, sections: {', '.join(s for s in SECTIONS if s in only)}")
        print(f"    load before: {load_average()}")

        bare_rate = 0.0
        if only & (NEEDS_BARE | {"bare"}):
            bare.run(20)  # warm-up
            c0 = time.process_time()
            bare_rate = bare.run(args.bare_cases)
            bare_cpu = (time.process_time() - c0) * 1000 / args.bare_cases
            print(f"(a) bare SpiffWorkflow, serialize+restore per user task: {bare_rate:8.1f} cases/s, "
                  f"{bare_rate * len(approved_path()):.0f} user tasks/s; {bare_cpu:.1f} ms of CPU per case")

        if "engine" in only:
            settings, env = prepare(folder, "direct.db")
            direct.run(settings, 20)
            direct_rate = direct.run(settings, args.direct_cases)
            for line in statements.summary(settings):
                print(line)
            dispose(settings.database_url)
            ratio = direct_rate / bare_rate
            print(f"(b) engine commands + SQLite commits:                     {direct_rate:8.1f} cases/s"
                  f"   ratio engine/bare = {ratio:.2f} (target >= 0.9: {target(ratio >= 0.9)})")

        if "history" in only:
            for cold in (False, True):
                settings, env = prepare(folder, f"history-{cold}.db")
                grown = history.run(settings, args.history_loops, cold=cold)
                dispose(settings.database_url)
                growth = grown["last_ms"] / grown["first_ms"]
                print(f"    step cost with history ({args.history_loops} return loops, {'cold' if cold else 'warm'}): "
                      f"{grown['first_ms']:.1f} ms per step in the first loops, {grown['last_ms']:.1f} ms in the "
                      f"last: {growth:.1f}x (target <= 2x: {target(growth <= 2)}); "
                      f"state {grown['first_state_kb']:.0f} KB -> {grown['last_state_kb']:.0f} KB")

        if "http" in only:
            settings, env = prepare(folder, "http.db")
            headers = tokens(settings)
            port = free_port()
            completions: list[float] = []
            with http.server(env, port) as proc:
                base = f"http://127.0.0.1:{port}"
                http.run(base, headers, 20, args.clients)
                rss_before = http.rss_mb(proc.pid)
                cpu0 = (http.cpu_seconds(proc.pid), time.process_time())
                api_rate = http.run(base, headers, args.http_cases, args.clients, completions)
                cpu1 = (http.cpu_seconds(proc.pid), time.process_time())
                rss_after = http.rss_mb(proc.pid)
            dispose(settings.database_url)
            api_ratio = api_rate / bare_rate
            print(f"(c) HTTP API, uvicorn, {args.clients} concurrent clients:           {api_rate:8.1f} cases/s, "
                  f"{api_rate * len(approved_path()):.0f} user tasks/s   ratio api/bare = {api_ratio:.2f} "
                  f"(target >= 0.45: {target(api_ratio >= 0.45)}); completion p50 {pct(completions, 50):.1f} ms, "
                  f"p95 {pct(completions, 95):.1f} ms")
            print(f"    CPU per case: API server {(cpu1[0] - cpu0[0]) * 1000 / args.http_cases:.1f} ms, clients "
                  f"{(cpu1[1] - cpu0[1]) * 1000 / args.http_cases:.1f} ms")
            print(f"    server memory: {rss_before:.0f} MB after warm-up, {rss_after:.0f} MB after "
                  f"{args.http_cases + 20} cases (target <= 300 MB: {target(rss_after <= 300)})")

        if "inbox" in only:
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
            print(f"    GET /api/tasks with {args.inbox_cases} open cases, SQLite (100 oldest of the lane): "
                  f"p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms (target <= 20 ms: {target(pct(ms, 95) <= 20)})")
            print(f"    GET /api/tasks?service_code=…&limit=50: p50 {pct(ms_service, 50):.1f} ms, "
                  f"p95 {pct(ms_service, 95):.1f} ms")

        if "documents" in only:
            settings, env = prepare(folder, "documents.db")
            docs = documents.run(settings, env, files=args.document_files, size_mb=args.document_mb)
            dispose(settings.database_url)
            print(f"(d) document uploads, {docs.files} x {docs.size_mb} MB to moto's S3 server: through the API "
                  f"{docs.api_mb_s:.1f} MB/s, direct minio put_object {docs.direct_mb_s:.1f} MB/s"
                  f"   ratio api/direct = {docs.ratio:.2f}")
            print(f"    server memory after the uploads: {docs.server_rss_mb:.0f} MB")

        if "audit" in only:
            for line in audit.report(lambda name: prepare_empty(folder, name), cases=args.audit_cases,
                                     repetitions=args.replay_repetitions):
                print(line, flush=True)
        if "reports" in only:
            for line in reports.report(folder, cases=args.report_cases, requests=args.report_requests):
                print(line, flush=True)

        if "postgres" in only:
            workers = tuple(int(n) for n in args.pg_workers.split(","))
            served = postgres.lifecycles(folder, workers=workers, cases=args.pg_cases, clients=args.pg_clients)
            for run in served:
                print(f"(g) PostgreSQL 15, {run.workers} API process(es), {args.pg_clients} clients: "
                      f"{run.cases_s:8.1f} cases/s, {run.tasks_s:.0f} user tasks/s, ratio {run.cases_s / bare_rate:.2f}"
                      f" of bare; completion p50 {pct(run.completions_ms, 50):.1f} ms, "
                      f"p95 {pct(run.completions_ms, 95):.1f} ms; CPU per case: API {run.cpu_ms['api']:.1f} ms, "
                      f"PostgreSQL {run.cpu_ms['postgres']:.1f} ms, clients {run.cpu_ms['clients']:.1f} ms",
                      flush=True)
            best = max(served, key=lambda r: r.cases_s)
            pg_ratio = best.cases_s / bare_rate
            p95 = pct(best.completions_ms, 95)
            print(f"    best: {best.workers} process(es), ratio {pg_ratio:.2f} (target >= 0.7: "
                  f"{target(pg_ratio >= 0.7)}), completion p95 {p95:.1f} ms (target < 50 ms: {target(p95 < 50)})")

        if "pginbox" in only:
            found = postgres.inbox(folder, cases=args.pg_inbox_cases, requests=args.inbox_requests)
            lane, service = found["lane"], found["service"]
            assert isinstance(lane, list) and isinstance(service, list)
            print(f"    GET /api/tasks with {args.pg_inbox_cases:,} open cases, PostgreSQL (seeded by SQL in "
                  f"{found['seed_s']:.0f} s): p50 {pct(lane, 50):.1f} ms, p95 {pct(lane, 95):.1f} ms "
                  f"(target <= 50 ms: {target(pct(lane, 95) <= 50)}); ?service_code=…&limit=50: "
                  f"p95 {pct(service, 95):.1f} ms")

        print(f"    load after: {load_average()}")
        if pg_ratio is not None:
            print(f"ratio postgres/bare = {pg_ratio:.2f}")
        if api_ratio is not None:
            print(f"ratio api/bare = {api_ratio:.2f}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
