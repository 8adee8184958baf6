"""A real Celery worker (``shubbak worker``) on a real ``redis-server`` sends the outbox of a PostgreSQL
database: killed with SIGKILL in the middle of a send, restarted, the citizen still gets the SMS exactly once;
a gateway that is down is tried again with backoff until it answers. Everything on loopback, with timeouts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from cli.worker import beat_schedule
from engine.core.settings import Settings
from harness.api import Api
from harness.postgres import free_port
from harness.settings import ROOT, TEST_PROCESSES, make_settings
from tests.support.clock import make_timers_due
from tests.support.outbox import one_message, received
from tests.support.shubbak_processes import process
from tests.support.sms_gateway import SmsGateway


def worker(env: dict[str, str], log: Path) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """``shubbak worker --beat`` in its own process group (so that SIGKILL reaches beat and the pool too)."""
    return process(["worker", "--pool", "solo", "--beat", "--log-level", "INFO"], env, log)


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)


def wait_for(what: str, check: Callable[[], bool], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def _env(api: Api, broker: str, gateway_url: str, var_dir: Path) -> dict[str, str]:
    return {"SHUBBAK_DATABASE_URL": api.settings.database_url, "SHUBBAK_BROKER_URL": broker,
            "SHUBBAK_ENVIRONMENT": "test", "SHUBBAK_VAR_DIR": str(var_dir), "SHUBBAK_SMS_GATEWAY": "http",
            "SHUBBAK_SMS_GATEWAY_OPTIONS": json.dumps({"url": gateway_url, "timeout_seconds": 30}),
            "SHUBBAK_MESSAGE_POLL_SECONDS": "0.3", "SHUBBAK_MESSAGE_LEASE_SECONDS": "3",
            "SHUBBAK_MESSAGE_RETRY_BASE_SECONDS": "0.5", "SHUBBAK_MESSAGE_RETRY_CAP_SECONDS": "2",
            "SHUBBAK_TIMER_TICK_SECONDS": "3600"}


@pytest.fixture
def pg_api(postgres_url: str, tmp_path: Path) -> Api:
    """The app on a fresh PostgreSQL database (the worker is another process: it needs PostgreSQL)."""
    settings = make_settings(postgres_url, tmp_path)
    return Api(TestClient(create_app(settings)), settings)


def _status(api: Api) -> tuple[str, int]:
    row = received(api)[0]
    return str(row.status), int(row.attempts)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_killed_mid_send_delivers_once_after_restart(redis_url: str, pg_api: Api, tmp_path: Path) -> None:
    api = pg_api
    msg = one_message(api, datetime.now(UTC) - timedelta(seconds=1))
    log = tmp_path / "worker.log"
    with SmsGateway() as gateway:
        env = _env(api, redis_url, gateway.url, tmp_path)
        gateway.hold.clear()  # the gateway takes the SMS (it goes to the phone) and keeps the sender waiting
        with worker(env, log) as first:
            wait_for("the first send to reach the gateway", lambda: gateway.arrived.wait(0.1), log)
            kill(first)  # between "the gateway accepted" and "marked sent"
        gateway.hold.set()
        assert gateway.delivered == {msg.idempotency_key: 1}
        assert _status(api) == ("sending", 1)
        with worker(env, log):
            wait_for("the restarted worker to send", lambda: _status(api)[0] == "sent", log)
    assert [r["key"] for r in gateway.requests] == [msg.idempotency_key] * 2  # sent again, same key
    assert gateway.delivered == {msg.idempotency_key: 1}  # the citizen got it once
    assert _status(api) == ("sent", 2)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_gateway_that_is_down_is_retried_until_it_comes_back(redis_url: str, pg_api: Api, tmp_path: Path) -> None:
    api = pg_api
    msg = one_message(api, datetime.now(UTC) - timedelta(seconds=1))
    port = free_port()
    log = tmp_path / "worker.log"
    env = _env(api, redis_url, f"http://127.0.0.1:{port}/messages", tmp_path)
    with worker(env, log):
        wait_for("two refused attempts", lambda: _status(api)[1] >= 2, log)
        assert _status(api)[0] in ("pending", "sending")
        assert "did not answer" in (received(api)[0].last_error or "")
        with SmsGateway(port) as gateway:
            wait_for("the send once the gateway is back", lambda: _status(api)[0] == "sent", log)
    assert gateway.delivered == {msg.idempotency_key: 1}
    assert [r["key"] for r in gateway.requests] == [msg.idempotency_key]


def test_worker_and_beat_refuse_to_start_without_a_broker(tmp_path: Path) -> None:
    env = {**os.environ, "SHUBBAK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SHUBBAK_BROKER_URL": ""}
    for command in ("worker", "beat"):
        done = subprocess.run([sys.executable, "-m", "cli.main", command], cwd=ROOT, env=env, capture_output=True,
                              timeout=60)
        assert done.returncode == 2
        assert b"SHUBBAK_BROKER_URL" in done.stderr




@pytest.mark.postgres
@pytest.mark.slow
def test_beat_in_the_worker_advances_due_timers_of_open_cases(redis_url: str, pg_api: Api, tmp_path: Path) -> None:
    api = pg_api
    api.deploy(TEST_PROCESSES / "timer_demo", api.user("analyst"))
    clerk = api.user("front_desk")
    case = api.open_case("timer_demo", clerk).json()
    assert make_timers_due(api.settings, case["id"]) == 1
    log = tmp_path / "worker.log"
    env = {**_env(api, redis_url, "http://127.0.0.1:9/unused", tmp_path), "SHUBBAK_TIMER_TICK_SECONDS": "0.5"}

    def moved() -> bool:
        tasks = api.client.get(f"/api/cases/{case['id']}", headers=clerk).json()["tasks"]
        return [t["name"] for t in tasks] == ["t_after"]

    with worker(env, log):
        wait_for("beat to fire the due timer", moved, log)
    kinds = [e["kind"] for e in api.client.get(f"/api/cases/{case['id']}/events", headers=clerk).json()]
    assert kinds == ["case_opened", "timer_fired"]
    # The worker and its beat log as the API does: every line one JSON object (SHUBBAK_LOG_FORMAT's default), but
    # the notice Celery prints from its signal handler when stopped, where logging is not safe to call.
    lines = [json.loads(line) for line in log.read_text().splitlines()
             if line.strip() and not re.fullmatch(r"worker: (Warm|Cold) shutdown \(MainProcess\)", line)]
    assert lines and all(isinstance(line, dict) and {"time", "level", "logger", "message"} <= line.keys()
                         for line in lines)
    assert any(line["logger"].startswith("celery") for line in lines)


def test_beat_schedules_every_periodic_job(sqlite_settings: Settings) -> None:
    schedule = beat_schedule(sqlite_settings)
    assert {name: (entry["task"], entry["args"]) for name, entry in schedule.items()} == {
        f"shubbak-{job}": ("shubbak.periodic", (job,)) for job in ("outbox", "timers", "case_messages",
                                                                   "escalation", "assignment",
                                                                   "ledger_seal", "idempotency_keys",
                                                                   "throttle_counters", "citizen_codes",
                                                                   "reports", "outputs", "orphans",
                                                                   "payment_reconciliation", "bookings",
                                                                   "node_copy", "node_link")}
    assert schedule["shubbak-outbox"]["schedule"] == 2.0


def test_a_tasks_arguments_never_reach_a_json_log_line() -> None:
    """Celery's lines about a task carry its arguments and result as the extra ``data``: its own format leaves them
    out, a JSON line would write them, and a task given a phone number would log it. The workers' logging drops
    them (cli/main.py)."""
    import logging

    from api.observability import json_formatter
    from cli.main import _without_task_data

    record = logging.LogRecord("celery.app.trace", logging.INFO, __file__, 1, "Task %(name)s succeeded", None, None)
    record.data = {"name": "shubbak.send_message", "args": "('+201001234567',)", "return_value": "sent"}
    record.request_id = None
    assert "+201001234567" in json_formatter().format(record)  # what the line would say unfiltered
    assert _without_task_data(record) is True
    line = json.loads(json_formatter().format(record))
    assert "data" not in line and "+201001234567" not in json.dumps(line)
    ours = logging.LogRecord("shubbak.access", logging.INFO, __file__, 1, "kept", None, None)
    ours.data = {"route": "/api/cases"}
    assert _without_task_data(ours) is True and ours.data == {"route": "/api/cases"}  # only Celery's lines
