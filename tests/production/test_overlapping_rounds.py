"""Two leaders overlapping one piece of work (docs/operations.md, "Two rounds at once").

A round checks its turn only between pieces of work (``SHUBBAK_LEADER_CHECK_SECONDS``): a round whose lock's
connection died keeps going until its next check while another process, which took the freed turn, starts the
same job. So each piece's writes must be safe when two processes do it at once. Here two rounds of each job run
at the same moment against PostgreSQL on the same due work, with no turn at all (the worst overlap), and each
piece is done exactly once: every message reaches the gateway once, every timer fires once, the ledger is
sealed once, every audit event is counted into the reports once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from api.app import create_app
from engine.audit import ledger, signing
from engine.core.settings import Settings
from engine.operations import periodic
from harness.api import CITIZEN
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.audit import AuditEvent, AuditSeal
from storage.models.messages import OutboxMessage
from tests.support.lifecycles import SERVICE
from tests.support.shubbak_processes import prepare
from tests.support.sms_gateway import SmsGateway

CASES = 12
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    with SmsGateway() as found:
        yield found


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path, gateway: SmsGateway) -> Settings:
    # The embedded loops stay off (make_settings): the test runs the rounds itself.
    return make_settings(postgres_url, tmp_path, sms_gateway="http",
                         sms_gateway_options={"url": gateway.url, "timeout_seconds": 10},
                         seal_interval_hours=24)


@pytest.fixture
def due_work(settings: Settings) -> list[int]:
    """CASES cases of the fault drill, each past its first step: its messages waiting in the outbox and its
    one-second timer due."""
    clerk, _reviewer = prepare(settings, SERVICE)
    opened = []
    with TestClient(create_app(settings)) as client:
        for n in range(CASES):
            case = client.post("/api/cases", headers=clerk, json={"service_code": SERVICE, "citizen": CITIZEN,
                                                                  "data": {"client": f"overlap-{n}"}}).json()
            r = client.post(f"/api/tasks/{case['tasks'][0]['id']}/complete", headers=clerk,
                            json={"data": {"note": "x"}})
            assert r.status_code == 200, r.text
            opened.append(int(case["id"]))
    time.sleep(1.2)  # every timer is due now
    return opened


def at_once(run: Callable[[], Any], count: int = 2) -> list[Any]:
    """``run`` in ``count`` threads released at the same moment; their results (an exception fails the test)."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def one(index: int) -> None:
        start.wait(timeout=30)
        try:
            results[index] = run()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a round did not finish"
    assert errors == [], errors
    return results


def test_two_senders_at_once_send_each_message_once(settings: Settings, due_work: list[int],
                                                    gateway: SmsGateway) -> None:
    job = periodic.job("outbox")
    rounds = at_once(lambda: job.run(settings))
    with Session(engine_for(settings.database_url)) as session:
        rows = session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.status,
                                      OutboxMessage.attempts)).all()
    assert len(rows) >= CASES
    assert all(status == "sent" and attempts == 1 for _key, status, attempts in rows), rows
    assert sorted(gateway.delivered) == sorted(key for key, _s, _a in rows)
    assert set(gateway.delivered.values()) == {1}
    assert len(gateway.requests) == len(rows)  # not even a second request, deduplicated by the gateway
    sent = [sum(1 for a in found if a.status == "sent") for found in rounds]
    assert sum(sent) == len(rows)  # each message sent by exactly one of the two rounds
    print(f"\nmessages sent by each round: {sent}")


def test_two_timer_rounds_at_once_fire_each_timer_once(settings: Settings, due_work: list[int]) -> None:
    job = periodic.job("timers")
    moved = at_once(lambda: job.run(settings))
    with Session(engine_for(settings.database_url)) as session:
        fired = Counter(session.execute(select(AuditEvent.case_id).where(AuditEvent.kind == "timer_fired")).scalars())
    assert fired == Counter({case: 1 for case in due_work}), fired
    assert sum(moved) == CASES  # each case advanced by exactly one of the two rounds
    print(f"\ncases advanced by each round: {moved}")


def test_two_seal_rounds_at_once_seal_once(settings: Settings, due_work: list[int],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The worst interleaving, made certain: both rounds find the seal due, then one seals and commits before
    the other starts sealing. The second must see the first's seal in its own transaction and stop."""
    both_found_it_due = threading.Barrier(2)
    first_done = threading.Event()
    order: list[str] = []
    lock = threading.Lock()
    original = signing.installation_key  # read at the start of sealing, after the due check

    def after_the_due_check(found: Settings) -> Any:
        both_found_it_due.wait(timeout=30)
        with lock:
            order.append(threading.current_thread().name)
            second = len(order) == 2
        if second:
            assert first_done.wait(30)
        return original(found)

    monkeypatch.setattr(signing, "installation_key", after_the_due_check)
    job = periodic.job("ledger_seal")

    def run() -> Any:
        try:
            return job.run(settings)
        finally:
            if threading.current_thread().name == order[0]:
                first_done.set()

    results = at_once(run)
    with Session(engine_for(settings.database_url)) as session:
        seals = session.execute(select(func.count()).select_from(AuditSeal)).scalar_one()
    assert seals == 1
    assert sorted(r is None for r in results) == [False, True]  # one round sealed, the other found it done
    anchored = [json.loads(line) for line in settings.anchor_file.read_text().splitlines() if line.strip()]
    assert [a["seq"] for a in anchored] == [1]
    assert ledger.seal_if_due(session=Session(engine_for(settings.database_url)), settings=settings) is None


def test_two_projectors_at_once_count_each_event_once(settings: Settings, due_work: list[int]) -> None:
    from engine.reports import projector

    job = periodic.job("reports")
    counted = at_once(lambda: job.run(settings))
    with Session(engine_for(settings.database_url)) as session:
        events = session.execute(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.kind.in_(projector.KINDS))).scalar_one()  # type: ignore[attr-defined]
    assert sum(counted) == events  # every event counted once, by one projector or the other
    assert at_once(lambda: job.run(settings)) == [0, 0]  # and nothing is left to count twice


def test_two_escalation_rounds_at_once_remind_and_escalate_each_task_once(settings: Settings,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The SLA round: each task near its due time reminded once, each overdue task raised to each level once."""
    from engine.cases import escalation
    from engine.cases import lifecycle as cases
    from engine.catalog import processes
    from engine.catalog.packages import read_package
    from engine.core import clock
    from engine.people.users import Actor
    from harness.settings import TEST_PROCESSES
    from storage.models.cases import Task

    start = datetime(2026, 11, 26, 10, 0, tzinfo=ZoneInfo("Africa/Cairo"))  # a Thursday, as in test_escalation
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        processes.deploy(session=session, files=read_package(TEST_PROCESSES / "sla_escalation"),
                         actor=Actor("analyst", frozenset({"analyst"})), settings=settings)
        with clock.frozen(start):
            for _ in range(CASES):
                cases.open_case(session=session, service_code="sla_escalation", citizen=CITIZEN, data={},
                                actor=Actor("clerk", frozenset({"front_desk"})), settings=settings)
        due = min(escalation.aware(d) for d in session.execute(select(Task.due_at)).scalars() if d is not None)

    # Both rounds have read the same due tasks before either writes (the overlap made certain, not likely).
    original_write = escalation._write
    gate: dict[str, threading.Barrier] = {}
    first_write: set[tuple[str, int]] = set()

    def write_after_both_read(*args: Any) -> int:
        me = (threading.current_thread().name, id(gate["round"]))
        if me not in first_write:
            first_write.add(me)
            gate["round"].wait(timeout=30)
        return int(original_write(*args))

    monkeypatch.setattr(escalation, "_write", write_after_both_read)

    def tick(at: datetime) -> escalation.TickResult:
        with Session(engine_for(settings.database_url)) as session:
            return escalation.tick(session=session, settings=settings, now=at)

    gate["round"] = threading.Barrier(2)
    reminded = at_once(lambda: tick(due - timedelta(hours=1)))
    gate["round"] = threading.Barrier(2)
    escalated = at_once(lambda: tick(due + timedelta(days=30)))
    with Session(engine_for(settings.database_url)) as session:
        events = session.execute(select(AuditEvent.kind, AuditEvent.data)
                                 .where(AuditEvent.kind.in_(["task_reminded", "task_escalated"]))).all()  # type: ignore[attr-defined]
    reminders = Counter(str(data["task_id"]) for kind, data in events if kind == "task_reminded")
    levels = Counter((str(data["task_id"]), data["level"]) for kind, data in events if kind == "task_escalated")
    assert len(reminders) == CASES and set(reminders.values()) == {1}, reminders
    assert sum(r.reminded for r in reminded) == CASES
    assert len({task for task, _level in levels}) == CASES and set(levels.values()) == {1}, levels
    assert sum(r.escalated for r in escalated) == CASES
    print(f"\nreminded by each round: {[r.reminded for r in reminded]}; "
          f"escalated by each round: {[r.escalated for r in escalated]}")


def test_two_assignment_rounds_at_once_give_each_waiting_task_out_once(
        api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks of a round-robin lane that waited for an officer: two rounds, both having read the same waiting
    tasks before either gives one out, give each task to one officer, once."""
    from engine.cases import distribution
    from storage.models.cases import Task
    from tests.support.assignment import Place

    place = Place(api)
    place.rule("reviewer", "round_robin")  # nobody holds the lane yet: the reviews wait
    waiting = [place.register()["id"] for _ in range(CASES)]
    for name in ("rev_one", "rev_two", "rev_three"):
        place.user(name, "reviewer")
    original = distribution.by_rule
    both_read = threading.Barrier(2)
    first: set[str] = set()

    def choose_after_both_read(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name not in first:
            first.add(threading.current_thread().name)
            both_read.wait(timeout=30)
        return original(*args, **kwargs)

    monkeypatch.setattr(distribution, "by_rule", choose_after_both_read)
    given = at_once(place.tick)
    with Session(engine_for(api.settings.database_url)) as session:
        tasks = session.execute(select(Task.id, Task.claimed_by).where(Task.case_id.in_(waiting),  # type: ignore[attr-defined]
                                                                      Task.state == "ready")).all()
        events = Counter(str(data["task_id"]) for data in session.execute(
            select(AuditEvent.data).where(AuditEvent.kind == "task_assigned")).scalars())
    assert len(tasks) == CASES and all(holder is not None for _id, holder in tasks), tasks
    assert all(events[str(task_id)] == 1 for task_id, _holder in tasks), events
    assert sum(g.assigned for g in given) == CASES
    print(f"\ngiven out by each round: {[g.assigned for g in given]}")
