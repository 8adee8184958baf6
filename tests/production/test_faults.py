"""Faults survived: the production shape broken on purpose while eight clients work.

PostgreSQL (a server this test owns), ``shubbak serve --workers 2``, a Celery worker and beat on Redis, an SMS
gateway on loopback. Eight clients run whole lifecycles of a service (open, register, a one-second timer,
review) with idempotency keys, retrying 503s and lost connections with the same key, through a loopback proxy.
Meanwhile: SIGKILL one API worker; ``pg_ctl restart -m fast``; SIGKILL the Celery worker in the middle of a send;
Redis stopped for ten seconds; POSTs' answers lost on their way back (the proxy closes each connection as its
answer arrives) until several were done by the server and never heard of by their clients. Afterwards every case
and step a client was told succeeded is in the database exactly once, no case is duplicated, every message was
delivered exactly once, every due timer fired once, ``shubbak audit verify`` passes, and no answer was a 500; and
the faults did reach the clients' POSTs: some were retried, and some retries were answered from their
Idempotency-Key. Everything on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from engine.core.settings import Settings
from harness.postgres import LocalPostgres, free_port
from harness.settings import ROOT, make_settings
from storage.db import dispose, engine_for
from storage.models.messages import OutboxMessage
from tests.conftest import IN_CI, missing
from tests.support.lifecycles import SERVICE, Ledger, assert_each_done_once, run_clients, stop_clients
from tests.support.redis import LocalRedis
from tests.support.shubbak_processes import answers, children, prepare, process, served_env, wait_for
from tests.support.sms_gateway import SmsGateway
from tests.support.tcp_proxy import CuttableProxy

CLIENTS = 8
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]


def _env(settings: Settings, broker: str, gateway: str) -> dict[str, str]:
    return {**served_env(settings, gateway), "SHUBBAK_DATABASE_URL": settings.database_url,
            "SHUBBAK_BROKER_URL": broker, "SHUBBAK_MESSAGE_LEASE_SECONDS": "3",
            "SHUBBAK_MESSAGE_RETRY_BASE_SECONDS": "0.5", "SHUBBAK_MESSAGE_RETRY_CAP_SECONDS": "2",
            "SHUBBAK_IDEMPOTENCY_WAIT_SECONDS": "3"}


def test_the_production_shape_survives_its_faults(tmp_path: Path) -> None:
    if LocalPostgres.binaries() is None:
        missing("PostgreSQL binaries are not installed: the fault test restarts a server of its own")
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        postgres = LocalPostgres()
        stack.callback(postgres.stop)
        try:
            url = postgres.start()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            missing(f"no PostgreSQL server could be started: {exc}")
        stack.callback(dispose, url)
        redis = LocalRedis()
        stack.callback(redis.stop)
        try:
            broker = redis.start()
        except RuntimeError as exc:
            missing(f"no redis-server could be started: {exc}")
        gateway = stack.enter_context(SmsGateway())
        settings = make_settings(url, tmp_path)
        clerk, reviewer = prepare(settings, SERVICE)
        env = _env(settings, broker, gateway.url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # At info, uvicorn's supervisor logs each worker that dies and each one it starts: a failure shows them.
        api = stack.enter_context(process(["serve", "--workers", "2", "--port", str(port), "--no-access-log",
                                           "--log-level", "info"], env, logs / "api.log"))
        stack.enter_context(process(["beat", "--log-level", "WARNING"], env, logs / "beat.log"))
        worker_argv = ["worker", "--pool", "solo", "--log-level", "WARNING"]
        workers = [stack.enter_context(process(worker_argv, env, logs / "worker.log"))]
        wait_for("the API to be ready", lambda: answers(f"{base}/readyz"), 60, logs)
        wait_for("two API workers", lambda: len(children(api.pid)) == 2, 30, logs)

        proxy = stack.enter_context(CuttableProxy(port))  # the clients' line to the API
        ledger = Ledger()
        clients, stop = run_clients(CLIENTS, f"http://127.0.0.1:{proxy.port}", clerk, reviewer, ledger)
        started = time.monotonic()

        # 1. SIGKILL one API worker: uvicorn starts another; its clients retry with their keys.
        time.sleep(4)
        victim = min(children(api.pid))
        os.kill(victim, signal.SIGKILL)
        # A replacement usually serves within about 4 s. Once, at the end of a whole suite's run, none was seen
        # within 30 s; why is not known (the log was at warning then and said nothing; uvicorn's lines at info will
        # say when it died and when another started). The bound is generous; it is a bound, not a sleep.
        wait_for("a new API worker", lambda: victim not in children(api.pid) and len(children(api.pid)) == 2,
                 90, logs)

        # 2. Restart PostgreSQL: every connection of every process is cut.
        time.sleep(3)
        postgres.restart()

        # 3. SIGKILL the Celery worker while it is sending: the gateway holds its answer until the kill.
        time.sleep(3)
        gateway.arrived.clear()
        gateway.hold.clear()
        wait_for("a send to reach the gateway", gateway.arrived.is_set, 30, logs)
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=20)
        gateway.hold.set()
        workers.append(stack.enter_context(process(worker_argv, env, logs / "worker.log")))

        # 4. Stop Redis for ten seconds: /readyz says why; requests go on (no request needs the broker).
        time.sleep(3)
        redis.stop()
        down = httpx.get(f"{base}/readyz", timeout=10)
        assert down.status_code == 503 and down.json()["checks"]["broker"] != "ok", down.text
        time.sleep(10)
        redis.start()

        # 5. Answers lost on the way back: the server did the work, the client never heard. It sends again with
        # the same key and must get the first answer, not a second case or step.
        time.sleep(2)
        proxy.lose_post_answers.set()
        wait_for("three POSTs' answers to be lost", lambda: proxy.lost_posts >= 3, 30, logs)
        proxy.lose_post_answers.clear()

        time.sleep(3)
        stop_clients(clients, stop)
        ran = time.monotonic() - started

        engine = engine_for(url)

        def all_sent() -> bool:
            with Session(engine) as session:
                return not session.execute(select(func.count()).select_from(OutboxMessage)
                                           .where(OutboxMessage.status != "sent")).scalar_one()

        wait_for("every message to be sent", all_sent, 60, logs)
        verify = subprocess.run([sys.executable, "-m", "cli.main", "audit", "verify"], cwd=ROOT,
                                env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        # No 500, no 409, no other surprise; every case, step, timer and message a client was told about is in
        # the database (and at the gateway) exactly once, and nothing is half-written.
        assert_each_done_once(url, ledger, gateway.delivered)
        # The faults reached the writes, not only the reads: POSTs were retried, and answered from their key.
        assert sum(n for why, n in ledger.retried.items() if why.startswith("POST ")) >= 3, ledger.retried
        assert ledger.replayed >= 1, ledger.retried

    assert verify.returncode == 0, verify.stdout + verify.stderr
    print(f"\n{len(ledger.finished)} lifecycles by {CLIENTS} clients in {ran:.0f} s; retried: {dict(ledger.retried)}"
          f"; answered from a key: {ledger.replayed}; {len(gateway.delivered)} messages; CI={IN_CI}")
