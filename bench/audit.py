"""Auditors' figures: replaying a 50-event case, and `shubbak audit verify` (and a seal) over 100,000 cases.

The case is the auditors' test service (tests/processes/audit_case: a 5-day reminder timer, scripts stamping
dates with today() and now(), a return-for-corrections loop) registered and then returned 24 times: 50 events,
open at the review. Replay reads the case and its events, re-runs every step in memory and compares after
each one, then checks the stored case and state: what ``GET /api/cases/{id}/replay`` does, without HTTP.

For verify, the database is filled with copies of two cases the engine really ran (one completed after a
return, 7 events; one open at the review, 2 events and a ready task; four of five copies are completed): each
copy has its own id, tracking number and task id, and its events are re-hashed for its id, so every chain,
digest and sealed head is checked for real. Opening 100,000 cases one by one would only re-measure the engine.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from bench.workload import prepare_empty
from engine.audit import ledger, verify
from engine.bpmn import runner
from engine.cases import lifecycle as case_commands
from engine.cases import replay
from engine.cases import tasks as task_commands
from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.core import chain as audit
from engine.core import clock
from engine.core.settings import Settings
from engine.core.tracking import new_tracking_number
from engine.people.users import Actor
from harness.settings import TEST_PROCESSES
from storage.db import session_for
from storage.models.audit import AuditEvent
from storage.models.base import table, tables
from storage.models.cases import Case, Task

SERVICE = TEST_PROCESSES / "audit_case"
CITIZEN = {"national_id": "29001011234567", "full_name": "سارة أحمد محمود", "phone": "+201001234567"}
CLERK = Actor("bench_clerk", frozenset({"front_desk"}))
REVIEWER = Actor("bench_reviewer", frozenset({"reviewer"}))
ADMIN = Actor("bench_admin", frozenset({"admin"}))
REGISTER = {"area": 120, "purpose": "a family house"}
RETURN = {"decision": "return", "notes": "the area does not match the deed"}
CORRECT = {"area": 110, "corrections": "area corrected from the survey"}


def _deploy(session: Session, settings: Settings) -> None:
    processes.deploy(session=session, files=read_package(SERVICE), actor=ADMIN, settings=settings)


def _step(session: Session, case: Case, actor: Actor, data: dict[str, Any], settings: Settings) -> Case:
    assert case.id is not None
    task = case_commands.ready_tasks(session, case.id)[0]
    return task_commands.complete(session=session, task_id=task.id, data=data, actor=actor, settings=settings).case


def _case(session: Session, settings: Settings, loops: int, *, finish: bool) -> Case:
    case = case_commands.open_case(session=session, service_code="audit_case", citizen=CITIZEN, data={},
                                   actor=CLERK, settings=settings).case
    case = _step(session, case, CLERK, REGISTER, settings)
    for _ in range(loops):
        case = _step(session, case, REVIEWER, RETURN, settings)
        case = _step(session, case, CLERK, CORRECT, settings)
    if finish:
        case = _step(session, case, REVIEWER, {"decision": "approve"}, settings)
        case = _step(session, case, CLERK, {}, settings)
    return case


@dataclass
class ReplayTimes:
    events: int
    p50_ms: float
    p95_ms: float
    bare_p50_ms: float  # the same steps run by the engine's runner alone: no database, no comparison
    typical_events: int  # a case returned once and approved, as most returned cases go
    typical_p50_ms: float


def replay_times(settings: Settings, repetitions: int = 50) -> ReplayTimes:
    with session_for(settings.database_url) as session:
        _deploy(session, settings)
        case = _case(session, settings, 24, finish=False)
        assert case.id is not None and case.audit_seq == 50
        result = replay.replay_case(session=session, case_id=case.id, settings=settings)  # warm-up
        assert result.consistent and result.events_replayed == 50, result
        process = processes.cache.get(session, case.process_version_id, settings)
        recorded = audit.events_of(session, case.id)
        typical = _case(session, settings, 1, finish=True)
        assert typical.id is not None
        typical_times = []
        for _ in range(repetitions):
            started = time.perf_counter()
            assert replay.replay_case(session=session, case_id=typical.id, settings=settings).consistent
            typical_times.append((time.perf_counter() - started) * 1000)
        times, bare = [], []
        for _ in range(repetitions):
            started = time.perf_counter()
            result = replay.replay_case(session=session, case_id=case.id, settings=settings)
            times.append((time.perf_counter() - started) * 1000)
            assert result.consistent
            started = time.perf_counter()
            _bare(process, recorded, settings)
            bare.append((time.perf_counter() - started) * 1000)
    return ReplayTimes(50, statistics.median(times), statistics.quantiles(times, n=20)[-1], statistics.median(bare),
                       typical.audit_seq, statistics.median(typical_times))


def _bare(process: Any, recorded: list[AuditEvent], settings: Settings) -> None:
    limits = runner.limits(settings)
    workflow = runner.start(process, recorded[0].data["data"], limits, at=clock.parse(recorded[0].at))
    for ev in recorded[1:]:
        ready = next(t for t in runner.ready_user_tasks(workflow) if t.name == ev.task)
        runner.complete(workflow, ready.id, ev.data["data"], limits, at=clock.parse(ev.at))


def seed(settings: Settings, count: int, batch: int = 2000) -> int:
    """``count`` cases copied from two real ones (4 of 5 completed); returns the number of events written."""
    with session_for(settings.database_url) as session:
        _deploy(session, settings)
        models = [_model(session, _case(session, settings, 1, finish=True)),
                  _model(session, _case(session, settings, 0, finish=False))]
        conn = session.connection()
        next_id = max(m["case"]["id"] for m in models) + 1
        seen: set[str] = set()
        written = done = 0
        while done < count:
            cases, events, tasks = [], [], []
            for i in range(min(batch, count - done)):
                model = models[0] if (done + i) % 5 else models[1]
                number = new_tracking_number(settings.tracking_digits)
                while number in seen:
                    number = new_tracking_number(settings.tracking_digits)
                seen.add(number)
                copy_events, copy_tasks, head = _copy(model, next_id, number)
                cases.append({**model["case"], "id": next_id, "tracking_number": number, "audit_head": head})
                events.extend(copy_events)
                tasks.extend(copy_tasks)
                next_id += 1
            conn.execute(insert(table(Case)), cases)
            conn.execute(insert(table(AuditEvent)), events)
            if tasks:
                conn.execute(insert(table(Task)), tasks)
            session.commit()
            conn = session.connection()
            done += len(cases)
            written += len(events)
    return written


def _model(session: Session, case: Case) -> dict[str, Any]:
    conn = session.connection()
    cases, events, tasks = tables(Case, AuditEvent, Task)
    return {"case": dict(conn.execute(select(cases).where(cases.c.id == case.id)).one()._mapping),
            "events": [dict(r._mapping) for r in conn.execute(select(events).where(events.c.case_id == case.id)
                                                               .order_by(events.c.seq))],
            "ready": [dict(r._mapping) for r in conn.execute(select(tasks).where(tasks.c.case_id == case.id,
                                                                                 tasks.c.state == "ready"))]}


def _copy(model: dict[str, Any], case_id: int, number: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    renamed = {t["id"]: str(uuid.uuid4()) for t in model["ready"]}
    tasks = [{**t, "id": renamed[t["id"]], "case_id": case_id, "tracking_number": number} for t in model["ready"]]
    prev, rows = audit.GENESIS, []
    for ev in model["events"]:
        after = ev["after"]
        if after is not None and after["ready"]:
            after = {**after, "ready": sorted([name, renamed.get(tid, tid)] for name, tid in after["ready"])}
        digest = audit.event_hash(case_id=case_id, seq=ev["seq"], at=ev["at"], actor=ev["actor"], kind=ev["kind"],
                                  task=ev["task"], data=ev["data"], prev_hash=prev, after=after)
        rows.append({**ev, "id": None, "case_id": case_id, "after": after, "prev_hash": prev, "hash": digest})
        prev = digest
    for row in rows:
        del row["id"]
    return rows, tasks, prev


@dataclass
class VerifyTimes:
    cases: int
    events: int
    seal_s: float
    verify_s: float
    findings: int


def verify_times(settings: Settings, count: int) -> VerifyTimes:
    seed(settings, count)
    with session_for(settings.database_url) as session:
        started = time.perf_counter()
        ledger.seal(session=session, settings=settings)
        sealed = time.perf_counter() - started
        started = time.perf_counter()
        report = verify.verify_all(session=session, settings=settings)
        took = time.perf_counter() - started
    return VerifyTimes(report.cases, report.events, sealed, took, len(report.findings))


def report(settings_for: Any, *, cases: int, repetitions: int) -> list[str]:
    """The lines `make bench` prints; ``settings_for(name)`` gives settings on a fresh migrated database."""
    times = replay_times(settings_for("replay.db"), repetitions)
    found = verify_times(settings_for("verify.db"), cases)
    return [
        f"(e) replay of a {times.events}-event case (24 returns), {repetitions} times: p50 {times.p50_ms:.0f} ms, "
        f"p95 {times.p95_ms:.0f} ms; the same steps by the runner alone {times.bare_p50_ms:.0f} ms "
        f"(ratio replay/runner = {times.p50_ms / times.bare_p50_ms:.2f}); a {times.typical_events}-event case "
        f"(returned once): p50 {times.typical_p50_ms:.0f} ms",
        f"    audit verify over {found.cases} cases ({found.events} events, one seal): {found.verify_s:.1f} s, "
        f"{found.findings} findings; sealing them took {found.seal_s:.1f} s",
    ]


def main() -> None:
    """`python -m bench.audit [CASES]`: only the auditors' figures."""
    import sys
    import tempfile
    from pathlib import Path

    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory(prefix="shubbak-bench-") as tmp:
        for line in report(lambda name: prepare_empty(Path(tmp), name), cases=cases, repetitions=50):
            print(line, flush=True)


if __name__ == "__main__":
    main()
