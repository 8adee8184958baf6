"""``shubbak serve --workers N``: N API processes on one port, replaced when killed, restarted one by one on
SIGHUP without refusing a request, stopped gracefully on SIGTERM; the embedded loops still fire a timer once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from engine.core.settings import Settings
from harness.api import CITIZEN
from harness.postgres import free_port
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.audit import AuditEvent
from tests.support.lifecycles import SERVICE
from tests.support.shubbak_processes import answers, children, prepare, process, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _env(settings: Settings) -> dict[str, str]:
    return {"SHUBBAK_DATABASE_URL": settings.database_url, "SHUBBAK_ENVIRONMENT": "test",
            "SHUBBAK_VAR_DIR": str(settings.var_dir), "SHUBBAK_STORAGE_URL": settings.storage_url,
            "SHUBBAK_SECRET_KEY": settings.secret_key, "SHUBBAK_TIMER_TICK_SECONDS": "0.5",
            "SHUBBAK_MESSAGE_POLL_SECONDS": "0.5", "SHUBBAK_SHUTDOWN_GRACE_SECONDS": "3"}


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def test_workers_share_a_port_survive_kills_and_restart_without_refusing(sqlite_settings: Settings,
                                                                         tmp_path: Path) -> None:
    assert (TEST_PROCESSES / SERVICE).is_dir()
    clerk, _reviewer = prepare(sqlite_settings, SERVICE)
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_123.db").write_bytes(b"samples of the last run")
    env = {**_env(sqlite_settings), "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = tmp_path
    with process(["serve", "--workers", "2", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                 env, tmp_path / "api.log") as api:
        wait_for("the API", lambda: answers(f"{base}/readyz"), 60, logs)
        wait_for("two workers", lambda: len(children(api.pid)) == 2, 30, logs)
        first = children(api.pid)
        # prometheus-client's multiprocess folder: the same for every worker, emptied of the last run's samples.
        assert {_environ(pid)["PROMETHEUS_MULTIPROC_DIR"] for pid in first} == {str(metrics)}
        # glibc's malloc arenas bounded in each worker (settings.malloc_arenas): the server's memory stays flat.
        assert {_environ(pid).get("MALLOC_ARENA_MAX") for pid in first} == {"2"}
        assert not (metrics / "counter_123.db").exists()

        # A case whose one-second timer the embedded loops (both workers, taking turns) fire once.
        case = httpx.post(f"{base}/api/cases", headers=clerk, timeout=20,
                          json={"service_code": SERVICE, "citizen": CITIZEN, "data": {}}).json()
        register = case["tasks"][0]["id"]
        assert httpx.post(f"{base}/api/tasks/{register}/complete", headers=clerk, json={"data": {}},
                          timeout=20).status_code == 200

        def review_ready() -> bool:
            tasks = httpx.get(f"{base}/api/cases/{case['id']}", headers=clerk, timeout=20).json()["tasks"]
            return [t["name"] for t in tasks] == ["review"]

        wait_for("the timer", review_ready, 30, logs)

        # SIGKILL a worker: another takes its place.
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_for("a replacement worker", lambda: victim not in children(api.pid) and len(children(api.pid)) == 2,
                 30, logs)

        # SIGHUP: each worker replaced by a new one, which serves before the old one stops; nothing refused.
        before = children(api.pid)
        failures: list[str] = []
        retried: list[int] = []
        served = 0
        stop = threading.Event()

        def keep_asking() -> None:
            nonlocal served
            with httpx.Client(base_url=base, timeout=10) as client:
                while not stop.is_set():
                    try:
                        try:
                            r = client.get("/api/cases", headers=clerk)
                        except (httpx.ReadError, httpx.RemoteProtocolError):
                            # A kept-alive connection closed by a stopping worker just as the next request
                            # went out on it: the race every HTTP client meets, and answers as browsers and
                            # proxies do for a GET (RFC 9110 9.2.2): once more, on a new connection. A refusal
                            # on that one is a failure.
                            retried.append(1)
                            r = client.get("/api/cases", headers=clerk)
                        served += 1
                        if r.status_code != 200:
                            failures.append(f"{r.status_code} {r.text[:200]}")
                    except httpx.TransportError as exc:
                        failures.append(repr(exc))

        asker = threading.Thread(target=keep_asking, daemon=True)
        asker.start()
        os.kill(api.pid, signal.SIGHUP)
        wait_for("the rolling restart", lambda: not (children(api.pid) & before) and len(children(api.pid)) == 2,
                 60, logs)
        time.sleep(0.5)
        stop.set()
        asker.join(timeout=20)
        assert served > 0 and failures == [], failures
        assert len(retried) <= len(before), retried  # at most one closed connection per stopping worker

        # SIGTERM: the supervisor and its workers stop, within the grace period.
        os.kill(api.pid, signal.SIGTERM)
        assert api.wait(timeout=30) == 0
    with Session(engine_for(sqlite_settings.database_url)) as session:
        fired = session.execute(select(func.count()).select_from(AuditEvent)
                                .where(AuditEvent.kind == "timer_fired")).scalar_one()
    assert fired == 1


@pytest.mark.parametrize("workers", ["1", "3"])
def test_serve_lets_only_the_trusted_proxies_setting_name_the_client(sqlite_settings: Settings, workers: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told not to: behind a proxy on the host that passes
    a client's header on, the client could then pick its address (throttles, the board's cap). serve turns it off."""
    import uvicorn

    from cli.main import cmd_serve, parser

    given: dict[str, object] = {}
    # serve exports the metrics folder for its workers: kept to this test (the variable goes when it ends)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(sqlite_settings.var_dir / "metrics"))
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: given.update(kwargs))
    args = parser().parse_args(["serve", "--workers", workers])
    assert cmd_serve(sqlite_settings, args) == 0
    assert given["proxy_headers"] is False
