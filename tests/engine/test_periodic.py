"""One list of periodic jobs (engine/operations/periodic.py), run by all three runners: the API process's
embedded loops, ``shubbak tick`` and Celery beat. A runner that keeps a list of its own misses the job added
below; ``shubbak tick`` seals the ledger and sends the outbox like the others (it once did neither)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from cli.main import main
from cli.worker import IN_A_WORKER, beat_schedule
from cli.worker import periodic as celery_periodic
from engine.core.settings import Settings
from engine.operations import periodic
from harness.api import Api
from harness.settings import make_settings
from storage.db import session_for
from storage.models.audit import AuditSeal
from storage.models.messages import OutboxMessage
from tests.support.audit import REGISTER, deploy, login, step

NAMES = ["outbox", "timers", "case_messages", "escalation", "assignment", "ledger_seal", "idempotency_keys",
         "throttle_counters", "citizen_codes", "reports", "outputs", "orphans", "payment_reconciliation", "bookings",
         "node_copy", "node_link"]


@pytest.fixture
def added(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A job added to the one list, which records each round it runs."""
    rounds: list[str] = []

    def run(settings: Settings) -> int:
        rounds.append(settings.database_url)
        return len(rounds)

    job = periodic.Job("test_job", lambda s: 0.05, 7.0, run, lambda r: f"round {r}")
    monkeypatch.setattr(periodic, "JOBS", [*periodic.JOBS, job])
    yield rounds


def test_the_list_is_every_job_once() -> None:
    assert [job.name for job in periodic.JOBS] == NAMES
    assert set(IN_A_WORKER) <= set(NAMES)  # a worker runs some differently, never one of its own


def test_beat_schedules_a_job_added_to_the_list(added: list[str], sqlite_settings: Settings) -> None:
    schedule = beat_schedule(sqlite_settings)
    assert list(schedule) == [f"shubbak-{name}" for name in [*NAMES, "test_job"]]
    assert schedule["shubbak-test_job"] == {"task": "shubbak.periodic", "schedule": 0.05, "args": ("test_job",)}
    assert schedule["shubbak-timers"]["schedule"] == 30.0  # the tests' settings turn the loops off: beat's default
    assert celery_periodic("test_job") == "1" and len(added) == 1  # the worker's task runs it from the list
    with pytest.raises(LookupError):
        celery_periodic("no_such_job")


def test_the_embedded_loops_run_a_job_added_to_the_list(added: list[str], sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings)):
        deadline = time.monotonic() + 5
        while len(added) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(added) >= 2  # every 0.05 s, in the API process
    with TestClient(create_app(sqlite_settings.model_copy(update={"broker_url": "redis://127.0.0.1:9/0"}))):
        before = len(added)
        time.sleep(0.2)
    assert len(added) == before  # with a broker, beat runs the list, not the API process


@pytest.fixture
def cli(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr("cli.main.get_settings", lambda: sqlite_settings)
    return sqlite_settings


def _count(settings: Settings, model: Any, *where: Any) -> int:
    with session_for(settings.database_url) as session:
        return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar() or 0)


def test_shubbak_tick_runs_every_job_the_seal_and_the_outbox_too(added: list[str], cli: Settings,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(cli)) as client:
        api = Api(client, cli)
        deploy(api)
        clerk = login(api, "clerk_hoda")
        opened = api.open_case("audit_case", clerk)
        assert opened.status_code == 201
        step(api, opened.json(), REGISTER, clerk)  # the citizen is told: one message waits in the outbox
    pending = OutboxMessage.status == "pending"  # type: ignore[arg-type]
    waiting = _count(cli, OutboxMessage, pending)
    assert waiting >= 1 and _count(cli, AuditSeal) == 0
    assert main(["tick"]) == 0
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines()] == [*NAMES, "test_job"]
    assert f"outbox: {waiting} message(s) sent, {waiting} tried" in out
    assert "escalation: 0 task(s) reminded, 0 escalated" in out and "ledger_seal: ledger sealed (" in out
    assert f"test_job: round {len(added)}" in out
    assert _count(cli, OutboxMessage, pending) == 0 and _count(cli, AuditSeal) == 1


def test_a_job_another_process_is_running_is_skipped_not_run_twice(added: list[str], cli: Settings,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    database = cli.database_url.split("///", 1)[1]
    fd = os.open(f"{database}.test_job.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # an API process's round of the job, under way
    try:
        assert main(["tick"]) == 0
    finally:
        os.close(fd)
    assert "test_job: skipped: another process is running it" in capsys.readouterr().out
    assert added == []


def test_beat_falls_back_to_its_defaults_and_follows_the_settings(tmp_path: Path) -> None:
    settings = make_settings("sqlite://", tmp_path, timer_tick_seconds=5, message_poll_seconds=0,
                             report_project_seconds=3)
    schedule = {name: entry["schedule"] for name, entry in beat_schedule(settings).items()}
    assert schedule == {"shubbak-outbox": 5, "shubbak-timers": 5,
                        "shubbak-case_messages": 5, "shubbak-escalation": 5, "shubbak-assignment": 5,
                        "shubbak-ledger_seal": 5, "shubbak-idempotency_keys": 5, "shubbak-throttle_counters": 5,
                        "shubbak-citizen_codes": 5, "shubbak-reports": 3,
                        "shubbak-outputs": 2.0,  # the tests' settings turn its loop off: beat's default
                        "shubbak-orphans": 86_400.0,
                        "shubbak-payment_reconciliation": 300.0,
                        "shubbak-bookings": 60.0,
                        "shubbak-node_copy": 30.0, "shubbak-node_link": 10.0}
