"""A real network cut between Shubbak and PostgreSQL (docs/deployment.md, "Database trouble").

A loopback TCP proxy (tests/support/tcp_proxy.py) stands between the app and the test PostgreSQL; the test cuts
it (every connection closed on both sides, new ones refused) and restores it:
- with ``shubbak serve --workers 2`` working through it (four clients running whole lifecycles, their background
  loops' turns through it too): during the cut requests are answered 503 with ``Retry-After`` within the
  configured connect timeout (never 500, never a hang), ``/healthz`` answers, ``/readyz`` says the database is
  not ready; once the line is back the pools reconnect by themselves and the work goes on; afterwards every
  case, step, timer and message is there exactly once and nothing is half-written;
- a round holding a job's turn through the line loses it at the cut (the server ends the session and lets go
  of the lock; the round stops at its next check); another process takes the turn once the line is back.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from api.app import create_app
from engine.core.settings import Settings
from harness.api import CITIZEN
from harness.postgres import free_port
from harness.settings import make_settings
from storage import leader, trouble
from storage.db import PostgresOptions, configure_postgres, dispose, engine_for
from tests.support import advisory_locks
from tests.support.lifecycles import SERVICE, Ledger, assert_each_done_once, run_clients, stop_clients
from tests.support.shubbak_processes import answers, prepare, process, served_env, wait_for
from tests.support.sms_gateway import SmsGateway
from tests.support.tcp_proxy import CuttableProxy

JOB = "network_cut_test_job"
CONNECT_TIMEOUT = 2  # SHUBBAK_DATABASE_CONNECT_TIMEOUT_SECONDS of the served app
STATEMENT_TIMEOUT = 5  # SHUBBAK_DATABASE_STATEMENT_TIMEOUT_SECONDS


@pytest.fixture
def line(postgres_url: str) -> Iterator[CuttableProxy]:
    with CuttableProxy(make_url(postgres_url).port or 5432) as proxy:
        yield proxy


def holders(admin: Engine, job: str = JOB) -> list[str]:
    """The application names of the sessions holding the job's turn, seen beside the line."""
    return [name for _pid, name in advisory_locks.holders(admin, job)]


@pytest.mark.postgres
def test_the_proxy_cuts_and_restores_the_line(line: CuttableProxy, postgres_url: str) -> None:
    """The tool itself: through it a query works; cut, an open connection fails and a new one is refused at
    once; restored, a new connection works again."""
    url = line.url(postgres_url)
    engine = create_engine(url, connect_args={"connect_timeout": 2}, pool_pre_ping=False)
    try:
        conn = engine.connect()
        assert conn.execute(text("SELECT 1")).scalar() == 1
        assert line.connections == 1
        line.cut()
        started = time.monotonic()
        with pytest.raises(OperationalError):
            conn.execute(text("SELECT 1"))
        conn.close()
        with pytest.raises(OperationalError, match="refused|closed|failed"):
            engine.connect()
        assert time.monotonic() - started < 2  # a cut line answers at once: refused, not a timeout
        line.restore()
        with engine.connect() as again:
            assert again.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_timeouts_are_settings_that_reach_the_connection(postgres_url: str, tmp_path: Path) -> None:
    """SHUBBAK_DATABASE_STATEMENT_TIMEOUT_SECONDS is the server's statement_timeout on the app's connections; a
    statement it cancels is database trouble (a 503), not a bug."""
    settings = make_settings(postgres_url, tmp_path, database_statement_timeout_seconds=0.5)
    with engine_for(settings.database_url).connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "500ms"
        started = time.monotonic()
        with pytest.raises(OperationalError) as cancelled:
            conn.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 3
    assert getattr(cancelled.value.orig, "sqlstate", None) == "57014" and trouble.is_trouble(cancelled.value)


def test_a_server_that_never_answers_fails_the_connection_within_the_connect_timeout(tmp_path: Path) -> None:
    """A line that takes the connection but carries nothing back (a black hole, a hung server): the attempt
    gives up after SHUBBAK_DATABASE_CONNECT_TIMEOUT_SECONDS instead of waiting for ever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers the startup packet
        url = f"postgresql+psycopg://shubbak@127.0.0.1:{silent.getsockname()[1]}/shubbak"
        make_settings(url, tmp_path, database_connect_timeout_seconds=2)
        started = time.monotonic()
        try:
            with pytest.raises(OperationalError) as failed:
                engine_for(url).connect()
        finally:
            dispose(url)
        took = time.monotonic() - started
    assert 1.5 < took < 5, took
    assert trouble.is_trouble(failed.value)


@pytest.mark.postgres
def test_a_request_stuck_behind_a_lock_is_a_503_after_the_statement_timeout(postgres_url: str, postgres_admin: Engine,
                                                                            tmp_path: Path) -> None:
    """A case row held by another session (a long maintenance transaction): the completion waits on it until
    the statement timeout cancels it, and is answered 503 with Retry-After (not a 500, not a hang); once the
    row is free the retry with the same key completes the step once."""
    settings = make_settings(postgres_url, tmp_path, database_statement_timeout_seconds=1, retry_after_seconds=1)
    clerk, _reviewer = prepare(settings, SERVICE)
    with TestClient(create_app(settings)) as client:
        case = client.post("/api/cases", headers=clerk, json={"service_code": SERVICE, "citizen": CITIZEN,
                                                              "data": {"client": "locked"}}).json()
        task = case["tasks"][0]["id"]
        with postgres_admin.connect() as holder:
            holder.execute(text("BEGIN"))
            holder.execute(text("SELECT id FROM case_file WHERE id = :id FOR UPDATE"), {"id": case["id"]})
            started = time.monotonic()
            r = client.post(f"/api/tasks/{task}/complete", headers={**clerk, "Idempotency-Key": "locked-1"},
                            json={"data": {"note": "x"}})
            took = time.monotonic() - started
            holder.execute(text("ROLLBACK"))
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert took < 5, took  # a first try and its one retry, each cancelled after a second
        again = client.post(f"/api/tasks/{task}/complete", headers={**clerk, "Idempotency-Key": "locked-1"},
                            json={"data": {"note": "x"}})
        assert again.status_code == 200, again.text
    with postgres_admin.connect() as conn:
        done = conn.execute(text("SELECT count(*) FROM audit_event WHERE case_id = :id AND kind = 'task_completed'"),
                            {"id": case["id"]}).scalar()
    assert done == 1


@pytest.mark.postgres
def test_a_round_that_loses_the_line_loses_its_turn_and_another_takes_it_when_the_line_is_back(
        line: CuttableProxy, postgres_url: str, postgres_admin: Engine) -> None:
    first = line.url(postgres_url) + "?application_name=first"  # two processes' pools, both through the line
    second = line.url(postgres_url) + "?application_name=second"
    for url in (first, second):
        configure_postgres(url, PostgresOptions(connect_timeout_seconds=2, tcp_user_timeout_ms=3000))
    stopped: list[BaseException] = []
    in_turn = threading.Event()

    def round_of_first() -> None:
        with leader.turn(first, JOB, check_seconds=0) as mine:
            assert mine
            in_turn.set()
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # pieces of work, each followed by the check
                    leader.check()
                    time.sleep(0.05)
            except leader.LostTurn as exc:
                stopped.append(exc)

    try:
        runner = threading.Thread(target=round_of_first)
        runner.start()
        assert in_turn.wait(10)
        assert holders(postgres_admin) == ["first"]
        with leader.turn(second, JOB) as other:
            assert not other  # one at a time while the line holds
        cut_at = time.monotonic()
        line.cut()
        runner.join(timeout=15)
        assert not runner.is_alive() and len(stopped) == 1  # the round stopped at its next check
        assert time.monotonic() - cut_at < 5
        wait_until(lambda: holders(postgres_admin) == [], 10)  # the server ended the session: the lock is free
        # While the line is down nobody through it can take the turn.
        with pytest.raises(OperationalError), leader.turn(second, JOB):
            pass
        line.restore()
        with leader.turn(second, JOB) as other:
            assert other  # once the line is back another process takes the turn
            assert holders(postgres_admin) == ["second"]
            with leader.turn(first, JOB) as again:
                assert not again  # and the first takes it afresh only when it is free
        with leader.turn(first, JOB) as again:
            assert again
    finally:
        for url in (first, second):
            dispose(url)


def wait_until(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_a_network_cut_is_a_503_and_the_work_goes_on_once_the_line_is_back(
        line: CuttableProxy, postgres_url: str, postgres_admin: Engine, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        gateway = stack.enter_context(SmsGateway())
        settings = make_settings(postgres_url, tmp_path)
        clerk, reviewer = prepare(settings, SERVICE)
        env = _env(settings, line.url(postgres_url), gateway.url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        stack.enter_context(process(["serve", "--workers", "2", "--port", str(port), "--no-access-log",
                                     "--log-level", "warning"], env, logs / "api.log"))
        wait_for("the API to be ready", lambda: answers(f"{base}/readyz"), 60, logs)
        ledger = Ledger()
        clients, stop = run_clients(4, base, clerk, reviewer, ledger)
        http = stack.enter_context(httpx.Client(base_url=base, timeout=30))

        time.sleep(5)
        line.cut()
        cut_at = time.monotonic()
        # While the line is down: a clear 503 with Retry-After, bounded by the connect timeout (the retry of
        # a request that met no commit included), never a 500 or a hang.
        probes = []
        for n in range(3):
            started = time.monotonic()
            r = http.post("/api/cases", headers={**clerk, "Idempotency-Key": f"probe-{n}"},
                          json={"service_code": SERVICE, "citizen": CITIZEN, "data": {"client": f"probe-{n}"}})
            probes.append((r.status_code, time.monotonic() - started, r.headers.get("retry-after"), r.json()))
        health = http.get("/healthz")
        ready = http.get("/readyz")
        time.sleep(max(0.0, 6 - (time.monotonic() - cut_at)))
        line.restore()
        restored_at = time.monotonic()
        wait_for("the API to be ready again", lambda: answers(f"{base}/readyz"), 30, logs)
        back_in = time.monotonic() - restored_at
        finished_before = len(ledger.finished)
        time.sleep(8)
        finished_after = len(ledger.finished)
        stop_clients(clients, stop)
        wait_for("every message to be sent", lambda: _all_sent(postgres_admin), 60, logs)

    bound = 2 * CONNECT_TIMEOUT + 3  # a first try and its one retry, each at most a connect timeout, and slack
    for status, took, retry_after, body in probes:
        assert status == 503, probes
        assert took < bound, probes
        assert retry_after == "1" and body.get("message_id"), probes
    assert health.status_code == 200
    assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok", ready.text
    assert ready.headers.get("retry-after") == "1"
    assert back_in < 15  # the pools reconnected by themselves, no restart
    assert sum(n for why, n in ledger.retried.items() if why.endswith(" 503")) > 0, ledger.retried  # met the cut
    assert finished_after > finished_before, (finished_before, finished_after)  # and went on after it
    # No probe opened a case (they were answered 503 before any commit); nothing is half-written.
    with postgres_admin.connect() as conn:
        probed = conn.execute(text("SELECT count(*) FROM case_file WHERE data->>'client' LIKE 'probe-%'")).scalar()
    assert probed == 0
    assert_each_done_once(postgres_url, ledger, gateway.delivered)
    print(f"\n{len(ledger.finished)} lifecycles; retried during the cut: {dict(ledger.retried)}; probes "
          f"{[(s, round(t, 2)) for s, t, *_ in probes]}; ready again {back_in:.1f} s after the line came back")


def _all_sent(admin: Engine) -> bool:
    with admin.connect() as conn:
        return not conn.execute(text("SELECT count(*) FROM outbox_message WHERE status <> 'sent'")).scalar_one()


def _env(settings: Settings, url: str, gateway: str) -> dict[str, str]:
    return {**served_env(settings, gateway), "SHUBBAK_DATABASE_URL": url,
            "SHUBBAK_MESSAGE_LEASE_SECONDS": "3", "SHUBBAK_MESSAGE_RETRY_BASE_SECONDS": "0.5",
            "SHUBBAK_MESSAGE_RETRY_CAP_SECONDS": "2", "SHUBBAK_LEADER_CHECK_SECONDS": "0.5",
            "SHUBBAK_DATABASE_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT),
            "SHUBBAK_DATABASE_STATEMENT_TIMEOUT_SECONDS": str(STATEMENT_TIMEOUT),
            "SHUBBAK_DATABASE_TCP_USER_TIMEOUT_SECONDS": "3",
            "SHUBBAK_READINESS_TIMEOUT_SECONDS": "3", "SHUBBAK_IDEMPOTENCY_WAIT_SECONDS": "3"}

