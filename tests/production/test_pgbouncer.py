"""Shubbak behind a real PgBouncer in transaction pooling mode (docs/deployment.md, "PgBouncer").

What the docs claim, tested against ``pgbouncer`` from the machine's packages on a loopback port in front of the
test PostgreSQL:
- psycopg's server-side prepared statements break under transaction pooling (PgBouncer 1.18 does not track
  them): ``SHUBBAK_DATABASE_TRANSACTION_POOLING`` turns them off, and then the same work runs clean;
- a session advisory lock taken through the pooler is not one process's turn: two processes both "hold" it
  (their statements run on the same server connection), and a lock whose process went away stays behind on a
  pooled server connection where nobody can release it; with ``SHUBBAK_LEADER_DATABASE_URL`` on a direct
  connection the turn is one process's at a time;
- the real workload (``shubbak serve --workers 2`` without a broker, four clients running whole lifecycles)
  through the pooler, with the turns on the direct URL: no error, every step, timer and message once, the
  requests on at most the pool's few server connections and every turn on the direct one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from engine.core.settings import Settings
from harness.postgres import free_port
from harness.settings import make_settings
from storage import leader
from storage.db import PostgresOptions, configure_postgres, dispose, engine_for, make_engine
from tests.conftest import missing
from tests.support import pgbouncer
from tests.support.advisory_locks import holders
from tests.support.lifecycles import SERVICE, Ledger, assert_each_done_once, run_clients, stop_clients
from tests.support.shubbak_processes import answers, prepare, process, served_env, wait_for
from tests.support.sms_gateway import SmsGateway

JOB = "pgbouncer_test_job"
LEADER_APP = "shubbak-leader"
POOLED_APP = "shubbak-pooled"


@contextlib.contextmanager
def _bouncer(postgres_url: str, pool_size: int) -> Iterator[pgbouncer.LocalPgBouncer]:
    if pgbouncer.binary() is None:
        missing("pgbouncer is not installed (apt-get install pgbouncer): the PgBouncer tests need a real one")
    found = pgbouncer.LocalPgBouncer(postgres_url, pool_mode="transaction", pool_size=pool_size)
    try:
        found.start()
    except RuntimeError as exc:
        found.stop()
        missing(f"pgbouncer could not be started: {exc}")
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def bouncer(postgres_url: str) -> Iterator[pgbouncer.LocalPgBouncer]:
    """PgBouncer in transaction mode with ONE server connection per database: every client's transactions run
    on the same server session, which makes what a pooler does to session state certain rather than likely."""
    with _bouncer(postgres_url, 1) as found:
        yield found


def _pooled(bouncer: pgbouncer.LocalPgBouncer, postgres_url: str) -> str:
    return bouncer.url(make_url(postgres_url).database or "postgres")


def _work(engine: Engine, errors: list[str], rounds: int = 30) -> None:
    try:
        for i in range(rounds):  # the same statements again and again: psycopg prepares them after five runs
            with engine.begin() as conn:
                conn.execute(text("SELECT CAST(:x AS integer) + 1"), {"x": i}).scalar()
                conn.execute(text("SELECT count(*) FROM case_file WHERE id > :x"), {"x": i}).scalar()
    except DBAPIError as exc:
        errors.append(type(exc.orig).__name__)


def _threads(engine: Engine) -> list[str]:
    errors: list[str] = []
    threads = [threading.Thread(target=_work, args=(engine, errors)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.postgres
def test_prepared_statements_break_under_transaction_pooling_unless_the_setting_says_so(
        bouncer: pgbouncer.LocalPgBouncer, postgres_url: str, tmp_path: Path) -> None:
    url = _pooled(bouncer, postgres_url)
    plain = make_engine(url, pool_size=4)  # psycopg's default: prepare a statement after its fifth run
    try:
        broken = _threads(plain)
    finally:
        plain.dispose()
    assert broken and set(broken) <= {"DuplicatePreparedStatement", "InvalidSqlStatementName"}, broken

    settings = make_settings(url, tmp_path, database_transaction_pooling=True, leader_database_url=postgres_url)
    try:
        assert _threads(engine_for(settings.database_url)) == []
    finally:
        dispose(settings.database_url)


def test_transaction_pooling_without_a_direct_url_for_the_turns_is_refused(tmp_path: Path) -> None:
    url = "postgresql+psycopg://shubbak@127.0.0.1:6432/shubbak"
    with pytest.raises(ValueError, match="SHUBBAK_LEADER_DATABASE_URL"):
        make_settings(url, tmp_path, database_transaction_pooling=True)
    # With a broker the loops do not run in the API (beat does the work), so no turn needs the direct URL.
    assert make_settings(url, tmp_path, database_transaction_pooling=True, broker_url="redis://127.0.0.1:1/0")
    assert make_settings(url, tmp_path, database_transaction_pooling=True, leader_database_url=url + "x")


def test_a_tick_through_a_transaction_pooler_without_a_direct_url_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The broker lets the settings stand without the direct URL, but ``shubbak tick`` takes the jobs' turns
    itself: it refuses before it connects (the URL's port answers nothing), instead of locking via the pooler."""
    from cli.main import main

    url = "postgresql+psycopg://shubbak@127.0.0.1:1/shubbak"
    pooled = make_settings(url, tmp_path, database_transaction_pooling=True, broker_url="redis://127.0.0.1:1/0")
    monkeypatch.setattr("cli.main.get_settings", lambda: pooled)
    assert main(["tick"]) == 2
    assert "SHUBBAK_LEADER_DATABASE_URL" in capsys.readouterr().err


@pytest.mark.postgres
def test_a_turn_taken_through_the_pooler_is_not_one_process_turn(bouncer: pgbouncer.LocalPgBouncer,
                                                                 postgres_url: str, postgres_admin: Engine) -> None:
    """The docs' claim, shown: the pooler hands both processes' statements to one server session, where a
    session lock is re-entrant, so both hold the turn at once."""
    url = _pooled(bouncer, postgres_url)
    configure_postgres(url, PostgresOptions(transaction_pooling=True))
    try:
        with leader.turn(url, JOB, check_seconds=0) as first, leader.turn(url, JOB, check_seconds=0) as second:
            assert first and second  # two leaders
            assert first.still_mine() and second.still_mine()  # and each one's check agrees
            assert len(holders(postgres_admin, JOB)) == 1  # one server session holds it (twice)
    finally:
        dispose(url)


@pytest.mark.postgres
def test_a_lock_left_on_a_pooled_server_connection_stays_behind(bouncer: pgbouncer.LocalPgBouncer,
                                                                postgres_url: str, postgres_admin: Engine) -> None:
    """A process that dies in its turn (its connections closed, no unlock sent): the server session that took
    the lock goes back to the pooler's pool, still holding it, and no process can take the turn on the direct
    URL until the pooler closes that server connection."""
    url = _pooled(bouncer, postgres_url)
    dying = create_engine(url, connect_args={"prepare_threshold": None})
    try:
        conn = dying.connect()
        assert conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": leader._lock_id(JOB)}).scalar()
        conn.commit()
        conn.invalidate()  # the process is gone: its socket to the pooler closed, nothing more sent
        conn.close()
        time.sleep(0.5)
        assert len(holders(postgres_admin, JOB)) == 1  # still held, by a server session no process owns
        with leader.turn(url, JOB, leader_url=postgres_url) as other:
            assert not other  # the direct URL cannot take it: the turn is stuck on the pooler's connection
    finally:
        dying.dispose()
        dispose(postgres_url)


@pytest.mark.postgres
def test_with_a_direct_leader_url_the_turn_is_one_process_at_a_time(bouncer: pgbouncer.LocalPgBouncer,
                                                                    postgres_url: str, postgres_admin: Engine) -> None:
    url = _pooled(bouncer, postgres_url)
    direct = postgres_url + f"?application_name={LEADER_APP}"
    configure_postgres(url, PostgresOptions(transaction_pooling=True))
    try:
        with leader.turn(url, JOB, leader_url=direct, check_seconds=0) as first:
            assert first
            with leader.turn(url, JOB, leader_url=direct, check_seconds=0) as second:
                assert not second
            assert first.still_mine()
            assert [name for _pid, name in holders(postgres_admin, JOB)] == [LEADER_APP]
        assert holders(postgres_admin, JOB) == []  # released on the same session that took it
        with leader.turn(url, JOB, leader_url=direct) as third:
            assert third
    finally:
        dispose(url)
        dispose(direct)


class Watch(threading.Thread):
    """Samples the server every 0.1 s: the advisory locks' holders and the backends the requests use."""

    def __init__(self, postgres_admin: Engine, database: str) -> None:
        super().__init__(daemon=True)
        self.postgres_admin, self.database = postgres_admin, database
        self.stop = threading.Event()
        self.lock_holders: Counter[str] = Counter()  # application_name of each holder seen
        self.most_holders = 0  # the most backends seen holding one advisory lock at once
        self.most_pooled = 0  # the most server connections of the requests (through the pooler) seen at once
        self.samples = 0

    def run(self) -> None:
        with self.postgres_admin.connect() as conn:
            while not self.stop.is_set():
                locks = conn.execute(text(
                    "SELECT l.classid, l.objid, coalesce(a.application_name, '') FROM pg_locks l "
                    "JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted")).all()
                per_lock = Counter((classid, objid) for classid, objid, _name in locks)
                self.most_holders = max(self.most_holders, *per_lock.values(), 0)
                self.lock_holders.update(name for _c, _o, name in locks)
                pooled = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND application_name = :pooled"),
                    {"db": self.database, "pooled": POOLED_APP}).scalar_one()
                self.most_pooled = max(self.most_pooled, int(pooled))
                self.samples += 1
                time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_the_workload_runs_through_pgbouncer_with_the_turns_on_a_direct_connection(
        postgres_url: str, postgres_admin: Engine, tmp_path: Path) -> None:
    pool_size = 4
    database = make_url(postgres_url).database or "postgres"
    direct = postgres_url + f"?application_name={LEADER_APP}"
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        bouncer = stack.enter_context(_bouncer(postgres_url, pool_size))
        gateway = stack.enter_context(SmsGateway())
        settings = make_settings(postgres_url, tmp_path)
        clerk, reviewer = prepare(settings, SERVICE)
        env = _env(settings, bouncer.url(database) + f"?application_name={POOLED_APP}", direct, gateway.url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        stack.enter_context(process(["serve", "--workers", "2", "--port", str(port), "--no-access-log",
                                     "--log-level", "warning"], env, logs / "api.log"))
        wait_for("the API to be ready", lambda: answers(f"{base}/readyz"), 60, logs)
        watch = Watch(postgres_admin, database)
        watch.start()
        stack.callback(watch.stop.set)
        ledger = Ledger()
        clients, stop = run_clients(4, base, clerk, reviewer, ledger)
        time.sleep(12)
        stop_clients(clients, stop)
        wait_for("every message to be sent", lambda: _all_sent(postgres_url), 60, logs)
        watch.stop.set()
        watch.join(timeout=10)
        api_log = (logs / "api.log").read_text(errors="replace")

    assert "prepared statement" not in api_log, api_log[-3000:]
    assert ledger.retried == Counter(), ledger.retried  # not one 503 or lost connection: nothing went wrong
    assert_each_done_once(postgres_url, ledger, gateway.delivered)
    assert watch.samples > 20
    # Every advisory lock was held by a turn's direct connection, one holder at a time, and some were seen.
    assert set(watch.lock_holders) == {LEADER_APP}, watch.lock_holders
    assert watch.most_holders == 1
    # The requests of both API processes went through the pooler's few server connections.
    assert 0 < watch.most_pooled <= pool_size, watch.most_pooled
    print(f"\n{len(ledger.finished)} lifecycles through PgBouncer; server connections of the requests at most "
          f"{watch.most_pooled}; turns seen held {sum(watch.lock_holders.values())} times")


def _all_sent(url: str) -> bool:
    with engine_for(url).connect() as conn:
        return not conn.execute(text("SELECT count(*) FROM outbox_message WHERE status <> 'sent'")).scalar_one()


def _env(settings: Settings, pooled: str, direct: str, gateway: str) -> dict[str, str]:
    return {**served_env(settings, gateway), "SHUBBAK_DATABASE_URL": pooled,
            "SHUBBAK_DATABASE_TRANSACTION_POOLING": "true", "SHUBBAK_LEADER_DATABASE_URL": direct,
            "SHUBBAK_LEADER_CHECK_SECONDS": "0", "SHUBBAK_REPORT_PROJECT_SECONDS": "1"}


@pytest.mark.postgres
def test_migrations_run_through_the_pooler(postgres_template: str | None) -> None:
    """``shubbak migrate`` pointed at the pooled URL: an empty database is brought to the head through it."""
    if postgres_template is None:
        missing("no PostgreSQL server could be started")
    from storage.migrate import current_heads, heads, upgrade
    from tests.conftest import _postgres_db

    databases = _postgres_db(postgres_template, template="template0", prefix="pgb_")
    url = next(databases)
    try:
        with _bouncer(url, 1) as found:
            pooled = _pooled(found, url)
            upgrade(pooled)
            dispose(pooled)
        direct = create_engine(url)
        try:
            with direct.connect() as conn:
                assert current_heads(conn) == heads()
        finally:
            direct.dispose()
    finally:
        databases.close()
